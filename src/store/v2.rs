//! The record path of a store: versions from the block reserved at open, freshness (M and the
//! rule), the anchor's updates, encrypted names and padding (docs/FORMAT.md).
//!
//! Every operation is split in two: the part done when the method is called (names checked and
//! encrypted, a version taken, the value sealed, the freshness ticket issued and the inner call
//! made) and the part done when the inner call completes (the freshness update or judgement). A
//! synchronous inner store is driven through the same code: its calls complete at once.

use core::future::Future;
use core::hash::{Hash, Hasher};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bitcoin::io;
use zeroize::{Zeroize, Zeroizing};

use crate::aead::Cipher;
use crate::anchor::{AnchorKey, AnchorState, FreshnessAnchor, Meta};
use crate::error::{ListError, OpenError, ReadError, RemoveError, RotateError, WriteError};
use crate::format::v2::{self as f2, HeaderV2, Secrets, State};
use crate::format::{SealError, DATA_KEY_LEN, NONCE_LEN};
use crate::freshness::{Freshness, Key, ListTicket, MutationTicket, ReadTicket, Verdict};
use crate::names::encrypted::{Field, NameCipher};
use crate::names::{
    self, InvalidName, HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use crate::open::HeaderIo;
use crate::rng::SharedRandom;
use crate::store::ReencryptProgress;

/// Versions reserved by a writable open.
pub(crate) const BLOCK: u64 = 1 << 32;
const STRIPES: usize = 64;
/// How long `retire_old_keys` waits for writes sealed under an old key.
const RETIRE_WAIT: Duration = Duration::from_secs(30);

/// An opened record: version, value, and the id of the data key that sealed it.
type Opened = (u64, Vec<u8>, u32);

/// A value read through the read path: the value, the id of the data key that sealed it, and
/// the record's version.
pub(crate) type ReadValue = (Vec<u8>, u32, u64);

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
    /// The freshness anchor, if the store is anchored. Its lock is taken after a key's stripe
    /// and before the counter and freshness locks, never the other way round.
    anchor: Mutex<Option<AnchorState>>,
    /// Writes in flight, by the id of the data key that sealed them.
    sealed_under: Mutex<HashMap<u32, usize>>,
}

/// The data keys: the keyring of the header and its secrets. Changed only by a rotation or a
/// retirement, under the counter's lock.
pub(crate) struct Ring {
    keys: Vec<(u32, Cipher)>,
    pub(crate) current: u32,
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
    /// The end of the block reserved at open.
    limit: u64,
    /// The header last read or written.
    pub(crate) header: HeaderV2,
    /// The key its secrets are sealed under.
    pub(crate) hk: Zeroizing<[u8; 32]>,
    /// Set when the stored header was found changed, or a header write failed: no header is
    /// written again.
    poisoned: bool,
}

impl Counter {
    /// The next version this instance would hand out.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }
}

/// The state block of the header written after `h`: `header_seq + 1`, `version_limit` given.
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn key_of(p: &str, s: &str, k: &str) -> Key {
    (p.to_owned(), s.to_owned(), k.to_owned())
}

