//! Property 8. Rotation loses nothing (docs/FORMAT.md, "Data-key rotation", "Changing the
//! passphrase or key"):
//!
//! - `reencrypt` over a store whose inner store is asynchronous (LDK's `FilesystemStore`
//!   through its async trait on tokio's blocking pool), with the application writing the same
//!   keys through `KVStore` during the pass: afterwards every key holds the application's
//!   latest value. Shown with a write made while the pass's read of the key is parked, with a
//!   write still in flight when the pass reads the key, and under a free-running race;
//! - nor does it bring back a key the application removed while the pass read it;
//! - `retire_old_keys` waits for a write sealed under the old key that is still in flight,
//!   and never leaves that record without its key;
//! - a write future dropped before it completed leaves nothing in flight;
//! - `rekey` to a passphrase or to a raw key: the old credential no longer opens, the header
//!   from before the rekey put back is `HeaderRolledBack` (anchored), and new writes are sealed
//!   under the new key; and so is every older header (before a passphrase change, a rotation,
//!   a retirement).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use super::support::{
    anchor, create_anchored, create_anchored_if, key_id_of, name, open_anchored_if,
    open_anchored_refused, put_stored_header, stored_header, write_located, Layout, Op, Rig,
};
use super::v::{ldk, TempFs, V};
use crate::common::{cheap, Xorshift, PASSPHRASE};
use encrypted_kvstore::{Credential, EncryptedStore, OpenError, OpenOptions, RotateError};
use ldk::io;
use ldk::util::persist::KVStoreSync;

const NS: &str = "monitors";

type Store = EncryptedStore<Rig>;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An async write through the store's `KVStore`, run to completion on `rt`.
fn write_async(rt: &tokio::runtime::Runtime, store: &Store, k: &str, v: &[u8]) -> io::Result<()> {
    let fut = ldk::util::persist::KVStore::write(store, NS, "", k, v.to_vec());
    rt.block_on(fut)
}

/// Runs `f` on a new thread and waits at most `secs` for it.
fn bounded<T: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(secs))
        .unwrap_or_else(|_| panic!("{what} did not return within {secs} s"))
}

fn store_over(rig: &Rig, anchored: bool, a: &TempFs) -> Arc<Store> {
    Arc::new(create_anchored_if(anchored, rig.clone(), a))
}

/// Opens the anchored store in `inner` with its anchor in `a` and `cred`, writable.
fn open_with(
    inner: &TempFs,
    a: &TempFs,
    cred: Credential<'_>,
) -> Result<EncryptedStore<TempFs>, OpenError> {
    OpenOptions::new()
        .anchor(anchor(a))
        .open::<V, _>(inner.clone(), cred)
}

fn record_key_id(rig: &Rig, k: &str) -> u32 {
    key_id_of(&KVStoreSync::read(&rig.fs, NS, "", k).unwrap())
}

#[test]
fn reencrypt_never_overwrites_a_write_made_while_it_read_the_key() {
    for anchored in [false, true] {
        let (rig, a) = (Rig::new(TempFs::new()), TempFs::new());
        let store = store_over(&rig, anchored, &a);
        for k in ["x", "y", "z"] {
            store.write(NS, "", k, b"old".to_vec()).unwrap();
        }
        let new_id = store.rotate_data_key::<V>().unwrap();

        // The pass has read x (the old record) and is parked before it goes on; the
        // application writes x meanwhile.
        rig.gate.close_on(Op::ReadDone, name(NS, "", "x"));
        let pass = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || store.reencrypt::<V>(|_| {}))
        };
        rig.gate.wait_parked();
        {
            let store = Arc::clone(&store);
            bounded(20, "the application's write", move || {
                write_async(&runtime(), &store, "x", b"application")
            })
            .unwrap();
        }
        rig.gate.release();
        pass.join().unwrap().unwrap();
        assert_eq!(
            store.read(NS, "", "x").unwrap(),
            b"application",
            "anchored {anchored}: the pass wrote back the value it read"
        );
        for k in ["y", "z"] {
            assert_eq!(store.read(NS, "", k).unwrap(), b"old");
            assert_eq!(record_key_id(&rig, k), new_id);
        }
        assert_eq!(record_key_id(&rig, "x"), new_id);
        store.retire_old_keys::<V>().unwrap();
        assert_eq!(store.read(NS, "", "x").unwrap(), b"application");
    }
}

