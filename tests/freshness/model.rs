//! All properties at once, against a model: random histories over an anchored store on LDK's
//! `FilesystemStore` (writes through both traits, hard and lazy removes, restarts, rotations
//! with re-encryption, accepts of the current state, and the whole store restored from an
//! older copy of its directory then accepted), interleaved with attacks on one key at a time.
//! Any record of a live key other than its current one put back is `Rollback` (older records,
//! and newer records of a timeline an accept abandoned; `AuthenticationFailed` for those sealed
//! under a data key the restored header never had), a live key deleted is `Missing`, any record
//! of a removed key put back is absent, while the store is open and after a restart; each
//! attack is undone and the store goes on, raising no alarm on the honest data.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::support::{
    anchor, assert_absent, assert_missing, assert_rollback, changed_record, create_anchored,
    dir_files, key_id_of, open_anchored, put_back, records, restore_dir, version_of, Layout, Name,
};
use super::v::{ldk, AsyncOps, Ops, TempFs, V};
use crate::common::{assert_auth_failed, Xorshift, PASSPHRASE};
use encrypted_kvstore::{Credential, EncryptedStore, OpenOptions};
use ldk::util::persist::KVStoreSync;

const KEYS: [(&str, &str, &str); 6] = [
    ("monitors", "", "m1"),
    ("monitors", "", "m2"),
    ("monitor_updates", "m1", "1"),
    ("monitor_updates", "m1", "2"),
    ("payments", "", "p1"),
    ("", "", "manager"),
];
const SEEDS: u64 = 12;
const STEPS: usize = 60;

/// What the model knows of one key.
#[derive(Default, Clone)]
struct Key {
    /// Where the inner store keeps it (known after its first write).
    stored: Option<Name>,
    /// The current record and value, if live.
    live: Option<(Vec<u8>, Vec<u8>)>,
    /// Every record ever written for it.
    history: Vec<Vec<u8>>,
}

struct Run {
    layout: Layout,
    inner: TempFs,
    a: TempFs,
    keys: Vec<Key>,
    rng: Xorshift,
    at: String,
}

impl Run {
    fn reopen(&self) -> EncryptedStore<TempFs> {
        open_anchored(self.inner.clone(), &self.a)
            .unwrap_or_else(|e| panic!("{}: reopen: {e:?}", self.at))
    }

    /// Every key reads as the model says, and the listings agree.
    fn check_honest(&self, store: &EncryptedStore<TempFs>) {
        for (i, (p, s, k)) in KEYS.iter().enumerate() {
            match &self.keys[i].live {
                Some((_, value)) => assert_eq!(
                    &store
                        .read(p, s, k)
                        .unwrap_or_else(|e| panic!("{}: {k}: {e:?}", self.at)),
                    value,
                    "{}: {k}",
                    self.at
                ),
                None => {
                    assert_absent(store.read(p, s, k), p, s, k, false);
                }
            }
        }
        let mut listed: Vec<(String, String, String)> =
            super::v::MigratableKVStoreSync::list_all_keys(store)
                .unwrap_or_else(|e| panic!("{}: list_all_keys: {e:?}", self.at));
        listed.sort();
        let mut live: Vec<(String, String, String)> = KEYS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.keys[*i].live.is_some())
            .map(|(_, (p, s, k))| (p.to_string(), s.to_string(), k.to_string()))
            .collect();
        live.sort();
        assert_eq!(listed, live, "{}", self.at);
    }

    /// One attack on key `i` (chosen by the generator), checked on `store`, then undone.
    fn attack(&mut self, store: &EncryptedStore<TempFs>, i: usize) {
        let (p, s, k) = KEYS[i];
        let key = &self.keys[i];
        let Some(stored) = key.stored.clone() else {
            return;
        };
        match &key.live {
            Some((current, _)) => {
                let current = current.clone();
                let older: Vec<&Vec<u8>> = key.history.iter().filter(|r| **r != current).collect();
                if !older.is_empty() && self.rng.below(2) == 0 {
                    let r = older[self.rng.below(older.len() as u64) as usize].clone();
                    put_back(&self.inner, &stored, &r);
                    if opens(store, &r) {
                        let (found, expected) = assert_rollback(store.read(p, s, k), p, s, k);
                        assert_eq!(found, version_of(&r), "{}", self.at);
                        assert_eq!(expected, version_of(&current), "{}", self.at);
                    } else {
                        assert_auth_failed(store.read(p, s, k), p, s, k);
                    }
                } else {
                    KVStoreSync::remove(&self.inner, &stored.0, &stored.1, &stored.2, false)
                        .unwrap();
                    assert_missing(store.read(p, s, k), p, s, k);
                }
                put_back(&self.inner, &stored, &current);
            }
            None => {
                let r = key.history[self.rng.below(key.history.len() as u64) as usize].clone();
                put_back(&self.inner, &stored, &r);
                if opens(store, &r) {
                    let found = assert_absent(store.read(p, s, k), p, s, k, true);
                    assert_eq!(found, Some(version_of(&r)), "{}", self.at);
                } else {
                    // Anchored, an absent key is absent whatever lingers there (here a record
                    // under a retired key): NotFound, not an authentication failure.
                    assert_absent(store.read(p, s, k), p, s, k, false);
                }
                KVStoreSync::remove(&self.inner, &stored.0, &stored.1, &stored.2, false).unwrap();
            }
        }
    }
}

