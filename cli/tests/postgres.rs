//! The binary on stores in PostgreSQL: a real LDK node directory moved into a table, encrypted,
//! in one step, and every command on it; interrupted and failed moves; destinations that are
//! refused; the password of the connection URL never printed.
//!
//! Needs a server: `eval "$(scripts/pg-test-cluster start DIR PORT)"` (see
//! `encrypted_kvstore_postgres::test_support`); without one each test says it is skipped and
//! passes (with `EKV_PG_REQUIRED=1` it fails instead). Each test uses tables of its own.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use encrypted_kvstore::{Credential, OpenOptions, RECORD_OVERHEAD, RESERVED_PRIMARY_NAMESPACE};
use encrypted_kvstore_postgres::test_support::{pg_env, runtime, unique_table};
use encrypted_kvstore_postgres::{PostgresError, PostgresOptions, PostgresStore};
use lightning::util::persist::{read_channel_monitors, KVStoreSync, MigratableKVStore};
use lightning_persister::fs_store::FilesystemStore;
use support::{resume, spawn_paused, with_ldk_node_data, BIN};

mod support;

const CHEAP: &str = "--insecure-kdf-for-tests-only";
/// The password put in every connection URL of these tests. The test servers trust loopback
/// connections and never ask for it, so it reaches the tool and the driver but changes nothing:
/// what is tested is only that the tool never prints it.
const SECRET: &str = "Url-Pa55word-7c1e";

/// The shared primary's URL with [`SECRET`] as its password, or `None` (test skipped).
fn url_with_password(test: &str) -> Option<String> {
    let env = pg_env(test)?;
    let url = env
        .primary
        .replacen("://postgres@", &format!("://postgres:{SECRET}@"), 1);
    assert!(url.contains(SECRET), "unexpected URL form {}", env.primary);
    Some(url)
}

/// Runs the binary with `args` and no passphrase in its environment, and checks that neither
/// its stdout nor its stderr shows the URL's password, whatever the outcome.
fn run(args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("ENCRYPTED_KVSTORE_PASSPHRASE")
        .env_remove("ENCRYPTED_KVSTORE_NEW_PASSPHRASE")
        .output()
        .unwrap();
    no_secret(&out);
    out
}

fn no_secret(out: &Output) {
    for stream in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(stream);
        assert!(
            !text.contains(SECRET),
            "the URL's password was printed: {text}"
        );
    }
}

