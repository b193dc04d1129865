//! LDK 0.3's paginated listing (`PaginatedKVStoreSync`, `PaginatedKVStore`) through the wrapper:
//! keys, their order and the page tokens are the inner store's, untouched; a token whose entry
//! was deleted resumes at the next key, as the inner store does; the reserved namespace never
//! appears. Over two inner stores that paginate: `MemoryStore` with small pages (a fixed, known
//! creation order) and lightning-persister 0.3's `FilesystemStoreV2` (pages of 50, newest file
//! first). A consumer written like ldk-node's (read every page, then every value) lists and
//! reads through the wrapper.

#![cfg(feature = "lightning-0-3")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{cheap, PASSPHRASE};
use encrypted_kvstore::ldk::V0_3;
use encrypted_kvstore::{
    Credential, EncryptedStore, InvalidName, ListError, MemoryStore, RESERVED_PRIMARY_NAMESPACE,
};
use lightning_0_3::io::{self, ErrorKind};
use lightning_0_3::util::persist::{
    KVStore, KVStoreSync, PageToken, PaginatedKVStore, PaginatedKVStoreSync, PaginatedListResponse,
};
use lightning_persister_0_3::fs_store::v2::FilesystemStoreV2;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Every page of (`p`, `s`), following the tokens from the first page on.
fn all_pages<S: PaginatedKVStoreSync>(store: &S, p: &str, s: &str) -> Vec<PaginatedListResponse> {
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = store.list_paginated(p, s, token).unwrap();
        token = page.next_page_token.clone();
        pages.push(page);
        if token.is_none() {
            return pages;
        }
        assert!(pages.len() < 1000, "the tokens never end");
    }
}

fn keys_of(pages: &[PaginatedListResponse]) -> Vec<String> {
    pages.iter().flat_map(|p| p.keys.iter().cloned()).collect()
}

/// An encrypted store over a `MemoryStore` with pages of three, holding `n` keys in
/// `payments`, written in order `k00`, `k01`, ... (so newest first is the reverse), plus keys in
/// other namespaces that must not show up.
fn memory_store(n: usize) -> (MemoryStore, EncryptedStore<MemoryStore>) {
    let inner = MemoryStore::with_page_size(3);
    let store = EncryptedStore::create::<V0_3>(
        inner.clone(),
        Credential::passphrase_with(PASSPHRASE, cheap()),
    )
    .unwrap();
    for i in 0..n {
        KVStoreSync::write(&store, "payments", "", &format!("k{i:02}"), vec![i as u8]).unwrap();
    }
    KVStoreSync::write(&store, "payments", "other", "not_here", vec![1]).unwrap();
    KVStoreSync::write(&store, "", "", "top_level", vec![2]).unwrap();
    (inner, store)
}

#[test]
fn pages_are_the_inner_stores_newest_first() {
    let (inner, store) = memory_store(10);
    // Overwriting keeps a key's place: order is by creation, not by last write.
    KVStoreSync::write(&store, "payments", "", "k03", vec![33]).unwrap();

    let ours = all_pages(&store, "payments", "");
    let theirs = all_pages(&inner, "payments", "");
    assert_eq!(ours, theirs, "keys, order and tokens are the inner store's");
    assert_eq!(ours.len(), 4, "pages of 3, 3, 3, 1");
    let expected: Vec<String> = (0..10).rev().map(|i| format!("k{i:02}")).collect();
    assert_eq!(keys_of(&ours), expected);
    assert_eq!(
        KVStoreSync::read(&store, "payments", "", "k03").unwrap(),
        [33]
    );

    // Another namespace pair has its own pages; an unknown one is empty.
    let other = all_pages(&store, "payments", "other");
    assert_eq!(keys_of(&other), ["not_here"]);
    let none = PaginatedKVStoreSync::list_paginated(&store, "nothing", "", None).unwrap();
    assert!(none.keys.is_empty() && none.next_page_token.is_none());
}

#[test]
fn a_token_whose_entry_was_deleted_resumes_at_the_next_key() {
    let (inner, store) = memory_store(10);
    let first = PaginatedKVStoreSync::list_paginated(&store, "payments", "", None).unwrap();
    assert_eq!(first.keys, ["k09", "k08", "k07"]);
    let token = first.next_page_token.clone().unwrap();
    // The entry the token points at, and the next one, go away between two calls.
    KVStoreSync::remove(&store, "payments", "", "k07", false).unwrap();
    KVStoreSync::remove(&store, "payments", "", "k06", false).unwrap();

    let ours =
        PaginatedKVStoreSync::list_paginated(&store, "payments", "", Some(token.clone())).unwrap();
    let theirs = PaginatedKVStoreSync::list_paginated(&inner, "payments", "", Some(token)).unwrap();
    assert_eq!(ours, theirs);
    assert_eq!(ours.keys, ["k05", "k04", "k03"]);

    // A key created after the listing started is not in the later pages.
    KVStoreSync::write(&store, "payments", "", "late", vec![0]).unwrap();
    let rest =
        PaginatedKVStoreSync::list_paginated(&store, "payments", "", ours.next_page_token.clone())
            .unwrap();
    assert_eq!(rest.keys, ["k02", "k01", "k00"]);

    // A token the inner store does not understand is its error, passed up unchanged.
    let bad = PaginatedKVStoreSync::list_paginated(
        &store,
        "payments",
        "",
        Some(PageToken::new("not a token".into())),
    )
    .unwrap_err();
    assert_eq!(bad.kind(), ErrorKind::InvalidInput);
}

