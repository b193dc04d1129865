//! What the freshness suite shares: the two layouts it runs in, stores over LDK's
//! `FilesystemStore` anchored in a second one, typed-error checks, and two test doubles that
//! act as the world around the wrapper does:
//!
//! - [`Rig`], an inner store over `FilesystemStore` (both LDK traits and the migration trait)
//!   that can be told to refuse lists or reads, to "die" at its n-th call (every call after
//!   fails too, as in a killed process), to apply a lazy remove only some calls later, to park
//!   one read or write of one key until released, and to slow its reads down;
//! - [`RigAnchor`], a freshness anchor that can be told to refuse writes, sharing the death
//!   counter with the inner store, so "the process dies at step n" counts both.

#![allow(
    dead_code, // every module uses a different subset
    refining_impl_trait, // LDK 0.3's `impl Future` returns, given as boxed futures
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

pub use super::v::{
    anchor, open_anchored, open_anchored_read_only, open_anchored_refused, put_stored_header,
    stored_header, Anchor,
};
use super::v::{ldk, snapshot, Fut, MigratableKVStoreSync, TempFs, V};
use crate::common::{cheap, PASSPHRASE};
use encrypted_kvstore::{
    Credential, EncryptedStore, FreshnessAnchor, ListError, OpenOptions, ReadError,
    ANCHOR_PRIMARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::{KVStore, KVStoreSync};

/// Primary, secondary namespace and key.
pub type Name = (String, String, String);

/// A name triple from string slices.
pub fn name(p: &str, s: &str, k: &str) -> Name {
    (p.to_owned(), s.to_owned(), k.to_owned())
}

/// Names and padding off, or both on (chosen at `create`, recorded in the header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Plain names, unpadded values.
    Plain,
    /// Encrypted names and padded values.
    NamesPadded,
}

impl Layout {
    /// Both layouts.
    pub const BOTH: [Layout; 2] = [Layout::Plain, Layout::NamesPadded];

    /// The options that create a store of this layout.
    pub fn options(self) -> OpenOptions {
        match self {
            Layout::Plain => OpenOptions::new(),
            Layout::NamesPadded => OpenOptions::new().encrypt_names().pad_values(),
        }
    }
}

/// A new anchored store of `layout` over `inner`, its anchor in `a`.
pub fn create_anchored<S: KVStoreSync>(layout: Layout, inner: S, a: &TempFs) -> EncryptedStore<S> {
    layout
        .options()
        .anchor(anchor(a))
        .create::<V, _>(inner, Credential::passphrase_with(PASSPHRASE, cheap()))
        .unwrap()
}

/// A new store of `layout` over `inner`, without an anchor.
pub fn create_plain<S: KVStoreSync>(layout: Layout, inner: S) -> EncryptedStore<S> {
    layout
        .options()
        .create::<V, _>(inner, Credential::passphrase_with(PASSPHRASE, cheap()))
        .unwrap()
}

/// The options of a store anchored in `a` when `anchored`, of one without an anchor when not.
pub fn anchored_if(anchored: bool, a: &TempFs) -> OpenOptions {
    if anchored {
        OpenOptions::new().anchor(anchor(a))
    } else {
        OpenOptions::new()
    }
}

/// A new store over `inner` (plain layout), anchored in `a` when `anchored`.
pub fn create_anchored_if<S: KVStoreSync>(
    anchored: bool,
    inner: S,
    a: &TempFs,
) -> EncryptedStore<S> {
    anchored_if(anchored, a)
        .create::<V, _>(inner, Credential::passphrase_with(PASSPHRASE, cheap()))
        .unwrap()
}

/// Opens the store in `inner` writable, with its anchor in `a` when `anchored`.
pub fn open_anchored_if<S: KVStoreSync>(anchored: bool, inner: S, a: &TempFs) -> EncryptedStore<S> {
    anchored_if(anchored, a)
        .open::<V, _>(inner, Credential::passphrase(PASSPHRASE))
        .unwrap_or_else(|e| panic!("anchored {anchored}: {e:?}"))
}

