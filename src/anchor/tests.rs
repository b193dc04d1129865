//! The sealed encoding of anchor values, the anchor state of an open store, and `StoreAnchor`
//! over an LDK store.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;

use super::*;
use crate::rng::OsRandom;

fn key(k: [u8; 32], id: [u8; 16]) -> AnchorKey {
    AnchorKey::new(&k, id, Arc::new(OsRandom))
}

fn triple(k: &str) -> Key {
    ("monitors".into(), String::new(), k.into())
}

#[test]
fn meta_round_trips_and_refuses_another_store_key_or_edit() {
    let a = key([1; 32], [7; 16]);
    let m = Meta {
        epoch: 9,
        header_seq: 5,
        version_limit: 1 << 33,
        accept_mark: 1,
    };
    let b = a.seal_meta(&m).unwrap();
    assert_eq!(b.len(), 72);
    assert_eq!(a.open_meta(&b), Ok(m));
    assert!(
        key([1; 32], [8; 16]).open_meta(&b).is_err(),
        "another store"
    );
    assert!(key([2; 32], [7; 16]).open_meta(&b).is_err(), "another key");
    for i in 0..b.len() {
        let mut e = b.clone();
        e[i] ^= 1;
        assert!(a.open_meta(&e).is_err(), "byte {i}");
    }
    assert!(a.open_meta(&b[..71]).is_err());
    let bad = Meta {
        accept_mark: m.version_limit + 1,
        ..m
    };
    assert!(a.open_meta(&a.seal_meta(&bad).unwrap()).is_err());
}

#[test]
fn entries_are_bound_to_their_names_and_epoch() {
    let a = key([3; 32], [7; 16]);
    let (name, value) = a.seal_entry(4, &triple("x"), 17).unwrap();
    assert!(is_entry_name(&name));
    assert_eq!(a.open_entry(&name, &value), Ok((4, triple("x"), 17)));
    let (other, _) = a.seal_entry(4, &triple("y"), 17).unwrap();
    assert!(
        a.open_entry(&other, &value).is_err(),
        "moved to another entry's name"
    );
    assert_ne!(
        a.entry_name(5, &triple("x")).unwrap(),
        name,
        "the epoch is in the name"
    );
    assert_ne!(
        key([4; 32], [7; 16]).entry_name(4, &triple("x")).unwrap(),
        name,
        "keyed"
    );
    assert!(key([4; 32], [7; 16]).open_entry(&name, &value).is_err());
    for i in 0..value.len() {
        let mut e = value.clone();
        e[i] ^= 1;
        assert!(a.open_entry(&name, &e).is_err(), "byte {i}");
    }
    assert!(a.open_entry("meta", &value).is_err());
    assert!(a.open_entry(&name.to_uppercase(), &value).is_err());
}

/// An accept mark at the version limit is in bounds; one above it is refused as such.
#[test]
fn meta_accept_mark_may_reach_the_limit() {
    let a = key([1; 32], [7; 16]);
    let at = Meta {
        epoch: 2,
        header_seq: 3,
        version_limit: 1 << 20,
        accept_mark: 1 << 20,
    };
    assert_eq!(a.open_meta(&a.seal_meta(&at).unwrap()), Ok(at));
    let above = Meta {
        accept_mark: at.version_limit + 1,
        ..at
    };
    assert_eq!(
        a.open_meta(&a.seal_meta(&above).unwrap()),
        Err(AnchorCorruption::AcceptMarkAboveLimit)
    );
}

/// A value under a name the anchor never uses for an entry is reported as such, before its
/// bytes are looked at: `k` and 64 lowercase hex digits, nothing else.
#[test]
fn entries_under_names_the_anchor_does_not_use_are_unknown() {
    let a = key([3; 32], [7; 16]);
    let (name, value) = a.seal_entry(4, &triple("x"), 17).unwrap();
    let hex = &name[1..];
    for bad in [
        "meta".to_owned(),
        name.to_uppercase(),
        format!("a{hex}"),
        format!("k{}g", &hex[1..]),
        format!("k{}", &hex[1..]),
        format!("{name}0"),
        hex.to_owned(),
    ] {
        assert_eq!(
            a.open_entry(&bad, &value),
            Err(AnchorCorruption::UnknownName),
            "{bad}"
        );
    }
}

/// An anchor in memory, whatever LDK version the build has.
#[derive(Default)]
struct Values(std::sync::Mutex<HashMap<(String, String), Vec<u8>>>);

