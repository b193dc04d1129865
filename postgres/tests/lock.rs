//! One writer per table: the advisory lock refuses a second writer, allows readers, goes away
//! with the first writer's store or its backend; a lost connection is re-opened with the lock
//! re-taken; a lock taken by another meanwhile locks the store out for good. Also what
//! `connect` refuses, and that a password in the URL is never printed.

// Helpers outside #[test] functions fail the test as the tests themselves do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::io::ErrorKind;
use common::{named, terminate, typed};
use encrypted_kvstore_postgres::test_support::{pg_env, runtime, unique_table};
use encrypted_kvstore_postgres::{PostgresError, PostgresOptions, PostgresStore};

#[cfg(feature = "lightning-0-2")]
use lightning::util::persist::KVStoreSync;
#[cfg(all(feature = "lightning-0-3", not(feature = "lightning-0-2")))]
use lightning_0_3::util::persist::KVStoreSync;

fn writer(
    url: &str,
    table: &str,
    rt: &tokio::runtime::Runtime,
) -> Result<PostgresStore, bitcoin::io::Error> {
    PostgresOptions::new()
        .table(table)
        .connect(url, rt.handle().clone())
}

fn assert_locked(err: &bitcoin::io::Error, table: &str) {
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    match typed(err) {
        PostgresError::Locked { table: t, database } => {
            assert_eq!(t, table);
            assert_eq!(database, "postgres");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(
        err.to_string().contains(table),
        "the message names the table: {err}"
    );
}

/// Retries `f` for up to 10 s while it fails (a terminated backend leaves a moment later).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Result<T, bitcoin::io::Error>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("{what}: still failing after 10 s: {e}"),
        }
    }
}

#[test]
fn second_writer_refused_readers_allowed_lock_released_on_drop() {
    let Some(env) = pg_env("lock::second_writer_refused_readers_allowed_lock_released_on_drop")
    else {
        return;
    };
    let rt = runtime();
    let table = unique_table("lock");
    let first = writer(&env.primary, &table, &rt).unwrap();
    KVStoreSync::write(&first, "p", "", "k", b"first".to_vec()).unwrap();

    let err = writer(&env.primary, &table, &rt).unwrap_err();
    assert_locked(&err, &table);
    // Readers take no lock; another table has its own lock.
    let reader = PostgresOptions::new()
        .table(&table)
        .read_only()
        .connect(&env.primary, rt.handle().clone())
        .unwrap();
    assert_eq!(KVStoreSync::read(&reader, "p", "", "k").unwrap(), b"first");
    let other_table = unique_table("lock_other");
    let other = writer(&env.primary, &other_table, &rt).unwrap();
    // The first writer is unaffected.
    KVStoreSync::write(&first, "p", "", "k", b"still".to_vec()).unwrap();

    // Dropping the store closes its session before drop returns: the next writer gets in at once.
    drop(first);
    let second = writer(&env.primary, &table, &rt).unwrap();
    assert_eq!(KVStoreSync::read(&second, "p", "", "k").unwrap(), b"still");
    drop((second, reader, other));
    common::drop_table(&rt, &env.primary, &table);
    common::drop_table(&rt, &env.primary, &other_table);
}

#[test]
fn lock_goes_with_a_terminated_backend_and_the_old_store_stays_locked_out() {
    let Some(env) =
        pg_env("lock::lock_goes_with_a_terminated_backend_and_the_old_store_stays_locked_out")
    else {
        return;
    };
    let rt = runtime();
    let table = unique_table("lock_kill");
    let app = format!("ekv_{table}");
    let first = writer(&named(&env.primary, &app), &table, &rt).unwrap();
    KVStoreSync::write(&first, "p", "", "k", b"first".to_vec()).unwrap();
    assert_locked(&writer(&env.primary, &table, &rt).unwrap_err(), &table);

    assert_eq!(terminate(&rt, &env, &app), 1);
    // The server released the lock with the session.
    let second = eventually(
        "a writer after the first one's backend was terminated",
        || writer(&env.primary, &table, &rt),
    );
    KVStoreSync::write(&second, "p", "", "k", b"second".to_vec()).unwrap();

    // The first store reconnects, finds the lock taken, and is locked out: at most one request
    // sees the lost connection first, then every request is Locked, also once the lock is free.
    let mut lost = 0;
    let err = loop {
        let err = KVStoreSync::write(&first, "p", "", "k", b"stale".to_vec()).unwrap_err();
        if matches!(typed(&err), PostgresError::Locked { .. }) {
            break err;
        }
        lost += 1;
        assert!(
            lost <= 1,
            "expected Locked after one lost request, got {err}"
        );
    };
    assert_locked(&err, &table);
    drop(second);
    for _ in 0..3 {
        assert_locked(
            &KVStoreSync::read(&first, "p", "", "k").unwrap_err(),
            &table,
        );
        assert_locked(
            &KVStoreSync::write(&first, "p", "", "k", b"stale".to_vec()).unwrap_err(),
            &table,
        );
    }
    let check = PostgresOptions::new()
        .table(&table)
        .read_only()
        .connect(&env.primary, rt.handle().clone())
        .unwrap();
    assert_eq!(KVStoreSync::read(&check, "p", "", "k").unwrap(), b"second");
    drop((first, check));
    common::drop_table(&rt, &env.primary, &table);
}