/// Opens the store in `inner` read-only, with its anchor in `a` when `anchored`.
pub fn open_read_only_anchored_if<S: KVStoreSync>(
    anchored: bool,
    inner: S,
    a: &TempFs,
) -> EncryptedStore<S> {
    anchored_if(anchored, a)
        .read_only()
        .open::<V, _>(inner, Credential::passphrase(PASSPHRASE))
        .unwrap_or_else(|e| panic!("anchored {anchored}, read-only: {e:?}"))
}

/// The typed read error inside `e`, or a panic naming what came instead.
#[track_caller]
pub fn read_error(e: &io::Error) -> &ReadError {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<ReadError>())
        .unwrap_or_else(|| panic!("not a typed read error: {e:?}"))
}

/// Asserts that reading `p/s/k` is refused as a rollback (`InvalidData`); returns the versions
/// the error reports (found, expected at least).
#[track_caller]
pub fn assert_rollback(r: io::Result<Vec<u8>>, p: &str, s: &str, k: &str) -> (u64, u64) {
    let e = match r {
        Ok(v) => panic!(
            "{p}/{s}/{k}: a rolled-back record was served ({} bytes)",
            v.len()
        ),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{p}/{s}/{k}: {e:?}");
    match read_error(&e) {
        ReadError::Rollback {
            primary_namespace,
            secondary_namespace,
            key,
            found,
            expected_at_least,
        } => {
            assert_eq!(
                (
                    primary_namespace.as_str(),
                    secondary_namespace.as_str(),
                    key.as_str()
                ),
                (p, s, k)
            );
            (*found, *expected_at_least)
        }
        other => panic!("{p}/{s}/{k}: expected Rollback, got {other:?}"),
    }
}

/// Asserts that reading `p/s/k` is refused as a deletion (`InvalidData`, `Missing`).
#[track_caller]
pub fn assert_missing(r: io::Result<Vec<u8>>, p: &str, s: &str, k: &str) {
    let e = match r {
        Ok(v) => panic!("{p}/{s}/{k}: expected Missing, read {} bytes", v.len()),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{p}/{s}/{k}: {e:?}");
    assert!(
        matches!(read_error(&e), ReadError::Missing { primary_namespace, secondary_namespace, key, .. }
            if (primary_namespace.as_str(), secondary_namespace.as_str(), key.as_str()) == (p, s, k)),
        "{p}/{s}/{k}: expected Missing, got {e:?}"
    );
}

/// Asserts that reading `p/s/k` finds the key absent (`NotFound`). When `record_back` is set a
/// record of the key is in the inner store, so the error must be the typed
/// `ReadError::Removed` naming the key; returns the version it reports, if any.
#[track_caller]
pub fn assert_absent(
    r: io::Result<Vec<u8>>,
    p: &str,
    s: &str,
    k: &str,
    record_back: bool,
) -> Option<u64> {
    let e = match r {
        Ok(v) => panic!(
            "{p}/{s}/{k}: a removed value was served ({} bytes)",
            v.len()
        ),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::NotFound, "{p}/{s}/{k}: {e:?}");
    let typed = e.get_ref().and_then(|e| e.downcast_ref::<ReadError>());
    match typed {
        Some(ReadError::Removed {
            primary_namespace,
            secondary_namespace,
            key,
            found,
        }) => {
            assert_eq!(
                (
                    primary_namespace.as_str(),
                    secondary_namespace.as_str(),
                    key.as_str()
                ),
                (p, s, k)
            );
            Some(*found)
        }
        Some(other) => panic!("{p}/{s}/{k}: NotFound carrying {other:?}"),
        None => {
            assert!(
                !record_back,
                "{p}/{s}/{k}: a record is back, expected ReadError::Removed, got {e:?}"
            );
            None
        }
    }
}

/// Whether `e` is an alarm: a refusal of what the store holds (rollback, deletion, a record
/// that does not authenticate, a listing that misses a key), as opposed to a key that is
/// simply absent or a failing store.
pub fn is_alarm(e: &io::Error) -> bool {
    let inner = e.get_ref();
    matches!(
        inner.and_then(|e| e.downcast_ref::<ReadError>()),
        Some(
            ReadError::Rollback { .. }
                | ReadError::Missing { .. }
                | ReadError::AuthenticationFailed { .. }
        )
    ) || matches!(
        inner.and_then(|e| e.downcast_ref::<ListError>()),
        Some(ListError::Missing { .. } | ListError::UndecodableName { .. })
    ) || e.kind() == ErrorKind::InvalidData
}

/// The version in a record's prefix (docs/FORMAT.md, "Record").
pub fn version_of(record: &[u8]) -> u64 {
    assert_eq!(record[0], 2, "a format 2 record");
    u64::from_le_bytes(record[5..13].try_into().unwrap())
}

/// The key id in a record's prefix.
pub fn key_id_of(record: &[u8]) -> u32 {
    assert_eq!(record[0], 2, "a format 2 record");
    u32::from_le_bytes(record[1..5].try_into().unwrap())
}

/// Every record of an inner store (the header left out), as stored.
pub fn records<S: MigratableKVStoreSync + KVStoreSync>(inner: &S) -> BTreeMap<Name, Vec<u8>> {
    snapshot(inner)
        .into_iter()
        .filter(|((p, _, _), _)| p != RESERVED_PRIMARY_NAMESPACE)
        .collect()
}

/// Writes `value` to `p/s/k` through `store` and returns where its inner store keeps the record
/// and the record's bytes: the one stored value that changed (with encrypted names the stored
/// name is not the plaintext one).
pub fn write_located<S: KVStoreSync + MigratableKVStoreSync>(
    store: &EncryptedStore<S>,
    p: &str,
    s: &str,
    k: &str,
    value: &[u8],
) -> (Name, Vec<u8>) {
    let before = records(store.inner());
    KVStoreSync::write(store, p, s, k, value.to_vec()).unwrap();
    changed_record(&before, &records(store.inner()))
}

/// The one stored record that is new or changed from `before` to `after`.
#[track_caller]
pub fn changed_record(
    before: &BTreeMap<Name, Vec<u8>>,
    after: &BTreeMap<Name, Vec<u8>>,
) -> (Name, Vec<u8>) {
    let changed: Vec<_> = after
        .iter()
        .filter(|(n, v)| before.get(*n) != Some(*v))
        .collect();
    assert_eq!(changed.len(), 1, "one write changes one stored value");
    let (n, v) = changed[0];
    (n.clone(), v.clone())
}

/// Puts `record` back at `stored` in the inner store, behind the wrapper's back.
pub fn put_back<S: KVStoreSync>(inner: &S, stored: &Name, record: &[u8]) {
    KVStoreSync::write(inner, &stored.0, &stored.1, &stored.2, record.to_vec()).unwrap();
}

/// Every file under `dir`, by path relative to it, with its bytes.
pub fn dir_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, at: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(at).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The store id as the anchor names its group (32 lowercase hex characters).
pub fn store_hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// The names the anchor in `a` holds for the store `id`.
pub fn anchor_names(a: &TempFs, id: &[u8; 16]) -> Vec<String> {
    let mut names = KVStoreSync::list(a, ANCHOR_PRIMARY_NAMESPACE, &store_hex(id)).unwrap();
    names.sort();
    names
}

/// A "process" that dies at its n-th step: calls are counted from [`Crash::arm`]; call number
/// n (from 0) and every later call fail. Shared by an inner [`Rig`] and a [`RigAnchor`], so a
/// step is any call to either.
pub struct Crash {
    calls: AtomicU64,
    at: AtomicU64,
    fired: AtomicBool,
}

impl Crash {
    /// Alive until armed.
    pub fn new() -> Arc<Crash> {
        Arc::new(Crash {
            calls: AtomicU64::new(0),
            at: AtomicU64::new(u64::MAX),
            fired: AtomicBool::new(false),
        })
    }

    /// From now on, call number `n` (the first is 0) and every later one fail.
    pub fn arm(&self, n: u64) {
        self.fired.store(false, Ordering::SeqCst);
        self.calls.store(0, Ordering::SeqCst);
        self.at.store(n, Ordering::SeqCst);
    }

    /// Alive again (a restarted process with working storage).
    pub fn disarm(&self) {
        self.at.store(u64::MAX, Ordering::SeqCst);
    }

    /// Whether a call failed since [`arm`](Self::arm).
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// Calls counted since [`arm`](Self::arm).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    fn step(&self) -> io::Result<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n >= self.at.load(Ordering::SeqCst) {
            self.fired.store(true, Ordering::SeqCst);
            Err(io::Error::new(ErrorKind::Other, "the process was killed"))
        } else {
            Ok(())
        }
    }
}

