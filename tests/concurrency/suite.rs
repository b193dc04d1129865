//! Many threads writing, reading, listing and removing through one shared
//! `EncryptedStore<FilesystemStore>`, on keys of their own and on shared keys, while another
//! thread changes the passphrase and another reads through a second handle on the same
//! directory (as a second, read-only process would: two `FilesystemStore`s must not both write
//! one directory, their temporary file names collide). Checked against a model: nothing
//! acknowledged is lost, no read ever returns a value that was not written to that very key,
//! and no error other than `NotFound` (where a concurrent remove allows it) ever appears.
//!
//! The passphrase changes fall between phases of the workers' operations (a header write holds
//! the version counter, so value operations wait for it), while the reader on the second handle
//! runs free; concurrent passphrase changes through one handle are released together by a
//! barrier. Afterwards every passphrase but the last is refused with
//! `OpenError::WrongPassphrase`.
//!
//! What can overlap in a session is value operations of one key: no header is written while
//! writes are in flight (one reservation per open). Over an asynchronous inner store that holds
//! each call back after it lands, writes and removes of one key overlap a read of it in random
//! and in scripted schedules: the read is never an alarm, the settled key is what the last call
//! made it, and a rollback is still refused.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::ops::Range;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Barrier, Mutex};
use std::task::{Context, Poll, Waker};

use super::v::{fs, ldk, V};
use crate::common::{cheap, Xorshift, PASSPHRASE};
use encrypted_kvstore::{
    Credential, EncryptedStore, MemoryStore, OpenError, OpenOptions, StoreAnchor,
};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::KVStoreSync;

const THREADS: usize = 6;
const OPS_PER_THREAD: usize = 256;
const OWN_KEYS: usize = 5;
const SHARED_KEYS: usize = 4;
const PASSPHRASE_CHANGES: usize = 8;

type Key = (String, String, String);

/// Every value any thread has started to write, per key (recorded before the write is made).
#[derive(Default)]
struct Attempted(Mutex<HashMap<Key, HashSet<Vec<u8>>>>);

impl Attempted {
    fn record(&self, key: &Key, v: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .insert(v.to_vec());
    }

    /// A value read for `key` must be one written to exactly that key.
    #[track_caller]
    fn check(&self, key: &Key, v: &[u8]) {
        let prefix = format!("{}|{}|{}|", key.0, key.1, key.2);
        assert!(
            v.starts_with(prefix.as_bytes()),
            "{key:?} read a value of another key: {:?}",
            String::from_utf8_lossy(&v[..v.len().min(80)])
        );
        let known = self
            .0
            .lock()
            .unwrap()
            .get(key)
            .is_some_and(|set| set.contains(v));
        assert!(known, "{key:?} read a value never written to it");
    }
}

fn value(key: &Key, tid: usize, seq: usize) -> Vec<u8> {
    let mut v = format!("{}|{}|{}|t{tid}|n{seq}|", key.0, key.1, key.2).into_bytes();
    v.extend((0..(seq * 37) % 700).map(|i| (i ^ tid) as u8));
    v
}

fn key(p: &str, s: &str, k: String) -> Key {
    (p.to_owned(), s.to_owned(), k)
}

fn stable(i: usize) -> Key {
    key("shared", "stable", format!("s{i}"))
}

fn volatile(i: usize) -> Key {
    key("shared", "volatile", format!("v{i}"))
}

#[track_caller]
fn unexpected(ctx: &str, e: io::Error) -> ! {
    panic!("{ctx}: unexpected error {e:?}")
}

/// One worker: a seeded random mix of operations, and its own keys' model.
struct Worker {
    tid: usize,
    rng: Xorshift,
    own: BTreeMap<Key, Vec<u8>>,
}

impl Worker {
    fn new(tid: usize) -> Worker {
        Worker {
            tid,
            rng: Xorshift(0x9E37_79B9_7F4A_7C15 ^ (tid as u64 + 1)),
            own: BTreeMap::new(),
        }
    }

