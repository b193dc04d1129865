//! Store operations: an arbitrary sequence of write / read / remove / list / reopen / change of
//! passphrase or key / inner-store tampering / inner-store fault, through `EncryptedStore` over
//! an in-memory store, checked against a model after every step.
//!
//! The model knows, per name, the bytes the inner store must hold and every authentic record
//! (with its value) ever written through the wrapper under that name; a read must return a
//! value exactly when the inner bytes are one of those records, and fail authentication
//! otherwise. An older authentic record of the same name put back behind the wrapper's back
//! does open (to its old value): the format binds a record to its store and name, not to a
//! version, so a rollback of one key is not detected. `TamperCopy` reaches that case. Likewise for the header and
//! reopening. An armed fault makes the next inner call fail: the error must come back unchanged
//! and nothing may change (a failed passphrase change leaves the old one working).

#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use encrypted_kvstore::{
    EncryptedStore, OpenError, Protection, ReadError, HEADER_KEY, HEADER_SECONDARY_NAMESPACE,
    RECORD_OVERHEAD, RESERVED_PRIMARY_NAMESPACE,
};
use fuzz_fixtures::{cheap_kdf, det_options, is_fault, raw_key, triples, FaultyStore};
use libfuzzer_sys::fuzz_target;
use lightning::io::{self, ErrorKind};
use lightning::util::persist::{KVStoreSync, MigratableKVStore};

const MAX_OPS: usize = 64;

#[derive(Arbitrary, Debug)]
enum Op {
    Write {
        name: u8,
        value: Vec<u8>,
    },
    Read {
        name: u8,
    },
    Remove {
        name: u8,
        lazy: bool,
    },
    List {
        ns: u8,
    },
    ListAll,
    Reopen {
        wrong: bool,
    },
    /// 0..=2: passphrase 0..=2; 3: the raw key; 4: the empty passphrase (refused).
    ChangeCredential {
        to: u8,
    },
    TamperFlip {
        name: u8,
        at: u16,
        xor: u8,
    },
    TamperTruncate {
        name: u8,
        len: u16,
    },
    TamperReplace {
        name: u8,
        bytes: Vec<u8>,
    },
    TamperCopy {
        from: u8,
        to: u8,
    },
    TamperRemove {
        name: u8,
    },
    TamperHeader {
        at: u8,
        xor: u8,
    },
    ArmFault,
}

const PASSPHRASES: [&[u8]; 3] = [b"first passphrase", b"second", b"third one"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    Pass(usize),
    Key,
}

/// What the model knows about one name.
#[derive(Debug, Clone)]
struct Entry {
    /// The bytes the inner store holds.
    stored: Vec<u8>,
}

struct World {
    store: EncryptedStore<FaultyStore>,
    inner: FaultyStore,
    names: Vec<(String, String, String)>,
    invalid: Vec<(String, String, String)>,
    model: BTreeMap<usize, Entry>,
    /// Per name, every authentic record written through the wrapper, with its value. Kept
    /// across removals: a removed record put back still opens.
    written: BTreeMap<usize, Vec<(Vec<u8>, Vec<u8>)>>,
    cred: Cred,
    header_stored: Vec<u8>,
    header_authentic: Vec<u8>,
    /// Whether the model expects the next inner call to fail.
    armed: bool,
}

fn header_of(mem: &encrypted_kvstore::MemoryStore) -> Vec<u8> {
    KVStoreSync::read(
        mem,
        RESERVED_PRIMARY_NAMESPACE,
        HEADER_SECONDARY_NAMESPACE,
        HEADER_KEY,
    )
    .expect("the header is there")
}

fn invalid_input(r: Result<impl std::fmt::Debug, io::Error>) {
    match r {
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}"),
        Ok(v) => panic!("an invalid name was accepted: {v:?}"),
    }
}

impl World {
    fn new() -> World {
        let inner = FaultyStore::default();
        let store = det_options(3)
            .create(inner.clone(), PASSPHRASES[0], cheap_kdf())
            .expect("create");
        let header = header_of(&inner.mem);
        World {
            store,
            inner,
            names: triples(),
            invalid: [
                ("", "s", "k"),
                ("p", "", ""),
                ("p", "", "a/b"),
                (RESERVED_PRIMARY_NAMESPACE, "", HEADER_KEY),
                (RESERVED_PRIMARY_NAMESPACE, "", "k"),
                ("p", "s", "é"),
            ]
            .iter()
            .map(|(p, s, k)| (p.to_string(), s.to_string(), k.to_string()))
            .chain([("p".to_string(), String::new(), "x".repeat(121))])
            .collect(),
            model: BTreeMap::new(),
            written: BTreeMap::new(),
            cred: Cred::Pass(0),
            header_stored: header.clone(),
            header_authentic: header,
            armed: false,
        }
    }

