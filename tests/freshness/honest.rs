//! Property 6. No false alarm in honest use (docs/FORMAT.md, "A crash at any point raises no
//! alarm", "Two instances over one inner store"):
//!
//! - a process killed at every step of a write, a remove (hard and lazy), an open, an accept,
//!   a rotation, a rekey, a re-encryption and a retirement (the inner store and the anchor
//!   fail their n-th call and every later one, for every n until the operation completes):
//!   reopened over working storage, every key reads as its old or its new state, or as
//!   absent where the operation removed it, never `Rollback`, `Missing` or
//!   `AuthenticationFailed`; with and without an anchor;
//! - lazy removes that the inner store applies only some calls later, also across a restart;
//! - a read-only instance reading and listing beside the writer that writes, removes and
//!   re-creates keys, with and without an anchor; the same race made deterministic, a read or
//!   a listing parked between the writer's remove and its re-creation of a key (anchored);
//!   and records the writer seals under a new data key after the reader opened;
//! - a read or listing of one instance overlapping that instance's own write or remove of the
//!   key, on either side of the read's inner call, through both traits, with and without an
//!   anchor.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use super::support::{
    assert_absent, create_anchored, create_anchored_if, is_alarm, name, open_anchored_if,
    open_anchored_read_only, open_read_only_anchored_if, Crash, Layout, Name, Op, Rig, RigAnchor,
};
use super::v::{ldk, AsyncOps, Ops, TempFs, V};
use crate::common::{cheap, PASSPHRASE};
use encrypted_kvstore::{Credential, EncryptedStore, OpenError, OpenOptions};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::KVStoreSync;

const NS: &str = "channels";

/// The operation the process is killed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Overwrite,
    AsyncOverwrite,
    NewWrite,
    Remove,
    LazyRemove,
    Open,
    Accept,
    Rotate,
    Rekey,
    Reencrypt,
    Retire,
}

const STEPS: [Step; 11] = [
    Step::Overwrite,
    Step::AsyncOverwrite,
    Step::NewWrite,
    Step::Remove,
    Step::LazyRemove,
    Step::Open,
    Step::Accept,
    Step::Rotate,
    Step::Rekey,
    Step::Reencrypt,
    Step::Retire,
];

/// The passphrase a rekey switches to.
const NEW_PASSPHRASE: &[u8] = b"the passphrase after the rekey";

/// What a key may read as after the crash.
struct Allowed {
    key: &'static str,
    values: &'static [&'static [u8]],
    absent: bool,
}

fn allowed(step: Step) -> [Allowed; 5] {
    let old: &'static [&'static [u8]] = &[b"old"];
    let old_or_new: &'static [&'static [u8]] = &[b"old", b"new"];
    let new: &'static [&'static [u8]] = &[b"new"];
    [
        Allowed {
            key: "a",
            values: if matches!(step, Step::Overwrite | Step::AsyncOverwrite) {
                old_or_new
            } else {
                old
            },
            absent: false,
        },
        Allowed {
            key: "b",
            values: old,
            absent: step == Step::Remove,
        },
        Allowed {
            key: "c",
            values: old,
            absent: step == Step::LazyRemove,
        },
        Allowed {
            key: "d",
            values: old,
            absent: false,
        },
        Allowed {
            key: "e",
            values: if step == Step::NewWrite { new } else { &[] },
            absent: true,
        },
    ]
}

struct World {
    fs: TempFs,
    afs: TempFs,
    crash: Arc<Crash>,
    anchored: bool,
    layout: Layout,
}

impl World {
    fn new(anchored: bool, layout: Layout) -> World {
        World {
            fs: TempFs::in_memory_fs(),
            afs: TempFs::in_memory_fs(),
            crash: Crash::new(),
            anchored,
            layout,
        }
    }

    fn rig(&self) -> Rig {
        Rig::with_crash(self.fs.clone(), Arc::clone(&self.crash))
    }

    fn anchor(&self) -> RigAnchor {
        RigAnchor::new(&self.afs, Arc::clone(&self.crash))
    }

    fn options(&self, with_anchor: bool) -> OpenOptions {
        if with_anchor {
            OpenOptions::new().anchor(self.anchor())
        } else {
            OpenOptions::new()
        }
    }