    /// Operations number `seqs` of this worker.
    fn run<S: KVStoreSync>(&mut self, store: &S, seqs: Range<usize>, attempted: &Attempted) {
        let Worker { tid, rng, own } = self;
        let tid = *tid;
        let own_ns = format!("t{tid}");
        for seq in seqs {
            let roll = rng.below(100);
            let i = rng.below(OWN_KEYS as u64) as usize;
            let own_key = key("own", &own_ns, format!("k{i}"));
            let j = rng.below(SHARED_KEYS as u64) as usize;
            let ctx = format!("thread {tid} op {seq}");
            match roll {
                // Own keys: an exact model.
                0..=19 => {
                    let v = value(&own_key, tid, seq);
                    attempted.record(&own_key, &v);
                    store
                        .write(&own_key.0, &own_key.1, &own_key.2, v.clone())
                        .unwrap_or_else(|e| unexpected(&ctx, e));
                    own.insert(own_key, v);
                }
                20..=34 => match store.read(&own_key.0, &own_key.1, &own_key.2) {
                    Ok(v) => assert_eq!(Some(&v), own.get(&own_key), "{ctx}"),
                    Err(e) if e.kind() == ErrorKind::NotFound => {
                        assert!(!own.contains_key(&own_key), "{ctx}: lost {own_key:?}")
                    }
                    Err(e) => unexpected(&ctx, e),
                },
                35..=41 => {
                    store
                        .remove(&own_key.0, &own_key.1, &own_key.2, rng.below(2) == 0)
                        .unwrap_or_else(|e| unexpected(&ctx, e));
                    own.remove(&own_key);
                }
                42..=46 => {
                    let mut l = store
                        .list("own", &own_ns)
                        .unwrap_or_else(|e| unexpected(&ctx, e));
                    l.sort();
                    let want: Vec<String> = own.keys().map(|k| k.2.clone()).collect();
                    assert_eq!(l, want, "{ctx}");
                }
                // Shared keys that are never removed.
                47..=59 => {
                    let k = stable(j);
                    let v = value(&k, tid, seq);
                    attempted.record(&k, &v);
                    store
                        .write(&k.0, &k.1, &k.2, v)
                        .unwrap_or_else(|e| unexpected(&ctx, e));
                }
                60..=72 => {
                    let k = stable(j);
                    let v = store
                        .read(&k.0, &k.1, &k.2)
                        .unwrap_or_else(|e| unexpected(&ctx, e));
                    attempted.check(&k, &v);
                }
                73..=76 => {
                    let mut l = store
                        .list("shared", "stable")
                        .unwrap_or_else(|e| unexpected(&ctx, e));
                    l.sort();
                    let want: Vec<String> = (0..SHARED_KEYS).map(|i| stable(i).2).collect();
                    assert_eq!(l, want, "{ctx}");
                }
                // Shared keys that are also removed.
                77..=85 => {
                    let k = volatile(j);
                    let v = value(&k, tid, seq);
                    attempted.record(&k, &v);
                    store
                        .write(&k.0, &k.1, &k.2, v)
                        .unwrap_or_else(|e| unexpected(&ctx, e));
                }
                86..=93 => {
                    let k = volatile(j);
                    match store.read(&k.0, &k.1, &k.2) {
                        Ok(v) => attempted.check(&k, &v),
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => unexpected(&ctx, e),
                    }
                }
                94..=96 => {
                    let k = volatile(j);
                    store
                        .remove(&k.0, &k.1, &k.2, rng.below(2) == 0)
                        .unwrap_or_else(|e| unexpected(&ctx, e));
                }
                _ => {
                    let l = store
                        .list("shared", "volatile")
                        .unwrap_or_else(|e| unexpected(&ctx, e));
                    let names: BTreeSet<String> = (0..SHARED_KEYS).map(|i| volatile(i).2).collect();
                    assert!(l.iter().all(|k| names.contains(k)), "{ctx}: {l:?}");
                }
            }
        }
    }
}

/// Reads and lists the shared keys through another handle.
fn reader<S: KVStoreSync>(store: &S, attempted: &Attempted) {
    for round in 0..OPS_PER_THREAD {
        let i = round % SHARED_KEYS;
        let ctx = format!("reader round {round}");
        let k = stable(i);
        let v = store
            .read(&k.0, &k.1, &k.2)
            .unwrap_or_else(|e| unexpected(&ctx, e));
        attempted.check(&k, &v);
        let k = volatile(i);
        match store.read(&k.0, &k.1, &k.2) {
            Ok(v) => attempted.check(&k, &v),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => unexpected(&ctx, e),
        }
        let l = store
            .list("shared", "stable")
            .unwrap_or_else(|e| unexpected(&ctx, e));
        assert_eq!(l.len(), SHARED_KEYS, "{ctx}");
    }
}

/// Runs `f`, keeping a panic for later so that this thread still reaches every barrier
/// (a panicking thread that left the others waiting would hang the test instead of failing it).
fn guarded(failure: &Mutex<Option<Box<dyn Any + Send>>>, f: impl FnOnce()) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(f)) {
        failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(p);
    }
}

/// Re-raises the first panic kept by [`guarded`].
fn raise(failure: Mutex<Option<Box<dyn Any + Send>>>) {
    if let Some(p) = failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        resume_unwind(p);
    }
}

/// `pw` is refused with exactly `WrongPassphrase`.
#[track_caller]
fn refused<S: KVStoreSync>(
    open: impl Fn(&[u8]) -> Result<EncryptedStore<S>, OpenError>,
    pw: &[u8],
) {
    match open(pw) {
        Err(OpenError::WrongPassphrase) => {}
        other => panic!(
            "{:?}: expected WrongPassphrase, got {:?}",
            String::from_utf8_lossy(pw),
            other.map(|_| ())
        ),
    }
}