#[test]
fn reencrypt_never_overwrites_a_write_in_flight_when_it_reads_the_key() {
    for anchored in [false, true] {
        let (rig, a) = (Rig::new(TempFs::new()), TempFs::new());
        let store = store_over(&rig, anchored, &a);
        for k in ["x", "y"] {
            store.write(NS, "", k, b"old".to_vec()).unwrap();
        }
        let new_id = store.rotate_data_key::<V>().unwrap();

        // The application's write of x is in flight (parked in the inner store, sealed under
        // the new key) while the pass runs.
        rig.gate.close_on(Op::Write, name(NS, "", "x"));
        let app = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || write_async(&runtime(), &store, "x", b"application"))
        };
        rig.gate.wait_parked();
        let pass = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || store.reencrypt::<V>(|_| {}))
        };
        // Let the pass run to its end (or for two seconds, should it wait for the write).
        for _ in 0..200 {
            if pass.is_finished() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        rig.gate.release();
        app.join().unwrap().unwrap();
        pass.join().unwrap().unwrap();
        assert_eq!(
            store.read(NS, "", "x").unwrap(),
            b"application",
            "anchored {anchored}: the pass overwrote a write in flight"
        );
        assert_eq!(record_key_id(&rig, "x"), new_id);
        assert_eq!(store.read(NS, "", "y").unwrap(), b"old");
        store.retire_old_keys::<V>().unwrap();
        drop(store);
        // After a restart too.
        let store = open_anchored_if(anchored, rig.clone(), &a);
        assert_eq!(store.read(NS, "", "x").unwrap(), b"application");
    }
}

#[test]
fn reencrypt_racing_async_writes_keeps_every_latest_value() {
    const KEYS: usize = 16;
    for anchored in [false, true] {
        let (rig, a) = (Rig::new(TempFs::new()), TempFs::new());
        let store = store_over(&rig, anchored, &a);
        let key = |i: usize| format!("k{i:02}");
        for i in 0..KEYS {
            store.write(NS, "", &key(i), b"v0".to_vec()).unwrap();
        }
        // Slow reads, so the pass and the writes overlap.
        rig.read_delay_us.store(3_000, Ordering::SeqCst);
        let mut latest: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        for pass_no in 0..3 {
            store.rotate_data_key::<V>().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let writer = {
                let (store, stop) = (Arc::clone(&store), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let rt = runtime();
                    let mut rng = Xorshift(0x0d0e + pass_no);
                    let mut last = BTreeMap::new();
                    let mut n = 0u64;
                    while !stop.load(Ordering::SeqCst) || n < 20 {
                        n += 1;
                        let k = key(rng.below(KEYS as u64) as usize);
                        let v = format!("pass {pass_no} write {n}").into_bytes();
                        write_async(&rt, &store, &k, &v).unwrap();
                        last.insert(k, v);
                    }
                    last
                })
            };
            let progress = store.reencrypt::<V>(|_| {}).unwrap();
            assert_eq!(progress.total, KEYS);
            stop.store(true, Ordering::SeqCst);
            latest.extend(writer.join().unwrap());
            for i in 0..KEYS {
                let k = key(i);
                let want = latest.get(&k).cloned().unwrap_or_else(|| b"v0".to_vec());
                assert_eq!(
                    store.read(NS, "", &k).unwrap(),
                    want,
                    "anchored {anchored}, pass {pass_no}: {k} lost the application's write"
                );
            }
            store.retire_old_keys::<V>().unwrap();
        }
    }
}