/// The kinds of inner call [`Rig`] tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `read`.
    Read,
    /// `write`.
    Write,
    /// `remove`.
    Remove,
    /// `list` or `list_all_keys`.
    List,
    /// A `read` whose file-system call has returned, before its answer goes back.
    ReadDone,
    /// A `list` whose file-system call has returned, before its answer goes back.
    ListDone,
}

/// Parks one call (of one kind, on one stored name) until released.
pub struct Gate {
    state: Mutex<GateState>,
    cv: Condvar,
}

#[derive(Default)]
struct GateState {
    target: Option<(Op, Name)>,
    parked: bool,
    released: bool,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            state: Mutex::new(GateState::default()),
            cv: Condvar::new(),
        }
    }

    /// The next call `op` on `stored` will park until [`release`](Self::release).
    pub fn close_on(&self, op: Op, stored: Name) {
        let mut g = self.state.lock().unwrap();
        *g = GateState {
            target: Some((op, stored)),
            parked: false,
            released: false,
        };
    }

    /// Waits (at most 20 s) until the call is parked.
    pub fn wait_parked(&self) {
        let g = self.state.lock().unwrap();
        let (g, t) = self
            .cv
            .wait_timeout_while(g, Duration::from_secs(20), |g| !g.parked)
            .unwrap();
        assert!(!t.timed_out() && g.parked, "the gated call never came");
    }

    /// Whether the call is parked now.
    pub fn is_parked(&self) -> bool {
        let g = self.state.lock().unwrap();
        g.parked && !g.released
    }

    /// Lets the parked call (and any later one) through.
    pub fn release(&self) {
        let mut g = self.state.lock().unwrap();
        g.released = true;
        self.cv.notify_all();
    }

    fn pass(&self, op: Op, stored: &Name) {
        let mut g = self.state.lock().unwrap();
        let hit = !g.parked
            && g.target
                .as_ref()
                .is_some_and(|(o, n)| *o == op && n == stored);
        if !hit {
            return;
        }
        g.parked = true;
        self.cv.notify_all();
        while !g.released {
            g = self.cv.wait(g).unwrap();
        }
        g.target = None;
    }
}

