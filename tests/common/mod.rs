//! Helpers shared by the proof suite: cheap KDF costs, typed-error checks, snapshots of an inner
//! store, header forging (the header checksum is unkeyed, so an attacker can recompute it), an
//! adapter that drives a store through either LDK trait, and a fault-injecting inner store.

#![allow(
    dead_code, // every test file uses a different subset
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use blake2::digest::consts::U32;
use blake2::digest::Digest;
use blake2::Blake2b;
use encrypted_kvstore::{KdfParams, ReadError};
use lightning::io;
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{KVStore, KVStoreSync, MigratableKVStore};
use lightning_persister::fs_store::FilesystemStore;

/// The passphrase most tests use.
pub const PASSPHRASE: &[u8] = b"proof suite passphrase";

/// Length of a v1 header, and where its checksum starts (format v1, frozen).
pub const HEADER_LEN: usize = 180;
/// Offset of the header checksum.
pub const CHECKSUM_AT: usize = 148;

/// Argon2id costs that make tests fast. Never for real data.
pub fn cheap() -> KdfParams {
    KdfParams::insecure_for_tests_only(64, 1, 1).unwrap()
}

/// A fresh `FilesystemStore` over `dir`.
pub fn fs(dir: &Path) -> FilesystemStore {
    FilesystemStore::new(dir.to_path_buf())
}

/// The typed read error carried by an I/O error, if any.
pub fn read_error(e: &io::Error) -> Option<&ReadError> {
    e.get_ref().and_then(|e| e.downcast_ref::<ReadError>())
}

/// Asserts that `r` is the documented authentication failure for exactly this key.
#[track_caller]
pub fn assert_auth_failed(r: Result<Vec<u8>, io::Error>, p: &str, s: &str, k: &str) {
    match r {
        Ok(v) => panic!(
            "{p}/{s}/{k}: expected AuthenticationFailed, read {} bytes",
            v.len()
        ),
        Err(e) => {
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{p}/{s}/{k}: {e}");
            assert_eq!(
                read_error(&e),
                Some(&ReadError::AuthenticationFailed {
                    primary_namespace: p.into(),
                    secondary_namespace: s.into(),
                    key: k.into(),
                }),
                "{p}/{s}/{k}: {e}"
            );
        }
    }
}

/// Every value of a store, with its names.
pub type Snapshot = BTreeMap<(String, String, String), Vec<u8>>;

/// Reads every value of `store` (for an inner store: headers and records, as stored).
pub fn snapshot<S: MigratableKVStore>(store: &S) -> Snapshot {
    let mut out = BTreeMap::new();
    for (p, s, k) in store.list_all_keys().unwrap() {
        let v = KVStoreSync::read(store, &p, &s, &k).unwrap();
        out.insert((p, s, k), v);
    }
    out
}

/// The v1 header checksum: unkeyed BLAKE2b-256 over a label and the 148 bytes before it.
pub fn header_checksum(prefix: &[u8]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    Digest::update(&mut h, b"encrypted-kvstore v1 header checksum");
    Digest::update(&mut h, prefix);
    h.finalize().into()
}

/// Recomputes the checksum of a (tampered) 180-byte header, as an attacker can.
pub fn reseal_checksum(h: &mut [u8]) {
    assert_eq!(h.len(), HEADER_LEN);
    let sum = header_checksum(&h[..CHECKSUM_AT]);
    h[CHECKSUM_AT..].copy_from_slice(&sum);
}

/// Every plausible rendering of `secret` in a `Debug` or `Display` text: hex (lower and upper,
/// plain or as `{:x?}` lists, with or without `0x`), decimal as `{:?}` prints a byte array or
/// slice (`[1, 2, 3]`, also pretty-printed), and the bytes as text where they are UTF-8. Each
/// is searched in the text with all whitespace removed.
pub fn renderings(secret: &[u8]) -> Vec<String> {
    let join =
        |f: &dyn Fn(&u8) -> String, sep: &str| secret.iter().map(f).collect::<Vec<_>>().join(sep);
    let mut out = vec![
        join(&|b| format!("{b:02x}"), ""),
        join(&|b| format!("{b:02X}"), ""),
        join(&|b| format!("{b:x}"), ","),
        join(&|b| format!("{b:X}"), ","),
        join(&|b| format!("{b:#x}"), ","),
        join(&|b| format!("{b:#04x}"), ","),
        join(&|b| b.to_string(), ","),
    ];
    if let Ok(text) = std::str::from_utf8(secret) {
        out.push(text.split_whitespace().collect());
    }
    out
}

