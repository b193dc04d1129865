//! With a streaming standby: a read-only store on the standby reads what the primary's writer
//! wrote; a writable store refuses the standby; and a primary crashed in the middle of a stream
//! of writes loses none that returned `Ok`.

// Helpers outside #[test] functions fail the test as the tests themselves do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bitcoin::io::ErrorKind;
use common::typed;
use encrypted_kvstore_postgres::test_support::{pg_env, runtime, unique_table, PrivateCluster};
use encrypted_kvstore_postgres::{PostgresError, PostgresOptions, PostgresStore};

#[cfg(feature = "lightning-0-2")]
use lightning::util::persist::KVStoreSync;
#[cfg(all(feature = "lightning-0-3", not(feature = "lightning-0-2")))]
use lightning_0_3::util::persist::KVStoreSync;

fn value_of(i: u32) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    v.extend((0..(i % 97) * 13).map(|j| (i ^ j) as u8));
    v
}

#[test]
fn a_read_only_store_on_the_standby_reads_what_the_primary_wrote() {
    let Some(env) =
        pg_env("replication::a_read_only_store_on_the_standby_reads_what_the_primary_wrote")
    else {
        return;
    };
    let rt = runtime();
    let table = unique_table("standby");
    let writer = PostgresOptions::new()
        .table(&table)
        .connect(&env.primary, rt.handle().clone())
        .unwrap();
    for i in 0..20 {
        KVStoreSync::write(&writer, "monitors", "", &format!("k{i}"), value_of(i)).unwrap();
    }
    KVStoreSync::write(&writer, "big", "s", "k", vec![7; 1 << 20]).unwrap();
    KVStoreSync::remove(&writer, "monitors", "", "k3", false).unwrap();
    env.wait_standby();

    let reader = PostgresOptions::new()
        .table(&table)
        .read_only()
        .connect(&env.standby, rt.handle().clone())
        .unwrap();
    let mut keys = KVStoreSync::list(&reader, "monitors", "").unwrap();
    keys.sort();
    let mut expected: Vec<String> = (0..20)
        .filter(|&i| i != 3)
        .map(|i| format!("k{i}"))
        .collect();
    expected.sort();
    assert_eq!(keys, expected);
    for i in (0..20).filter(|&i| i != 3) {
        assert_eq!(
            KVStoreSync::read(&reader, "monitors", "", &format!("k{i}")).unwrap(),
            value_of(i)
        );
    }
    assert_eq!(
        KVStoreSync::read(&reader, "big", "s", "k").unwrap(),
        vec![7; 1 << 20]
    );
    assert_eq!(
        KVStoreSync::read(&reader, "monitors", "", "k3")
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );

    // A writer is refused on the standby, before it takes any lock.
    let err = PostgresOptions::new()
        .table(&table)
        .connect(&env.standby, rt.handle().clone())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(
        matches!(typed(&err), PostgresError::StandbyServer),
        "{err:?}"
    );
    drop((writer, reader));
    common::drop_table(&rt, &env.primary, &table);
}

/// Waits up to `secs` for `cond`.
fn wait_until(secs: u64, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_crashed_primary_loses_no_acknowledged_write() {
    let Some(cluster) =
        PrivateCluster::start("replication::a_crashed_primary_loses_no_acknowledged_write")
    else {
        return;
    };
    let rt = runtime();
    let store = Arc::new(PostgresStore::connect(&cluster.primary, rt.handle().clone()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::<u32>::new()));
    let failures = Arc::new(AtomicU32::new(0));
    // One writer thread, as LDK's background persistence would be: key k<i> = value_of(i), and
    // "latest" = i after each.
    let writer = {
        let (store, stop, acked, failures) =
            (store.clone(), stop.clone(), acked.clone(), failures.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let ok = KVStoreSync::write(&*store, "stream", "", &format!("k{i}"), value_of(i))
                    .is_ok()
                    && KVStoreSync::write(
                        &*store,
                        "stream",
                        "",
                        "latest",
                        i.to_be_bytes().to_vec(),
                    )
                    .is_ok();
                if ok {
                    acked.lock().unwrap().push(i);
                } else {
                    failures.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                }
                i += 1;
            }
        })
    };
    let count = || acked.lock().unwrap().len();
    wait_until(60, "100 acknowledged writes", || count() >= 100);
    cluster.kill_primary();
    let at_kill = count();
    wait_until(30, "a failed write", || failures.load(Ordering::SeqCst) > 0);
    cluster.start_primary();
    wait_until(60, "100 more acknowledged writes after the restart", || {
        count() >= at_kill + 100
    });
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();

    let acked = acked.lock().unwrap().clone();
    let last = *acked.last().unwrap();
    for &i in &acked {
        assert_eq!(
            KVStoreSync::read(&*store, "stream", "", &format!("k{i}")).unwrap(),
            value_of(i),
            "k{i}"
        );
    }
    let latest = KVStoreSync::read(&*store, "stream", "", "latest").unwrap();
    let latest = u32::from_be_bytes(latest.try_into().unwrap());
    // A write that failed may or may not have landed; none older than the last acknowledged.
    assert!(latest >= last, "latest {latest} < last acknowledged {last}");
    // The store took its lock again on the restarted primary.
    let err = PostgresStore::connect(&cluster.primary, rt.handle().clone()).unwrap_err();
    assert!(
        matches!(typed(&err), PostgresError::Locked { .. }),
        "{err:?}"
    );
    eprintln!(
        "crash test: {} acknowledged writes ({} before the crash), {} failed during the outage",
        acked.len(),
        at_kill,
        failures.load(Ordering::SeqCst)
    );
}

/// The port of a `postgresql://user@127.0.0.1:PORT/db` URL.
fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// With both servers in the URL and `target_session_attrs=read-write`, a writer whose primary
/// crashed and whose standby was promoted reconnects to the new primary on its next request,
/// takes the lock there, and finds what it had written (replicated before the crash).
#[test]
fn a_writer_listing_both_servers_follows_a_promotion() {
    let Some(cluster) =
        PrivateCluster::start("replication::a_writer_listing_both_servers_follows_a_promotion")
    else {
        return;
    };
    let rt = runtime();
    let url = format!(
        "postgresql://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        port_of(&cluster.primary),
        port_of(&cluster.standby)
    );
    let store = PostgresStore::connect(&url, rt.handle().clone()).unwrap();
    for i in 0..10 {
        KVStoreSync::write(&store, "m", "", &format!("k{i}"), value_of(i)).unwrap();
    }
    cluster.wait_standby();
    cluster.kill_primary();
    cluster.promote();

    let mut failures = 0;
    while let Err(err) = KVStoreSync::write(&store, "m", "", "after", b"promoted".to_vec()) {
        failures += 1;
        assert!(
            failures <= 1,
            "the next request must reach the promoted standby: {err}"
        );
    }
    for i in 0..10 {
        assert_eq!(
            KVStoreSync::read(&store, "m", "", &format!("k{i}")).unwrap(),
            value_of(i)
        );
    }
    // The store holds the lock on the new primary.
    let err = PostgresStore::connect(&url, rt.handle().clone()).unwrap_err();
    assert!(
        matches!(typed(&err), PostgresError::Locked { .. }),
        "{err:?}"
    );
    let reader = PostgresOptions::new()
        .read_only()
        .connect(&cluster.standby, rt.handle().clone())
        .unwrap();
    assert_eq!(
        KVStoreSync::read(&reader, "m", "", "after").unwrap(),
        b"promoted"
    );
}
