//! The freshness anchor (docs/FORMAT.md, "The freshness anchor"): the trait users
//! implement, the provided implementation over a second LDK store, and the sealed values
//! (`meta` and one entry per live key) with what an open store keeps of them.

use core::fmt;
use core::marker::PhantomData;
use std::collections::HashMap;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;

use bitcoin::io;
use blake2::digest::consts::U32;
use blake2::digest::{KeyInit, Mac};
use blake2::Blake2bMac;
use zeroize::Zeroizing;

use crate::aead::{Cipher, TAG_LEN};
use crate::error::{AnchorCorruption, OpenError};
use crate::format::NONCE_LEN;
use crate::freshness::Key;
use crate::io::{sealed, InnerStore};
use crate::names;
use crate::rng::SharedRandom;

#[cfg(test)]
mod tests;

/// The primary namespace under which [`StoreAnchor`] keeps every anchor value.
pub const ANCHOR_PRIMARY_NAMESPACE: &str = "encrypted_kvstore_anchor";

const META: &str = "meta";
const VALUE_LABEL: &[u8] = b"encrypted-kvstore v2 anchor value";
const ENTRY_LABEL: &[u8] = b"encrypted-kvstore v2 anchor entry";
const META_PLAIN_LEN: usize = 32;
const META_LEN: usize = NONCE_LEN + META_PLAIN_LEN + TAG_LEN;

/// Somewhere to persist a store's freshness watermarks that whoever can roll back the
/// inner store cannot roll back with it (docs/FORMAT.md, "The freshness anchor").
///
/// Four operations over small named values, grouped by store: `store` is the 32 lowercase hex
/// characters of the store's id, so one anchor can serve several encrypted stores. A `write` or
/// `remove` that returned must be durable and atomic (the value written whole, or not at all).
/// The anchor is trusted for integrity, not for secrecy: it holds versions and stored names
/// (ciphertext when names are encrypted), no key and no value.
///
/// [`StoreAnchor`] implements it over any LDK store, for example a local `FilesystemStore`
/// when the data lives in a cloud store. Implement it over storage that cannot be put back to an
/// older state by whoever can do that to the inner store: a secure element's replay-protected
/// storage, or a remote service that keeps the newest value. A file sealed to a TPM does not
/// qualify: sealing keeps a file's content secret and bound to the machine, but an older copy of
/// the sealed file can still be put back. Calls are made on the thread of the store operation
/// that needs them, also for an asynchronous inner store: keep them short.
pub trait FreshnessAnchor: Send + Sync + UnwindSafe + RefUnwindSafe {
    /// The value of `name`, or `None` if there is none.
    fn read(&self, store: &str, name: &str) -> Result<Option<Vec<u8>>, io::Error>;
    /// Writes `value` under `name`, replacing any previous one.
    fn write(&self, store: &str, name: &str, value: &[u8]) -> Result<(), io::Error>;
    /// Removes `name`; removing a name that has no value succeeds.
    fn remove(&self, store: &str, name: &str) -> Result<(), io::Error>;
    /// Every name that has a value, in any order.
    fn list(&self, store: &str) -> Result<Vec<String>, io::Error>;
}

impl<T: FreshnessAnchor + ?Sized> FreshnessAnchor for Arc<T>
where
    Arc<T>: UnwindSafe,
{
    fn read(&self, store: &str, name: &str) -> Result<Option<Vec<u8>>, io::Error> {
        (**self).read(store, name)
    }
    fn write(&self, store: &str, name: &str, value: &[u8]) -> Result<(), io::Error> {
        (**self).write(store, name, value)
    }
    fn remove(&self, store: &str, name: &str) -> Result<(), io::Error> {
        (**self).remove(store, name)
    }
    fn list(&self, store: &str) -> Result<Vec<String>, io::Error> {
        (**self).list(store)
    }
}

/// A [`FreshnessAnchor`] kept in a second LDK store (`KVStoreSync` of LDK 0.2 or 0.3; `M` is
/// inferred as for [`EncryptedStore`](crate::EncryptedStore)): primary namespace
/// [`ANCHOR_PRIMARY_NAMESPACE`], secondary namespace the store id in hex, one key per value.
///
/// The second store must not be the inner store, nor anything restored or rolled back with it:
/// the wrapper cannot tell, and an anchor rolled back with the data protects nothing.
pub struct StoreAnchor<A, M> {
    store: A,
    _version: PhantomData<fn() -> M>,
}