/// [`run`], expecting exit code `code`.
fn run_code(args: &[&str], code: i32) -> Output {
    let out = run(args);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
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

/// A store on `table`, connected by the test itself: read-only unless `writable`.
fn connect(
    rt: &tokio::runtime::Runtime,
    url: &str,
    table: &str,
    writable: bool,
) -> Result<PostgresStore, lightning::io::Error> {
    let o = PostgresOptions::new().table(table);
    let o = if writable { o } else { o.read_only() };
    o.connect(url, rt.handle().clone())
}

/// Whether `table` exists (a read-only store refuses a missing table with `NoTable`).
fn table_exists(rt: &tokio::runtime::Runtime, url: &str, table: &str) -> bool {
    match connect(rt, url, table, false) {
        Ok(_) => true,
        Err(e) => match e.get_ref().and_then(|i| i.downcast_ref::<PostgresError>()) {
            Some(PostgresError::NoTable { .. }) => false,
            _ => panic!("cannot inspect table {table}: {e}"),
        },
    }
}

/// Every row of `table`: (primary, secondary, key) -> stored bytes.
fn rows(
    rt: &tokio::runtime::Runtime,
    url: &str,
    table: &str,
) -> BTreeMap<(String, String, String), Vec<u8>> {
    let st = connect(rt, url, table, false).unwrap();
    st.list_all_keys()
        .unwrap()
        .into_iter()
        .map(|(p, s, k)| {
            let v = KVStoreSync::read(&st, &p, &s, &k).unwrap();
            ((p, s, k), v)
        })
        .collect()
}

/// Every value of a plaintext `FilesystemStore` directory.
fn fs_values(dir: &Path) -> BTreeMap<(String, String, String), Vec<u8>> {
    let st = FilesystemStore::new(dir.to_path_buf());
    st.list_all_keys()
        .unwrap()
        .into_iter()
        .map(|(p, s, k)| {
            let v = KVStoreSync::read(&st, &p, &s, &k).unwrap();
            ((p, s, k), v)
        })
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_real_ldk_directory_moves_into_postgres_encrypted_and_every_command_works_on_it() {
    let Some(url) = url_with_password("a_real_ldk_directory_moves_into_postgres") else {
        return;
    };
    let rt = runtime();
    let table = unique_table("cli_ldk");
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("ldk-data");
    let pw1 = pass_file(tmp.path(), "pw1", "first passphrase\n");
    let pw2 = pass_file(tmp.path(), "pw2", "second passphrase");
    let anchor = tmp.path().join("anchor");
    let t = ["--pg-table", table.as_str()];

    with_ldk_node_data(&plain, |keys| {
        let source = fs_values(&plain);
        assert!(source.keys().any(|k| k.0 == "monitors"));
        let started = std::time::Instant::now();
        let out = run_code(
            &[
                &["encrypt", "--from", s(&plain), "--to", &url],
                &t[..],
                &["--passphrase-file", s(&pw1), CHEAP],
            ]
            .concat(),
            0,
        );
        eprintln!(
            "encrypt of {} values into PostgreSQL: {:?}",
            source.len(),
            started.elapsed()
        );
        assert!(
            stdout(&out).contains(&format!("encrypted {} values", source.len())),
            "{}",
            stdout(&out)
        );
        assert!(stdout(&out).contains("every value was read back"));
        assert!(stdout(&out).contains(&format!("(table {table})")));
        assert!(stdout(&out).contains("postgres:***@"), "{}", stdout(&out));
        assert!(!table_exists(&rt, &url, &format!("{table}_ekv_partial")));

        // The table holds the header and one row per source value, each a record of its
        // value's size plus the format 2 overhead, with no plaintext in it.
        let stored = rows(&rt, &url, &table);
        assert_eq!(stored.len(), source.len() + 1);
        assert!(stored
            .keys()
            .any(|k| k.0 == RESERVED_PRIMARY_NAMESPACE && k.2 == "header"));
        for (k, v) in &source {
            let c = &stored[k];
            assert_eq!(c.len(), v.len() + RECORD_OVERHEAD, "{k:?}");
            assert!(!contains(c, &v[..v.len().min(32)]), "{k:?} stored in clear");
        }

        // LDK reads the channel monitors back through EncryptedStore<PostgresStore>.
        let store = OpenOptions::new()
            .read_only()
            .open::<encrypted_kvstore::ldk::V0_2, _>(
                connect(&rt, &url, &table, false).unwrap(),
                Credential::passphrase(b"first passphrase"),
            )
            .unwrap();
        let monitors = read_channel_monitors(&store, keys, keys).unwrap();
        assert_eq!(monitors.len(), 1);
        assert_eq!(monitors[0].1.get_latest_update_id(), 10);
        drop(store);

        let info = json(&run_code(&[&["info", &url, "--json"], &t[..]].concat(), 0));
        assert_eq!(info["format_version"], 2);
        assert_eq!(info["values"], source.len());
        assert_eq!(info["anchored"], false);

        let listed = json(&run_code(
            &[
                &["ls", &url, "--json"],
                &t[..],
                &["--passphrase-file", s(&pw1)],
            ]
            .concat(),
            0,
        ));
        let listed: Vec<(String, String, String)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let f = |n: &str| e[n].as_str().unwrap().to_owned();
                (f("primary_namespace"), f("secondary_namespace"), f("key"))
            })
            .collect();
        assert_eq!(listed, source.keys().cloned().collect::<Vec<_>>());

        let manager = run_code(
            &[
                &["cat", &url, "", "", "manager"],
                &t[..],
                &["--passphrase-file", s(&pw1)],
            ]
            .concat(),
            0,
        );
        assert_eq!(
            manager.stdout,
            source[&(String::new(), String::new(), "manager".to_owned())]
        );

        let verify = |pw: &Path, extra: &[&str], code: i32| {
            run_code(
                &[
                    &["verify", &url, "--json"],
                    &t[..],
                    &["--passphrase-file", s(pw)],
                    extra,
                ]
                .concat(),
                code,
            )
        };
        let v = json(&verify(&pw1, &[], 0));
        assert_eq!(v["ok"], true);
        assert_eq!(v["values"], source.len());
        assert!(v["directory"].as_str().unwrap().contains(&table));

        // passwd: the new passphrase opens it, the old one no longer does (exit 3).
        run_code(
            &[
                &["passwd", &url],
                &t[..],
                &["--passphrase-file", s(&pw1)],
                &["--new-passphrase-file", s(&pw2), CHEAP],
            ]
            .concat(),
            0,
        );
        verify(&pw1, &[], 3);
        verify(&pw2, &[], 0);

        // rotate: every value re-encrypted under a new data key, the old one retired.
        let before = rows(&rt, &url, &table);
        let out = run_code(
            &[&["rotate", &url], &t[..], &["--passphrase-file", s(&pw2)]].concat(),
            0,
        );
        assert!(stdout(&out).contains(&format!(
            "re-encrypted {} of {} values",
            source.len(),
            source.len()
        )));
        let info = json(&run_code(&[&["info", &url, "--json"], &t[..]].concat(), 0));
        assert_eq!(info["v2"]["key_ids"], serde_json::json!([1]));
        let after = rows(&rt, &url, &table);
        for k in source.keys() {
            assert_ne!(before[k], after[k], "{k:?} not rewritten by rotate");
        }
        verify(&pw2, &[], 0);

        // anchor accept: from then on the store opens only with its anchor (exit 14 without),
        // and the anchor is checked; detach lets it open without the anchor again.
        let out = run_code(
            &[
                &["anchor", "accept", &url],
                &t[..],
                &["--anchor", s(&anchor), "--passphrase-file", s(&pw2)],
            ]
            .concat(),
            0,
        );
        assert!(stdout(&out).contains(&format!("{} values authenticated", source.len())));
        assert_eq!(
            json(&run_code(&[&["info", &url, "--json"], &t[..]].concat(), 0))["anchored"],
            true
        );
        verify(&pw2, &[], 14);
        let v = json(&verify(&pw2, &["--anchor", s(&anchor)], 0));
        assert_eq!(v["freshness"]["failed"], 0);
        run_code(
            &[
                &["anchor", "detach", &url],
                &t[..],
                &["--anchor", s(&anchor), "--passphrase-file", s(&pw2)],
            ]
            .concat(),
            0,
        );
        verify(&pw2, &[], 0);

        // decrypt back into a directory: the same values as the source.
        let out_dir = tmp.path().join("decrypted");
        run_code(
            &[
                &["decrypt", "--from", &url, "--to", s(&out_dir)],
                &t[..],
                &["--passphrase-file", s(&pw2)],
            ]
            .concat(),
            0,
        );
        assert_eq!(fs_values(&out_dir), source);
    });
}