    fn create(&self) -> EncryptedStore<Rig> {
        let mut opts = self.layout.options();
        if self.anchored {
            opts = opts.anchor(self.anchor());
        }
        let store = opts
            .create::<V, _>(self.rig(), Credential::passphrase_with(PASSPHRASE, cheap()))
            .unwrap();
        for k in ["a", "b", "c", "d"] {
            store.write(NS, "", k, b"old".to_vec()).unwrap();
        }
        store
    }

    /// Opens with the passphrase, or with the new one if a rekey landed.
    fn open(&self, with_anchor: bool) -> Result<EncryptedStore<Rig>, OpenError> {
        match self
            .options(with_anchor)
            .open::<V, _>(self.rig(), Credential::passphrase(PASSPHRASE))
        {
            Err(OpenError::WrongPassphrase) => self
                .options(with_anchor)
                .open::<V, _>(self.rig(), Credential::passphrase(NEW_PASSPHRASE)),
            r => r,
        }
    }

    fn accept(&self) -> Result<EncryptedStore<Rig>, OpenError> {
        OpenOptions::new()
            .anchor(self.anchor())
            .accept_current_state::<V, _>(self.rig(), Credential::passphrase(PASSPHRASE))
    }
}

/// Runs `step` on `store` (or on the store closed, for the opening steps); errors are those of
/// a dying process and are ignored.
fn run(world: &World, step: Step, store: EncryptedStore<Rig>) {
    match step {
        Step::Overwrite => {
            let _ = store.write(NS, "", "a", b"new".to_vec());
        }
        Step::AsyncOverwrite => {
            let ops = AsyncOps::new(&store);
            let _ = ops.write(NS, "", "a", b"new".to_vec());
        }
        Step::NewWrite => {
            let _ = store.write(NS, "", "e", b"new".to_vec());
        }
        Step::Remove => {
            let _ = store.remove(NS, "", "b", false);
        }
        Step::LazyRemove => {
            let _ = store.remove(NS, "", "c", true);
        }
        Step::Open => {
            drop(store);
            let _ = world.open(world.anchored);
        }
        Step::Accept => {
            drop(store);
            let _ = world.accept();
        }
        Step::Rotate => {
            let _ = store.rotate_data_key::<V>();
        }
        Step::Rekey => {
            let _ = store.rekey::<V>(Credential::passphrase_with(NEW_PASSPHRASE, cheap()));
        }
        Step::Reencrypt => {
            let _ = store.reencrypt::<V>(|_| {});
        }
        Step::Retire => {
            let _ = store.retire_old_keys::<V>();
        }
    }
}

/// What must be done, over working storage, before the step that is killed.
fn prepare(step: Step, store: &EncryptedStore<Rig>) {
    match step {
        Step::Reencrypt => {
            store.rotate_data_key::<V>().unwrap();
        }
        Step::Retire => {
            store.rotate_data_key::<V>().unwrap();
            store.reencrypt::<V>(|_| {}).unwrap();
        }
        _ => {}
    }
}

/// The store after the restart over working storage. After a cut-short accept, the documented
/// way on is to run it again.
fn reopen(world: &World, step: Step) -> EncryptedStore<Rig> {
    if step != Step::Accept {
        return world
            .open(world.anchored)
            .unwrap_or_else(|e| panic!("{step:?}, anchored {}: {e:?}", world.anchored));
    }
    match world.open(true) {
        Ok(store) => store,
        Err(OpenError::AnchorEmpty | OpenError::AnchorNotAttached) => world.accept().unwrap(),
        Err(e) => panic!("{step:?} anchored {}: {e:?}", world.anchored),
    }
}