#[test]
fn retire_waits_for_an_old_key_write_in_flight() {
    for anchored in [false, true] {
        let (rig, a) = (Rig::new(TempFs::new()), TempFs::new());
        let store = store_over(&rig, anchored, &a);
        store.write(NS, "", "x", b"old".to_vec()).unwrap();
        store.write(NS, "", "w", b"old".to_vec()).unwrap();
        let old_id = store.info().key_id;

        // A write of x sealed under the current (soon old) key, parked in the inner store.
        rig.gate.close_on(Op::Write, name(NS, "", "x"));
        let app = {
            let store = Arc::clone(&store);
            std::thread::spawn(move || write_async(&runtime(), &store, "x", b"in flight"))
        };
        rig.gate.wait_parked();
        let new_id = store.rotate_data_key::<V>().unwrap();
        {
            let store = Arc::clone(&store);
            bounded(20, "reencrypt", move || store.reencrypt::<V>(|_| {})).unwrap();
        }

        let released = Arc::new(AtomicBool::new(false));
        let retire = {
            let (store, released) = (Arc::clone(&store), Arc::clone(&released));
            std::thread::spawn(move || {
                let r = store.retire_old_keys::<V>();
                (r, released.load(Ordering::SeqCst))
            })
        };
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            !retire.is_finished(),
            "anchored {anchored}: retire_old_keys did not wait for the write in flight"
        );
        released.store(true, Ordering::SeqCst);
        rig.gate.release();
        app.join().unwrap().unwrap();
        let (r, after_release) = retire.join().unwrap();
        assert!(after_release, "anchored {anchored}: retire returned early");
        // The write landed under the old key: the verification names it, nothing is retired.
        match r {
            Err(RotateError::NotReencrypted { key, key_id, .. }) => {
                assert_eq!((key.as_str(), key_id), ("x", old_id), "anchored {anchored}");
            }
            other => panic!("anchored {anchored}: {other:?}"),
        }
        assert_eq!(record_key_id(&rig, "x"), old_id);
        assert_eq!(store.read(NS, "", "x").unwrap(), b"in flight");
        // The documented way on: re-encrypt again, then retire.
        store.reencrypt::<V>(|_| {}).unwrap();
        store.retire_old_keys::<V>().unwrap();
        assert_eq!(store.info().key_ids, [new_id]);
        assert_eq!(store.read(NS, "", "x").unwrap(), b"in flight");
        assert_eq!(store.read(NS, "", "w").unwrap(), b"old");
    }
}

#[test]
fn rekey_passphrase_shuts_out_the_old_credential_and_its_header() {
    const NEW: &[u8] = b"the new passphrase after a compromise";
    for layout in Layout::BOTH {
        let (inner, a) = (TempFs::new(), TempFs::new());
        let store = create_anchored(layout, inner.clone(), &a);
        let (m1_at, m1_old) = write_located(&store, NS, "", "m1", b"before");
        let old_id = store.info().key_id;
        let before = stored_header(&inner);

        let new_id = store
            .rekey::<V>(Credential::passphrase_with(NEW, cheap()))
            .unwrap();
        assert!(new_id > old_id, "{layout:?}");
        let info = store.info();
        assert_eq!(info.key_id, new_id);
        assert_eq!(info.key_ids, [old_id, new_id]);
        assert_eq!(EncryptedStore::inspect::<V>(&inner).unwrap().key_id, new_id);
        let (_, m2) = write_located(&store, NS, "", "m2", b"after");
        assert_eq!(
            key_id_of(&m2),
            new_id,
            "{layout:?}: a new write is sealed under the new key"
        );
        assert_eq!(key_id_of(&m1_old), old_id);
        store.reencrypt::<V>(|_| {}).unwrap();
        let m1_now = KVStoreSync::read(&inner, &m1_at.0, &m1_at.1, &m1_at.2).unwrap();
        assert_eq!(key_id_of(&m1_now), new_id);
        store.retire_old_keys::<V>().unwrap();
        drop(store);

        let open = |pass: &[u8]| open_with(&inner, &a, Credential::passphrase(pass));
        assert!(
            matches!(open(PASSPHRASE), Err(OpenError::WrongPassphrase)),
            "{layout:?}"
        );
        let store = open(NEW).unwrap();
        assert_eq!(store.read(NS, "", "m1").unwrap(), b"before");
        assert_eq!(store.read(NS, "", "m2").unwrap(), b"after");
        drop(store);

        let after = stored_header(&inner);
        // The header from before the rekey, put back: it opens with the old passphrase as far
        // as the credential goes, and the anchor refuses it.
        put_stored_header(&inner, before);
        for (mode, e) in open_anchored_refused(&inner, &a) {
            assert!(
                matches!(e, OpenError::HeaderRolledBack { .. }),
                "{layout:?}, {mode}: {e:?}"
            );
        }
        let e = EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE))
            .unwrap_err();
        assert!(matches!(e, OpenError::AnchorRequired), "{layout:?}: {e:?}");

        put_stored_header(&inner, after);
        let store = open(NEW).unwrap();
        assert_eq!(store.read(NS, "", "m1").unwrap(), b"before");
    }
}

