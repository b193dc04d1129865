//! LDK 0.3's paginated listing through `EncryptedStore<PostgresStore>`: the pages, their order
//! and their tokens are the `PostgresStore`'s own, sync and async; the header's namespace never
//! shows; a consumer written like ldk-node's (every page, then every value) reads every value
//! back decrypted.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::pg::fresh;
use super::v::{ldk, V};
use crate::common::{cheap, PASSPHRASE};
use crate::server::pg_env;
use encrypted_kvstore::{Credential, EncryptedStore, RESERVED_PRIMARY_NAMESPACE};
use ldk::util::persist::{
    KVStore, KVStoreSync, PaginatedKVStore, PaginatedKVStoreSync, PaginatedListResponse,
};

/// Every page of (`p`, `s`), following the tokens from the first page on.
fn all_pages<S: PaginatedKVStoreSync>(store: &S, p: &str, s: &str) -> Vec<PaginatedListResponse> {
    let mut pages: Vec<PaginatedListResponse> = Vec::new();
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

#[test]
fn pages_are_the_postgres_stores_own_and_a_consumer_reads_every_value() {
    let Some(url) = pg_env("pages_are_the_postgres_stores_own_and_a_consumer_reads_every_value")
        .map(|env| env.primary)
    else {
        return;
    };
    let (inner, _) = fresh(&url, "pages");
    let store = EncryptedStore::create::<V>(
        inner.clone(),
        Credential::passphrase_with(PASSPHRASE, cheap()),
    )
    .unwrap();
    let n = 230;
    for i in 0..n {
        let value = format!("payment {i}").into_bytes();
        KVStoreSync::write(&store, "payments", "", &format!("p{i:03}"), value).unwrap();
    }
    KVStoreSync::write(&store, "payments", "other", "not_here", vec![1]).unwrap();

    let ours = all_pages(&store, "payments", "");
    assert_eq!(
        ours,
        all_pages(&inner, "payments", ""),
        "the inner store's pages"
    );
    assert!(ours.len() >= 2, "{} pages", ours.len());
    let keys: Vec<String> = ours.iter().flat_map(|p| p.keys.clone()).collect();
    let newest_first: Vec<String> = (0..n).rev().map(|i| format!("p{i:03}")).collect();
    assert_eq!(keys, newest_first, "every key once, newest first");
    assert!(all_pages(&store, "payments", "other")[0].keys == ["not_here"]);
    assert!(
        PaginatedKVStoreSync::list_paginated(&store, RESERVED_PRIMARY_NAMESPACE, "", None).is_err()
    );

    // A consumer like ldk-node's, through the async traits.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let read = rt.block_on(async {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = PaginatedKVStore::list_paginated(&store, "payments", "", token)
                .await
                .unwrap();
            for key in page.keys {
                let value = KVStore::read(&store, "payments", "", &key).await.unwrap();
                out.push((key, value));
            }
            match page.next_page_token {
                Some(t) => token = Some(t),
                None => return out,
            }
        }
    });
    assert_eq!(read.len(), n);
    for (key, value) in &read {
        let i: usize = key[1..].parse().unwrap();
        assert_eq!(value, format!("payment {i}").as_bytes());
    }
}