impl<A, M> StoreAnchor<A, M>
where
    A: InnerStore<M>,
{
    /// An anchor in `store`.
    pub fn new(store: A) -> Self {
        StoreAnchor {
            store,
            _version: PhantomData,
        }
    }

    /// The store the anchor is kept in.
    pub fn inner(&self) -> &A {
        &self.store
    }
}

impl<A, M> fmt::Debug for StoreAnchor<A, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreAnchor").finish_non_exhaustive()
    }
}

impl<A, M> FreshnessAnchor for StoreAnchor<A, M>
where
    A: InnerStore<M> + Send + Sync + UnwindSafe + RefUnwindSafe,
{
    fn read(&self, store: &str, name: &str) -> Result<Option<Vec<u8>>, io::Error> {
        match sealed::SyncIo::<M>::read(&self.store, ANCHOR_PRIMARY_NAMESPACE, store, name) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
    fn write(&self, store: &str, name: &str, value: &[u8]) -> Result<(), io::Error> {
        sealed::SyncIo::<M>::write(
            &self.store,
            ANCHOR_PRIMARY_NAMESPACE,
            store,
            name,
            value.to_vec(),
        )
    }
    fn remove(&self, store: &str, name: &str) -> Result<(), io::Error> {
        match sealed::SyncIo::<M>::remove(&self.store, ANCHOR_PRIMARY_NAMESPACE, store, name, false)
        {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }
    fn list(&self, store: &str) -> Result<Vec<String>, io::Error> {
        sealed::SyncIo::<M>::list(&self.store, ANCHOR_PRIMARY_NAMESPACE, store)
    }
}

/// Why anchor contents were refused.
pub(crate) type Corrupt = AnchorCorruption;

/// The anchor's `meta` (plaintext).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) epoch: u64,
    pub(crate) header_seq: u64,
    pub(crate) version_limit: u64,
    pub(crate) accept_mark: u64,
}

/// The lowercase hex of bytes.
fn hex(d: &[u8]) -> String {
    let mut s = String::with_capacity(2 * d.len());
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The lowercase hex of a store id: the anchor's group of values for that store.
pub(crate) fn store_hex(store_id: &[u8; 16]) -> String {
    hex(store_id)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

fn is_entry_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 65
        && b.first() == Some(&b'k')
        && b.iter()
            .skip(1)
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// The anchor key of one store: seals its values and names its entries.
pub(crate) struct AnchorKey {
    cipher: Cipher,
    key: Zeroizing<[u8; 32]>,
    store_id: [u8; 16],
    rng: SharedRandom,
}

impl fmt::Debug for AnchorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnchorKey").finish_non_exhaustive()
    }
}

impl AnchorKey {
    pub(crate) fn new(key: &[u8; 32], store_id: [u8; 16], rng: SharedRandom) -> Self {
        AnchorKey {
            cipher: Cipher::new(key),
            key: Zeroizing::new(*key),
            store_id,
            rng,
        }
    }

    fn ad(&self, name: &str) -> Vec<u8> {
        let mut ad = Vec::with_capacity(VALUE_LABEL.len() + 16 + name.len());
        ad.extend_from_slice(VALUE_LABEL);
        ad.extend_from_slice(&self.store_id);
        ad.extend_from_slice(name.as_bytes());
        ad
    }

    fn seal(&self, name: &str, mut plain: Vec<u8>) -> Result<Vec<u8>, io::Error> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|e| io::Error::new(io::ErrorKind::Other, OpenError::Random(e)))?;
        let tag = self
            .cipher
            .seal_in_place(&nonce, &self.ad(name), &mut plain)
            .map_err(|_| io::Error::new(io::ErrorKind::Other, OpenError::KeyWrapFailed))?;
        let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain);
        out.extend_from_slice(&tag);
        Ok(out)
    }

    fn open(&self, name: &str, value: &[u8]) -> Option<Vec<u8>> {
        let nonce: [u8; NONCE_LEN] = value.get(..NONCE_LEN)?.try_into().ok()?;
        let body = value.get(NONCE_LEN..)?;
        let split = body.len().checked_sub(TAG_LEN)?;
        let tag: [u8; TAG_LEN] = body.get(split..)?.try_into().ok()?;
        let mut plain = body.get(..split)?.to_vec();
        self.cipher
            .open_in_place(&nonce, &self.ad(name), &mut plain, &tag)
            .ok()?;
        Some(plain)
    }

    /// The name of a key's entry: `k` and the keyed hash of the epoch and the plaintext names.
    pub(crate) fn entry_name(&self, epoch: u64, key: &Key) -> Result<String, io::Error> {
        let failed = || io::Error::new(io::ErrorKind::Other, OpenError::KeyWrapFailed);
        let mut mac =
            <Blake2bMac<U32> as KeyInit>::new_from_slice(&self.key[..]).map_err(|_| failed())?;
        Mac::update(&mut mac, ENTRY_LABEL);
        Mac::update(&mut mac, &epoch.to_le_bytes());
        for n in [&key.0, &key.1, &key.2] {
            let len = u32::try_from(n.len()).map_err(|_| failed())?;
            Mac::update(&mut mac, &len.to_le_bytes());
            Mac::update(&mut mac, n.as_bytes());
        }
        Ok(format!("k{}", hex(&mac.finalize().into_bytes())))
    }

    pub(crate) fn seal_meta(&self, m: &Meta) -> Result<Vec<u8>, io::Error> {
        let mut plain = Vec::with_capacity(META_PLAIN_LEN);
        for x in [m.epoch, m.header_seq, m.version_limit, m.accept_mark] {
            plain.extend_from_slice(&x.to_le_bytes());
        }
        self.seal(META, plain)
    }

    pub(crate) fn open_meta(&self, b: &[u8]) -> Result<Meta, Corrupt> {
        if b.len() != META_LEN {
            return Err(AnchorCorruption::MetaLength);
        }
        let p = self
            .open(META, b)
            .ok_or(AnchorCorruption::MetaNotAuthentic)?;
        let at = |i| u64_at(&p, i).ok_or(AnchorCorruption::MetaTruncated);
        let m = Meta {
            epoch: at(0)?,
            header_seq: at(8)?,
            version_limit: at(16)?,
            accept_mark: at(24)?,
        };
        if m.accept_mark > m.version_limit {
            return Err(AnchorCorruption::AcceptMarkAboveLimit);
        }
        Ok(m)
    }

    /// An entry: its name and sealed value.
    pub(crate) fn seal_entry(
        &self,
        epoch: u64,
        key: &Key,
        version: u64,
    ) -> Result<(String, Vec<u8>), io::Error> {
        let name = self.entry_name(epoch, key)?;
        let mut plain = Vec::with_capacity(19 + key.0.len() + key.1.len() + key.2.len());
        plain.extend_from_slice(&epoch.to_le_bytes());
        plain.extend_from_slice(&version.to_le_bytes());
        for n in [&key.0, &key.1, &key.2] {
            let len = u8::try_from(n.len()).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a name is too long for the anchor",
                )
            })?;
            plain.push(len);
            plain.extend_from_slice(n.as_bytes());
        }
        let value = self.seal(&name, plain)?;
        Ok((name, value))
    }

    /// Opens the entry `value` stored under `name`: its epoch, key and version.
    pub(crate) fn open_entry(&self, name: &str, value: &[u8]) -> Result<(u64, Key, u64), Corrupt> {
        if !is_entry_name(name) {
            return Err(AnchorCorruption::UnknownName);
        }
        let p = self
            .open(name, value)
            .ok_or(AnchorCorruption::EntryNotAuthentic)?;
        let epoch = u64_at(&p, 0).ok_or(AnchorCorruption::EntryTruncated)?;
        let version = u64_at(&p, 8).ok_or(AnchorCorruption::EntryTruncated)?;
        let mut at = 16;
        let mut n = Vec::with_capacity(3);
        for _ in 0..3 {
            let len = usize::from(*p.get(at).ok_or(AnchorCorruption::EntryTruncated)?);
            let bytes = p
                .get(at + 1..at + 1 + len)
                .ok_or(AnchorCorruption::EntryTruncated)?;
            n.push(
                core::str::from_utf8(bytes)
                    .map_err(|_| AnchorCorruption::EntryNameNotUtf8)?
                    .to_owned(),
            );
            at += 1 + len;
        }
        if at != p.len() {
            return Err(AnchorCorruption::EntryTrailingBytes);
        }
        let [p_, s, k]: [String; 3] = n.try_into().map_err(|_| AnchorCorruption::EntryTruncated)?;
        names::check_key(&p_, &s, &k).map_err(|_| AnchorCorruption::EntryInvalidName)?;
        let key = (p_, s, k);
        let expected = self
            .entry_name(epoch, &key)
            .map_err(|_| AnchorCorruption::EntryNameUncomputable)?;
        if expected != name {
            return Err(AnchorCorruption::EntryMisplaced);
        }
        Ok((epoch, key, version))
    }
}

