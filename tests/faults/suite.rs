//! Faults of the inner store: every operation of a scripted workload is made to fail, one at a
//! time, in each way real storage fails: loudly (no effect; effect but lost acknowledgement;
//! torn write) and silently (a write or remove acknowledged but lost; a read that returns the
//! key's previous bytes; a read that returns flipped or truncated bytes). The wrapper must hand
//! a loud inner error up unchanged and never invent one, never panic, never return another
//! key's data or wrong plaintext, and afterwards the store must hold exactly what the model
//! says. Then faults while creating and opening a store and while changing its credential, and
//! the async face, whose faults fire when a future is polled.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use super::v::{ldk, AsyncOps, FaultyStore, MigratableKVStoreSync, Ops, SyncOps, V};
use crate::common::{
    assert_auth_failed, cheap, injected, FaultKind, ALL_FAULT_KINDS, FAULT_KINDS, PASSPHRASE,
};
use encrypted_kvstore::{
    Credential, EncryptedStore, HeaderError, MemoryStore, OpenError, Protection, RawKey, ReadError,
    RotateError, RECORD_OVERHEAD,
};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::{KVStore, KVStoreSync};

type Name = (&'static str, &'static str, &'static str);

#[derive(Clone, Debug)]
enum Op {
    Write(Name, &'static [u8]),
    Read(Name),
    Remove(Name, bool),
    List(&'static str, &'static str),
    ListAll,
}

/// What the model says a key holds.
#[derive(Clone, Debug, PartialEq)]
enum State {
    Present(Vec<u8>),
    /// A torn write left a prefix of a record: reads must fail authentication.
    Torn,
}

const A: Name = ("monitors", "", "a_0");
const B: Name = ("monitors", "", "b_0");
const C: Name = ("monitor_updates", "a_0", "1");
const D: Name = ("", "", "manager");

fn workload() -> Vec<Op> {
    use Op::*;
    vec![
        Read(A),
        Write(A, b"a v2: a longer value than before"),
        Read(A),
        Write(B, b"b v1"),
        Write(C, b"c v1"),
        List("monitors", ""),
        Read(C),
        Write(A, b"a v3"),
        Remove(B, false),
        Read(B),
        List("monitors", ""),
        ListAll,
        Write(D, b"manager v2"),
        Read(D),
        Remove(C, true),
        Write(C, b"c v2"),
        Read(C),
        List("monitor_updates", "a_0"),
        Write(B, b""),
        Read(B),
        Remove(D, false),
        Read(D),
        Write(D, b"manager v3"),
        Read(A),
        Read(D),
        List("", ""),
        ListAll,
    ]
}

/// Values acknowledged before the faults start.
const PRELOADED: [(Name, &[u8]); 2] = [(A, b"a v1"), (D, b"manager v1")];

/// What a read through the wrapper must return.
#[derive(Debug)]
enum Seen {
    Value(Vec<u8>),
    AuthenticationFailed,
    NotFound,
}

impl Seen {
    fn of(state: Option<&State>) -> Seen {
        match state {
            Some(State::Present(v)) => Seen::Value(v.clone()),
            Some(State::Torn) => Seen::AuthenticationFailed,
            None => Seen::NotFound,
        }
    }
}

/// What each key holds in the inner store, and what it held before its latest change (the
/// inner store's history as `FaultyStore` keeps it, for stale reads).
#[derive(Default)]
struct Model {
    now: BTreeMap<Name, State>,
    previous: BTreeMap<Name, Option<State>>,
    /// Keys the open store treats as absent whatever the inner store holds (docs/FORMAT.md,
    /// "The rule", not anchored): a remove was issued (it leaves the store's map at once, even
    /// if it fails), or a first write failed after it landed, and no write of the key
    /// succeeded since. A reopened store has no such key (every record is older than it).
    hidden: BTreeSet<Name>,
    /// Keys the open store watches (its map): written, or read and served.
    watched: BTreeSet<Name>,
}

impl Model {
    /// A change that took effect in the inner store (`None`: removed).
    fn set(&mut self, name: Name, to: Option<State>) {
        let before = match to {
            Some(s) => self.now.insert(name, s),
            None => self.now.remove(&name),
        };
        self.previous.insert(name, before);
    }

    fn keys_in(&self, p: &str, s: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .now
            .keys()
            .filter(|(mp, ms, _)| *mp == p && *ms == s)
            .map(|(_, _, k)| k.to_string())
            .collect();
        v.sort();
        v
    }

    fn all_keys(&self) -> Vec<(String, String, String)> {
        let mut v: Vec<_> = self
            .now
            .keys()
            .map(|(p, s, k)| (p.to_string(), s.to_string(), k.to_string()))
            .collect();
        v.sort();
        v
    }

    /// What a read of `name` returns when a silent fault of `kind` hits it.
    fn seen_under(&self, name: Name, kind: FaultKind) -> Seen {
        match kind {
            FaultKind::StaleRead => match self.previous.get(&name) {
                Some(before) => Seen::of(before.as_ref()),
                None => Seen::of(self.now.get(&name)),
            },
            FaultKind::FlippedRead | FaultKind::TruncatedRead => match self.now.get(&name) {
                Some(_) => Seen::AuthenticationFailed,
                None => Seen::NotFound,
            },
            _ => self.seen(name),
        }
    }

    /// What a read through the open store returns (a record is authenticated before it is
    /// judged).
    fn seen(&self, name: Name) -> Seen {
        match self.now.get(&name) {
            Some(State::Torn) => Seen::AuthenticationFailed,
            _ if self.hidden.contains(&name) => Seen::NotFound,
            now => Seen::of(now),
        }
    }
}

#[track_caller]
fn check_read(name: Name, want: Seen, r: io::Result<Vec<u8>>, ctx: &str) {
    let (p, s, k) = name;
    match want {
        Seen::Value(v) => assert_eq!(r.expect(ctx), v, "{ctx}"),
        Seen::AuthenticationFailed => assert_auth_failed(r, p, s, k),
        Seen::NotFound => assert_eq!(r.expect_err(ctx).kind(), ErrorKind::NotFound, "{ctx}"),
    }
}

/// The fault report of one operation: the injected error comes back (unchanged, with the
/// number of the faulted inner operation) exactly when a loud fault hit this operation.
#[track_caller]
fn check_report<T: std::fmt::Debug>(
    r: &io::Result<T>,
    hit: bool,
    kind: FaultKind,
    op: u64,
    ctx: &str,
) {
    let loud = hit && kind.is_loud();
    match r.as_ref().err().and_then(injected) {
        Some(n) => {
            assert!(loud, "{ctx}: an injected error where none fired: {r:?}");
            assert_eq!(n, op, "{ctx}");
        }
        None => assert!(!loud, "{ctx}: the injected fault was swallowed: {r:?}"),
    }
}

/// Runs the workload with inner operation `fault_at` (counted from the first workload
/// operation) faulted as `kind`, through sync or async; returns how many inner operations it
/// made.
fn run(fault_at: Option<u64>, kind: FaultKind, use_async: bool, layout: &str) -> u64 {
    let inner = FaultyStore::new(MemoryStore::new());
    let key = RawKey::from_bytes([3; 32]);
    // The freshness checks run on every read and list of the workload, so a false alarm after
    // any fault fails the model's expectations below.
    let opts = crate::common::every_layout()
        .into_iter()
        .find(|(name, _)| *name == layout)
        .map(|(_, o)| o)
        .unwrap();
    let store = opts
        .create::<V, _>(inner.clone(), Credential::raw_key(&key))
        .unwrap();
    let mut model = Model::default();
    for ((p, s, k), v) in PRELOADED {
        KVStoreSync::write(&store, p, s, k, v.to_vec()).unwrap();
        model.set((p, s, k), Some(State::Present(v.to_vec())));
        model.watched.insert((p, s, k));
    }
    let base = inner.ops();
    if let Some(n) = fault_at {
        inner.arm(base + n, kind);
    }
    let sync_ops;
    let async_ops;
    let ops: &dyn Ops = if use_async {
        async_ops = AsyncOps::new(&store);
        &async_ops
    } else {
        sync_ops = SyncOps(&store);
        &sync_ops
    };

    for (i, op) in workload().into_iter().enumerate() {
        let (fires, at) = (inner.fires(), inner.ops());
        let ctx =
            format!("fault at {fault_at:?} ({kind:?}, async {use_async}, {layout}), op {i} {op:?}");
        // Runs the operation, then says whether the fault hit it.
        let hit = |ctx: &str| {
            // Every wrapper operation is exactly one inner operation (no hidden extra I/O).
            assert_eq!(inner.ops(), at + 1, "{ctx}");
            let hit = inner.fires() != fires;
            assert_eq!(hit, fault_at == Some(at - base), "{ctx}");
            hit
        };
        match op {
            Op::Write(name @ (p, s, k), v) => {
                let r = ops.write(p, s, k, v.to_vec());
                let hit = hit(&ctx);
                check_report(&r, hit, kind, at, &ctx);
                let stored = Some(State::Present(v.to_vec()));
                match (hit, kind) {
                    (false, _) => model.set(name, stored),
                    (true, FaultKind::Before | FaultKind::LostWrite) => {}
                    (true, FaultKind::TornWrite) => model.set(name, Some(State::Torn)),
                    (true, _) => model.set(name, stored),
                }
                if r.is_ok() {
                    model.hidden.remove(&name);
                    model.watched.insert(name);
                } else if hit && !model.watched.contains(&name) {
                    // A first write that failed: absent, whether or not it landed.
                    model.hidden.insert(name);
                }
                if !(hit && kind.is_loud()) {
                    r.expect(&ctx);
                }
            }
            Op::Remove(name @ (p, s, k), lazy) => {
                let r = ops.remove(p, s, k, lazy);
                let hit = hit(&ctx);
                check_report(&r, hit, kind, at, &ctx);
                match (hit, kind) {
                    (true, FaultKind::Before | FaultKind::TornWrite | FaultKind::LostWrite) => {}
                    _ => model.set(name, None),
                }
                model.hidden.insert(name);
                model.watched.remove(&name);
                if !(hit && kind.is_loud()) {
                    r.expect(&ctx);
                }
            }
            Op::Read(name @ (p, s, k)) => {
                let r = ops.read(p, s, k);
                let served = r.is_ok();
                let hit = hit(&ctx);
                check_report(&r, hit, kind, at, &ctx);
                match (hit, kind.is_loud()) {
                    (true, true) => {}
                    (true, false) => check_read(name, model.seen_under(name, kind), r, &ctx),
                    (false, _) => check_read(name, model.seen(name), r, &ctx),
                }
                if served {
                    model.watched.insert(name);
                }
            }
            Op::List(p, s) => {
                let r = ops.list(p, s);
                let hit = hit(&ctx);
                check_report(&r, hit, kind, at, &ctx);
                if !(hit && kind.is_loud()) {
                    assert_eq!(r.expect(&ctx), model.keys_in(p, s), "{ctx}");
                }
            }
            Op::ListAll => {
                let r = MigratableKVStoreSync::list_all_keys(&store).map(|mut l| {
                    l.sort();
                    l
                });
                let hit = hit(&ctx);
                check_report(&r, hit, kind, at, &ctx);
                if !(hit && kind.is_loud()) {
                    assert_eq!(r.expect(&ctx), model.all_keys(), "{ctx}");
                }
            }
        }
    }
    let used = inner.ops() - base;
    // The armed fault fired exactly once if its operation came, else never.
    let expected_fires = u64::from(fault_at.is_some_and(|n| n < used));
    assert_eq!(
        inner.fires(),
        expected_fires,
        "fault at {fault_at:?} of {used}"
    );

    // After the fault: a fresh store over the same data holds exactly the model.
    inner.disarm();
    let reopened =
        EncryptedStore::open::<V>(inner.inner().clone(), Credential::raw_key(&key)).unwrap();
    let ctx = format!("after fault at {fault_at:?} ({kind:?})");
    for name @ (p, s, k) in [A, B, C, D] {
        let r = KVStoreSync::read(&reopened, p, s, k);
        check_read(name, Seen::of(model.now.get(&name)), r, &ctx);
    }
    for (p, s) in [("monitors", ""), ("monitor_updates", "a_0"), ("", "")] {
        let mut l = KVStoreSync::list(&reopened, p, s).unwrap();
        l.sort();
        assert_eq!(l, model.keys_in(p, s), "{ctx}");
    }
    let mut all = MigratableKVStoreSync::list_all_keys(&reopened).unwrap();
    all.sort();
    assert_eq!(all, model.all_keys(), "{ctx}");
    used
}

/// Every loud fault (no effect; effect with the acknowledgement lost; a torn write) and every
/// corrupted read (flipped, truncated) at every inner operation, then the rest of the workload
/// on the same open store and a reopen, in every layout: no freshness false alarm, nothing
/// acknowledged lost, a corrupted read `AuthenticationFailed`. (The other silent faults, a lost
/// write or a stale read, are what the freshness checks refuse: see
/// `stale_reads_of_a_key_are_refused` here and the format_v2 and adversary suites.)
fn every_fault(use_async: bool) {
    let kinds = ALL_FAULT_KINDS
        .into_iter()
        .filter(|k| !matches!(k, FaultKind::LostWrite | FaultKind::StaleRead));
    for (layout, _) in crate::common::every_layout() {
        let total = run(None, FaultKind::Before, use_async, layout);
        assert_eq!(total, workload().len() as u64, "no hidden inner operation");
        for kind in kinds.clone() {
            for n in 0..=total {
                run(Some(n), kind, use_async, layout);
            }
        }
    }
}

#[test]
fn every_single_fault_over_the_workload_sync() {
    every_fault(false);
}

/// The same workload through `KVStore`, each future awaited on a tokio runtime; the inner
/// store's faults fire when the future is polled.
#[test]
fn every_single_fault_over_the_workload_async() {
    every_fault(true);
}

fn raw_store() -> (
    FaultyStore<MemoryStore>,
    EncryptedStore<FaultyStore<MemoryStore>>,
) {
    let inner = FaultyStore::new(MemoryStore::new());
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            inner.clone(),
            Credential::raw_key(&RawKey::from_bytes([5; 32])),
        )
        .unwrap();
    (inner, store)
}

/// A write (or remove) the inner store acknowledges but loses: what is there is what was there
/// before, an authentic but older record or nothing, and a later read or listing refuses it
/// (a rollback, a deletion) or treats it as absent (a removed record left behind), never
/// returns it as current and never garbage.
#[test]
fn lost_acknowledged_writes_leave_the_old_value_or_nothing() {
    let refusal = |e: io::Error| {
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e:?}");
        format!("{:?}", e.get_ref().unwrap())
    };
    for use_async in [false, true] {
        let (inner, store) = raw_store();
        let ops: Box<dyn Ops> = if use_async {
            Box::new(AsyncOps::new(&store))
        } else {
            Box::new(SyncOps(&store))
        };
        ops.write("monitors", "", "m_0", b"v1".to_vec()).unwrap();
        inner.arm_next(FaultKind::LostWrite);
        ops.write("monitors", "", "m_0", b"v2".to_vec()).unwrap();
        let e = refusal(ops.read("monitors", "", "m_0").unwrap_err());
        assert!(e.starts_with("Rollback"), "{e}");
        assert!(
            !KVStoreSync::read(inner.inner(), "monitors", "", "m_0")
                .unwrap()
                .is_empty(),
            "the older record is still there"
        );
        inner.arm_next(FaultKind::LostWrite);
        ops.write("", "", "new", b"never stored".to_vec()).unwrap();
        let e = refusal(ops.read("", "", "new").unwrap_err());
        assert!(e.starts_with("Missing"), "{e}");
        let e = refusal(ops.list("", "").unwrap_err());
        assert!(e.starts_with("Missing"), "{e}");
        // A lost remove: the record left behind is absent (`Removed`, kind `NotFound`), never
        // served, and left out of nothing it should be in.
        inner.arm_next(FaultKind::LostWrite);
        ops.remove("monitors", "", "m_0", false).unwrap();
        let e = ops.read("monitors", "", "m_0").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
        assert!(
            matches!(
                e.get_ref().and_then(|i| i.downcast_ref::<ReadError>()),
                Some(ReadError::Removed { key, .. }) if key == "m_0"
            ),
            "{e:?}"
        );
        assert_eq!(inner.fires(), 3);
    }
}

