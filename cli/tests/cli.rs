//! End-to-end tests of the `encrypted-kvstore` binary over real directories in temp dirs, with a
//! plaintext `FilesystemStore` holding real LDK channel data produced by LDK's test utilities.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::assert::Assert;
use assert_cmd::Command;
use encrypted_kvstore::{Credential, EncryptedStore, OpenOptions, StoreAnchor};
use lightning::util::persist::{read_channel_monitors, KVStoreSync};
use lightning_persister::fs_store::FilesystemStore;
use predicates::prelude::*;
use support::{spawn_paused_with_stderr as spawn_paused, with_ldk_node_data};

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_encrypted-kvstore");
const PASS_ENV: &str = "ENCRYPTED_KVSTORE_PASSPHRASE";
const NEW_PASS_ENV: &str = "ENCRYPTED_KVSTORE_NEW_PASSPHRASE";
const CHEAP: &str = "--insecure-kdf-for-tests-only";
/// Bytes a record adds to its value (docs/FORMAT.md).
const RECORD_OVERHEAD: usize = encrypted_kvstore::RECORD_OVERHEAD;

/// The binary with no passphrase in its environment and stdin not a terminal.
fn cli() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove(PASS_ENV).env_remove(NEW_PASS_ENV);
    c
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `encrypt --from FROM --to TO --passphrase-file PW` with the cheap test KDF costs.
fn encrypt_with(from: &Path, to: &Path, pw: &Path) -> Assert {
    cli()
        .args(["encrypt", "--from", s(from), "--to", s(to)])
        .args(["--passphrase-file", s(pw), CHEAP])
        .assert()
}

/// `verify STORE --passphrase-file PW`.
fn verify_with(store: &Path, pw: &Path) -> Assert {
    cli()
        .args(["verify", s(store), "--passphrase-file", s(pw)])
        .assert()
}

/// `decrypt --from FROM --to TO --passphrase-file PW`.
fn decrypt_with(from: &Path, to: &Path, pw: &Path) -> Assert {
    cli()
        .args([
            "decrypt",
            "--from",
            s(from),
            "--to",
            s(to),
            "--passphrase-file",
            s(pw),
        ])
        .assert()
}

fn pass_file(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, content).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
    }
    p
}

/// Every entry under `dir`: relative path -> file bytes (`None` for a directory).
fn snapshot(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn go(root: &Path, d: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for e in fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_str().unwrap().to_owned();
            if p.is_dir() {
                out.insert(rel, None);
                go(root, &p, out);
            } else {
                out.insert(rel, Some(fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    go(dir, dir, &mut out);
    out
}

#[test]
fn real_ldk_data_encrypt_verify_passwd_verify_decrypt_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("ldk-data");
    let enc = tmp.path().join("ldk-data-encrypted");
    let out = tmp.path().join("ldk-data-decrypted");
    let pw1 = pass_file(tmp.path(), "pw1", "first passphrase\n");
    let pw2 = pass_file(tmp.path(), "pw2", "second passphrase");

    with_ldk_node_data(&plain, |keys| {
        let before = snapshot(&plain);
        let files: Vec<_> = before.iter().filter(|(_, v)| v.is_some()).collect();
        assert!(files.iter().any(|(k, _)| k.starts_with("monitors/")));
        assert!(before.contains_key("manager") && before.contains_key("network_graph"));

        encrypt_with(&plain, &enc, &pw1)
            .success()
            .stdout(predicate::str::contains(format!(
                "encrypted {} values",
                files.len()
            )));
        assert_eq!(snapshot(&plain), before, "the source was modified");
        assert!(!tmp.path().join("ldk-data-encrypted.partial").exists());

        // The same keys on disk, plus the header; no file
        // holds its plaintext.
        assert_eq!(info_json(&enc)["format_version"], 2);
        let encrypted = snapshot(&enc);
        assert!(encrypted.contains_key("encrypted_kvstore/header"));
        for (k, v) in files.iter() {
            let c = encrypted[k.as_str()].as_ref().unwrap();
            let v = v.as_ref().unwrap();
            assert_eq!(c.len(), v.len() + RECORD_OVERHEAD);
            assert!(!c
                .windows(v.len().min(32))
                .any(|w| w == &v[..v.len().min(32)]));
        }

        // LDK itself reads the monitors back through EncryptedStore.
        let store = EncryptedStore::open(
            FilesystemStore::new(enc.clone()),
            Credential::passphrase(b"first passphrase"),
        )
        .unwrap();
        let monitors = read_channel_monitors(&store, keys, keys).unwrap();
        assert_eq!(monitors.len(), 1);
        assert_eq!(monitors[0].1.get_latest_update_id(), 10);
        drop(store);

        verify_with(&enc, &pw1)
            .success()
            .stdout(predicate::str::contains(format!(
                "verified {} values",
                files.len()
            )));

        cli()
            .args(["passwd", s(&enc), "--passphrase-file", s(&pw1)])
            .args(["--new-passphrase-file", s(&pw2), CHEAP])
            .assert()
            .success();
        verify_with(&enc, &pw1).code(3);
        let v = cli()
            .args(["verify", s(&enc), "--json", "--passphrase-file", s(&pw2)])
            .assert()
            .success();
        let j: serde_json::Value = serde_json::from_slice(&v.get_output().stdout).unwrap();
        assert_eq!(j["ok"], true);
        assert_eq!(j["values"], files.len());
        assert_eq!(j["failed"].as_array().unwrap().len(), 0);

        cli()
            .args(["decrypt", "--from", s(&enc), "--to", s(&out)])
            .args(["--passphrase-file", s(&pw2)])
            .assert()
            .success()
            .stderr(predicate::str::contains("UNENCRYPTED"));
        assert_eq!(
            snapshot(&out),
            before,
            "decrypted copy differs from the source"
        );
    });
}

/// A small plaintext store with a distinctive value, for tests that do not need LDK data.
fn small_store(dir: &Path) {
    let st = FilesystemStore::new(dir.to_path_buf());
    st.write("", "", "manager", b"MANAGER-BYTES-0123456789".to_vec())
        .unwrap();
    st.write("monitors", "", "aa_0", b"SECRET-MONITOR-VALUE".to_vec())
        .unwrap();
    st.write("monitors", "", "bb_1", vec![0u8; 3000]).unwrap();
    st.write("monitor_updates", "aa_0", "1", b"update one".to_vec())
        .unwrap();
}

fn encrypted_small(tmp: &Path) -> (PathBuf, PathBuf) {
    encrypted_small_with(tmp, &[])
}

/// [`small_store`] in `tmp/plain`, encrypted with the format `flags` into `tmp/enc`; returns
/// (enc, passphrase file).
fn encrypted_small_with(tmp: &Path, flags: &[&str]) -> (PathBuf, PathBuf) {
    let plain = tmp.join("plain");
    let enc = tmp.join("enc");
    small_store(&plain);
    let pw = pass_file(tmp, "pw", "pw\n");
    encrypt_v2(&plain, &enc, &pw, flags).success();
    (enc, pw)
}

#[test]
fn tampered_value_fails_verify_naming_the_key_without_printing_values() {
    let tmp = tempfile::tempdir().unwrap();
    let (enc, pw) = encrypted_small(tmp.path());
    let target = enc.join("monitors").join("aa_0");
    let mut bytes = fs::read(&target).unwrap();
    let i = bytes.len() - 20;
    bytes[i] ^= 1;
    fs::write(&target, bytes).unwrap();

    let a = verify_with(&enc, &pw)
        .code(1)
        .stdout(predicate::str::contains("FAILED monitors/aa_0"))
        .stdout(predicate::str::contains("bb_1").not())
        .stdout(predicate::str::contains("1 of 4 values"));
    let o = a.get_output();
    for stream in [&o.stdout, &o.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(!text.contains("SECRET"), "{text}");
        assert!(!text.contains("MANAGER-BYTES"), "{text}");
    }

    let v = cli()
        .args(["verify", s(&enc), "--json", "--passphrase-file", s(&pw)])
        .assert()
        .code(1);
    let j: serde_json::Value = serde_json::from_slice(&v.get_output().stdout).unwrap();
    assert_eq!(j["ok"], false);
    assert_eq!(j["verified"], 3);
    let failed = j["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["primary_namespace"], "monitors");
    assert_eq!(failed[0]["secondary_namespace"], "");
    assert_eq!(failed[0]["key"], "aa_0");

    // A value moved to another key also fails: records are bound to their names.
    fs::copy(enc.join("monitors").join("bb_1"), enc.join("manager")).unwrap();
    verify_with(&enc, &pw)
        .code(1)
        .stdout(predicate::str::contains("FAILED manager"))
        .stdout(predicate::str::contains("2 of 4 values"));

    // cat and decrypt refuse it too; decrypt leaves no plaintext behind.
    cli()
        .args(["cat", s(&enc), "monitors", "", "aa_0"])
        .args(["--passphrase-file", s(&pw)])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty());
    let out = tmp.path().join("out");
    cli()
        .args(["decrypt", "--from", s(&enc), "--to", s(&out)])
        .args(["--passphrase-file", s(&pw)])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("monitors/aa_0"));
    assert!(!out.exists());
    assert!(!tmp.path().join("out.partial").exists());
}

#[test]
fn wrong_passphrase_exits_3_everywhere_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (enc, pw) = encrypted_small(tmp.path());
    let bad = pass_file(tmp.path(), "bad", "not it");
    let new = pass_file(tmp.path(), "new", "new one");
    let before = snapshot(&enc);
    let out = tmp.path().join("out");
    for args in [
        vec!["verify", s(&enc)],
        vec!["cat", s(&enc), "", "", "manager"],
        vec!["passwd", s(&enc), "--new-passphrase-file", s(&new), CHEAP],
        vec!["decrypt", "--from", s(&enc), "--to", s(&out)],
    ] {
        cli()
            .args(&args)
            .args(["--passphrase-file", s(&bad)])
            .assert()
            .code(3)
            .stderr(predicate::str::contains("wrong passphrase"));
    }
    assert_eq!(snapshot(&enc), before);
    assert!(!out.exists());
    // The right one still works.
    cli()
        .args([
            "cat",
            s(&enc),
            "",
            "",
            "manager",
            "--passphrase-file",
            s(&pw),
        ])
        .assert()
        .success()
        .stdout(predicate::eq(b"MANAGER-BYTES-0123456789" as &[u8]));
}

#[test]
fn json_outputs_parse_and_info_needs_no_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let (enc, _pw) = encrypted_small(tmp.path());

    let a = cli().args(["info", s(&enc), "--json"]).assert().success();
    let j: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    // The format `encrypt` makes.
    assert_eq!(j["format_version"], 2);
    assert_eq!(j["protection"], "passphrase");
    assert_eq!(j["kdf"]["algorithm"], "argon2id");
    assert_eq!(j["kdf"]["memory_kib"], 64);
    assert_eq!(j["kdf"]["iterations"], 1);
    assert_eq!(j["values"], 4);
    assert_eq!(j["store_id"].as_str().unwrap().len(), 32);

    cli()
        .args(["info", s(&enc)])
        .assert()
        .success()
        .stdout(predicate::str::contains("values:         4"));

    let a = cli().args(["ls", s(&enc), "--json"]).assert().success();
    let j: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let keys: Vec<(String, String, String)> = j
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["primary_namespace"].as_str().unwrap().to_owned(),
                k["secondary_namespace"].as_str().unwrap().to_owned(),
                k["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        vec![
            ("".into(), "".into(), "manager".into()),
            ("monitor_updates".into(), "aa_0".into(), "1".into()),
            ("monitors".into(), "".into(), "aa_0".into()),
            ("monitors".into(), "".into(), "bb_1".into()),
        ]
    );

    cli()
        .args(["ls", s(&enc)])
        .assert()
        .success()
        .stdout("manager\nmonitor_updates/aa_0/1\nmonitors/aa_0\nmonitors/bb_1\n");
    cli()
        .args(["ls", s(&enc), "monitors"])
        .assert()
        .success()
        .stdout("aa_0\nbb_1\n");
    cli()
        .args(["ls", s(&enc), "monitor_updates", "aa_0"])
        .assert()
        .success()
        .stdout("1\n");
    cli()
        .args(["ls", s(&enc), ""])
        .assert()
        .success()
        .stdout("manager\n");
    cli()
        .args(["ls", s(&enc), "encrypted_kvstore"])
        .assert()
        .code(2);
}