#[test]
fn names_are_encrypted_in_the_table_with_encrypt_names() {
    let Some(url) = url_with_password("names_are_encrypted_in_the_table_with_encrypt_names") else {
        return;
    };
    let rt = runtime();
    let table = unique_table("cli_names");
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("ldk-data");
    let pw = pass_file(tmp.path(), "pw", "a passphrase");
    let st = FilesystemStore::new(plain.clone());
    st.write("", "", "manager", b"MANAGER-BYTES-0123456789".to_vec())
        .unwrap();
    st.write("monitors", "", "aa_0", b"SECRET-MONITOR-VALUE".to_vec())
        .unwrap();
    st.write("monitor_updates", "aa_0", "1", b"update one".to_vec())
        .unwrap();
    run_code(
        &[
            "encrypt",
            "--from",
            s(&plain),
            "--to",
            &url,
            "--pg-table",
            &table,
            "--passphrase-file",
            s(&pw),
            CHEAP,
            "--encrypt-names",
            "--pad",
        ],
        0,
    );
    let stored = rows(&rt, &url, &table);
    assert_eq!(stored.len(), 4);
    for ((p, sec, k), v) in &stored {
        for name in ["manager", "monitors", "monitor_updates", "aa_0"] {
            assert!(
                !p.contains(name) && !sec.contains(name) && !k.contains(name),
                "stored name {p}/{sec}/{k} shows {name}"
            );
        }
        assert!(!contains(v, b"SECRET-MONITOR") && !contains(v, b"MANAGER-BYTES"));
    }
    // `ls` without a passphrase prints none of the stored names; with it, the real ones.
    let out = run_code(&["ls", &url, "--pg-table", &table], 8);
    assert!(stderr(&out).contains("encrypted"));
    let out = run_code(
        &[
            "ls",
            &url,
            "--pg-table",
            &table,
            "--passphrase-file",
            s(&pw),
        ],
        0,
    );
    assert_eq!(
        stdout(&out),
        "manager\nmonitor_updates/aa_0/1\nmonitors/aa_0\n"
    );
}