/// A read that returns the key's previous bytes (or its absence before the first write). Those
/// bytes are an authentic record of this store for this key, but an older version than the
/// store wrote: refused as a rollback or a deletion, or absent after a remove, never returned
/// as current; the next clean read is intact.
#[test]
fn stale_reads_of_a_key_are_refused() {
    let refusal = |r: io::Result<Vec<u8>>| {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e:?}");
        e.get_ref()
            .and_then(|e| e.downcast_ref::<ReadError>())
            .cloned()
            .unwrap()
    };
    for use_async in [false, true] {
        let (inner, store) = raw_store();
        let ops: Box<dyn Ops> = if use_async {
            Box::new(AsyncOps::new(&store))
        } else {
            Box::new(SyncOps(&store))
        };
        let k = ("monitors", "", "m_0");
        // Before the first write there was nothing: the stale read is a deletion.
        ops.write(k.0, k.1, k.2, b"v1".to_vec()).unwrap();
        inner.arm_next(FaultKind::StaleRead);
        assert!(matches!(
            refusal(ops.read(k.0, k.1, k.2)),
            ReadError::Missing { .. }
        ));
        assert_eq!(ops.read(k.0, k.1, k.2).unwrap(), b"v1");
        // After a second write, the first value is a rollback.
        ops.write(k.0, k.1, k.2, b"v2".to_vec()).unwrap();
        inner.arm_next(FaultKind::StaleRead);
        assert!(matches!(
            refusal(ops.read(k.0, k.1, k.2)),
            ReadError::Rollback { .. }
        ));
        assert_eq!(ops.read(k.0, k.1, k.2).unwrap(), b"v2");
        // After a remove, the removed value is absent (`Removed`, kind `NotFound`).
        ops.remove(k.0, k.1, k.2, false).unwrap();
        inner.arm_next(FaultKind::StaleRead);
        let e = ops.read(k.0, k.1, k.2).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
        assert!(matches!(
            e.get_ref().and_then(|i| i.downcast_ref::<ReadError>()),
            Some(ReadError::Removed { .. })
        ));
        assert_eq!(
            ops.read(k.0, k.1, k.2).unwrap_err().kind(),
            ErrorKind::NotFound
        );
        // A stale read of another key's history never crosses keys.
        ops.write("monitors", "", "m_1", b"other".to_vec()).unwrap();
        inner.arm_next(FaultKind::StaleRead);
        assert!(matches!(
            refusal(ops.read("monitors", "", "m_1")),
            ReadError::Missing { .. }
        ));
        assert_eq!(ops.read("monitors", "", "m_1").unwrap(), b"other");
        assert_eq!(inner.fires(), 4);
    }
}