#[test]
fn reconnects_after_the_connection_is_killed_and_retakes_the_lock() {
    let Some(env) = pg_env("lock::reconnects_after_the_connection_is_killed_and_retakes_the_lock")
    else {
        return;
    };
    let rt = runtime();
    let table = unique_table("lock_reconnect");
    let app = format!("ekv_{table}");
    let store = writer(&named(&env.primary, &app), &table, &rt).unwrap();
    KVStoreSync::write(&store, "p", "", "k", b"before".to_vec()).unwrap();

    for round in 0..3 {
        assert_eq!(terminate(&rt, &env, &app), 1, "round {round}");
        // The request that meets the dead connection may fail (its effect unknown); the next
        // ones reconnect.
        let mut failures = 0;
        let value = format!("after-{round}").into_bytes();
        while let Err(err) = KVStoreSync::write(&store, "p", "", "k", value.clone()) {
            assert!(
                matches!(
                    typed(&err),
                    PostgresError::ConnectionLost { .. } | PostgresError::Database { .. }
                ),
                "{err:?}"
            );
            failures += 1;
            assert!(failures <= 1, "the next request must reconnect: {err}");
        }
        assert_eq!(KVStoreSync::read(&store, "p", "", "k").unwrap(), value);
        // The lock was taken again with the new session.
        assert_locked(&writer(&env.primary, &table, &rt).unwrap_err(), &table);
    }
    drop(store);
    common::drop_table(&rt, &env.primary, &table);
}

#[test]
fn connect_refuses_a_current_thread_runtime_and_a_bad_table_name() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Refused before any connection is tried: no server needed.
    let url = "postgresql://postgres@127.0.0.1:1/postgres";
    let err = PostgresStore::connect(url, rt.handle().clone()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(matches!(typed(&err), PostgresError::NotMultiThreadRuntime));

    let rt = runtime();
    for bad in [
        "",
        "1abc",
        "a-b",
        "s.t",
        "t\"; DROP TABLE x; --",
        &"t".repeat(64),
    ] {
        let err = PostgresOptions::new()
            .table(bad)
            .connect(url, rt.handle().clone())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
        assert!(
            matches!(typed(&err), PostgresError::InvalidTableName { .. }),
            "{bad:?}"
        );
    }
}

