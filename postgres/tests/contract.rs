//! LDK's store contract on a real server, through each enabled LDK version's traits, sync and
//! async: write, read, overwrite, remove, list, list_all_keys, invalid names, empty and 1 MiB
//! values, write order of async calls, and (0.3) paginated listing.

// Helpers outside #[test] functions fail the test as the tests themselves do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::typed;
use encrypted_kvstore_postgres::test_support::{pg_env, runtime, unique_table};
use encrypted_kvstore_postgres::{PostgresError, PostgresOptions, PostgresStore};

/// A writable store on a fresh table of the shared primary, the runtime, the URL.
fn fresh(test: &str) -> Option<(tokio::runtime::Runtime, PostgresStore, String)> {
    let env = pg_env(test)?;
    let rt = runtime();
    let table = unique_table("contract");
    let store = PostgresOptions::new()
        .table(&table)
        .connect(&env.primary, rt.handle().clone())
        .expect("connect");
    Some((rt, store, env.primary))
}

fn cleanup(rt: tokio::runtime::Runtime, store: PostgresStore, url: &str) {
    let table = store.table().to_owned();
    drop(store);
    common::drop_table(&rt, url, &table);
}

/// Names LDK refuses: an empty key, a secondary namespace without a primary, characters
/// outside `A-Za-z0-9_-`, 121 characters.
fn invalid() -> Vec<(String, String, String)> {
    let long = "a".repeat(121);
    [
        ("p", "s", ""),
        ("", "s", "k"),
        ("p", "s", "a/b"),
        ("p/q", "s", "k"),
        ("p", "s s", "k"),
        ("p", "s", "ké"),
        ("p", "s", long.as_str()),
        (long.as_str(), "s", "k"),
        ("p", long.as_str(), "k"),
    ]
    .iter()
    .map(|(p, s, k)| (p.to_string(), s.to_string(), k.to_string()))
    .collect()
}