/// Threads share one writable store over `FilesystemStore` in `PASSPHRASE_CHANGES` phases of
/// reads, writes, lists and removes, while the passphrase is changed between phases and a
/// reader runs free on a second handle, opened read-only (two writable instances are two
/// writers, which the store does not support). The freshness checks run on every read and
/// list: no false alarm among the threads, nor on the second handle. A header write holds the
/// version counter, so writes wait for it: the header write is not parked here (the workers
/// could not finish their phase), and the passphrase changes fall between the workers' phases.
#[test]
fn threads_share_one_encrypted_filesystem_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = OpenOptions::new()
        .create::<V, _>(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    // A second, independent handle on the same directory (its own FilesystemStore).
    let second = OpenOptions::new()
        .read_only()
        .open::<V, _>(fs(dir.path()), Credential::passphrase(PASSPHRASE))
        .unwrap();
    let attempted = Attempted::default();
    for i in 0..SHARED_KEYS {
        let k = stable(i);
        let v = value(&k, usize::MAX, 0);
        attempted.record(&k, &v);
        store.write(&k.0, &k.1, &k.2, v).unwrap();
    }

    let entered = std::sync::Arc::new(Barrier::new(THREADS + 1));
    let released = std::sync::Arc::new(Barrier::new(THREADS + 1));
    let per_phase = OPS_PER_THREAD / PASSPHRASE_CHANGES;
    let passphrases: Vec<Vec<u8>> = (0..PASSPHRASE_CHANGES)
        .map(|i| format!("passphrase {i}").into_bytes())
        .collect();
    let failure = Mutex::new(None);
    let models: Vec<BTreeMap<Key, Vec<u8>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|tid| {
                let (store, attempted, failure) = (&store, &attempted, &failure);
                let (entered, released) = (&entered, &released);
                scope.spawn(move || {
                    let mut w = Worker::new(tid);
                    for phase in 0..PASSPHRASE_CHANGES {
                        entered.wait();
                        // The header write of change `phase` is in flight now.
                        guarded(failure, || {
                            w.run(store, phase * per_phase..(phase + 1) * per_phase, attempted)
                        });
                        released.wait();
                    }
                    w.own
                })
            })
            .collect();
        // Meanwhile, the passphrase changes (values are untouched by it).
        let (store, passphrases, failure) = (&store, &passphrases, &failure);
        let (entered, released) = (&entered, &released);
        scope.spawn(move || {
            for pw in passphrases {
                guarded(failure, || {
                    store
                        .change_credential::<V>(Credential::passphrase_with(pw, cheap()))
                        .unwrap()
                });
                // The change is done: the workers run their next phase.
                entered.wait();
                released.wait();
            }
        });
        // And a reader on its own handle, free-running.
        let (second, attempted) = (&second, &attempted);
        scope.spawn(move || guarded(failure, || reader(second, attempted)));
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    raise(failure);
    // The handle's view of the header is the one on disk (before the reopen below, which
    // rewrites the header).
    assert_eq!(
        EncryptedStore::inspect::<V>(&fs(dir.path())).unwrap(),
        store.info()
    );

    // Reopened from disk: the original and every intermediate passphrase are refused, precisely;
    // only the last one opens, and everything is as the model says.
    let open = |pw: &[u8]| EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(pw));
    let (last, intermediate) = passphrases.split_last().unwrap();
    for pw in std::iter::once(PASSPHRASE).chain(intermediate.iter().map(Vec::as_slice)) {
        refused(open, pw);
    }
    let reopened = open(last).unwrap();
    for (tid, own) in models.iter().enumerate() {
        let ns = format!("t{tid}");
        for i in 0..OWN_KEYS {
            let k = key("own", &ns, format!("k{i}"));
            match (own.get(&k), reopened.read(&k.0, &k.1, &k.2)) {
                (Some(want), Ok(got)) => assert_eq!(&got, want, "{k:?}"),
                (None, Err(e)) if e.kind() == ErrorKind::NotFound => {}
                (want, got) => panic!("{k:?}: model {want:?}, store {got:?}"),
            }
        }
        let mut l = reopened.list("own", &ns).unwrap();
        l.sort();
        assert_eq!(l, own.keys().map(|k| k.2.clone()).collect::<Vec<_>>());
    }
    for i in 0..SHARED_KEYS {
        let k = stable(i);
        attempted.check(&k, &reopened.read(&k.0, &k.1, &k.2).unwrap());
        let k = volatile(i);
        match reopened.read(&k.0, &k.1, &k.2) {
            Ok(v) => attempted.check(&k, &v),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => panic!("{k:?}: {e:?}"),
        }
    }
    // The workload did exercise everything it claims to.
    let total_owned: usize = models.iter().map(|m| m.len()).sum();
    assert!(total_owned > 0);
}

const CHANGERS: usize = 4;

fn changer_passphrase(t: usize) -> Vec<u8> {
    format!("changer {t}").into_bytes()
}

