//! The sealed encoding of anchor values.

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
