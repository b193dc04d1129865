//! The core contract of `EncryptedStore` over LDK's `FilesystemStore` and the in-memory store:
//! round trips, typed errors, header handling, passphrase change, sync and async.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::v::{ldk, FilesystemStore, MigratableKVStoreSync, V};
use std::sync::Arc;

use encrypted_kvstore::RandomSource;

use encrypted_kvstore::{
    Credential, EncryptedStore, HeaderError, KdfParams, MemoryStore, OpenError, RawKey, ReadError,
    RotateError, SharedStore, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io::ErrorKind;
use ldk::util::persist::{migrate_kv_store_data, KVStoreSync};

fn cheap() -> KdfParams {
    KdfParams::insecure_for_tests_only(64, 1, 1).unwrap()
}

fn fs(dir: &std::path::Path) -> FilesystemStore {
    FilesystemStore::new(dir.to_path_buf())
}

#[test]
fn filesystem_round_trip_reopen_and_ciphertext_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            fs(dir.path()),
            Credential::passphrase_with(b"correct horse", cheap()),
        )
        .unwrap();
    let secret = b"channel monitor bytes: very secret".to_vec();
    store
        .write("monitors", "", "abcd_0", secret.clone())
        .unwrap();
    store.write("", "", "manager", vec![7; 1000]).unwrap();
    assert_eq!(store.read("monitors", "", "abcd_0").unwrap(), secret);
    drop(store);

    let on_disk = std::fs::read(dir.path().join("monitors").join("abcd_0")).unwrap();
    assert!(!on_disk.windows(6).any(|w| w == b"secret"));
    assert_eq!(
        on_disk.len(),
        secret.len() + encrypted_kvstore::RECORD_OVERHEAD
    );

    let store = EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(b"correct horse"))
        .unwrap();
    assert_eq!(store.read("monitors", "", "abcd_0").unwrap(), secret);
    assert_eq!(store.list("", "").unwrap(), vec!["manager".to_string()]);
    assert_eq!(
        store.list("monitors", "").unwrap(),
        vec!["abcd_0".to_string()]
    );
    let mut all = store.list_all_keys().unwrap();
    all.sort();
    assert_eq!(
        all,
        vec![
            ("".into(), "".into(), "manager".into()),
            ("monitors".into(), "".into(), "abcd_0".into())
        ]
    );
    store.remove("monitors", "", "abcd_0", false).unwrap();
    assert_eq!(
        store.read("monitors", "", "abcd_0").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn open_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(b"pw")),
        Err(OpenError::NotInitialized)
    ));
    assert!(
        std::fs::read_dir(dir.path())
            .map(|d| d.count())
            .unwrap_or(0)
            == 0
    );
    encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(fs(dir.path()), Credential::passphrase_with(b"pw", cheap()))
        .unwrap();
    assert!(matches!(
        encrypted_kvstore::OpenOptions::new()
            .create::<V, _>(fs(dir.path()), Credential::passphrase_with(b"pw", cheap())),
        Err(OpenError::AlreadyInitialized)
    ));
    assert!(matches!(
        EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(b"wrong")),
        Err(OpenError::WrongPassphrase)
    ));
    assert!(matches!(
        EncryptedStore::open::<V>(
            fs(dir.path()),
            Credential::raw_key(&RawKey::from_bytes([1; 32]))
        ),
        Err(OpenError::PassphraseRequired)
    ));
    assert!(matches!(
        encrypted_kvstore::OpenOptions::new().create::<V, _>(
            MemoryStore::new(),
            Credential::passphrase_with(b"", cheap())
        ),
        Err(OpenError::EmptyPassphrase)
    ));
}

#[test]
fn create_refuses_existing_plaintext_data() {
    let dir = tempfile::tempdir().unwrap();
    let plain = fs(dir.path());
    plain.write("monitors", "", "x_1", vec![1, 2, 3]).unwrap();
    match encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(fs(dir.path()), Credential::passphrase_with(b"pw", cheap()))
    {
        Err(OpenError::ExistingData { primary_namespace }) => {
            assert_eq!(primary_namespace, "monitors")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(b"pw")),
        Err(OpenError::NotInitialized)
    ));
}

#[test]
fn authentication_failure_names_the_key_and_is_invalid_data() {
    let inner = MemoryStore::new();
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(inner.clone(), Credential::passphrase_with(b"pw", cheap()))
        .unwrap();
    store.write("p", "s", "k", b"v".to_vec()).unwrap();
    let rec = inner.read("p", "s", "k").unwrap();
    inner.write("p", "s", "other", rec).unwrap();
    let err = store.read("p", "s", "other").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    let typed = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<ReadError>())
        .unwrap();
    assert_eq!(
        typed,
        &ReadError::AuthenticationFailed {
            primary_namespace: "p".into(),
            secondary_namespace: "s".into(),
            key: "other".into()
        }
    );
    assert!(err.to_string().contains("\"other\""));
}