#[test]
fn random_histories_with_attacks_against_a_model() {
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    type Copy = (BTreeMap<PathBuf, Vec<u8>>, Vec<Option<(Vec<u8>, Vec<u8>)>>);
    for layout in Layout::BOTH {
        for seed in 1..=SEEDS {
            let (inner, a) = (TempFs::in_memory_fs(), TempFs::in_memory_fs());
            let mut run = Run {
                layout,
                inner: inner.clone(),
                a: a.clone(),
                keys: (0..KEYS.len()).map(|_| Key::default()).collect(),
                rng: Xorshift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                at: String::new(),
            };
            let mut store = create_anchored(layout, inner.clone(), &a);
            let mut copy: Option<Copy> = None;
            for step in 0..STEPS {
                let i = run.rng.below(KEYS.len() as u64) as usize;
                let (p, s, k) = KEYS[i];
                let choice = run.rng.below(100);
                run.at = format!("{:?} seed {seed} step {step} ({choice} on {k})", run.layout);
                let kind = match choice {
                    0..=39 => "write",
                    40..=57 => "remove",
                    58..=65 => "restart",
                    66..=69 => "accept",
                    70..=73 => "copy",
                    74..=75 => "rotate and re-encrypt",
                    76..=77 => "restore and accept",
                    78..=89 => "attack",
                    _ => "attack while down",
                };
                *kinds.entry(kind).or_default() += 1;
                match choice {
                    0..=39 => {
                        let value = format!("{k} at step {step}").into_bytes();
                        let before = records(&inner);
                        if choice % 2 == 0 {
                            store.write(p, s, k, value.clone()).unwrap();
                        } else {
                            AsyncOps::new(&store).write(p, s, k, value.clone()).unwrap();
                        }
                        let (stored, record) = changed_record(&before, &records(&inner));
                        let key = &mut run.keys[i];
                        assert!(key.stored.as_ref().is_none_or(|n| *n == stored));
                        key.stored = Some(stored);
                        key.history.push(record.clone());
                        key.live = Some((record, value));
                    }
                    40..=57 => {
                        store.remove(p, s, k, choice % 2 == 0).unwrap();
                        run.keys[i].live = None;
                    }
                    58..=65 => {
                        drop(store);
                        store = run.reopen();
                    }
                    66..=69 => {
                        drop(store);
                        store = accept(&run);
                    }
                    70..=73 => {
                        drop(store);
                        let live = run.keys.iter().map(|k| k.live.clone()).collect();
                        copy = Some((dir_files(inner.path()), live));
                        store = run.reopen();
                    }
                    74..=75 => {
                        store.rotate_data_key::<V>().unwrap();
                        store.reencrypt::<V>(|_| {}).unwrap();
                        // Every live key was rewritten under the new key: new records.
                        for key in run.keys.iter_mut() {
                            if let (Some(stored), Some((record, _))) = (&key.stored, &mut key.live)
                            {
                                let now =
                                    KVStoreSync::read(&inner, &stored.0, &stored.1, &stored.2)
                                        .unwrap();
                                assert_ne!(&now, record, "{}: not re-encrypted", run.at);
                                key.history.push(now.clone());
                                *record = now;
                            }
                        }
                    }
                    76..=77 => {
                        drop(store);
                        if let Some((files, live)) = &copy {
                            restore_dir(inner.path(), files);
                            for (key, then) in run.keys.iter_mut().zip(live) {
                                key.live = then.clone();
                            }
                        }
                        store = accept(&run);
                    }
                    78..=89 => run.attack(&store, i),
                    _ => {
                        // An attack made while the store is down.
                        drop(store);
                        let probe = run.reopen();
                        run.attack(&probe, i);
                        drop(probe);
                        store = run.reopen();
                    }
                }
                run.check_honest(&store);
            }
            drop(store);
            let store = run.reopen();
            run.check_honest(&store);
            // Every older record of every key, put back after the last restart.
            for i in 0..KEYS.len() {
                for _ in 0..3 {
                    run.attack(&store, i);
                }
            }
            run.check_honest(&store);
        }
    }
    // The histories are not trivial: every kind of step was taken.
    assert_eq!(kinds.len(), 9, "{kinds:?}");
}

/// Accepts the current state of the run's store into its anchor.
fn accept(run: &Run) -> EncryptedStore<TempFs> {
    OpenOptions::new()
        .anchor(anchor(&run.a))
        .accept_current_state::<V, _>(run.inner.clone(), Credential::passphrase(PASSPHRASE))
        .unwrap_or_else(|e| panic!("{}: accept: {e:?}", run.at))
}

/// Whether `record` is sealed under a key of the store's keyring. A record of a timeline an
/// accept abandoned after a restore may be sealed under a data key the restored header never
/// had: it does not open at all (`AuthenticationFailed`), which refuses it too.
fn opens(store: &EncryptedStore<TempFs>, record: &[u8]) -> bool {
    store.info().key_ids.contains(&key_id_of(record))
}