/// Every key reads as one of its allowed states; the listing raises nothing.
#[track_caller]
fn check(store: &EncryptedStore<Rig>, step: Step, n: u64, world: &World) {
    let at = format!(
        "{step:?}, killed at call {n}, anchored {}, {:?}",
        world.anchored, world.layout
    );
    for a in allowed(step) {
        match store.read(NS, "", a.key) {
            Ok(v) => assert!(
                a.values.contains(&v.as_slice()),
                "{at}: {} reads {:?}",
                a.key,
                String::from_utf8_lossy(&v)
            ),
            Err(e) if e.kind() == ErrorKind::NotFound && a.absent => {}
            Err(e) => panic!("{at}: {} refused: {e:?}", a.key),
        }
    }
    let listed = store
        .list(NS, "")
        .unwrap_or_else(|e| panic!("{at}: list refused: {e:?}"));
    assert!(
        listed.iter().any(|k| k == "d"),
        "{at}: list lost d: {listed:?}"
    );
}

#[test]
fn a_process_killed_at_any_step_raises_no_alarm() {
    for (anchored, layout) in [false, true]
        .into_iter()
        .flat_map(|a| Layout::BOTH.map(|l| (a, l)))
    {
        for step in STEPS {
            let mut completed = false;
            for n in 0..300 {
                let world = World::new(anchored, layout);
                let store = world.create();
                prepare(step, &store);
                world.crash.arm(n);
                run(&world, step, store);
                let died = world.crash.fired();
                world.crash.disarm();
                let store = reopen(&world, step);
                check(&store, step, n, &world);
                // The reopened store goes on: a write of every key, read back after another
                // restart (versions of the killed session are never handed out again).
                for k in ["a", "b", "c", "d", "e"] {
                    store.write(NS, "", k, b"later".to_vec()).unwrap();
                }
                drop(store);
                let store = world
                    .open(anchored || step == Step::Accept)
                    .unwrap_or_else(|e| panic!("{step:?} killed at {n}: second restart: {e:?}"));
                for k in ["a", "b", "c", "d", "e"] {
                    assert_eq!(
                        store.read(NS, "", k).unwrap(),
                        b"later",
                        "{step:?} killed at {n}, anchored {anchored}: {k}"
                    );
                }
                if !died {
                    completed = true;
                    assert!(n > 0, "{step:?} made no call to kill");
                    eprintln!(
                        "{step:?}, anchored {anchored}, {layout:?}: killed at each of {n} calls"
                    );
                    break;
                }
            }
            assert!(completed, "{step:?} never completed");
        }
    }
}

#[test]
fn lazy_removes_applied_late_raise_no_alarm() {
    for anchored in [false, true] {
        let (fs, a) = (TempFs::new(), TempFs::new());
        let rig = Rig::new(fs.clone());
        rig.late_lazy.store(true, Ordering::SeqCst);
        let store = create_anchored_if(anchored, rig.clone(), &a);
        for k in ["x", "y", "z", "w"] {
            store.write(NS, "", k, b"v".to_vec()).unwrap();
        }
        // Removed lazily: the record stays a few calls longer.
        store.remove(NS, "", "x", true).unwrap();
        assert_eq!(rig.queued_lazy_removes(), 1);
        assert_absent(store.read(NS, "", "x"), NS, "", "x", false);
        let listed = store.list(NS, "").unwrap();
        assert!(listed.iter().any(|k| k == "y"), "{listed:?}");
        if anchored {
            assert!(!listed.iter().any(|k| k == "x"), "{listed:?}");
        }
        for _ in 0..4 {
            assert_absent(store.read(NS, "", "x"), NS, "", "x", false);
            store.list(NS, "").unwrap();
        }
        assert_eq!(rig.queued_lazy_removes(), 0, "applied by now");
        assert_absent(store.read(NS, "", "x"), NS, "", "x", false);

        // A lazy remove then a write of the same key: the remove is applied first (LDK's
        // order), the write wins.
        store.remove(NS, "", "z", true).unwrap();
        store.write(NS, "", "z", b"again".to_vec()).unwrap();
        assert_eq!(store.read(NS, "", "z").unwrap(), b"again");

        // A lazy remove still queued at a restart.
        store.remove(NS, "", "y", true).unwrap();
        drop(store);
        assert_eq!(rig.queued_lazy_removes(), 1);
        let store = open_anchored_if(anchored, rig.clone(), &a);
        for _ in 0..5 {
            match store.read(NS, "", "y") {
                // Without an anchor the restart knows nothing of the remove: a record written
                // before the restart that is still there is served (docs/FORMAT.md, "What the
                // format detects").
                Ok(v) => assert!(!anchored && v == b"v", "{anchored}: {v:?}"),
                Err(e) => assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}"),
            }
            let listed = store.list(NS, "").unwrap();
            assert!(listed.iter().any(|k| k == "w"), "{listed:?}");
            if anchored {
                assert!(!listed.iter().any(|k| k == "y"), "{listed:?}");
            }
        }
        assert_eq!(rig.queued_lazy_removes(), 0);
        assert_absent(store.read(NS, "", "y"), NS, "", "y", false);
        assert_eq!(store.read(NS, "", "z").unwrap(), b"again");
        assert_eq!(store.read(NS, "", "w").unwrap(), b"v");
    }
}