impl V2 {
    /// An open store over `header` (authenticated with `hk`, whose secrets are `secrets`), with
    /// versions `next..limit` free to hand out.
    pub(crate) fn new(
        header: HeaderV2,
        hk: Zeroizing<[u8; 32]>,
        secrets: Secrets,
        rng: SharedRandom,
        read_only: bool,
        next: u64,
        limit: u64,
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
            fresh: Mutex::new(Freshness::new(read_only, next)),
            rng,
            ctr: Mutex::new(Counter {
                next,
                limit,
                header,
                hk,
                poisoned: false,
            }),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            fallback_stripe: Mutex::new(()),
            anchor: Mutex::new(None),
            sealed_under: Mutex::new(HashMap::new()),
        })
    }

    /// The anchor key of this store, for `anchor`.
    pub(crate) fn anchor_key(&self) -> AnchorKey {
        AnchorKey::new(
            &self.ring().secrets.anchor_key,
            self.store_id,
            Arc::clone(&self.rng),
        )
    }

    /// Attaches an anchor whose `meta` and entries were loaded ("Opening with an anchor",
    /// step 4). Before the store is shared.
    pub(crate) fn attach_anchor(
        &mut self,
        anchor: Arc<dyn FreshnessAnchor>,
        meta: Meta,
        entries: Vec<(Key, u64)>,
    ) {
        let fresh = self.fresh.get_mut().unwrap_or_else(|p| p.into_inner());
        fresh.load(entries, meta.accept_mark);
        let key = self.anchor_key();
        *self.anchor.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(AnchorState {
            anchor,
            key,
            ns: crate::anchor::store_hex(&self.store_id),
            meta,
            meta_pending: false,
            pending: HashMap::new(),
        });
    }

    /// Stops using the anchor (after the header's `anchored` bit was cleared).
    pub(crate) fn drop_anchor(&self) {
        let mut a = lock(&self.anchor);
        *a = None;
        self.fresh().unanchor();
    }

    /// Whether the store is anchored.
    pub(crate) fn anchored(&self) -> bool {
        lock(&self.anchor).is_some()
    }

    /// After a header write: the anchor's `meta` gets the new `header_seq` (and limit). If that
    /// write fails the change is pending: every later write and remove retries it first.
    pub(crate) fn header_written(&self) -> Result<(), io::Error> {
        let mut a = lock(&self.anchor);
        let Some(st) = a.as_mut() else {
            return Ok(());
        };
        {
            let c = self.counter();
            st.meta.header_seq = c.header.state.header_seq;
            st.meta.version_limit = st.meta.version_limit.max(c.header.state.version_limit);
        }
        st.meta_pending = true;
        st.flush()
    }

    pub(crate) fn counter(&self) -> MutexGuard<'_, Counter> {
        lock(&self.ctr)
    }

    fn fresh(&self) -> MutexGuard<'_, Freshness> {
        lock(&self.fresh)
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
    ) -> Result<(Vec<u8>, u32), WriteError> {
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
        let rec = f2::seal_record(cipher, ring.current, version, &nonce, &ad, &plaintext)
            .map_err(seal_error)?;
        Ok((rec, ring.current))
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

    // ---- freshness ----

    /// A read-only anchored instance, before an alarm: M[k] replaced by what the anchor holds
    /// now. `false` when there is nothing to re-read.
    fn reload(&self, key: &Key) -> Result<bool, io::Error> {
        if !self.read_only {
            return Ok(false);
        }
        let a = lock(&self.anchor);
        let Some(st) = a.as_ref() else {
            return Ok(false);
        };
        let v = st.read_entry(key)?;
        self.fresh().reload(key, v);
        Ok(true)
    }

    /// Judges a read that returned `r` (issued with ticket `t`): the value, or the error.
    fn finish_read(
        &self,
        t: ReadTicket,
        key: Key,
        r: Result<Vec<u8>, io::Error>,
    ) -> Result<ReadValue, io::Error> {
        let (p, s, k) = (&key.0, &key.1, &key.2);
        let (opened, not_found) = match r {
            Ok(rec) => match self.open(p, s, k, rec) {
                Some(o) => (Some(o), None),
                None => {
                    return Err(ReadError::AuthenticationFailed {
                        primary_namespace: p.clone(),
                        secondary_namespace: s.clone(),
                        key: k.clone(),
                    }
                    .into())
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => (None, Some(e)),
            Err(e) => return Err(e),
        };
        let found = opened.as_ref().map(|o| o.0);
        let mut verdict = self.fresh().read_done(&t, found);
        if verdict != Verdict::Serve && self.reload(&key)? {
            let f = self.fresh();
            verdict = f.judge(f.seen_now(&key), found);
        }
        let refused = match verdict {
            Verdict::Serve => {
                return match (opened, not_found) {
                    (Some((version, value, key_id)), _) => Ok((value, key_id, version)),
                    (None, Some(e)) => Err(e),
                    (None, None) => Err(io::Error::from(io::ErrorKind::NotFound)),
                }
            }
            Verdict::Absent => match (found, not_found) {
                (Some(found), _) => ReadError::Removed {
                    primary_namespace: p.clone(),
                    secondary_namespace: s.clone(),
                    key: k.clone(),
                    found,
                },
                (None, Some(e)) => return Err(e),
                (None, None) => return Err(io::Error::from(io::ErrorKind::NotFound)),
            },
            Verdict::Rollback { expected_at_least } => ReadError::Rollback {
                primary_namespace: p.clone(),
                secondary_namespace: s.clone(),
                key: k.clone(),
                found: found.unwrap_or(0),
                expected_at_least,
            },
            Verdict::Missing { expected_version } => ReadError::Missing {
                primary_namespace: p.clone(),
                secondary_namespace: s.clone(),
                key: k.clone(),
                expected_version,
            },
        };
        if let Some((_, mut value, _)) = opened {
            value.zeroize();
        }
        Err(refused.into())
    }

    /// Before the inner `list_all_keys`: what M holds, for [`list_all_done`](Self::list_all_done).
    pub(crate) fn list_all_issued(&self) -> ListTicket {
        self.fresh().list_issued(None)
    }

    /// `list_all_keys` returned `all`: decodes it, checks that no key M held when the listing
    /// was issued is missing from it, and, anchored, leaves out keys that are absent.
    pub(crate) fn list_all_done(
        &self,
        t: ListTicket,
        all: Vec<(String, String, String)>,
    ) -> Result<Vec<(String, String, String)>, io::Error> {
        let all = self.decode_all(all)?;
        self.checked(&t, all, true)
    }

    /// The freshness of a listing (`listed`, plaintext names): `ListError::Missing` for a key
    /// held when it was issued and still held with the same version that is not in it (when
    /// `check`), and, anchored, only the keys that are not absent.
    fn checked(
        &self,
        t: &ListTicket,
        mut listed: Vec<Key>,
        check: bool,
    ) -> Result<Vec<Key>, io::Error> {
        // A read-only instance without an anchor cannot tell the writer's remove from a
        // deletion: a key it read that is gone is absent, as on `read`.
        if check && (self.anchored() || !self.read_only) {
            let set: HashSet<&Key> = listed.iter().collect();
            loop {
                let missing = self.fresh().list_missing(t, &|k| set.contains(k)).cloned();
                let Some((key, v)) = missing else { break };
                // A read-only instance asks the anchor again first: the writer removes an
                // entry before it removes the key.
                if self.reload(&key)? && self.fresh().get(&key) != Some(v) {
                    continue;
                }
                return Err(ListError::Missing {
                    primary_namespace: key.0,
                    secondary_namespace: key.1,
                    key: key.2,
                    expected_version: v,
                }
                .into());
            }
        }
        let mut kept = Vec::with_capacity(listed.len());
        for key in listed.drain(..) {
            let keep = self.fresh().keep_listed(t, &key);
            if keep || (self.reload(&key)? && self.fresh().get(&key).is_some()) {
                kept.push(key);
            }
        }
        Ok(kept)
    }

    /// The keys of one page of `list_paginated`, decoded and, anchored, without absent keys.
    #[cfg(feature = "lightning-0-3")]
    pub(crate) fn page_keys(
        &self,
        p: &str,
        s: &str,
        sp: &str,
        ss: &str,
        keys: Vec<String>,
    ) -> Result<Vec<String>, io::Error> {
        let keys = self.decode_keys(p, s, sp, ss, keys)?;
        let t = self.fresh().list_issued(Some((p, s)));
        let triples = keys.into_iter().map(|k| key_of(p, s, &k)).collect();
        Ok(self
            .checked(&t, triples, false)?
            .into_iter()
            .map(|(_, _, k)| k)
            .collect())
    }

    /// Takes one version.
    fn take(&self) -> Result<u64, OpenError> {
        let mut c = self.counter();
        if c.next >= c.limit {
            return Err(if c.next == u64::MAX {
                OpenError::CounterExhausted
            } else {
                OpenError::VersionsExhausted
            });
        }
        let v = c.next;
        c.next += 1;
        Ok(v)
    }

    fn stripe(&self, p: &str, s: &str, k: &str) -> MutexGuard<'_, ()> {
        let mut h = DefaultHasher::new();
        (p, s, k).hash(&mut h);
        let i = usize::try_from(h.finish() % STRIPES as u64).unwrap_or(0);
        // `i < STRIPES` always; the fallback lock is as correct, only shared by more keys.
        let lock = self.stripes.get(i).unwrap_or(&self.fallback_stripe);
        lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    // ---- header writes ----

    /// The read-check-write of a header change made by a caller holding the counter lock
    /// (synchronous inner store): refuses when the stored header is not the one last read or
    /// written, or after a header write failed.
    pub(crate) fn rewrite_header<IO: HeaderIo>(
        &self,
        io: &IO,
        c: &mut Counter,
        state: State,
        secrets: &Secrets,
    ) -> Result<(), OpenError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(OpenError::Random)?;
        let h = c
            .header
            .with_state(&c.hk, state, nonce, secrets)
            .map_err(|_| OpenError::KeyWrapFailed)?;
        self.replace_header(io, c, h, None)
    }

    /// Writes `h` in place of the header `c` holds (read-check-write), and `hk` with it when
    /// the credential changed.
    pub(crate) fn replace_header<IO: HeaderIo>(
        &self,
        io: &IO,
        c: &mut Counter,
        h: HeaderV2,
        hk: Option<Zeroizing<[u8; 32]>>,
    ) -> Result<(), OpenError> {
        if self.read_only {
            return Err(read_only_error());
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
        if let Err(e) = complete_io(io.write(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            h.to_bytes(),
        )) {
            // It may have landed: no header is written over it from this instance.
            c.poisoned = true;
            return Err(OpenError::Io(e));
        }
        c.header = h;
        if let Some(hk) = hk {
            c.hk = hk;
        }
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

    /// The secrets and state of a rotation: a new random data key appended and made current.
    pub(crate) fn rotated(&self, c: &Counter) -> Result<(State, Secrets, u32), RotateError> {
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
        let ring = self.ring();
        let mut data_keys = ring.secrets.data_keys.clone();
        data_keys.push(key);
        let secrets = Secrets {
            data_keys,
            anchor_key: ring.secrets.anchor_key.clone(),
            name_key: ring.secrets.name_key.clone(),
        };
        Ok((state, secrets, new_id))
    }

    /// New records are sealed under the key `new_id` of `secrets` from now on (after the header
    /// holding it was written).
    pub(crate) fn use_keyring(&self, secrets: Secrets, new_id: u32) {
        let mut ring = self.ring_mut();
        if let Some(k) = secrets.data_keys.last() {
            ring.keys.push((new_id, Cipher::new(k)));
        }
        ring.current = new_id;
        ring.secrets = secrets;
    }

    /// Adds a new data key to the keyring and makes it current, in one header write.
    pub(crate) fn rotate<IO: HeaderIo>(&self, io: &IO) -> Result<u32, RotateError> {
        if self.read_only {
            return Err(RotateError::ReadOnly);
        }
        let mut c = self.counter();
        let (state, secrets, new_id) = self.rotated(&c)?;
        self.rewrite_header(io, &mut c, state, &secrets)
            .map_err(RotateError::Header)?;
        self.use_keyring(secrets, new_id);
        drop(c);
        self.header_written()
            .map_err(|e| RotateError::Header(OpenError::AnchorIo(e)))?;
        Ok(new_id)
    }

    /// Rewrites every record not sealed under the current key (a new version, the current
    /// key, a fresh nonce), never over a write or remove of the key made during the pass.
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
        for key in names {
            {
                // Synchronous writes of the key wait; asynchronous ones are checked below.
                let _key = self.stripe(&key.0, &key.1, &key.2);
                let quiet = self.fresh().reencrypt_read(&key);
                match complete_io(self.read_keyed(io, &key.0, &key.1, &key.2)) {
                    // Removed since the listing: nothing to re-encrypt.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(RotateError::Read(e)),
                    Ok((mut value, key_id, _)) => {
                        if key_id == self.ring().current {
                            value.zeroize();
                        } else if let Some(fut) = self.write_back(io, &key, quiet, value) {
                            complete_io(fut).map_err(RotateError::Write)?;
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

    /// Retirement: waits for writes sealed under other keys than the current one, checks that
    /// every record is under the current key, then reduces the keyring to it in one header
    /// write.
    pub(crate) fn retire<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        list_all: &dyn Fn() -> Result<Vec<(String, String, String)>, io::Error>,
    ) -> Result<(), RotateError> {
        if self.read_only {
            return Err(RotateError::ReadOnly);
        }
        let current = self.ring().current;
        let started = Instant::now();
        loop {
            let old = lock(&self.sealed_under)
                .iter()
                .any(|(id, n)| *id != current && *n > 0);
            if !old {
                break;
            }
            if started.elapsed() > RETIRE_WAIT {
                return Err(RotateError::WritesInFlight);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let all = list_all().map_err(RotateError::List)?;
        let names = self
            .decode_all(all)
            .map_err(|e| RotateError::List(e.into()))?;
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
                anchor_key: ring.secrets.anchor_key.clone(),
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
        self.header_written()
            .map_err(|e| RotateError::Header(OpenError::AnchorIo(e)))
    }

    // ---- operations ----

    /// `read`: the inner read is made now; the future judges and opens what it returns.
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
            let key = key_of(p, s, k);
            let ticket = self.fresh().read_issued(key.clone());
            Ok::<_, ReadError>((ticket, key, io.read(&sp, &ss, &sk)))
        })();
        let this = Arc::clone(self);
        async move {
            let (ticket, key, fut) = issued?;
            let r = fut.await;
            this.finish_read(ticket, key, r)
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

    /// Anchored: writes the pending anchor changes (refusing the operation if that fails).
    fn flush(st: &mut Option<AnchorState>) -> Result<(), io::Error> {
        match st.as_mut() {
            Some(st) => st.flush(),
            None => Ok(()),
        }
    }

    /// Issues a write of `key`: pending anchor changes written, a version taken, the ticket
    /// issued (all under the anchor lock), then the value sealed. `quiet`: for a
    /// re-encryption's write back, the key must not have been touched since the pass read it
    /// (`None`: an application write).
    #[allow(clippy::type_complexity)]
    fn issue_write(
        self: &Arc<Self>,
        key: &Key,
        buf: Vec<u8>,
        quiet: Option<bool>,
    ) -> Result<Option<(MutationGuard, Vec<u8>)>, WriteError> {
        let mut buf = Zeroizing::new(buf);
        if self.read_only {
            return Err(WriteError::ReadOnly);
        }
        let (ticket, version) = {
            let mut a = lock(&self.anchor);
            Self::flush(&mut a).map_err(WriteError::Anchor)?;
            let version = self.take().map_err(WriteError::Header)?;
            let mut f = self.fresh();
            if let Some(quiet) = quiet {
                if !f.reencrypt_may_write(key, quiet) {
                    return Ok(None);
                }
            }
            (f.write_issued(key.clone(), version), version)
        };
        let mut guard = MutationGuard {
            v2: Arc::clone(self),
            ticket: Some(ticket),
            sealed_under: None,
        };
        let (rec, key_id) =
            self.seal(&key.0, &key.1, &key.2, version, core::mem::take(&mut *buf))?;
        *lock(&self.sealed_under).entry(key_id).or_insert(0) += 1;
        guard.sealed_under = Some(key_id);
        Ok(Some((guard, rec)))
    }

    /// The write back of a re-encryption, if the key was not touched since the pass read it.
    fn write_back<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        key: &Key,
        quiet: bool,
        value: Vec<u8>,
    ) -> Option<impl Future<Output = Result<(), io::Error>> + Send + 'static> {
        let issued = (|| {
            let [sp, ss, sk] = self
                .stored_names(&key.0, &key.1, &key.2)
                .map_err(WriteError::InvalidName)?;
            let Some((guard, rec)) = self.issue_write(key, value, Some(quiet))? else {
                return Ok(None);
            };
            Ok::<_, WriteError>(Some((guard, io.write(&sp, &ss, &sk, rec))))
        })();
        match issued {
            Ok(None) => None,
            Ok(Some((guard, fut))) => Some(Self::complete_write(guard, fut)),
            Err(e) => Some(Self::failed(e)),
        }
    }

    fn failed(
        e: WriteError,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), io::Error>> + Send>> {
        Box::pin(async move { Err(e.into()) })
    }

    fn complete_write(
        guard: MutationGuard,
        fut: impl Future<Output = Result<(), io::Error>> + Send + 'static,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), io::Error>> + Send>> {
        Box::pin(async move {
            let r = fut.await;
            let anchored = guard.write_done(r.is_ok());
            r?;
            anchored.map_err(|e| WriteError::Anchor(e).into())
        })
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
        let issued = (|| {
            names::check_key(p, s, k).map_err(WriteError::InvalidName)?;
            let [sp, ss, sk] = self
                .stored_names(p, s, k)
                .map_err(WriteError::InvalidName)?;
            let key = key_of(p, s, k);
            let (guard, rec) = self
                .issue_write(&key, buf, None)?
                .ok_or(WriteError::EncryptionFailed)?;
            Ok::<_, WriteError>((guard, io.write(&sp, &ss, &sk, rec)))
        })();
        match issued {
            Ok((guard, fut)) => Self::complete_write(guard, fut),
            Err(e) => Self::failed(e),
        }
    }

    /// `remove`: anchored, the key's entry leaves the anchor first; then the inner remove is
    /// made now.
    fn remove<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
        lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        let issued = (|| {
            names::check_key(p, s, k).map_err(RemoveError::InvalidName)?;
            if self.read_only {
                return Err(RemoveError::ReadOnly);
            }
            let [sp, ss, sk] = self
                .stored_names(p, s, k)
                .map_err(RemoveError::InvalidName)?;
            let key = key_of(p, s, k);
            let ticket = {
                let mut a = lock(&self.anchor);
                Self::flush(&mut a).map_err(RemoveError::Anchor)?;
                let held = self.fresh().get(&key).is_some();
                if let (Some(st), true) = (a.as_ref(), held) {
                    // Before the inner remove: a crash after it must not leave the anchor
                    // expecting the key.
                    st.put(&key, None).map_err(RemoveError::Anchor)?;
                }
                let next = self.counter().next();
                self.fresh().remove_issued(key, next)
            };
            let guard = MutationGuard {
                v2: Arc::clone(self),
                ticket: Some(ticket),
                sealed_under: None,
            };
            Ok((guard, io.remove(&sp, &ss, &sk, lazy)))
        })();
        async move {
            let (guard, fut) = issued?;
            let r = fut.await;
            let _ = guard.write_done(r.is_ok());
            r
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

    /// `remove` over a synchronous inner store.
    pub(crate) fn remove_sync<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
        lazy: bool,
    ) -> Result<(), io::Error> {
        let _key = self.stripe(p, s, k);
        complete_io(self.remove(io, p, s, k, lazy))
    }

    /// `remove` over an asynchronous inner store.
    pub(crate) fn remove_async<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
        lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        self.remove(io, p, s, k, lazy)
    }

    /// `list`: the inner listing is made now; the future decodes the names, checks that no key
    /// M holds is missing (`check`) and, anchored, leaves out absent keys.
    pub(crate) fn list<IO: HeaderIo>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        check: bool,
    ) -> impl Future<Output = Result<Vec<String>, io::Error>> + Send + 'static {
        let issued = (|| {
            let (sp, ss) = self.stored_namespace(p, s)?;
            let ticket = self.fresh().list_issued(Some((p, s)));
            let fut = io.list(&sp, &ss);
            Ok::<_, ListError>((ticket, fut, [p.to_owned(), s.to_owned(), sp, ss]))
        })();
        let this = Arc::clone(self);
        async move {
            let (ticket, fut, [p, s, sp, ss]) = issued?;
            let stored = fut.await?;
            let keys = this.decode_keys(&p, &s, &sp, &ss, stored)?;
            let triples = keys.into_iter().map(|k| key_of(&p, &s, &k)).collect();
            Ok(this
                .checked(&ticket, triples, check)?
                .into_iter()
                .map(|(_, _, k)| k)
                .collect())
        }
    }
}

pub(crate) fn read_only_error() -> OpenError {
    OpenError::Io(io::Error::new(
        io::ErrorKind::PermissionDenied,
        "the store was opened read-only",
    ))
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

/// A write's or remove's ticket: always given back, also when its future is dropped.
struct MutationGuard {
    v2: Arc<V2>,
    ticket: Option<MutationTicket>,
    /// The data key that sealed the write.
    sealed_under: Option<u32>,
}

impl MutationGuard {
    /// The inner call returned (`ok`): M updated if the operation is still the key's latest,
    /// and, anchored, the key's entry written (a failure is pending and returned).
    fn write_done(mut self, ok: bool) -> Result<(), io::Error> {
        self.finish(ok)
    }

    fn finish(&mut self, ok: bool) -> Result<(), io::Error> {
        if let Some(id) = self.sealed_under.take() {
            let mut m = lock(&self.v2.sealed_under);
            if let Some(n) = m.get_mut(&id) {
                *n = n.saturating_sub(1);
            }
        }
        let Some(t) = self.ticket.take() else {
            return Ok(());
        };
        let key = t.key().clone();
        let mut a = lock(&self.v2.anchor);
        let set = self.v2.fresh().mutation_done(t, ok);
        match (set, a.as_mut()) {
            (Some(v), Some(st)) => match st.put(&key, Some(v)) {
                Ok(()) => {
                    st.pending.remove(&key);
                    Ok(())
                }
                Err(e) => {
                    st.pending.insert(key, Some(v));
                    Err(e)
                }
            },
            _ => Ok(()),
        }
    }
}

impl Drop for MutationGuard {
    fn drop(&mut self) {
        let _ = self.finish(false);
    }
}