    /// A name: valid ones first, then invalid ones.
    fn name(&self, n: u8) -> (usize, Option<&(String, String, String)>) {
        let i = usize::from(n) % (self.names.len() + self.invalid.len());
        match self.names.get(i) {
            Some(t) => (i, Some(t)),
            None => (i, None),
        }
    }

    fn valid(&self, n: u8) -> usize {
        usize::from(n) % self.names.len()
    }

    /// Expects `r` to be the injected fault when one is armed (and disarms the model); returns
    /// whether it was.
    fn faulted<T: std::fmt::Debug>(&mut self, r: &Result<T, io::Error>) -> bool {
        if self.armed {
            self.armed = false;
            match r {
                Err(e) => assert!(is_fault(e), "the inner fault came back changed: {e:?}"),
                Ok(v) => panic!("the inner call should have failed, got {v:?}"),
            }
            true
        } else {
            false
        }
    }

    fn expect_read(&self, i: usize, got: Result<Vec<u8>, io::Error>) {
        let (p, s, k) = &self.names[i];
        match self.model.get(&i) {
            None => {
                let e = got.expect_err("read a value that is not there");
                assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
            }
            Some(Entry { stored })
                if self
                    .written
                    .get(&i)
                    .is_some_and(|w| w.iter().any(|(rec, _)| rec == stored)) =>
            {
                let got = got.expect("an authentic record must open");
                let w = self.written.get(&i).map(Vec::as_slice).unwrap_or_default();
                assert!(
                    w.iter().any(|(rec, v)| rec == stored && *v == got),
                    "an authentic record opened to another value"
                );
            }
            Some(_) => {
                let e = got.expect_err("a record that is not authentic opened");
                assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
                assert_eq!(
                    e.get_ref().and_then(|e| e.downcast_ref::<ReadError>()),
                    Some(&ReadError::AuthenticationFailed {
                        primary_namespace: p.clone(),
                        secondary_namespace: s.clone(),
                        key: k.clone(),
                    })
                );
            }
        }
    }

    fn expected_list(&self, p: &str, s: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .model
            .keys()
            .map(|&i| &self.names[i])
            .filter(|(mp, ms, _)| mp == p && ms == s)
            .map(|(_, _, k)| k.clone())
            .collect();
        v.sort();
        v
    }

    fn namespaces(&self) -> Vec<(String, String)> {
        let mut ns: Vec<(String, String)> = self
            .names
            .iter()
            .map(|(p, s, _)| (p.clone(), s.clone()))
            .collect();
        ns.sort();
        ns.dedup();
        ns.push(("nothing".into(), "here".into()));
        ns
    }

    fn set_stored(&mut self, i: usize, bytes: Vec<u8>) {
        let (p, s, k) = &self.names[i];
        KVStoreSync::write(&self.inner.mem, p, s, k, bytes.clone()).expect("memory write");
        match self.model.get_mut(&i) {
            Some(e) => e.stored = bytes,
            None => {
                self.model.insert(i, Entry { stored: bytes });
            }
        }
    }