#[test]
fn interrupted_encrypt_is_rerun_to_completion() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain");
    small_store(&plain);
    let pw = pass_file(tmp.path(), "pw", "pw");
    let enc = tmp.path().join("enc");
    let staging = tmp.path().join("enc.partial");

    // What an interrupted run leaves: a staging directory with its marker, a header and only
    // some of the values (here one of them truncated mid-write, and a temporary file).
    encrypt_with(&plain, &staging.with_file_name("x"), &pw).success();
    fs::rename(tmp.path().join("x"), &staging).unwrap();
    fs::remove_file(staging.join("monitors").join("bb_1")).unwrap();
    fs::write(staging.join("monitors").join("aa_0"), b"trunc").unwrap();
    fs::write(staging.join("monitors").join("bb_1.3.tmp"), b"half").unwrap();
    fs::write(staging.join("encrypted-kvstore-staging.tmp"), b"marker").unwrap();

    encrypt_with(&plain, &enc, &pw)
        .success()
        .stderr(predicate::str::contains("interrupted"));
    assert!(!staging.exists());
    assert!(!enc.join("encrypted-kvstore-staging.tmp").exists());
    verify_with(&enc, &pw)
        .success()
        .stdout(predicate::str::contains("verified 4 values"));
    let out = tmp.path().join("out");
    decrypt_with(&enc, &out, &pw).success();
    assert_eq!(snapshot(&out), snapshot(&plain));

    // A `<DEST>.partial` this tool did not make is never deleted.
    let other = tmp.path().join("other");
    let foreign = tmp.path().join("other.partial");
    fs::create_dir(&foreign).unwrap();
    fs::write(foreign.join("precious"), b"keep me").unwrap();
    encrypt_with(&plain, &other, &pw)
        .code(6)
        .stderr(predicate::str::contains("not made by this tool"));
    assert_eq!(fs::read(foreign.join("precious")).unwrap(), b"keep me");
    assert!(!other.exists());
}

#[test]
fn refusals_have_documented_exit_codes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (enc, pw) = encrypted_small(t);
    let plain = t.join("plain");

    // 6: destination exists and is not empty (here: the encrypted store itself, and a file).
    let before = snapshot(&enc);
    encrypt_with(&plain, &enc, &pw)
        .code(6)
        .stderr(predicate::str::contains("not empty"));
    assert_eq!(snapshot(&enc), before);
    cli()
        .args(["decrypt", "--from", s(&enc), "--to", s(&plain)])
        .args(["--passphrase-file", s(&pw)])
        .assert()
        .code(6);
    // An empty destination directory is fine.
    let empty = t.join("empty");
    fs::create_dir(&empty).unwrap();
    encrypt_with(&plain, &empty, &pw).success();

    // 5: not a plaintext FilesystemStore directory.
    cli()
        .args([
            "encrypt",
            "--from",
            s(&t.join("missing")),
            "--to",
            s(&t.join("o1")),
        ])
        .args(["--passphrase-file", s(&pw), CHEAP])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("does not exist"));
    encrypt_with(&enc, &t.join("o2"), &pw)
        .code(5)
        .stderr(predicate::str::contains("already an encrypted store"));
    let odd = t.join("odd");
    small_store(&odd);
    fs::write(odd.join("monitors").join("notes.txt"), b"x").unwrap();
    encrypt_with(&odd, &t.join("o3"), &pw)
        .code(5)
        .stderr(predicate::str::contains("monitors/notes.txt"));
    assert!(!t.join("o3").exists() && !t.join("o3.partial").exists());

    // 4: not an encrypted store.
    cli().args(["verify", s(&plain)]).assert().code(4);
    cli().args(["info", s(&plain)]).assert().code(4);
    cli().args(["info", s(&t.join("missing"))]).assert().code(4);

    // 2: usage, including KDF costs below the floor and overlapping directories.
    let plain_before = snapshot(&plain);
    cli()
        .args(["encrypt", "--from", s(&plain), "--to", s(&t.join("o4"))])
        .args(["--passphrase-file", s(&pw), "--kdf-memory-kib", "1024"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("weaker"));
    encrypt_with(&plain, &plain.join("inside"), &pw)
        .code(2)
        .stderr(predicate::str::contains("overlap"));
    // The refused commands wrote nothing: the source, byte for byte, and no destination.
    assert_eq!(snapshot(&plain), plain_before);
    assert!(!t.join("o4").exists() && !t.join("o4.partial").exists());
    cli()
        .args(["verify", s(&enc), "--passphrase", "pw"])
        .assert()
        .code(2);

    // 8: no passphrase and no terminal; empty passphrase file.
    cli()
        .args(["verify", s(&enc)])
        .assert()
        .code(8)
        .stderr(predicate::str::contains("--passphrase-file"))
        .stderr(predicate::str::contains(PASS_ENV));
    let empty_pw = pass_file(t, "empty-pw", "\n");
    verify_with(&enc, &empty_pw).code(8);

    // 9: key not found.
    cli()
        .args([
            "cat",
            s(&enc),
            "monitors",
            "",
            "zz_9",
            "--passphrase-file",
            s(&pw),
        ])
        .assert()
        .code(9);

    // 7: corrupt header.
    let header = enc.join("encrypted_kvstore").join("header");
    let mut h = fs::read(&header).unwrap();
    h[40] ^= 0x80;
    fs::write(&header, h).unwrap();
    verify_with(&enc, &pw)
        .code(7)
        .stderr(predicate::str::contains("corrupt"));
    cli().args(["info", s(&enc)]).assert().code(7);
}