/// The controls of a [`Rig`], shared by its clones.
pub struct RigState {
    /// The death counter (see [`Crash`]).
    pub crash: Arc<Crash>,
    /// `list` and `list_all_keys` fail.
    pub fail_lists: AtomicBool,
    /// Reads outside the header's namespace fail.
    pub fail_reads: AtomicBool,
    /// Lazy removes are applied only three calls later (or before the next write or remove of
    /// their key, which LDK's ordering requires).
    pub late_lazy: AtomicBool,
    queued: Mutex<Vec<(Name, u32)>>,
    /// Parks one call.
    pub gate: Gate,
    /// Microseconds each read outside the header's namespace sleeps first.
    pub read_delay_us: AtomicU64,
}

/// An inner store over LDK's `FilesystemStore` with the controls of [`RigState`]. Clones share
/// the store and the controls.
#[derive(Clone)]
pub struct Rig {
    /// The `FilesystemStore` underneath.
    pub fs: TempFs,
    /// The controls.
    pub state: Arc<RigState>,
}

impl std::ops::Deref for Rig {
    type Target = RigState;
    fn deref(&self) -> &RigState {
        &self.state
    }
}

fn refused(what: &str) -> io::Error {
    io::Error::new(
        ErrorKind::Other,
        format!("the inner store refuses to {what}"),
    )
}

