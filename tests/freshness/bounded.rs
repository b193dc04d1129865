//! Property 9. The state is bounded by the live keys: after 10,000 write-and-remove cycles over
//! distinct keys (hard and lazy removes, two restarts on the way), the anchor's directory holds
//! `meta` and one entry per live key, nothing else; and a removed key's record put back is
//! still absent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::support::{
    anchor_names, assert_absent, create_anchored, dir_files, open_anchored, Layout,
};
use super::v::{ldk, TempFs};
use ldk::util::persist::KVStoreSync;

const CYCLES: usize = 10_000;
const LIVE: [&str; 3] = ["manager", "scorer", "graph"];

#[test]
fn ten_thousand_removed_keys_leave_only_meta_and_the_live_entries_in_the_anchor() {
    let (inner, a) = (TempFs::in_memory_fs(), TempFs::in_memory_fs());
    let mut store = create_anchored(Layout::Plain, inner.clone(), &a);
    let id = store.info().store_id;
    for k in LIVE {
        store.write("", "", k, k.as_bytes().to_vec()).unwrap();
    }
    let mut last_record = Vec::new();
    for i in 0..CYCLES {
        if i == CYCLES / 3 || i == 2 * CYCLES / 3 {
            drop(store);
            store = open_anchored(inner.clone(), &a).unwrap();
        }
        let k = format!("p{i:05}");
        store
            .write("payments", "", &k, format!("payment {i}").into_bytes())
            .unwrap();
        if i == CYCLES - 1 {
            last_record = inner.read("payments", "", &k).unwrap();
        }
        store.remove("payments", "", &k, i % 2 == 1).unwrap();
    }

    let files = dir_files(a.path());
    assert_eq!(
        files.len(),
        1 + LIVE.len(),
        "the anchor's directory holds {} files: {:?}",
        files.len(),
        files.keys().take(10).collect::<Vec<_>>()
    );
    let names = anchor_names(&a, &id);
    assert_eq!(names.len(), 1 + LIVE.len(), "{names:?}");
    assert!(names.contains(&"meta".to_owned()));
    assert!(names
        .iter()
        .filter(|n| n.as_str() != "meta")
        .all(|n| n.len() == 65 && n.starts_with('k')));

    // The live keys are still watched and served, and a removed one put back stays absent.
    drop(store);
    let store = open_anchored(inner.clone(), &a).unwrap();
    for k in LIVE {
        assert_eq!(store.read("", "", k).unwrap(), k.as_bytes());
    }
    let k = format!("p{:05}", CYCLES - 1);
    inner.write("payments", "", &k, last_record).unwrap();
    assert_absent(store.read("payments", "", &k), "payments", "", &k, true);
    assert!(store.list("payments", "").unwrap().is_empty());
    assert_eq!(dir_files(a.path()).len(), 1 + LIVE.len());
}