#[test]
fn invalid_and_reserved_names_are_invalid_input() {
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            MemoryStore::new(),
            Credential::passphrase_with(b"pw", cheap()),
        )
        .unwrap();
    for (p, s, k) in [("", "s", "k"), ("p", "", ""), ("p", "", "a/b")] {
        assert_eq!(
            store.write(p, s, k, vec![1]).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            store.read(p, s, k).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }
    assert_eq!(
        store
            .read(RESERVED_PRIMARY_NAMESPACE, "", "header")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        store
            .list(RESERVED_PRIMARY_NAMESPACE, "")
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn change_credential_rewrites_only_the_header() {
    let inner = MemoryStore::new();
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(inner.clone(), Credential::passphrase_with(b"old", cheap()))
        .unwrap();
    store.write("p", "", "k", b"value".to_vec()).unwrap();
    let before = inner.read("p", "", "k").unwrap();
    store
        .change_credential::<V>(Credential::passphrase_with(b"new", cheap()))
        .unwrap();
    assert_eq!(inner.read("p", "", "k").unwrap(), before);
    assert!(matches!(
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"old")),
        Err(OpenError::WrongPassphrase)
    ));
    let reopened =
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"new")).unwrap();
    assert_eq!(reopened.read("p", "", "k").unwrap(), b"value");
    let key = RawKey::from_bytes([3; 32]);
    reopened
        .change_credential::<V>(Credential::raw_key(&key))
        .unwrap();
    let by_key = EncryptedStore::open::<V>(inner, Credential::raw_key(&key)).unwrap();
    assert_eq!(by_key.read("p", "", "k").unwrap(), b"value");
}

/// `Credential::passphrase` makes headers with the default Argon2id costs and refuses an empty
/// passphrase wherever a header is made; the costs of `passphrase_with` are ignored by `open`.
#[test]
fn a_passphrase_credential_gets_the_default_costs_and_is_never_empty() {
    let inner = MemoryStore::new();
    let store = EncryptedStore::create::<V>(inner.clone(), Credential::passphrase(b"pw")).unwrap();
    assert_eq!(
        store.info().protection,
        encrypted_kvstore::Protection::Passphrase(KdfParams::default())
    );
    assert!(matches!(
        EncryptedStore::create::<V>(MemoryStore::new(), Credential::passphrase(b"")),
        Err(OpenError::EmptyPassphrase)
    ));
    let header = || {
        inner
            .read(
                RESERVED_PRIMARY_NAMESPACE,
                encrypted_kvstore::HEADER_SECONDARY_NAMESPACE,
                encrypted_kvstore::HEADER_KEY,
            )
            .unwrap()
    };
    let before = header();
    for empty in [
        Credential::passphrase(b""),
        Credential::passphrase_with(b"", cheap()),
    ] {
        assert!(matches!(
            store.change_credential::<V>(empty),
            Err(RotateError::Header(HeaderError::EmptyPassphrase))
        ));
        assert!(matches!(
            store.rekey::<V>(empty),
            Err(RotateError::Header(HeaderError::EmptyPassphrase))
        ));
    }
    assert_eq!(header(), before, "a refused change wrote");
    store
        .change_credential::<V>(Credential::passphrase_with(b"cheap", cheap()))
        .unwrap();
    // The header's costs, not the ones the credential names, decide how `open` derives.
    let other = KdfParams::insecure_for_tests_only(128, 2, 1).unwrap();
    let reopened =
        EncryptedStore::open::<V>(inner, Credential::passphrase_with(b"cheap", other)).unwrap();
    assert_eq!(
        reopened.info().protection,
        encrypted_kvstore::Protection::Passphrase(cheap())
    );
}