/// Asserts that no rendering of `secret` (see [`renderings`]) appears in `text`.
#[track_caller]
pub fn assert_no_rendering(what: &str, text: &str, secret: &[u8]) {
    let compact: String = text.split_whitespace().collect();
    for r in renderings(secret) {
        assert!(
            !compact.contains(&r),
            "{what} shows secret bytes (as {r:?}): {text}"
        );
    }
}

/// Asserts that no 8-byte window of `secret` shows in `text` (a partial leak is a leak).
#[track_caller]
pub fn assert_no_window(what: &str, text: &str, secret: &[u8]) {
    if secret.is_empty() {
        return;
    }
    for w in secret.windows(8.min(secret.len())) {
        assert_no_rendering(what, text, w);
    }
}

/// One store operation, through whichever LDK trait an adapter drives.
pub trait Ops {
    /// `read`.
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>>;
    /// `write`.
    fn write(&self, p: &str, s: &str, k: &str, v: Vec<u8>) -> io::Result<()>;
    /// `remove`.
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()>;
    /// `list`, sorted.
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>>;
}

/// Drives a store through `KVStoreSync`.
pub struct SyncOps<'a, S>(pub &'a S);

impl<S: KVStoreSync> Ops for SyncOps<'_, S> {
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
        KVStoreSync::read(self.0, p, s, k)
    }
    fn write(&self, p: &str, s: &str, k: &str, v: Vec<u8>) -> io::Result<()> {
        KVStoreSync::write(self.0, p, s, k, v)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
        KVStoreSync::remove(self.0, p, s, k, lazy)
    }
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
        let mut l = KVStoreSync::list(self.0, p, s)?;
        l.sort();
        Ok(l)
    }
}

/// Drives a store through the async `KVStore`, each future run to completion on a
/// current-thread tokio runtime (LDK's `FilesystemStore` needs one for `spawn_blocking`).
pub struct AsyncOps<'a, S> {
    store: &'a S,
    rt: tokio::runtime::Runtime,
}

impl<'a, S> AsyncOps<'a, S> {
    /// An adapter with its own runtime.
    pub fn new(store: &'a S) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        AsyncOps { store, rt }
    }
}

impl<S: KVStore> Ops for AsyncOps<'_, S> {
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
        let fut = KVStore::read(self.store, p, s, k);
        self.rt.block_on(fut)
    }
    fn write(&self, p: &str, s: &str, k: &str, v: Vec<u8>) -> io::Result<()> {
        let fut = KVStore::write(self.store, p, s, k, v);
        self.rt.block_on(fut)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
        let fut = KVStore::remove(self.store, p, s, k, lazy);
        self.rt.block_on(fut)
    }
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
        let fut = KVStore::list(self.store, p, s);
        let mut l = self.rt.block_on(fut)?;
        l.sort();
        Ok(l)
    }
}

/// How an injected fault behaves. The first three are loud (the operation returns the injected
/// error); the others are silent (the operation reports success, as real storage does when it
/// loses or garbles data without noticing). A silent kind that does not apply to an operation
/// (a lost write on a read, a corrupted read on a write) leaves that operation untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The operation fails and has no effect.
    Before,
    /// The operation takes effect, then fails (the acknowledgement is lost).
    After,
    /// A write stores only the first half of its bytes, then fails (a torn, non-atomic write).
    /// Other operations fail with no effect.
    TornWrite,
    /// A write or remove returns `Ok` but has no effect: the old value (or nothing) stays.
    LostWrite,
    /// A read returns what the key held before its latest change through this store: the
    /// previous value, or `NotFound` if it had none. Unchanged if the key never changed.
    StaleRead,
    /// A read returns the stored bytes with byte number `operation number % length` flipped
    /// (`^ 0x01`), or one byte where the stored value is empty; `NotFound` stays `NotFound`.
    FlippedRead,
    /// A read returns the stored bytes without their last byte (`NotFound` stays `NotFound`).
    TruncatedRead,
}

impl FaultKind {
    /// Whether the faulted operation returns the injected error.
    pub fn is_loud(self) -> bool {
        matches!(
            self,
            FaultKind::Before | FaultKind::After | FaultKind::TornWrite
        )
    }
}

/// The loud fault kinds (the operation returns the injected error).
pub const FAULT_KINDS: [FaultKind; 3] = [FaultKind::Before, FaultKind::After, FaultKind::TornWrite];

