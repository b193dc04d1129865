//! The record path of a store: versions from the header's counter, freshness watermarks,
//! encrypted names and padding (docs/FORMAT.md).
//!
//! Every operation is split in two: the part done when the method is called (names checked and
//! encrypted, a version taken, the value sealed, the freshness ticket issued and the inner call
//! made) and the part done when the inner call completes (the freshness update or check). A
//! synchronous inner store is driven through the same code: its calls complete at once.

use core::future::Future;
use core::hash::{Hash, Hasher};
use core::pin::Pin;
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bitcoin::io;
use zeroize::{Zeroize, Zeroizing};

use crate::aead::Cipher;
use crate::anchor::{self, AnchorState, Loaded, Meta, Value};
use crate::error::{ListError, OpenError, ReadError, RemoveError, RotateError, WriteError};
use crate::format::v2::{self as f2, HeaderV2, Secrets, State};
use crate::format::{SealError, DATA_KEY_LEN, NONCE_LEN};
use crate::freshness::{
    Changes, Entry, FoldRequest, Freshness, Kind, ListRefusal, ListTicket, MutationTicket,
    ReadTicket, Refusal,
};
use crate::names::encrypted::{Field, NameCipher};
use crate::names::{
    self, InvalidName, HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use crate::open::HeaderIo;
use crate::rng::SharedRandom;
use crate::store::ReencryptProgress;

/// Versions reserved by one header write.
pub(crate) const BLOCK: u64 = 65_536;
/// A new block is reserved (ahead of need) once fewer than this many versions remain.
pub(crate) const LOW_WATER: u64 = 32_768;
const STRIPES: usize = 64;

/// An opened record: version, value, and the id of the data key that sealed it.
type Opened = (u64, Vec<u8>, u32);

/// A value read through the read path: the value, the id of the data key that sealed it, and
/// the record's version.
pub(crate) type ReadValue = (Vec<u8>, u32, u64);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The state of an open store, shared by the store and its in-flight futures.
pub(crate) struct V2 {
    pub(crate) store_id: [u8; 16],
    ring: RwLock<Ring>,
    names: Option<NameCipher>,
    padding: bool,
    pub(crate) read_only: bool,
    pub(crate) rng: SharedRandom,
    ctr: Mutex<Counter>,
    fresh: Mutex<Freshness>,
    stripes: Vec<Mutex<()>>,
    fallback_stripe: Mutex<()>,
    /// The freshness anchor, if the store is anchored (docs/FORMAT.md, "The freshness
    /// anchor"). Its lock is taken after a key's stripe and before the counter and freshness
    /// locks, never the other way round.
    anchor: Mutex<Option<AnchorState>>,
}

/// The data keys: the keyring of the header and its secrets. Changed only by a rotation or a
/// retirement, under the counter's lock.
pub(crate) struct Ring {
    keys: Vec<(u32, Cipher)>,
    current: u32,
    pub(crate) secrets: Secrets,
}

impl Ring {
    fn new(state: &State, secrets: Secrets) -> Result<Ring, OpenError> {
        if state.key_ids.len() != secrets.data_keys.len() {
            return Err(OpenError::HeaderAuthenticationFailed);
        }
        let keys = state
            .key_ids
            .iter()
            .zip(&secrets.data_keys)
            .map(|(id, k)| (*id, Cipher::new(k)))
            .collect();
        Ok(Ring {
            keys,
            current: state
                .current_key_id()
                .ok_or(OpenError::HeaderAuthenticationFailed)?,
            secrets,
        })
    }

    fn cipher(&self, key_id: u32) -> Option<&Cipher> {
        self.keys
            .iter()
            .find(|(id, _)| *id == key_id)
            .map(|(_, c)| c)
    }
}

/// The version counter and the header it is persisted in.
pub(crate) struct Counter {
    next: u64,
    reserved_until: u64,
    /// The header last read or written.
    pub(crate) header: HeaderV2,
    /// The key its secrets are sealed under.
    pub(crate) hk: Zeroizing<[u8; 32]>,
    /// The bytes of a header write that failed (it may have landed anyway).
    tried: Option<Vec<u8>>,
    step: Step,
    /// Set when the stored header was found changed: no header is written again.
    poisoned: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Idle,
    Checking,
    Checked,
    Writing,
}

/// A reservation step an operation must carry out.
enum Action {
    None,
    Check,
    Write(Box<HeaderV2>, Vec<u8>),
}

pub(crate) fn header_state(h: &HeaderV2, version_limit: u64) -> Result<State, OpenError> {
    Ok(State {
        options: h.state.options,
        header_seq: h
            .state
            .header_seq
            .checked_add(1)
            .ok_or(OpenError::CounterExhausted)?,
        version_limit,
        key_ids: h.state.key_ids.clone(),
    })
}

impl V2 {
    /// An open store over `header` (authenticated with `hk`, whose secrets are `secrets`), with
    /// versions `next..reserved_until` free to hand out.
    pub(crate) fn new(
        header: HeaderV2,
        hk: Zeroizing<[u8; 32]>,
        secrets: Secrets,
        rng: SharedRandom,
        read_only: bool,
        next: u64,
        reserved_until: u64,
    ) -> Result<V2, OpenError> {
        let options = header.state.options;
        let names = match (&secrets.name_key, options & f2::OPT_NAMES != 0) {
            (Some(k), true) => Some(NameCipher::new(k.clone(), header.store_id)),
            (None, false) => None,
            _ => return Err(OpenError::HeaderAuthenticationFailed),
        };
        let ring = Ring::new(&header.state, secrets)?;
        Ok(V2 {
            store_id: header.store_id,
            ring: RwLock::new(ring),
            names,
            padding: options & f2::OPT_PADDING != 0,
            read_only,
            rng,
            ctr: Mutex::new(Counter {
                next,
                reserved_until,
                header,
                hk,
                tried: None,
                step: Step::Idle,
                poisoned: false,
            }),
            fresh: Mutex::new(Freshness::new(read_only)),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            fallback_stripe: Mutex::new(()),
            anchor: Mutex::new(None),
        })
    }

    /// Attaches an anchor and loads what it holds (stored names, decoded here) into the
    /// watermarks: "Opening with an anchor", step 4. Before the store is shared.
    pub(crate) fn load_anchor(
        &mut self,
        anchor: Arc<dyn anchor::FreshnessAnchor>,
        loaded: Loaded,
    ) -> Result<(), OpenError> {
        let corrupt = |reason| OpenError::AnchorCorrupt { reason };
        let mut keys = std::collections::HashMap::new();
        let mut pairs = std::collections::HashMap::new();
        for v in loaded.values {
            match v {
                Value::Key {
                    stored: (sp, ss, sk),
                    entry,
                } => {
                    let (p, s, k) = self.decode_triple(&sp, &ss, &sk).ok_or_else(|| {
                        corrupt("a key entry holds a stored name this store did not make")
                    })?;
                    keys.insert((p, s, k), entry);
                }
                Value::Pair {
                    stored: (sp, ss),
                    floor,
                    lazy,
                } => {
                    let (p, s) = self.decode_pair(&sp, &ss).ok_or_else(|| {
                        corrupt("a pair record holds a stored name this store did not make")
                    })?;
                    pairs.insert((p, s), (floor, lazy));
                }
            }
        }
        let fresh = self.fresh.get_mut().unwrap_or_else(|p| p.into_inner());
        for ((p, s), (floor, lazy)) in &pairs {
            fresh.load_pair(p, s, *floor, *lazy);
        }
        for ((p, s, k), e) in &keys {
            fresh.load_entry(p, s, k, *e);
        }
        fresh.track_changes(!self.read_only);
        let meta = loaded.meta;
        *self.anchor.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(AnchorState {
            anchor,
            ns: anchor::store_hex(&meta.store_id),
            store_id: meta.store_id,
            epoch: meta.epoch,
            meta_seq: meta.header_seq,
            keys,
            pairs,
        });
        Ok(())
    }

    /// The version the counter must start from after loading an anchor: above every op and
    /// floor the anchor holds ("Opening with an anchor", step 4).
    pub(crate) fn anchor_next(loaded: &Loaded) -> u64 {
        loaded
            .values
            .iter()
            .map(|v| match v {
                Value::Key { entry, .. } => entry.op.saturating_add(1),
                Value::Pair { floor, .. } => floor.saturating_add(1),
            })
            .max()
            .unwrap_or(0)
    }

    /// Stops using the anchor (after the header's `anchored` bit was cleared).
    pub(crate) fn drop_anchor(&self) {
        *self.anchor.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.fresh().track_changes(false);
    }

    /// Whether the store is anchored.
    pub(crate) fn anchored(&self) -> bool {
        self.anchor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Brings the anchor up to date with memory ("Updating the anchor"): the header's
    /// `header_seq` in `meta`, then the pair records, then the key entries that changed, each
    /// written with its current state. What could not be written is kept for the next call.
    pub(crate) fn sync_anchor(&self) -> Result<(), io::Error> {
        if self.read_only {
            return Ok(());
        }
        let mut guard = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        let Some(st) = guard.as_mut() else {
            return Ok(());
        };
        let seq = self.counter().header.state.header_seq;
        if seq > st.meta_seq {
            let meta = Meta {
                store_id: st.store_id,
                header_seq: seq,
                epoch: st.epoch,
            };
            st.anchor
                .write(&st.ns, anchor::meta_name(), &anchor::encode_meta(&meta))?;
            st.meta_seq = seq;
        }
        let Changes { pairs, keys } = self.fresh().take_changes();
        let mut failed = None;
        let mut back_pairs = Vec::new();
        let mut back_keys = Vec::new();
        // Pair records first: a lazy pair's record, or a raised floor, must be in the anchor
        // before the entries whose absence it covers are removed from it.
        for ((p, s), state) in pairs {
            if failed.is_none() {
                if let Err(e) = self.anchor_pair(st, &p, &s, state) {
                    failed = Some(e);
                }
            }
            if failed.is_some() {
                back_pairs.push((p, s));
            }
        }
        for ((p, s, k), entry) in keys {
            if failed.is_none() {
                if let Err(e) = self.anchor_key(st, &p, &s, &k, entry) {
                    failed = Some(e);
                }
            }
            if failed.is_some() {
                back_keys.push((p, s, k));
            }
        }
        match failed {
            None => Ok(()),
            Some(e) => {
                self.fresh().untaken(back_pairs, back_keys);
                Err(e)
            }
        }
    }

    fn anchor_pair(
        &self,
        st: &mut AnchorState,
        p: &str,
        s: &str,
        state: (u64, bool),
    ) -> Result<(), io::Error> {
        let id = (p.to_owned(), s.to_owned());
        if st.pairs.get(&id).copied().unwrap_or((0, false)) == state {
            return Ok(());
        }
        let (sp, ss) = self.stored_pair(p, s).map_err(io::Error::from)?;
        let name = anchor::pair_name(st.epoch, &sp, &ss);
        if state == (0, false) {
            st.anchor.remove(&st.ns, &name)?;
            st.pairs.remove(&id);
        } else {
            let value = anchor::encode_pair(state.0, state.1, st.epoch, &sp, &ss)
                .ok_or_else(unencodable)?;
            st.anchor.write(&st.ns, &name, &value)?;
            st.pairs.insert(id, state);
        }
        Ok(())
    }

    fn anchor_key(
        &self,
        st: &mut AnchorState,
        p: &str,
        s: &str,
        k: &str,
        entry: Option<Entry>,
    ) -> Result<(), io::Error> {
        let id = (p.to_owned(), s.to_owned(), k.to_owned());
        if st.keys.get(&id).copied() == entry {
            return Ok(());
        }
        let [sp, ss, sk] = self.stored_names(p, s, k).map_err(io::Error::from)?;
        let name = anchor::key_name(st.epoch, &sp, &ss, &sk);
        match entry {
            None => {
                st.anchor.remove(&st.ns, &name)?;
                st.keys.remove(&id);
            }
            Some(e) => {
                let value =
                    anchor::encode_entry(&e, st.epoch, &sp, &ss, &sk).ok_or_else(unencodable)?;
                st.anchor.write(&st.ns, &name, &value)?;
                st.keys.insert(id, e);
            }
        }
        Ok(())
    }

    /// A read-only instance, before it reports a key it loaded from the anchor as missing:
    /// what the anchor holds for that key now (the writer weakens it before it removes).
    /// `Ok(None)` when the store is not anchored.
    fn anchor_now(&self, p: &str, s: &str, k: &str) -> Result<Option<Option<Entry>>, io::Error> {
        let guard = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        let Some(st) = guard.as_ref() else {
            return Ok(None);
        };
        let [sp, ss, sk] = self.stored_names(p, s, k).map_err(io::Error::from)?;
        let name = anchor::key_name(st.epoch, &sp, &ss, &sk);
        let entry = match st.anchor.read(&st.ns, &name)? {
            None => None,
            Some(b) => match anchor::parse_value(&name, &b, st.epoch) {
                Ok(Some(Value::Key { entry, .. })) => Some(entry),
                Ok(_) => None,
                Err(reason) => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        OpenError::AnchorCorrupt { reason },
                    ))
                }
            },
        };
        Ok(Some(entry))
    }

    /// For a read-only anchored instance: whether a `Missing` for this key is confirmed by the
    /// anchor now (`Some(version)`), or the writer weakened or removed the entry (`None`; the
    /// watermark is replaced by the anchor's).
    fn confirm_missing(&self, p: &str, s: &str, k: &str, v: u64) -> Result<Option<u64>, io::Error> {
        if !self.read_only {
            return Ok(Some(v));
        }
        match self.anchor_now(p, s, k)? {
            None => Ok(Some(v)),
            Some(Some(e)) if e.kind == Kind::Live => Ok(Some(e.version)),
            Some(other) => {
                self.fresh().reload_entry(p, s, k, other);
                Ok(None)
            }
        }
    }

    /// The header `open` writes to reserve the first block of versions after `h`.
    pub(crate) fn reservation_after(
        h: &HeaderV2,
        from: u64,
        hk: &[u8; 32],
        secrets: &Secrets,
        rng: &SharedRandom,
    ) -> Result<HeaderV2, OpenError> {
        let limit = h
            .state
            .version_limit
            .max(from)
            .checked_add(BLOCK)
            .ok_or(OpenError::CounterExhausted)?;
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill(&mut nonce).map_err(OpenError::Random)?;
        h.with_state(hk, header_state(h, limit)?, nonce, secrets)
            .map_err(|_| OpenError::KeyWrapFailed)
    }

    pub(crate) fn counter(&self) -> MutexGuard<'_, Counter> {
        self.ctr.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fresh(&self) -> MutexGuard<'_, Freshness> {
        self.fresh.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn ring(&self) -> RwLockReadGuard<'_, Ring> {
        self.ring.read().unwrap_or_else(|p| p.into_inner())
    }

    fn ring_mut(&self) -> RwLockWriteGuard<'_, Ring> {
        self.ring.write().unwrap_or_else(|p| p.into_inner())
    }

    // ---- names ----

    fn stored_pair(&self, p: &str, s: &str) -> Result<(String, String), InvalidName> {
        match &self.names {
            None => Ok((p.to_owned(), s.to_owned())),
            Some(nc) => Ok((
                nc.encrypt(Field::Primary, p)?,
                nc.encrypt(Field::Secondary { primary: p }, s)?,
            )),
        }
    }

    fn stored_names(&self, p: &str, s: &str, k: &str) -> Result<[String; 3], InvalidName> {
        let (sp, ss) = self.stored_pair(p, s)?;
        let sk = match &self.names {
            None => k.to_owned(),
            Some(nc) => nc.encrypt(
                Field::Key {
                    primary: p,
                    secondary: s,
                },
                k,
            )?,
        };
        Ok([sp, ss, sk])
    }

    /// The stored names of a (primary, secondary) pair, for a paginated listing.
    pub(crate) fn stored_namespace(&self, p: &str, s: &str) -> Result<(String, String), ListError> {
        names::check_namespace(p, s).map_err(ListError::InvalidName)?;
        self.stored_pair(p, s).map_err(ListError::InvalidName)
    }

    /// Decodes the stored keys listed under the plaintext pair `(p, s)` (stored `(sp, ss)`).
    pub(crate) fn decode_keys(
        &self,
        p: &str,
        s: &str,
        sp: &str,
        ss: &str,
        keys: Vec<String>,
    ) -> Result<Vec<String>, ListError> {
        let Some(nc) = &self.names else {
            return Ok(keys);
        };
        keys.into_iter()
            .map(|sk| {
                nc.decrypt(
                    Field::Key {
                        primary: p,
                        secondary: s,
                    },
                    &sk,
                )
                .map_err(|_| ListError::UndecodableName {
                    stored_primary_namespace: sp.to_owned(),
                    stored_secondary_namespace: ss.to_owned(),
                    stored_key: sk.clone(),
                })
            })
            .collect()
    }

    /// Before the inner `list_all_keys`: the tickets of every pair this instance holds live
    /// keys of, for [`list_all_done`](Self::list_all_done).
    pub(crate) fn list_all_issued(&self) -> Vec<ListTicket> {
        self.fresh().list_all_issued()
    }

    /// `list_all_keys` returned `all`: decodes it and checks, as `list` does for one pair, that
    /// no key held live when the listing was issued is missing from it.
    pub(crate) fn list_all_done(
        &self,
        tickets: Vec<ListTicket>,
        all: Vec<(String, String, String)>,
    ) -> Result<Vec<(String, String, String)>, io::Error> {
        let all = self.decode_all(all)?;
        // The keys of each pair, grouped in one pass.
        let mut by_pair: HashMap<(&str, &str), Vec<String>> = HashMap::new();
        for (p, s, k) in &all {
            by_pair.entry((p, s)).or_default().push(k.clone());
        }
        for t in tickets {
            let keys = by_pair
                .get(&(t.primary.as_str(), t.secondary.as_str()))
                .map_or(&[][..], Vec::as_slice);
            self.check_listed(&t, keys)?;
        }
        Ok(all)
    }

    /// `list` or `list_all_keys` returned `keys` for the pair of `t`: refused with
    /// `ListError::Missing` for a key held live at issue and now that is not among them (a
    /// read-only instance first asks the anchor again: the writer weakens an entry there
    /// before it removes the key, and the watermark is replaced if it did).
    fn check_listed(&self, t: &ListTicket, keys: &[String]) -> Result<(), io::Error> {
        loop {
            let Err(ListRefusal {
                key,
                expected_version,
            }) = self.fresh().list_done(t, keys)
            else {
                return Ok(());
            };
            if let Some(expected_version) =
                self.confirm_missing(&t.primary, &t.secondary, &key, expected_version)?
            {
                return Err(ListError::Missing {
                    primary_namespace: t.primary.clone(),
                    secondary_namespace: t.secondary.clone(),
                    key,
                    expected_version,
                }
                .into());
            }
        }
    }

    /// Decodes every stored triple of `list_all_keys` (the reserved namespace left out).
    pub(crate) fn decode_all(
        &self,
        mut all: Vec<(String, String, String)>,
    ) -> Result<Vec<(String, String, String)>, ListError> {
        all.retain(|(p, _, _)| !names::is_reserved(p));
        if self.names.is_none() {
            return Ok(all);
        }
        all.into_iter()
            .map(|(sp, ss, sk)| {
                self.decode_triple(&sp, &ss, &sk)
                    .ok_or(ListError::UndecodableName {
                        stored_primary_namespace: sp,
                        stored_secondary_namespace: ss,
                        stored_key: sk,
                    })
            })
            .collect()
    }

    /// The plaintext names of a stored pair (`None`: not made by this store).
    fn decode_pair(&self, sp: &str, ss: &str) -> Option<(String, String)> {
        let Some(nc) = &self.names else {
            return Some((sp.to_owned(), ss.to_owned()));
        };
        let p = nc.decrypt(Field::Primary, sp).ok()?;
        let s = nc.decrypt(Field::Secondary { primary: &p }, ss).ok()?;
        Some((p, s))
    }

    /// The plaintext names of stored names (`None`: not made by this store).
    fn decode_triple(&self, sp: &str, ss: &str, sk: &str) -> Option<(String, String, String)> {
        let (p, s) = self.decode_pair(sp, ss)?;
        let k = match &self.names {
            None => sk.to_owned(),
            Some(nc) => nc
                .decrypt(
                    Field::Key {
                        primary: &p,
                        secondary: &s,
                    },
                    sk,
                )
                .ok()?,
        };
        Some((p, s, k))
    }

    // ---- records ----

    fn seal(
        &self,
        p: &str,
        s: &str,
        k: &str,
        version: u64,
        buf: Vec<u8>,
    ) -> Result<Vec<u8>, WriteError> {
        let plaintext = if self.padding {
            let padded = f2::pad(&buf).map_err(seal_error);
            let mut buf = buf;
            buf.zeroize();
            padded?
        } else {
            Zeroizing::new(buf)
        };
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(WriteError::Random)?;
        let ring = self.ring();
        let cipher = ring
            .cipher(ring.current)
            .ok_or(WriteError::EncryptionFailed)?;
        let ad = f2::RecordAd::new(&self.store_id, ring.current, version, p, s, k)
            .ok_or(WriteError::EncryptionFailed)?;
        f2::seal_record(cipher, ring.current, version, &nonce, &ad, &plaintext).map_err(seal_error)
    }

    /// Reading steps 4 to 9 of a record: the version, the value, and the id of the data key
    /// that sealed it, or `None`.
    fn open(&self, p: &str, s: &str, k: &str, rec: Vec<u8>) -> Option<Opened> {
        let ring = self.ring();
        let (key_id, version) = f2::record_prefix(&rec)?;
        if version == 0 {
            return None;
        }
        let ad = f2::RecordAd::new(&self.store_id, key_id, version, p, s, k)?;
        let plain = f2::open_record(ring.cipher(key_id)?, &ad, rec).ok()?;
        let value = if self.padding {
            f2::unpad(plain)?
        } else {
            plain
        };
        Some((version, value, key_id))
    }

    /// An authenticated record of `version` was read: this instance never hands out a version
    /// at or below it.
    fn saw(&self, version: u64) {
        let mut c = self.counter();
        let after = version.saturating_add(1);
        if c.next < after {
            c.next = after;
        }
    }

    // ---- the counter ----

    /// The reservation step an operation should start now, if any.
    fn next_step(&self) -> Result<Action, OpenError> {
        let mut c = self.counter();
        if c.poisoned || self.read_only || c.reserved_until.saturating_sub(c.next) >= LOW_WATER {
            return Ok(Action::None);
        }
        match c.step {
            Step::Idle => {
                c.step = Step::Checking;
                Ok(Action::Check)
            }
            Step::Checked => {
                let base = c.next.max(c.header.state.version_limit);
                let limit = base.checked_add(BLOCK).ok_or(OpenError::CounterExhausted)?;
                let mut nonce = [0u8; NONCE_LEN];
                self.rng.fill(&mut nonce).map_err(OpenError::Random)?;
                let h = c
                    .header
                    .with_state(
                        &c.hk,
                        header_state(&c.header, limit)?,
                        nonce,
                        &self.ring().secrets,
                    )
                    .map_err(|_| OpenError::KeyWrapFailed)?;
                let bytes = h.to_bytes();
                c.step = Step::Writing;
                Ok(Action::Write(Box::new(h), bytes))
            }
            Step::Checking | Step::Writing => Ok(Action::None),
        }
    }

    /// The header read of a reservation returned.
    fn check_done(&self, r: Result<Vec<u8>, io::Error>) {
        let mut c = self.counter();
        c.step = Step::Idle;
        let Ok(bytes) = r else { return };
        if bytes == c.header.to_bytes() {
            c.step = Step::Checked;
        } else if c.tried.as_ref() == Some(&bytes) {
            // The write we last tried landed after all: adopt it.
            match HeaderV2::parse(&bytes) {
                Ok(h) if h.open_secrets(&c.hk).is_some() => {
                    c.reserved_until = c.reserved_until.max(h.state.version_limit);
                    c.header = h;
                    c.tried = None;
                    c.step = Step::Checked;
                }
                _ => c.poisoned = true,
            }
        } else {
            c.poisoned = true;
        }
    }

    /// The header write of a reservation returned.
    fn write_done(&self, h: HeaderV2, bytes: Vec<u8>, ok: bool) {
        let mut c = self.counter();
        c.step = Step::Idle;
        if ok {
            c.reserved_until = c.reserved_until.max(h.state.version_limit);
            c.header = h;
            c.tried = None;
        } else {
            c.tried = Some(bytes);
        }
    }

    /// Whether a reservation's header read or write is in flight.
    pub(crate) fn step_in_flight(c: &Counter) -> bool {
        c.step == Step::Checking || c.step == Step::Writing
    }

    fn reset_step(&self, from: Step) {
        let mut c = self.counter();
        if c.step == from {
            c.step = Step::Idle;
        }
    }

    /// Takes one version.
    fn take(&self) -> Result<u64, OpenError> {
        let mut c = self.counter();
        // Versions already reserved stay safe to hand out after the header was found changed
        // (another writer reserved above them); only new reservations stop.
        if c.next >= c.reserved_until {
            return Err(if c.next == u64::MAX {
                OpenError::CounterExhausted
            } else if c.poisoned {
                OpenError::HeaderChanged
            } else {
                OpenError::VersionsNotReserved
            });
        }
        let v = c.next;
        c.next += 1;
        Ok(v)
    }

    /// Runs the reservation steps due now to their end (synchronous inner store).
    fn reserve_now<IO: HeaderIo>(self: &Arc<Self>, io: &IO) {
        for _ in 0..2 {
            match self.start_step(io) {
                Ok(Some(step)) => {
                    let _ = complete_io(async move {
                        step.await;
                        Ok(())
                    });
                }
                Ok(None) | Err(_) => return,
            }
        }
    }

    /// Starts the reservation step due now, if any: its inner call is made here, and the
    /// returned future finishes it.
    fn start_step<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
    ) -> Result<Option<BoxFuture<()>>, OpenError> {
        match self.next_step()? {
            Action::None => Ok(None),
            Action::Check => {
                let fut = io.read(
                    RESERVED_PRIMARY_NAMESPACE,
                    HEADER_SECONDARY_NAMESPACE,
                    HEADER_KEY,
                );
                let guard = StepGuard(Arc::clone(self), Step::Checking);
                Ok(Some(Box::pin(async move {
                    let r = fut.await;
                    guard.0.check_done(r);
                })))
            }
            Action::Write(h, bytes) => {
                let fut = io.write(
                    RESERVED_PRIMARY_NAMESPACE,
                    HEADER_SECONDARY_NAMESPACE,
                    HEADER_KEY,
                    bytes.clone(),
                );
                let guard = StepGuard(Arc::clone(self), Step::Writing);
                Ok(Some(Box::pin(async move {
                    let ok = fut.await.is_ok();
                    guard.0.write_done(*h, bytes, ok);
                })))
            }
        }
    }

    /// Before a write or remove: the reservation step due now (run to its end for a
    /// synchronous store, returned to be awaited for an asynchronous one).
    fn before_mutation<IO: HeaderIo>(self: &Arc<Self>, io: &IO) -> Option<BoxFuture<()>> {
        if IO::SYNC {
            self.reserve_now(io);
            None
        } else {
            self.start_step(io).ok().flatten()
        }
    }

    fn stripe(&self, p: &str, s: &str, k: &str) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        (p, s, k).hash(&mut h);
        let i = usize::try_from(h.finish() % STRIPES as u64).unwrap_or(0);
        // `i < STRIPES` always; the fallback lock is as correct, only shared by more keys.
        let lock = self.stripes.get(i).unwrap_or(&self.fallback_stripe);
        lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- rotation ----

    /// The read-check-write of a header change made by a caller holding the counter lock
    /// (synchronous inner store): refuses when the stored header is not the one last read or
    /// written, or when an asynchronous reservation step is in flight.
    pub(crate) fn rewrite_header<IO: HeaderIo>(
        &self,
        io: &IO,
        c: &mut Counter,
        state: State,
        secrets: &Secrets,
    ) -> Result<(), OpenError> {
        if Self::step_in_flight(c) {
            return Err(OpenError::Io(io::Error::new(
                io::ErrorKind::Other,
                "a header write of this store is in flight; retry",
            )));
        }
        if c.poisoned {
            return Err(OpenError::HeaderChanged);
        }
        let stored = complete_io(io.read(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        ))
        .map_err(OpenError::Io)?;
        if stored != c.header.to_bytes() {
            c.poisoned = true;
            return Err(OpenError::HeaderChanged);
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(OpenError::Random)?;
        let h = c
            .header
            .with_state(&c.hk, state, nonce, secrets)
            .map_err(|_| OpenError::KeyWrapFailed)?;
        complete_io(io.write(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            h.to_bytes(),
        ))
        .map_err(OpenError::Io)?;
        c.header = h;
        Ok(())
    }

    /// Clears the header's `anchored` bit (one header write) and stops using the anchor; its
    /// values are left where they are.
    pub(crate) fn detach<IO: HeaderIo>(&self, io: &IO) -> Result<(), OpenError> {
        if self.read_only {
            return Err(read_only_error());
        }
        if !self.anchored() {
            return Ok(());
        }
        {
            let mut c = self.counter();
            let mut state = header_state(&c.header, c.header.state.version_limit)?;
            state.options &= !f2::OPT_ANCHORED;
            let ring = self.ring();
            self.rewrite_header(io, &mut c, state, &ring.secrets)?;
        }
        self.drop_anchor();
        Ok(())
    }

    /// Adds a new data key to the keyring and makes it current, in one header write.
    pub(crate) fn rotate<IO: HeaderIo>(&self, io: &IO) -> Result<u32, RotateError> {
        if self.read_only {
            return Err(RotateError::ReadOnly);
        }
        let mut c = self.counter();
        let old = &c.header.state;
        let current = old.current_key_id().ok_or(RotateError::KeyringFull)?;
        if old.key_ids.len() >= f2::MAX_KEYS {
            return Err(RotateError::KeyringFull);
        }
        let new_id = current.checked_add(1).ok_or(RotateError::KeyringFull)?;
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        self.rng
            .fill(&mut key[..])
            .map_err(|e| RotateError::Header(OpenError::Random(e)))?;
        let mut state =
            header_state(&c.header, c.header.state.version_limit).map_err(RotateError::Header)?;
        state.key_ids.push(new_id);
        let secrets = {
            let ring = self.ring();
            let mut data_keys = ring.secrets.data_keys.clone();
            data_keys.push(key.clone());
            Secrets {
                data_keys,
                name_key: ring.secrets.name_key.clone(),
            }
        };
        self.rewrite_header(io, &mut c, state, &secrets)
            .map_err(RotateError::Header)?;
        {
            let mut ring = self.ring_mut();
            ring.keys.push((new_id, Cipher::new(&key)));
            ring.current = new_id;
            ring.secrets = secrets;
        }
        drop(c);
        self.sync_anchor()
            .map_err(|e| RotateError::Header(OpenError::AnchorIo(e)))?;
        Ok(new_id)
    }

    /// Rewrites every record not sealed under the current key (a new version, the current
    /// key, a fresh nonce), holding each key's lock from its read to its write.
    pub(crate) fn reencrypt<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        all: Vec<(String, String, String)>,
        progress: &mut dyn FnMut(ReencryptProgress),
    ) -> Result<ReencryptProgress, RotateError> {
        if self.read_only {
            return Err(RotateError::ReadOnly);
        }
        let names = self
            .decode_all(all)
            .map_err(|e| RotateError::List(e.into()))?;
        let mut done = ReencryptProgress {
            total: names.len(),
            done: 0,
            rewritten: 0,
        };
        for (p, s, k) in names {
            {
                let _key = self.stripe(&p, &s, &k);
                match complete_io(self.read_keyed(io, &p, &s, &k)) {
                    // Removed since the listing: nothing to re-encrypt.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(RotateError::Read(e)),
                    Ok((mut value, key_id, _)) => {
                        if key_id == self.ring().current {
                            value.zeroize();
                        } else {
                            complete_io(self.write(io, &p, &s, &k, value))
                                .map_err(RotateError::Write)?;
                            done.rewritten += 1;
                        }
                    }
                }
            }
            done.done += 1;
            progress(done);
        }
        Ok(done)
    }

    /// After a complete clean verification pass (every record sealed under the current key),
    /// reduces the keyring to the current key, in one header write taken while no synchronous
    /// write is in flight.
    pub(crate) fn retire<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        all: Vec<(String, String, String)>,
    ) -> Result<(), RotateError> {
        if self.read_only {
            return Err(RotateError::ReadOnly);
        }
        let names = self
            .decode_all(all)
            .map_err(|e| RotateError::List(e.into()))?;
        let current = self.ring().current;
        for (p, s, k) in names {
            match complete_io(self.read_keyed(io, &p, &s, &k)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(RotateError::Read(e)),
                Ok((mut value, key_id, _)) => {
                    value.zeroize();
                    if key_id != current {
                        return Err(RotateError::NotReencrypted {
                            primary_namespace: p,
                            secondary_namespace: s,
                            key: k,
                            key_id,
                        });
                    }
                }
            }
        }
        let _every_key: Vec<MutexGuard<'_, ()>> = self
            .stripes
            .iter()
            .map(|m| m.lock().unwrap_or_else(|p| p.into_inner()))
            .collect();
        let mut c = self.counter();
        let (secrets, mut state) = {
            let ring = self.ring();
            if ring.current != current {
                // Rotated during the pass: its records may be under the previous key.
                return Err(RotateError::Header(OpenError::HeaderChanged));
            }
            let at = c
                .header
                .state
                .key_ids
                .iter()
                .position(|id| *id == current)
                .ok_or(RotateError::Header(OpenError::HeaderAuthenticationFailed))?;
            let key = ring
                .secrets
                .data_keys
                .get(at)
                .ok_or(RotateError::Header(OpenError::HeaderAuthenticationFailed))?
                .clone();
            let secrets = Secrets {
                data_keys: vec![key],
                name_key: ring.secrets.name_key.clone(),
            };
            let state = header_state(&c.header, c.header.state.version_limit)
                .map_err(RotateError::Header)?;
            (secrets, state)
        };
        state.key_ids = vec![current];
        self.rewrite_header(io, &mut c, state, &secrets)
            .map_err(RotateError::Header)?;
        {
            let mut ring = self.ring_mut();
            ring.keys.retain(|(id, _)| *id == current);
            ring.secrets = secrets;
        }
        drop(c);
        drop(_every_key);
        self.sync_anchor()
            .map_err(|e| RotateError::Header(OpenError::AnchorIo(e)))
    }

    // ---- operations ----

    /// `read`: the inner read is made now; the future checks and opens what it returns.
    fn read_keyed<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
    ) -> impl Future<Output = Result<ReadValue, io::Error>> + Send + 'static {
        let issued = (|| {
            names::check_key(p, s, k).map_err(ReadError::InvalidName)?;
            let [sp, ss, sk] = self.stored_names(p, s, k).map_err(ReadError::InvalidName)?;
            let ticket = self.fresh().read_issued(p, s, k);
            let guard = ReadGuard {
                v2: Arc::clone(self),
                ticket: Some(ticket),
                names: [p.to_owned(), s.to_owned(), k.to_owned()],
            };
            Ok::<_, ReadError>((guard, io.read(&sp, &ss, &sk)))
        })();
        async move {
            let (guard, fut) = issued?;
            let r = fut.await;
            guard.finish(r)
        }
    }

    /// Reads a key through the read path, with its key id and version, to its end (synchronous
    /// inner store).
    pub(crate) fn read_value<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
    ) -> Result<ReadValue, io::Error> {
        complete_io(self.read_keyed(io, p, s, k))
    }

    /// `read`: the value only.
    pub(crate) fn read<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
    ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + Send + 'static {
        let fut = self.read_keyed(io, p, s, k);
        async move { fut.await.map(|(v, _, _)| v) }
    }

    /// `write`: version taken, value sealed and inner write made now.
    pub(crate) fn write<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        let mut step = None;
        let issued = (|| {
            names::check_key(p, s, k).map_err(WriteError::InvalidName)?;
            if self.read_only {
                return Err(WriteError::ReadOnly);
            }
            let [sp, ss, sk] = self
                .stored_names(p, s, k)
                .map_err(WriteError::InvalidName)?;
            step = self.before_mutation(io);
            let version = self.take().map_err(WriteError::Header)?;
            let rec = self.seal(p, s, k, version, buf)?;
            let ticket = self.fresh().write_issued(p, s, k, version);
            let guard = MutationGuard(Arc::clone(self), Some(ticket));
            Ok((guard, io.write(&sp, &ss, &sk, rec)))
        })();
        let this = Arc::clone(self);
        async move {
            if let Some(step) = step {
                step.await;
            }
            let (guard, fut) = issued?;
            let r = fut.await;
            let _ = guard.done(r.is_ok());
            // After the inner write, never before: the anchor is strengthened only once the
            // write succeeded (a failed one may have pinned the entry, which goes too).
            let synced = this.sync_anchor();
            r?;
            synced.map_err(|e| WriteError::Anchor(e).into())
        }
    }

    /// `remove`: version taken and inner remove made now. The future gives the pair to fold,
    /// if the removal calls for one.
    fn remove<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
        lazy: bool,
    ) -> impl Future<Output = Result<Option<FoldRequest>, io::Error>> + Send + 'static {
        let mut step = None;
        let issued = (|| {
            names::check_key(p, s, k).map_err(RemoveError::InvalidName)?;
            if self.read_only {
                return Err(RemoveError::ReadOnly);
            }
            let [sp, ss, sk] = self
                .stored_names(p, s, k)
                .map_err(RemoveError::InvalidName)?;
            step = self.before_mutation(io);
            let version = self.take().map_err(RemoveError::Header)?;
            let ticket = self.fresh().remove_issued(p, s, k, version, lazy);
            let guard = MutationGuard(Arc::clone(self), Some(ticket));
            // The weakening reaches the anchor before the inner remove: a crash after the
            // remove must not leave the anchor expecting the key.
            self.sync_anchor().map_err(RemoveError::Anchor)?;
            Ok((guard, io.remove(&sp, &ss, &sk, lazy)))
        })();
        let this = Arc::clone(self);
        async move {
            if let Some(step) = step {
                step.await;
            }
            let (guard, fut) = issued?;
            let r = fut.await;
            let fold = guard.done(r.is_ok());
            let synced = this.sync_anchor();
            if let Err(e) = r {
                if let Some(req) = fold {
                    this.fresh().fold_failed(&req);
                }
                return Err(e);
            }
            match synced {
                Ok(()) => Ok(fold),
                Err(e) => {
                    if let Some(req) = fold {
                        this.fresh().fold_failed(&req);
                    }
                    Err(RemoveError::Anchor(e).into())
                }
            }
        }
    }

    /// `write` over a synchronous inner store: one key's writes and removes are serialized from
    /// taking the version to the freshness update.
    pub(crate) fn write_sync<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> Result<(), io::Error> {
        let _key = self.stripe(p, s, k);
        complete_io(self.write(io, p, s, k, buf))
    }

    /// `remove` over a synchronous inner store, then the fold it calls for.
    pub(crate) fn remove_sync<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
        lazy: bool,
    ) -> Result<(), io::Error> {
        let fold = {
            let _key = self.stripe(p, s, k);
            complete_io(self.remove(io, p, s, k, lazy))?
        };
        match fold {
            Some(req) => self.fold(io, &req).map_err(io::Error::from),
            None => Ok(()),
        }
    }

    /// `remove` over an asynchronous inner store. Compaction by folding needs further inner
    /// calls after the removal, which a `'static` future cannot make: the pair's tombstones are
    /// then capped instead (the documented fallback for failed folds).
    pub(crate) fn remove_async<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
        lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        let fut = self.remove(io, p, s, k, lazy);
        let this = Arc::clone(self);
        async move {
            if let Some(req) = fut.await? {
                this.fresh().fold_failed(&req);
                this.sync_anchor().map_err(RemoveError::Anchor)?;
            }
            Ok(())
        }
    }

    /// Folds a pair's tombstones into its floor (synchronous inner store).
    fn fold<IO: HeaderIo>(self: &Arc<Self>, io: &IO, req: &FoldRequest) -> Result<(), RemoveError> {
        let listed = match complete_io(self.list(io, &req.primary, &req.secondary, false)) {
            Ok(l) => l,
            Err(_) => {
                self.fresh().fold_failed(req);
                return Ok(());
            }
        };
        let candidates = self.fresh().fold_candidates(req, &listed);
        for key in candidates {
            match complete_io(self.read(io, &req.primary, &req.secondary, &key)) {
                Ok(mut v) => v.zeroize(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    self.fresh().fold_failed(req);
                    let read = e
                        .get_ref()
                        .and_then(|i| i.downcast_ref::<ReadError>())
                        .cloned();
                    return match read {
                        Some(r) => Err(RemoveError::Freshness(r)),
                        None => Ok(()),
                    };
                }
            }
        }
        // Step 2's end: every present key of the pair has an entry, in the anchor too, before
        // the floor can cover the absent ones.
        self.fresh()
            .mark_listed(&req.primary, &req.secondary, &listed);
        if let Err(e) = self.sync_anchor() {
            self.fresh().fold_failed(req);
            return Err(RemoveError::Anchor(e));
        }
        self.fresh().fold_commit(req, &listed);
        self.sync_anchor().map_err(RemoveError::Anchor)
    }

    /// `list`: the inner listing is made now; the future decodes the names and checks that no
    /// key this instance holds live is missing (`check`).
    pub(crate) fn list<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        check: bool,
    ) -> impl Future<Output = Result<Vec<String>, io::Error>> + Send + 'static {
        let issued = (|| {
            let (sp, ss) = self.stored_namespace(p, s)?;
            let ticket = check.then(|| self.fresh().list_issued(p, s));
            let guard = ListGuard(Arc::clone(self), ticket);
            let fut = io.list(&sp, &ss);
            Ok::<_, ListError>((guard, fut, [p.to_owned(), s.to_owned(), sp, ss]))
        })();
        async move {
            let (mut guard, fut, [p, s, sp, ss]) = issued?;
            let stored = fut.await?;
            let keys = guard.0.decode_keys(&p, &s, &sp, &ss, stored)?;
            if let Some(t) = guard.1.take() {
                guard.0.check_listed(&t, &keys)?;
            }
            Ok(keys)
        }
    }
}