/// `rekey` changes the credential and makes a new data key current in one header write; a
/// credential change and a rekey keep the memory ceiling of the options that opened the store;
/// a read-only store refuses every header change.
#[test]
fn rekey_and_the_limits_of_a_credential_change() {
    let inner = MemoryStore::new();
    let opts = encrypted_kvstore::OpenOptions::new().max_kdf_memory_kib(1024);
    let store = opts
        .create::<V, _>(inner.clone(), Credential::passphrase_with(b"old", cheap()))
        .unwrap();
    store.write("p", "", "k", b"before".to_vec()).unwrap();
    let seq = store.info().header_seq;
    let costly = KdfParams::insecure_for_tests_only(2048, 1, 1).unwrap();
    for r in [
        store.change_credential::<V>(Credential::passphrase_with(b"new", costly)),
        store
            .rekey::<V>(Credential::passphrase_with(b"new", costly))
            .map(|_| ()),
    ] {
        assert!(
            matches!(
                r,
                Err(RotateError::Header(HeaderError::KdfParamsOutOfBounds))
            ),
            "{r:?}"
        );
    }
    assert_eq!(store.info().header_seq, seq, "a refused change wrote");

    let key = RawKey::from_bytes([5; 32]);
    assert_eq!(store.rekey::<V>(Credential::raw_key(&key)).unwrap(), 1);
    let info = store.info();
    assert_eq!((info.key_id, info.key_ids.clone()), (1, vec![0, 1]));
    assert_eq!(info.protection, encrypted_kvstore::Protection::RawKey);
    assert_eq!(info.header_seq, seq + 1, "one header write");
    store.write("p", "", "k2", b"after".to_vec()).unwrap();
    assert!(matches!(
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"old")),
        Err(OpenError::RawKeyRequired)
    ));
    let reopened = opts.open::<V, _>(inner.clone(), (&key).into()).unwrap();
    assert_eq!(reopened.read("p", "", "k").unwrap(), b"before");
    assert_eq!(reopened.read("p", "", "k2").unwrap(), b"after");
    drop(reopened);

    let ro = opts
        .clone()
        .read_only()
        .open::<V, _>(inner, Credential::raw_key(&key))
        .unwrap();
    assert!(matches!(
        ro.change_credential::<V>(Credential::passphrase_with(b"x", cheap())),
        Err(RotateError::ReadOnly)
    ));
    assert!(matches!(
        ro.rekey::<V>(Credential::raw_key(&key)),
        Err(RotateError::ReadOnly)
    ));
    assert!(matches!(
        ro.detach_anchor::<V>(),
        Err(RotateError::ReadOnly)
    ));
}

#[test]
fn shared_inner_store_and_send_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<EncryptedStore<FilesystemStore>>();
    assert_send_sync::<EncryptedStore<SharedStore<FilesystemStore>>>();
    let dir = tempfile::tempdir().unwrap();
    let shared = Arc::new(fs(dir.path()));
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            SharedStore(Arc::clone(&shared)),
            Credential::passphrase_with(b"pw", cheap()),
        )
        .unwrap();
    store.write("a", "", "b", vec![1, 2]).unwrap();
    assert_eq!(shared.list("a", "").unwrap(), vec!["b".to_string()]);
}

#[test]
fn migrate_plaintext_to_encrypted_and_back() {
    let mut plain = MemoryStore::new();
    plain.write("", "", "manager", vec![1; 10]).unwrap();
    plain.write("monitors", "", "m_0", vec![2; 10]).unwrap();
    plain
        .write("monitor_updates", "m_0", "1", vec![3; 10])
        .unwrap();
    let mut enc = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            MemoryStore::new(),
            Credential::passphrase_with(b"pw", cheap()),
        )
        .unwrap();
    migrate_kv_store_data(&mut plain, &mut enc).unwrap();
    let mut back = MemoryStore::new();
    migrate_kv_store_data(&mut enc, &mut back).unwrap();
    assert_eq!(
        plain.list_all_keys().unwrap(),
        back.list_all_keys().unwrap()
    );
    for (p, s, k) in plain.list_all_keys().unwrap() {
        assert_eq!(
            plain.read(&p, &s, &k).unwrap(),
            back.read(&p, &s, &k).unwrap()
        );
    }
}

/// The async constructors' futures are `Send` (spawnable on a multi-threaded executor) over a
/// `Send + Sync` inner store, in every LDK version: the header I/O they await is `Send`.
#[test]
fn async_constructor_futures_are_send() {
    fn send<T: Send>(_: T) {}
    let dir = tempfile::tempdir().unwrap();
    let opts = encrypted_kvstore::OpenOptions::new();
    let key = RawKey::from_bytes([3; 32]);
    send(opts.create_async(fs(dir.path()), Credential::passphrase_with(b"pw", cheap())));
    send(opts.open_async(fs(dir.path()), Credential::passphrase(b"pw")));
    send(opts.create_async(fs(dir.path()), Credential::raw_key(&key)));
    send(opts.open_async(fs(dir.path()), Credential::raw_key(&key)));
}