#[test]
fn passphrase_sources_env_file_and_passwd() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let store = t.join("store");

    // init from the environment; the file with a trailing newline is the same passphrase.
    cli()
        .args(["init", s(&store), CHEAP])
        .env(PASS_ENV, "from env")
        .assert()
        .success();
    let file = pass_file(t, "f", "from env\r\n");
    verify_with(&store, &file)
        .success()
        .stdout(predicate::str::contains("verified 0 values"));
    // The file wins over the environment.
    cli()
        .args(["verify", s(&store), "--passphrase-file", s(&file)])
        .env(PASS_ENV, "wrong")
        .assert()
        .success();
    cli()
        .args(["init", s(&store), CHEAP])
        .env(PASS_ENV, "x")
        .assert()
        .code(6)
        .stderr(predicate::str::contains("already holds an encrypted store"));
    let nonempty = t.join("nonempty");
    fs::create_dir(&nonempty).unwrap();
    fs::write(nonempty.join("manager"), b"x").unwrap();
    cli()
        .args(["init", s(&nonempty), CHEAP])
        .env(PASS_ENV, "x")
        .assert()
        .code(6);

    // passwd through both environment variables.
    cli()
        .args(["passwd", s(&store), CHEAP])
        .env(PASS_ENV, "from env")
        .env(NEW_PASS_ENV, "newer")
        .assert()
        .success();
    cli()
        .args(["verify", s(&store)])
        .env(PASS_ENV, "newer")
        .assert()
        .success();
    // passwd with no source for the new passphrase and no terminal: refused, nothing changed.
    cli()
        .args(["passwd", s(&store), CHEAP])
        .env(PASS_ENV, "newer")
        .assert()
        .code(8)
        .stderr(predicate::str::contains("--new-passphrase-file"))
        .stderr(predicate::str::contains(NEW_PASS_ENV));
    cli()
        .args(["info", s(&store)])
        .assert()
        .success()
        .stdout(predicate::str::contains("64 KiB"));
    cli()
        .args(["verify", s(&store)])
        .env(PASS_ENV, "newer")
        .assert()
        .success();
    // Real KDF costs through the flags (the floor), recorded in the header.
    cli()
        .args([
            "passwd",
            s(&store),
            "--kdf-memory-kib",
            "19456",
            "--kdf-iterations",
            "2",
        ])
        .args(["--kdf-parallelism", "1"])
        .env(PASS_ENV, "newer")
        .env(NEW_PASS_ENV, "newest")
        .assert()
        .success();
    let a = cli().args(["info", s(&store), "--json"]).assert().success();
    let j: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(j["kdf"]["memory_kib"], 19456);
    assert_eq!(j["kdf"]["iterations"], 2);
    assert_eq!(j["kdf"]["parallelism"], 1);
}

