//! The binary on an ldk-node SQLite database, on symbolic links, non-UTF-8 names, a source
//! that changes during `encrypt`, an interrupted `decrypt`, I/O failures (exit 10) and a
//! passphrase file others can read. (ldk-node itself opening what the tool writes is tested in
//! `ldk-node-tests/`.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::assert::Assert;
use assert_cmd::Command;
use predicates::prelude::*;
use support::{resume, spawn_paused};

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_encrypted-kvstore");
const PASS_ENV: &str = "ENCRYPTED_KVSTORE_PASSPHRASE";
const PAUSE_ENV: &str = "ENCRYPTED_KVSTORE_TEST_PAUSE";
const CHEAP: &str = "--insecure-kdf-for-tests-only";
/// Bytes a record adds to its value (docs/FORMAT.md).
const RECORD_OVERHEAD: usize = encrypted_kvstore::RECORD_OVERHEAD;

/// ldk-node 0.7.1's table, as its `SqliteStore` creates it.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS ldk_node_data (
			primary_namespace TEXT NOT NULL,
			secondary_namespace TEXT DEFAULT \"\" NOT NULL,
			key TEXT NOT NULL CHECK (key <> ''),
			value BLOB, PRIMARY KEY ( primary_namespace, secondary_namespace, key )
			);";

type Row = (String, String, String, Vec<u8>);

fn cli() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove(PASS_ENV)
        .env_remove("ENCRYPTED_KVSTORE_NEW_PASSPHRASE");
    c.env_remove(PAUSE_ENV);
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn pass_file(dir: &Path, mode: u32) -> PathBuf {
    let p = dir.join(format!("pw-{mode:o}"));
    fs::write(&p, "a passphrase\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
    p
}

fn encrypt(from: &Path, to: &Path, pw: &Path) -> Assert {
    cli()
        .args(["encrypt", "--from", s(from), "--to", s(to)])
        .args(["--passphrase-file", s(pw), CHEAP])
        .assert()
}

fn decrypt(from: &Path, to: &Path, pw: &Path) -> Assert {
    cli()
        .args(["decrypt", "--from", s(from), "--to", s(to)])
        .args(["--passphrase-file", s(pw)])
        .assert()
}

fn verify(store: &Path, pw: &Path) -> Assert {
    cli()
        .args(["verify", s(store), "--passphrase-file", s(pw)])
        .assert()
}

/// Rows shaped like what ldk-node writes: top-level events, the BDK wallet, payments, a
/// monitor update under a secondary namespace, an empty value.
fn ldk_rows() -> Vec<Row> {
    let r = |p: &str, s: &str, k: &str, v: &[u8]| (p.into(), s.into(), k.into(), v.to_vec());
    vec![
        r("", "", "events", &[0, 0, 0, 0, 0, 0, 0, 0]),
        r("", "", "node_metrics", b"metrics: some bytes"),
        r(
            "bdk_wallet",
            "",
            "descriptor",
            b"\x01\x00wpkh([5a5a5a5a/84'/1'/0']tpubD6NzVbkrYhZ4Y/0/*)#abcdefgh",
        ),
        r("bdk_wallet", "", "network", &[1, 0xfa, 0xbf, 0xb5, 0xda]),
        r("payments", "", &"ab".repeat(32), &[7u8; 3000]),
        r("monitor_updates", "deadbeef_0", "3", b"monitor update"),
        r("peers", "", "empty_value", b""),
    ]
}

fn make_db(path: &Path, rows: &[Row]) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA user_version = 2;").unwrap();
    conn.execute(CREATE, []).unwrap();
    for (p, s, k, v) in rows {
        conn.execute(
            "INSERT INTO ldk_node_data (primary_namespace, secondary_namespace, key, value) \
             VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![p, s, k, v],
        )
        .unwrap();
    }
}

fn read_rows(path: &Path) -> Vec<Row> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut st = conn
        .prepare(
            "SELECT primary_namespace, secondary_namespace, key, value FROM ldk_node_data \
             ORDER BY primary_namespace, secondary_namespace, key",
        )
        .unwrap();
    let rows = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<Vec<Row>, _>>()
        .unwrap();
    rows
}

