//! The record path of a store: versions from the block reserved at open, freshness (M and the
//! rule), the anchor's updates, encrypted names and padding (docs/FORMAT.md).
//!
//! Every operation is split in two: the part done when the method is called (names checked and
//! encrypted, a version taken, the value sealed, the freshness ticket issued and the inner call
//! made) and the part done when the inner call completes (the freshness update or judgement). A
//! synchronous inner store is driven through the same code: its calls complete at once.
//!
//! Here: the state, sealing, writes, removes and listings. Reads in `read.rs`; versions and
//! header writes in `counter.rs`; the anchor's bookkeeping and accept in `anchored.rs`; rotation
//! in `rotation.rs`; stored names in `stored_names.rs`.

use core::future::Future;
use core::hash::BuildHasher;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bitcoin::io;
use zeroize::{Zeroize, Zeroizing};

use crate::aead::Cipher;
use crate::anchor::{AnchorKey, AnchorState, FreshnessAnchor, Meta};
use crate::error::{
    HeaderError, ListError, OpenError, ReadError, RemoveError, RotateError, WriteError,
};
use crate::format::v2::{self as f2, HeaderV2, Secrets, State};
use crate::format::{SealError, DATA_KEY_LEN, NONCE_LEN};
use crate::freshness::{Freshness, Key, ListTicket, Listed, MutationTicket, ReadTicket, Verdict};
use crate::io::{complete_io, Io};
use crate::names::encrypted::{Field, NameCipher};
use crate::names::{
    self, InvalidName, HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use crate::rng::SharedRandom;
use crate::store::ReencryptProgress;

mod anchored;
mod counter;
mod read;
mod rotation;
mod stored_names;
// Over the LDK 0.2 traits; the core they test is the same for every version.
#[cfg(all(test, feature = "lightning-0-2"))]
mod tests;

pub(crate) use counter::{header_state, Counter, BLOCK};
pub(crate) use rotation::next_state;

const STRIPES: usize = 64;

/// An opened record: version, value, and the id of the data key that sealed it.
type Opened = (u64, Vec<u8>, u32);

/// A value read through the read path: the value, the id of the data key that sealed it, and
/// the record's version.
pub(crate) type ReadValue = (Vec<u8>, u32, u64);

/// The state of an open store, shared by the store and its in-flight futures.
pub(crate) struct Engine {
    pub(crate) store_id: [u8; 16],
    ring: RwLock<Ring>,
    names: Option<NameCipher>,
    padding: bool,
    pub(crate) read_only: bool,
    pub(crate) rng: SharedRandom,
    ctr: Mutex<Counter>,
    fresh: Mutex<Freshness>,
    stripes: Vec<Mutex<()>>,
    /// Picks a key's stripe (seeded at random: which keys share a stripe differs per store).
    stripe_seed: foldhash::fast::RandomState,
    fallback_stripe: Mutex<()>,
    /// The freshness anchor, if the store is anchored. Its lock is taken after a key's stripe
    /// and before the counter and freshness locks, never the other way round.
    anchor: Mutex<Option<AnchorState>>,
    /// Whether an anchor was attached at open. A store opened without one never gets one, so
    /// its writes and removes need not take the anchor's lock.
    anchor_attached: bool,
    /// The most Argon2id memory (KiB) a new passphrase of a credential change may ask for
    /// (`OpenOptions::max_kdf_memory_kib`).
    pub(crate) max_kdf_memory_kib: u32,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn key_of(p: &str, s: &str, k: &str) -> Key {
    (p.to_owned(), s.to_owned(), k.to_owned())
}

fn owned_key(key: &impl names::Triple) -> Key {
    let (p, s, k) = key.names();
    key_of(p, s, k)
}

impl Engine {
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
    ) -> Result<Engine, OpenError> {
        let options = header.state.options;
        let names = match (&secrets.name_key, options & f2::OPT_NAMES != 0) {
            (Some(k), true) => Some(NameCipher::new(k, header.store_id)),
            (None, false) => None,
            _ => return Err(OpenError::HeaderAuthenticationFailed),
        };
        let ring = Ring::new(&header.state, secrets)?;
        Ok(Engine {
            store_id: header.store_id,
            ring: RwLock::new(ring),
            names,
            padding: options & f2::OPT_PADDING != 0,
            read_only,
            fresh: Mutex::new(Freshness::new(read_only, next)),
            rng,
            ctr: Mutex::new(Counter::new(next, limit, header, hk)),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            stripe_seed: foldhash::fast::RandomState::default(),
            fallback_stripe: Mutex::new(()),
            anchor: Mutex::new(None),
            anchor_attached: false,
            max_kdf_memory_kib: crate::kdf::KdfParams::CEILING_MEMORY_KIB,
        })
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

    /// Seals `buf` as the record of version `version` of `(p, s, k)` under the current data
    /// key of `ring`.
    fn seal(
        &self,
        ring: &Ring,
        (p, s, k): (&str, &str, &str),
        version: u64,
        mut buf: f2::Plaintext,
    ) -> Result<Vec<u8>, WriteError> {
        // `buf` is zeroized if anything fails before the record is sealed.
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(WriteError::Random)?;
        let cipher = ring
            .cipher(ring.current)
            .ok_or(WriteError::EncryptionFailed)?;
        let ad = f2::RecordAd::new(&self.store_id, ring.current, version, p, s, k)
            .ok_or(WriteError::EncryptionFailed)?;
        let value = buf.take();
        f2::seal_record(
            cipher,
            ring.current,
            version,
            &nonce,
            &ad,
            value,
            self.padding,
        )
        .map_err(seal_error)
    }

    /// The anchor's state, locked, if the store was opened with an anchor.
    fn anchor_lock(&self) -> Option<MutexGuard<'_, Option<AnchorState>>> {
        self.anchor_attached.then(|| lock(&self.anchor))
    }

    fn stripe(&self, p: &str, s: &str, k: &str) -> MutexGuard<'_, ()> {
        let h = self.stripe_seed.hash_one((p, s, k));
        let i = usize::try_from(h % STRIPES as u64).unwrap_or(0);
        // `i < STRIPES` always; the fallback lock is as correct, only shared by more keys.
        let lock = self.stripes.get(i).unwrap_or(&self.fallback_stripe);
        lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Issues a write of `(p, s, k)`: pending anchor changes written, a version taken and the
    /// ticket issued (under the anchor's and the counter's locks: one key's versions are
    /// issued in the order they are taken), then the value sealed under the current data key
    /// (under the keyring's read lock, held since the write was counted as sealed under that
    /// key: a retirement waits for it). `quiet`: for a re-encryption's write back, the key must
    /// not have been touched since the pass read it (`None`: an application write).
    fn issue_write(
        self: &Arc<Self>,
        key: (&str, &str, &str),
        buf: Vec<u8>,
        quiet: Option<bool>,
    ) -> Result<Option<(MutationGuard, Vec<u8>)>, WriteError> {
        let buf = f2::Plaintext::new(buf);
        if self.read_only {
            return Err(WriteError::ReadOnly);
        }
        let mut a = self.anchor_lock();
        if let Some(a) = a.as_mut() {
            Self::flush(a).map_err(WriteError::Anchor)?;
        }
        let mut c = self.counter();
        let version = c.take().ok_or(WriteError::VersionsExhausted)?;
        // Taken under the counter's lock, which a rotation holds to change the keyring.
        let ring = self.ring();
        let mut f = self.fresh();
        if let Some(quiet) = quiet {
            if !f.reencrypt_may_write(&key, quiet) {
                return Ok(None);
            }
        }
        let mut ticket = f.write_issued(key, version);
        f.sealing(&mut ticket, ring.current);
        drop((f, c, a));
        let guard = MutationGuard {
            v2: Arc::clone(self),
            ticket: Some(ticket),
        };
        let sealed = self.seal(&ring, key, version, buf);
        // Released before the guard can give the ticket back (on an error, below): that takes
        // the anchor's lock, which is taken before the counter's, whose holder may be waiting
        // for the keyring's write lock.
        drop(ring);
        Ok(Some((guard, sealed?)))
    }

    /// Completes an issued write (or the error that stopped it before the inner call): M and
    /// the anchor follow the inner result.
    async fn complete_write<F: Future<Output = Result<(), io::Error>>>(
        issued: Result<(MutationGuard, F), WriteError>,
    ) -> Result<(), io::Error> {
        let (guard, fut) = issued?;
        let r = fut.await;
        let anchored = guard.write_done(r.is_ok());
        r?;
        anchored.map_err(|e| WriteError::Anchor(e).into())
    }

    /// `write`: version taken, value sealed and inner write made now.
    pub(crate) fn write<IO: Io>(
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
            let (guard, rec) = self
                .issue_write((p, s, k), buf, None)?
                .ok_or(WriteError::EncryptionFailed)?;
            Ok::<_, WriteError>((guard, io.write(&sp, &ss, &sk, rec)))
        })();
        Self::complete_write(issued)
    }

    /// `remove`: anchored, the key's entry leaves the anchor first; then the inner remove is
    /// made now.
    pub(crate) fn remove<IO: Io>(
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
            let ticket = {
                let mut a = self.anchor_lock();
                if let Some(st) = a.as_mut() {
                    Self::flush(st).map_err(RemoveError::Anchor)?;
                }
                let st = a.as_mut().and_then(|a| a.as_mut());
                if let Some(st) = st.filter(|_| self.fresh().get(&(p, s, k)).is_some()) {
                    // Before the inner remove: a crash after it must not leave the anchor
                    // expecting the key. If it fails it may still have taken effect: the key is
                    // absent from now on, its removal from the anchor pending, and the inner
                    // remove is not made.
                    let key = key_of(p, s, k);
                    if let Err(e) = st.put(&key, None) {
                        self.fresh().reload(&key, None);
                        st.pending.insert(key, None);
                        return Err(RemoveError::Anchor(e));
                    }
                }
                let c = self.counter();
                self.fresh().remove_issued((p, s, k), c.next())
            };
            let guard = MutationGuard {
                v2: Arc::clone(self),
                ticket: Some(ticket),
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

    /// A write or remove of the key `(p, s, k)` over a synchronous inner store (`op` makes
    /// it: [`write`](Self::write) or [`remove`](Self::remove)), run to its end under the key's
    /// lock: one key's writes and removes are serialized from taking the version to the
    /// freshness update.
    pub(crate) fn serialized<F: Future<Output = Result<(), io::Error>>>(
        &self,
        p: &str,
        s: &str,
        k: &str,
        op: impl FnOnce() -> F,
    ) -> Result<(), io::Error> {
        let _key = self.stripe(p, s, k);
        complete_io(op())
    }

    /// `list`: the inner listing is made now; the future decodes the names, checks that no key
    /// M holds is missing and, anchored, leaves out absent keys.
    pub(crate) fn list<IO: Io>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
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
            let scope = Some((p.as_str(), s.as_str()));
            if !this.fresh().is_anchored() {
                // Every listed key is kept: only the check of missing keys is left.
                this.check_missing(&ticket, scope, &Listed::Pair(&p, &s, &keys))?;
                return Ok(keys);
            }
            let triples = keys.into_iter().map(|k| key_of(&p, &s, &k)).collect();
            Ok(this
                .checked(&ticket, scope, triples, true)?
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

/// A write's or remove's ticket: always given back, also when its future is dropped.
struct MutationGuard {
    v2: Arc<Engine>,
    ticket: Option<MutationTicket>,
}

impl MutationGuard {
    /// The inner call returned (`ok`): M updated if the operation is still the key's latest,
    /// and, anchored, the key's entry written (a failure is pending and returned).
    fn write_done(mut self, ok: bool) -> Result<(), io::Error> {
        self.finish(ok)
    }

    fn finish(&mut self, ok: bool) -> Result<(), io::Error> {
        let Some(t) = self.ticket.take() else {
            return Ok(());
        };
        let Some(mut a) = self.v2.anchor_lock() else {
            self.v2.fresh().mutation_done(t, ok);
            return Ok(());
        };
        let set = {
            let mut f = self.v2.fresh();
            let set = f.mutation_done(t, ok);
            set.map(|(key, v)| (owned_key(key), v))
        };
        match (set, a.as_mut()) {
            (Some((key, v)), Some(st)) => match st.put(&key, Some(v)) {
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