#[test]
fn help_documents_passphrase_sources_and_exit_codes() {
    let a = cli().arg("--help").assert().success();
    let help = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    for needle in [
        PASS_ENV,
        NEW_PASS_ENV,
        "--passphrase-file",
        "Exit codes",
        "3  wrong passphrase",
        "encrypt",
        "verify",
        "passwd",
        "rotate",
        "12  data-key rotation unfinished",
        "13  FRESHNESS check failed",
        "14  anchor problem",
        "anchor",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let a = cli().args(["rotate", "--help"]).assert().success();
    let help = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    for needle in ["--no-retire", "--resume", "--passphrase-file"] {
        assert!(
            help.contains(needle),
            "rotate --help lacks {needle}:\n{help}"
        );
    }
    // No command for, and no exit code of, a format the tool does not make.
    let help = String::from_utf8_lossy(&cli().arg("--help").assert().success().get_output().stdout)
        .into_owned();
    assert!(!help.contains("upgrade"), "{help}");
    assert!(!help.contains("  11  "), "{help}");
    cli().args(["upgrade", "--help"]).assert().code(2);
    for sub in ["accept", "detach"] {
        let a = cli().args(["anchor", sub, "--help"]).assert().success();
        let help = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
        assert!(
            help.contains("--anchor <DIR>"),
            "anchor {sub} --help:\n{help}"
        );
    }
    let a = cli()
        .args(["anchor", "accept", "--help"])
        .assert()
        .success();
    let help = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(help.contains("Trust the store as it is now"), "{help}");
    for cmd in [
        "init", "encrypt", "verify", "ls", "cat", "passwd", "rotate", "decrypt",
    ] {
        let a = cli().args([cmd, "--help"]).assert().success();
        let help = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
        assert!(
            help.contains("--anchor <DIR>"),
            "{cmd} --help lacks --anchor:\n{help}"
        );
    }
    let a = cli().args(["encrypt", "--help"]).assert().success();
    let help = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(help.contains("FOR TESTS ONLY"));
    assert!(help.contains(".partial"));
    assert!(help.contains("Exit codes"));
    for cmd in ["init", "encrypt"] {
        let a = cli().args([cmd, "--help"]).assert().success();
        let help = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
        for flag in ["--encrypt-names", "--pad"] {
            assert!(help.contains(flag), "{cmd} --help lacks {flag}:\n{help}");
        }
        assert!(!help.contains("--format-v"), "{cmd} --help:\n{help}");
    }
}

#[test]
fn files_outside_the_store_are_refused_or_explicitly_excluded() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let plain = t.join("plain");
    small_store(&plain);
    fs::create_dir(plain.join("logs")).unwrap();
    fs::write(plain.join("logs").join("ldk.log"), b"log lines").unwrap();
    let before = snapshot(&plain);
    let pw = pass_file(t, "pw", "pw");
    let enc = t.join("enc");

    encrypt_with(&plain, &enc, &pw)
        .code(5)
        .stderr(predicate::str::contains("logs/ldk.log"));
    assert!(!enc.exists());
    cli()
        .args(["encrypt", "--from", s(&plain), "--to", s(&enc)])
        .args([
            "--exclude",
            "logs/ldk.log",
            "--passphrase-file",
            s(&pw),
            CHEAP,
        ])
        .assert()
        .code(2);

    cli()
        .args([
            "encrypt",
            "--from",
            s(&plain),
            "--to",
            s(&enc),
            "--exclude",
            "logs",
        ])
        .args([
            "--exclude",
            "nothing-here",
            "--passphrase-file",
            s(&pw),
            CHEAP,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("encrypted 4 values"))
        .stdout(predicate::str::contains("left out (--exclude):"))
        .stderr(predicate::str::contains("no nothing-here"));
    assert_eq!(snapshot(&plain), before);
    assert!(!enc.join("logs").exists());
    verify_with(&enc, &pw)
        .success()
        .stdout(predicate::str::contains("verified 4 values"));

    let out = t.join("out");
    decrypt_with(&enc, &out, &pw).success();
    let mut expected = before;
    expected.retain(|k, _| k != "logs" && !k.starts_with("logs/"));
    assert_eq!(snapshot(&out), expected);
}

// ---------------------------------------------------------------------------------------------
// The options of a new store: --encrypt-names, --pad

/// `encrypt` with the cheap KDF and extra format flags.
fn encrypt_v2(from: &Path, to: &Path, pw: &Path, flags: &[&str]) -> Assert {
    cli()
        .args(["encrypt", "--from", s(from), "--to", s(to)])
        .args(["--passphrase-file", s(pw), CHEAP])
        .args(flags)
        .assert()
}

fn info_json(store: &Path) -> serde_json::Value {
    let a = cli().args(["info", s(store), "--json"]).assert().success();
    serde_json::from_slice(&a.get_output().stdout).unwrap()
}

/// Every path component of every entry under `dir` (file and directory names at all depths).
fn components(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for rel in snapshot(dir).keys() {
        for c in Path::new(rel).components() {
            out.push(c.as_os_str().to_str().unwrap().to_owned());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Fails if any path component under `dir` is, or contains, one of `names` (names shorter than
/// 4 characters are checked for equality only: a random stored name may contain "17").
fn assert_no_plaintext_name(dir: &Path, names: &[&str]) {
    let comps = components(dir);
    assert!(
        comps.iter().any(|c| c == "encrypted_kvstore"),
        "no header in {comps:?}"
    );
    for c in comps
        .iter()
        .filter(|c| *c != "encrypted_kvstore" && *c != "header")
    {
        for n in names {
            assert!(
                c != n && (n.len() < 4 || !c.contains(n)),
                "the stored path component {c:?} shows the name {n:?}"
            );
        }
    }
}

/// Rows for the format 2 tests: a value of 3000 and one of 3001 bytes (the same Padmé bucket),
/// a secondary namespace, and a 64-hex key like ldk-node's payments.
fn private_rows() -> Vec<(&'static str, &'static str, String, Vec<u8>)> {
    vec![
        (
            "",
            "",
            "manager".into(),
            b"MANAGER-BYTES-0123456789".to_vec(),
        ),
        ("monitors", "", "aa_0".into(), vec![1u8; 3000]),
        ("monitors", "", "bb_1".into(), vec![2u8; 3001]),
        (
            "monitor_updates",
            "aa_0",
            "17".into(),
            b"update one".to_vec(),
        ),
        ("payments", "", "cd".repeat(32), b"payment".to_vec()),
    ]
}

/// Every namespace and key name of [`private_rows`].
const PRIVATE_NAMES: &[&str] = &[
    "manager",
    "monitors",
    "aa_0",
    "bb_1",
    "monitor_updates",
    "17",
    "payments",
    "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
];

fn private_store(dir: &Path) {
    let st = FilesystemStore::new(dir.to_path_buf());
    for (p, sec, k, v) in private_rows() {
        st.write(p, sec, &k, v).unwrap();
    }
}

/// A plaintext store of [`private_rows`] in `tmp/plain`, encrypted with `flags` into
/// `tmp/enc`; returns (plain, enc, passphrase file).
fn encrypted_private(tmp: &Path, flags: &[&str]) -> (PathBuf, PathBuf, PathBuf) {
    let plain = tmp.join("plain");
    let enc = tmp.join("enc");
    private_store(&plain);
    let pw = pass_file(tmp, "pw", "pw\n");
    encrypt_v2(&plain, &enc, &pw, flags).success();
    (plain, enc, pw)
}

#[test]
fn init_and_encrypt_flags_choose_the_format_and_info_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let plain = t.join("plain");
    private_store(&plain);
    let pw = pass_file(t, "pw", "pw");
    // (flags, names encrypted, values padded).
    let cases: [(&[&str], bool, bool); 4] = [
        (&[], false, false),
        (&["--encrypt-names"], true, false),
        (&["--pad"], false, true),
        (&["--encrypt-names", "--pad"], true, true),
    ];
    for (i, (flags, names, pad)) in cases.into_iter().enumerate() {
        let init = t.join(format!("init-{i}"));
        cli()
            .args(["init", s(&init), CHEAP])
            .args(flags)
            .env(PASS_ENV, "pw")
            .assert()
            .success()
            .stdout(predicate::str::contains("format 2"));
        let enc = t.join(format!("enc-{i}"));
        encrypt_v2(&plain, &enc, &pw, flags)
            .success()
            .stdout(predicate::str::contains("encrypted 5 values"));
        for (store, values) in [(&init, 0), (&enc, 5)] {
            let j = info_json(store);
            assert_eq!(j["format_version"], 2, "{flags:?}");
            assert_eq!(j["values"], values);
            assert_eq!(j["v2"]["names_encrypted"], names, "{flags:?}");
            assert_eq!(j["v2"]["values_padded"], pad, "{flags:?}");
            let ids = j["v2"]["key_ids"].as_array().unwrap();
            assert_eq!(ids.len(), 1);
            assert_eq!(ids[0], j["key_id"]);
            assert!(j["v2"]["header_seq"].as_u64().is_some());
            let limit = j["v2"]["version_limit"].as_u64().unwrap();
            if values > 0 {
                // Each of the 5 writes used a record version below the limit.
                assert!(limit >= 5, "{j}");
            }
            let text = cli().args(["info", s(store)]).assert().success();
            let text = String::from_utf8_lossy(&text.get_output().stdout).into_owned();
            assert!(text.contains("format version: 2"), "{text}");
            let options = match (names, pad) {
                (true, true) => "options:        names encrypted, values padded",
                (true, false) => "options:        names encrypted\n",
                (false, true) => "options:        values padded",
                (false, false) => "options:        none",
            };
            assert!(text.contains(options), "{text}");
            for field in ["key ids:", "header seq:", "version limit:"] {
                assert!(text.contains(field), "{text}");
            }
        }
        // The format options are for new stores only.
        cli()
            .args(["verify", s(&enc), "--passphrase-file", s(&pw)])
            .args(flags.first())
            .assert()
            .code(if flags.is_empty() { 0 } else { 2 });
    }
}

/// The tool makes stores of one format: a flag asking for a format is an unknown flag (exit
/// 2), and nothing is made.
#[test]
fn a_format_flag_is_refused_with_exit_2_before_anything_is_made() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let plain = t.join("plain");
    small_store(&plain);
    let pw = pass_file(t, "pw", "pw");
    let store = t.join("store");
    for flag in ["--format-v1", "--format-v2"] {
        cli()
            .args(["init", s(&store), CHEAP, flag])
            .env(PASS_ENV, "pw")
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(flag));
        assert!(!store.exists(), "init {flag} made {}", store.display());
        let to = t.join("enc");
        encrypt_v2(&plain, &to, &pw, &[flag]).code(2);
        assert!(!to.exists() && !t.join("enc.partial").exists(), "{flag}");
    }
}

#[test]
fn init_encrypt_names_pad_leaves_no_plaintext_name_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let store = t.join("store");
    cli()
        .args(["init", s(&store), CHEAP, "--encrypt-names", "--pad"])
        .env(PASS_ENV, "pw")
        .assert()
        .success();
    // Writes through the library, as the node would make them.
    let enc = EncryptedStore::open(
        FilesystemStore::new(store.clone()),
        Credential::passphrase(b"pw"),
    )
    .unwrap();
    for (p, sec, k, v) in private_rows() {
        KVStoreSync::write(&enc, p, sec, &k, v).unwrap();
    }
    drop(enc);
    assert_no_plaintext_name(&store, PRIVATE_NAMES);
    let j = info_json(&store);
    assert_eq!(j["format_version"], 2);
    assert_eq!(j["v2"]["names_encrypted"], true);
    assert_eq!(j["v2"]["values_padded"], true);
    assert_eq!(j["values"], 5);
    let pw = pass_file(t, "pw", "pw");
    verify_with(&store, &pw)
        .success()
        .stdout(predicate::str::contains("verified 5 values"));

    // The same through `encrypt` from a plaintext store.
    let (_, enc, _) = encrypted_private(t, &["--encrypt-names", "--pad"]);
    assert_no_plaintext_name(&enc, PRIVATE_NAMES);
    let j = info_json(&enc);
    assert_eq!(j["v2"]["names_encrypted"], true);
    assert_eq!(j["v2"]["values_padded"], true);
}

#[test]
fn without_options_names_and_sizes_show_and_pad_hides_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let plain = t.join("plain");
    private_store(&plain);
    let pw = pass_file(t, "pw", "pw");
    let size = |p: PathBuf| fs::metadata(p).unwrap().len();

    let v2 = t.join("v2");
    encrypt_v2(&plain, &v2, &pw, &[]).success();
    // Names in clear: `ls` needs no passphrase; sizes follow the values (3000 and 3001 bytes).
    cli()
        .args(["ls", s(&v2), "monitors"])
        .assert()
        .success()
        .stdout("aa_0\nbb_1\n");
    assert_eq!(
        size(v2.join("monitors/aa_0")) + 1,
        size(v2.join("monitors/bb_1"))
    );

    let padded = t.join("padded");
    encrypt_v2(&plain, &padded, &pw, &["--pad"]).success();
    assert_eq!(
        size(padded.join("monitors/aa_0")),
        size(padded.join("monitors/bb_1"))
    );
    assert!(size(padded.join("monitors/aa_0")) > size(v2.join("monitors/bb_1")));
    verify_with(&padded, &pw)
        .success()
        .stdout(predicate::str::contains("verified 5 values"));
}