    fn credential_open(&self, cred: Cred) -> Result<EncryptedStore<FaultyStore>, OpenError> {
        match cred {
            Cred::Pass(n) => EncryptedStore::open(self.inner.clone(), PASSPHRASES[n]),
            Cred::Key => EncryptedStore::open_with_key(self.inner.clone(), &raw_key()),
        }
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Write { name, value } => {
                let (i, t) = self.name(name);
                let Some((p, s, k)) = t.cloned() else {
                    let (p, s, k) = &self.invalid[i - self.names.len()];
                    return invalid_input(KVStoreSync::write(&self.store, p, s, k, value));
                };
                let r = KVStoreSync::write(&self.store, &p, &s, &k, value.clone());
                if self.faulted(&r) {
                    return;
                }
                r.expect("write");
                let rec = KVStoreSync::read(&self.inner.mem, &p, &s, &k).expect("inner read");
                assert_eq!(rec.len(), value.len() + RECORD_OVERHEAD);
                self.model.insert(
                    i,
                    Entry {
                        stored: rec.clone(),
                    },
                );
                self.written.entry(i).or_default().push((rec, value));
            }
            Op::Read { name } => {
                let (i, t) = self.name(name);
                let Some((p, s, k)) = t.cloned() else {
                    let (p, s, k) = &self.invalid[i - self.names.len()];
                    return invalid_input(KVStoreSync::read(&self.store, p, s, k));
                };
                let r = KVStoreSync::read(&self.store, &p, &s, &k);
                if !self.faulted(&r) {
                    self.expect_read(i, r);
                }
            }
            Op::Remove { name, lazy } => {
                let (i, t) = self.name(name);
                let Some((p, s, k)) = t.cloned() else {
                    let (p, s, k) = &self.invalid[i - self.names.len()];
                    return invalid_input(KVStoreSync::remove(&self.store, p, s, k, lazy));
                };
                let r = KVStoreSync::remove(&self.store, &p, &s, &k, lazy);
                if !self.faulted(&r) {
                    r.expect("remove");
                    self.model.remove(&i);
                }
            }
            Op::List { ns } => {
                let all = self.namespaces();
                let bad = [("", "s"), (RESERVED_PRIMARY_NAMESPACE, ""), ("p", "a.b")];
                let n = usize::from(ns) % (all.len() + bad.len());
                match all.get(n) {
                    Some((p, s)) => {
                        let r = KVStoreSync::list(&self.store, p, s);
                        if !self.faulted(&r) {
                            let mut got = r.expect("list");
                            got.sort();
                            assert_eq!(got, self.expected_list(p, s));
                        }
                    }
                    None => {
                        let (p, s) = bad[n - all.len()];
                        invalid_input(KVStoreSync::list(&self.store, p, s));
                    }
                }
            }
            Op::ListAll => {
                let r = self.store.list_all_keys();
                if !self.faulted(&r) {
                    let mut got = r.expect("list_all_keys");
                    got.sort();
                    let mut want: Vec<_> =
                        self.model.keys().map(|&i| self.names[i].clone()).collect();
                    want.sort();
                    assert_eq!(got, want);
                }
            }
            Op::Reopen { wrong } => {
                let intact = self.header_stored == self.header_authentic;
                let cred = match (wrong, self.cred) {
                    (false, c) => c,
                    (true, Cred::Pass(n)) => Cred::Pass((n + 1) % PASSPHRASES.len()),
                    (true, Cred::Key) => Cred::Pass(usize::MAX),
                };
                let r = match cred {
                    Cred::Pass(usize::MAX) => EncryptedStore::open_with_key(
                        self.inner.clone(),
                        &fuzz_fixtures::wrong_raw_key(),
                    ),
                    c => self.credential_open(c),
                };
                if self.armed {
                    self.armed = false;
                    assert!(
                        matches!(&r, Err(OpenError::Io(e)) if is_fault(e)),
                        "{:?}",
                        r.err()
                    );
                    return;
                }
                match r {
                    Ok(s) => {
                        assert!(intact && !wrong, "opened: intact {intact}, wrong {wrong}");
                        assert_eq!(s.info(), self.store.info());
                        self.store = s;
                    }
                    Err(e) if !intact => assert!(
                        matches!(
                            e,
                            OpenError::CorruptHeader { .. } | OpenError::UnsupportedVersion { .. }
                        ),
                        "{e:?}"
                    ),
                    Err(e) => {
                        assert!(wrong, "the right credential did not open: {e:?}");
                        assert!(
                            matches!(e, OpenError::WrongPassphrase | OpenError::WrongKey),
                            "{e:?}"
                        );
                    }
                }
            }
            Op::ChangeCredential { to } => {
                let to = to % 5;
                let r = match to {
                    0..=2 => self
                        .store
                        .change_passphrase(PASSPHRASES[usize::from(to)], cheap_kdf()),
                    3 => self.store.change_key(&raw_key()),
                    _ => {
                        let r = self.store.change_passphrase(b"", cheap_kdf());
                        assert!(matches!(r, Err(OpenError::EmptyPassphrase)), "{r:?}");
                        return;
                    }
                };
                if self.armed {
                    self.armed = false;
                    assert!(matches!(&r, Err(OpenError::Io(e)) if is_fault(e)), "{r:?}");
                    // The header is unchanged: the old credential still opens the store.
                    assert_eq!(header_of(&self.inner.mem), self.header_stored);
                    return;
                }
                r.expect("change credential");
                self.cred = if to == 3 {
                    Cred::Key
                } else {
                    Cred::Pass(usize::from(to))
                };
                let h = header_of(&self.inner.mem);
                self.header_stored = h.clone();
                self.header_authentic = h;
                match (self.store.info().protection, self.cred) {
                    (Protection::Passphrase(k), Cred::Pass(_)) => assert_eq!(k, cheap_kdf()),
                    (Protection::RawKey, Cred::Key) => {}
                    (p, c) => panic!("protection {p:?} after changing to {c:?}"),
                }
            }
            Op::TamperFlip { name, at, xor } => {
                let i = self.valid(name);
                if let Some(e) = self.model.get(&i) {
                    let mut b = e.stored.clone();
                    if !b.is_empty() {
                        let at = usize::from(at) % b.len();
                        b[at] ^= xor.max(1);
                        self.set_stored(i, b);
                    }
                }
            }
            Op::TamperTruncate { name, len } => {
                let i = self.valid(name);
                if let Some(e) = self.model.get(&i) {
                    let mut b = e.stored.clone();
                    b.truncate(usize::from(len) % (b.len() + 1));
                    self.set_stored(i, b);
                }
            }
            Op::TamperReplace { name, bytes } => {
                let i = self.valid(name);
                self.set_stored(i, bytes);
            }
            Op::TamperCopy { from, to } => {
                let (from, to) = (self.valid(from), self.valid(to));
                if let Some(e) = self.model.get(&from) {
                    let b = e.stored.clone();
                    self.set_stored(to, b);
                }
            }
            Op::TamperRemove { name } => {
                let i = self.valid(name);
                let (p, s, k) = &self.names[i];
                KVStoreSync::remove(&self.inner.mem, p, s, k, false).expect("memory remove");
                self.model.remove(&i);
            }
            Op::TamperHeader { at, xor } => {
                let mut h = self.header_stored.clone();
                let at = usize::from(at) % h.len();
                h[at] ^= xor.max(1);
                KVStoreSync::write(
                    &self.inner.mem,
                    RESERVED_PRIMARY_NAMESPACE,
                    HEADER_SECONDARY_NAMESPACE,
                    HEADER_KEY,
                    h.clone(),
                )
                .expect("memory write");
                self.header_stored = h;
            }
            Op::ArmFault => {
                self.armed = true;
                self.inner
                    .armed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// The whole state against the model, through the wrapper (with the fault switch held off)
    /// and in the inner store.
    fn check(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let armed = self.inner.armed.swap(false, Relaxed);
        assert_eq!(
            armed, self.armed,
            "the inner fault was consumed unexpectedly"
        );
        for i in 0..self.names.len() {
            let (p, s, k) = &self.names[i];
            self.expect_read(i, KVStoreSync::read(&self.store, p, s, k));
            let raw = KVStoreSync::read(&self.inner.mem, p, s, k).ok();
            assert_eq!(
                raw.as_ref(),
                self.model.get(&i).map(|e| &e.stored),
                "inner bytes of {i}"
            );
        }
        for (p, s) in self.namespaces() {
            let mut got = KVStoreSync::list(&self.store, &p, &s).expect("list");
            got.sort();
            assert_eq!(got, self.expected_list(&p, &s));
        }
        let mut all = self.inner.mem.list_all_keys().expect("inner list");
        all.sort();
        let mut want: Vec<_> = self.model.keys().map(|&i| self.names[i].clone()).collect();
        want.push((
            RESERVED_PRIMARY_NAMESPACE.into(),
            HEADER_SECONDARY_NAMESPACE.into(),
            HEADER_KEY.into(),
        ));
        want.sort();
        assert_eq!(all, want, "the inner store holds other keys than the model");
        assert_eq!(header_of(&self.inner.mem), self.header_stored);
        self.inner.armed.store(armed, Relaxed);
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut w = World::new();
    w.check();
    for op in ops.into_iter().take(MAX_OPS) {
        w.step(op);
        w.check();
    }
});