/// A write future dropped before it completed counts as a failed write (docs/FORMAT.md,
/// "Updates"): it leaves nothing in flight, so retirement is not held up by it, and nothing
/// raises an alarm.
#[test]
fn a_dropped_async_write_neither_holds_up_retirement_nor_raises_an_alarm() {
    for anchored in [false, true] {
        let (rig, a) = (Rig::new(TempFs::new()), TempFs::new());
        let store = store_over(&rig, anchored, &a);
        store.write(NS, "", "x", b"old".to_vec()).unwrap();
        // Issued under the current key, never polled.
        let fut = ldk::util::persist::KVStore::write(&*store, NS, "", "x", b"dropped".to_vec());
        drop(fut);
        assert_eq!(store.read(NS, "", "x").unwrap(), b"old");
        store.rotate_data_key::<V>().unwrap();
        let done = {
            let store = Arc::clone(&store);
            bounded(45, "reencrypt and retire", move || {
                store.reencrypt::<V>(|_| {})?;
                store.retire_old_keys::<V>()
            })
        };
        done.unwrap_or_else(|e| panic!("anchored {anchored}: {e:?}"));
        assert_eq!(store.read(NS, "", "x").unwrap(), b"old");
        store.write(NS, "", "x", b"new".to_vec()).unwrap();
        let store = Arc::into_inner(store).unwrap();
        drop(store);
        let store = open_anchored_if(anchored, rig.clone(), &a);
        assert_eq!(store.read(NS, "", "x").unwrap(), b"new");
    }
}

/// Anchored, every older header put back is refused at open with `HeaderRolledBack`, whatever
/// changed since: a passphrase change (a compromised credential), a rotation, a retirement (a
/// retired key current again), a plain restart; each opened with the credential that unlocks
/// it, so the refusal comes from the anchor and not from the credential.
#[test]
fn every_older_header_put_back_is_refused_with_an_anchor() {
    const SECOND: &[u8] = b"the second passphrase";
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create_anchored(Layout::Plain, inner.clone(), &a);
    store.write(NS, "", "m1", b"one".to_vec()).unwrap();
    let mut older: Vec<(&str, Vec<u8>, &[u8])> =
        vec![("created", stored_header(&inner), PASSPHRASE)];
    store
        .change_credential::<V>(Credential::passphrase_with(SECOND, cheap()))
        .unwrap();
    older.push(("passphrase changed", stored_header(&inner), SECOND));
    store.rotate_data_key::<V>().unwrap();
    older.push(("rotated", stored_header(&inner), SECOND));
    store.reencrypt::<V>(|_| {}).unwrap();
    store.retire_old_keys::<V>().unwrap();
    older.push(("retired", stored_header(&inner), SECOND));
    drop(store);
    let store = open_with(&inner, &a, Credential::passphrase(SECOND)).unwrap();
    older.push(("reopened", stored_header(&inner), SECOND));
    store.write(NS, "", "m1", b"two".to_vec()).unwrap();
    drop(store);
    // One more restart: its reservation makes the header above newer than the store's.
    drop(open_with(&inner, &a, Credential::passphrase(SECOND)).unwrap());
    let current = stored_header(&inner);
    let seq = |h: &[u8]| {
        let t = TempFs::new();
        put_stored_header(&t, h.to_vec());
        EncryptedStore::inspect::<V>(&t).unwrap().header_seq
    };
    let now = seq(&current);
    for (what, h, pass) in &older {
        let then = seq(h);
        put_stored_header(&inner, h.clone());
        let e = open_with(&inner, &a, Credential::passphrase(pass)).unwrap_err();
        assert!(
            matches!(e, OpenError::HeaderRolledBack { header_seq, anchor_header_seq }
                if header_seq == then && anchor_header_seq == now),
            "{what}: {e:?}"
        );
    }
    put_stored_header(&inner, current);
    let store = open_with(&inner, &a, Credential::passphrase(SECOND)).unwrap();
    assert_eq!(store.read(NS, "", "m1").unwrap(), b"two");
}