#[test]
fn ls_decodes_encrypted_names_only_with_the_passphrase() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, enc, pw) = encrypted_private(tmp.path(), &["--encrypt-names", "--pad"]);
    let stored = components(&enc);

    // Without the passphrase: says the names are encrypted, prints no stored name.
    for args in [vec!["ls", s(&enc)], vec!["ls", s(&enc), "monitors"]] {
        let a = cli()
            .args(&args)
            .assert()
            .code(8)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains("are encrypted"))
            .stderr(predicate::str::contains("--passphrase-file"));
        let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        for c in stored.iter().filter(|c| c.len() > 20) {
            assert!(!err.contains(c.as_str()), "{err}");
        }
    }
    // A wrong one is refused.
    let bad = pass_file(tmp.path(), "bad", "bad");
    cli()
        .args(["ls", s(&enc), "--passphrase-file", s(&bad)])
        .assert()
        .code(3);

    // With it: the plaintext names, as for a store with names in clear.
    let all = format!(
        "manager\nmonitor_updates/aa_0/17\nmonitors/aa_0\nmonitors/bb_1\npayments/{}\n",
        "cd".repeat(32)
    );
    cli()
        .args(["ls", s(&enc), "--passphrase-file", s(&pw)])
        .assert()
        .success()
        .stdout(all);
    cli()
        .args(["ls", s(&enc), "monitors"])
        .env(PASS_ENV, "pw")
        .assert()
        .success()
        .stdout("aa_0\nbb_1\n");
    cli()
        .args(["ls", s(&enc), "monitor_updates", "aa_0"])
        .env(PASS_ENV, "pw")
        .assert()
        .success()
        .stdout("17\n");
    cli()
        .args(["ls", s(&enc), ""])
        .env(PASS_ENV, "pw")
        .assert()
        .success()
        .stdout("manager\n");
    cli()
        .args(["ls", s(&enc), "encrypted_kvstore"])
        .env(PASS_ENV, "pw")
        .assert()
        .code(2);
    let a = cli()
        .args(["ls", s(&enc), "--json"])
        .env(PASS_ENV, "pw")
        .assert()
        .success();
    let j: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(j.as_array().unwrap().len(), 5);
    assert_eq!(j[0]["key"], "manager");
    assert_eq!(j[1]["primary_namespace"], "monitor_updates");
    assert_eq!(j[1]["secondary_namespace"], "aa_0");
    assert_eq!(j[1]["key"], "17");
    // cat takes the plaintext names too.
    cli()
        .args([
            "cat",
            s(&enc),
            "",
            "",
            "manager",
            "--passphrase-file",
            s(&pw),
        ])
        .assert()
        .success()
        .stdout(predicate::eq(b"MANAGER-BYTES-0123456789" as &[u8]));
}

#[test]
fn an_undecodable_stored_name_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (_, enc, pw) = encrypted_private(t, &["--encrypt-names", "--pad"]);
    // A name in the stored alphabet that this store did not make (base64url of 33 bytes).
    let forged = "A".repeat(44);
    let some_record = snapshot(&enc)
        .into_iter()
        .find(|(k, v)| v.is_some() && !k.starts_with("encrypted_kvstore"))
        .unwrap();
    fs::write(enc.join(&forged), some_record.1.unwrap()).unwrap();

    cli()
        .args(["ls", s(&enc), "--passphrase-file", s(&pw)])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(forged.as_str()));
    cli()
        .args(["ls", s(&enc), "", "--passphrase-file", s(&pw)])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains(forged.as_str()));
    verify_with(&enc, &pw)
        .code(1)
        .stderr(predicate::str::contains(forged.as_str()));
    let out = t.join("out");
    decrypt_with(&enc, &out, &pw)
        .code(1)
        .stderr(predicate::str::contains(forged.as_str()));
    assert!(!out.exists() && !t.join("out.partial").exists());

    // The same in a namespace directory.
    fs::remove_file(enc.join(&forged)).unwrap();
    verify_with(&enc, &pw).success();
    let ns = fs::read_dir(&enc)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir() && !p.ends_with("encrypted_kvstore"))
        .unwrap();
    fs::write(ns.join(&forged), b"x").unwrap();
    verify_with(&enc, &pw)
        .code(1)
        .stderr(predicate::str::contains(forged.as_str()));
}

#[test]
fn read_only_commands_never_write_a_store() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    for (i, flags) in [&[][..], &["--encrypt-names", "--pad"]]
        .into_iter()
        .enumerate()
    {
        let dir = t.join(format!("case-{i}"));
        fs::create_dir(&dir).unwrap();
        let (_, enc, pw) = encrypted_private(&dir, flags);
        let before = snapshot(&enc);
        let out = dir.join("out");
        for args in [
            vec!["verify", s(&enc)],
            vec!["verify", s(&enc), "--json"],
            vec!["ls", s(&enc)],
            vec!["ls", s(&enc), "monitors"],
            vec!["cat", s(&enc), "monitors", "", "aa_0"],
            vec!["info", s(&enc)],
            vec!["decrypt", "--from", s(&enc), "--to", s(&out)],
        ] {
            cli()
                .args(&args)
                .args(
                    ["--passphrase-file", s(&pw)]
                        .iter()
                        .filter(|_| args[0] != "info"),
                )
                .assert()
                .success();
            assert_eq!(snapshot(&enc), before, "{args:?} wrote the store");
        }
        // passwd is the one command that writes.
        let new = pass_file(&dir, "new", "new");
        cli()
            .args(["passwd", s(&enc), "--passphrase-file", s(&pw)])
            .args(["--new-passphrase-file", s(&new), CHEAP])
            .assert()
            .success();
        assert_ne!(snapshot(&enc), before);
        verify_with(&enc, &new).success();
    }
}

#[test]
fn private_names_migration_round_trips_real_ldk_data_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("ldk-data");
    let enc = tmp.path().join("ldk-data-private");
    let out = tmp.path().join("ldk-data-decrypted");
    let pw = pass_file(tmp.path(), "pw", "a passphrase\n");

    with_ldk_node_data(&plain, |keys| {
        let before = snapshot(&plain);
        let files = before.values().filter(|v| v.is_some()).count();
        let names = components(&plain);
        assert!(names.iter().any(|n| n == "monitors"));

        encrypt_v2(&plain, &enc, &pw, &["--encrypt-names", "--pad"])
            .success()
            .stdout(predicate::str::contains(format!(
                "encrypted {files} values"
            )))
            .stdout(predicate::str::contains("names encrypted, values padded"));
        assert_eq!(snapshot(&plain), before, "the source was modified");
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_no_plaintext_name(&enc, &names);
        let j = info_json(&enc);
        assert_eq!(j["v2"]["names_encrypted"], true);
        assert_eq!(j["v2"]["values_padded"], true);
        assert_eq!(j["values"], files);

        // LDK reads its monitors back through the decoded names.
        let store = EncryptedStore::open(
            FilesystemStore::new(enc.clone()),
            Credential::passphrase(b"a passphrase"),
        )
        .unwrap();
        let monitors = read_channel_monitors(&store, keys, keys).unwrap();
        assert_eq!(monitors.len(), 1);
        assert_eq!(monitors[0].1.get_latest_update_id(), 10);
        drop(store);

        verify_with(&enc, &pw)
            .success()
            .stdout(predicate::str::contains(format!("verified {files} values")));
        decrypt_with(&enc, &out, &pw).success();
        assert_eq!(
            snapshot(&out),
            before,
            "the round trip is not byte-identical"
        );
    });
}

#[test]
fn encrypt_names_refuses_a_name_too_long_to_encrypt() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let plain = t.join("plain");
    private_store(&plain);
    let long = "k".repeat(75);
    FilesystemStore::new(plain.clone())
        .write("monitors", "", &long, b"v".to_vec())
        .unwrap();
    let pw = pass_file(t, "pw", "pw");
    let enc = t.join("enc");
    encrypt_v2(&plain, &enc, &pw, &["--encrypt-names"])
        .code(2)
        .stderr(predicate::str::contains(long.as_str()))
        .stderr(predicate::str::contains("74 bytes"));
    assert!(!enc.exists() && !t.join("enc.partial").exists());
    // 74 bytes fit; padding alone has no limit.
    fs::remove_file(plain.join("monitors").join(&long)).unwrap();
    FilesystemStore::new(plain.clone())
        .write("monitors", "", &"k".repeat(74), b"v".to_vec())
        .unwrap();
    encrypt_v2(&plain, &enc, &pw, &["--encrypt-names"]).success();
    FilesystemStore::new(plain.clone())
        .write("monitors", "", &long, b"v".to_vec())
        .unwrap();
    encrypt_v2(&plain, &t.join("padded"), &pw, &["--pad"]).success();
}

// ---------------------------------------------------------------------------------------------
// Data-key rotation: rotate

/// `rotate STORE --passphrase-file PW` with extra flags.
fn rotate_with(store: &Path, pw: &Path, flags: &[&str]) -> Assert {
    cli()
        .args(["rotate", s(store), "--passphrase-file", s(pw)])
        .args(flags)
        .assert()
}