/// A read that returns flipped or truncated bytes is `AuthenticationFailed` naming the very
/// key (kind `InvalidData`), never a panic and never plaintext; the next clean read is intact.
#[test]
fn corrupted_reads_fail_authentication_naming_the_key() {
    let long = "L".repeat(120);
    let names = [
        ("", "", "manager"),
        ("monitors", "", "abc_0"),
        ("monitor_updates", "abc_0", "7"),
        (long.as_str(), long.as_str(), long.as_str()),
    ];
    for use_async in [false, true] {
        let (inner, store) = raw_store();
        let ops: Box<dyn Ops> = if use_async {
            Box::new(AsyncOps::new(&store))
        } else {
            Box::new(SyncOps(&store))
        };
        for (i, (p, s, k)) in names.iter().enumerate() {
            for value in [Vec::new(), vec![i as u8; 1 + i * 300]] {
                ops.write(p, s, k, value.clone()).unwrap();
                for kind in [FaultKind::FlippedRead, FaultKind::TruncatedRead] {
                    inner.arm_next(kind);
                    assert_auth_failed(ops.read(p, s, k), p, s, k);
                    assert_eq!(ops.read(p, s, k).unwrap(), value);
                }
            }
            // Of a key that is not there, a corrupted read is still `NotFound`.
            ops.remove(p, s, k, false).unwrap();
            inner.arm_next(FaultKind::FlippedRead);
            assert_eq!(ops.read(p, s, k).unwrap_err().kind(), ErrorKind::NotFound);
        }
        assert_eq!(inner.fires(), names.len() as u64 * 5);
    }
}

