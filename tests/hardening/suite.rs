//! Regression tests for what an independent review of the library found: the reserved namespace
//! in another letter case, `create` over ldk-node's data, and Argon2 memory a header may ask for.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::v::{fs, ldk, MigratableKVStoreSync, V};
use crate::common::{cheap, reseal_checksum, PASSPHRASE};
use encrypted_kvstore::{
    Credential, EncryptedStore, InvalidName, KdfParams, MemoryStore, OpenError, OpenOptions,
    RawKey, HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io;
use ldk::util::persist::KVStoreSync;

/// The async face, called by path so that method calls resolve to `KVStoreSync`.
use ldk::util::persist;

/// The name error inside an I/O error: bare, or in the operation's error.
fn invalid_name(e: &io::Error) -> Option<&InvalidName> {
    use encrypted_kvstore::{ListError, ReadError, RemoveError, WriteError};
    let e = e.get_ref()?;
    if let Some(n) = e.downcast_ref::<InvalidName>() {
        return Some(n);
    }
    match (
        e.downcast_ref::<ReadError>(),
        e.downcast_ref::<WriteError>(),
        e.downcast_ref::<RemoveError>(),
        e.downcast_ref::<ListError>(),
    ) {
        (Some(ReadError::InvalidName(n)), ..)
        | (_, Some(WriteError::InvalidName(n)), ..)
        | (_, _, Some(RemoveError::InvalidName(n)), _)
        | (.., Some(ListError::InvalidName(n))) => Some(n),
        _ => None,
    }
}

#[track_caller]
fn assert_reserved<T: std::fmt::Debug>(r: Result<T, io::Error>) {
    let e = r.expect_err("the reserved namespace must be refused");
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
    assert_eq!(invalid_name(&e), Some(&InvalidName::Reserved), "{e:?}");
}

/// On a case-insensitive file system (macOS, Windows) `ENCRYPTED_KVSTORE/header` is the
/// header's own file: every spelling is refused for read, write, remove and list, through both
/// traits, and the header survives.
#[test]
fn reserved_namespace_is_refused_in_any_letter_case() {
    let dir = tempfile::tempdir().unwrap();
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    let header_before = fs(dir.path())
        .read(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        )
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for spelling in [
        RESERVED_PRIMARY_NAMESPACE,
        "ENCRYPTED_KVSTORE",
        "Encrypted_Kvstore",
        "encrypted_KVSTORE",
    ] {
        assert_reserved(KVStoreSync::read(&store, spelling, "", HEADER_KEY));
        assert_reserved(KVStoreSync::write(
            &store,
            spelling,
            "",
            HEADER_KEY,
            vec![0; crate::common::HEADER_LEN],
        ));
        assert_reserved(KVStoreSync::remove(&store, spelling, "", HEADER_KEY, false));
        assert_reserved(KVStoreSync::list(&store, spelling, ""));
        assert_reserved(rt.block_on(persist::KVStore::read(&store, spelling, "", HEADER_KEY)));
        assert_reserved(rt.block_on(persist::KVStore::write(
            &store,
            spelling,
            "",
            HEADER_KEY,
            vec![0; crate::common::HEADER_LEN],
        )));
        assert_reserved(rt.block_on(persist::KVStore::remove(
            &store, spelling, "", HEADER_KEY, false,
        )));
        assert_reserved(rt.block_on(persist::KVStore::list(&store, spelling, "")));
    }
    // Names that only look alike are ordinary names.
    store
        .write("encrypted_kvstore_x", "", "k", b"v".to_vec())
        .unwrap();
    store
        .write("encrypted-kvstore", "", "k", b"v".to_vec())
        .unwrap();
    assert_eq!(store.read("encrypted-kvstore", "", "k").unwrap(), b"v");
    let after = fs(dir.path())
        .read(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        )
        .unwrap();
    assert_eq!(after, header_before);
    drop(store);
    EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(PASSPHRASE)).unwrap();
}

/// `list_all_keys` hides the reserved namespace in whatever case the inner store reports it.
#[test]
fn list_all_keys_hides_the_reserved_namespace_in_any_case() {
    let inner = MemoryStore::new();
    let store = encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    store.write("monitors", "", "a_0", b"m".to_vec()).unwrap();
    // What a case-insensitive inner store could report for the header's directory.
    inner
        .write("ENCRYPTED_KVSTORE", "", "header", b"x".to_vec())
        .unwrap();
    let all = store.list_all_keys().unwrap();
    assert_eq!(
        all,
        vec![("monitors".to_owned(), String::new(), "a_0".to_owned())]
    );
}

