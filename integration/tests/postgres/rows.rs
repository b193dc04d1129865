//! What the database holds, read with plain SQL: only ciphertext in `value` (no value's bytes
//! in any row), and with `encrypt_names()` no plaintext namespace or key in any row's names
//! either. And a table that is emptied, or dropped and created anew, is never taken for an
//! empty store: the open store refuses the keys it knew (`Missing`), and opening again is
//! `NotInitialized` and writes nothing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::anchor::{create_anchored, reopen_anchored};
use super::pg::connect;
use super::v::{ldk, V};
use crate::common::{cheap, read_error, PASSPHRASE};
use crate::server::{pg_env, table, Sql};
use encrypted_kvstore::{
    Credential, EncryptedStore, ListError, OpenError, OpenOptions, RawKey, ReadError, HEADER_KEY,
    HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io::ErrorKind;
use ldk::util::persist::KVStoreSync;

/// A namespace pair and key.
type Place = (&'static str, &'static str, &'static str);

/// Values LDK and ldk-node write, under their own names, each distinctive throughout.
fn values() -> Vec<(Place, Vec<u8>)> {
    let text = |tag: &str, n: usize| -> Vec<u8> {
        (0..n)
            .map(|i| format!("{tag} plaintext {i:05} "))
            .collect::<String>()
            .into_bytes()
    };
    vec![
        (("", "", "manager"), text("channel manager", 200)),
        (
            (
                "monitors",
                "",
                "8d2c9f0e5b7a41368d2c9f0e5b7a41368d2c9f0e5b7a41368d2c9f0e5b7a4136_0",
            ),
            text("channel monitor", 100),
        ),
        (
            (
                "monitor_updates",
                "8d2c9f0e5b7a41368d2c9f0e5b7a41368d2c9f0e5b7a41368d2c9f0e5b7a4136_0",
                "17",
            ),
            text("monitor update", 5),
        ),
        (
            ("payments", "", "payment_hash_of_invoice_1"),
            text("payment details", 3),
        ),
        (
            ("bdk_wallet", "", "descriptor"),
            b"wpkh(tprv8ZgxMBicQKsPd/84h/1h/0h/0/*)".to_vec(),
        ),
        (("", "", "network_graph"), text("network graph", 1000)),
    ]
}

#[test]
fn the_table_holds_only_ciphertext_and_with_encrypted_names_no_plaintext_name() {
    let Some(url) =
        pg_env("the_table_holds_only_ciphertext_and_with_encrypted_names_no_plaintext_name")
            .map(|env| env.primary)
    else {
        return;
    };
    let sql = Sql::connect(&url);
    for (mode, opts) in [
        ("v2", OpenOptions::new()),
        ("names", OpenOptions::new().encrypt_names()),
        (
            "names+padding",
            OpenOptions::new().encrypt_names().pad_values(),
        ),
    ] {
        let t = table("rows");
        let store = opts
            .create::<V, _>(
                connect(&url, &t),
                Credential::passphrase_with(PASSPHRASE, cheap()),
            )
            .unwrap();
        let values = values();
        for ((p, s, k), v) in &values {
            store.write(p, s, k, v.clone()).unwrap();
        }
        let rows = sql.rows(&t);
        assert_eq!(
            rows.len(),
            values.len() + 1,
            "{mode}: the values and the header"
        );
        let mut header_rows = 0;
        for (p, s, k, value) in &rows {
            if p == RESERVED_PRIMARY_NAMESPACE {
                assert_eq!(
                    (s.as_str(), k.as_str()),
                    (HEADER_SECONDARY_NAMESPACE, HEADER_KEY)
                );
                header_rows += 1;
            }
            for (_, plain) in &values {
                // No 16-byte window of any value (at its start, a third, half and end)
                // anywhere in any stored value.
                let len = plain.len() - 16;
                for start in [0, len / 3, len / 2, len] {
                    let w = &plain[start..start + 16];
                    assert!(
                        !value.windows(16).any(|x| x == w),
                        "{mode}: {p}/{s}/{k} holds plaintext"
                    );
                }
            }
            if mode.contains("names") {
                for ((vp, vs, vk), _) in &values {
                    for name in [vp, vs, vk].into_iter().filter(|n| !n.is_empty()) {
                        for stored in [p, s, k] {
                            // Short names ("17") can occur in base64 by chance: only an equal
                            // stored name would show them.
                            let shown = if name.len() >= 6 {
                                stored.contains(*name)
                            } else {
                                stored == name
                            };
                            assert!(!shown, "{mode}: row {p}/{s}/{k} shows the name {name}");
                        }
                    }
                }
            }
        }
        assert_eq!(header_rows, 1, "{mode}");
        if !mode.contains("names") {
            // Names are passed through: each value is in its own plaintext row.
            for ((vp, vs, vk), _) in &values {
                assert!(rows
                    .iter()
                    .any(|(p, s, k, _)| (p, s, k)
                        == (&vp.to_string(), &vs.to_string(), &vk.to_string())));
            }
        }
        // And every value reads back through the store.
        for ((p, s, k), v) in &values {
            assert_eq!(&store.read(p, s, k).unwrap(), v, "{mode}");
        }
    }
}

#[test]
fn an_emptied_or_recreated_table_is_never_an_empty_store() {
    let Some(url) =
        pg_env("an_emptied_or_recreated_table_is_never_an_empty_store").map(|env| env.primary)
    else {
        return;
    };
    let sql = Sql::connect(&url);
    let t = table("dropped");
    let store = EncryptedStore::create::<V>(
        connect(&url, &t),
        Credential::passphrase_with(PASSPHRASE, cheap()),
    )
    .unwrap();
    store
        .write("monitors", "", "m1_0", b"monitor".to_vec())
        .unwrap();
    store
        .write("monitors", "", "m2_0", b"monitor".to_vec())
        .unwrap();

    // Emptied under the open store: what it wrote is missing, not absent.
    sql.batch(&format!("DELETE FROM {t}"));
    let e = store.read("monitors", "", "m1_0").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e:?}");
    assert!(
        matches!(read_error(&e), Some(ReadError::Missing { .. })),
        "{e:?}"
    );
    let e = store.list("monitors", "").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e:?}");
    assert!(
        matches!(
            e.get_ref().and_then(|e| e.downcast_ref::<ListError>()),
            Some(ListError::Missing { .. })
        ),
        "{e:?}"
    );
    drop(store);

    // Dropped, and created anew by the next writable connection: opening finds no header.
    sql.batch(&format!("DROP TABLE {t}"));
    let inner = connect(&url, &t);
    assert!(sql.rows(&t).is_empty(), "the store created the table anew");
    for r in [
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)),
        EncryptedStore::open::<V>(
            inner.clone(),
            Credential::raw_key(&RawKey::from_bytes([1; 32])),
        ),
        OpenOptions::new()
            .read_only()
            .open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE)),
    ] {
        assert!(matches!(r, Err(OpenError::NotInitialized)), "{:?}", r.err());
    }
    assert!(matches!(
        EncryptedStore::inspect::<V>(&inner),
        Err(OpenError::NotInitialized)
    ));
    assert!(sql.rows(&t).is_empty(), "opening wrote to the table");
}

/// An anchored store whose table was dropped and created anew: `NotInitialized` at open too.
#[test]
fn an_anchored_store_over_a_recreated_table_does_not_open() {
    let Some(url) =
        pg_env("an_anchored_store_over_a_recreated_table_does_not_open").map(|env| env.primary)
    else {
        return;
    };
    let sql = Sql::connect(&url);
    let (t, dir) = (table("dropped_anchored"), tempfile::tempdir().unwrap());
    let store = create_anchored(&url, &t, dir.path());
    store
        .write("monitors", "", "m1_0", b"monitor".to_vec())
        .unwrap();
    drop(store);
    sql.batch(&format!("DROP TABLE {t}"));
    let e = reopen_anchored(&url, &t, dir.path()).unwrap_err();
    assert!(matches!(e, OpenError::NotInitialized), "{e:?}");
    assert!(sql.rows(&t).is_empty(), "opening wrote to the table");
}