pub(crate) fn read_only_error() -> OpenError {
    OpenError::Io(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "the store was opened read-only",
    ))
}

/// A name too long for the anchor's one-byte length: excluded by the names checks.
fn unencodable() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "a stored name is too long for the anchor",
    )
}

fn seal_error(e: SealError) -> WriteError {
    match e {
        SealError::TooLarge => WriteError::ValueTooLarge,
        SealError::Failed => WriteError::EncryptionFailed,
    }
}

/// Runs a future whose inner calls are all synchronous (ready at once) to its end.
pub(crate) fn complete_io<T>(
    fut: impl Future<Output = Result<T, io::Error>>,
) -> Result<T, io::Error> {
    use core::task::{Context, Poll, Waker};
    let mut fut = core::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(io::Error::new(
            io::ErrorKind::Other,
            "a synchronous inner store call did not complete",
        )),
    }
}

/// Resets a reservation step whose future was dropped before it finished.
struct StepGuard(Arc<V2>, Step);

impl Drop for StepGuard {
    fn drop(&mut self) {
        self.0.reset_step(self.1);
    }
}

/// A read's freshness ticket: always given back, also when its future is dropped.
struct ReadGuard {
    v2: Arc<V2>,
    ticket: Option<ReadTicket>,
    names: [String; 3],
}