/// Every stored record of a directory store (the header left out): relative path -> (format
/// byte, key id from record bytes 1..5, little-endian).
fn record_heads(dir: &Path) -> BTreeMap<String, (u8, u32)> {
    snapshot(dir)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("encrypted_kvstore"))
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .map(|(k, v)| {
            assert!(v.len() >= 5, "{k} is too short for a record");
            (k, (v[0], u32::from_le_bytes(v[1..5].try_into().unwrap())))
        })
        .collect()
}

/// Fails unless every record of `dir` is a version 2 record under key `id` (and there are
/// `count` of them).
fn assert_all_records_under(dir: &Path, id: u32, count: usize) {
    let heads = record_heads(dir);
    assert_eq!(heads.len(), count, "{heads:?}");
    for (path, head) in &heads {
        assert_eq!(
            *head,
            (2, id),
            "{path} is not a version 2 record under key {id}"
        );
    }
}

/// `info --json`'s key ids and current key.
fn key_ids(store: &Path) -> (Vec<u64>, u64) {
    let j = info_json(store);
    let ids = j["v2"]["key_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    (ids, j["key_id"].as_u64().unwrap())
}

fn info_text(store: &Path) -> String {
    let a = cli().args(["info", s(store)]).assert().success();
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

#[test]
fn rotate_real_ldk_data_rewrites_every_record_under_the_new_key_and_retires_the_old() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("ldk-data");
    let enc = tmp.path().join("ldk-data-private");
    let out = tmp.path().join("ldk-data-decrypted");
    let pw = pass_file(tmp.path(), "pw", "a passphrase\n");

    with_ldk_node_data(&plain, |keys| {
        let before = snapshot(&plain);
        let files = before.values().filter(|v| v.is_some()).count();
        encrypt_v2(&plain, &enc, &pw, &["--encrypt-names", "--pad"]).success();
        assert_eq!(key_ids(&enc), (vec![0], 0));
        assert_all_records_under(&enc, 0, files);
        let old_records = snapshot(&enc);

        rotate_with(&enc, &pw, &[])
            .success()
            .stdout(predicate::str::contains("new key 1"))
            .stdout(predicate::str::contains(format!(
                "re-encrypted {files} of {files} values"
            )))
            .stdout(predicate::str::contains("key ids now 1"));
        assert_eq!(key_ids(&enc), (vec![1], 1));
        let text = info_text(&enc);
        assert!(text.contains("key ids:        1\n"), "{text}");
        assert!(text.contains("current key:    1\n"), "{text}");
        assert!(!text.contains("key id:"), "{text}");
        assert_all_records_under(&enc, 1, files);
        // The stored names did not change (the name key is never rotated), every record did.
        let new_records = snapshot(&enc);
        assert_eq!(
            new_records.keys().collect::<Vec<_>>(),
            old_records.keys().collect::<Vec<_>>()
        );
        for (path, bytes) in &old_records {
            if bytes.is_some() && !path.starts_with("encrypted_kvstore") {
                assert_ne!(bytes, &new_records[path], "{path} was not rewritten");
            }
        }

        verify_with(&enc, &pw)
            .success()
            .stdout(predicate::str::contains(format!("verified {files} values")));
        // LDK reads its monitors back from the rotated store.
        let store = EncryptedStore::open(
            FilesystemStore::new(enc.clone()),
            Credential::passphrase(b"a passphrase"),
        )
        .unwrap();
        let monitors = read_channel_monitors(&store, keys, keys).unwrap();
        assert_eq!(monitors.len(), 1);
        assert_eq!(monitors[0].1.get_latest_update_id(), 10);
        drop(store);
        decrypt_with(&enc, &out, &pw).success();
        assert!(
            snapshot(&out) == before,
            "the values changed in the rotation"
        );

        // A record of the retired key, put back from a backup, no longer opens.
        let (path, old) = old_records
            .iter()
            .find(|(p, v)| v.is_some() && !p.starts_with("encrypted_kvstore"))
            .unwrap();
        fs::write(enc.join(path), old.as_ref().unwrap()).unwrap();
        verify_with(&enc, &pw)
            .code(1)
            .stdout(predicate::str::contains("authentication failed"));
    });
}

#[test]
fn rotate_no_retire_keeps_both_keys_until_resume_retires_them() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, enc, pw) = encrypted_private(tmp.path(), &[]);
    let old_records = snapshot(&enc);
    let old_aa = old_records["monitors/aa_0"].clone().unwrap();

    rotate_with(&enc, &pw, &["--no-retire"])
        .success()
        .stdout(predicate::str::contains("new key 1"))
        .stdout(predicate::str::contains("re-encrypted 5 of 5 values"))
        .stdout(predicate::str::contains(
            "kept the old keys (key ids: 0, 1)",
        ));
    assert_eq!(key_ids(&enc), (vec![0, 1], 1));
    let text = info_text(&enc);
    assert!(text.contains("key ids:        0, 1\n"), "{text}");
    assert!(text.contains("current key:    1\n"), "{text}");
    assert_all_records_under(&enc, 1, 5);
    verify_with(&enc, &pw).success();

    // Key 0 is still in the header: a record sealed under it still opens.
    let new_aa = fs::read(enc.join("monitors/aa_0")).unwrap();
    fs::write(enc.join("monitors/aa_0"), &old_aa).unwrap();
    verify_with(&enc, &pw).success();
    fs::write(enc.join("monitors/aa_0"), &new_aa).unwrap();

    rotate_with(&enc, &pw, &["--resume"])
        .success()
        .stdout(predicate::str::contains("resumed"))
        .stdout(predicate::str::contains("re-encrypted 0 of 5 values"))
        .stdout(predicate::str::contains("key ids now 1"));
    assert_eq!(key_ids(&enc), (vec![1], 1));
    assert!(fs::read(enc.join("monitors/aa_0")).unwrap() == new_aa);
    // Now it does not.
    fs::write(enc.join("monitors/aa_0"), &old_aa).unwrap();
    verify_with(&enc, &pw)
        .code(1)
        .stdout(predicate::str::contains("monitors/aa_0"));
}

#[test]
fn a_full_keyring_exits_12_until_resume_retires_the_old_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, enc, pw) = encrypted_private(tmp.path(), &[]);
    for _ in 0..7 {
        rotate_with(&enc, &pw, &["--no-retire"]).success();
    }
    assert_eq!(key_ids(&enc), ((0..8).collect(), 7));
    let before = snapshot(&enc);
    rotate_with(&enc, &pw, &[])
        .code(12)
        .stderr(predicate::str::contains("keyring is full"))
        .stderr(predicate::str::contains("rotate --resume"));
    assert!(
        snapshot(&enc) == before,
        "a refused rotation wrote the store"
    );
    rotate_with(&enc, &pw, &["--resume"]).success();
    assert_eq!(key_ids(&enc), (vec![7], 7));
    rotate_with(&enc, &pw, &[])
        .success()
        .stdout(predicate::str::contains("new key 8"));
    assert_eq!(key_ids(&enc), (vec![8], 8));
    assert_all_records_under(&enc, 8, 5);
    verify_with(&enc, &pw).success();
}

/// A rotation of a store with the default options re-encrypts every value under the new key
/// and retires the old one; the values are unchanged.
#[test]
fn rotate_reencrypts_every_value_of_a_plain_store() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let (plain, enc, pw) = encrypted_private(t, &[]);
    assert_eq!(key_ids(&enc), (vec![0], 0));
    assert_all_records_under(&enc, 0, 5);
    rotate_with(&enc, &pw, &[])
        .success()
        .stdout(predicate::str::contains("new key 1"))
        .stdout(predicate::str::contains("re-encrypted 5 of 5 values"));
    assert_eq!(key_ids(&enc), (vec![1], 1));
    assert_all_records_under(&enc, 1, 5);
    verify_with(&enc, &pw).success();
    let out = t.join("out");
    decrypt_with(&enc, &out, &pw).success();
    assert!(snapshot(&out) == snapshot(&plain), "the values changed");
}