impl FreshnessAnchor for Values {
    fn read(&self, store: &str, name: &str) -> Result<Option<Vec<u8>>, io::Error> {
        let key = (store.to_owned(), name.to_owned());
        Ok(self.0.lock().unwrap().get(&key).cloned())
    }
    fn write(&self, store: &str, name: &str, value: &[u8]) -> Result<(), io::Error> {
        let key = (store.to_owned(), name.to_owned());
        self.0.lock().unwrap().insert(key, value.to_vec());
        Ok(())
    }
    fn remove(&self, store: &str, name: &str) -> Result<(), io::Error> {
        let key = (store.to_owned(), name.to_owned());
        self.0.lock().unwrap().remove(&key);
        Ok(())
    }
    fn list(&self, store: &str) -> Result<Vec<String>, io::Error> {
        let values = self.0.lock().unwrap();
        Ok(values
            .keys()
            .filter(|(s, _)| s == store)
            .map(|(_, n)| n.clone())
            .collect())
    }
}

/// The anchor state of store `[7; 16]` in `anchor`, at epoch 4, nothing pending.
fn state(anchor: &Arc<dyn FreshnessAnchor>) -> AnchorState {
    let store_id = [7; 16];
    AnchorState {
        anchor: Arc::clone(anchor),
        key: key([3; 32], store_id),
        ns: store_hex(&store_id),
        meta: Meta {
            epoch: 4,
            header_seq: 1,
            version_limit: 1 << 20,
            accept_mark: 0,
        },
        meta_pending: false,
        pending: HashMap::new(),
    }
}

/// A read-only instance re-reading an entry refuses one of version 0 (no write has it), and
/// reads an absent entry as absent.
#[test]
fn a_reread_entry_of_version_0_is_corrupt() {
    let anchor: Arc<dyn FreshnessAnchor> = Arc::new(Values::default());
    let st = state(&anchor);
    assert!(st.read_entry(&triple("x")).unwrap().is_none());
    for (version, want) in [(17, Some(17)), (0, None)] {
        let (name, value) = st.key.seal_entry(4, &triple("x"), version).unwrap();
        anchor.write(&st.ns, &name, &value).unwrap();
        match (st.read_entry(&triple("x")), want) {
            (Ok(got), Some(_)) => assert_eq!(got, want),
            (Err(e), None) => {
                assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                let inner = e.get_ref().and_then(|e| e.downcast_ref::<OpenError>());
                assert!(
                    matches!(
                        inner,
                        Some(OpenError::AnchorCorrupt {
                            reason: AnchorCorruption::EntryVersionZero
                        })
                    ),
                    "{inner:?}"
                );
            }
            (got, _) => panic!("version {version}: {got:?}"),
        }
    }
}

/// The anchor key and an open store's anchor state show what they are, the state its meta and
/// how many changes are pending, and never the key.
#[test]
fn debug_shows_the_meta_and_never_the_key() {
    let anchor: Arc<dyn FreshnessAnchor> = Arc::new(Values::default());
    let mut st = state(&anchor);
    st.pending.insert(triple("x"), Some(3));
    assert_eq!(format!("{:?}", st.key), "AnchorKey { .. }");
    assert_eq!(
        format!("{st:?}"),
        format!("AnchorState {{ meta: {:?}, pending: 1, .. }}", st.meta)
    );
}

/// [`StoreAnchor`] over an LDK 0.2 store.
#[cfg(feature = "lightning-0-2")]
mod over_an_ldk_store {
    use lightning::util::persist::KVStoreSync;

    use super::*;
    use crate::ldk::V0_2;

    /// A store whose every call fails with one kind of error.
    struct Failing(io::ErrorKind);

    impl KVStoreSync for Failing {
        fn read(&self, _: &str, _: &str, _: &str) -> Result<Vec<u8>, io::Error> {
            Err(self.0.into())
        }
        fn write(&self, _: &str, _: &str, _: &str, _: Vec<u8>) -> Result<(), io::Error> {
            Err(self.0.into())
        }
        fn remove(&self, _: &str, _: &str, _: &str, _: bool) -> Result<(), io::Error> {
            Err(self.0.into())
        }
        fn list(&self, _: &str, _: &str) -> Result<Vec<String>, io::Error> {
            Err(self.0.into())
        }
    }

    /// Only the store's `NotFound` means "no value" (a read of `None`, a remove that
    /// succeeds); any other failure is the anchor's error, never taken for an absent value.
    #[test]
    fn only_not_found_is_an_absent_value() {
        let absent = StoreAnchor::<_, V0_2>::new(Failing(io::ErrorKind::NotFound));
        assert_eq!(absent.read("s", "n").unwrap(), None);
        absent.remove("s", "n").unwrap();
        let down = StoreAnchor::<_, V0_2>::new(Failing(io::ErrorKind::TimedOut));
        assert_eq!(
            down.read("s", "n").unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
        assert_eq!(
            down.remove("s", "n").unwrap_err().kind(),
            io::ErrorKind::TimedOut
        );
    }

    /// Its `Debug` names it and shows nothing of the store it is kept in.
    #[test]
    fn debug_shows_no_store() {
        let a = StoreAnchor::<_, V0_2>::new(crate::MemoryStore::new());
        assert_eq!(format!("{a:?}"), "StoreAnchor { .. }");
    }
}