/// Every fault kind, loud and silent.
pub const ALL_FAULT_KINDS: [FaultKind; 7] = [
    FaultKind::Before,
    FaultKind::After,
    FaultKind::TornWrite,
    FaultKind::LostWrite,
    FaultKind::StaleRead,
    FaultKind::FlippedRead,
    FaultKind::TruncatedRead,
];

/// The error an injected fault returns (kind `Other`), to recognise it after it has passed
/// through the wrapper.
#[derive(Debug)]
pub struct InjectedFault {
    /// Index of the failed operation.
    pub op: u64,
}

impl fmt::Display for InjectedFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "injected fault at inner operation {}", self.op)
    }
}

impl std::error::Error for InjectedFault {}

/// The injected fault carried by `e`, if it is one (and it came through unchanged).
pub fn injected(e: &io::Error) -> Option<u64> {
    if e.kind() != io::ErrorKind::Other {
        return None;
    }
    e.get_ref()
        .and_then(|e| e.downcast_ref::<InjectedFault>())
        .map(|f| f.op)
}

type Name = (String, String, String);

fn name(p: &str, s: &str, k: &str) -> Name {
    (p.to_owned(), s.to_owned(), k.to_owned())
}

struct FaultState {
    ops: AtomicU64,
    fail_at: AtomicU64,
    kind: Mutex<FaultKind>,
    /// Faults fired since the store was wrapped (never reset).
    fires: AtomicU64,
    /// Per key, what it held before its latest change through this store (`None`: nothing).
    previous: Mutex<BTreeMap<Name, Option<Vec<u8>>>>,
}

/// An inner store that counts every operation on it and fails (or silently garbles) the armed
/// one, once. Clones share the counter, the arming and the history of changes.
///
/// Through `KVStore`, an operation (its count, its fault and its effect) happens when its
/// future is first polled, not when the future is made: a future dropped unpolled does nothing.
pub struct FaultyStore<S> {
    inner: S,
    state: Arc<FaultState>,
}