#[tokio::test]
async fn async_trait_over_filesystem_store() {
    use ldk::util::persist::KVStore;
    let dir = tempfile::tempdir().unwrap();
    let store = encrypted_kvstore::OpenOptions::new()
        .create_async(fs(dir.path()), Credential::passphrase_with(b"pw", cheap()))
        .await
        .unwrap();
    KVStore::write(&store, "p", "s", "k", b"async value".to_vec())
        .await
        .unwrap();
    assert_eq!(
        KVStore::read(&store, "p", "s", "k").await.unwrap(),
        b"async value"
    );
    assert_eq!(
        KVStore::list(&store, "p", "s").await.unwrap(),
        vec!["k".to_string()]
    );
    assert_eq!(
        KVStore::read(&store, "p", "s", "missing")
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    // Two writes in flight to one key: the later one wins.
    let f1 = KVStore::write(&store, "p", "s", "k", b"first".to_vec());
    let f2 = KVStore::write(&store, "p", "s", "k", b"second".to_vec());
    f2.await.unwrap();
    f1.await.unwrap();
    assert_eq!(
        KVStore::read(&store, "p", "s", "k").await.unwrap(),
        b"second"
    );
    KVStore::remove(&store, "p", "s", "k", false).await.unwrap();
    let reopened = encrypted_kvstore::OpenOptions::new()
        .open_async(fs(dir.path()), Credential::passphrase(b"pw"))
        .await
        .unwrap();
    assert!(KVStore::list(&reopened, "p", "s").await.unwrap().is_empty());
}

/// The checker itself finds each rendering `Debug` or `Display` could give a secret: decimal
/// (what `{:?}` of bytes prints), hex in either case, `{:x?}` lists, text; and a partial leak.
#[test]
fn the_secret_rendering_checker_finds_every_rendering() {
    let secret: Vec<u8> = (0xA0..0xC0).collect();
    let leaks = [
        format!("Key({secret:?})"),
        format!("Key({secret:#?})"),
        format!("Key({secret:x?})"),
        format!("Key({secret:X?})"),
        format!("Key({secret:#x?})"),
        format!(
            "Key({})",
            secret
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
        format!(
            "Key({})",
            secret
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        ),
        format!("Key({:?})", &secret[8..20]),
    ];
    for leak in leaks {
        let caught =
            std::panic::catch_unwind(|| crate::common::assert_no_window("leak", &leak, &secret));
        assert!(caught.is_err(), "not caught: {leak}");
    }
    let passphrase = "hunter2 very secret";
    for leak in [
        format!("{passphrase:?}"),
        format!("{:?}", passphrase.as_bytes()),
        passphrase.to_string(),
    ] {
        let caught = std::panic::catch_unwind(|| {
            crate::common::assert_no_rendering("leak", &leak, passphrase.as_bytes())
        });
        assert!(caught.is_err(), "not caught: {leak}");
    }
    crate::common::assert_no_window("no leak", "Key(<redacted>)", &secret);
}

#[test]
fn debug_and_errors_hold_no_secret() {
    let inner = MemoryStore::new();
    let passphrase = b"hunter2-very-secret-passphrase";
    let seed = 0x5EC2_E700;
    let store = crate::common::seeded_options(seed)
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(passphrase, cheap()),
        )
        .unwrap();
    // The random stream the store drew its data key (and public store id, salt, nonces) from.
    let mut stream = vec![0u8; 1024];
    crate::common::SplitMix(std::sync::atomic::AtomicU64::new(seed))
        .fill(&mut stream)
        .unwrap();
    let id = store.info().store_id;
    let id_at = stream
        .windows(id.len())
        .position(|w| w == id)
        .expect("the store id comes from the seeded stream");
    // Everything drawn but the public store id (which Debug shows) is secret to Debug.
    let (before_id, rest) = stream.split_at(id_at);
    let after_id = &rest[id.len()..];

    for debug in [format!("{store:?}"), format!("{store:#?}")] {
        assert!(debug.contains("EncryptedStore"), "{debug}");
        crate::common::assert_no_window("EncryptedStore Debug", &debug, before_id);
        crate::common::assert_no_window("EncryptedStore Debug", &debug, after_id);
        crate::common::assert_no_rendering("EncryptedStore Debug", &debug, passphrase);
    }
    let debug = format!("{store:?}");
    assert!(debug.starts_with("EncryptedStore { store_id: "), "{debug}");
    assert!(debug.ends_with(", key_id: 0, .. }"), "{debug}");
    assert_eq!(
        debug.len(),
        "EncryptedStore { store_id: , key_id: 0, .. }".len() + 32
    );

    let value = b"PLAINTEXT-MARKER-31337".to_vec();
    store.write("p", "", "k", value.clone()).unwrap();
    let mut rec = inner.read("p", "", "k").unwrap();
    let last = rec.len() - 1;
    rec[last] ^= 1;
    inner.write("p", "", "k", rec).unwrap();
    let err = store.read("p", "", "k").unwrap_err();
    for text in [format!("{err}"), format!("{err:?}"), format!("{err:#?}")] {
        crate::common::assert_no_window("read error", &text, &value);
        crate::common::assert_no_rendering("read error", &text, passphrase);
        crate::common::assert_no_window("read error", &text, after_id);
    }
    let guess = b"wrong-passphrase-guess";
    let open_err =
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(guess)).unwrap_err();
    assert!(matches!(open_err, OpenError::WrongPassphrase));
    for text in [
        format!("{open_err}"),
        format!("{open_err:?}"),
        format!("{open_err:#?}"),
    ] {
        crate::common::assert_no_rendering("open error", &text, guess);
        crate::common::assert_no_rendering("open error", &text, passphrase);
    }

    let key_bytes: [u8; 32] = std::array::from_fn(|i| 0xA0 + i as u8);
    let key = RawKey::from_bytes(key_bytes);
    for text in [format!("{key:?}"), format!("{key:#?}")] {
        crate::common::assert_no_window("RawKey Debug", &text, &key_bytes);
    }
    for (cred, kind) in [
        (Credential::passphrase(passphrase), "Credential::Passphrase"),
        (
            Credential::passphrase_with(passphrase, cheap()),
            "Credential::Passphrase",
        ),
        (Credential::raw_key(&key), "Credential::RawKey"),
        ((&key).into(), "Credential::RawKey"),
    ] {
        assert_eq!(format!("{cred:?}"), kind);
        assert_eq!(format!("{cred:#?}"), kind);
    }
    let by_key = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(MemoryStore::new(), Credential::raw_key(&key))
        .unwrap();
    crate::common::assert_no_window("EncryptedStore Debug", &format!("{by_key:#?}"), &key_bytes);
    let wrong_key = EncryptedStore::open::<V>(
        by_key.into_inner(),
        Credential::raw_key(&RawKey::from_bytes([7; 32])),
    )
    .unwrap_err();
    for text in [format!("{wrong_key}"), format!("{wrong_key:?}")] {
        crate::common::assert_no_window("open error", &text, &key_bytes);
    }
    assert!(!format!("{:?}", encrypted_kvstore::OpenOptions::new()).contains("rng"));
}

