//! Replication: a read-only instance over a read-only `PostgresStore` on the streaming standby
//! reads what the writer on the primary wrote, with no false alarm as the writer overwrites and
//! removes; and a failover to a standby that lags (a private primary/standby pair: the standby
//! is cut off, the primary takes newer monitor states, then the standby is promoted):
//! (a) the anchored store reopened on the promoted standby refuses the stale monitor, and its
//!     listing refuses the monitor of a channel opened after the cut (missing there);
//! (b) a store that stayed open, its inner store pointed at the promoted standby, refuses both
//!     (its watermarks are enough, no anchor needed);
//! (c) after an honest failover (the standby had caught up) the anchored store opens and reads
//!     the newest values with no alarm, and (d) so does a store that stayed open.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// Under LDK 0.3 the boxed futures of `Fut` refine the trait's `impl Future` return types.
#![allow(refining_impl_trait)]

use std::sync::{Arc, RwLock};

use super::anchor::{create_anchored, reopen_anchored};
use super::pg::{connect, connect_read_only, Pg};
use super::v::{ldk, AsyncOps, Fut, Ops, SyncOps, V};
use crate::common::{cheap, read_error, PASSPHRASE};
use crate::server::{pg_env, table, PrivateCluster};
use encrypted_kvstore::{Credential, EncryptedStore, ListError, OpenOptions, ReadError};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::KVStoreSync;

#[test]
fn a_read_only_instance_on_the_standby_reads_what_the_writer_wrote() {
    let test = "a_read_only_instance_on_the_standby_reads_what_the_writer_wrote";
    let Some(env) = pg_env(test) else {
        return;
    };
    let (p_url, s_url) = (&env.primary, &env.standby);
    let t = table("standby");
    let writer = OpenOptions::new()
        .encrypt_names()
        .create::<V, _>(
            connect(p_url, &t),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    writer
        .write("monitors", "", "m1_0", b"state 1".to_vec())
        .unwrap();
    writer
        .write("payments", "", "p1", b"paid".to_vec())
        .unwrap();
    env.wait_standby();

    let reader = OpenOptions::new()
        .read_only()
        .open::<V, _>(
            connect_read_only(s_url, &t),
            Credential::passphrase(PASSPHRASE),
        )
        .unwrap();
    let async_reader = AsyncOps::new(&reader);
    for ops in [&SyncOps(&reader) as &dyn Ops, &async_reader] {
        assert_eq!(ops.read("monitors", "", "m1_0").unwrap(), b"state 1");
        assert_eq!(ops.list("payments", "").unwrap(), ["p1"]);
    }
    let e = reader
        .write("monitors", "", "m1_0", b"x".to_vec())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e:?}");

    // The writer moves on; once the standby has replayed it, the reader follows, no alarm.
    writer
        .write("monitors", "", "m1_0", b"state 2".to_vec())
        .unwrap();
    writer.remove("payments", "", "p1", false).unwrap();
    writer
        .write("payments", "", "p2", b"paid too".to_vec())
        .unwrap();
    env.wait_standby();
    for ops in [&SyncOps(&reader) as &dyn Ops, &async_reader] {
        assert_eq!(ops.read("monitors", "", "m1_0").unwrap(), b"state 2");
        assert_eq!(
            ops.read("payments", "", "p1").unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(ops.list("payments", "").unwrap(), ["p2"]);
        assert_eq!(ops.read("payments", "", "p2").unwrap(), b"paid too");
    }
}

/// An inner store whose target can be switched (from the primary to the promoted standby), as
/// a connection pool or a DNS name behind a failover switches it under a running node.
#[derive(Clone)]
pub struct Switch(Arc<RwLock<Pg>>);

impl Switch {
    fn new(to: Pg) -> Self {
        Switch(Arc::new(RwLock::new(to)))
    }
    fn point_to(&self, to: Pg) {
        *self.0.write().unwrap() = to;
    }
    fn current(&self) -> Pg {
        self.0.read().unwrap().clone()
    }
}

impl KVStoreSync for Switch {
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
        KVStoreSync::read(&self.current(), p, s, k)
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> io::Result<()> {
        KVStoreSync::write(&self.current(), p, s, k, buf)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
        KVStoreSync::remove(&self.current(), p, s, k, lazy)
    }
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
        KVStoreSync::list(&self.current(), p, s)
    }
}

