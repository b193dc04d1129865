//! The freshness anchor (docs/FORMAT.md, "The freshness anchor"): the trait users
//! implement, the provided implementation over a second LDK store, and the persisted encoding.
//! Pure encoding and parsing here; the store layer decides when to write.

use core::fmt;
use core::marker::PhantomData;
use std::collections::HashMap;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;

use bitcoin::io;
use blake2::digest::consts::U32;
use blake2::digest::Digest;
use blake2::Blake2b;

use crate::freshness::{Entry, Kind};
use crate::ldk::{sealed, InnerStore};
use crate::names;

/// The primary namespace under which [`StoreAnchor`] keeps every anchor value.
pub const ANCHOR_PRIMARY_NAMESPACE: &str = "encrypted_kvstore_anchor";

const META: &str = "meta";
const MAGIC: &[u8; 8] = b"EKVSANCH";
const ANCHOR_FORMAT: u8 = 1;
const META_LEN: usize = 8 + 1 + 16 + 8 + 8;
const KEY_LABEL: &[u8] = b"encrypted-kvstore v2 anchor key";
const PAIR_LABEL: &[u8] = b"encrypted-kvstore v2 anchor pair";

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
pub(crate) type Corrupt = &'static str;

/// The anchor's `meta` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub(crate) store_id: [u8; 16],
    pub(crate) header_seq: u64,
    pub(crate) epoch: u64,
}