/// After passphrase changes made at once, exactly one of the new passphrases opens the store
/// and every other one, and the original, is refused with `WrongPassphrase`; every handle
/// still reads and writes, and what any handle wrote reads back under the winner.
#[track_caller]
fn exactly_one_change_won<S: KVStoreSync>(
    inner: &MemoryStore,
    handles: &[&EncryptedStore<S>],
) -> Vec<u8> {
    let open = |pw: &[u8]| EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(pw));
    let candidates: Vec<Vec<u8>> = (0..CHANGERS).map(changer_passphrase).collect();
    let opening: Vec<&Vec<u8>> = candidates.iter().filter(|pw| open(pw).is_ok()).collect();
    assert_eq!(opening.len(), 1, "passphrases that open: {opening:?}");
    let winner = opening[0].clone();
    for pw in candidates.iter().filter(|pw| **pw != winner) {
        refused(open, pw);
    }
    refused(open, PASSPHRASE);
    let opened = open(&winner).unwrap();
    for (t, h) in handles.iter().enumerate() {
        assert_eq!(h.read("p", "", "before").unwrap(), b"before");
        h.write("p", "", &format!("after_{t}"), vec![t as u8])
            .unwrap();
        assert_eq!(
            opened.read("p", "", &format!("after_{t}")).unwrap(),
            [t as u8]
        );
    }
    winner
}

/// `CHANGERS` threads change the passphrase of one handle at once (released together by a
/// barrier): the last header written wins, and the handle's view of the header is that one.
#[test]
fn concurrent_passphrase_changes_through_one_handle() {
    let mem = MemoryStore::new();
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            mem.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    store.write("p", "", "before", b"before".to_vec()).unwrap();
    let start = Barrier::new(CHANGERS);
    std::thread::scope(|scope| {
        for t in 0..CHANGERS {
            let (store, start) = (&store, &start);
            scope.spawn(move || {
                start.wait();
                store
                    .change_credential::<V>(Credential::passphrase_with(
                        &changer_passphrase(t),
                        cheap(),
                    ))
                    .unwrap();
            });
        }
    });
    // Before `exactly_one_change_won`, whose opens rewrite the header.
    assert_eq!(
        EncryptedStore::<MemoryStore>::inspect::<V>(&mem).unwrap(),
        store.info()
    );
    exactly_one_change_won(&mem, &[&store]);
}

/// An asynchronous inner store over a `MemoryStore` whose every call makes its effect when its
/// future is first polled and then waits, pending, until the test releases it (with the
/// effect's result, or with an error): so a test can hold a write's or remove's completion back
/// after it landed, fail it, and choose when a read reads. The header is read and written
/// through `KVStoreSync`, ungated.
#[derive(Clone)]
struct Gated {
    mem: MemoryStore,
    gates: std::sync::Arc<Mutex<Vec<std::sync::Arc<std::sync::atomic::AtomicU8>>>>,
}

/// A gated call's gate: held, released with its effect's result, or released with an error.
const HELD: u8 = 0;
const RELEASED: u8 = 1;
const FAILED: u8 = 2;

/// One gated call: `effect` runs at the first poll, the result is given once the gate opens.
struct GatedCall<T> {
    effect: Option<Box<dyn FnOnce() -> io::Result<T> + Send>>,
    result: Option<io::Result<T>>,
    gate: std::sync::Arc<std::sync::atomic::AtomicU8>,
}

impl<T: Unpin> std::future::Future for GatedCall<T> {
    type Output = io::Result<T>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<T>> {
        if let Some(effect) = self.effect.take() {
            self.result = Some(effect());
        }
        match self.gate.load(std::sync::atomic::Ordering::SeqCst) {
            HELD => std::task::Poll::Pending,
            RELEASED => std::task::Poll::Ready(self.result.take().unwrap()),
            _ => std::task::Poll::Ready(Err(io::Error::new(
                ErrorKind::Other,
                "the inner store failed the call",
            ))),
        }
    }
}

type GatedFut<T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = io::Result<T>> + Send + 'static>>;

impl Gated {
    fn new() -> Gated {
        Gated {
            mem: MemoryStore::new(),
            gates: Default::default(),
        }
    }

    fn call<T: Unpin + Send + 'static>(
        &self,
        effect: impl FnOnce(&MemoryStore) -> io::Result<T> + Send + 'static,
    ) -> GatedFut<T> {
        let gate = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(HELD));
        self.gates
            .lock()
            .unwrap()
            .push(std::sync::Arc::clone(&gate));
        let mem = self.mem.clone();
        Box::pin(GatedCall {
            effect: Some(Box::new(move || effect(&mem))),
            result: None,
            gate,
        })
    }

    /// Inner calls made so far.
    fn calls(&self) -> usize {
        self.gates.lock().unwrap().len()
    }

    /// Lets call `i` complete.
    fn release(&self, i: usize) {
        self.gates.lock().unwrap()[i].store(RELEASED, std::sync::atomic::Ordering::SeqCst);
    }

    /// Lets call `i` complete with an error, whatever its effect did.
    fn fail(&self, i: usize) {
        self.gates.lock().unwrap()[i].store(FAILED, std::sync::atomic::Ordering::SeqCst);
    }
}