const KEYS: usize = 8;
const ROUNDS: usize = 60;

#[test]
fn a_read_only_instance_beside_the_writer_raises_no_alarm() {
    for anchored in [false, true] {
        let (inner, a) = (TempFs::new(), TempFs::new());
        let writer = create_anchored_if(anchored, inner.clone(), &a);
        let key = |i: usize| format!("k{i}");
        for i in 0..KEYS {
            writer.write(NS, "", &key(i), b"r0".to_vec()).unwrap();
        }
        let reader = open_read_only_anchored_if(anchored, inner.clone(), &a);
        let done = AtomicBool::new(false);
        let served = AtomicUsize::new(0);
        let alarms = std::sync::Mutex::new(Vec::<String>::new());
        std::thread::scope(|s| {
            s.spawn(|| {
                for r in 1..=ROUNDS {
                    for i in 0..KEYS {
                        let k = key(i);
                        writer
                            .write(NS, "", &k, format!("r{r}").into_bytes())
                            .unwrap();
                        match (r + i) % 3 {
                            1 => writer.remove(NS, "", &k, false).unwrap(),
                            2 => writer.remove(NS, "", &k, true).unwrap(),
                            _ => {}
                        }
                    }
                }
                done.store(true, Ordering::SeqCst);
            });
            s.spawn(|| {
                let mut passes = 0;
                while !done.load(Ordering::SeqCst) || passes < 2 {
                    passes += 1;
                    for i in 0..KEYS {
                        match reader.read(NS, "", &key(i)) {
                            Ok(v) => {
                                assert!(v.starts_with(b"r"), "{v:?}");
                                served.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) if e.kind() == ErrorKind::NotFound && !is_alarm(&e) => {}
                            Err(e) => alarms.lock().unwrap().push(format!("read k{i}: {e:?}")),
                        }
                    }
                    if let Err(e) = reader.list(NS, "") {
                        alarms.lock().unwrap().push(format!("list: {e:?}"));
                    }
                }
            });
        });
        let alarms = alarms.into_inner().unwrap();
        assert!(alarms.is_empty(), "anchored {anchored}: {alarms:#?}");
        assert!(
            served.load(Ordering::SeqCst) > 0,
            "anchored {anchored}: the reader never read a value"
        );
        // What the reader sees at the end is what the writer left.
        for i in 0..KEYS {
            let expect = writer.read(NS, "", &key(i));
            let got = reader.read(NS, "", &key(i));
            match (expect, got) {
                (Ok(w), Ok(r)) => assert_eq!(w, r),
                (Err(w), Err(r)) => {
                    assert_eq!(w.kind(), ErrorKind::NotFound);
                    assert_eq!(r.kind(), ErrorKind::NotFound, "{r:?}");
                }
                (w, r) => panic!("anchored {anchored}, k{i}: writer {w:?}, reader {r:?}"),
            }
        }
        let e = reader.write(NS, "", "k0", vec![]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
    }
}

/// A race a read-only instance beside the writer meets, made deterministic. A writer and a
/// read-only reader (anchored) share one `FilesystemStore`; the writer removes `k`; the
/// reader's `call` parks at `op` on `gated` once its inner call has answered (finding `k`
/// gone) and goes on only after the writer has written `k` again (inner record, then anchor
/// entry). Returns what `call` answered; afterwards the reader reads the new value.
fn race_a_remove_and_recreate<T: Send>(
    op: Op,
    gated: Name,
    call: impl FnOnce(&EncryptedStore<Rig>) -> io::Result<T> + Send,
) -> io::Result<T> {
    let (fs, a) = (TempFs::new(), TempFs::new());
    let writer = create_anchored(Layout::Plain, fs.clone(), &a);
    writer.write(NS, "", "k", b"v1".to_vec()).unwrap();
    let rig = Rig::new(fs.clone());
    let reader = open_anchored_read_only(rig.clone(), &a).unwrap();
    assert_eq!(reader.read(NS, "", "k").unwrap(), b"v1");
    writer.remove(NS, "", "k", false).unwrap();
    rig.gate.close_on(op, gated);
    let answer = std::thread::scope(|s| {
        let t = s.spawn(|| call(&reader));
        rig.gate.wait_parked();
        writer.write(NS, "", "k", b"v2".to_vec()).unwrap();
        rig.gate.release();
        t.join().unwrap()
    });
    assert_eq!(reader.read(NS, "", "k").unwrap(), b"v2");
    answer
}

/// The race for `read`: the reader's inner read finds the key gone between the writer's remove
/// and its re-creation, and returns only after the writer has written the key again. The
/// reader's second look at the anchor then finds the new entry while what it found in the
/// inner store is still nothing. docs/FORMAT.md ("Two instances over one inner store")
/// promises no false alarm for one writer and read-only instances with the anchor: the answer
/// must be the key absent (or its new value), never `Missing`.
#[test]
fn a_read_only_read_overlapping_a_remove_and_recreate_raises_no_alarm() {
    let read = race_a_remove_and_recreate(Op::ReadDone, name(NS, "", "k"), |reader| {
        reader.read(NS, "", "k")
    });
    match read {
        Ok(v) => assert_eq!(v, b"v2"),
        Err(e) => assert!(
            e.kind() == ErrorKind::NotFound && !is_alarm(&e),
            "a read overlapping an honest remove and re-create: {e:?}"
        ),
    }
}

/// The same race for `list`: the reader's inner listing misses the key (removed), and returns
/// after the writer re-created it; the listing must not be refused as `ListError::Missing`.
#[test]
fn a_read_only_list_overlapping_a_remove_and_recreate_raises_no_alarm() {
    let listed =
        race_a_remove_and_recreate(Op::ListDone, name(NS, "", ""), |reader| reader.list(NS, ""));
    if let Err(e) = listed {
        panic!("a listing overlapping an honest remove and re-create: {e:?}");
    }
}

/// Which operation of the same instance overlaps a read, and on which side of the read's
/// inner call.
#[derive(Clone, Copy, Debug)]
enum Overlap {
    /// The read is parked before its inner call; the key is removed meanwhile.
    RemoveBefore,
    /// The read found the old record and is parked; the key is removed meanwhile.
    RemoveAfter,
    /// The read is parked before its inner call; the key is written meanwhile.
    WriteBefore,
    /// The read found the old record and is parked; the key is written meanwhile.
    WriteAfter,
    /// The key was removed, the read found nothing and is parked; the key is written again
    /// meanwhile.
    RecreateAfter,
}

/// "Checked against two moments" (docs/FORMAT.md, "The rule"): a read of one instance that
/// overlaps a write or remove of the same key by that instance (LDK reads on one thread while
/// it persists on another) is never an alarm, whichever side of the inner read the other
/// operation falls on; with and without an anchor, for `list` as for `read`, through both
/// traits.
#[test]
fn a_read_overlapping_the_same_instances_write_or_remove_raises_no_alarm() {
    let cases = [
        Overlap::RemoveBefore,
        Overlap::RemoveAfter,
        Overlap::WriteBefore,
        Overlap::WriteAfter,
        Overlap::RecreateAfter,
    ];
    for anchored in [false, true] {
        for case in cases {
            for (listing, through_async) in
                [(false, false), (true, false), (false, true), (true, true)]
            {
                let at =
                    format!("{case:?}, anchored {anchored}, list {listing}, async {through_async}");
                let (fs, a) = (TempFs::new(), TempFs::new());
                let rig = Rig::new(fs.clone());
                let store = create_anchored_if(anchored, rig.clone(), &a);
                store.write(NS, "", "k", b"v1".to_vec()).unwrap();
                store.write(NS, "", "other", b"o".to_vec()).unwrap();
                if matches!(case, Overlap::RecreateAfter) {
                    store.remove(NS, "", "k", false).unwrap();
                }
                let before_inner = matches!(case, Overlap::RemoveBefore | Overlap::WriteBefore);
                let (op, gated) = match (listing, before_inner) {
                    (false, true) => (Op::Read, name(NS, "", "k")),
                    (false, false) => (Op::ReadDone, name(NS, "", "k")),
                    (true, true) => (Op::List, name(NS, "", "")),
                    (true, false) => (Op::ListDone, name(NS, "", "")),
                };
                rig.gate.close_on(op, gated);
                let (read, listed) = std::thread::scope(|s| {
                    let t = s.spawn(|| {
                        if through_async {
                            let ops = AsyncOps::new(&store);
                            if listing {
                                (None, Some(ops.list(NS, "")))
                            } else {
                                (Some(ops.read(NS, "", "k")), None)
                            }
                        } else if listing {
                            (None, Some(store.list(NS, "")))
                        } else {
                            (Some(store.read(NS, "", "k")), None)
                        }
                    });
                    rig.gate.wait_parked();
                    let other = s.spawn(|| match case {
                        Overlap::RemoveBefore | Overlap::RemoveAfter => {
                            store.remove(NS, "", "k", false)
                        }
                        _ => store.write(NS, "", "k", b"v2".to_vec()),
                    });
                    let mut waited = 0;
                    while !other.is_finished() && waited < 1000 {
                        std::thread::sleep(std::time::Duration::from_millis(10));
                        waited += 1;
                    }
                    let finished = other.is_finished();
                    rig.gate.release();
                    assert!(finished, "{at}: the write or remove waited for the read");
                    other.join().unwrap().unwrap();
                    t.join().unwrap()
                });
                if let Some(read) = read {
                    match read {
                        Ok(v) => assert!(v == b"v1" || v == b"v2", "{at}: {v:?}"),
                        Err(e) => assert!(
                            e.kind() == ErrorKind::NotFound && !is_alarm(&e),
                            "{at}: {e:?}"
                        ),
                    }
                }
                if let Some(listed) = listed {
                    let listed = listed.unwrap_or_else(|e| panic!("{at}: {e:?}"));
                    assert!(listed.iter().any(|k| k == "other"), "{at}: {listed:?}");
                }
                // Afterwards the key reads as the operation left it.
                match case {
                    Overlap::RemoveBefore | Overlap::RemoveAfter => {
                        assert_absent(store.read(NS, "", "k"), NS, "", "k", false);
                    }
                    _ => assert_eq!(store.read(NS, "", "k").unwrap(), b"v2", "{at}"),
                }
            }
        }
    }
}

/// A read-only instance opened before the writer rotated its data key reads the records the
/// writer seals under the new key afterwards: "any number of `read_only()` instances may run
/// beside the writer" (README) and one writer with read-only instances raises no false alarm
/// (docs/FORMAT.md, "Two instances over one inner store"); a rotation by the writer is honest
/// use.
#[test]
fn a_read_only_instance_reads_records_sealed_after_the_writers_rotation() {
    let mut failures = Vec::new();
    for anchored in [false, true] {
        let (inner, a) = (TempFs::new(), TempFs::new());
        let writer = create_anchored_if(anchored, inner.clone(), &a);
        writer.write(NS, "", "k", b"before".to_vec()).unwrap();
        let reader = open_read_only_anchored_if(anchored, inner.clone(), &a);
        assert_eq!(reader.read(NS, "", "k").unwrap(), b"before");
        writer.rotate_data_key::<V>().unwrap();
        writer.write(NS, "", "k", b"after".to_vec()).unwrap();
        match reader.read(NS, "", "k") {
            Ok(v) => assert_eq!(v, b"after", "anchored {anchored}"),
            Err(e) => failures.push(format!("anchored {anchored}: {e:?}")),
        }
    }
    assert!(
        failures.is_empty(),
        "a record sealed under the writer's new key, read by a read-only instance: {failures:#?}"
    );
}
