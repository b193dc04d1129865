//! Faults of the inner store: every operation of a scripted workload is made to fail, one at a
//! time, in each of three ways (no effect; effect but lost acknowledgement; torn write). The
//! wrapper must hand the inner error up unchanged, never panic, never return another key's
//! data, and afterwards every acknowledged value must read back exactly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use super::v::{ldk, AsyncOps, FaultyStore, Ops, SyncOps, V};
use crate::common::{assert_auth_failed, cheap, injected, FaultKind, FAULT_KINDS, PASSPHRASE};
use encrypted_kvstore::{EncryptedStore, MemoryStore, OpenError, RawKey};
use ldk::io::{self, ErrorKind};

type Name = (&'static str, &'static str, &'static str);

#[derive(Clone, Debug)]
enum Op {
    Write(Name, &'static [u8]),
    Read(Name),
    Remove(Name, bool),
    List(&'static str, &'static str),
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
        Write(D, b"manager v2"),
        Read(D),
        Remove(C, true),
        Write(C, b"c v2"),
        Read(C),
        List("monitor_updates", "a_0"),
        Write(B, b""),
        Read(B),
        Remove(D, false),
        Write(D, b"manager v3"),
        Read(A),
        Read(D),
        List("", ""),
    ]
}

/// Values acknowledged before the faults start.
const PRELOADED: [(Name, &[u8]); 2] = [(A, b"a v1"), (D, b"manager v1")];

struct Model(BTreeMap<Name, State>);

impl Model {
    fn keys_in(&self, p: &str, s: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .0
            .keys()
            .filter(|(mp, ms, _)| *mp == p && *ms == s)
            .map(|(_, _, k)| k.to_string())
            .collect();
        v.sort();
        v
    }

    /// `r` is what reading `name` may return, or the injected fault when `faulted`.
    #[track_caller]
    fn check_read(&self, name: Name, r: io::Result<Vec<u8>>, faulted: bool, ctx: &str) {
        let (p, s, k) = name;
        if faulted {
            let e = r.expect_err(ctx);
            assert!(injected(&e).is_some(), "{ctx}: {e:?}");
            return;
        }
        match self.0.get(&name) {
            Some(State::Present(v)) => assert_eq!(&r.expect(ctx), v, "{ctx}"),
            Some(State::Torn) => assert_auth_failed(r, p, s, k),
            None => assert_eq!(r.expect_err(ctx).kind(), ErrorKind::NotFound, "{ctx}"),
        }
    }
}

/// Runs the workload with inner operation `fault_at` (counted from the first workload
/// operation) failing as `kind`, through sync or async; returns how many inner operations it
/// made.
fn run(fault_at: Option<u64>, kind: FaultKind, use_async: bool) -> u64 {
    let inner = FaultyStore::new(MemoryStore::new());
    let key = RawKey::from_bytes([3; 32]);
    let store = EncryptedStore::create_with_key::<V>(inner.clone(), &key).unwrap();
    let mut model = Model(BTreeMap::new());
    for (name, v) in PRELOADED {
        KVStoreSyncExt::write(&store, name, v);
        model.0.insert(name, State::Present(v.to_vec()));
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
        let fired_before = inner.fired();
        let ctx = format!("fault at {fault_at:?} ({kind:?}, async {use_async}), op {i} {op:?}");
        match op {
            Op::Write((p, s, k), v) => match ops.write(p, s, k, v.to_vec()) {
                Ok(()) => {
                    model.0.insert((p, s, k), State::Present(v.to_vec()));
                }
                Err(e) => {
                    assert_eq!(injected(&e), fault_at.map(|n| base + n), "{ctx}: {e:?}");
                    match kind {
                        FaultKind::Before => {}
                        FaultKind::After => {
                            model.0.insert((p, s, k), State::Present(v.to_vec()));
                        }
                        FaultKind::TornWrite => {
                            model.0.insert((p, s, k), State::Torn);
                        }
                    }
                }
            },
            Op::Remove((p, s, k), lazy) => match ops.remove(p, s, k, lazy) {
                Ok(()) => {
                    model.0.remove(&(p, s, k));
                }
                Err(e) => {
                    assert_eq!(injected(&e), fault_at.map(|n| base + n), "{ctx}: {e:?}");
                    if kind == FaultKind::After {
                        model.0.remove(&(p, s, k));
                    }
                }
            },
            Op::Read(name) => {
                let r = ops.read(name.0, name.1, name.2);
                let faulted = !fired_before && inner.fired();
                if let Err(e) = &r {
                    if faulted {
                        assert_eq!(injected(e), fault_at.map(|n| base + n), "{ctx}");
                    }
                }
                model.check_read(name, r, faulted, &ctx);
            }
            Op::List(p, s) => match ops.list(p, s) {
                Ok(l) => assert_eq!(l, model.keys_in(p, s), "{ctx}"),
                Err(e) => assert_eq!(injected(&e), fault_at.map(|n| base + n), "{ctx}: {e:?}"),
            },
        }
        // Only the armed operation ever fails.
        if fired_before {
            assert!(inner.fired());
        }
    }
    let used = inner.ops() - base;
    if let Some(n) = fault_at {
        assert_eq!(inner.fired(), n < used, "fault at {n} of {used}");
    }

    // After the fault: a fresh store over the same data holds exactly the model.
    inner.disarm();
    let reopened = EncryptedStore::open_with_key::<V>(inner.inner().clone(), &key).unwrap();
    for name in [A, B, C, D] {
        let r = ldk::util::persist::KVStoreSync::read(&reopened, name.0, name.1, name.2);
        model.check_read(
            name,
            r,
            false,
            &format!("after fault at {fault_at:?} ({kind:?})"),
        );
    }
    for (p, s) in [("monitors", ""), ("monitor_updates", "a_0"), ("", "")] {
        let mut l = ldk::util::persist::KVStoreSync::list(&reopened, p, s).unwrap();
        l.sort();
        assert_eq!(l, model.keys_in(p, s));
    }
    used
}

/// `write` through `KVStoreSync` with a name tuple.
trait KVStoreSyncExt {
    fn write(&self, name: Name, v: &[u8]);
}

impl<S: ldk::util::persist::KVStoreSync> KVStoreSyncExt for S {
    fn write(&self, (p, s, k): Name, v: &[u8]) {
        ldk::util::persist::KVStoreSync::write(self, p, s, k, v.to_vec()).unwrap();
    }
}

fn every_fault(use_async: bool) {
    // Every wrapper operation is exactly one inner operation (no hidden extra I/O).
    let total = run(None, FaultKind::Before, use_async);
    assert_eq!(total, workload().len() as u64);
    for kind in FAULT_KINDS {
        for n in 0..=total {
            run(Some(n), kind, use_async);
        }
    }
}

#[test]
fn every_single_fault_over_the_workload_sync() {
    every_fault(false);
}

#[test]
fn every_single_fault_over_the_workload_async() {
    every_fault(true);
}

/// `create` makes a header read, one list per well-known namespace pair, then the header write.
/// A fault in any of them is an `OpenError::Io` carrying the inner error; what is left behind is
/// either no store (create again), a complete store (open it) or, after a torn header write, a
/// header that is refused as corrupt (and create refuses to overwrite it).
#[test]
fn faults_while_creating_and_opening() {
    let key = RawKey::from_bytes([4; 32]);
    let ops = {
        let inner = FaultyStore::new(MemoryStore::new());
        EncryptedStore::create_with_key::<V>(inner.clone(), &key).unwrap();
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
            match EncryptedStore::create_with_key::<V>(inner.clone(), &key) {
                Err(OpenError::Io(e)) => assert_eq!(injected(&e), Some(n), "{kind:?} {n}"),
                other => panic!("{kind:?} at {n}: {other:?}"),
            }
            inner.disarm();
            let header_write = n == ops - 1;
            match (kind, header_write) {
                (FaultKind::After, true) => {
                    let s = EncryptedStore::open_with_key::<V>(inner.clone(), &key).unwrap();
                    ldk::util::persist::KVStoreSync::write(&s, "p", "", "k", vec![1]).unwrap();
                }
                (FaultKind::TornWrite, true) => {
                    assert!(matches!(
                        EncryptedStore::open_with_key::<V>(inner.clone(), &key),
                        Err(OpenError::CorruptHeader { .. })
                    ));
                    assert!(matches!(
                        EncryptedStore::create_with_key::<V>(inner.clone(), &key),
                        Err(OpenError::AlreadyInitialized)
                    ));
                }
                _ => {
                    assert!(matches!(
                        EncryptedStore::open_with_key::<V>(inner.clone(), &key),
                        Err(OpenError::NotInitialized)
                    ));
                    EncryptedStore::create_with_key::<V>(inner.clone(), &key).unwrap();
                }
            }
        }
    }
    // Open makes one inner operation: the header read.
    let inner = FaultyStore::new(MemoryStore::new());
    EncryptedStore::create::<V>(inner.clone(), PASSPHRASE, cheap()).unwrap();
    for kind in FAULT_KINDS {
        inner.arm(inner.ops(), kind);
        match EncryptedStore::open::<V>(inner.clone(), PASSPHRASE) {
            Err(OpenError::Io(e)) => assert!(injected(&e).is_some()),
            other => panic!("{other:?}"),
        }
        EncryptedStore::open::<V>(inner.clone(), PASSPHRASE).unwrap();
    }
}