#[test]
fn an_interrupted_rotation_loses_nothing_and_resume_finishes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (plain, enc, pw) = encrypted_private(tmp.path(), &["--encrypt-names", "--pad"]);
    let args = ["rotate", s(&enc), "--passphrase-file", s(&pw)];

    // Killed after the new key's header write, before any value was re-encrypted.
    let (mut child, _) = spawn_paused(&args, "rotate-rotated");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(key_ids(&enc), (vec![0, 1], 1));
    assert_all_records_under(&enc, 0, 5);
    verify_with(&enc, &pw).success();
    rotate_with(&enc, &pw, &["--resume"])
        .success()
        .stdout(predicate::str::contains("re-encrypted 5 of 5 values"));
    assert_eq!(key_ids(&enc), (vec![1], 1));
    assert_all_records_under(&enc, 1, 5);

    // Killed in the middle of the re-encryption pass, after its first value.
    let (mut child, _) = spawn_paused(&args, "reencrypt-first");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(key_ids(&enc), (vec![1, 2], 2));
    let heads = record_heads(&enc);
    assert_eq!(
        heads.values().filter(|h| **h == (2, 2)).count(),
        1,
        "{heads:?}"
    );
    assert_eq!(
        heads.values().filter(|h| **h == (2, 1)).count(),
        4,
        "{heads:?}"
    );
    verify_with(&enc, &pw).success();
    rotate_with(&enc, &pw, &["--resume"])
        .success()
        .stdout(predicate::str::contains("re-encrypted 4 of 5 values"));
    assert_eq!(key_ids(&enc), (vec![2], 2));
    assert_all_records_under(&enc, 2, 5);
    verify_with(&enc, &pw).success();
    let out = tmp.path().join("out");
    decrypt_with(&enc, &out, &pw).success();
    assert!(snapshot(&out) == snapshot(&plain), "the values changed");
}

#[test]
fn a_record_left_under_an_old_key_stops_retirement_with_exit_12_naming_it() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let (_, enc, pw) = encrypted_private(tmp.path(), &[]);
    // A record under key 0 the rotation never sees: taken out before it, put back after the
    // re-encryption pass, before the retirement (as a writer the tool did not know of would).
    let stray = enc.join("monitors/bb_1");
    let old = fs::read(&stray).unwrap();
    fs::remove_file(&stray).unwrap();
    let (mut child, stderr) = spawn_paused(
        &["rotate", s(&enc), "--passphrase-file", s(&pw)],
        "rotate-reencrypted",
    );
    fs::write(&stray, &old).unwrap();
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert_eq!(status.code(), Some(12), "{stderr}");
    assert!(stderr.contains("key \"bb_1\""), "{stderr}");
    assert!(stderr.contains("under key 0"), "{stderr}");
    assert!(stderr.contains("rotate --resume"), "{stderr}");
    // The old key was not retired, and every value still opens.
    assert_eq!(key_ids(&enc), (vec![0, 1], 1));
    verify_with(&enc, &pw).success();
    let heads = record_heads(&enc);
    assert_eq!(heads["monitors/bb_1"], (2, 0));
    rotate_with(&enc, &pw, &["--resume"])
        .success()
        .stdout(predicate::str::contains("re-encrypted 1 of 5 values"));
    assert_eq!(key_ids(&enc), (vec![1], 1));
    assert_all_records_under(&enc, 1, 5);
}

// ---------------------------------------------------------------------------------------------
// The freshness anchor (`--anchor`, `anchor accept`, `anchor detach`)

/// `CMD STORE --passphrase-file PW --anchor ANCHOR` with extra arguments.
fn anchored(cmd: &str, store: &Path, pw: &Path, anchor: &Path, extra: &[&str]) -> Assert {
    cli()
        .args([
            cmd,
            s(store),
            "--passphrase-file",
            s(pw),
            "--anchor",
            s(anchor),
        ])
        .args(extra)
        .assert()
}

/// `anchor SUB STORE --anchor ANCHOR --passphrase-file PW`.
fn anchor_cmd(sub: &str, store: &Path, pw: &Path, anchor: &Path) -> Assert {
    cli()
        .args(["anchor", sub, s(store), "--anchor", s(anchor)])
        .args(["--passphrase-file", s(pw)])
        .assert()
}

/// The store in `store` opened through the library with its anchor in `anchor` (writable).
fn open_with_anchor(store: &Path, anchor: &Path) -> EncryptedStore<FilesystemStore> {
    OpenOptions::new()
        .anchor(StoreAnchor::new(FilesystemStore::new(anchor.to_path_buf())))
        .open(
            FilesystemStore::new(store.to_path_buf()),
            Credential::passphrase(b"pw"),
        )
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dst = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dst);
        } else {
            fs::copy(&p, &dst).unwrap();
        }
    }
}

/// The small store encrypted with `--anchor`: (store, passphrase file, anchor directory).
fn anchored_small(tmp: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let plain = tmp.join("plain");
    let enc = tmp.join("enc");
    let anchor = tmp.join("anchor");
    small_store(&plain);
    let pw = pass_file(tmp, "pw", "pw\n");
    encrypt_v2(&plain, &enc, &pw, &["--anchor", s(&anchor)])
        .success()
        .stdout(predicate::str::contains("format 2, anchored in"));
    assert!(anchor.is_dir());
    (enc, pw, anchor)
}

fn stderr_of(a: &Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

fn stdout_of(a: &Assert) -> String {
    String::from_utf8_lossy(&a.get_output().stdout).into_owned()
}

#[test]
fn init_with_anchor_then_write_verify_and_an_older_copy_put_back_exits_13() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let anchor = tmp.path().join("anchor");
    let pw = pass_file(tmp.path(), "pw", "pw\n");
    cli()
        .args(["init", s(&store), "--passphrase-file", s(&pw), CHEAP])
        .args(["--anchor", s(&anchor)])
        .assert()
        .success()
        .stdout(predicate::str::contains("format 2, anchored in"));
    let info = info_json(&store);
    assert_eq!(info["format_version"], 2);
    assert_eq!(info["anchored"], true);
    assert!(info_text(&store).contains("anchored:       yes"));
    {
        let enc = open_with_anchor(&store, &anchor);
        KVStoreSync::write(&enc, "", "", "manager", b"first".to_vec()).unwrap();
    }
    let ok = anchored("verify", &store, &pw, &anchor, &[]).success();
    let out = stdout_of(&ok);
    assert!(out.contains("verified 1 values"), "{out}");
    assert!(
        out.contains("freshness: checked against the anchor in"),
        "{out}"
    );
    assert!(
        out.contains("every value read passed the freshness checks"),
        "{out}"
    );
    let json = anchored("verify", &store, &pw, &anchor, &["--json"]).success();
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["freshness"]["failed"], 0);
    assert!(v["freshness"]["header_seq"].as_u64().unwrap() >= 1);

    // An older copy of the whole store (header included), put back after a later write.
    let old = tmp.path().join("old");
    copy_dir(&store, &old);
    {
        let enc = open_with_anchor(&store, &anchor);
        KVStoreSync::write(&enc, "", "", "manager", b"second".to_vec()).unwrap();
    }
    fs::remove_dir_all(&store).unwrap();
    copy_dir(&old, &store);
    let bad = anchored("verify", &store, &pw, &anchor, &[]).code(13);
    let err = stderr_of(&bad);
    assert!(
        err.contains("FRESHNESS CHECK FAILED: rollback detected"),
        "{err}"
    );
    assert!(
        err.contains("older copy of the store was put back"),
        "{err}"
    );
    assert!(err.contains("anchor accept"), "{err}");
    assert!(!err.contains("first") && !err.contains("second"), "{err}");
    // Every command that opens the store refuses it the same way.
    anchored(
        "passwd",
        &store,
        &pw,
        &anchor,
        &["--new-passphrase-file", s(&pw), CHEAP],
    )
    .code(13);
    let out = tmp.path().join("out");
    cli()
        .args([
            "cat",
            s(&store),
            "",
            "",
            "manager",
            "--passphrase-file",
            s(&pw),
        ])
        .args(["--anchor", s(&anchor)])
        .assert()
        .code(13)
        .stdout(predicate::str::is_empty());
    cli()
        .args(["decrypt", "--from", s(&store), "--to", s(&out)])
        .args(["--passphrase-file", s(&pw), "--anchor", s(&anchor)])
        .assert()
        .code(13);
    assert!(!out.exists());
}