impl Rig {
    /// A rig over `fs` with its own death counter.
    pub fn new(fs: TempFs) -> Rig {
        Rig::with_crash(fs, Crash::new())
    }

    /// A rig over `fs` that dies with `crash`.
    pub fn with_crash(fs: TempFs, crash: Arc<Crash>) -> Rig {
        Rig {
            fs,
            state: Arc::new(RigState {
                crash,
                fail_lists: AtomicBool::new(false),
                fail_reads: AtomicBool::new(false),
                late_lazy: AtomicBool::new(false),
                queued: Mutex::new(Vec::new()),
                gate: Gate::new(),
                read_delay_us: AtomicU64::new(0),
            }),
        }
    }

    /// Lazy removes not applied yet.
    pub fn queued_lazy_removes(&self) -> usize {
        self.queued.lock().unwrap().len()
    }

    /// Applies every queued lazy remove now.
    pub fn settle_all(&self) {
        let q = std::mem::take(&mut *self.queued.lock().unwrap());
        for ((p, s, k), _) in q {
            KVStoreSync::remove(&self.fs, &p, &s, &k, true).unwrap();
        }
    }

    /// Everything that happens before a call reaches the file system.
    fn before(&self, op: Op, n: &Name) -> io::Result<()> {
        self.crash.step()?;
        if op == Op::List && self.fail_lists.load(Ordering::SeqCst) {
            return Err(refused("list"));
        }
        let user_data = n.0 != RESERVED_PRIMARY_NAMESPACE;
        if op == Op::Read && user_data && self.fail_reads.load(Ordering::SeqCst) {
            return Err(refused("read"));
        }
        self.settle(op, n);
        self.gate.pass(op, n);
        let delay = self.read_delay_us.load(Ordering::SeqCst);
        if op == Op::Read && user_data && delay > 0 {
            std::thread::sleep(Duration::from_micros(delay));
        }
        Ok(())
    }

    /// Applies the queued lazy removes that are due: those of the key about to be written or
    /// removed, and those whose three calls have passed.
    fn settle(&self, op: Op, n: &Name) {
        let mut q = self.queued.lock().unwrap();
        let mut due = Vec::new();
        q.retain_mut(|(queued, left)| {
            let now = (matches!(op, Op::Write | Op::Remove) && queued == n) || *left <= 1;
            if now {
                due.push(queued.clone());
            } else {
                *left -= 1;
            }
            !now
        });
        for (p, s, k) in due {
            KVStoreSync::remove(&self.fs, &p, &s, &k, true).unwrap();
        }
    }

    /// A lazy remove to queue instead of applying.
    fn queue_lazy(&self, n: Name) {
        self.queued.lock().unwrap().push((n, 3));
    }
}

impl KVStoreSync for Rig {
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
        self.before(Op::Read, &name(p, s, k))?;
        let r = KVStoreSync::read(&self.fs, p, s, k);
        self.gate.pass(Op::ReadDone, &name(p, s, k));
        r
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> io::Result<()> {
        self.before(Op::Write, &name(p, s, k))?;
        KVStoreSync::write(&self.fs, p, s, k, buf)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
        self.before(Op::Remove, &name(p, s, k))?;
        if lazy && self.late_lazy.load(Ordering::SeqCst) {
            self.queue_lazy(name(p, s, k));
            return Ok(());
        }
        KVStoreSync::remove(&self.fs, p, s, k, lazy)
    }
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
        self.before(Op::List, &name(p, s, ""))?;
        let r = KVStoreSync::list(&self.fs, p, s);
        self.gate.pass(Op::ListDone, &name(p, s, ""));
        r
    }
}

impl MigratableKVStoreSync for Rig {
    fn list_all_keys(&self) -> io::Result<Vec<(String, String, String)>> {
        self.before(Op::List, &name("", "", ""))?;
        MigratableKVStoreSync::list_all_keys(&self.fs)
    }
}