/// What an anchor holds for a store: its `meta` and the entries of the meta's epoch.
pub(crate) type Loaded = (Meta, Vec<(Key, u64)>);

/// Reads and opens the anchor's `meta` for a store (`None`: absent).
pub(crate) fn read_meta(
    anchor: &dyn FreshnessAnchor,
    ns: &str,
    key: &AnchorKey,
) -> Result<Option<Meta>, OpenError> {
    match anchor.read(ns, META).map_err(OpenError::AnchorIo)? {
        None => Ok(None),
        Some(b) => key
            .open_meta(&b)
            .map(Some)
            .map_err(|reason| OpenError::AnchorCorrupt { reason }),
    }
}

/// "Opening with an anchor", step 3: every entry of the meta's epoch, checked.
pub(crate) fn load(
    anchor: &dyn FreshnessAnchor,
    ns: &str,
    key: &AnchorKey,
    meta: &Meta,
) -> Result<Vec<(Key, u64)>, OpenError> {
    let corrupt = |reason| OpenError::AnchorCorrupt { reason };
    let mut entries = Vec::new();
    for name in anchor.list(ns).map_err(OpenError::AnchorIo)? {
        if name == META {
            continue;
        }
        // Removed since the listing (old epochs being tidied): nothing to load.
        let Some(b) = anchor.read(ns, &name).map_err(OpenError::AnchorIo)? else {
            continue;
        };
        let (epoch, k, version) = key.open_entry(&name, &b).map_err(corrupt)?;
        if epoch != meta.epoch {
            continue;
        }
        if version == 0 || version >= meta.version_limit {
            return Err(corrupt(AnchorCorruption::EntryVersionOutOfBounds));
        }
        entries.push((k, version));
    }
    Ok(entries)
}