#[test]
fn a_value_put_back_or_deleted_behind_the_store_fails_verify_with_exit_13_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (enc, pw, anchor) = anchored_small(tmp.path());
    anchored("verify", &enc, &pw, &anchor, &[]).success();
    let aa = enc.join("monitors/aa_0");
    let older = fs::read(&aa).unwrap();
    {
        let st = open_with_anchor(&enc, &anchor);
        KVStoreSync::write(&st, "monitors", "", "aa_0", b"NEWER-MONITOR".to_vec()).unwrap();
    }
    anchored("verify", &enc, &pw, &anchor, &[]).success();
    // The older record is authentic: only the anchor tells it is stale.
    fs::write(&aa, &older).unwrap();
    let bad = anchored("verify", &enc, &pw, &anchor, &[]).code(13);
    let out = stdout_of(&bad);
    let err = stderr_of(&bad);
    assert!(out.contains("FAILED monitors/aa_0"), "{out}");
    assert!(out.contains("rollback detected"), "{out}");
    assert!(
        out.contains("1 of 4 values FAILED the freshness checks"),
        "{out}"
    );
    assert!(
        err.contains("FRESHNESS CHECK FAILED: 1 of 4 values"),
        "{err}"
    );
    assert!(
        !out.contains("SECRET-MONITOR-VALUE") && !out.contains("NEWER"),
        "{out}"
    );
    let json = anchored("verify", &enc, &pw, &anchor, &["--json"]).code(13);
    let v: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["freshness"]["failed"], 1);
    assert_eq!(v["failed"][0]["key"], "aa_0");
    assert_eq!(v["failed"][0]["failure"], "freshness");
    // `cat` of the stale value is refused with the same code, and writes nothing to stdout.
    cli()
        .args([
            "cat",
            s(&enc),
            "monitors",
            "",
            "aa_0",
            "--passphrase-file",
            s(&pw),
        ])
        .args(["--anchor", s(&anchor)])
        .assert()
        .code(13)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("rollback detected"));
    // Without the anchor the stale store does not even open (never silently unchecked).
    verify_with(&enc, &pw)
        .code(14)
        .stderr(predicate::str::contains("AnchorRequired"));

    // A deleted value is a freshness failure too.
    let tmp2 = tempfile::tempdir().unwrap();
    let (enc2, pw2, anchor2) = anchored_small(tmp2.path());
    fs::remove_file(enc2.join("monitors/bb_1")).unwrap();
    let gone = anchored("verify", &enc2, &pw2, &anchor2, &[]).code(13);
    let all = format!("{}{}", stdout_of(&gone), stderr_of(&gone));
    assert!(all.contains("deletion detected"), "{all}");
    assert!(all.contains("bb_1"), "{all}");
}

#[test]
fn a_whole_namespace_deleted_behind_an_anchored_store_fails_verify_with_exit_13_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    // Keys in three namespaces: the top level, `monitors` and `monitor_updates/aa_0`.
    let (enc, pw, anchor) = anchored_small(tmp.path());
    anchored("verify", &enc, &pw, &anchor, &[])
        .success()
        .stdout(predicate::str::contains("verified 4 values"));
    // Every value of `monitors` deleted: the inner store no longer lists the namespace at all.
    let monitors = enc.join("monitors");
    for e in fs::read_dir(&monitors).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    fs::remove_dir(&monitors).unwrap();
    for json in [&[][..], &["--json"]] {
        let gone = anchored("verify", &enc, &pw, &anchor, json).code(13);
        let all = format!("{}{}", stdout_of(&gone), stderr_of(&gone));
        assert!(all.contains("FRESHNESS CHECK FAILED"), "{all}");
        assert!(all.contains("deletion detected"), "{all}");
        assert!(all.contains("primary namespace \"monitors\""), "{all}");
        assert!(all.contains("key \"aa_0\""), "{all}");
        assert!(!all.contains("SECRET-MONITOR-VALUE"), "{all}");
    }
}

#[test]
fn an_anchored_store_opened_without_its_anchor_exits_14_naming_anchor_required() {
    let tmp = tempfile::tempdir().unwrap();
    let (enc, pw, _anchor) = anchored_small(tmp.path());
    let before = snapshot(&enc);
    let check = |a: Assert| {
        let err = stderr_of(&a.code(14));
        assert!(err.contains("AnchorRequired"), "{err}");
        assert!(err.contains("watched by a freshness anchor"), "{err}");
        assert!(err.contains("--anchor DIR"), "{err}");
    };
    check(verify_with(&enc, &pw));
    check(
        cli()
            .args([
                "cat",
                s(&enc),
                "",
                "",
                "manager",
                "--passphrase-file",
                s(&pw),
            ])
            .assert(),
    );
    check(rotate_with(&enc, &pw, &[]));
    check(
        cli()
            .args(["passwd", s(&enc), "--passphrase-file", s(&pw)])
            .args(["--new-passphrase-file", s(&pw), CHEAP])
            .assert(),
    );
    check(decrypt_with(&enc, &tmp.path().join("out"), &pw));
    assert_eq!(snapshot(&enc), before, "a refused open wrote the store");
    // `info` needs no anchor and says the store is anchored; `ls` of names in clear reads only
    // the inner store.
    assert_eq!(info_json(&enc)["anchored"], true);
    cli()
        .args(["ls", s(&enc)])
        .assert()
        .success()
        .stdout(predicate::str::contains("monitors/aa_0"));
    // An anchor that overlaps the store is refused before anything is read (usage, exit 2).
    anchored("verify", &enc, &pw, &enc.join("monitors"), &[])
        .code(2)
        .stderr(predicate::str::contains("overlaps the store"));
}

#[test]
fn a_lost_anchor_exits_14_suggesting_accept_and_anchor_accept_makes_verify_pass() {
    let tmp = tempfile::tempdir().unwrap();
    let (enc, pw, anchor) = anchored_small(tmp.path());
    // The anchor directory emptied (a new device, a lost disk).
    fs::remove_dir_all(&anchor).unwrap();
    anchored("verify", &enc, &pw, &anchor, &[])
        .code(14)
        .stderr(predicate::str::contains("no such directory"))
        .stderr(predicate::str::contains("anchor accept"));
    fs::create_dir(&anchor).unwrap();
    let lost = anchored("verify", &enc, &pw, &anchor, &[]).code(14);
    let err = stderr_of(&lost);
    assert!(err.contains("AnchorEmpty"), "{err}");
    assert!(err.contains("knows nothing of the store"), "{err}");
    assert!(
        err.contains(&format!(
            "encrypted-kvstore anchor accept {} --anchor {}",
            s(&enc),
            s(&anchor)
        )),
        "{err}"
    );
    let accepted = anchor_cmd("accept", &enc, &pw, &anchor).success();
    let out = stdout_of(&accepted);
    let err = stderr_of(&accepted);
    assert!(
        out.contains("accepted the current state of") && out.contains("4 values authenticated"),
        "{out}"
    );
    assert!(err.contains("trusted from here on"), "{err}");
    anchored("verify", &enc, &pw, &anchor, &[])
        .success()
        .stdout(predicate::str::contains(
            "every value read passed the freshness checks",
        ));
    // Accepting a tampered store is refused, and leaves the anchor as it was.
    let before = snapshot(&anchor);
    let aa = enc.join("monitors/aa_0");
    let mut rec = fs::read(&aa).unwrap();
    let last = rec.len() - 1;
    rec[last] ^= 1;
    fs::write(&aa, &rec).unwrap();
    // Exit 1, "a value did not authenticate", naming the value: never a panic (101), never
    // another failure.
    let refused = anchor_cmd("accept", &enc, &pw, &anchor);
    let out = refused.get_output();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("authentication failed") && err.contains("aa_0"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(snapshot(&anchor), before);
}

#[test]
fn anchor_accept_attaches_a_store_and_detach_lets_it_open_without_the_anchor() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, enc, pw) = encrypted_private(tmp.path(), &[]);
    let anchor = tmp.path().join("anchor");
    assert_eq!(info_json(&enc)["anchored"], false);
    // Not attached yet: an anchor given is refused, naming the way to attach it.
    fs::create_dir(&anchor).unwrap();
    anchored("verify", &enc, &pw, &anchor, &[])
        .code(14)
        .stderr(predicate::str::contains("AnchorNotAttached"))
        .stderr(predicate::str::contains("anchor accept"));
    anchor_cmd("accept", &enc, &pw, &anchor)
        .success()
        .stdout(predicate::str::contains("values authenticated"))
        .stdout(predicate::str::contains("store attached"));
    assert_eq!(info_json(&enc)["anchored"], true);
    verify_with(&enc, &pw).code(14);
    anchored("verify", &enc, &pw, &anchor, &[]).success();
    // passwd and rotate work through the anchor, and keep it up to date.
    let pw2 = pass_file(tmp.path(), "pw2", "pw\n");
    anchored(
        "passwd",
        &enc,
        &pw,
        &anchor,
        &["--new-passphrase-file", s(&pw2), CHEAP],
    )
    .success();
    anchored("rotate", &enc, &pw, &anchor, &[]).success();
    anchored("verify", &enc, &pw, &anchor, &[]).success();

    anchor_cmd("detach", &enc, &pw, &anchor)
        .success()
        .stdout(predicate::str::contains("opens without --anchor again"));
    assert_eq!(info_json(&enc)["anchored"], false);
    assert!(info_text(&enc).contains("anchored:       no"));
    verify_with(&enc, &pw)
        .success()
        .stdout(predicate::str::contains("all authentic"));
    anchored("verify", &enc, &pw, &anchor, &[])
        .code(14)
        .stderr(predicate::str::contains("AnchorNotAttached"));
}
