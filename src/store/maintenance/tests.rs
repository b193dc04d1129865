// Test helpers outside `#[test]` functions: a failed lock or lookup is a failed test.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::{self, ThreadId};
use std::time::Duration;

use lightning::util::persist::KVStoreSync;

use crate::rng::{OsRandom, RandomError, RandomSource};
use crate::{Credential, EncryptedStore, MemoryStore, OpenOptions, RawKey};

/// The OS generator, except that the first draw made on the armed thread parks there until
/// released: it holds a credential change at its first random draw (the new salt).
struct ParkAtFirstDraw {
    armed: Mutex<Option<ThreadId>>,
    parked: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
}

impl RandomSource for ParkAtFirstDraw {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        let me = thread::current().id();
        let park = {
            let mut armed = self.armed.lock().unwrap();
            let park = *armed == Some(me);
            if park {
                *armed = None;
            }
            park
        };
        if park {
            self.parked.lock().unwrap().send(()).unwrap();
            self.release.lock().unwrap().recv().unwrap();
        }
        OsRandom.fill(dest)
    }
}

/// A credential change derives its key encryption key before it takes the lock that writes take
/// for their versions: a write made while the change is held at its first draw (the salt, the
/// input of the derivation) completes, and the change then lands with the value intact.
#[test]
fn writes_do_not_wait_for_a_credential_change_to_derive_its_key() {
    for rekey in [false, true] {
        let (parked_tx, parked_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        let rng = Arc::new(ParkAtFirstDraw {
            armed: Mutex::new(None),
            parked: Mutex::new(parked_tx),
            release: Mutex::new(release_rx),
        });
        let inner = MemoryStore::new();
        let (old, new) = (RawKey::from_bytes([1; 32]), RawKey::from_bytes([2; 32]));
        let store = Arc::new(
            OpenOptions::new()
                .random_source_for_tests_only(rng.clone())
                .create::<crate::ldk::V0_2, _>(inner.clone(), Credential::raw_key(&old))
                .unwrap(),
        );

        let changer = {
            let (store, rng, new) = (store.clone(), rng.clone(), new.clone());
            thread::spawn(move || {
                *rng.armed.lock().unwrap() = Some(thread::current().id());
                if rekey {
                    store
                        .rekey::<crate::ldk::V0_2>(Credential::raw_key(&new))
                        .map(|_| ())
                } else {
                    store.change_credential::<crate::ldk::V0_2>(Credential::raw_key(&new))
                }
            })
        };
        parked_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the credential change drew no randomness");

        let (done_tx, done_rx) = mpsc::channel();
        let writer = {
            let store = store.clone();
            thread::spawn(move || {
                let r = KVStoreSync::write(&*store, "p", "", "k", b"during".to_vec());
                done_tx.send(r.is_ok()).unwrap();
            })
        };
        let written = done_rx.recv_timeout(Duration::from_secs(20));
        release_tx.send(()).unwrap();
        writer.join().unwrap();
        changer.join().unwrap().unwrap();
        assert_eq!(
            written,
            Ok(true),
            "rekey {rekey}: the write waited for the credential change's derivation"
        );

        drop(store);
        let reopened: EncryptedStore<MemoryStore> = OpenOptions::new()
            .open::<crate::ldk::V0_2, _>(inner.clone(), Credential::raw_key(&new))
            .unwrap();
        assert_eq!(
            KVStoreSync::read(&reopened, "p", "", "k").unwrap(),
            b"during"
        );
        assert!(OpenOptions::new()
            .open::<crate::ldk::V0_2, _>(inner, Credential::raw_key(&old))
            .is_err());
    }
}
