//! Store operations: a format 1 store (this file) or a format 2 store (`store_ops/v2.rs`,
//! with versions, freshness, attacks, inner-store faults and data-key rotation; chosen by the
//! input's first bytes) and an arbitrary sequence of write / read / remove / list / reopen /
//! change of passphrase or key / inner-store tampering / inner-store fault, through
//! `EncryptedStore` over an in-memory store (sync and async faces), checked against a model
//! after every step.
//!
//! The model knows, per name, the bytes the inner store must hold and every authentic record
//! (with its value) ever written through the wrapper under that name; a read must return a
//! value exactly when the bytes the inner store hands back are one of those records, and fail
//! authentication otherwise. An older authentic record of the same name put back behind the
//! wrapper's back does open (to its old value): the format binds a record to its store and
//! name, not to a version, so a rollback of one key is not detected. `TamperCopy` and stale
//! reads reach that case. Likewise for the header: every authentic header ever written is known
//! with the credential that opens it.
//!
//! An armed fault makes the next inner call misbehave (`fuzz_fixtures::Fault`): loud ones
//! (fail with no effect, fail after the effect, torn write) must come back unchanged as the
//! error, with exactly the effect the kind says; silent ones (a write or remove acknowledged but
//! lost, a read of the key's previous bytes, a read of flipped or truncated bytes) must never
//! yield anything but an authentic value of that very name, `NotFound`, or the typed
//! authentication failure naming it. A fault during a credential change decides which
//! credential opens the store afterwards (see `ChangeCredential`).

#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use encrypted_kvstore::{
    EncryptedStore, OpenError, Protection, ReadError, HEADER_KEY, HEADER_SECONDARY_NAMESPACE,
    RECORD_OVERHEAD, RESERVED_PRIMARY_NAMESPACE,
};
use fuzz_fixtures::{
    cheap_kdf, corrupt, det_options, is_fault, now, raw_key, triples, Fault, FaultyStore,
};
use libfuzzer_sys::fuzz_target;
use lightning::io::{self, ErrorKind};
use lightning::util::persist::{KVStore, KVStoreSync, MigratableKVStore};

const MAX_OPS: usize = 64;