/// A failing `list` (sync and async) or `list_all_keys` hands the inner error up unchanged
/// (kind `Other`, the very error value) and changes nothing.
#[test]
fn list_failures_propagate_unchanged() {
    let (inner, store) = raw_store();
    KVStoreSync::write(&store, "monitors", "", "m_0", b"v".to_vec()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for kind in FAULT_KINDS {
        let at = inner.ops();
        inner.arm_next(kind);
        let e = KVStoreSync::list(&store, "monitors", "").unwrap_err();
        assert_eq!(injected(&e), Some(at), "{kind:?}: {e:?}");
        let at = inner.ops();
        inner.arm_next(kind);
        let e = rt
            .block_on(KVStore::list(&store, "monitors", ""))
            .unwrap_err();
        assert_eq!(injected(&e), Some(at), "{kind:?}: {e:?}");
        let at = inner.ops();
        inner.arm_next(kind);
        let e = MigratableKVStoreSync::list_all_keys(&store).unwrap_err();
        assert_eq!(injected(&e), Some(at), "{kind:?}: {e:?}");
        assert_eq!(
            KVStoreSync::list(&store, "monitors", "").unwrap(),
            vec!["m_0".to_string()]
        );
        assert_eq!(
            MigratableKVStoreSync::list_all_keys(&store).unwrap(),
            vec![("monitors".into(), "".into(), "m_0".into())]
        );
    }
    assert_eq!(inner.fires(), 9);
}

/// Polls `fut` once.
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

/// Through `KVStore`, the inner operation (and its fault) happens when the future is polled:
/// a future made but not polled does nothing, futures fail in the order they are polled, and
/// the wrapper hands the fault up from the poll.
#[test]
fn async_faults_fire_when_the_future_is_polled() {
    let (inner, store) = raw_store();
    KVStoreSync::write(&store, "p", "", "a", b"a1".to_vec()).unwrap();

    // Made, not polled, dropped: nothing counted, nothing fired, nothing written.
    let at = inner.ops();
    inner.arm(at, FaultKind::Before);
    drop(KVStore::write(&store, "p", "", "a", b"a2".to_vec()));
    drop(KVStore::read(&store, "p", "", "a"));
    assert_eq!((inner.ops(), inner.fires()), (at, 0));
    assert_eq!(
        KVStoreSync::read(inner.inner(), "p", "", "a")
            .unwrap()
            .len(),
        2 + RECORD_OVERHEAD
    );

    // Two futures made in one order and polled in the other: the fault armed for the next
    // inner operation hits the one polled first.
    let at = inner.ops();
    inner.arm(at, FaultKind::Before);
    let first = KVStore::write(&store, "p", "", "a", b"a2".to_vec());
    let second = KVStore::write(&store, "p", "", "b", b"b1".to_vec());
    assert_eq!(inner.fires(), 0, "a fault fired when a future was made");
    match poll_once(second) {
        Poll::Ready(Err(e)) => assert_eq!(injected(&e), Some(at), "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(poll_once(first), Poll::Ready(Ok(()))));
    assert_eq!(KVStoreSync::read(&store, "p", "", "a").unwrap(), b"a2");
    assert_eq!(
        KVStoreSync::read(&store, "p", "", "b").unwrap_err().kind(),
        ErrorKind::NotFound
    );

    // The same for a read and a list: the fault is delivered by the poll.
    for kind in [FaultKind::Before, FaultKind::FlippedRead] {
        let at = inner.ops();
        inner.arm(at, kind);
        let read = KVStore::read(&store, "p", "", "a");
        let list = KVStore::list(&store, "p", "");
        assert_eq!(inner.ops(), at);
        match (kind, poll_once(read)) {
            (FaultKind::Before, Poll::Ready(Err(e))) => assert_eq!(injected(&e), Some(at)),
            (_, Poll::Ready(r)) => assert_auth_failed(r, "p", "", "a"),
            (_, Poll::Pending) => panic!("pending"),
        }
        match poll_once(list) {
            Poll::Ready(Ok(l)) => assert_eq!(l, vec!["a".to_string()]),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(inner.fires(), 3);
}

/// `create` makes a header read, one list per well-known namespace pair, then the header write.
/// A loud fault in any of them is an `OpenError::Io` carrying the inner error; what is left
/// behind is either no store (create again), a complete store (open it) or, after a torn header
/// write, a header that is refused as corrupt (and create refuses to overwrite it).
#[test]
fn faults_while_creating_and_opening() {
    let key = RawKey::from_bytes([4; 32]);
    let ops = {
        let inner = FaultyStore::new(MemoryStore::new());
        encrypted_kvstore::OpenOptions::new()
            .create::<V, _>(inner.clone(), Credential::raw_key(&key))
            .unwrap();
        inner.ops()
    };
    assert!(
        ops >= 3,
        "header read, at least one list, header write: {ops}"
    );
    for kind in FAULT_KINDS {
        for n in 0..ops {
            let inner = FaultyStore::new(MemoryStore::new());
            inner.arm(n, kind);
            match encrypted_kvstore::OpenOptions::new()
                .create::<V, _>(inner.clone(), Credential::raw_key(&key))
            {
                Err(OpenError::Io(e)) => assert_eq!(injected(&e), Some(n), "{kind:?} {n}"),
                other => panic!("{kind:?} at {n}: {other:?}"),
            }
            assert_eq!(inner.fires(), 1);
            inner.disarm();
            let header_write = n == ops - 1;
            match (kind, header_write) {
                (FaultKind::After, true) => {
                    let s = EncryptedStore::open::<V>(inner.clone(), Credential::raw_key(&key))
                        .unwrap();
                    KVStoreSync::write(&s, "p", "", "k", vec![1]).unwrap();
                }
                (FaultKind::TornWrite, true) => {
                    assert!(matches!(
                        EncryptedStore::open::<V>(inner.clone(), Credential::raw_key(&key)),
                        Err(OpenError::CorruptHeader { .. })
                    ));
                    assert!(matches!(
                        encrypted_kvstore::OpenOptions::new()
                            .create::<V, _>(inner.clone(), Credential::raw_key(&key)),
                        Err(OpenError::AlreadyInitialized)
                    ));
                }
                _ => {
                    assert!(matches!(
                        EncryptedStore::open::<V>(inner.clone(), Credential::raw_key(&key)),
                        Err(OpenError::NotInitialized)
                    ));
                    encrypted_kvstore::OpenOptions::new()
                        .create::<V, _>(inner.clone(), Credential::raw_key(&key))
                        .unwrap();
                }
            }
        }
    }
    // Open makes one inner operation: the header read.
    let inner = FaultyStore::new(MemoryStore::new());
    encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    for kind in FAULT_KINDS {
        let at = inner.ops();
        inner.arm_next(kind);
        match EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)) {
            Err(OpenError::Io(e)) => assert_eq!(injected(&e), Some(at), "{kind:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(inner.ops(), at + 1);
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).unwrap();
    }
}

/// Silent faults on the header. `create` cannot see a lost header write: it returns a store
/// that works until it is dropped, and then nothing opens it (`NotInitialized`) and `create`
/// refuses the data it left (`ExistingData`). A corrupted header read is `CorruptHeader` (a
/// flipped byte, a truncated header) and a stale one is the previous header, which opens with
/// the previous passphrase only (without a freshness anchor, an old header cannot be told from
/// the current one). The stale opens are read-only, so that none writes a header of its own.
#[test]
fn silent_faults_on_the_header() {
    // How many inner operations `create` makes; the last is the header write.
    let create_ops = {
        let inner = FaultyStore::new(MemoryStore::new());
        encrypted_kvstore::OpenOptions::new()
            .create::<V, _>(inner.clone(), Credential::passphrase_with(b"old", cheap()))
            .unwrap();
        inner.ops()
    };
    let inner = FaultyStore::new(MemoryStore::new());
    let at = inner.ops();
    inner.arm(at + create_ops - 1, FaultKind::LostWrite);
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(inner.clone(), Credential::passphrase_with(b"old", cheap()))
        .unwrap();
    assert_eq!((inner.ops(), inner.fires()), (at + create_ops, 1));
    KVStoreSync::write(&store, "monitors", "", "m_0", b"value".to_vec()).unwrap();
    assert_eq!(
        KVStoreSync::read(&store, "monitors", "", "m_0").unwrap(),
        b"value"
    );
    assert!(matches!(
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"old")),
        Err(OpenError::NotInitialized)
    ));
    match encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(inner.clone(), Credential::passphrase_with(b"old", cheap()))
    {
        Err(OpenError::ExistingData { primary_namespace }) => {
            assert_eq!(primary_namespace, "monitors")
        }
        other => panic!("{other:?}"),
    }

    let inner = FaultyStore::new(MemoryStore::new());
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(inner.clone(), Credential::passphrase_with(b"old", cheap()))
        .unwrap();
    KVStoreSync::write(&store, "p", "", "k", b"value".to_vec()).unwrap();
    // (A flipped read flips byte `operation number % length`: byte 8 is the version.)
    let corrupt = |kind: FaultKind, at: u64, r: Result<_, OpenError>| match (
        kind,
        at % crate::common::HEADER_LEN as u64,
        r,
    ) {
        (FaultKind::FlippedRead, 8, Err(OpenError::UnsupportedVersion { version: 3 })) => {}
        (FaultKind::FlippedRead, i, Err(OpenError::CorruptHeader { .. })) if i != 8 => {}
        (FaultKind::TruncatedRead, _, Err(OpenError::CorruptHeader { .. })) => {}
        (_, _, r) => panic!("{kind:?} at {at}: {:?}", r.map(|_| ())),
    };
    for kind in [FaultKind::FlippedRead, FaultKind::TruncatedRead] {
        for _ in 0..3 {
            let at = inner.ops();
            inner.arm_next(kind);
            corrupt(
                kind,
                at,
                EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"old"))
                    .map(|_| ()),
            );
            let at = inner.ops();
            inner.arm_next(kind);
            corrupt(
                kind,
                at,
                EncryptedStore::<FaultyStore<MemoryStore>>::inspect(&inner).map(|_| ()),
            );
        }
    }
    // Only one header was ever written: a stale read of it finds none.
    inner.arm_next(FaultKind::StaleRead);
    assert!(matches!(
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"old")),
        Err(OpenError::NotInitialized)
    ));
    store
        .change_credential::<V>(Credential::passphrase_with(b"new", cheap()))
        .unwrap();
    let read_only = || encrypted_kvstore::OpenOptions::new().read_only();
    inner.arm_next(FaultKind::StaleRead);
    let stale = read_only()
        .open::<V, _>(inner.clone(), Credential::passphrase(b"old"))
        .unwrap();
    assert_eq!(KVStoreSync::read(&stale, "p", "", "k").unwrap(), b"value");
    inner.arm_next(FaultKind::StaleRead);
    assert!(matches!(
        read_only().open::<V, _>(inner.clone(), Credential::passphrase(b"new")),
        Err(OpenError::WrongPassphrase)
    ));
    assert!(matches!(
        read_only().open::<V, _>(inner.clone(), Credential::passphrase(b"old")),
        Err(OpenError::WrongPassphrase)
    ));
    EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"new")).unwrap();
    assert_eq!(inner.fires(), 15);
}

