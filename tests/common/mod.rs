//! Helpers shared by the proof suite: cheap KDF costs, typed-error checks, snapshots of an inner
//! store, header forging (the header checksum is unkeyed, so an attacker can recompute it), an
//! adapter that drives a store through either LDK trait, a fault-injecting inner store, and
//! opening a store anchored in a second `FilesystemStore` or replacing its stored header.
//!
//! Everything that names an LDK trait lives in `versioned/helpers.rs`, compiled once per enabled
//! LDK version as `common::v0_2` and `common::v0_3`; each of those modules also names that
//! version's crates (`ldk`, `persister`), its `FilesystemStore`, its sync migration trait (as
//! `MigratableKVStoreSync`) and its version marker (`V`), so one suite body serves both.

#![allow(
    dead_code, // every test file uses a different subset
    clippy::duplicate_mod, // versioned/helpers.rs, once per LDK version, on purpose
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bitcoin::io;
use blake2::digest::consts::U32;
use blake2::digest::Digest;
use blake2::Blake2b;
use encrypted_kvstore::{
    FreshnessAnchor, KdfParams, ListError, OpenOptions, ReadError, RemoveError, WriteError,
};

/// The repository's root, which holds `tests/`: the directory of the package compiling these
/// sources, or its parent for integration/ (whose build script sets `ekv_integration`).
pub fn repository() -> &'static std::path::Path {
    let package = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    if cfg!(ekv_integration) {
        package.parent().unwrap()
    } else {
        package
    }
}

/// The passphrase most tests use.
pub const PASSPHRASE: &[u8] = b"proof suite passphrase";

/// Length of the header of a new store without encrypted names (one data key), and where its
/// checksum starts (docs/FORMAT.md, "The header").
pub const HEADER_LEN: usize = 308;
/// Offset of the checksum in a header of [`HEADER_LEN`] bytes.
pub const CHECKSUM_AT: usize = HEADER_LEN - 32;

/// The four option sets of a new store: names and padding off and on.
pub fn every_layout() -> [(&'static str, OpenOptions); 4] {
    [
        ("plain", OpenOptions::new()),
        ("names", OpenOptions::new().encrypt_names()),
        ("padded", OpenOptions::new().pad_values()),
        (
            "names+padded",
            OpenOptions::new().encrypt_names().pad_values(),
        ),
    ]
}

/// Argon2id costs that make tests fast. Never for real data.
pub fn cheap() -> KdfParams {
    KdfParams::insecure_for_tests_only(64, 1, 1).unwrap()
}

/// The typed read error carried by an I/O error, if any.
pub fn read_error(e: &io::Error) -> Option<&ReadError> {
    e.get_ref().and_then(|e| e.downcast_ref::<ReadError>())
}

/// Asserts that `e` is a listing refused because the live key `key` is missing from it
/// (`InvalidData` carrying `ListError::Missing` naming `key`).
#[track_caller]
pub fn assert_list_missing(e: &io::Error, key: &str, at: &str) {
    assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{at}: {e:?}");
    assert!(
        matches!(
            e.get_ref().and_then(|e| e.downcast_ref::<ListError>()),
            Some(ListError::Missing { key: k, .. }) if k == key
        ),
        "{at}: expected ListError::Missing of {key}, got {e:?}"
    );
}

/// Asserts that `r` failed with a typed error `E` inside the I/O error, one that `expected`
/// accepts.
#[track_caller]
fn assert_typed_error<E: std::error::Error + 'static>(
    r: io::Result<()>,
    what: &str,
    expected: impl Fn(&E) -> bool,
) {
    let e = r.expect_err(what);
    assert!(
        e.get_ref()
            .and_then(|e| e.downcast_ref::<E>())
            .is_some_and(expected),
        "{what}: {e:?}"
    );
}

/// Asserts that `r` is a write refused by the freshness anchor (`WriteError::Anchor`).
#[track_caller]
pub fn assert_anchor_write_error(r: io::Result<()>, what: &str) {
    assert_typed_error(r, what, |e| matches!(e, WriteError::Anchor(_)));
}