macro_rules! contract {
    ($module:ident, $ldk:ident) => {
        mod $module {
            use super::*;
            use $ldk::io::ErrorKind;
            use $ldk::util::persist::{KVStore, KVStoreSync};

            #[test]
            fn sync_contract() {
                let Some((rt, store, url)) = fresh(concat!(stringify!($module), "::sync_contract"))
                else {
                    return;
                };
                let s = &store;
                let err = KVStoreSync::read(s, "p", "s", "k").unwrap_err();
                assert_eq!(err.kind(), ErrorKind::NotFound);
                assert!(matches!(typed(&err), PostgresError::NotFound));
                assert_eq!(
                    KVStoreSync::list(s, "p", "s").unwrap(),
                    Vec::<String>::new()
                );

                KVStoreSync::write(s, "p", "s", "k", b"one".to_vec()).unwrap();
                assert_eq!(KVStoreSync::read(s, "p", "s", "k").unwrap(), b"one");
                KVStoreSync::write(s, "p", "s", "k", b"two".to_vec()).unwrap();
                assert_eq!(KVStoreSync::read(s, "p", "s", "k").unwrap(), b"two");
                // The same key in other namespaces is another key; an empty primary namespace
                // (with an empty secondary) is valid.
                KVStoreSync::write(s, "p", "", "k", b"p-only".to_vec()).unwrap();
                KVStoreSync::write(s, "", "", "k", b"top".to_vec()).unwrap();
                KVStoreSync::write(s, "p", "s", "k2", Vec::new()).unwrap();
                assert_eq!(KVStoreSync::read(s, "p", "s", "k2").unwrap(), b"");
                assert_eq!(KVStoreSync::read(s, "p", "", "k").unwrap(), b"p-only");
                assert_eq!(KVStoreSync::read(s, "", "", "k").unwrap(), b"top");
                // 120 characters is the longest valid name.
                let longest = "Z".repeat(120);
                KVStoreSync::write(s, &longest, &longest, &longest, b"long".to_vec()).unwrap();
                assert_eq!(
                    KVStoreSync::read(s, &longest, &longest, &longest).unwrap(),
                    b"long"
                );
                KVStoreSync::remove(s, &longest, &longest, &longest, false).unwrap();
                let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7 + i / 256) as u8).collect();
                KVStoreSync::write(s, "p", "s", "big", big.clone()).unwrap();
                assert_eq!(KVStoreSync::read(s, "p", "s", "big").unwrap(), big);

                let mut keys = KVStoreSync::list(s, "p", "s").unwrap();
                keys.sort();
                assert_eq!(keys, ["big", "k", "k2"]);
                assert_eq!(KVStoreSync::list(s, "p", "").unwrap(), ["k"]);
                assert_eq!(KVStoreSync::list(s, "", "").unwrap(), ["k"]);
                assert_eq!(
                    KVStoreSync::list(s, "p", "other").unwrap(),
                    Vec::<String>::new()
                );

                KVStoreSync::remove(s, "p", "s", "k", false).unwrap();
                KVStoreSync::remove(s, "p", "s", "big", true).unwrap();
                // Removing a missing key succeeds.
                KVStoreSync::remove(s, "p", "s", "never", false).unwrap();
                assert_eq!(
                    KVStoreSync::read(s, "p", "s", "k").unwrap_err().kind(),
                    ErrorKind::NotFound
                );
                assert_eq!(KVStoreSync::list(s, "p", "s").unwrap(), ["k2"]);
                let mut all = list_all(s);
                all.sort();
                assert_eq!(
                    all,
                    [
                        (String::new(), String::new(), "k".to_owned()),
                        ("p".to_owned(), String::new(), "k".to_owned()),
                        ("p".to_owned(), "s".to_owned(), "k2".to_owned()),
                    ]
                );

                for (p, sec, k) in invalid() {
                    let (p, sec, k) = (p.as_str(), sec.as_str(), k.as_str());
                    for err in [
                        KVStoreSync::write(s, p, sec, k, b"x".to_vec()).unwrap_err(),
                        KVStoreSync::read(s, p, sec, k).unwrap_err(),
                        KVStoreSync::remove(s, p, sec, k, false).unwrap_err(),
                    ] {
                        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{p:?}/{sec:?}/{k:?}");
                        assert!(matches!(typed(&err), PostgresError::InvalidName { .. }));
                    }
                    if (p, sec) != ("p", "s") {
                        let err = KVStoreSync::list(s, p, sec).unwrap_err();
                        assert_eq!(err.kind(), ErrorKind::InvalidInput, "list {p:?}/{sec:?}");
                    }
                }
                // Nothing invalid was written.
                assert_eq!(list_all(s).len(), 3);
                cleanup(rt, store, &url);
            }

            #[test]
            fn async_contract() {
                let Some((rt, store, url)) =
                    fresh(concat!(stringify!($module), "::async_contract"))
                else {
                    return;
                };
                rt.block_on(async {
                    let s = &store;
                    let err = KVStore::read(s, "p", "s", "k").await.unwrap_err();
                    assert_eq!(err.kind(), ErrorKind::NotFound);
                    KVStore::write(s, "p", "s", "k", b"one".to_vec())
                        .await
                        .unwrap();
                    KVStore::write(s, "p", "s", "k", b"two".to_vec())
                        .await
                        .unwrap();
                    assert_eq!(KVStore::read(s, "p", "s", "k").await.unwrap(), b"two");
                    KVStore::write(s, "p", "s", "empty", Vec::new())
                        .await
                        .unwrap();
                    assert_eq!(KVStore::read(s, "p", "s", "empty").await.unwrap(), b"");
                    let big = vec![0xa5; 1 << 20];
                    KVStore::write(s, "p", "", "big", big.clone())
                        .await
                        .unwrap();
                    assert_eq!(KVStore::read(s, "p", "", "big").await.unwrap(), big);
                    let mut keys = KVStore::list(s, "p", "s").await.unwrap();
                    keys.sort();
                    assert_eq!(keys, ["empty", "k"]);
                    KVStore::remove(s, "p", "s", "k", false).await.unwrap();
                    KVStore::remove(s, "p", "s", "k", true).await.unwrap();
                    assert_eq!(KVStore::list(s, "p", "s").await.unwrap(), ["empty"]);
                    assert_eq!(
                        KVStore::read(s, "p", "s", "k").await.unwrap_err().kind(),
                        ErrorKind::NotFound
                    );
                    for (p, sec, k) in invalid() {
                        let (p, sec, k) = (p.as_str(), sec.as_str(), k.as_str());
                        let err = KVStore::write(s, p, sec, k, b"x".to_vec())
                            .await
                            .unwrap_err();
                        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{p:?}/{sec:?}/{k:?}");
                        let err = KVStore::read(s, p, sec, k).await.unwrap_err();
                        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{p:?}/{sec:?}/{k:?}");
                    }
                    assert_eq!(list_all_async(s).await.len(), 2);
                });
                cleanup(rt, store, &url);
            }

            /// Writes to one key land in call order: all calls are made first, their futures
            /// then awaited in reverse order at once; the last call's value stays, and a
            /// remove called last removes.
            #[test]
            fn async_writes_land_in_call_order() {
                let Some((rt, store, url)) = fresh(concat!(
                    stringify!($module),
                    "::async_writes_land_in_call_order"
                )) else {
                    return;
                };
                let store = std::sync::Arc::new(store);
                for round in 0..3u8 {
                    let mut futures: Vec<_> = (0..200u32)
                        .map(|i| {
                            KVStore::write(
                                &*store,
                                "order",
                                "",
                                "k",
                                format!("{round}-{i}").into_bytes(),
                            )
                        })
                        .collect();
                    futures.reverse();
                    let handles: Vec<_> = futures.into_iter().map(|f| rt.spawn(f)).collect();
                    rt.block_on(async {
                        for h in handles {
                            h.await.unwrap().unwrap();
                        }
                    });
                    assert_eq!(
                        KVStoreSync::read(&*store, "order", "", "k").unwrap(),
                        format!("{round}-199").into_bytes()
                    );
                }
                let write = KVStore::write(&*store, "order", "", "k", b"before-remove".to_vec());
                let remove = KVStore::remove(&*store, "order", "", "k", true);
                rt.block_on(async {
                    remove.await.unwrap();
                    write.await.unwrap();
                });
                assert_eq!(
                    KVStoreSync::read(&*store, "order", "", "k")
                        .unwrap_err()
                        .kind(),
                    ErrorKind::NotFound
                );
                let store = std::sync::Arc::into_inner(store).unwrap();
                cleanup(rt, store, &url);
            }

            /// Synchronous calls made from tasks on the store's own runtime, more of them at once
            /// than it has workers: each hands its worker over while it waits, so the store's
            /// task keeps running (a plain blocking wait could stall it behind the caller).
            #[test]
            fn sync_calls_from_tasks_on_the_stores_runtime() {
                let Some((rt, store, url)) = fresh(concat!(
                    stringify!($module),
                    "::sync_calls_from_tasks_on_the_stores_runtime"
                )) else {
                    return;
                };
                let store = std::sync::Arc::new(store);
                let tasks: Vec<_> = (0..8u32)
                    .map(|t| {
                        let store = store.clone();
                        rt.spawn(async move {
                            for i in 0..25u32 {
                                let key = format!("t{t}_{i}");
                                KVStoreSync::write(
                                    &*store,
                                    "tasks",
                                    "",
                                    &key,
                                    key.clone().into_bytes(),
                                )
                                .unwrap();
                                assert_eq!(
                                    KVStoreSync::read(&*store, "tasks", "", &key).unwrap(),
                                    key.as_bytes()
                                );
                            }
                        })
                    })
                    .collect();
                rt.block_on(async {
                    for t in tasks {
                        t.await.unwrap();
                    }
                });
                assert_eq!(KVStoreSync::list(&*store, "tasks", "").unwrap().len(), 200);
                // Dropping the store inside a task of its runtime closes it too.
                let table = store.table().to_owned();
                rt.block_on(rt.spawn(async move { drop(store) })).unwrap();
                let again = PostgresOptions::new()
                    .table(&table)
                    .connect(&url, rt.handle().clone())
                    .unwrap();
                cleanup(rt, again, &url);
            }

            #[test]
            fn read_only_store_reads_and_refuses_writes() {
                let Some((rt, store, url)) = fresh(concat!(
                    stringify!($module),
                    "::read_only_store_reads_and_refuses_writes"
                )) else {
                    return;
                };
                KVStoreSync::write(&store, "p", "", "k", b"v".to_vec()).unwrap();
                let reader = PostgresOptions::new()
                    .table(store.table())
                    .read_only()
                    .connect(&url, rt.handle().clone())
                    .unwrap();
                assert!(reader.is_read_only());
                assert_eq!(KVStoreSync::read(&reader, "p", "", "k").unwrap(), b"v");
                assert_eq!(KVStoreSync::list(&reader, "p", "").unwrap(), ["k"]);
                for err in [
                    KVStoreSync::write(&reader, "p", "", "k", b"w".to_vec()).unwrap_err(),
                    KVStoreSync::remove(&reader, "p", "", "k", false).unwrap_err(),
                    rt.block_on(KVStore::write(&reader, "p", "", "k", b"w".to_vec()))
                        .unwrap_err(),
                ] {
                    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
                    assert!(matches!(typed(&err), PostgresError::ReadOnly));
                }
                assert_eq!(KVStoreSync::read(&store, "p", "", "k").unwrap(), b"v");
                drop(reader);
                cleanup(rt, store, &url);
            }
        }
    };
}