/// `create` lists every namespace pair where LDK, lightning-liquidity and ldk-node 0.7 keep
/// values, so it never starts an encrypted store on top of an ldk-node's plaintext data.
#[test]
fn create_refuses_ldk_node_data() {
    let cases: [(&str, &str, &str); 9] = [
        ("bdk_wallet", "", "descriptor"),
        ("payments", "", &"ab".repeat(32)),
        ("pending_payments", "", "cd"),
        ("forwarded_payments", "details", "ef"),
        ("forwarded_payments", "channel_stats", "01"),
        ("static_invoices", "", "inv"),
        ("lsps2_leases", "", "lease"),
        ("lightning_liquidity_state", "", "manager"),
        ("", "", "node_metrics"),
    ];
    for (p, s, k) in cases {
        let dir = tempfile::tempdir().unwrap();
        fs(dir.path())
            .write(p, s, k, b"plaintext".to_vec())
            .unwrap();
        match encrypted_kvstore::OpenOptions::new().create::<V, _>(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        ) {
            Err(OpenError::ExistingData { primary_namespace }) => {
                assert_eq!(primary_namespace, p)
            }
            other => panic!("{p}/{s}/{k}: {other:?}"),
        }
        match encrypted_kvstore::OpenOptions::new().create::<V, _>(
            fs(dir.path()),
            Credential::raw_key(&RawKey::from_bytes([7; 32])),
        ) {
            Err(OpenError::ExistingData { .. }) => {}
            other => panic!("{p}/{s}/{k}: {other:?}"),
        }
        // Nothing was written: still no header.
        assert!(matches!(
            EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(PASSPHRASE)),
            Err(OpenError::NotInitialized)
        ));
    }
}

/// Where the inner store can enumerate, `create_in_empty` refuses a value in any namespace,
/// even one nobody has heard of, and even under a secondary namespace only.
#[test]
fn create_in_empty_refuses_any_value() {
    for (p, s, k) in [
        ("my_app", "", "k"),
        ("monitor_updates", "deadbeef_0", "3"),
        ("x", "y", "z"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        fs(dir.path()).write(p, s, k, b"v".to_vec()).unwrap();
        // The well-known probe cannot see it (shown on a copy) ...
        let copy = MemoryStore::new();
        copy.write(p, s, k, b"v".to_vec()).unwrap();
        assert!(encrypted_kvstore::OpenOptions::new()
            .create::<V, _>(copy, Credential::passphrase_with(PASSPHRASE, cheap()))
            .is_ok());
        // ... enumeration does.
        match encrypted_kvstore::OpenOptions::new().create_in_empty(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        ) {
            Err(OpenError::ExistingData { primary_namespace }) => {
                assert_eq!(primary_namespace, p)
            }
            other => panic!("{p}/{s}/{k}: {other:?}"),
        }
        match encrypted_kvstore::OpenOptions::new().create_in_empty(
            fs(dir.path()),
            Credential::raw_key(&RawKey::from_bytes([7; 32])),
        ) {
            Err(OpenError::ExistingData { .. }) => {}
            other => panic!("{p}/{s}/{k}: {other:?}"),
        }
        assert!(matches!(
            EncryptedStore::open::<V>(fs(dir.path()), Credential::passphrase(PASSPHRASE)),
            Err(OpenError::NotInitialized)
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let store = encrypted_kvstore::OpenOptions::new()
        .create_in_empty(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    store.write("p", "", "k", b"v".to_vec()).unwrap();
    drop(store);
    assert!(matches!(
        encrypted_kvstore::OpenOptions::new().create_in_empty(
            fs(dir.path()),
            Credential::passphrase_with(PASSPHRASE, cheap())
        ),
        Err(OpenError::AlreadyInitialized)
    ));
}

/// Rewrites the memory cost of the header (and its unkeyed checksum), as anyone with write
/// access to the inner store can.
fn set_memory_cost(inner: &MemoryStore, kib: u32) {
    let mut h = inner
        .read(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        )
        .unwrap();
    h[12..16].copy_from_slice(&kib.to_le_bytes());
    reseal_checksum(&mut h);
    inner
        .write(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            h,
        )
        .unwrap();
}

/// A header asking for more Argon2 memory than the caller's ceiling is refused with
/// `KdfParamsOutOfBounds` before anything is derived: a forged header asking for 1 GiB (within
/// the library-wide ceiling) opened with a 64 MiB ceiling fails at once, without the 1 GiB
/// allocation and the derivation a wrong-passphrase answer would need.
#[test]
fn open_options_memory_ceiling_refuses_before_deriving() {
    let inner = MemoryStore::new();
    let params = KdfParams::insecure_for_tests_only(1024, 1, 1).unwrap();
    encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, params),
        )
        .unwrap();
    let opts = |kib| OpenOptions::new().max_kdf_memory_kib(kib);
    // At the ceiling: opens. Below it: refused, whatever the credential.
    opts(1024)
        .open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
        .unwrap();
    assert!(matches!(
        opts(1023).open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE)),
        Err(OpenError::KdfParamsOutOfBounds)
    ));
    assert!(matches!(
        opts(1023).open::<V, _>(inner.clone(), Credential::passphrase(b"wrong")),
        Err(OpenError::KdfParamsOutOfBounds)
    ));
    // Bounds come before the credential kind, as in the library-wide check.
    assert!(matches!(
        opts(1023).open::<V, _>(
            inner.clone(),
            Credential::raw_key(&RawKey::from_bytes([1; 32]))
        ),
        Err(OpenError::KdfParamsOutOfBounds)
    ));
    assert!(matches!(
        opts(1024).open::<V, _>(
            inner.clone(),
            Credential::raw_key(&RawKey::from_bytes([1; 32]))
        ),
        Err(OpenError::PassphraseRequired)
    ));

    set_memory_cost(&inner, KdfParams::CEILING_MEMORY_KIB);
    assert!(matches!(
        opts(64 * 1024).open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE)),
        Err(OpenError::KdfParamsOutOfBounds)
    ));
    // A ceiling above the library's is the library's.
    set_memory_cost(&inner, KdfParams::CEILING_MEMORY_KIB + 1);
    assert!(matches!(
        opts(u32::MAX).open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE)),
        Err(OpenError::KdfParamsOutOfBounds)
    ));
}