impl KVStoreSync for Gated {
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
        KVStoreSync::read(&self.mem, p, s, k)
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> io::Result<()> {
        KVStoreSync::write(&self.mem, p, s, k, buf)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
        KVStoreSync::remove(&self.mem, p, s, k, lazy)
    }
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
        KVStoreSync::list(&self.mem, p, s)
    }
}

#[allow(refining_impl_trait)]
impl ldk::util::persist::KVStore for Gated {
    fn read(&self, p: &str, s: &str, k: &str) -> GatedFut<Vec<u8>> {
        let (p, s, k) = (p.to_owned(), s.to_owned(), k.to_owned());
        self.call(move |m| KVStoreSync::read(m, &p, &s, &k))
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> GatedFut<()> {
        let (p, s, k) = (p.to_owned(), s.to_owned(), k.to_owned());
        self.call(move |m| KVStoreSync::write(m, &p, &s, &k, buf))
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> GatedFut<()> {
        let (p, s, k) = (p.to_owned(), s.to_owned(), k.to_owned());
        self.call(move |m| KVStoreSync::remove(m, &p, &s, &k, lazy))
    }
    fn list(&self, p: &str, s: &str) -> GatedFut<Vec<String>> {
        let (p, s) = (p.to_owned(), s.to_owned());
        self.call(move |m| KVStoreSync::list(m, &p, &s))
    }
}

/// The key the schedules over [`Gated`] write, remove and read.
const K: (&str, &str, &str) = ("monitors", "", "m");

/// The options of a store over [`Gated`], anchored in `anchor` when given.
fn gated_options(anchor: Option<&MemoryStore>) -> OpenOptions {
    match anchor {
        Some(a) => OpenOptions::new().anchor(StoreAnchor::<MemoryStore, V>::new(a.clone())),
        None => OpenOptions::new(),
    }
}

/// A store over a new [`Gated`], anchored in `anchor` when given, whose key `at` (in the
/// namespaces of [`K`]) holds `v0`: written through `KVStore`, landed and completed.
fn gated_store_with_v0(
    anchor: Option<&MemoryStore>,
    at: &str,
    cx: &mut Context<'_>,
) -> (Gated, EncryptedStore<Gated>) {
    let inner = Gated::new();
    let store = gated_options(anchor)
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    let mut f = Box::pin(ldk::util::persist::KVStore::write(
        &store,
        K.0,
        K.1,
        at,
        b"v0".to_vec(),
    ));
    assert!(Pin::new(&mut f).poll(cx).is_pending());
    inner.release(inner.calls() - 1);
    assert!(matches!(Pin::new(&mut f).poll(cx), Poll::Ready(Ok(()))));
    drop(f);
    (inner, store)
}

/// Issues, none of them polled, a write of [`K`] for each `Some(value)` of `muts` and a remove
/// for each `None` (lazy where `lazy()` says so, asked once per remove in order), with a read of
/// [`K`] issued before mutation `read_at` (after the last when `read_at` is `muts.len()`).
/// Returns each mutation's future with the index of its inner call, and the read's.
#[allow(clippy::type_complexity)]
fn issue<M: AsRef<[u8]>>(
    store: &EncryptedStore<Gated>,
    inner: &Gated,
    muts: &[Option<M>],
    read_at: usize,
    mut lazy: impl FnMut() -> bool,
) -> (Vec<(GatedFut<()>, usize)>, (GatedFut<Vec<u8>>, usize)) {
    let read_now = |calls: usize| -> (GatedFut<Vec<u8>>, usize) {
        (
            Box::pin(ldk::util::persist::KVStore::read(store, K.0, K.1, K.2)),
            calls,
        )
    };
    let mut calls = Vec::new();
    let mut read = None;
    for (i, m) in muts.iter().enumerate() {
        if i == read_at {
            read = Some(read_now(inner.calls()));
        }
        let idx = inner.calls();
        let f: GatedFut<()> = match m {
            Some(v) => Box::pin(ldk::util::persist::KVStore::write(
                store,
                K.0,
                K.1,
                K.2,
                v.as_ref().to_vec(),
            )),
            None => Box::pin(ldk::util::persist::KVStore::remove(
                store,
                K.0,
                K.1,
                K.2,
                lazy(),
            )),
        };
        assert_eq!(
            inner.calls(),
            idx + 1,
            "one inner call per operation, when called"
        );
        calls.push((f, idx));
    }
    let read = read.unwrap_or_else(|| read_now(inner.calls()));
    (calls, read)
}

/// Asynchronous writes and removes of one key overlap (each lands when first polled, in call
/// order as LDK requires, and completes later, in any order), with a read of the key issued
/// between any two of them, reading at any point after, and completing at any point after
/// that: 3,000 random schedules, anchored and not. The read never raises an alarm: it returns
/// exactly what the inner store held when it read, or is absent only where that held nothing
/// or a remove had been issued before the read completed. When every operation is done the
/// key is what the last one made it (also after a restart, anchored), and the check is not
/// disarmed by the overlap: the first record put back over a later write is `Rollback`.
#[test]
fn overlapping_async_writes_removes_and_a_read_of_one_key_raise_no_alarm() {
    use encrypted_kvstore::ReadError;

    let mut rng = Xorshift(0x5eed_0f0b_e1a9);
    let mut cx = Context::from_waker(Waker::noop());
    let mut counts = [0usize; 3]; // reads served, absent, schedules with a read overlapping
    let mut failures: Vec<String> = Vec::new();
    for round in 0..3_000u32 {
        let anchored = round % 2 == 1;
        let anchor_mem = MemoryStore::new();
        let anchor = anchored.then_some(&anchor_mem);
        let (inner, store) = gated_store_with_v0(anchor, K.2, &mut cx);
        let first_record = KVStoreSync::read(&inner.mem, K.0, K.1, K.2).unwrap();
        // Each record the inner store held, and the value it seals.
        let mut plain_of = HashMap::from([(first_record.clone(), b"v0".to_vec())]);

        // 2 to 4 mutations, `Some(value)` a write, `None` a remove; the read issued before
        // mutation `read_at` (or after the last).
        let n = 2 + rng.below(3) as usize;
        let muts: Vec<Option<Vec<u8>>> = (0..n)
            .map(|i| (rng.below(3) != 0).then(|| format!("v{}", i + 1).into_bytes()))
            .collect();
        let read_at = rng.below(n as u64 + 1) as usize;
        let (mut calls, (mut rf, ridx)) =
            issue(&store, &inner, &muts, read_at, || rng.below(2) == 0);
        // Every operation is issued before the read completes: a remove among them may make
        // the read absent.
        let a_remove_overlaps = muts.iter().any(Option::is_none);

        // The schedule: land mutations in call order, interleaved at random with completions
        // of landed ones and with the read's landing and completion.
        let mut landed = 0;
        let mut done = vec![false; n];
        let (mut read_landed, mut read_done) = (false, false);
        let mut held_at_read: Option<Option<Vec<u8>>> = None;
        let mut overlapped = false;
        let mut trace: Vec<String> = muts
            .iter()
            .enumerate()
            .map(|(i, m)| match m {
                Some(v) => format!("op {i} write {}", String::from_utf8_lossy(v)),
                None => format!("op {i} remove"),
            })
            .collect();
        trace.insert(read_at, "read issued".into());
        trace.push("then".into());
        while done.iter().any(|d| !d) || !read_done {
            match rng.below(4) {
                0 if landed < n => {
                    assert!(Pin::new(&mut calls[landed].0).poll(&mut cx).is_pending());
                    trace.push(format!("op {landed} lands"));
                    if let Some(v) = &muts[landed] {
                        let record = KVStoreSync::read(&inner.mem, K.0, K.1, K.2).unwrap();
                        plain_of.insert(record, v.clone());
                    }
                    landed += 1;
                }
                1 if !read_landed => {
                    let raw = KVStoreSync::read(&inner.mem, K.0, K.1, K.2).ok();
                    held_at_read = Some(raw.map(|r| plain_of[&r].clone()));
                    trace.push("read lands".into());
                    assert!(Pin::new(&mut rf).poll(&mut cx).is_pending());
                    read_landed = true;
                    overlapped |= done.iter().any(|d| !d);
                }
                2 if read_landed && !read_done => {
                    inner.release(ridx);
                    let Poll::Ready(r) = Pin::new(&mut rf).poll(&mut cx) else {
                        panic!("released")
                    };
                    read_done = true;
                    overlapped |= done.iter().any(|d| !d);
                    trace.push("read completes".into());
                    let held = held_at_read.clone().unwrap();
                    let wrong = match r {
                        Ok(v) => {
                            counts[0] += 1;
                            (Some(&v) != held.as_ref()).then(|| {
                                format!("served {v:?}, the inner store held {held:?} at the read")
                            })
                        }
                        Err(e) if e.kind() != ErrorKind::NotFound => Some(format!("alarm {e:?}")),
                        Err(e) => {
                            counts[1] += 1;
                            (held.is_some() && !a_remove_overlaps)
                                .then(|| format!("absent with a record stored, no remove: {e:?}"))
                        }
                    };
                    if let Some(w) = wrong {
                        let anchored = if anchored { "anchored" } else { "not anchored" };
                        failures.push(format!("{anchored}, {}: {w}", trace.join(", ")));
                    }
                }
                _ => {
                    // Complete a landed mutation, any of them.
                    let open: Vec<usize> = (0..landed).filter(|&i| !done[i]).collect();
                    if open.is_empty() {
                        continue;
                    }
                    let i = open[rng.below(open.len() as u64) as usize];
                    trace.push(format!("op {i} completes"));
                    inner.release(calls[i].1);
                    let Poll::Ready(r) = Pin::new(&mut calls[i].0).poll(&mut cx) else {
                        panic!("released")
                    };
                    r.unwrap();
                    done[i] = true;
                }
            }
        }
        counts[2] += usize::from(overlapped);
        // Settled: the key is what the last operation made it.
        let last = muts.last().unwrap().clone();
        let check = |s: &EncryptedStore<Gated>, when: &str| -> Option<String> {
            let r = KVStoreSync::read(s, K.0, K.1, K.2);
            let ok = match (&last, &r) {
                (Some(v), Ok(got)) => got == v,
                (None, Err(e)) => e.kind() == ErrorKind::NotFound,
                _ => false,
            };
            let l = KVStoreSync::list(s, K.0, K.1);
            let listed_ok = matches!(&l, Ok(l) if l.len() == usize::from(last.is_some()));
            (!ok || !listed_ok).then(|| {
                let anchored = if anchored { "anchored" } else { "not anchored" };
                format!(
                    "{anchored}, {}; settled{when}: read {r:?}, list {l:?}",
                    trace.join(", ")
                )
            })
        };
        let ctx = format!("round {round}, {muts:?}");
        if let Some(f) = check(&store, "") {
            failures.push(f);
            continue;
        }
        // Still watching: v0's record put back over a later write is `Rollback`, in this
        // session and, anchored, after a restart.
        let rolled_back = |s: &EncryptedStore<Gated>, ctx: &str| {
            let now = KVStoreSync::read(&inner.mem, K.0, K.1, K.2).unwrap();
            KVStoreSync::write(&inner.mem, K.0, K.1, K.2, first_record.clone()).unwrap();
            let e = KVStoreSync::read(s, K.0, K.1, K.2).unwrap_err();
            assert!(
                matches!(
                    e.get_ref().and_then(|i| i.downcast_ref::<ReadError>()),
                    Some(ReadError::Rollback { .. })
                ),
                "{ctx}: v0 put back: {e:?}"
            );
            KVStoreSync::write(&inner.mem, K.0, K.1, K.2, now).unwrap();
        };
        if last.is_some() {
            rolled_back(&store, &ctx);
        }
        drop(store);
        let store = gated_options(anchor)
            .open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
            .unwrap();
        if let Some(f) = check(&store, ", reopened") {
            failures.push(f);
            continue;
        }
        if anchored && last.is_some() {
            rolled_back(&store, &format!("{ctx}, reopened"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 3,000 schedules answered wrongly; the first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(6)].join("\n")
    );
    assert!(counts.iter().all(|&c| c > 100), "{counts:?}");
}

/// A step of a scripted schedule over [`Gated`].
#[derive(Clone, Copy, Debug)]
enum Ev {
    /// Mutation `i` makes its inner call's effect (first poll).
    Lands(usize),
    /// Mutation `i` completes.
    Completes(usize),
    /// Mutation `i` completes with an error of the inner store (after its effect, if it landed).
    Fails(usize),
    /// Behind the store's back, the inner store's bytes at [`K`] become these.
    Planted(Plant),
    ReadLands,
    ReadCompletes,
}

/// Bytes put at [`K`] behind the store's back.
#[derive(Clone, Copy, Debug)]
enum Plant {
    /// 80 bytes that are no record.
    Junk,
    /// The record `v0` was written as (at [`K`], or at another key).
    V0,
}

/// Writes `v0` to key `v0_at` of [`K`]'s namespaces, issues the mutations `muts` of [`K`] (a
/// write of the value, or a remove) with a read of [`K`] issued before mutation `read_at`, runs
/// `events`, and returns what the read returned, and what a read of [`K`] and a listing of its
/// namespaces return once everything is done.
#[allow(clippy::type_complexity)]
fn scripted(
    anchored: bool,
    v0_at: &str,
    muts: &[Option<&[u8]>],
    read_at: usize,
    events: &[Ev],
) -> (
    io::Result<Vec<u8>>,
    io::Result<Vec<u8>>,
    io::Result<Vec<String>>,
) {
    let mut cx = Context::from_waker(Waker::noop());
    let anchor = MemoryStore::new();
    let (inner, store) = gated_store_with_v0(anchored.then_some(&anchor), v0_at, &mut cx);
    let v0_record = KVStoreSync::read(&inner.mem, K.0, K.1, v0_at).unwrap();
    let (mut calls, (mut rf, ridx)) = issue(&store, &inner, muts, read_at, || false);
    let mut result = None;
    for ev in events {
        match *ev {
            Ev::Lands(i) => assert!(Pin::new(&mut calls[i].0).poll(&mut cx).is_pending()),
            Ev::Completes(i) | Ev::Fails(i) => {
                let fails = matches!(ev, Ev::Fails(_));
                if fails {
                    inner.fail(calls[i].1);
                } else {
                    inner.release(calls[i].1);
                }
                let Poll::Ready(r) = Pin::new(&mut calls[i].0).poll(&mut cx) else {
                    panic!("released")
                };
                assert_eq!(r.is_err(), fails, "mutation {i}: {r:?}");
            }
            Ev::Planted(p) => {
                let bytes = match p {
                    Plant::Junk => vec![0x5a; 80],
                    Plant::V0 => v0_record.clone(),
                };
                KVStoreSync::write(&inner.mem, K.0, K.1, K.2, bytes).unwrap();
            }
            Ev::ReadLands => assert!(Pin::new(&mut rf).poll(&mut cx).is_pending()),
            Ev::ReadCompletes => {
                inner.release(ridx);
                let Poll::Ready(r) = Pin::new(&mut rf).poll(&mut cx) else {
                    panic!("released")
                };
                result = Some(r);
            }
        }
    }
    let settled = KVStoreSync::read(&store, K.0, K.1, K.2);
    let listed = KVStoreSync::list(&store, K.0, K.1);
    (result.expect("the read completed"), settled, listed)
}

/// A read issued before a remove and a write of its key, reading between them (it finds
/// nothing) and completing after both: an honest overlap, so no alarm (docs/FORMAT.md,
/// "Checked against two moments"): the read is absent, and the key then holds the write.
#[test]
fn a_read_overlapping_a_remove_then_a_write_raises_no_alarm() {
    use Ev::*;
    for anchored in [false, true] {
        let (read, settled, listed) = scripted(
            anchored,
            K.2,
            &[None, Some(b"v2")],
            0,
            &[
                Lands(0),
                Completes(0),
                ReadLands,
                Lands(1),
                Completes(1),
                ReadCompletes,
            ],
        );
        let e = read.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "anchored {anchored}: {e:?}");
        assert_eq!(settled.unwrap(), b"v2", "anchored {anchored}");
        assert_eq!(listed.unwrap(), [K.2], "anchored {anchored}");
    }
}

/// Without an anchor: a read issued while a write and then a remove of its key are in flight
/// reads the written record before the remove lands and completes after both: once they are
/// done the key is removed, so a later read is absent (`NotFound`), not `Missing`, and the
/// listing raises nothing (the read's record is not watched after the remove).
#[test]
fn a_read_overlapping_a_remove_does_not_watch_the_removed_key() {
    use Ev::*;
    let (read, settled, listed) = scripted(
        false,
        K.2,
        &[Some(b"v1"), None],
        2,
        &[
            Lands(0),
            ReadLands,
            Lands(1),
            Completes(1),
            Completes(0),
            ReadCompletes,
        ],
    );
    match read {
        Ok(v) => assert_eq!(v, b"v1"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}"),
    }
    let e = settled.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "settled: {e:?}");
    assert_eq!(listed.unwrap(), Vec::<String>::new());
}

/// Anchored, a key held in M at neither moment with nothing in flight is absent whatever bytes
/// are stored there, but a key with a write in flight when the read was issued is not absent
/// (docs/FORMAT.md, "Reading a record"): a key never written, a write of it issued and a read
/// issued behind it, the read finding bytes that do not open (junk, or the record of another
/// key), and the write failing (so the key never enters M) either before the read completes
/// (then only the issue-time state shows the write) or after it. The read is
/// `AuthenticationFailed` (`InvalidData`) either way, not absent; once the failed write's
/// flight is over, a new read of the key is absent (`NotFound`).
#[test]
fn a_read_overlapping_a_failed_write_refuses_what_does_not_open() {
    use encrypted_kvstore::ReadError;
    use Ev::*;
    for planted in [Plant::Junk, Plant::V0] {
        // The write fails while the read is held (at its completion the key is held nowhere
        // and nothing is in flight), or after the read completed (the write still in flight).
        let orders: [&[Ev]; 2] = [
            &[
                Lands(0),
                Planted(planted),
                ReadLands,
                Fails(0),
                ReadCompletes,
            ],
            &[
                Lands(0),
                Planted(planted),
                ReadLands,
                ReadCompletes,
                Fails(0),
            ],
        ];
        for events in orders {
            let ctx = format!("{planted:?}, {events:?}");
            let (read, settled, _) = scripted(true, "other", &[Some(b"v1")], 1, events);
            let e = read.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidData, "{ctx}: {e:?}");
            match e.get_ref().and_then(|i| i.downcast_ref::<ReadError>()) {
                Some(ReadError::AuthenticationFailed {
                    primary_namespace,
                    secondary_namespace,
                    key,
                }) => assert_eq!(
                    (
                        primary_namespace.as_str(),
                        secondary_namespace.as_str(),
                        key.as_str()
                    ),
                    K,
                    "{ctx}"
                ),
                other => panic!("{ctx}: expected AuthenticationFailed, got {other:?} in {e:?}"),
            }
            let e = settled.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::NotFound, "{ctx}, settled: {e:?}");
        }
    }
}