/// `rekey` to a raw key: the same recovery. Afterwards the passphrase no longer opens
/// (`RawKeyRequired`), the raw key does, new writes are sealed under the new data key, and the
/// header from before the rekey put back is `HeaderRolledBack` (anchored).
#[test]
fn rekey_key_shuts_out_the_passphrase_and_its_header() {
    use encrypted_kvstore::RawKey;
    let key = RawKey::from_bytes([0x42; 32]);
    let (inner, a) = (TempFs::new(), TempFs::new());
    let store = create_anchored(Layout::Plain, inner.clone(), &a);
    store.write(NS, "", "m1", b"before".to_vec()).unwrap();
    let old_id = store.info().key_id;
    let before = stored_header(&inner);
    let new_id = store.rekey::<V>(Credential::raw_key(&key)).unwrap();
    assert!(new_id > old_id);
    let (_, m2) = write_located(&store, NS, "", "m2", b"after");
    assert_eq!(key_id_of(&m2), new_id);
    drop(store);

    let e = open_with(&inner, &a, Credential::passphrase(PASSPHRASE)).unwrap_err();
    assert!(matches!(e, OpenError::RawKeyRequired), "{e:?}");
    let store = open_with(&inner, &a, Credential::raw_key(&key)).unwrap();
    assert_eq!(store.read(NS, "", "m1").unwrap(), b"before");
    assert_eq!(store.read(NS, "", "m2").unwrap(), b"after");
    drop(store);
    let after = stored_header(&inner);
    put_stored_header(&inner, before);
    let e = open_with(&inner, &a, Credential::passphrase(PASSPHRASE)).unwrap_err();
    assert!(matches!(e, OpenError::HeaderRolledBack { .. }), "{e:?}");
    put_stored_header(&inner, after);
    open_with(&inner, &a, Credential::raw_key(&key)).unwrap();
}

/// The pass never brings back a key the application removed while the pass was reading it:
/// the write back would resurrect a removed value (and, anchored, re-enter it in the anchor).
/// Hard and lazy removes, through both traits, with and without an anchor; checked while open
/// and after a restart.
#[test]
fn reencrypt_never_resurrects_a_key_removed_while_it_read_it() {
    for anchored in [false, true] {
        for (lazy, through_async) in [(false, false), (true, false), (false, true), (true, true)] {
            let at = format!("anchored {anchored}, lazy {lazy}, async {through_async}");
            let (rig, a) = (Rig::new(TempFs::new()), TempFs::new());
            let store = store_over(&rig, anchored, &a);
            for k in ["x", "y"] {
                store.write(NS, "", k, b"old".to_vec()).unwrap();
            }
            store.rotate_data_key::<V>().unwrap();
            rig.gate.close_on(Op::ReadDone, name(NS, "", "x"));
            let pass = {
                let store = Arc::clone(&store);
                std::thread::spawn(move || store.reencrypt::<V>(|_| {}))
            };
            rig.gate.wait_parked();
            // The remove may wait for the pass's read of x to finish (a sync remove takes the
            // key's lock); it is let through after a moment either way.
            let remove = {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    if through_async {
                        let fut = ldk::util::persist::KVStore::remove(&*store, NS, "", "x", lazy);
                        runtime().block_on(fut)
                    } else {
                        store.remove(NS, "", "x", lazy)
                    }
                })
            };
            std::thread::sleep(Duration::from_millis(300));
            rig.gate.release();
            remove.join().unwrap().unwrap();
            pass.join().unwrap().unwrap();
            let r = store.read(NS, "", "x");
            assert!(
                matches!(&r, Err(e) if e.kind() == io::ErrorKind::NotFound),
                "{at}: the pass brought x back: {r:?}"
            );
            assert!(
                KVStoreSync::read(&rig.fs, NS, "", "x").is_err(),
                "{at}: a record of x is in the inner store again"
            );
            store.retire_old_keys::<V>().unwrap();
            let store = Arc::into_inner(store).unwrap();
            drop(store);
            let store = open_anchored_if(anchored, rig.clone(), &a);
            let r = store.read(NS, "", "x");
            assert!(
                matches!(&r, Err(e) if e.kind() == io::ErrorKind::NotFound),
                "{at}: after a restart: {r:?}"
            );
            assert_eq!(store.read(NS, "", "y").unwrap(), b"old");
        }
    }
}