/// New parameters above the ceiling are refused too, so a store is never made (or re-keyed)
/// that the same options could not open; nothing is written.
#[test]
fn open_options_memory_ceiling_applies_to_new_parameters() {
    let inner = MemoryStore::new();
    let big = KdfParams::insecure_for_tests_only(2048, 1, 1).unwrap();
    assert!(matches!(
        OpenOptions::new()
            .max_kdf_memory_kib(1024)
            .create::<V, _>(inner.clone(), Credential::passphrase_with(PASSPHRASE, big)),
        Err(OpenError::KdfParamsOutOfBounds)
    ));
    assert!(inner.is_empty());
    OpenOptions::new()
        .max_kdf_memory_kib(2048)
        .create::<V, _>(inner.clone(), Credential::passphrase_with(PASSPHRASE, big))
        .unwrap();
}

/// A header of format version 1 (written by pre-releases of this crate) is refused with
/// `UnsupportedVersion { version: 1 }`, whose message says so, before any credential is
/// derived; `inspect` refuses it the same way, and `create` does not write over it.
#[test]
fn a_version_1_header_is_refused_as_a_pre_release_store() {
    let inner = MemoryStore::new();
    encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    let mut h = inner
        .read(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        )
        .unwrap();
    h[8] = 1;
    reseal_checksum(&mut h);
    inner
        .write(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            h.clone(),
        )
        .unwrap();
    let refused = |r: Result<(), OpenError>| match r {
        Err(e @ OpenError::UnsupportedVersion { version: 1 }) => {
            let text = e.to_string();
            assert!(text.contains("pre-release"), "{text}");
            assert!(text.contains("cannot be opened by this version"), "{text}");
        }
        other => panic!("{other:?}"),
    };
    refused(
        EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)).map(|_| ()),
    );
    refused(EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(b"wrong")).map(|_| ()));
    refused(
        EncryptedStore::open::<V>(
            inner.clone(),
            Credential::raw_key(&RawKey::from_bytes([1; 32])),
        )
        .map(|_| ()),
    );
    refused(EncryptedStore::<MemoryStore>::inspect::<V>(&inner).map(|_| ()));
    assert!(matches!(
        encrypted_kvstore::OpenOptions::new().create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap())
        ),
        Err(OpenError::AlreadyInitialized)
    ));
    assert_eq!(
        inner
            .read(
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
            )
            .unwrap(),
        h
    );
    // Another unknown version is refused with the generic message.
    let mut other = h.clone();
    other[8] = 3;
    reseal_checksum(&mut other);
    inner
        .write(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            other,
        )
        .unwrap();
    match EncryptedStore::open::<V>(inner.clone(), Credential::passphrase(PASSPHRASE)) {
        Err(e @ OpenError::UnsupportedVersion { version: 3 }) => {
            assert!(!e.to_string().contains("pre-release"), "{e}")
        }
        other => panic!("{:?}", other.map(|_| ())),
    }
}
