//! The freshness anchor with the data in PostgreSQL and the anchor in a local directory (a
//! `FilesystemStore` the database's attacker cannot reach): while the node is stopped, the
//! attacker connects to the table and puts an older monitor back, deletes the newest monitor
//! update, brings a removed payment back, or restores a whole older copy of the table. At the
//! next start, over a new connection, each is refused (`Rollback`, `Missing` per key,
//! `HeaderRolledBack` at open) or, for the removed payment, absent (`Removed`, kind
//! `NotFound`). The same replay against a store without an anchor is
//! accepted at the restart (the documented limit), so the refusal is seen to come from the
//! anchor; and an anchored store never opens without its anchor.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use super::adversary::{put, raw, version_of, write_new, Name};
use super::pg::{connect, Pg};
use super::v::{fs, ldk, AsyncOps, FilesystemStore, Ops, SyncOps, V};
use crate::common::{cheap, read_error, PASSPHRASE};
use crate::server::{pg_env, table, Sql};
use encrypted_kvstore::{
    Credential, EncryptedStore, ListError, OpenError, OpenOptions, ReadError, StoreAnchor,
};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::KVStoreSync;

/// The anchor kept in `dir`.
pub fn anchor(dir: &Path) -> StoreAnchor<FilesystemStore, V> {
    StoreAnchor::new(fs(dir))
}

/// A new anchored store over `table`, its anchor in `dir`.
pub fn create_anchored(url: &str, table: &str, dir: &Path) -> EncryptedStore<Pg> {
    OpenOptions::new()
        .anchor(anchor(dir))
        .create::<V, _>(
            connect(url, table),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap()
}

/// The anchored store over `table` opened again over a new connection: a restart.
pub fn reopen_anchored(
    url: &str,
    table: &str,
    dir: &Path,
) -> Result<EncryptedStore<Pg>, OpenError> {
    OpenOptions::new()
        .anchor(anchor(dir))
        .open::<V, _>(connect(url, table), Credential::passphrase(PASSPHRASE))
}

#[track_caller]
fn read_err(r: io::Result<Vec<u8>>) -> ReadError {
    let e = r.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e:?}");
    read_error(&e)
        .unwrap_or_else(|| panic!("untyped error {e:?}"))
        .clone()
}

#[test]
fn rollback_deletion_and_resurrection_across_restarts_are_refused_with_an_anchor() {
    let Some(url) =
        pg_env("rollback_deletion_and_resurrection_across_restarts_are_refused_with_an_anchor")
            .map(|env| env.primary)
    else {
        return;
    };
    for how in ["sync", "async"] {
        let (t, dir) = (table("anchor"), tempfile::tempdir().unwrap());
        let store = create_anchored(&url, &t, dir.path());
        assert!(store.info().anchored);
        let inner = store.inner().clone();
        let async_ops = AsyncOps::new(&store);
        let ops: &dyn Ops = if how == "sync" {
            &SyncOps(&store)
        } else {
            &async_ops
        };
        let m1 = write_new(ops, &inner, ("monitors", "", "m1_0"), b"state 1");
        let old = raw(&inner, &m1);
        ops.write("monitors", "", "m1_0", b"state 2".to_vec())
            .unwrap();
        let new = raw(&inner, &m1);
        let update = write_new(ops, &inner, ("monitor_updates", "m1_0", "1"), b"update");
        let p1 = write_new(ops, &inner, ("payments", "", "p1"), b"paid");
        let p1_rec = raw(&inner, &p1);
        ops.remove("payments", "", "p1", false).unwrap();
        drop(async_ops);
        drop((store, inner));

        // Without its anchor, never opened.
        let e = OpenOptions::new()
            .open::<V, _>(connect(&url, &t), Credential::passphrase(PASSPHRASE))
            .unwrap_err();
        assert!(matches!(e, OpenError::AnchorRequired), "{how}: {e:?}");

        // 1. The older monitor put back while the node is down.
        attacker(&url, &t, |a| put(a, &m1, old.clone()));
        let store = reopen_anchored(&url, &t, dir.path()).unwrap();
        assert_eq!(
            read_err(store.read("monitors", "", "m1_0")),
            ReadError::Rollback {
                primary_namespace: "monitors".into(),
                secondary_namespace: "".into(),
                key: "m1_0".into(),
                found: version_of(&old),
                expected_at_least: version_of(&new),
            },
            "{how}"
        );
        put(store.inner(), &m1, new.clone());
        assert_eq!(store.read("monitors", "", "m1_0").unwrap(), b"state 2");
        drop(store);

        // 2. The newest monitor update deleted.
        attacker(&url, &t, |a| {
            a.remove(&update.0, &update.1, &update.2, false).unwrap()
        });
        let store = reopen_anchored(&url, &t, dir.path()).unwrap();
        assert!(
            matches!(read_err(store.read("monitor_updates", "m1_0", "1")),
                ReadError::Missing { key, .. } if key == "1"),
            "{how}"
        );
        let e = store.list("monitor_updates", "m1_0").unwrap_err();
        assert!(matches!(
            e.get_ref().and_then(|e| e.downcast_ref::<ListError>()),
            Some(ListError::Missing { key, .. }) if key == "1"
        ));
        drop(store);

        // 3. The hard-removed payment brought back.
        attacker(&url, &t, |a| put(a, &p1, p1_rec.clone()));
        let store = reopen_anchored(&url, &t, dir.path()).unwrap();
        let e = store.read("payments", "", "p1").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{how}");
        assert!(
            matches!(read_error(&e), Some(ReadError::Removed { key, .. }) if key == "p1"),
            "{how}: {e:?}"
        );
    }
}