/// `change_passphrase` is one header write. If it fails with no effect, the old passphrase
/// still opens the store (and the new one does not); retried, it succeeds. If the write took
/// effect but its acknowledgement was lost, the new passphrase opens. A torn header write
/// leaves a header refused as corrupt; the previous header bytes, written back, open with the
/// old passphrase (keep a copy of the header before changing the passphrase over an inner store
/// whose writes are not atomic; LDK's `FilesystemStore` writes atomically).
#[test]
fn change_passphrase_interrupted_by_a_failing_write() {
    for kind in FAULT_KINDS {
        let inner = FaultyStore::new(MemoryStore::new());
        let store = EncryptedStore::create::<V>(inner.clone(), b"old", cheap()).unwrap();
        ldk::util::persist::KVStoreSync::write(&store, "p", "s", "k", b"value".to_vec()).unwrap();
        let old_header =
            ldk::util::persist::KVStoreSync::read(inner.inner(), "encrypted_kvstore", "", "header")
                .unwrap();
        let info_before = store.info();
        inner.arm(inner.ops(), kind);
        match store.change_passphrase::<V>(b"new", cheap()) {
            Err(OpenError::Io(e)) => assert!(injected(&e).is_some(), "{kind:?}"),
            other => panic!("{kind:?}: {other:?}"),
        }
        assert!(inner.fired());
        // The open store keeps working either way.
        assert_eq!(
            ldk::util::persist::KVStoreSync::read(&store, "p", "s", "k").unwrap(),
            b"value"
        );
        let opens = |pw: &[u8]| EncryptedStore::open::<V>(inner.inner().clone(), pw);
        match kind {
            FaultKind::Before => {
                assert_eq!(store.info(), info_before);
                let old = opens(b"old").unwrap();
                assert_eq!(
                    ldk::util::persist::KVStoreSync::read(&old, "p", "s", "k").unwrap(),
                    b"value"
                );
                assert!(matches!(opens(b"new"), Err(OpenError::WrongPassphrase)));
            }
            FaultKind::After => {
                assert!(matches!(opens(b"old"), Err(OpenError::WrongPassphrase)));
                let new = opens(b"new").unwrap();
                assert_eq!(
                    ldk::util::persist::KVStoreSync::read(&new, "p", "s", "k").unwrap(),
                    b"value"
                );
            }
            FaultKind::TornWrite => {
                assert!(matches!(
                    opens(b"old"),
                    Err(OpenError::CorruptHeader { .. })
                ));
                assert!(matches!(
                    opens(b"new"),
                    Err(OpenError::CorruptHeader { .. })
                ));
                ldk::util::persist::KVStoreSync::write(
                    inner.inner(),
                    "encrypted_kvstore",
                    "",
                    "header",
                    old_header,
                )
                .unwrap();
                assert!(opens(b"old").is_ok());
            }
        }
        // Retried without a fault, the change takes: only the new passphrase opens.
        store.change_passphrase::<V>(b"new", cheap()).unwrap();
        assert!(matches!(opens(b"old"), Err(OpenError::WrongPassphrase)));
        let new = opens(b"new").unwrap();
        assert_eq!(
            ldk::util::persist::KVStoreSync::read(&new, "p", "s", "k").unwrap(),
            b"value"
        );
        assert_eq!(
            EncryptedStore::inspect::<V>(inner.inner()).unwrap(),
            store.info()
        );
    }
}