#[test]
fn an_interrupted_or_failed_encrypt_leaves_nothing_that_looks_complete() {
    let Some(url) = url_with_password("an_interrupted_or_failed_encrypt") else {
        return;
    };
    let rt = runtime();
    let table = unique_table("cli_interrupted");
    let staging = format!("{table}_ekv_partial");
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("ldk-data");
    let pw = pass_file(tmp.path(), "pw", "a passphrase");
    let st = FilesystemStore::new(plain.clone());
    st.write("", "", "manager", b"a channel manager".to_vec())
        .unwrap();
    st.write("monitors", "", "aa_0", b"a monitor".to_vec())
        .unwrap();
    let args = [
        "encrypt",
        "--from",
        s(&plain),
        "--to",
        &url,
        "--pg-table",
        &table,
        "--passphrase-file",
        s(&pw),
        CHEAP,
    ];
    let looks_encrypted = |code: i32| {
        let out = run_code(&["info", &url, "--pg-table", &table, "--json"], code);
        if code == 4 {
            assert!(
                stderr(&out).contains("not an encrypted store"),
                "{}",
                stderr(&out)
            );
        }
    };

    // Killed after the copy, before the read-back and the move: the destination holds no
    // row (it is no encrypted store); the copy is only in the staging table.
    let mut child = spawn_paused(&args, "encrypt-copied");
    child.kill().unwrap();
    child.wait().unwrap();
    looks_encrypted(4);
    assert!(rows(&rt, &url, &table).is_empty());
    assert!(rows(&rt, &url, &staging)
        .keys()
        .any(|k| k.0 == RESERVED_PRIMARY_NAMESPACE));

    // The same command again: drops the staging table and finishes.
    let out = run_code(&args, 0);
    assert!(
        stderr(&out).contains("removing the staging table"),
        "{}",
        stderr(&out)
    );
    assert!(!table_exists(&rt, &url, &staging));
    looks_encrypted(0);
    assert_eq!(rows(&rt, &url, &table).len(), 3);

    // Failed: the source changes between the copy and the read-back. Nothing is moved: a new
    // destination table is gone again, and so is the staging table.
    let table2 = unique_table("cli_failed");
    let args2: Vec<&str> = args
        .iter()
        .map(|a| if *a == table { table2.as_str() } else { a })
        .collect();
    let child = spawn_paused(&args2, "encrypt-copied");
    st.write("", "", "manager", b"a newer channel manager".to_vec())
        .unwrap();
    let out = resume(child);
    no_secret(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(!table_exists(&rt, &url, &table2));
    assert!(!table_exists(&rt, &url, &format!("{table2}_ekv_partial")));
}

#[test]
fn a_destination_table_that_holds_data_or_is_in_use_is_refused() {
    let Some(url) = url_with_password("a_destination_table_that_holds_data") else {
        return;
    };
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("ldk-data");
    let pw = pass_file(tmp.path(), "pw", "a passphrase");
    FilesystemStore::new(plain.clone())
        .write("", "", "manager", b"a channel manager".to_vec())
        .unwrap();
    let encrypt = |table: &str, code: i32| {
        run_code(
            &[
                "encrypt",
                "--from",
                s(&plain),
                "--to",
                &url,
                "--pg-table",
                table,
                "--passphrase-file",
                s(&pw),
                CHEAP,
            ],
            code,
        )
    };

    // A table holding a plaintext node's row: refused (exit 6), the row untouched, no staging
    // table made.
    let full = unique_table("cli_full");
    let node = connect(&rt, &url, &full, true).unwrap();
    KVStoreSync::write(&node, "", "", "manager", b"the node's own".to_vec()).unwrap();
    drop(node);
    let out = encrypt(&full, 6);
    assert!(
        stderr(&out).contains("already holds data"),
        "{}",
        stderr(&out)
    );
    let left = rows(&rt, &url, &full);
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[&(String::new(), String::new(), "manager".to_owned())],
        b"the node's own"
    );
    assert!(!table_exists(&rt, &url, &format!("{full}_ekv_partial")));

    // An encrypted store is refused as a destination too.
    let enc = unique_table("cli_enc");
    encrypt(&enc, 0);
    encrypt(&enc, 6);

    // A table a writer holds (a running node: its advisory lock) is refused (exit 10) and
    // left as it is; an empty table nobody holds is used.
    let empty = unique_table("cli_empty");
    let holder = connect(&rt, &url, &empty, true).unwrap();
    let out = encrypt(&empty, 10);
    assert!(stderr(&out).contains("in use"), "{}", stderr(&out));
    assert!(rows(&rt, &url, &empty).is_empty());
    drop(holder);
    encrypt(&empty, 0);
    assert_eq!(rows(&rt, &url, &empty).len(), 2);

    // A table name that is not a plain identifier never reaches SQL.
    let out = encrypt("x\"; DROP TABLE pg_class; --", 2);
    assert!(
        stderr(&out).contains("not a plain identifier"),
        "{}",
        stderr(&out)
    );

    // A table name too long for its staging table is refused before anything is made.
    let long = format!("t{}", "x".repeat(55));
    let out = encrypt(&long, 2);
    assert!(
        stderr(&out).contains("at most 51 characters"),
        "{}",
        stderr(&out)
    );
    assert!(!table_exists(&rt, &url, &long));
}