/// Connects to `table` as the attacker does while the node is stopped, and does `attack`.
fn attacker(url: &str, table: &str, attack: impl FnOnce(&Pg)) {
    let a = connect(url, table);
    attack(&a);
}

/// Control: without an anchor, the same replay across a restart is accepted (the record is
/// authentic and a new instance has no watermarks). The refusals above come from the anchor.
#[test]
fn without_an_anchor_a_replay_across_a_restart_is_accepted() {
    let Some(url) =
        pg_env("without_an_anchor_a_replay_across_a_restart_is_accepted").map(|env| env.primary)
    else {
        return;
    };
    let t = table("no_anchor");
    let store = EncryptedStore::create::<V>(
        connect(&url, &t),
        Credential::passphrase_with(PASSPHRASE, cheap()),
    )
    .unwrap();
    let inner = store.inner().clone();
    let m1: Name = write_new(
        &SyncOps(&store),
        &inner,
        ("monitors", "", "m1_0"),
        b"state 1",
    );
    let old = raw(&inner, &m1);
    store
        .write("monitors", "", "m1_0", b"state 2".to_vec())
        .unwrap();
    drop((store, inner));
    attacker(&url, &t, |a| put(a, &m1, old));
    let store =
        EncryptedStore::open::<V>(connect(&url, &t), Credential::passphrase(PASSPHRASE)).unwrap();
    assert_eq!(store.read("monitors", "", "m1_0").unwrap(), b"state 1");
}

/// A whole older copy of the table (header and all, copied by SQL) restored while the node is
/// down: its header is older than the one the anchor saw, so opening refuses it.
#[test]
fn a_whole_older_copy_of_the_table_is_refused_at_open() {
    let Some(url) =
        pg_env("a_whole_older_copy_of_the_table_is_refused_at_open").map(|env| env.primary)
    else {
        return;
    };
    let (t, dir) = (table("restore"), tempfile::tempdir().unwrap());
    let sql = Sql::connect(&url);
    let store = create_anchored(&url, &t, dir.path());
    store
        .write("monitors", "", "m1_0", b"old".to_vec())
        .unwrap();
    sql.batch(&format!("CREATE TABLE {t}_backup AS SELECT * FROM {t}"));
    store
        .write("monitors", "", "m1_0", b"new".to_vec())
        .unwrap();
    store
        .write("monitors", "", "m2_0", b"new".to_vec())
        .unwrap();
    drop(store);
    // A restart: the writable open reserves its block of versions, a header write the anchor
    // records.
    drop(reopen_anchored(&url, &t, dir.path()).unwrap());
    let now = EncryptedStore::inspect::<V>(&connect(&url, &t))
        .unwrap()
        .header_seq;
    sql.batch(&format!(
        "DELETE FROM {t}; INSERT INTO {t} SELECT * FROM {t}_backup; DROP TABLE {t}_backup"
    ));
    let then = EncryptedStore::inspect::<V>(&connect(&url, &t))
        .unwrap()
        .header_seq;
    assert!(then < now, "{then} < {now}");
    let e = reopen_anchored(&url, &t, dir.path()).unwrap_err();
    assert!(
        matches!(e, OpenError::HeaderRolledBack { header_seq, anchor_header_seq }
            if header_seq == then && anchor_header_seq == now),
        "{e:?}"
    );
    assert_eq!(io::Error::from(e).kind(), ErrorKind::InvalidData);
}