impl ReadGuard {
    fn refused(&self, r: Refusal) -> ReadError {
        let [p, s, k] = self.names.clone();
        match r {
            Refusal::Rollback {
                found,
                expected_at_least,
            } => ReadError::Rollback {
                primary_namespace: p,
                secondary_namespace: s,
                key: k,
                found,
                expected_at_least,
            },
            Refusal::Missing { expected_version } => ReadError::Missing {
                primary_namespace: p,
                secondary_namespace: s,
                key: k,
                expected_version,
            },
            Refusal::Resurrected { found, removed_at } => ReadError::Resurrected {
                primary_namespace: p,
                secondary_namespace: s,
                key: k,
                found,
                removed_at,
            },
        }
    }

    fn finish(mut self, r: Result<Vec<u8>, io::Error>) -> Result<ReadValue, io::Error> {
        let Some(ticket) = self.ticket.take() else {
            return Err(io::Error::new(
                io::ErrorKind::Other,
                "read ticket already used",
            ));
        };
        let rec = match r {
            Ok(rec) => rec,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let checked = self.v2.fresh().read_missing(ticket);
                return match checked {
                    Ok(()) => Err(e),
                    Err(Refusal::Missing { expected_version }) => {
                        let [p, s, k] = &self.names;
                        match self.v2.confirm_missing(p, s, k, expected_version)? {
                            Some(expected_version) => {
                                Err(self.refused(Refusal::Missing { expected_version }).into())
                            }
                            None => Err(e),
                        }
                    }
                    Err(refusal) => Err(self.refused(refusal).into()),
                };
            }
            Err(e) => {
                self.v2.fresh().read_abandoned(ticket);
                return Err(e);
            }
        };
        let [p, s, k] = &self.names;
        let Some((version, mut value, key_id)) = self.v2.open(p, s, k, rec) else {
            self.v2.fresh().read_abandoned(ticket);
            return Err(ReadError::AuthenticationFailed {
                primary_namespace: p.clone(),
                secondary_namespace: s.clone(),
                key: k.clone(),
            }
            .into());
        };
        let checked = self.v2.fresh().read_found(ticket, version);
        match checked {
            Ok(()) => {
                self.v2.saw(version);
                Ok((value, key_id, version))
            }
            Err(refusal) => {
                value.zeroize();
                Err(self.refused(refusal).into())
            }
        }
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.v2.fresh().read_abandoned(t);
        }
    }
}

/// A write's or remove's freshness ticket: always given back.
struct MutationGuard(Arc<V2>, Option<MutationTicket>);

impl MutationGuard {
    fn done(mut self, ok: bool) -> Option<FoldRequest> {
        let t = self.1.take()?;
        self.0.fresh().mutation_done(t, ok)
    }
}

impl Drop for MutationGuard {
    fn drop(&mut self) {
        if let Some(t) = self.1.take() {
            let _ = self.0.fresh().mutation_done(t, false);
        }
    }
}

/// A listing's freshness ticket: always given back.
struct ListGuard(Arc<V2>, Option<ListTicket>);

impl Drop for ListGuard {
    fn drop(&mut self) {
        if let Some(t) = self.1.take() {
            self.0.fresh().list_abandoned(t);
        }
    }
}
