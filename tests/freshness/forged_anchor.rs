//! Property 4. The anchor's values are sealed and named by a keyed hash: a byte edited in
//! `meta` or in an entry, an entry or a `meta` copied from another store's anchor, an entry
//! moved or copied to another entry's name, are each refused at open with
//! `OpenError::AnchorCorrupt` (writable and read-only), and the store opens again once the
//! anchor is mended.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use super::support::{
    anchor_names, create_anchored, open_anchored, open_anchored_refused, store_hex, Layout,
};
use super::v::{ldk, TempFs};
use encrypted_kvstore::{OpenError, ANCHOR_PRIMARY_NAMESPACE};
use ldk::io;
use ldk::util::persist::KVStoreSync;

const NS: &str = ANCHOR_PRIMARY_NAMESPACE;

/// Every value of the anchor group `group` in `a`.
fn group(a: &TempFs, group: &str) -> BTreeMap<String, Vec<u8>> {
    KVStoreSync::list(a, NS, group)
        .unwrap()
        .into_iter()
        .map(|n| {
            let v = KVStoreSync::read(a, NS, group, &n).unwrap();
            (n, v)
        })
        .collect()
}

/// Puts the group back to exactly `saved`.
fn mend(a: &TempFs, g: &str, saved: &BTreeMap<String, Vec<u8>>) {
    for n in KVStoreSync::list(a, NS, g).unwrap() {
        if !saved.contains_key(&n) {
            KVStoreSync::remove(a, NS, g, &n, false).unwrap();
        }
    }
    for (n, v) in saved {
        KVStoreSync::write(a, NS, g, n, v.clone()).unwrap();
    }
}

fn flipped(v: &[u8], at: usize) -> Vec<u8> {
    let mut v = v.to_vec();
    v[at] ^= 0x01;
    v
}

#[test]
fn forged_edited_and_moved_anchor_values_are_refused() {
    for layout in Layout::BOTH {
        // Two stores in one anchor: each has its own group, as one anchor serving two nodes.
        let (inner, other_inner, a) = (TempFs::new(), TempFs::new(), TempFs::new());
        let store = create_anchored(layout, inner.clone(), &a);
        for k in ["m1", "m2", "m3"] {
            store
                .write("monitors", "", k, k.as_bytes().to_vec())
                .unwrap();
        }
        let id = store.info().store_id;
        drop(store);
        let other = create_anchored(layout, other_inner.clone(), &a);
        other
            .write("monitors", "", "m1", b"other".to_vec())
            .unwrap();
        let other_id = other.info().store_id;
        drop(other);

        let g = store_hex(&id);
        let og = store_hex(&other_id);
        let saved = group(&a, &g);
        let theirs = group(&a, &og);
        let names = anchor_names(&a, &id);
        assert_eq!(names.len(), 4, "meta and three entries: {names:?}");
        let entries: Vec<&String> = names.iter().filter(|n| n.as_str() != "meta").collect();
        let (e1, e2) = (entries[0].clone(), entries[1].clone());
        let meta = saved["meta"].clone();
        let entry = saved[&e1].clone();
        let their_entry_name = theirs
            .keys()
            .find(|n| n.as_str() != "meta")
            .unwrap()
            .clone();
        let their_entry = theirs[&their_entry_name].clone();
        let their_meta = theirs["meta"].clone();

        type Forge<'a> = Box<dyn Fn() + 'a>;
        let put = |n: &str, v: Vec<u8>| KVStoreSync::write(&a, NS, &g, n, v).unwrap();
        let mut cases: Vec<(String, Forge<'_>)> = Vec::new();
        for at in [0, 23, 24, 40, meta.len() - 1] {
            let m = meta.clone();
            cases.push((
                format!("meta, byte {at} edited"),
                Box::new(move || put("meta", flipped(&m, at))),
            ));
        }
        for at in [0, 23, 24, 40, entry.len() - 1] {
            let (e, n) = (entry.clone(), e1.clone());
            cases.push((
                format!("entry, byte {at} edited"),
                Box::new(move || put(&n, flipped(&e, at))),
            ));
        }
        cases.push((
            "another store's entry, under its own name".into(),
            Box::new(|| put(&their_entry_name, their_entry.clone())),
        ));
        cases.push((
            "another store's entry, in place of an entry".into(),
            Box::new(|| put(&e1, their_entry.clone())),
        ));
        cases.push((
            "another store's meta".into(),
            Box::new(|| put("meta", their_meta.clone())),
        ));
        cases.push((
            "an entry moved to another entry's name".into(),
            Box::new(|| {
                put(&e2, entry.clone());
                KVStoreSync::remove(&a, NS, &g, &e1, false).unwrap();
            }),
        ));
        cases.push((
            "an entry copied to another entry's name".into(),
            Box::new(|| put(&e2, entry.clone())),
        ));
        cases.push((
            "an entry copied to a name of the entry form".into(),
            Box::new(|| put(&format!("k{}", "0".repeat(64)), entry.clone())),
        ));
        cases.push((
            "an entry moved to a name of the entry form".into(),
            Box::new(|| {
                put(&format!("k{}", "f".repeat(64)), entry.clone());
                KVStoreSync::remove(&a, NS, &g, &e1, false).unwrap();
            }),
        ));

        for (what, forge) in &cases {
            forge();
            for (mode, e) in open_anchored_refused(&inner, &a) {
                assert!(
                    matches!(e, OpenError::AnchorCorrupt { .. }),
                    "{layout:?}, {what}, {mode}: {e:?}"
                );
                assert_eq!(io::Error::from(e).kind(), io::ErrorKind::InvalidData);
            }
            mend(&a, &g, &saved);
            let store = open_anchored(inner.clone(), &a)
                .unwrap_or_else(|e| panic!("{layout:?}, {what}, mended: {e:?}"));
            assert_eq!(store.read("monitors", "", "m2").unwrap(), b"m2");
            drop(store);
        }
        // The other store was never disturbed.
        let other = open_anchored(other_inner.clone(), &a).unwrap();
        assert_eq!(other.read("monitors", "", "m1").unwrap(), b"other");
    }
}