/// A credential: what protects the store before or after a change.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cred {
    Passphrase(&'static [u8]),
    Key(u8),
}

impl Cred {
    fn create(self, inner: FaultyStore<MemoryStore>) -> EncryptedStore<FaultyStore<MemoryStore>> {
        match self {
            Cred::Passphrase(p) => encrypted_kvstore::OpenOptions::new()
                .create::<V, _>(inner, Credential::passphrase_with(p, cheap()))
                .unwrap(),
            Cred::Key(b) => encrypted_kvstore::OpenOptions::new()
                .create::<V, _>(inner, Credential::raw_key(&RawKey::from_bytes([b; 32])))
                .unwrap(),
        }
    }

    fn protection(self) -> Protection {
        match self {
            Cred::Passphrase(_) => Protection::Passphrase(cheap()),
            Cred::Key(_) => Protection::RawKey,
        }
    }

    fn change_to(
        self,
        store: &EncryptedStore<FaultyStore<MemoryStore>>,
    ) -> Result<(), RotateError> {
        match self {
            Cred::Passphrase(p) => {
                store.change_credential::<V>(Credential::passphrase_with(p, cheap()))
            }
            Cred::Key(b) => {
                store.change_credential::<V>(Credential::raw_key(&RawKey::from_bytes([b; 32])))
            }
        }
    }