/// A passphrase or key change draws its new salt and wrap nonce from the store's own random
/// source (the one its `OpenOptions` gave it): two stores made from one seeded stream end with
/// the same header after the same changes.
#[test]
fn credential_changes_draw_from_the_stores_random_source() {
    use encrypted_kvstore::{HEADER_KEY, HEADER_SECONDARY_NAMESPACE};
    let header_after_changes = || {
        let inner = MemoryStore::new();
        let store = crate::common::seeded_options(7)
            .create::<V, _>(inner.clone(), Credential::passphrase_with(b"old", cheap()))
            .unwrap();
        store
            .change_credential::<V>(Credential::passphrase_with(b"new", cheap()))
            .unwrap();
        let after_passphrase = inner
            .read(
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
            )
            .unwrap();
        store
            .change_credential::<V>(Credential::raw_key(&RawKey::from_bytes([3; 32])))
            .unwrap();
        let after_key = inner
            .read(
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
            )
            .unwrap();
        (after_passphrase, after_key)
    };
    assert_eq!(header_after_changes(), header_after_changes());
}

/// `SharedStore` hands every call of the synchronous traits to the store it shares.
#[test]
fn shared_store_forwards_every_call() {
    let shared = Arc::new(MemoryStore::new());
    let store = SharedStore(Arc::clone(&shared));
    store.write("p", "s", "k", vec![1, 2]).unwrap();
    assert_eq!(shared.read("p", "s", "k").unwrap(), vec![1, 2]);
    shared.write("p", "s", "k2", vec![3]).unwrap();
    assert_eq!(store.read("p", "s", "k2").unwrap(), vec![3]);
    let mut keys = store.list("p", "s").unwrap();
    keys.sort();
    assert_eq!(keys, ["k", "k2"]);
    let mut all = store.list_all_keys().unwrap();
    all.sort();
    let mut want = shared.list_all_keys().unwrap();
    want.sort();
    assert_eq!(all, want);
    assert_eq!(all.len(), 2);
    store.remove("p", "s", "k", false).unwrap();
    assert_eq!(shared.list("p", "s").unwrap(), ["k2"]);
    assert_eq!(
        store.read("p", "s", "k").unwrap_err().kind(),
        ErrorKind::NotFound
    );
}