#[cfg(feature = "lightning-0-2")]
fn list_all(s: &PostgresStore) -> Vec<(String, String, String)> {
    lightning::util::persist::MigratableKVStore::list_all_keys(s).unwrap()
}
#[cfg(all(feature = "lightning-0-3", not(feature = "lightning-0-2")))]
fn list_all(s: &PostgresStore) -> Vec<(String, String, String)> {
    lightning_0_3::util::persist::MigratableKVStoreSync::list_all_keys(s).unwrap()
}

#[cfg(feature = "lightning-0-3")]
async fn list_all_async(s: &PostgresStore) -> Vec<(String, String, String)> {
    lightning_0_3::util::persist::MigratableKVStore::list_all_keys(s)
        .await
        .unwrap()
}
#[cfg(not(feature = "lightning-0-3"))]
async fn list_all_async(s: &PostgresStore) -> Vec<(String, String, String)> {
    list_all(s)
}

#[cfg(feature = "lightning-0-2")]
contract!(ldk_0_2, lightning);
#[cfg(feature = "lightning-0-3")]
contract!(ldk_0_3, lightning_0_3);

#[cfg(feature = "lightning-0-3")]
mod pagination {
    use super::*;
    use lightning_0_3::io::ErrorKind;
    use lightning_0_3::util::persist::{
        KVStoreSync, MigratableKVStoreSync, PageToken, PaginatedKVStore, PaginatedKVStoreSync,
    };