#[test]
fn the_password_in_a_url_is_never_printed() {
    let Some(url) = url_with_password("the_password_in_a_url_is_never_printed") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let pw = pass_file(tmp.path(), "pw", "a passphrase");
    let table = unique_table("cli_secret");

    // No server on the port (9, discard, where nothing listens on loopback): an I/O failure
    // naming the URL without its password.
    let port = url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap()
        .to_owned();
    let dead = url.replace(&format!(":{port}/"), ":9/");
    let out = run_code(&["info", &dead, "--json"], 10);
    assert!(stderr(&out).contains("postgres:***@"), "{}", stderr(&out));

    // A missing table: not an encrypted store (exit 4), named without the password.
    let out = run_code(
        &[
            "verify",
            &url,
            "--pg-table",
            &table,
            "--passphrase-file",
            s(&pw),
        ],
        4,
    );
    assert!(stderr(&out).contains(&table), "{}", stderr(&out));
    // The password as a URL parameter instead, and a table name that is not an identifier.
    let param = format!(
        "{}?password={SECRET}",
        url.replacen(&format!(":{SECRET}@"), "@", 1)
    );
    let out = run_code(&["info", &param, "--pg-table", &table], 4);
    assert!(stderr(&out).contains("password=***"), "{}", stderr(&out));
    run_code(&["info", &url, "--pg-table", "no-such table"], 2);

    // The password from PGPASSWORD (for a URL without one): used, and never printed either.
    let bare = url.replacen(&format!(":{SECRET}@"), "@", 1);
    let out = Command::new(BIN)
        .args(["info", &bare, "--pg-table", &table])
        .env("PGPASSWORD", SECRET)
        .output()
        .unwrap();
    no_secret(&out);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("?password=***"), "{}", stderr(&out));

    // A parse error of the command line that repeats the URL refused shows it redacted.
    run_code(&["info", &url, "--no-such-flag"], 2);
    let out = run_code(&["info", "extra", &url], 2);
    assert!(stderr(&out).contains("postgres:***@"), "{}", stderr(&out));
}