/// (schema objects as SQLite records them, user_version).
fn schema(path: &Path) -> (Vec<String>, u32) {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut st = conn
        .prepare(
            "SELECT type || ' ' || name || ': ' || ifnull(sql, '') FROM sqlite_master ORDER BY 1",
        )
        .unwrap();
    let objects = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<Vec<String>, _>>()
        .unwrap();
    let v = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    (objects, v)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn partial(to: &Path) -> PathBuf {
    let mut p = to.as_os_str().to_owned();
    p.push(".partial");
    PathBuf::from(p)
}

#[test]
fn sqlite_database_encrypt_verify_decrypt_keeps_schema_and_rows() {
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);
    let src = t.path().join("ldk_node_data.sqlite");
    make_db(&src, &ldk_rows());
    let src_bytes = fs::read(&src).unwrap();
    fs::create_dir(t.path().join("enc")).unwrap();
    let enc = t.path().join("enc").join("ldk_node_data.sqlite");

    encrypt(&src, &enc, &pw)
        .success()
        .stdout(predicate::str::contains("encrypted 7 values"));
    assert_eq!(
        fs::read(&src).unwrap(),
        src_bytes,
        "the source was modified"
    );
    assert!(!partial(&enc).exists());
    // ldk-node's schema and user_version, unchanged.
    assert_eq!(schema(&enc), schema(&src));
    assert_eq!(schema(&enc).1, 2);
    // Same names (in clear without --encrypt-names), no value in clear.
    assert_eq!(db_key_ids(&enc).0, 2);
    let rows = read_rows(&enc);
    let names = |rows: &[Row]| {
        rows.iter()
            .filter(|r| r.0 != "encrypted_kvstore")
            .map(|r| (r.0.clone(), r.1.clone(), r.2.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&rows), names(&ldk_rows_sorted()));
    let file = fs::read(&enc).unwrap();
    assert!(!contains(&file, b"wpkh("));
    assert!(!contains(&file, b"metrics: some bytes"));
    for (enc_row, plain) in rows
        .iter()
        .filter(|r| r.0 != "encrypted_kvstore")
        .zip(ldk_rows_sorted())
    {
        assert_eq!(enc_row.3.len(), plain.3.len() + RECORD_OVERHEAD);
    }

    verify(&enc, &pw)
        .success()
        .stdout(predicate::str::contains("verified 7 values"));
    cli()
        .args(["info", s(&enc)])
        .assert()
        .success()
        .stdout(predicate::str::contains("values:         7"));
    cli()
        .args(["ls", s(&enc), "bdk_wallet"])
        .assert()
        .success()
        .stdout("descriptor\nnetwork\n");
    cli()
        .args([
            "cat",
            s(&enc),
            "",
            "",
            "node_metrics",
            "--passphrase-file",
            s(&pw),
        ])
        .assert()
        .success()
        .stdout("metrics: some bytes");

    let back = t.path().join("back.sqlite");
    decrypt(&enc, &back, &pw).success();
    assert_eq!(read_rows(&back), ldk_rows_sorted());
    assert_eq!(schema(&back), schema(&src));

    // A second run refuses the existing destination (6) and touches nothing.
    let enc_bytes = fs::read(&enc).unwrap();
    encrypt(&src, &enc, &pw).code(6);
    assert_eq!(fs::read(&enc).unwrap(), enc_bytes);
}

fn ldk_rows_sorted() -> Vec<Row> {
    let mut r = ldk_rows();
    r.sort();
    r
}

#[test]
fn sqlite_refusals_have_documented_exit_codes() {
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);
    let src = t.path().join("ldk_node_data.sqlite");
    make_db(&src, &ldk_rows());
    let enc = t.path().join("enc.sqlite");
    encrypt(&src, &enc, &pw).success();

    // 1: a tampered value fails verification, naming its key.
    let conn = rusqlite::Connection::open(&enc).unwrap();
    conn.execute(
        "UPDATE ldk_node_data SET value = value || x'00' WHERE primary_namespace = 'bdk_wallet' \
         AND key = 'network'",
        [],
    )
    .unwrap();
    drop(conn);
    verify(&enc, &pw)
        .code(1)
        .stdout(predicate::str::contains("bdk_wallet/network"));
    // 3: wrong passphrase.
    let other = t.path().join("other-pw");
    fs::write(&other, "another passphrase").unwrap();
    verify(&enc, &other).code(3);
    // 4: a plaintext database is not an encrypted store.
    verify(&src, &pw).code(4);
    // 5: not an ldk-node database (a text file; another schema version); already encrypted.
    let text = t.path().join("notes.txt");
    fs::write(
        &text,
        "not a database, but long enough to look like a file of some sort",
    )
    .unwrap();
    encrypt(&text, &t.path().join("x.sqlite"), &pw)
        .code(5)
        .stderr(predicate::str::contains("not an ldk-node SQLite database"));
    let v1 = t.path().join("v1.sqlite");
    let conn = rusqlite::Connection::open(&v1).unwrap();
    conn.execute_batch(
        "PRAGMA user_version = 1; CREATE TABLE ldk_node_data (namespace TEXT, key TEXT, value BLOB);",
    )
    .unwrap();
    drop(conn);
    encrypt(&v1, &t.path().join("y.sqlite"), &pw).code(5);
    encrypt(&enc, &t.path().join("z.sqlite"), &pw)
        .code(5)
        .stderr(predicate::str::contains("already an encrypted store"));
    // 2: --exclude is for directories.
    cli()
        .args([
            "encrypt",
            "--from",
            s(&src),
            "--to",
            s(&t.path().join("w.sqlite")),
        ])
        .args(["--exclude", "logs", "--passphrase-file", s(&pw), CHEAP])
        .assert()
        .code(2);
    for p in ["x.sqlite", "y.sqlite", "z.sqlite", "w.sqlite"] {
        assert!(!t.path().join(p).exists());
        assert!(!partial(&t.path().join(p)).exists());
    }
}