    fn all_pages(s: &PostgresStore, p: &str, sec: &str) -> (Vec<Vec<String>>, Vec<String>) {
        let mut pages = Vec::new();
        let mut tokens = Vec::new();
        let mut token = None;
        loop {
            let page = PaginatedKVStoreSync::list_paginated(s, p, sec, token).unwrap();
            pages.push(page.keys);
            match page.next_page_token {
                Some(t) => {
                    tokens.push(t.as_str().to_owned());
                    token = Some(t);
                }
                None => return (pages, tokens),
            }
        }
    }

    #[test]
    fn newest_created_first_in_pages_of_50() {
        let Some((rt, store, url)) = fresh("pagination::newest_created_first_in_pages_of_50")
        else {
            return;
        };
        let s = &store;
        let (pages, tokens) = all_pages(s, "p", "s");
        assert_eq!(pages, [Vec::<String>::new()]);
        assert!(tokens.is_empty());

        let names: Vec<String> = (0..120)
            .map(|i| format!("key{:03}", (i * 37) % 120))
            .collect();
        for name in &names {
            KVStoreSync::write(s, "p", "s", name, name.as_bytes().to_vec()).unwrap();
        }
        // Other pairs are not listed.
        KVStoreSync::write(s, "p", "", "elsewhere", b"x".to_vec()).unwrap();
        KVStoreSync::write(s, "p", "s2", "elsewhere", b"x".to_vec()).unwrap();
        // Overwriting keeps a key's creation position.
        KVStoreSync::write(s, "p", "s", &names[0], b"again".to_vec()).unwrap();

        let newest_first: Vec<String> = names.iter().rev().cloned().collect();
        let (pages, tokens) = all_pages(s, "p", "s");
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [50, 50, 20]);
        assert_eq!(pages.concat(), newest_first);
        assert_eq!(tokens.len(), 2);
        for t in &tokens {
            assert!(t.parse::<i64>().unwrap() > 0, "token {t:?} is a sort_order");
        }

        // Async, the same pages.
        let first = rt
            .block_on(PaginatedKVStore::list_paginated(s, "p", "s", None))
            .unwrap();
        assert_eq!(first.keys, pages[0]);
        let second = rt
            .block_on(PaginatedKVStore::list_paginated(
                s,
                "p",
                "s",
                first.next_page_token,
            ))
            .unwrap();
        assert_eq!(second.keys, pages[1]);

        // A token whose key was removed resumes at the next older key.
        let last_of_first = &pages[0][49];
        KVStoreSync::remove(s, "p", "s", last_of_first, false).unwrap();
        let resumed = PaginatedKVStoreSync::list_paginated(
            s,
            "p",
            "s",
            Some(PageToken::new(tokens[0].clone())),
        )
        .unwrap();
        assert_eq!(resumed.keys, pages[1]);

        // A removed and re-written key is new again: first in the listing.
        KVStoreSync::write(s, "p", "s", last_of_first, b"back".to_vec()).unwrap();
        let first = PaginatedKVStoreSync::list_paginated(s, "p", "s", None).unwrap();
        assert_eq!(&first.keys[0], last_of_first);

        for bad in ["", "abc", "-1", "+5", "1.5", "99999999999999999999"] {
            let err = PaginatedKVStoreSync::list_paginated(
                s,
                "p",
                "s",
                Some(PageToken::new(bad.to_owned())),
            )
            .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
            assert!(matches!(typed(&err), PostgresError::InvalidPageToken));
        }
        let err = PaginatedKVStoreSync::list_paginated(s, "", "s", None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(MigratableKVStoreSync::list_all_keys(s).unwrap().len(), 122);
        cleanup(rt, store, &url);
    }
}
