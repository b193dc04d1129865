//! Many threads writing, reading, listing and removing through one shared
//! `EncryptedStore<FilesystemStore>`, on keys of their own and on shared keys, while another
//! thread changes the passphrase and another reads through a second handle on the same
//! directory (as a second, read-only process would: two `FilesystemStore`s must not both write
//! one directory, their temporary file names collide). Checked against a model: nothing acknowledged is lost, no read ever returns a
//! value that was not written to that very key, and no error other than `NotFound` (where a
//! concurrent remove allows it) ever appears.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use super::v::{fs, ldk, V};
use crate::common::{cheap, Xorshift, PASSPHRASE};
use encrypted_kvstore::EncryptedStore;
use ldk::io::{self, ErrorKind};
use ldk::util::persist::KVStoreSync;

const THREADS: usize = 6;
const OPS_PER_THREAD: usize = 250;
const OWN_KEYS: usize = 5;
const SHARED_KEYS: usize = 4;
const PASSPHRASE_CHANGES: usize = 8;

type Key = (String, String, String);

/// Every value any thread has started to write, per key (recorded before the write is made).
#[derive(Default)]
struct Attempted(Mutex<HashMap<Key, HashSet<Vec<u8>>>>);

impl Attempted {
    fn record(&self, key: &Key, v: &[u8]) {
        self.0
            .lock()
            .unwrap()
            .entry(key.clone())
            .or_default()
            .insert(v.to_vec());
    }

    /// A value read for `key` must be one written to exactly that key.
    #[track_caller]
    fn check(&self, key: &Key, v: &[u8]) {
        let prefix = format!("{}|{}|{}|", key.0, key.1, key.2);
        assert!(
            v.starts_with(prefix.as_bytes()),
            "{key:?} read a value of another key: {:?}",
            String::from_utf8_lossy(&v[..v.len().min(80)])
        );
        let known = self
            .0
            .lock()
            .unwrap()
            .get(key)
            .is_some_and(|set| set.contains(v));
        assert!(known, "{key:?} read a value never written to it");
    }
}

fn value(key: &Key, tid: usize, seq: usize) -> Vec<u8> {
    let mut v = format!("{}|{}|{}|t{tid}|n{seq}|", key.0, key.1, key.2).into_bytes();
    v.extend((0..(seq * 37) % 700).map(|i| (i ^ tid) as u8));
    v
}

fn key(p: &str, s: &str, k: String) -> Key {
    (p.to_owned(), s.to_owned(), k)
}

fn stable(i: usize) -> Key {
    key("shared", "stable", format!("s{i}"))
}

fn volatile(i: usize) -> Key {
    key("shared", "volatile", format!("v{i}"))
}

#[track_caller]
fn unexpected(ctx: &str, e: io::Error) -> ! {
    panic!("{ctx}: unexpected error {e:?}")
}

/// One worker: a seeded random mix of operations; returns its own keys' final model.
fn worker<S: KVStoreSync>(store: &S, tid: usize, attempted: &Attempted) -> BTreeMap<Key, Vec<u8>> {
    let mut rng = Xorshift(0x9E37_79B9_7F4A_7C15 ^ (tid as u64 + 1));
    let own_ns = format!("t{tid}");
    let mut own: BTreeMap<Key, Vec<u8>> = BTreeMap::new();
    for seq in 0..OPS_PER_THREAD {
        let roll = rng.below(100);
        let i = rng.below(OWN_KEYS as u64) as usize;
        let own_key = key("own", &own_ns, format!("k{i}"));
        let j = rng.below(SHARED_KEYS as u64) as usize;
        let ctx = format!("thread {tid} op {seq}");
        match roll {
            // Own keys: an exact model.
            0..=19 => {
                let v = value(&own_key, tid, seq);
                attempted.record(&own_key, &v);
                store
                    .write(&own_key.0, &own_key.1, &own_key.2, v.clone())
                    .unwrap_or_else(|e| unexpected(&ctx, e));
                own.insert(own_key, v);
            }
            20..=34 => match store.read(&own_key.0, &own_key.1, &own_key.2) {
                Ok(v) => assert_eq!(Some(&v), own.get(&own_key), "{ctx}"),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    assert!(!own.contains_key(&own_key), "{ctx}: lost {own_key:?}")
                }
                Err(e) => unexpected(&ctx, e),
            },
            35..=41 => {
                store
                    .remove(&own_key.0, &own_key.1, &own_key.2, rng.below(2) == 0)
                    .unwrap_or_else(|e| unexpected(&ctx, e));
                own.remove(&own_key);
            }
            42..=46 => {
                let mut l = store
                    .list("own", &own_ns)
                    .unwrap_or_else(|e| unexpected(&ctx, e));
                l.sort();
                let want: Vec<String> = own.keys().map(|k| k.2.clone()).collect();
                assert_eq!(l, want, "{ctx}");
            }
            // Shared keys that are never removed.
            47..=59 => {
                let k = stable(j);
                let v = value(&k, tid, seq);
                attempted.record(&k, &v);
                store
                    .write(&k.0, &k.1, &k.2, v)
                    .unwrap_or_else(|e| unexpected(&ctx, e));
            }
            60..=72 => {
                let k = stable(j);
                let v = store
                    .read(&k.0, &k.1, &k.2)
                    .unwrap_or_else(|e| unexpected(&ctx, e));
                attempted.check(&k, &v);
            }
            73..=76 => {
                let mut l = store
                    .list("shared", "stable")
                    .unwrap_or_else(|e| unexpected(&ctx, e));
                l.sort();
                let want: Vec<String> = (0..SHARED_KEYS).map(|i| stable(i).2).collect();
                assert_eq!(l, want, "{ctx}");
            }
            // Shared keys that are also removed.
            77..=85 => {
                let k = volatile(j);
                let v = value(&k, tid, seq);
                attempted.record(&k, &v);
                store
                    .write(&k.0, &k.1, &k.2, v)
                    .unwrap_or_else(|e| unexpected(&ctx, e));
            }
            86..=93 => {
                let k = volatile(j);
                match store.read(&k.0, &k.1, &k.2) {
                    Ok(v) => attempted.check(&k, &v),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => unexpected(&ctx, e),
                }
            }
            94..=96 => {
                let k = volatile(j);
                store
                    .remove(&k.0, &k.1, &k.2, rng.below(2) == 0)
                    .unwrap_or_else(|e| unexpected(&ctx, e));
            }
            _ => {
                let l = store
                    .list("shared", "volatile")
                    .unwrap_or_else(|e| unexpected(&ctx, e));
                let names: BTreeSet<String> = (0..SHARED_KEYS).map(|i| volatile(i).2).collect();
                assert!(l.iter().all(|k| names.contains(k)), "{ctx}: {l:?}");
            }
        }
    }
    own
}