fn small_dir(dir: &Path) {
    fs::create_dir_all(dir.join("monitors")).unwrap();
    fs::write(dir.join("manager"), b"channel manager bytes").unwrap();
    fs::write(dir.join("monitors").join("abc_0"), b"monitor bytes").unwrap();
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_refused_and_named_unless_followed() {
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);
    let src = t.path().join("node");
    small_dir(&src);
    let outside = t.path().join("outside_secret");
    fs::write(&outside, b"bytes from outside the node directory").unwrap();
    std::os::unix::fs::symlink(&outside, src.join("monitors").join("linked_0")).unwrap();
    let to = t.path().join("enc");

    encrypt(&src, &to, &pw)
        .code(5)
        .stderr(predicate::str::contains("symbolic link"))
        .stderr(predicate::str::contains("monitors/linked_0 ->"))
        .stderr(predicate::str::contains("--follow-symlinks"));
    assert!(!to.exists() && !partial(&to).exists());

    cli()
        .args([
            "encrypt",
            "--from",
            s(&src),
            "--to",
            s(&to),
            "--follow-symlinks",
        ])
        .args(["--passphrase-file", s(&pw), CHEAP])
        .assert()
        .success()
        .stdout(predicate::str::contains("encrypted 3 values"));
    cli()
        .args([
            "cat",
            s(&to),
            "monitors",
            "",
            "linked_0",
            "--passphrase-file",
            s(&pw),
        ])
        .assert()
        .success()
        .stdout("bytes from outside the node directory");
    // The encrypted copy holds a file, not a link.
    assert!(!fs::symlink_metadata(to.join("monitors").join("linked_0"))
        .unwrap()
        .file_type()
        .is_symlink());

    // A link inside an encrypted store is refused by the commands that read it.
    std::os::unix::fs::symlink(&outside, to.join("monitors").join("other_0")).unwrap();
    verify(&to, &pw)
        .code(5)
        .stderr(predicate::str::contains("monitors/other_0"));
}

#[cfg(unix)]
#[test]
fn a_name_that_is_not_utf8_is_refused_and_named() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);
    let src = t.path().join("node");
    small_dir(&src);
    let name = std::ffi::OsStr::from_bytes(b"monitor_\xff\xfe");
    fs::write(src.join("monitors").join(name), b"x").unwrap();
    let to = t.path().join("enc");
    encrypt(&src, &to, &pw)
        .code(5)
        .stderr(predicate::str::contains("monitor_\u{fffd}\u{fffd}"))
        .stderr(predicate::str::contains("not UTF-8"));
    assert!(!to.exists() && !partial(&to).exists());
}