/// The lowercase hex of a store id: the anchor's group of values for that store.
pub(crate) fn store_hex(store_id: &[u8; 16]) -> String {
    let mut s = String::with_capacity(32);
    for b in store_id {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

pub(crate) fn meta_name() -> &'static str {
    META
}

pub(crate) fn encode_meta(m: &Meta) -> Vec<u8> {
    let mut b = Vec::with_capacity(META_LEN);
    b.extend_from_slice(MAGIC);
    b.push(ANCHOR_FORMAT);
    b.extend_from_slice(&m.store_id);
    b.extend_from_slice(&m.header_seq.to_le_bytes());
    b.extend_from_slice(&m.epoch.to_le_bytes());
    b
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

pub(crate) fn parse_meta(b: &[u8], store_id: &[u8; 16]) -> Result<Meta, Corrupt> {
    if b.len() != META_LEN {
        return Err("the meta value has the wrong length");
    }
    if b.get(..8) != Some(&MAGIC[..]) || b.get(8) != Some(&ANCHOR_FORMAT) {
        return Err("the meta value has an unknown magic or anchor format");
    }
    if b.get(9..25) != Some(&store_id[..]) {
        return Err("the meta value belongs to another store");
    }
    let header_seq = u64_at(b, 25).ok_or("the meta value is truncated")?;
    let epoch = u64_at(b, 33).ok_or("the meta value is truncated")?;
    if epoch == 0 {
        return Err("the meta value has epoch 0");
    }
    Ok(Meta {
        store_id: *store_id,
        header_seq,
        epoch,
    })
}

fn hex32(d: &[u8]) -> String {
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn name_hash(label: &[u8], epoch: u64, names: &[&str]) -> String {
    let mut h = Blake2b::<U32>::new();
    h.update(label);
    h.update(epoch.to_le_bytes());
    for n in names {
        // Names are at most 120 bytes: the length always fits.
        h.update(u32::try_from(n.len()).unwrap_or(u32::MAX).to_le_bytes());
        h.update(n.as_bytes());
    }
    hex32(&h.finalize())
}

/// The anchor name of a key's entry: `k` and the hash of the epoch and the stored names.
pub(crate) fn key_name(epoch: u64, sp: &str, ss: &str, sk: &str) -> String {
    format!("k{}", name_hash(KEY_LABEL, epoch, &[sp, ss, sk]))
}

/// The anchor name of a pair record.
pub(crate) fn pair_name(epoch: u64, sp: &str, ss: &str) -> String {
    format!("p{}", name_hash(PAIR_LABEL, epoch, &[sp, ss]))
}

fn push_name(b: &mut Vec<u8>, n: &str) -> Option<()> {
    b.push(u8::try_from(n.len()).ok()?);
    b.extend_from_slice(n.as_bytes());
    Some(())
}

fn kind_byte(k: Kind) -> u8 {
    match k {
        Kind::Live => 1,
        Kind::MaybeRemoved => 2,
        Kind::Removed => 3,
    }
}

/// A key entry's value; `None` only for a name longer than 255 bytes, which LDK's rules (and
/// the names checks before every operation) exclude.
pub(crate) fn encode_entry(e: &Entry, epoch: u64, sp: &str, ss: &str, sk: &str) -> Option<Vec<u8>> {
    let mut b = Vec::with_capacity(25 + 3 + sp.len() + ss.len() + sk.len());
    b.push(kind_byte(e.kind));
    b.extend_from_slice(&e.version.to_le_bytes());
    b.extend_from_slice(&e.op.to_le_bytes());
    b.extend_from_slice(&epoch.to_le_bytes());
    push_name(&mut b, sp)?;
    push_name(&mut b, ss)?;
    push_name(&mut b, sk)?;
    Some(b)
}

/// A pair record's value.
pub(crate) fn encode_pair(
    floor: u64,
    lazy: bool,
    epoch: u64,
    sp: &str,
    ss: &str,
) -> Option<Vec<u8>> {
    let mut b = Vec::with_capacity(17 + 2 + sp.len() + ss.len());
    b.push(u8::from(lazy));
    b.extend_from_slice(&floor.to_le_bytes());
    b.extend_from_slice(&epoch.to_le_bytes());
    push_name(&mut b, sp)?;
    push_name(&mut b, ss)?;
    Some(b)
}

/// Reads `count` length-prefixed names from `b` at `at`; they must end the value exactly.
fn names_at(b: &[u8], mut at: usize, count: usize) -> Result<Vec<String>, Corrupt> {
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let len = usize::from(*b.get(at).ok_or("a value is truncated")?);
        let start = at + 1;
        let bytes = b.get(start..start + len).ok_or("a value is truncated")?;
        let s = core::str::from_utf8(bytes).map_err(|_| "a stored name is not UTF-8")?;
        out.push(s.to_owned());
        at = start + len;
    }
    if at != b.len() {
        return Err("a value is longer than its names");
    }
    Ok(out)
}

/// A parsed anchor value of the current epoch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// A key entry under stored names.
    Key {
        stored: (String, String, String),
        entry: Entry,
    },
    /// A pair record under stored names.
    Pair {
        stored: (String, String),
        floor: u64,
        lazy: bool,
    },
}

/// The epoch of a `k…` or `p…` value, if it has one.
pub(crate) fn epoch_of(name: &str, b: &[u8]) -> Option<u64> {
    match name.as_bytes().first() {
        Some(b'k') => u64_at(b, 17),
        Some(b'p') => u64_at(b, 9),
        _ => None,
    }
}

fn is_hash_name(name: &str, tag: u8) -> bool {
    let b = name.as_bytes();
    b.len() == 65
        && b.first() == Some(&tag)
        && b.iter()
            .skip(1)
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
}

/// Whether `name` can be a name of the anchor's encoding at all.
pub(crate) fn known_name(name: &str) -> bool {
    name == META || is_hash_name(name, b'k') || is_hash_name(name, b'p')
}

/// Parses the value under `name` (not `meta`). `Ok(None)`: a value of another epoch, ignored.
pub(crate) fn parse_value(name: &str, b: &[u8], epoch: u64) -> Result<Option<Value>, Corrupt> {
    if is_hash_name(name, b'k') {
        let e = u64_at(b, 17).ok_or("a key entry is truncated")?;
        if e != epoch {
            return Ok(None);
        }
        let version = u64_at(b, 1).ok_or("a key entry is truncated")?;
        let op = u64_at(b, 9).ok_or("a key entry is truncated")?;
        let kind = match b.first() {
            Some(1) if op == version => Kind::Live,
            Some(2) if op >= version => Kind::MaybeRemoved,
            Some(3) if op == version => Kind::Removed,
            _ => return Err("a key entry has an unknown kind or inconsistent versions"),
        };
        let n = names_at(b, 25, 3)?;
        let [sp, ss, sk]: [String; 3] = n.try_into().map_err(|_| "a key entry is truncated")?;
        names::check_key(&sp, &ss, &sk).map_err(|_| "a key entry holds an invalid name")?;
        if key_name(epoch, &sp, &ss, &sk) != name {
            return Err("a key entry is stored under another key's name");
        }
        Ok(Some(Value::Key {
            stored: (sp, ss, sk),
            entry: Entry { kind, version, op },
        }))
    } else if is_hash_name(name, b'p') {
        let e = u64_at(b, 9).ok_or("a pair record is truncated")?;
        if e != epoch {
            return Ok(None);
        }
        let floor = u64_at(b, 1).ok_or("a pair record is truncated")?;
        let lazy = match b.first() {
            Some(0) => false,
            Some(1) if floor == 0 => true,
            _ => return Err("a pair record has unknown flags or a floor in a lazy pair"),
        };
        let n = names_at(b, 17, 2)?;
        let [sp, ss]: [String; 2] = n.try_into().map_err(|_| "a pair record is truncated")?;
        names::check_namespace(&sp, &ss).map_err(|_| "a pair record holds an invalid name")?;
        if pair_name(epoch, &sp, &ss) != name {
            return Err("a pair record is stored under another pair's name");
        }
        Ok(Some(Value::Pair {
            stored: (sp, ss),
            floor,
            lazy,
        }))
    } else {
        Err("the anchor holds a value under a name it does not use")
    }
}

/// What the anchor holds for a store, as loaded at open (stored names).
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) meta: Meta,
    pub(crate) values: Vec<Value>,
}