/// The async trait over `FilesystemStore`'s own async implementation (its blocking pool, in
/// call order per key: the file system's version of each call is taken when it is made). The
/// controls act when the future is first polled; a call that "dies" there never reaches the
/// file system.
impl KVStore for Rig {
    fn read(&self, p: &str, s: &str, k: &str) -> Fut<Vec<u8>> {
        let (this, n) = (self.clone(), name(p, s, k));
        let fut = KVStore::read(&self.fs, p, s, k);
        Box::pin(async move {
            this.before(Op::Read, &n)?;
            let r = fut.await;
            this.gate.pass(Op::ReadDone, &n);
            r
        })
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Fut<()> {
        let (this, n) = (self.clone(), name(p, s, k));
        let fut = KVStore::write(&self.fs, p, s, k, buf);
        Box::pin(async move {
            this.before(Op::Write, &n)?;
            fut.await
        })
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Fut<()> {
        let (this, n) = (self.clone(), name(p, s, k));
        if lazy && self.late_lazy.load(Ordering::SeqCst) {
            return Box::pin(async move {
                this.before(Op::Remove, &n)?;
                this.queue_lazy(n);
                Ok(())
            });
        }
        let fut = KVStore::remove(&self.fs, p, s, k, lazy);
        Box::pin(async move {
            this.before(Op::Remove, &n)?;
            fut.await
        })
    }
    fn list(&self, p: &str, s: &str) -> Fut<Vec<String>> {
        let (this, n) = (self.clone(), name(p, s, ""));
        let fut = KVStore::list(&self.fs, p, s);
        Box::pin(async move {
            this.before(Op::List, &n)?;
            let r = fut.await;
            this.gate.pass(Op::ListDone, &n);
            r
        })
    }
}

/// A freshness anchor over [`Anchor`] that can be told to refuse writes, and dies with a
/// [`Crash`] (shared with the inner store).
#[derive(Clone)]
pub struct RigAnchor {
    inner: Arc<Anchor>,
    /// Writes fail.
    pub fail_writes: Arc<AtomicBool>,
    /// The death counter.
    pub crash: Arc<Crash>,
}

impl RigAnchor {
    /// An anchor in `dir`, dying with `crash`.
    pub fn new(dir: &TempFs, crash: Arc<Crash>) -> RigAnchor {
        RigAnchor {
            inner: Arc::new(anchor(dir)),
            fail_writes: Arc::new(AtomicBool::new(false)),
            crash,
        }
    }
}

impl FreshnessAnchor for RigAnchor {
    fn read(&self, store: &str, name: &str) -> Result<Option<Vec<u8>>, io::Error> {
        self.crash.step()?;
        self.inner.read(store, name)
    }
    fn write(&self, store: &str, name: &str, value: &[u8]) -> Result<(), io::Error> {
        self.crash.step()?;
        if self.fail_writes.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                ErrorKind::Other,
                "the anchor refuses writes",
            ));
        }
        self.inner.write(store, name, value)
    }
    fn remove(&self, store: &str, name: &str) -> Result<(), io::Error> {
        self.crash.step()?;
        self.inner.remove(store, name)
    }
    fn list(&self, store: &str) -> Result<Vec<String>, io::Error> {
        self.crash.step()?;
        self.inner.list(store)
    }
}

/// Replaces everything under `dir` by `files` (as [`dir_files`] read them): a directory
/// restored from a copy.
pub fn restore_dir(dir: &Path, files: &BTreeMap<PathBuf, Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    for (rel, bytes) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
}

/// Puts `record` back at `stored` by writing the file of LDK's `FilesystemStore` under `dir`
/// directly, as an attacker with the disk does (not through the node's store instance, whose
/// per-key write ordering would otherwise order the attacker's write among the node's).
pub fn put_back_file(dir: &Path, stored: &Name, record: &[u8]) {
    let path = dir.join(&stored.0).join(&stored.1).join(&stored.2);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, record).unwrap();
}