    /// Opens the store in `inner` read-only, so that checking which credential opens it
    /// writes nothing (a writable open reserves its block of versions in the header).
    fn open(self, inner: &MemoryStore) -> Result<EncryptedStore<MemoryStore>, OpenError> {
        let o = encrypted_kvstore::OpenOptions::new().read_only();
        match self {
            Cred::Passphrase(p) => o.open::<V, _>(inner.clone(), Credential::passphrase(p)),
            Cred::Key(b) => o.open::<V, _>(
                inner.clone(),
                Credential::raw_key(&RawKey::from_bytes([b; 32])),
            ),
        }
    }

    /// Opens the store in `inner` writable.
    fn open_writable(
        self,
        inner: FaultyStore<MemoryStore>,
    ) -> Result<EncryptedStore<FaultyStore<MemoryStore>>, OpenError> {
        match self {
            Cred::Passphrase(p) => EncryptedStore::open::<V>(inner, Credential::passphrase(p)),
            Cred::Key(b) => {
                EncryptedStore::open::<V>(inner, Credential::raw_key(&RawKey::from_bytes([b; 32])))
            }
        }
    }

    /// `r` is the refusal of this (wrong) credential by a header that another credential
    /// (`opener`) unlocks: the precise variant.
    #[track_caller]
    fn assert_refused(self, opener: Cred, r: Result<EncryptedStore<MemoryStore>, OpenError>) {
        match (self, opener, r) {
            (Cred::Passphrase(_), Cred::Passphrase(_), Err(OpenError::WrongPassphrase))
            | (Cred::Key(_), Cred::Key(_), Err(OpenError::WrongKey))
            | (Cred::Passphrase(_), Cred::Key(_), Err(OpenError::RawKeyRequired))
            | (Cred::Key(_), Cred::Passphrase(_), Err(OpenError::PassphraseRequired)) => {}
            (_, _, r) => panic!("{self:?} against a header of {opener:?}: {:?}", r.err()),
        }
    }
}