#[test]
fn a_source_changed_during_encrypt_puts_nothing_in_place() {
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);

    // A directory: a value rewritten between the copy and the read-back.
    let src = t.path().join("node");
    small_dir(&src);
    let to = t.path().join("enc");
    let args = [
        "encrypt",
        "--from",
        s(&src),
        "--to",
        s(&to),
        "--passphrase-file",
        s(&pw),
        CHEAP,
    ];
    let child = spawn_paused(&args, "encrypt-copied");
    fs::write(src.join("manager"), b"a newer channel manager").unwrap();
    let out = resume(child);
    assert_eq!(out.status.code(), Some(1));
    assert!(!to.exists() && !partial(&to).exists());

    // A directory: a key added.
    let child = spawn_paused(&args, "encrypt-copied");
    fs::write(src.join("monitors").join("new_1"), b"a new monitor").unwrap();
    assert_eq!(resume(child).status.code(), Some(1));
    assert!(!to.exists() && !partial(&to).exists());

    // A database: a row rewritten.
    let db = t.path().join("ldk_node_data.sqlite");
    make_db(&db, &ldk_rows());
    let to = t.path().join("enc.sqlite");
    let args = [
        "encrypt",
        "--from",
        s(&db),
        "--to",
        s(&to),
        "--passphrase-file",
        s(&pw),
        CHEAP,
    ];
    let child = spawn_paused(&args, "encrypt-copied");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE ldk_node_data SET value = x'01' WHERE key = 'events'",
            [],
        )
        .unwrap();
    assert_eq!(resume(child).status.code(), Some(1));
    assert!(!to.exists() && !partial(&to).exists());
}

#[cfg(unix)]
#[test]
fn an_interrupted_decrypt_leaves_its_plaintext_partial_for_the_rerun_to_remove() {
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);
    for sqlite in [false, true] {
        let (src, enc, plain) = if sqlite {
            let src = t.path().join("ldk_node_data.sqlite");
            make_db(&src, &ldk_rows());
            (
                src,
                t.path().join("enc.sqlite"),
                t.path().join("plain.sqlite"),
            )
        } else {
            let src = t.path().join("node");
            small_dir(&src);
            (src, t.path().join("enc"), t.path().join("plain"))
        };
        encrypt(&src, &enc, &pw).success();
        let args = [
            "decrypt",
            "--from",
            s(&enc),
            "--to",
            s(&plain),
            "--passphrase-file",
            s(&pw),
        ];
        let mut child = spawn_paused(&args, "decrypt-copied");
        child.kill().unwrap(); // as a power loss would: no clean-up runs
        child.wait().unwrap();
        assert!(
            partial(&plain).is_dir(),
            "the interrupted run left no .partial"
        );
        assert!(!plain.exists());

        decrypt(&enc, &plain, &pw)
            .success()
            .stderr(predicate::str::contains(
                "left by an interrupted earlier run",
            ));
        assert!(!partial(&plain).exists());
        if sqlite {
            assert_eq!(read_rows(&plain), ldk_rows_sorted());
        } else {
            assert_eq!(
                fs::read(plain.join("manager")).unwrap(),
                b"channel manager bytes"
            );
        }
    }
}

#[test]
fn io_failures_exit_10() {
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);
    let src = t.path().join("node");
    small_dir(&src);
    // A destination name longer than any file system allows (ENAMETOOLONG, also for root).
    let to = t.path().join("d".repeat(300));
    encrypt(&src, &to, &pw)
        .code(10)
        .stderr(predicate::str::contains("error: cannot"));
    let db = t.path().join("ldk_node_data.sqlite");
    make_db(&db, &ldk_rows());
    encrypt(
        &db,
        &t.path().join(format!("{}.sqlite", "d".repeat(300))),
        &pw,
    )
    .code(10);
}

#[cfg(unix)]
#[test]
fn a_passphrase_file_others_can_read_is_warned_about() {
    let t = tempfile::tempdir().unwrap();
    let src = t.path().join("node");
    small_dir(&src);
    let open_pw = pass_file(t.path(), 0o644);
    let private_pw = pass_file(t.path(), 0o600);
    let warning = "can be read by other users (chmod 600 it)";
    encrypt(&src, &t.path().join("enc"), &open_pw)
        .success()
        .stderr(predicate::str::contains(warning))
        .stderr(predicate::str::contains(s(&open_pw)));
    verify(&t.path().join("enc"), &private_pw)
        .success()
        .stderr(predicate::str::contains(warning).not());
}