#[derive(Arbitrary, Debug)]
enum Op {
    Write {
        name: u8,
        value: Vec<u8>,
        via_async: bool,
    },
    Read {
        name: u8,
        via_async: bool,
    },
    Remove {
        name: u8,
        lazy: bool,
    },
    List {
        ns: u8,
        via_async: bool,
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
    ArmFault {
        kind: u8,
        at: u16,
    },
}

const PASSPHRASES: [&[u8]; 3] = [b"first passphrase", b"second", b"third one"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cred {
    Pass(usize),
    Key,
}

/// An authentic record and its value.
type Record = (Vec<u8>, Vec<u8>);

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
    written: BTreeMap<usize, Vec<Record>>,
    /// The header bytes the inner store holds.
    header_stored: Vec<u8>,
    /// Every authentic header ever written, with the credential that opens it.
    headers: Vec<(Vec<u8>, Cred)>,
    /// The fault the model expects the next inner call to meet.
    armed: Option<Fault>,
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

/// `r` is the injected fault, passed up unchanged.
fn assert_fault<T: std::fmt::Debug>(r: &Result<T, io::Error>) {
    match r {
        Err(e) => assert!(is_fault(e), "the inner fault came back changed: {e:?}"),
        Ok(v) => panic!("the inner call should have failed, got {v:?}"),
    }
}

/// What the inner store hands back for a read of `stored` when `fault` hits the read (`prev`:
/// what the key held before its latest change, if it changed).
fn served(
    stored: Option<&Vec<u8>>,
    prev: Option<Option<Vec<u8>>>,
    fault: Option<Fault>,
) -> Option<Vec<u8>> {
    match fault {
        Some(Fault::StaleRead) => match prev {
            Some(p) => p,
            None => stored.cloned(),
        },
        Some(Fault::CorruptRead { at, truncate }) => stored.map(|b| corrupt(b, at, truncate)),
        _ => stored.cloned(),
    }
}

impl World {
    fn new() -> World {
        let inner = FaultyStore::default();
        let store = det_options(3)
            .format_v1()
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
            header_stored: header.clone(),
            headers: vec![(header, Cred::Pass(0))],
            armed: None,
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

    /// The fault that the next inner call meets (the model's switch is then off).
    fn take_fault(&mut self) -> Option<Fault> {
        self.armed.take()
    }

    /// `got` is what a read of name `i` must give when the inner store hands back `bytes`.
    fn expect_read(&self, i: usize, bytes: Option<&Vec<u8>>, got: Result<Vec<u8>, io::Error>) {
        let (p, s, k) = &self.names[i];
        let written = self.written.get(&i).map(Vec::as_slice).unwrap_or_default();
        match bytes {
            None => {
                let e = got.expect_err("read a value that is not there");
                assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
            }
            Some(b) if written.iter().any(|(rec, _)| rec == b) => {
                let got = got.expect("an authentic record must open");
                assert!(
                    written.iter().any(|(rec, v)| rec == b && *v == got),
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

    /// The model follows the inner bytes of name `i` (after a change by the wrapper).
    fn sync_stored(&mut self, i: usize) {
        let (p, s, k) = &self.names[i];
        match KVStoreSync::read(&self.inner.mem, p, s, k) {
            Ok(b) => {
                self.model.insert(i, Entry { stored: b });
            }
            Err(_) => {
                self.model.remove(&i);
            }
        }
    }

    fn set_stored(&mut self, i: usize, bytes: Vec<u8>) {
        let (p, s, k) = &self.names[i];
        self.inner
            .tamper_write(p, s, k, bytes.clone())
            .expect("memory write");
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

    /// The credential that opens the stored header, if it is authentic.
    fn cred(&self) -> Option<Cred> {
        self.opener(&self.header_stored)
    }

    fn opener(&self, header: &[u8]) -> Option<Cred> {
        self.headers
            .iter()
            .find(|(h, _)| h.as_slice() == header)
            .map(|&(_, c)| c)
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Write {
                name,
                value,
                via_async,
            } => {
                let (i, t) = self.name(name);
                let Some((p, s, k)) = t.cloned() else {
                    let (p, s, k) = &self.invalid[i - self.names.len()];
                    return invalid_input(KVStoreSync::write(&self.store, p, s, k, value));
                };
                let r = if via_async {
                    now(KVStore::write(&self.store, &p, &s, &k, value.clone()))
                } else {
                    KVStoreSync::write(&self.store, &p, &s, &k, value.clone())
                };
                let fault = self.take_fault();
                match fault {
                    Some(f) if f.is_loud() => assert_fault(&r),
                    _ => r.expect("write"),
                }
                match fault {
                    // No effect.
                    Some(Fault::Before | Fault::LostWrite) => {}
                    // Half a record: never authentic.
                    Some(Fault::TornWrite) => {
                        self.sync_stored(i);
                        let torn = &self.model[&i].stored;
                        assert_eq!(torn.len(), (value.len() + RECORD_OVERHEAD) / 2);
                    }
                    _ => {
                        let rec = KVStoreSync::read(&self.inner.mem, &p, &s, &k).expect("inner");
                        assert_eq!(rec.len(), value.len() + RECORD_OVERHEAD);
                        self.model.insert(
                            i,
                            Entry {
                                stored: rec.clone(),
                            },
                        );
                        self.written.entry(i).or_default().push((rec, value));
                    }
                }
            }
            Op::Read { name, via_async } => {
                let (i, t) = self.name(name);
                let Some((p, s, k)) = t.cloned() else {
                    let (p, s, k) = &self.invalid[i - self.names.len()];
                    return invalid_input(KVStoreSync::read(&self.store, p, s, k));
                };
                let prev = self.inner.previous(&p, &s, &k);
                let r = if via_async {
                    now(KVStore::read(&self.store, &p, &s, &k))
                } else {
                    KVStoreSync::read(&self.store, &p, &s, &k)
                };
                match self.take_fault() {
                    Some(f) if f.is_loud() => assert_fault(&r),
                    fault => {
                        let stored = self.model.get(&i).map(|e| &e.stored);
                        let bytes = served(stored, prev, fault);
                        self.expect_read(i, bytes.as_ref(), r);
                    }
                }
            }
            Op::Remove { name, lazy } => {
                let (i, t) = self.name(name);
                let Some((p, s, k)) = t.cloned() else {
                    let (p, s, k) = &self.invalid[i - self.names.len()];
                    return invalid_input(KVStoreSync::remove(&self.store, p, s, k, lazy));
                };
                let r = KVStoreSync::remove(&self.store, &p, &s, &k, lazy);
                match self.take_fault() {
                    Some(Fault::Before | Fault::TornWrite) => assert_fault(&r),
                    Some(Fault::After) => {
                        assert_fault(&r);
                        self.model.remove(&i);
                    }
                    Some(Fault::LostWrite) => r.expect("lost remove"),
                    _ => {
                        r.expect("remove");
                        self.model.remove(&i);
                    }
                }
            }
            Op::List { ns, via_async } => {
                let all = self.namespaces();
                let bad = [("", "s"), (RESERVED_PRIMARY_NAMESPACE, ""), ("p", "a.b")];
                let n = usize::from(ns) % (all.len() + bad.len());
                match all.get(n) {
                    Some((p, s)) => {
                        let r = if via_async {
                            now(KVStore::list(&self.store, p, s))
                        } else {
                            KVStoreSync::list(&self.store, p, s)
                        };
                        match self.take_fault() {
                            Some(f) if f.is_loud() => assert_fault(&r),
                            _ => {
                                let mut got = r.expect("list");
                                got.sort();
                                assert_eq!(got, self.expected_list(p, s));
                            }
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
                match self.take_fault() {
                    Some(f) if f.is_loud() => assert_fault(&r),
                    _ => {
                        let mut got = r.expect("list_all_keys");
                        got.sort();
                        let mut want: Vec<_> =
                            self.model.keys().map(|&i| self.names[i].clone()).collect();
                        want.sort();
                        assert_eq!(got, want);
                    }
                }
            }
            Op::Reopen { wrong } => self.reopen(wrong),
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
                let new = if to == 3 {
                    Cred::Key
                } else {
                    Cred::Pass(usize::from(to))
                };
                let fault = self.take_fault();
                match fault {
                    Some(f) if f.is_loud() => {
                        assert!(matches!(&r, Err(OpenError::Io(e)) if is_fault(e)), "{r:?}")
                    }
                    _ => r.expect("change credential"),
                }
                let h = header_of(&self.inner.mem);
                match fault {
                    // Nothing written (or the write lost): the old header, the old credential.
                    Some(Fault::Before | Fault::LostWrite) => {
                        assert_eq!(h, self.header_stored, "{fault:?}")
                    }
                    // Half a header: no credential opens it.
                    Some(Fault::TornWrite) => {
                        assert_eq!(h.len(), self.headers[0].0.len() / 2);
                        self.header_stored = h;
                    }
                    // A new authentic header: only the new credential opens it.
                    _ => {
                        assert_ne!(h, self.header_stored);
                        self.headers.push((h.clone(), new));
                        self.header_stored = h;
                    }
                }
                if fault.is_none_or(|f| !f.is_loud()) {
                    // The handle protects with the new credential (even if the write was lost).
                    match (self.store.info().protection, new) {
                        (Protection::Passphrase(k), Cred::Pass(_)) => assert_eq!(k, cheap_kdf()),
                        (Protection::RawKey, Cred::Key) => {}
                        (p, c) => panic!("protection {p:?} after changing to {c:?}"),
                    }
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
                self.inner.tamper_remove(p, s, k).expect("memory remove");
                self.model.remove(&i);
            }
            Op::TamperHeader { at, xor } => {
                let mut h = self.header_stored.clone();
                if h.is_empty() {
                    return;
                }
                let at = usize::from(at) % h.len();
                h[at] ^= xor.max(1);
                self.inner
                    .tamper_write(
                        RESERVED_PRIMARY_NAMESPACE,
                        HEADER_SECONDARY_NAMESPACE,
                        HEADER_KEY,
                        h.clone(),
                    )
                    .expect("memory write");
                self.header_stored = h;
            }
            Op::ArmFault { kind, at } => {
                let f = Fault::from_input(kind, at);
                self.armed = Some(f);
                self.inner.arm(f);
            }
        }
    }

    /// Reopens with the credential that opens the stored header (`wrong`: another one); the
    /// header read may meet the armed fault.
    fn reopen(&mut self, wrong: bool) {
        let right = self.cred();
        let cred = match (wrong, right.unwrap_or(Cred::Pass(0))) {
            (false, c) => c,
            (true, Cred::Pass(n)) => Cred::Pass((n + 1) % PASSPHRASES.len()),
            (true, Cred::Key) => Cred::Pass(usize::MAX),
        };
        let prev = self.inner.previous(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        );
        let r = match cred {
            Cred::Pass(usize::MAX) => {
                EncryptedStore::open_with_key(self.inner.clone(), &fuzz_fixtures::wrong_raw_key())
            }
            c => self.credential_open(c),
        };
        let fault = self.take_fault();
        if fault.is_some_and(Fault::is_loud) {
            assert!(
                matches!(&r, Err(OpenError::Io(e)) if is_fault(e)),
                "{:?}",
                r.err()
            );
            return;
        }
        let seen = served(Some(&self.header_stored), prev, fault);
        let Some(seen) = seen else {
            assert!(matches!(r, Err(OpenError::NotInitialized)), "{:?}", r.err());
            return;
        };
        // The credential tried is `Cred::Pass(usize::MAX)` for the wrong raw key.
        let tried_key = matches!(cred, Cred::Key | Cred::Pass(usize::MAX));
        match (self.opener(&seen), r) {
            (Some(opener), Ok(s)) => {
                assert_eq!(
                    opener, cred,
                    "opened with a credential that is not the header's"
                );
                if seen == self.header_stored {
                    assert_eq!(
                        s.info(),
                        EncryptedStore::<FaultyStore>::inspect(&self.inner).expect("inspect")
                    );
                    self.store = s;
                }
            }
            (None, Ok(_)) => panic!("a header that is not authentic opened ({fault:?})"),
            (None, Err(e)) => assert!(
                matches!(
                    e,
                    OpenError::CorruptHeader { .. } | OpenError::UnsupportedVersion { .. }
                ),
                "{e:?}"
            ),
            (Some(opener), Err(e)) => {
                assert_ne!(opener, cred, "the right credential did not open: {e:?}");
                let precise = match (opener, tried_key) {
                    (Cred::Pass(_), false) => matches!(e, OpenError::WrongPassphrase),
                    (Cred::Key, true) => matches!(e, OpenError::WrongKey),
                    (Cred::Pass(_), true) => matches!(e, OpenError::PassphraseRequired),
                    (Cred::Key, false) => matches!(e, OpenError::RawKeyRequired),
                };
                assert!(precise, "{opener:?} header, tried {cred:?}: {e:?}");
            }
        }
    }

    /// The whole state against the model, through the wrapper (with the fault switch held off)
    /// and in the inner store.
    fn check(&self) {
        let armed = self.inner.take_armed();
        assert_eq!(armed, self.armed, "the inner fault was used unexpectedly");
        for i in 0..self.names.len() {
            let (p, s, k) = &self.names[i];
            let stored = self.model.get(&i).map(|e| &e.stored);
            self.expect_read(i, stored, KVStoreSync::read(&self.store, p, s, k));
            let raw = KVStoreSync::read(&self.inner.mem, p, s, k).ok();
            assert_eq!(raw.as_ref(), stored, "inner bytes of {i}");
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
        self.inner.set_armed(armed);
    }
}

#[path = "store_ops/v2.rs"]
mod v2;

/// The input: a format 1 store with the operations above, or a format 2 store (`options` bit
/// 0: encrypted names, bit 1: padding, bit 2: a passphrase, else a raw key, bit 3: a freshness
/// anchor) with those of `v2`.
#[derive(Arbitrary, Debug)]
enum Input {
    V1(Vec<Op>),
    V2 { options: u8, ops: Vec<v2::OpV2> },
}

fuzz_target!(|input: Input| {
    match input {
        Input::V1(ops) => {
            let mut w = World::new();
            w.check();
            for op in ops.into_iter().take(MAX_OPS) {
                w.step(op);
                w.check();
            }
        }
        Input::V2 { options, ops } => {
            let mut w = v2::WorldV2::new(options);
            w.check();
            for op in ops.into_iter().take(MAX_OPS) {
                w.step(op);
                w.check();
            }
        }
    }
});