/// `change_credential` makes two inner operations: the header read (the stored
/// header must still be the one the handle holds) and the header write. Where a fault hits the
/// write decides which credential opens the store afterwards, and the data stays
/// readable through the open handle and through whichever credential opens:
/// - failed with no effect, or acknowledged but lost: the old one (and the new one is refused
///   with the precise variant); the handle's `info` says the new protection only if the write
///   was acknowledged, which a lost write was;
/// - written, acknowledgement lost: the new one;
/// - torn (an inner store whose writes are not atomic): neither, the header is `CorruptHeader`;
///   the previous header bytes written back open with the old credential (keep a copy of the
///   header before changing the credential over such a store; LDK's `FilesystemStore` writes
///   atomically).
///
/// Retried through the same handle, the change is refused with `HeaderChanged` and writes
/// nothing (after a failed header write the handle writes no header over what may have landed;
/// after a lost one its header is not the stored one); a reopened handle makes the change, and
/// then only the new credential opens.
#[test]
fn credential_changes_interrupted_by_header_write_faults() {
    let changes = [
        (Cred::Passphrase(b"old"), Cred::Passphrase(b"new")),
        (Cred::Passphrase(b"old"), Cred::Key(1)),
        (Cred::Key(1), Cred::Key(2)),
        (Cred::Key(1), Cred::Passphrase(b"new")),
    ];
    let kinds = [
        FaultKind::Before,
        FaultKind::After,
        FaultKind::TornWrite,
        FaultKind::LostWrite,
    ];
    for (old, new) in changes {
        for kind in kinds {
            let ctx = format!("{old:?} -> {new:?}, {kind:?}");
            let inner = FaultyStore::new(MemoryStore::new());
            let store = old.create(inner.clone());
            KVStoreSync::write(&store, "p", "s", "k", b"value".to_vec()).unwrap();
            let mem = inner.inner().clone();
            let old_header = KVStoreSync::read(&mem, "encrypted_kvstore", "", "header").unwrap();
            let info_before = store.info();
            let at = inner.ops();
            inner.arm(at + 1, kind);
            let r = new.change_to(&store);
            assert_eq!((inner.ops(), inner.fires()), (at + 2, 1), "{ctx}");
            match (kind.is_loud(), r) {
                (true, Err(RotateError::Header(HeaderError::Io(e)))) => {
                    assert_eq!(injected(&e), Some(at + 1), "{ctx}")
                }
                (false, Ok(())) => {}
                (_, r) => panic!("{ctx}: {r:?}"),
            }
            // The open handle keeps working either way.
            assert_eq!(
                KVStoreSync::read(&store, "p", "s", "k").unwrap(),
                b"value",
                "{ctx}"
            );
            let opener = match kind {
                FaultKind::Before | FaultKind::LostWrite => Some(old),
                FaultKind::After => Some(new),
                _ => None,
            };
            // The handle takes the new protection when the write is acknowledged (even lost).
            if kind.is_loud() {
                assert_eq!(store.info(), info_before, "{ctx}");
            } else {
                assert_eq!(store.info().protection, new.protection(), "{ctx}");
            }
            match opener {
                Some(opener) => {
                    let refused = if opener == old { new } else { old };
                    let opened = opener
                        .open(&mem)
                        .unwrap_or_else(|e| panic!("{ctx}: {opener:?} opens: {e:?}"));
                    assert_eq!(
                        KVStoreSync::read(&opened, "p", "s", "k").unwrap(),
                        b"value",
                        "{ctx}"
                    );
                    refused.assert_refused(opener, refused.open(&mem));
                }
                None => {
                    for cred in [old, new] {
                        assert!(
                            matches!(cred.open(&mem), Err(OpenError::CorruptHeader { .. })),
                            "{ctx}"
                        );
                    }
                    KVStoreSync::write(&mem, "encrypted_kvstore", "", "header", old_header.clone())
                        .unwrap();
                    let opened = old.open(&mem).unwrap();
                    assert_eq!(KVStoreSync::read(&opened, "p", "s", "k").unwrap(), b"value");
                }
            }
            // Retried without a fault, the change takes: only the new credential opens.
            // Through the same handle the retry is refused, `HeaderChanged`, and writes nothing:
            // a failed header write may have landed, a lost one did, so this handle writes no
            // header over it. A reopened handle makes the change.
            let stored = KVStoreSync::read(&mem, "encrypted_kvstore", "", "header");
            assert!(
                matches!(
                    new.change_to(&store),
                    Err(RotateError::Header(HeaderError::Changed))
                ),
                "{ctx}"
            );
            assert_eq!(
                KVStoreSync::read(&mem, "encrypted_kvstore", "", "header").ok(),
                stored.ok(),
                "{ctx}: the refused retry wrote"
            );
            drop(store);
            let store = opener.unwrap_or(old).open_writable(inner.clone()).unwrap();
            new.change_to(&store)
                .unwrap_or_else(|e| panic!("{ctx}: the retry: {e:?}"));
            old.assert_refused(new, old.open(&mem));
            let opened = new.open(&mem).unwrap();
            assert_eq!(KVStoreSync::read(&opened, "p", "s", "k").unwrap(), b"value");
            assert_eq!(
                EncryptedStore::inspect::<V>(&mem).unwrap(),
                store.info(),
                "{ctx}"
            );
        }
    }
}