/// Asserts that `r` is a remove refused by the freshness anchor (`RemoveError::Anchor`).
#[track_caller]
pub fn assert_anchor_remove_error(r: io::Result<()>, what: &str) {
    assert_typed_error(r, what, |e| matches!(e, RemoveError::Anchor(_)));
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

/// The header checksum: unkeyed BLAKE2b-256 over a label and every header byte before it.
pub fn header_checksum(prefix: &[u8]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    Digest::update(&mut h, b"encrypted-kvstore v2 header checksum");
    Digest::update(&mut h, prefix);
    h.finalize().into()
}

/// Recomputes the checksum (the last 32 bytes) of a (tampered) header, as an attacker can.
pub fn reseal_checksum(h: &mut [u8]) {
    let at = h.len() - 32;
    let sum = header_checksum(&h[..at]);
    h[at..].copy_from_slice(&sum);
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

/// The injected fault carried anywhere in `e`'s chain of causes (through the typed errors of
/// the wrapper, `WriteError::Anchor`, `OpenError::Io` and the like), if there is one.
pub fn injected_within(e: &(dyn std::error::Error + 'static)) -> Option<u64> {
    let mut at: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = at {
        if let Some(f) = e.downcast_ref::<InjectedFault>() {
            return Some(f.op);
        }
        at = match e.downcast_ref::<io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|i| i as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    None
}

/// The fault controls shared by `FaultyStore` and `FaultyAnchor` (both dereference to it): an
/// operation counter, the armed operation and its kind, the faults fired, and per name (`K`)
/// what it held before its latest change through the wrapper (`None`: nothing).
pub struct FaultState<K> {
    ops: AtomicU64,
    fail_at: AtomicU64,
    kind: Mutex<FaultKind>,
    /// Faults fired since the wrapper was made (never reset).
    fires: AtomicU64,
    previous: Mutex<BTreeMap<K, Option<Vec<u8>>>>,
}

#[allow(dead_code)]
impl<K: Ord> FaultState<K> {
    /// Nothing armed.
    pub fn new() -> Self {
        FaultState {
            ops: AtomicU64::new(0),
            fail_at: AtomicU64::new(u64::MAX),
            kind: Mutex::new(FaultKind::Before),
            fires: AtomicU64::new(0),
            previous: Mutex::new(BTreeMap::new()),
        }
    }

    /// Operations counted so far.
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::SeqCst)
    }

    /// Fails operation number `at` (counted from when the wrapper was made) with `kind`.
    pub fn arm(&self, at: u64, kind: FaultKind) {
        *self.kind.lock().unwrap() = kind;
        self.fail_at.store(at, Ordering::SeqCst);
    }

    /// Fails the next operation with `kind`.
    pub fn arm_next(&self, kind: FaultKind) {
        self.arm(self.ops(), kind);
    }

    /// No more faults.
    pub fn disarm(&self) {
        self.fail_at.store(u64::MAX, Ordering::SeqCst);
    }

    /// How many faults have fired since the wrapper was made. Compare before and after an
    /// operation to know whether that very operation was faulted.
    pub fn fires(&self) -> u64 {
        self.fires.load(Ordering::SeqCst)
    }

    /// Counts an operation: `Some((its number, kind))` when it is the one to fail.
    pub fn tick(&self) -> Option<(u64, FaultKind)> {
        let n = self.ops.fetch_add(1, Ordering::SeqCst);
        if n == self.fail_at.load(Ordering::SeqCst) {
            self.fires.fetch_add(1, Ordering::SeqCst);
            Some((n, *self.kind.lock().unwrap()))
        } else {
            None
        }
    }

    /// What each name held before its latest change (locked while a change is made).
    pub fn previous(&self) -> std::sync::MutexGuard<'_, BTreeMap<K, Option<Vec<u8>>>> {
        self.previous.lock().unwrap()
    }
}

/// A [`FreshnessAnchor`] that counts every operation on it and fails (or silently garbles) the
/// armed one, once, in the ways of [`FaultKind`] (as `FaultyStore` does for an inner store).
/// Clones share the counter, the arming and the history. A torn write breaks the anchor's
/// contract (writes are atomic), and so do the silent kinds: they model anchors that do not
/// keep it.
pub struct FaultyAnchor<A> {
    inner: Arc<A>,
    state: Arc<FaultState<(String, String)>>,
}

impl<A> std::ops::Deref for FaultyAnchor<A> {
    type Target = FaultState<(String, String)>;
    fn deref(&self) -> &Self::Target {
        &self.state
    }
}

impl<A> Clone for FaultyAnchor<A> {
    fn clone(&self) -> Self {
        FaultyAnchor {
            inner: Arc::clone(&self.inner),
            state: Arc::clone(&self.state),
        }
    }
}

impl<A: FreshnessAnchor> FaultyAnchor<A> {
    /// Wraps `inner`; nothing armed.
    pub fn new(inner: A) -> Self {
        FaultyAnchor {
            inner: Arc::new(inner),
            state: Arc::new(FaultState::new()),
        }
    }

    /// The wrapped anchor.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    fn changing(
        &self,
        store: &str,
        name: &str,
        change: impl FnOnce(&A) -> Result<(), io::Error>,
    ) -> Result<(), io::Error> {
        let mut previous = self.previous();
        let before = self.inner.read(store, name)?;
        change(&self.inner)?;
        previous.insert((store.to_owned(), name.to_owned()), before);
        Ok(())
    }
}