/// Reads the anchor's meta for a store (`None`: absent).
pub(crate) fn read_meta(
    anchor: &dyn FreshnessAnchor,
    ns: &str,
    store_id: &[u8; 16],
) -> Result<Option<Meta>, crate::OpenError> {
    use crate::OpenError;
    match anchor.read(ns, META).map_err(OpenError::AnchorIo)? {
        None => Ok(None),
        Some(b) => parse_meta(&b, store_id)
            .map(Some)
            .map_err(|reason| OpenError::AnchorCorrupt { reason }),
    }
}

/// "Opening with an anchor", steps 3 and 4: every value of the meta's epoch, checked.
pub(crate) fn load(
    anchor: &dyn FreshnessAnchor,
    ns: &str,
    meta: Meta,
) -> Result<Loaded, crate::OpenError> {
    use crate::OpenError;
    let corrupt = |reason| OpenError::AnchorCorrupt { reason };
    let mut values = Vec::new();
    for name in anchor.list(ns).map_err(OpenError::AnchorIo)? {
        if name == META {
            continue;
        }
        if !known_name(&name) {
            return Err(corrupt(
                "the anchor holds a value under a name it does not use",
            ));
        }
        // Removed since the listing (another instance tidying old epochs): nothing to load.
        let Some(b) = anchor.read(ns, &name).map_err(OpenError::AnchorIo)? else {
            continue;
        };
        if let Some(v) = parse_value(&name, &b, meta.epoch).map_err(corrupt)? {
            values.push(v);
        }
    }
    Ok(Loaded { meta, values })
}

/// The anchor of an open, writable store and what it holds (plaintext names), so that
/// unchanged states are not written again.
pub(crate) struct AnchorState {
    pub(crate) anchor: Arc<dyn FreshnessAnchor>,
    pub(crate) ns: String,
    pub(crate) store_id: [u8; 16],
    pub(crate) epoch: u64,
    /// The `header_seq` in the anchor's meta.
    pub(crate) meta_seq: u64,
    pub(crate) keys: HashMap<(String, String, String), Entry>,
    pub(crate) pairs: HashMap<(String, String), (u64, bool)>,
}

impl fmt::Debug for AnchorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnchorState")
            .field("epoch", &self.epoch)
            .field("meta_seq", &self.meta_seq)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: [u8; 16] = [7; 16];

    #[test]
    fn meta_round_trips_and_refuses_another_store() {
        let m = Meta {
            store_id: ID,
            header_seq: 5,
            epoch: 2,
        };
        let b = encode_meta(&m);
        assert_eq!(b.len(), 41);
        assert_eq!(parse_meta(&b, &ID), Ok(m));
        assert!(parse_meta(&b, &[8; 16]).is_err());
        assert!(parse_meta(&b[..40], &ID).is_err());
        let mut zero = b.clone();
        zero[33..41].copy_from_slice(&0u64.to_le_bytes());
        assert!(parse_meta(&zero, &ID).is_err());
    }

    #[test]
    fn entries_round_trip_and_are_bound_to_their_names_and_epoch() {
        let e = Entry {
            kind: Kind::MaybeRemoved,
            version: 3,
            op: 9,
        };
        let name = key_name(1, "monitors", "", "abc_1");
        let b = encode_entry(&e, 1, "monitors", "", "abc_1").expect("short names");
        assert_eq!(
            parse_value(&name, &b, 1),
            Ok(Some(Value::Key {
                stored: ("monitors".into(), "".into(), "abc_1".into()),
                entry: e
            }))
        );
        // Another epoch: ignored.
        assert_eq!(parse_value(&name, &b, 2), Ok(None));
        // Under another key's name: refused.
        let other = key_name(1, "monitors", "", "abc_2");
        assert!(parse_value(&other, &b, 1).is_err());
        // Inconsistent versions: refused.
        let live = Entry {
            kind: Kind::Live,
            version: 3,
            op: 9,
        };
        let b = encode_entry(&live, 1, "monitors", "", "abc_1").expect("short names");
        assert!(parse_value(&name, &b, 1).is_err());
        // Trailing bytes: refused.
        let mut b = encode_entry(&e, 1, "monitors", "", "abc_1").expect("short names");
        b.push(0);
        assert!(parse_value(&name, &b, 1).is_err());
    }

    #[test]
    fn pair_records_round_trip_and_a_lazy_pair_has_no_floor() {
        let name = pair_name(4, "monitor_updates", "m1");
        let b = encode_pair(0, true, 4, "monitor_updates", "m1").expect("short names");
        assert_eq!(
            parse_value(&name, &b, 4),
            Ok(Some(Value::Pair {
                stored: ("monitor_updates".into(), "m1".into()),
                floor: 0,
                lazy: true
            }))
        );
        let b = encode_pair(7, true, 4, "monitor_updates", "m1").expect("short names");
        assert!(parse_value(&name, &b, 4).is_err());
        assert!(parse_value("zzz", &b, 4).is_err());
        assert!(!known_name("k12"));
        assert!(known_name(&name));
    }
}