/// Reads and lists the shared keys through another handle.
fn reader<S: KVStoreSync>(store: &S, attempted: &Attempted) {
    for round in 0..OPS_PER_THREAD {
        let i = round % SHARED_KEYS;
        let ctx = format!("reader round {round}");
        let k = stable(i);
        let v = store
            .read(&k.0, &k.1, &k.2)
            .unwrap_or_else(|e| unexpected(&ctx, e));
        attempted.check(&k, &v);
        let k = volatile(i);
        match store.read(&k.0, &k.1, &k.2) {
            Ok(v) => attempted.check(&k, &v),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => unexpected(&ctx, e),
        }
        let l = store
            .list("shared", "stable")
            .unwrap_or_else(|e| unexpected(&ctx, e));
        assert_eq!(l.len(), SHARED_KEYS, "{ctx}");
    }
}

#[test]
fn threads_share_one_encrypted_filesystem_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = EncryptedStore::create::<V>(fs(dir.path()), PASSPHRASE, cheap()).unwrap();
    // A second, independent handle on the same directory (its own FilesystemStore).
    let second = EncryptedStore::open::<V>(fs(dir.path()), PASSPHRASE).unwrap();
    let attempted = Attempted::default();
    for i in 0..SHARED_KEYS {
        let k = stable(i);
        let v = value(&k, usize::MAX, 0);
        attempted.record(&k, &v);
        store.write(&k.0, &k.1, &k.2, v).unwrap();
    }

    let passphrases: Vec<Vec<u8>> = (0..PASSPHRASE_CHANGES)
        .map(|i| format!("passphrase {i}").into_bytes())
        .collect();
    let models: Vec<BTreeMap<Key, Vec<u8>>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|tid| {
                let (store, attempted) = (&store, &attempted);
                scope.spawn(move || worker(store, tid, attempted))
            })
            .collect();
        // Meanwhile, the passphrase changes (values are untouched by it).
        let store = &store;
        let passphrases = &passphrases;
        scope.spawn(move || {
            for pw in passphrases {
                store.change_passphrase::<V>(pw, cheap()).unwrap();
            }
        });
        // And a reader on its own handle.
        let (second, attempted) = (&second, &attempted);
        scope.spawn(move || reader(second, attempted));
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });

    // Reopened from disk with the last passphrase, everything is as the model says.
    let last = passphrases.last().unwrap();
    assert!(EncryptedStore::open::<V>(fs(dir.path()), PASSPHRASE).is_err());
    let reopened = EncryptedStore::open::<V>(fs(dir.path()), last).unwrap();
    for (tid, own) in models.iter().enumerate() {
        let ns = format!("t{tid}");
        for i in 0..OWN_KEYS {
            let k = key("own", &ns, format!("k{i}"));
            match (own.get(&k), reopened.read(&k.0, &k.1, &k.2)) {
                (Some(want), Ok(got)) => assert_eq!(&got, want, "{k:?}"),
                (None, Err(e)) if e.kind() == ErrorKind::NotFound => {}
                (want, got) => panic!("{k:?}: model {want:?}, store {got:?}"),
            }
        }
        let mut l = reopened.list("own", &ns).unwrap();
        l.sort();
        assert_eq!(l, own.keys().map(|k| k.2.clone()).collect::<Vec<_>>());
    }
    for i in 0..SHARED_KEYS {
        let k = stable(i);
        attempted.check(&k, &reopened.read(&k.0, &k.1, &k.2).unwrap());
        let k = volatile(i);
        match reopened.read(&k.0, &k.1, &k.2) {
            Ok(v) => attempted.check(&k, &v),
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => panic!("{k:?}: {e:?}"),
        }
    }
    // The workload did exercise everything it claims to.
    let total_owned: usize = models.iter().map(|m| m.len()).sum();
    assert!(total_owned > 0);
}