fn anchor_fault(op: u64) -> io::Error {
    io::Error::new(io::ErrorKind::Other, InjectedFault { op })
}

impl<A: FreshnessAnchor> FreshnessAnchor for FaultyAnchor<A> {
    fn read(&self, store: &str, name: &str) -> Result<Option<Vec<u8>>, io::Error> {
        let Some((n, kind)) = self.tick() else {
            return self.inner.read(store, name);
        };
        match kind {
            FaultKind::After => {
                let _ = self.inner.read(store, name);
                Err(anchor_fault(n))
            }
            FaultKind::Before | FaultKind::TornWrite => Err(anchor_fault(n)),
            FaultKind::LostWrite => self.inner.read(store, name),
            FaultKind::StaleRead => {
                let previous = self.previous();
                match previous.get(&(store.to_owned(), name.to_owned())) {
                    Some(old) => Ok(old.clone()),
                    None => self.inner.read(store, name),
                }
            }
            FaultKind::FlippedRead => Ok(self.inner.read(store, name)?.map(|mut v| {
                let at = n as usize % v.len().max(1);
                match v.get_mut(at) {
                    Some(b) => *b ^= 0x01,
                    None => v.push(0x01),
                }
                v
            })),
            FaultKind::TruncatedRead => Ok(self.inner.read(store, name)?.map(|mut v| {
                v.pop();
                v
            })),
        }
    }
    fn write(&self, store: &str, name: &str, value: &[u8]) -> Result<(), io::Error> {
        let Some((n, kind)) = self.tick() else {
            return self.changing(store, name, |a| a.write(store, name, value));
        };
        match kind {
            FaultKind::Before => Err(anchor_fault(n)),
            FaultKind::After => {
                self.changing(store, name, |a| a.write(store, name, value))?;
                Err(anchor_fault(n))
            }
            FaultKind::TornWrite => {
                let half = &value[..value.len() / 2];
                self.changing(store, name, |a| a.write(store, name, half))?;
                Err(anchor_fault(n))
            }
            FaultKind::LostWrite => Ok(()),
            FaultKind::StaleRead | FaultKind::FlippedRead | FaultKind::TruncatedRead => {
                self.changing(store, name, |a| a.write(store, name, value))
            }
        }
    }
    fn remove(&self, store: &str, name: &str) -> Result<(), io::Error> {
        let Some((n, kind)) = self.tick() else {
            return self.changing(store, name, |a| a.remove(store, name));
        };
        match kind {
            FaultKind::After => {
                self.changing(store, name, |a| a.remove(store, name))?;
                Err(anchor_fault(n))
            }
            FaultKind::Before | FaultKind::TornWrite => Err(anchor_fault(n)),
            FaultKind::LostWrite => Ok(()),
            FaultKind::StaleRead | FaultKind::FlippedRead | FaultKind::TruncatedRead => {
                self.changing(store, name, |a| a.remove(store, name))
            }
        }
    }
    fn list(&self, store: &str) -> Result<Vec<String>, io::Error> {
        match self.tick() {
            Some((n, kind)) if kind.is_loud() => Err(anchor_fault(n)),
            _ => self.inner.list(store),
        }
    }
}

mod splitmix;
#[allow(unused_imports)] // every test file uses a different subset
pub use splitmix::{seeded_options, SplitMix};

/// LDK 0.2: its crates and names, and the helpers over its traits.
#[cfg(feature = "lightning-0-2")]
#[path = "versioned"]
#[allow(unused_imports)] // every test file uses a different subset
pub mod v0_2 {
    pub use ::lightning as ldk;
    pub use ::lightning::util::persist::MigratableKVStore as MigratableKVStoreSync;
    pub use ::lightning_persister as persister;
    pub use ::lightning_persister::fs_store::FilesystemStore;
    pub use encrypted_kvstore::ldk::V0_2 as V;
    mod helpers;
    pub use helpers::*;
}

/// LDK 0.3: its crates and names, and the helpers over its traits. Only in integration/, whose
/// build script sets `ekv_integration` and which has LDK 0.3's test utilities.
#[cfg(all(feature = "lightning-0-3", ekv_integration))]
#[path = "versioned"]
#[allow(unused_imports)] // every test file uses a different subset
pub mod v0_3 {
    pub use ::lightning_0_3 as ldk;
    pub use ::lightning_0_3::util::persist::MigratableKVStoreSync;
    pub use ::lightning_persister_0_3 as persister;
    pub use ::lightning_persister_0_3::fs_store::v1::FilesystemStore;
    pub use encrypted_kvstore::ldk::V0_3 as V;
    mod helpers;
    pub use helpers::*;
}
