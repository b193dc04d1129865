//! The command-line tool on a database ldk-node wrote: `encrypt` keeps ldk-node's schema and
//! `user_version`, so ldk-node opens the result through `EncryptedStore<SqliteStore>` and
//! carries on where the plaintext node stopped; `decrypt` gives it back to a plain
//! `SqliteStore`. And on the data directory of a node on `FilesystemStore`: `encrypt` moves it
//! into a PostgreSQL table, where ldk-node carries on through `EncryptedStore<PostgresStore>`
//! (needs a server: see `encrypted_kvstore_postgres::test_support`; skipped without one).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use encrypted_kvstore::{Credential, EncryptedStore};
use encrypted_kvstore_postgres::test_support::{pg_env, runtime, unique_table};
use encrypted_kvstore_postgres::PostgresOptions;

/// The tool's binary, as the library workspace's `cargo test --workspace` builds it (same
/// command, profile and features, so in CI, which has just run that, nothing is rebuilt).
fn tool() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--quiet",
            "--message-format=json",
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let exe = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["name"] == "encrypted-kvstore"
                && m["target"]["kind"][0] == "bin"
                && m["profile"]["test"] == false
        })
        .unwrap();
    PathBuf::from(exe["executable"].as_str().unwrap())
}

fn run(tool: &Path, args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(tool)
        .args(args)
        .env_remove("ENCRYPTED_KVSTORE_PASSPHRASE")
        .output()
        .unwrap()
}

#[test]
fn a_database_ldk_node_wrote_is_encrypted_by_the_tool_and_reopened_by_ldk_node() {
    let tool = tool();
    let reference = reference_addresses(3);
    let t = tempfile::tempdir().unwrap();
    let pw = t.path().join("pw");
    std::fs::write(&pw, PASSPHRASE).unwrap();
    let plain_dir = t.path().join("plain");
    let enc_dir = t.path().join("enc");
    let back_dir = t.path().join("back");
    for d in [&plain_dir, &enc_dir, &back_dir] {
        std::fs::create_dir(d).unwrap();
    }

    // A plaintext node, as `Builder::build` makes it.
    let node = builder(&plain_dir)
        .build_with_store(Arc::new(sqlite(&plain_dir)))
        .unwrap();
    let node_id = node.node_id();
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[0]);
    drop(node);

    let (plain_db, enc_db, back_db) = (db_path(&plain_dir), db_path(&enc_dir), db_path(&back_dir));
    let out = run(
        &tool,
        &[
            "encrypt".as_ref(),
            "--from".as_ref(),
            plain_db.as_os_str(),
            "--to".as_ref(),
            enc_db.as_os_str(),
            "--passphrase-file".as_ref(),
            pw.as_os_str(),
            "--insecure-kdf-for-tests-only".as_ref(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ldk-node's exact schema and user_version.
    assert_eq!(schema(&enc_db), schema(&plain_db));
    assert_eq!(schema(&enc_db).1, 2);
    let out = run(
        &tool,
        &[
            "verify".as_ref(),
            enc_db.as_os_str(),
            "--passphrase-file".as_ref(),
            pw.as_os_str(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // ldk-node, unchanged, on the encrypted database: same node, the wallet carries on.
    let node = build_on(&enc_dir, open_encrypted(&enc_dir, PASSPHRASE).unwrap());
    assert_eq!(node.node_id(), node_id);
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[1]);
    drop(node);
    let file = std::fs::read(&enc_db).unwrap();
    assert!(!contains(&file, b"wpkh("));

    // And back to plaintext, for a plain SqliteStore.
    let out = run(
        &tool,
        &[
            "decrypt".as_ref(),
            "--from".as_ref(),
            enc_db.as_os_str(),
            "--to".as_ref(),
            back_db.as_os_str(),
            "--passphrase-file".as_ref(),
            pw.as_os_str(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(schema(&back_db), schema(&plain_db));
    let node = builder(&back_dir)
        .build_with_store(Arc::new(sqlite(&back_dir)))
        .unwrap();
    assert_eq!(node.node_id(), node_id);
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[2]);
}

#[test]
fn a_node_directory_moves_into_postgres_and_ldk_node_carries_on_there() {
    let Some(env) = pg_env("a_node_directory_moves_into_postgres") else {
        return;
    };
    let tool = tool();
    let reference = reference_addresses(2);
    let t = tempfile::tempdir().unwrap();
    let pw = t.path().join("pw");
    std::fs::write(&pw, PASSPHRASE).unwrap();
    let (plain_dir, pg_dir) = (t.path().join("plain"), t.path().join("pg"));
    std::fs::create_dir(&pg_dir).unwrap();
    let table = unique_table("node_moved");

    // A plaintext node on ldk-node's FilesystemStore (`<storage dir>/fs_store`).
    let node = builder(&plain_dir).build_with_fs_store().unwrap();
    let node_id = node.node_id();
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[0]);
    drop(node);

    let fs_store = plain_dir.join("fs_store");
    let started = std::time::Instant::now();
    let out = run(
        &tool,
        &[
            "encrypt".as_ref(),
            "--from".as_ref(),
            fs_store.as_os_str(),
            "--to".as_ref(),
            env.primary.as_ref(),
            "--pg-table".as_ref(),
            table.as_ref(),
            "--encrypt-names".as_ref(),
            "--passphrase-file".as_ref(),
            pw.as_os_str(),
            "--insecure-kdf-for-tests-only".as_ref(),
        ],
    );
    eprintln!(
        "encrypt of an ldk-node directory into PostgreSQL: {:?}",
        started.elapsed()
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // ldk-node on the table, through the encrypted store: same node, the wallet carries on.
    let rt = runtime();
    let pg = PostgresOptions::new()
        .table(&table)
        .connect(&env.primary, rt.handle().clone())
        .unwrap();
    let store = EncryptedStore::open(pg, Credential::passphrase(PASSPHRASE)).unwrap();
    assert!(store.info().names_encrypted);
    let node = builder(&pg_dir).build_with_store(Arc::new(store)).unwrap();
    assert_eq!(node.node_id(), node_id);
    assert_eq!(node.onchain_payment().new_address().unwrap(), reference[1]);
    drop(node);

    // What it wrote there verifies with the tool.
    let out = run(
        &tool,
        &[
            "verify".as_ref(),
            env.primary.as_ref(),
            "--pg-table".as_ref(),
            table.as_ref(),
            "--passphrase-file".as_ref(),
            pw.as_os_str(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