/// (Named in full: with `KVStore` in scope, the stores' methods would be ambiguous.)
impl ldk::util::persist::KVStore for Switch {
    fn read(&self, p: &str, s: &str, k: &str) -> Fut<Vec<u8>> {
        Box::pin(ldk::util::persist::KVStore::read(&self.current(), p, s, k))
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Fut<()> {
        Box::pin(ldk::util::persist::KVStore::write(
            &self.current(),
            p,
            s,
            k,
            buf,
        ))
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Fut<()> {
        Box::pin(ldk::util::persist::KVStore::remove(
            &self.current(),
            p,
            s,
            k,
            lazy,
        ))
    }
    fn list(&self, p: &str, s: &str) -> Fut<Vec<String>> {
        Box::pin(ldk::util::persist::KVStore::list(&self.current(), p, s))
    }
}

/// The monitor of the drill, `monitors/<funding txid>_0`.
const MONITOR: &str = "5f1e0a4b9c3d2e7f8a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f_0";

/// The monitor of a channel opened after the standby was cut off: absent there.
const NEW_MONITOR: &str = "0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b_1";

/// `list` is refused because the new channel's monitor is missing: LDK lists the monitors
/// before it reads them, and would otherwise start without that channel's monitor.
#[track_caller]
fn assert_new_monitor_missing(r: io::Result<Vec<String>>, what: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{what}: {e:?}");
    assert!(
        matches!(
            e.get_ref().and_then(|e| e.downcast_ref::<ListError>()),
            Some(ListError::Missing { key, .. }) if key == NEW_MONITOR
        ),
        "{what}: {e:?}"
    );
}

/// The monitor's state `n`: growing content, as a monitor grows with its updates.
fn state(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("monitor state {n}, update {i}; ").into_bytes())
        .collect()
}

#[track_caller]
fn assert_rolled_back(r: io::Result<Vec<u8>>, what: &str) {
    let e = match r {
        Ok(v) => panic!("{what}: the stale monitor was served ({} bytes)", v.len()),
        Err(e) => e,
    };
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{what}: {e:?}");
    assert!(
        matches!(read_error(&e), Some(ReadError::Rollback { key, .. }) if key == MONITOR),
        "{what}: {e:?}"
    );
}

#[test]
fn a_failover_to_a_lagging_standby_never_serves_the_stale_monitor() {
    let test = "a_failover_to_a_lagging_standby_never_serves_the_stale_monitor";
    let Some(cluster) = PrivateCluster::start(test) else {
        return;
    };
    let (t_a, t_b, t_c, t_d) = (
        table("fo_anchored"),
        table("fo_open"),
        table("fo_honest"),
        table("fo_honest_open"),
    );
    let (dir_a, dir_c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

    // (a) anchored, (b) open throughout over a switchable inner store, (c) anchored, honest,
    // (d) open throughout, honest.
    let a = create_anchored(&cluster.primary, &t_a, dir_a.path());
    let switch = Switch::new(connect(&cluster.primary, &t_b));
    let b = EncryptedStore::create::<V>(
        switch.clone(),
        Credential::passphrase_with(PASSPHRASE, cheap()),
    )
    .unwrap();
    let c = create_anchored(&cluster.primary, &t_c, dir_c.path());
    let switch_d = Switch::new(connect(&cluster.primary, &t_d));
    let d = EncryptedStore::create::<V>(
        switch_d.clone(),
        Credential::passphrase_with(PASSPHRASE, cheap()),
    )
    .unwrap();
    a.write("monitors", "", MONITOR, state(1)).unwrap();
    b.write("monitors", "", MONITOR, state(1)).unwrap();
    // The honest stores' newer states reach the standby before the failover.
    for n in 1..=3 {
        c.write("monitors", "", MONITOR, state(n)).unwrap();
        d.write("monitors", "", MONITOR, state(n)).unwrap();
    }
    cluster.wait_standby();

    // The standby falls behind: cut off, while the primary takes states 2 and 3.
    cluster.cut_standby();
    for n in [2, 3] {
        a.write("monitors", "", MONITOR, state(n)).unwrap();
        b.write("monitors", "", MONITOR, state(n)).unwrap();
    }
    a.write("monitors", "", NEW_MONITOR, state(1)).unwrap();
    b.write("monitors", "", NEW_MONITOR, state(1)).unwrap();
    assert_eq!(a.read("monitors", "", MONITOR).unwrap(), state(3));
    drop((a, c));

    // The primary dies; the lagging standby is promoted.
    cluster.kill_primary();
    cluster.start_standby();
    cluster.promote();

    // (a) Restarted on the promoted standby, with the local anchor: never the stale monitor.
    match reopen_anchored(&cluster.standby, &t_a, dir_a.path()) {
        Err(e) => {
            assert!(
                matches!(e, encrypted_kvstore::OpenError::HeaderRolledBack { .. }),
                "(a) refused at open with {e:?}"
            );
            eprintln!("(a) refused at open: {e}");
        }
        Ok(a) => {
            assert_rolled_back(a.read("monitors", "", MONITOR), "(a) sync");
            assert_rolled_back(AsyncOps::new(&a).read("monitors", "", MONITOR), "(a) async");
            assert_new_monitor_missing(a.list("monitors", ""), "(a) list");
            eprintln!("(a) opened, the stale monitor refused at its read (Rollback)");
        }
    }

    // (b) The open store, its inner store switched to the promoted standby.
    switch.point_to(connect(&cluster.standby, &t_b));
    assert_rolled_back(b.read("monitors", "", MONITOR), "(b) sync");
    assert_rolled_back(AsyncOps::new(&b).read("monitors", "", MONITOR), "(b) async");
    let e = b.read("monitors", "", NEW_MONITOR).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "(b): {e:?}");
    assert!(
        matches!(read_error(&e), Some(ReadError::Missing { .. })),
        "(b): {e:?}"
    );
    assert_new_monitor_missing(b.list("monitors", ""), "(b) list");

    // (c) The honest failover: opens, reads the newest state, no alarm, takes new writes.
    let c = reopen_anchored(&cluster.standby, &t_c, dir_c.path()).unwrap();
    assert_eq!(c.read("monitors", "", MONITOR).unwrap(), state(3));
    assert_eq!(
        AsyncOps::new(&c).read("monitors", "", MONITOR).unwrap(),
        state(3)
    );
    assert_eq!(c.list("monitors", "").unwrap(), [MONITOR]);
    c.write("monitors", "", MONITOR, state(4)).unwrap();
    assert_eq!(c.read("monitors", "", MONITOR).unwrap(), state(4));

    // (d) The honest failover under the open store: no alarm, new writes taken.
    switch_d.point_to(connect(&cluster.standby, &t_d));
    assert_eq!(d.read("monitors", "", MONITOR).unwrap(), state(3));
    assert_eq!(
        AsyncOps::new(&d).read("monitors", "", MONITOR).unwrap(),
        state(3)
    );
    assert_eq!(d.list("monitors", "").unwrap(), [MONITOR]);
    d.write("monitors", "", MONITOR, state(4)).unwrap();
    assert_eq!(d.read("monitors", "", MONITOR).unwrap(), state(4));
}