/// Refused as the reserved namespace: the list operation's `ListError::InvalidName`.
fn assert_reserved(e: io::Error) {
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let name = match e.get_ref().and_then(|e| e.downcast_ref::<ListError>()) {
        Some(ListError::InvalidName(n)) => Some(n),
        _ => None,
    };
    assert_eq!(name, Some(&InvalidName::Reserved), "{e}");
}

/// The header lives alone in primary namespace `encrypted_kvstore`; a page lists one namespace
/// pair, and listing that namespace (in any letter case) is refused before the inner store is
/// asked. So no page, sync or async, ever holds the header, not even a page the inner store
/// would have made of the header alone.
#[test]
fn the_reserved_namespace_never_appears() {
    let (inner, store) = memory_store(4);
    let inner_page =
        PaginatedKVStoreSync::list_paginated(&inner, RESERVED_PRIMARY_NAMESPACE, "", None).unwrap();
    assert_eq!(inner_page.keys, ["header"], "the inner store does hold it");

    for spelling in [
        RESERVED_PRIMARY_NAMESPACE,
        "ENCRYPTED_KVSTORE",
        "Encrypted_Kvstore",
    ] {
        assert_reserved(
            PaginatedKVStoreSync::list_paginated(&store, spelling, "", None).unwrap_err(),
        );
        assert_reserved(
            PaginatedKVStoreSync::list_paginated(
                &store,
                spelling,
                "",
                inner_page.next_page_token.clone(),
            )
            .unwrap_err(),
        );
        let fut = PaginatedKVStore::list_paginated(&store, spelling, "", None);
        assert_reserved(rt().block_on(fut).unwrap_err());
    }
    for (p, s) in [("", ""), ("payments", ""), ("payments", "other")] {
        let keys = keys_of(&all_pages(&store, p, s));
        assert!(!keys.iter().any(|k| k == "header"), "{p}/{s}: {keys:?}");
    }
}

#[test]
fn the_async_trait_gives_the_same_pages() {
    let (_inner, store) = memory_store(7);
    let sync = all_pages(&store, "payments", "");
    let rt = rt();
    let mut pages = Vec::new();
    let mut token = None;
    loop {
        let page = rt
            .block_on(PaginatedKVStore::list_paginated(
                &store, "payments", "", token,
            ))
            .unwrap();
        token = page.next_page_token.clone();
        pages.push(page);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, sync);
}

/// Reads a namespace the way ldk-node reads its stores at start-up: page by page with the
/// async `PaginatedKVStore`, then every value, until there is no next page.
async fn read_all_paginated<S: PaginatedKVStore>(
    store: &S,
    primary: &str,
    secondary: &str,
) -> Result<Vec<(String, Vec<u8>)>, io::Error> {
    let mut out = Vec::new();
    let mut page_token = None;
    loop {
        let page = store.list_paginated(primary, secondary, page_token).await?;
        for key in page.keys {
            let value = KVStore::read(store, primary, secondary, &key).await?;
            out.push((key, value));
        }
        match page.next_page_token {
            Some(token) => page_token = Some(token),
            None => return Ok(out),
        }
    }
}

#[test]
fn a_consumer_like_ldk_node_lists_and_reads_through_filesystem_store_v2() {
    let dir = tempfile::tempdir().unwrap();
    let fs = || FilesystemStoreV2::new(dir.path().to_path_buf()).unwrap();
    let store =
        EncryptedStore::create(fs(), Credential::passphrase_with(PASSPHRASE, cheap())).unwrap();
    // More than two of FilesystemStoreV2's pages of 50.
    let n = 120;
    for i in 0..n {
        let value = format!("payment {i}").into_bytes();
        KVStoreSync::write(&store, "payments", "", &format!("p{i:03}"), value).unwrap();
    }
    KVStoreSync::write(&store, "", "", "node_metrics", b"metrics".to_vec()).unwrap();

    // Pages and tokens are the inner store's own.
    let inner = fs();
    let ours = all_pages(&store, "payments", "");
    assert_eq!(ours, all_pages(&inner, "payments", ""));
    assert!(ours.len() >= 3, "{} pages", ours.len());
    let mut keys = keys_of(&ours);
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), n, "every key exactly once");

    // The consumer gets every value, decrypted, in the inner store's order.
    let rt = rt();
    let read = rt
        .block_on(read_all_paginated(&store, "payments", ""))
        .unwrap();
    assert_eq!(
        read.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(),
        keys_of(&ours)
    );
    for (key, value) in &read {
        let i: usize = key[1..].parse().unwrap();
        assert_eq!(value, format!("payment {i}").as_bytes());
    }
    let top = rt.block_on(read_all_paginated(&store, "", "")).unwrap();
    assert_eq!(top, [("node_metrics".to_string(), b"metrics".to_vec())]);

    // Reopened from disk, the same.
    let reopened = EncryptedStore::open(fs(), Credential::passphrase(PASSPHRASE)).unwrap();
    assert_eq!(all_pages(&reopened, "payments", ""), ours);
    // And what is on disk is ciphertext: the inner store's value is not the plaintext.
    let raw = KVStoreSync::read(&inner, "payments", "", "p000").unwrap();
    assert_ne!(raw, b"payment 0");
}
