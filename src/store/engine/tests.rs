// Test helpers outside `#[test]` functions: a failed lock or lookup is a failed test.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lightning::io::{self, ErrorKind};
use lightning::util::persist::KVStoreSync;

use crate::{Credential, FreshnessAnchor, MemoryStore, OpenError, OpenOptions, RawKey};

/// Anchor values by (store, name).
type Values = BTreeMap<(String, String), Vec<u8>>;

/// An anchor in memory whose reads can be made to fail, and whose values a test can edit.
#[derive(Clone, Default)]
struct MapAnchor {
    values: Arc<Mutex<Values>>,
    fail_reads: Arc<AtomicBool>,
}

impl FreshnessAnchor for MapAnchor {
    fn read(&self, store: &str, name: &str) -> Result<Option<Vec<u8>>, io::Error> {
        if self.fail_reads.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                "the anchor is unreachable",
            ));
        }
        let key = (store.to_owned(), name.to_owned());
        Ok(self.values.lock().unwrap().get(&key).cloned())
    }
    fn write(&self, store: &str, name: &str, value: &[u8]) -> Result<(), io::Error> {
        let key = (store.to_owned(), name.to_owned());
        self.values.lock().unwrap().insert(key, value.to_vec());
        Ok(())
    }
    fn remove(&self, store: &str, name: &str) -> Result<(), io::Error> {
        let key = (store.to_owned(), name.to_owned());
        self.values.lock().unwrap().remove(&key);
        Ok(())
    }
    fn list(&self, store: &str) -> Result<Vec<String>, io::Error> {
        let values = self.values.lock().unwrap();
        Ok(values
            .keys()
            .filter(|k| k.0 == store)
            .map(|k| k.1.clone())
            .collect())
    }
}

/// A read-only anchored instance that finds a record that does not open under a key it holds no
/// entry for asks the anchor before answering absent (the writer may have written the key
/// since). When that anchor read fails the read fails with the anchor's error, and when the
/// entry there does not open it is `AnchorCorrupt`; neither is reported as an authentication
/// failure of the record, nor as absent.
#[test]
fn a_read_only_instance_reports_the_anchor_when_its_reread_fails() {
    let key = RawKey::from_bytes([7; 32]);
    let cred = || Credential::raw_key(&key);
    let inner = MemoryStore::new();
    let anchor = MapAnchor::default();
    let writer = OpenOptions::new()
        .anchor(anchor.clone())
        .create::<crate::ldk::V0_2, _>(inner.clone(), cred())
        .unwrap();
    KVStoreSync::write(&writer, "p", "", "held", b"v".to_vec()).unwrap();
    let reader = OpenOptions::new()
        .read_only()
        .anchor(anchor.clone())
        .open::<crate::ldk::V0_2, _>(inner.clone(), cred())
        .unwrap();

    // Written after the reader opened: the reader holds no entry for it. Its record is then
    // replaced with junk.
    let before: Vec<String> = anchor.list(&first_store(&anchor)).unwrap();
    KVStoreSync::write(&writer, "p", "", "late", b"w".to_vec()).unwrap();
    KVStoreSync::write(&inner, "p", "", "late", vec![0x5a; 80]).unwrap();

    anchor.fail_reads.store(true, Ordering::SeqCst);
    let e = KVStoreSync::read(&reader, "p", "", "late").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TimedOut, "{e:?}");
    anchor.fail_reads.store(false, Ordering::SeqCst);

    // The entry of "late" is the one name the write added; flip a byte of its sealed value.
    let store = first_store(&anchor);
    let added: Vec<String> = anchor
        .list(&store)
        .unwrap()
        .into_iter()
        .filter(|n| !before.contains(n) && n.starts_with('k'))
        .collect();
    assert_eq!(added.len(), 1, "{added:?}");
    {
        let mut values = anchor.values.lock().unwrap();
        let v = values.get_mut(&(store, added[0].clone())).unwrap();
        let last = v.len() - 1;
        v[last] ^= 1;
    }
    let e = KVStoreSync::read(&reader, "p", "", "late").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e:?}");
    assert!(
        matches!(
            e.get_ref().and_then(|e| e.downcast_ref::<OpenError>()),
            Some(OpenError::AnchorCorrupt { .. })
        ),
        "{e:?}"
    );

    // A key nobody wrote, with junk planted, is absent for the reader while the anchor answers.
    KVStoreSync::write(&inner, "p", "", "junk", vec![0x5a; 80]).unwrap();
    let e = KVStoreSync::read(&reader, "p", "", "junk").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e:?}");
}

/// The one store name the anchor holds values under.
fn first_store(anchor: &MapAnchor) -> String {
    let values = anchor.values.lock().unwrap();
    let stores: std::collections::BTreeSet<String> = values.keys().map(|k| k.0.clone()).collect();
    assert_eq!(stores.len(), 1, "{stores:?}");
    stores.into_iter().next().unwrap()
}