/// The anchor of an open store: its key, the `meta` it holds, and the changes not yet written
/// (an anchor write failed: every later write and remove retries them first).
pub(crate) struct AnchorState {
    pub(crate) anchor: Arc<dyn FreshnessAnchor>,
    pub(crate) key: AnchorKey,
    pub(crate) ns: String,
    pub(crate) meta: Meta,
    /// The meta to write (a header write raised `header_seq`).
    pub(crate) meta_pending: bool,
    /// Entries to write (`Some(version)`) or remove (`None`).
    pub(crate) pending: HashMap<Key, Option<u64>>,
}

impl fmt::Debug for AnchorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnchorState")
            .field("meta", &self.meta)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl AnchorState {
    pub(crate) fn write_meta(&mut self) -> Result<(), io::Error> {
        let b = self.key.seal_meta(&self.meta)?;
        self.anchor.write(&self.ns, META, &b)?;
        self.meta_pending = false;
        Ok(())
    }

    /// Writes (or removes) the entry of `key` now.
    pub(crate) fn put(&self, key: &Key, version: Option<u64>) -> Result<(), io::Error> {
        match version {
            Some(v) => {
                let (name, value) = self.key.seal_entry(self.meta.epoch, key, v)?;
                self.anchor.write(&self.ns, &name, &value)
            }
            None => {
                let name = self.key.entry_name(self.meta.epoch, key)?;
                self.anchor.remove(&self.ns, &name)
            }
        }
    }

    /// Writes every pending change, the meta first; what fails stays pending.
    pub(crate) fn flush(&mut self) -> Result<(), io::Error> {
        if self.meta_pending {
            self.write_meta()?;
        }
        let keys: Vec<Key> = self.pending.keys().cloned().collect();
        for k in keys {
            let v = self.pending.get(&k).copied().flatten();
            self.put(&k, v)?;
            self.pending.remove(&k);
        }
        Ok(())
    }

    /// Reads the entry of `key` as the anchor holds it now (a read-only instance, before an
    /// alarm).
    pub(crate) fn read_entry(&self, key: &Key) -> Result<Option<u64>, io::Error> {
        let name = self.key.entry_name(self.meta.epoch, key)?;
        match self.anchor.read(&self.ns, &name)? {
            None => Ok(None),
            Some(b) => match self.key.open_entry(&name, &b) {
                Ok((e, _, v)) if e == self.meta.epoch && v != 0 => Ok(Some(v)),
                // A read-only instance's meta may be older than the writer's: only version 0
                // is out of bounds for it.
                Ok((e, _, _)) if e == self.meta.epoch => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    OpenError::AnchorCorrupt {
                        reason: AnchorCorruption::EntryVersionZero,
                    },
                )),
                Ok(_) => Ok(None),
                Err(reason) => Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    OpenError::AnchorCorrupt { reason },
                )),
            },
        }
    }

    /// The name of the `meta` value.
    pub(crate) fn meta_name() -> &'static str {
        META
    }
}