#[test]
fn init_makes_an_empty_store_in_a_table_and_refuses_one_that_holds_data() {
    let Some(url) = url_with_password("init_makes_an_empty_store_in_a_table") else {
        return;
    };
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let pw = pass_file(tmp.path(), "pw", "a passphrase");
    let table = unique_table("cli_init");
    let init = |code: i32| {
        run_code(
            &[
                "init",
                &url,
                "--pg-table",
                &table,
                "--passphrase-file",
                s(&pw),
                CHEAP,
            ],
            code,
        )
    };
    let out = init(0);
    assert!(stdout(&out).contains("created an empty encrypted store"));
    let info = json(&run_code(
        &["info", &url, "--pg-table", &table, "--json"],
        0,
    ));
    assert_eq!(info["format_version"], 2);
    assert_eq!(info["values"], 0);
    assert_eq!(rows(&rt, &url, &table).len(), 1, "the header only");
    // A second init finds the header: refused, the store left as it was.
    let before = rows(&rt, &url, &table);
    init(6);
    assert_eq!(rows(&rt, &url, &table), before);
    run_code(
        &[
            "verify",
            &url,
            "--pg-table",
            &table,
            "--passphrase-file",
            s(&pw),
        ],
        0,
    );
}

#[test]
fn a_plaintext_table_is_encrypted_into_another_table_and_decrypted_back_into_a_third() {
    let Some(url) = url_with_password("a_plaintext_table_is_encrypted_into_another_table") else {
        return;
    };
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let pw = pass_file(tmp.path(), "pw", "a passphrase");
    let (plain, enc, back) = (
        unique_table("cli_plain"),
        unique_table("cli_enc"),
        unique_table("cli_back"),
    );
    // A plaintext node's table, as ldk-node's own PostgresStore writes it.
    let node = connect(&rt, &url, &plain, true).unwrap();
    KVStoreSync::write(
        &node,
        "",
        "",
        "manager",
        b"MANAGER-BYTES-0123456789".to_vec(),
    )
    .unwrap();
    KVStoreSync::write(&node, "monitors", "", "aa_0", b"SECRET-MONITOR".to_vec()).unwrap();
    KVStoreSync::write(&node, "monitor_updates", "aa_0", "1", Vec::new()).unwrap();
    drop(node);
    let source = rows(&rt, &url, &plain);

    // One --pg-table for both is the same table: refused before anything is made.
    let base = ["--passphrase-file", s(&pw), CHEAP];
    let out = run_code(
        &[
            &[
                "encrypt",
                "--from",
                &url,
                "--to",
                &url,
                "--pg-table",
                &plain,
            ][..],
            &base,
        ]
        .concat(),
        2,
    );
    assert!(stderr(&out).contains("same table"), "{}", stderr(&out));
    run_code(
        &[
            &["encrypt", "--from", &url, "--from-pg-table", &plain][..],
            &["--to", &url, "--pg-table", &enc],
            &base,
        ]
        .concat(),
        0,
    );
    assert_eq!(rows(&rt, &url, &plain), source, "the source was modified");
    let stored = rows(&rt, &url, &enc);
    assert_eq!(stored.len(), source.len() + 1);
    assert!(stored.values().all(|v| !contains(v, b"SECRET-MONITOR")));

    let out = run_code(
        &[
            "decrypt",
            "--from",
            &url,
            "--from-pg-table",
            &enc,
            "--to",
            &url,
            "--pg-table",
            &back,
            "--passphrase-file",
            s(&pw),
        ],
        0,
    );
    assert!(stderr(&out).contains("UNENCRYPTED"));
    assert_eq!(rows(&rt, &url, &back), source);
    assert!(!table_exists(&rt, &url, &format!("{back}_ekv_partial")));
}