impl<S: Clone> Clone for FaultyStore<S> {
    fn clone(&self) -> Self {
        FaultyStore {
            inner: self.inner.clone(),
            state: Arc::clone(&self.state),
        }
    }
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`; nothing armed.
    pub fn new(inner: S) -> Self {
        FaultyStore {
            inner,
            state: Arc::new(FaultState {
                ops: AtomicU64::new(0),
                fail_at: AtomicU64::new(u64::MAX),
                kind: Mutex::new(FaultKind::Before),
                fires: AtomicU64::new(0),
                previous: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Operations counted so far.
    pub fn ops(&self) -> u64 {
        self.state.ops.load(Ordering::SeqCst)
    }

    /// Fails operation number `at` (counted from when the store was wrapped) with `kind`.
    pub fn arm(&self, at: u64, kind: FaultKind) {
        *self.state.kind.lock().unwrap() = kind;
        self.state.fail_at.store(at, Ordering::SeqCst);
    }

    /// Fails the next operation with `kind`.
    pub fn arm_next(&self, kind: FaultKind) {
        self.arm(self.ops(), kind);
    }

    /// No more faults.
    pub fn disarm(&self) {
        self.state.fail_at.store(u64::MAX, Ordering::SeqCst);
    }

    /// How many faults have fired since the store was wrapped. Compare before and after an
    /// operation to know whether that very operation was faulted.
    pub fn fires(&self) -> u64 {
        self.state.fires.load(Ordering::SeqCst)
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// `Some(kind)` when this operation is the one to fail.
    fn tick(&self) -> Option<(u64, FaultKind)> {
        let n = self.state.ops.fetch_add(1, Ordering::SeqCst);
        if n == self.state.fail_at.load(Ordering::SeqCst) {
            self.state.fires.fetch_add(1, Ordering::SeqCst);
            Some((n, *self.state.kind.lock().unwrap()))
        } else {
            None
        }
    }
}

fn fault(op: u64) -> io::Error {
    io::Error::new(io::ErrorKind::Other, InjectedFault { op })
}

impl<S: KVStoreSync> FaultyStore<S> {
    /// Makes a change to `p/s/k` through `change`, remembering what the key held before.
    fn changing(
        &self,
        p: &str,
        s: &str,
        k: &str,
        change: impl FnOnce(&S) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut previous = self.state.previous.lock().unwrap();
        let before = match self.inner.read(p, s, k) {
            Ok(v) => Some(v),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        change(&self.inner)?;
        previous.insert(name(p, s, k), before);
        Ok(())
    }
}

impl<S: KVStoreSync> KVStoreSync for FaultyStore<S> {
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
        let Some((n, kind)) = self.tick() else {
            return self.inner.read(p, s, k);
        };
        match kind {
            FaultKind::After => {
                let _ = self.inner.read(p, s, k);
                Err(fault(n))
            }
            FaultKind::Before | FaultKind::TornWrite => Err(fault(n)),
            FaultKind::LostWrite => self.inner.read(p, s, k),
            FaultKind::StaleRead => {
                let previous = self.state.previous.lock().unwrap();
                match previous.get(&name(p, s, k)) {
                    Some(Some(old)) => Ok(old.clone()),
                    Some(None) => Err(io::Error::from(io::ErrorKind::NotFound)),
                    None => self.inner.read(p, s, k),
                }
            }
            FaultKind::FlippedRead => {
                let mut v = self.inner.read(p, s, k)?;
                let at = n as usize % v.len().max(1);
                match v.get_mut(at) {
                    Some(b) => *b ^= 0x01,
                    None => v.push(0x01),
                }
                Ok(v)
            }
            FaultKind::TruncatedRead => {
                let mut v = self.inner.read(p, s, k)?;
                v.pop();
                Ok(v)
            }
        }
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> io::Result<()> {
        let Some((n, kind)) = self.tick() else {
            return self.changing(p, s, k, |i| i.write(p, s, k, buf));
        };
        match kind {
            FaultKind::Before => Err(fault(n)),
            FaultKind::After => {
                self.changing(p, s, k, |i| i.write(p, s, k, buf))?;
                Err(fault(n))
            }
            FaultKind::TornWrite => {
                let half = buf.len() / 2;
                self.changing(p, s, k, |i| i.write(p, s, k, buf[..half].to_vec()))?;
                Err(fault(n))
            }
            FaultKind::LostWrite => Ok(()),
            FaultKind::StaleRead | FaultKind::FlippedRead | FaultKind::TruncatedRead => {
                self.changing(p, s, k, |i| i.write(p, s, k, buf))
            }
        }
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
        let Some((n, kind)) = self.tick() else {
            return self.changing(p, s, k, |i| i.remove(p, s, k, lazy));
        };
        match kind {
            FaultKind::After => {
                self.changing(p, s, k, |i| i.remove(p, s, k, lazy))?;
                Err(fault(n))
            }
            FaultKind::Before | FaultKind::TornWrite => Err(fault(n)),
            FaultKind::LostWrite => Ok(()),
            FaultKind::StaleRead | FaultKind::FlippedRead | FaultKind::TruncatedRead => {
                self.changing(p, s, k, |i| i.remove(p, s, k, lazy))
            }
        }
    }
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
        match self.tick() {
            Some((n, kind)) if kind.is_loud() => Err(fault(n)),
            _ => self.inner.list(p, s),
        }
    }
}

/// The async trait, over the same counted synchronous operations. Each runs when its future is
/// first polled (an `async` block does nothing before that), so a fault fires at the poll, in
/// the order futures are polled, and never for a future dropped unpolled.
impl<S: KVStoreSync + Clone + Send + Sync + 'static> KVStore for FaultyStore<S> {
    fn read(&self, p: &str, s: &str, k: &str) -> AsyncResult<'static, Vec<u8>, io::Error> {
        let (this, (p, s, k)) = (self.clone(), name(p, s, k));
        Box::pin(async move { KVStoreSync::read(&this, &p, &s, &k) })
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        let (this, (p, s, k)) = (self.clone(), name(p, s, k));
        Box::pin(async move { KVStoreSync::write(&this, &p, &s, &k, buf) })
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> AsyncResult<'static, (), io::Error> {
        let (this, (p, s, k)) = (self.clone(), name(p, s, k));
        Box::pin(async move { KVStoreSync::remove(&this, &p, &s, &k, lazy) })
    }
    fn list(&self, p: &str, s: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        let (this, p, s) = (self.clone(), p.to_owned(), s.to_owned());
        Box::pin(async move { KVStoreSync::list(&this, &p, &s) })
    }
}

impl<S: MigratableKVStore> MigratableKVStore for FaultyStore<S> {
    fn list_all_keys(&self) -> io::Result<Vec<(String, String, String)>> {
        match self.tick() {
            Some((n, kind)) if kind.is_loud() => Err(fault(n)),
            _ => self.inner.list_all_keys(),
        }
    }
}

/// A small deterministic generator (xorshift64*), so workloads are reproducible.
pub struct Xorshift(pub u64);

impl Xorshift {
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

mod splitmix;
#[allow(unused_imports)] // every test file uses a different subset
pub use splitmix::{seeded_options, SplitMix};