#[test]
fn a_password_in_the_url_is_never_printed() {
    let secret = "S3cret-Passw0rd-xyzzy";
    let rt = runtime();
    let check = |what: &str, text: String| {
        assert!(!text.contains(secret), "{what} shows the password: {text}");
        assert!(
            !text.contains("Passw0rd"),
            "{what} shows part of the password: {text}"
        );
    };
    // Nothing listens on port 1: a connect error. An unparsable URL. A key/value string.
    for url in [
        format!("postgresql://postgres:{secret}@127.0.0.1:1/postgres"),
        format!("postgresql://postgres:{secret}@127.0.0.1:notaport/postgres"),
        format!("postgresql://postgres:{secret}@127.0.0.1:1/postgres?sslmode=bogus"),
        format!("host=127.0.0.1 port=1 user=postgres password={secret} dbname=postgres"),
        format!("host=127.0.0.1 port=1 password='{secret} unterminated"),
    ] {
        let err = PostgresStore::connect(&url, rt.handle().clone()).unwrap_err();
        // The cause is in the message (the client library's own Display stops at its kind).
        if url.contains(":1/postgres") && !url.contains("bogus") {
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
            assert!(
                typed(&err).to_string().contains("refused"),
                "{}",
                typed(&err)
            );
        }
        check("Display", err.to_string());
        check("Debug", format!("{err:?}"));
        check("typed Debug", format!("{:?}", typed(&err)));
        let mut source = std::error::Error::source(typed(&err));
        while let Some(s) = source {
            check("source", format!("{s} / {s:?}"));
            source = s.source();
        }
    }
    let Some(env) = pg_env("lock::a_password_in_the_url_is_never_printed") else {
        return;
    };
    // The shared servers trust 127.0.0.1: the password is sent nowhere, but the URL holds it.
    let url = env
        .primary
        .replacen("postgres@", &format!("postgres:{secret}@"), 1);
    assert_ne!(url, env.primary);
    let table = unique_table("secret");
    let store = writer(&url, &table, &rt).unwrap();
    check("store Debug", format!("{store:?}"));
    let err = writer(&url, &table, &rt).unwrap_err();
    check("Locked Display", err.to_string());
    check("Locked Debug", format!("{err:?}"));
    check(
        "options Debug",
        format!("{:?}", PostgresOptions::new().table(&table)),
    );
    drop(store);
    common::drop_table(&rt, &env.primary, &table);
}

/// A TCP proxy on 127.0.0.1 whose `cut` closes the client side of every open connection and
/// keeps the server side open: the server goes on seeing a live, silent peer, as after a
/// network failure it has not noticed.
struct Proxy {
    port: u16,
    cut: tokio::sync::watch::Sender<u32>,
}

impl Proxy {
    fn start(rt: &tokio::runtime::Runtime, target: u16) -> Proxy {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, cuts) = tokio::sync::watch::channel(0u32);
        let held = Arc::new(std::sync::Mutex::new(Vec::new()));
        rt.spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let Ok(mut server) = tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                else {
                    continue;
                };
                let mut cuts = cuts.clone();
                cuts.mark_unchanged();
                let held = held.clone();
                tokio::spawn(async move {
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cuts.changed() => {
                            drop(client);
                            held.lock().unwrap().push(server);
                        }
                    }
                });
            }
        });
        Proxy { port, cut }
    }

    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

#[test]
fn a_reconnect_ends_its_own_lost_session_that_still_holds_the_lock() {
    let Some(env) = pg_env("lock::a_reconnect_ends_its_own_lost_session_that_still_holds_the_lock")
    else {
        return;
    };
    let rt = runtime();
    let table = unique_table("lock_ghost");
    let app = format!("ekv_{table}");
    let target: u16 = env
        .primary
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let proxy = Proxy::start(&rt, target);
    let url = env
        .primary
        .replace(&format!(":{target}/"), &format!(":{}/", proxy.port));
    let store = writer(&named(&url, &app), &table, &rt).unwrap();
    KVStoreSync::write(&store, "p", "", "k", b"before".to_vec()).unwrap();

    let backends = |rt: &tokio::runtime::Runtime| -> i64 {
        let client = common::admin(rt, &env.primary);
        rt.block_on(client.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        ))
        .unwrap()
        .get(0)
    };
    proxy.cut();
    // The server still has the session, and with it the lock.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(backends(&rt), 1);
    assert_locked(&writer(&env.primary, &table, &rt).unwrap_err(), &table);

    let mut failures = 0;
    while let Err(err) = KVStoreSync::write(&store, "p", "", "k", b"after".to_vec()) {
        assert!(
            matches!(
                typed(&err),
                PostgresError::ConnectionLost { .. } | PostgresError::Database { .. }
            ),
            "{err:?}"
        );
        failures += 1;
        assert!(failures <= 1, "the next request must reconnect: {err}");
    }
    assert_eq!(KVStoreSync::read(&store, "p", "", "k").unwrap(), b"after");
    // The lost session was ended; the new one holds the lock.
    assert_eq!(backends(&rt), 1);
    assert_locked(&writer(&env.primary, &table, &rt).unwrap_err(), &table);
    drop(store);
    common::drop_table(&rt, &env.primary, &table);
}