/// Every namespace and key name in [`ldk_rows`] of at least 4 characters (shorter ones, like
/// the update key "3", may occur by chance inside a random stored name).
fn ldk_row_names() -> Vec<String> {
    let mut names: Vec<String> = ldk_rows()
        .into_iter()
        .flat_map(|(p, s, k, _)| [p, s, k])
        .filter(|n| n.len() >= 4)
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn sqlite_private_names_round_trip_and_read_only_commands() {
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);
    let src = t.path().join("ldk_node_data.sqlite");
    make_db(&src, &ldk_rows());
    let enc = t.path().join("enc.sqlite");
    cli()
        .args(["encrypt", "--from", s(&src), "--to", s(&enc)])
        .args([
            "--passphrase-file",
            s(&pw),
            CHEAP,
            "--encrypt-names",
            "--pad",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("encrypted 7 values"));
    assert_eq!(schema(&enc), schema(&src));

    // No row, and no byte of the file, shows a plaintext name.
    let rows = read_rows(&enc);
    assert_eq!(rows.len(), 8);
    let file = fs::read(&enc).unwrap();
    for name in ldk_row_names() {
        assert!(!contains(&file, name.as_bytes()), "{name} in the database");
    }
    for r in rows.iter().filter(|r| r.0 != "encrypted_kvstore") {
        for field in [&r.0, &r.1, &r.2] {
            assert!(field.is_empty() || field.len() >= 23, "{r:?}");
        }
    }
    let j: serde_json::Value = serde_json::from_slice(
        &cli()
            .args(["info", s(&enc), "--json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    assert_eq!(j["format_version"], 2);
    assert_eq!(j["v2"]["names_encrypted"], true);
    assert_eq!(j["v2"]["values_padded"], true);
    assert_eq!(j["values"], 7);

    // verify, ls, cat and info read the database without writing it (the header included).
    let before = fs::read(&enc).unwrap();
    verify(&enc, &pw)
        .success()
        .stdout(predicate::str::contains("verified 7 values"));
    cli()
        .args(["ls", s(&enc), "bdk_wallet", "--passphrase-file", s(&pw)])
        .assert()
        .success()
        .stdout("descriptor\nnetwork\n");
    cli()
        .args(["ls", s(&enc), "bdk_wallet"])
        .assert()
        .code(8)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("are encrypted"));
    cli()
        .args([
            "cat",
            s(&enc),
            "",
            "",
            "node_metrics",
            "--passphrase-file",
            s(&pw),
        ])
        .assert()
        .success()
        .stdout("metrics: some bytes");
    assert_eq!(fs::read(&enc).unwrap(), before, "a read-only command wrote");

    let back = t.path().join("back.sqlite");
    decrypt(&enc, &back, &pw).success();
    assert_eq!(read_rows(&back), ldk_rows_sorted());
    assert_eq!(schema(&back), schema(&src));
    assert_eq!(fs::read(&enc).unwrap(), before, "decrypt wrote its source");
}

#[test]
fn encrypt_reads_the_copy_back_without_writing_it() {
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);
    let src = t.path().join("node");
    small_dir(&src);
    let to = t.path().join("enc");
    let args = [
        "encrypt",
        "--from",
        s(&src),
        "--to",
        s(&to),
        "--passphrase-file",
        s(&pw),
        CHEAP,
    ];
    let child = spawn_paused(&args, "encrypt-copied");
    let header = |dir: &Path| fs::read(dir.join("encrypted_kvstore").join("header")).unwrap();
    let copied = header(&partial(&to));
    let out = resume(child);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(header(&to), copied, "the read-back wrote the header");
}

/// Every record row of an ldk-node database store (the header row left out): (format byte, key
/// id from record bytes 1..5, little-endian).
fn db_record_heads(path: &Path) -> Vec<(u8, u32)> {
    read_rows(path)
        .into_iter()
        .filter(|r| r.0 != "encrypted_kvstore")
        .map(|r| (r.3[0], u32::from_le_bytes(r.3[1..5].try_into().unwrap())))
        .collect()
}

fn db_key_ids(path: &Path) -> (u64, serde_json::Value) {
    let j: serde_json::Value = serde_json::from_slice(
        &cli()
            .args(["info", s(path), "--json"])
            .assert()
            .success()
            .get_output()
            .stdout,
    )
    .unwrap();
    (
        j["format_version"].as_u64().unwrap(),
        j["v2"]["key_ids"].clone(),
    )
}

#[test]
fn sqlite_rotate_rewrites_every_row_and_keeps_the_schema() {
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);
    let src = t.path().join("ldk_node_data.sqlite");
    make_db(&src, &ldk_rows());
    let enc = t.path().join("enc.sqlite");
    encrypt(&src, &enc, &pw).success();
    assert_eq!(db_key_ids(&enc), (2, serde_json::json!([0])));
    let heads = db_record_heads(&enc);
    assert_eq!(heads.len(), 7);
    assert!(heads.iter().all(|h| *h == (2, 0)), "{heads:?}");
    cli()
        .args(["rotate", s(&enc), "--passphrase-file", s(&pw)])
        .assert()
        .success()
        .stdout(predicate::str::contains("re-encrypted 7 of 7 values"));
    assert_eq!(db_key_ids(&enc), (2, serde_json::json!([1])));
    let heads = db_record_heads(&enc);
    assert_eq!(heads.len(), 7);
    assert!(heads.iter().all(|h| *h == (2, 1)), "{heads:?}");
    assert_eq!(schema(&enc), schema(&src));
    verify(&enc, &pw)
        .success()
        .stdout(predicate::str::contains("verified 7 values"));
    let back = t.path().join("back.sqlite");
    decrypt(&enc, &back, &pw).success();
    assert_eq!(read_rows(&back), ldk_rows_sorted());
}

#[test]
fn sqlite_anchored_database_needs_its_anchor_and_accept_enters_every_row() {
    let t = tempfile::tempdir().unwrap();
    let pw = pass_file(t.path(), 0o600);
    let src = t.path().join("ldk_node_data.sqlite");
    make_db(&src, &ldk_rows());
    fs::create_dir(t.path().join("enc")).unwrap();
    let enc = t.path().join("enc").join("ldk_node_data.sqlite");
    let anchor = t.path().join("anchor");
    cli()
        .args(["encrypt", "--from", s(&src), "--to", s(&enc)])
        .args(["--passphrase-file", s(&pw), CHEAP, "--anchor", s(&anchor)])
        .assert()
        .success()
        .stdout(predicate::str::contains("anchored in"));
    let with_anchor = |cmd: &[&str], a: &Path| {
        cli()
            .args(cmd)
            .args(["--passphrase-file", s(&pw), "--anchor", s(a)])
            .assert()
    };
    with_anchor(&["verify", s(&enc)], &anchor)
        .success()
        .stdout(predicate::str::contains("verified 7 values"))
        .stdout(predicate::str::contains(
            "every value read passed the freshness checks",
        ));
    verify(&enc, &pw)
        .code(14)
        .stderr(predicate::str::contains("AnchorRequired"));
    // A new, empty anchor: refused until the current state is accepted. The database lists
    // every row, so each value is read and entered in the anchor.
    let fresh = t.path().join("fresh");
    fs::create_dir(&fresh).unwrap();
    with_anchor(&["verify", s(&enc)], &fresh)
        .code(14)
        .stderr(predicate::str::contains("AnchorEmpty"));
    with_anchor(&["anchor", "accept", s(&enc)], &fresh)
        .success()
        .stdout(predicate::str::contains("7 values authenticated"));
    with_anchor(&["verify", s(&enc)], &fresh).success();
    // An older copy of the database put back after a write through the anchor: refused.
    let old = t.path().join("old.sqlite");
    fs::copy(&enc, &old).unwrap();
    let pw2 = pass_file(t.path(), 0o400);
    with_anchor(
        &["passwd", s(&enc), "--new-passphrase-file", s(&pw2), CHEAP],
        &fresh,
    )
    .success();
    fs::copy(&old, &enc).unwrap();
    with_anchor(&["verify", s(&enc)], &fresh)
        .code(13)
        .stderr(predicate::str::contains(
            "FRESHNESS CHECK FAILED: rollback detected",
        ));
}
