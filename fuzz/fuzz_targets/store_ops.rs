//! Store operations: a store (with, chosen by the input's first byte, encrypted names,
//! padding, a passphrase instead of a raw key, a freshness anchor over a second in-memory
//! store) over an in-memory store that fails on demand, driven by writes, reads, hard and lazy
//! removes, lists, `list_all_keys` and restarts through both traits, with faults forced on the
//! next inner call (failing before or after its effect, a torn write, a write or remove that
//! reports success and does nothing), junk keys written into the store's namespaces, and
//! attacks made behind the wrapper's back (an older record put back, a removed record put
//! back, a record deleted).
//!
//! The model follows docs/FORMAT.md, "Versions" and "Freshness", and predicts every result
//! exactly from what the inner store holds (read back from it, the ground truth, whatever the
//! faults and attacks did):
//! - versions: create hands out 1, 2, ...; every write takes the next version before its inner
//!   call (also when that call then fails); removes take none; each writable open starts at
//!   the stored `version_limit` (S, the session's first version) and reserves 2^32;
//! - M: anchored, the anchor's map (every acknowledged write sets it, every remove drops the key
//!   when issued, whatever its inner call does; a restart loads it back); not anchored, the keys
//!   this instance wrote or read and served (a restart empties it);
//! - the rule: a record that is not one this store wrote for that key is `AuthenticationFailed`
//!   (anchored, for a key not in M: the inner `NotFound`, whatever lingers there);
//!   an authentic one of version v is served, `Rollback` or absent (`ReadError::Removed`, kind
//!   `NotFound`) by "The rule", nothing found is `Missing` or the inner `NotFound`;
//! - `list` and `list_all_keys`: a junk stored name is `UndecodableName` with encrypted names;
//!   a key of M missing from the inner listing is `ListError::Missing` (the smallest); anchored,
//!   keys not in M (junk, a removed record put back, an orphan of a failed call) are left out.
//!
//! After every step a fresh read-only instance over the same inner store (and anchor) reads
//! every key, predicted by the same rule with its own state (anchored: the anchor's map; not
//! anchored: nothing, so every authentic record is served): a restart at any point.
//!
//! Properties checked on top of the exact model, each from a simpler rule of its own:
//! - no false alarm: `Rollback` or `Missing` only for a key attacked, or hit by a silent fault,
//!   since its last acknowledged write or remove;
//! - attacks the instance must catch: an older record put back over an acknowledged write is
//!   `Rollback` (anchored: also after a restart), a deleted record `Missing`, a record put back
//!   after an acknowledged remove is never served by the instance that removed it (anchored:
//!   by any later instance either).

#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use encrypted_kvstore::{
    Credential, EncryptedStore, ListError, MemoryStore, OpenOptions, ReadError, StoreAnchor,
    HEADER_KEY, RESERVED_PRIMARY_NAMESPACE,
};
use fuzz_fixtures::{
    cheap_kdf, det_options, is_fault, now, raw_key, triples_v2, Fault, FaultyStore,
};
use libfuzzer_sys::fuzz_target;
use lightning::io::{self, ErrorKind};
use lightning::util::persist::{KVStore, KVStoreSync, MigratableKVStore};

const PASSPHRASE: &[u8] = b"v2 passphrase";
/// Operations of one input at most.
const MAX_OPS: usize = 64;
/// Versions one open reserves.
const BLOCK: u64 = 1 << 32;

type Name = (String, String, String);
type Store = EncryptedStore<FaultyStore>;

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
        via_async: bool,
    },
    List {
        name: u8,
        via_async: bool,
    },
    ListAll,
    /// A restart: the store is dropped and opened again over the same inner store (and anchor).
    Reopen,
    /// The next inner call misbehaves: 0 fails with no effect, 1 fails after its effect, 2 a
    /// torn write, 3 a write or remove that reports success and does nothing.
    Fault {
        kind: u8,
    },
    /// Attack: put back the `pick`-th authentic record ever written under the name.
    PutBack {
        name: u8,
        pick: u8,
    },
    /// Attack: delete the name's record.
    Delete {
        name: u8,
    },
    /// Junk: a value under a stored name the store never made, in the name's stored pair.
    Junk {
        name: u8,
        n: u8,
        value: Vec<u8>,
    },
}

/// An authentic record written through the wrapper.
#[derive(Debug, Clone)]
struct Written {
    rec: Vec<u8>,
    value: Vec<u8>,
    version: u64,
}

/// What a read must return.
#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Value(Vec<u8>, u64),
    NotFound,
    Fails(ReadError),
}

/// One instance's freshness state (docs/FORMAT.md, "State").
#[derive(Debug, Clone)]
struct Instance {
    anchored: bool,
    read_only: bool,
    /// S.
    start: u64,
    /// F.
    accept_mark: u64,
    m: BTreeMap<usize, u64>,
}

struct World {
    store: Option<Store>,
    inner: FaultyStore,
    anchor: Option<MemoryStore>,
    names_encrypted: bool,
    passphrase: bool,
    names: Vec<Name>,
    invalid: Vec<Name>,
    /// Per name, the names its records are stored under (learned at its first stored write).
    stored_names: BTreeMap<usize, Name>,
    /// Per name, every authentic record written through the wrapper.
    written: BTreeMap<usize, Vec<Written>>,
    /// Junk stored names written so far.
    junk: BTreeSet<Name>,
    me: Instance,
    /// The next version, and the stored `version_limit`.
    next: u64,
    limit: u64,
    /// Names attacked (or hit by a silent fault) since their last acknowledged change.
    attacked: BTreeSet<usize>,
    /// The fault armed for the next inner call.
    armed: Option<Fault>,
}

fn read_error(e: &io::Error) -> Option<&ReadError> {
    e.get_ref().and_then(|e| e.downcast_ref::<ReadError>())
}

fn list_error(e: &io::Error) -> Option<&ListError> {
    e.get_ref().and_then(|e| e.downcast_ref::<ListError>())
}

fn invalid_input<T: std::fmt::Debug>(r: Result<T, io::Error>) {
    match r {
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}"),
        Ok(v) => panic!("an invalid name was accepted: {v:?}"),
    }
}

impl Instance {
    /// The rule (docs/FORMAT.md, "The rule") for key `i` with nothing in flight.
    fn judge(&self, i: usize, found: Option<u64>) -> Verdict {
        match (self.anchored, self.m.get(&i).copied(), found) {
            (true, Some(m), Some(v)) if v == m || (v > m && v >= self.accept_mark) => {
                Verdict::Serve
            }
            (false, Some(m), Some(v)) if v >= m => Verdict::Serve,
            (_, Some(m), Some(_)) => Verdict::Rollback(m),
            (true, None, Some(_)) => Verdict::Absent,
            (false, None, Some(v)) if v < self.start => Verdict::Serve,
            (false, None, Some(_)) => Verdict::Absent,
            (false, Some(_), None) if self.read_only => Verdict::Absent,
            (_, Some(m), None) => Verdict::Missing(m),
            (_, None, None) => Verdict::Absent,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Serve,
    Absent,
    Rollback(u64),
    Missing(u64),
}

impl World {
    /// `options` bit 0: encrypted names, bit 1: padding, bit 2: a passphrase (else a raw key),
    /// bit 3: a freshness anchor over an in-memory store.
    fn new(options: u8) -> World {
        let (names_encrypted, padded, passphrase) =
            (options & 1 != 0, options & 2 != 0, options & 4 != 0);
        let anchor = (options & 8 != 0).then(MemoryStore::new);
        let mut o = with_anchor(det_options(4), &anchor);
        if names_encrypted {
            o = o.encrypt_names();
        }
        if padded {
            o = o.pad_values();
        }
        let inner = FaultyStore::default();
        let store = if passphrase {
            o.create(
                inner.clone(),
                Credential::passphrase_with(PASSPHRASE, cheap_kdf()),
            )
        } else {
            o.create(inner.clone(), Credential::raw_key(&raw_key()))
        }
        .expect("create");
        let mut invalid: Vec<Name> = [
            ("", "s", "k"),
            ("p", "", ""),
            ("p", "", "a/b"),
            (RESERVED_PRIMARY_NAMESPACE, "", HEADER_KEY),
            ("Encrypted_KVStore", "", "k"),
        ]
        .iter()
        .map(|(p, s, k)| (p.to_string(), s.to_string(), k.to_string()))
        .collect();
        if names_encrypted {
            invalid.push(("p".into(), String::new(), "x".repeat(75)));
        }
        let info = store.info();
        assert_eq!(info.anchored, anchor.is_some());
        assert_eq!((info.header_seq, info.version_limit), (1, BLOCK + 1));
        let names = triples_v2();
        let stored_names = if names_encrypted {
            BTreeMap::new()
        } else {
            names.iter().cloned().enumerate().collect()
        };
        World {
            store: Some(store),
            inner,
            me: Instance {
                anchored: anchor.is_some(),
                read_only: false,
                start: 1,
                accept_mark: u64::from(anchor.is_some()),
                m: BTreeMap::new(),
            },
            anchor,
            names_encrypted,
            passphrase,
            names,
            invalid,
            stored_names,
            written: BTreeMap::new(),
            junk: BTreeSet::new(),
            next: 1,
            limit: BLOCK + 1,
            attacked: BTreeSet::new(),
            armed: None,
        }
    }

    fn store(&self) -> &Store {
        self.store.as_ref().expect("the store is open")
    }

    fn name(&self, n: u8) -> Result<usize, Name> {
        let i = usize::from(n) % (self.names.len() + self.invalid.len());
        if i < self.names.len() {
            Ok(i)
        } else {
            Err(self.invalid[i - self.names.len()].clone())
        }
    }

    fn valid(&self, n: u8) -> usize {
        usize::from(n) % self.names.len()
    }

    /// Every stored name of the inner store but the header.
    fn inner_keys(&self) -> BTreeSet<Name> {
        self.inner
            .mem
            .list_all_keys()
            .expect("list")
            .into_iter()
            .filter(|(p, _, _)| p != RESERVED_PRIMARY_NAMESPACE)
            .collect()
    }

    /// What the inner store holds for name `i` (no fault: the ground truth).
    fn held(&self, i: usize) -> Option<Vec<u8>> {
        let (p, s, k) = self.stored_names.get(&i)?;
        KVStoreSync::read(&self.inner.mem, p, s, k).ok()
    }

    /// The expectation of a read of `i` by `inst` that found `found`.
    fn expect(&self, inst: &Instance, i: usize, found: Option<Vec<u8>>) -> Expect {
        let (p, s, k) = self.names[i].clone();
        let written = found.as_ref().map(|b| {
            self.written
                .get(&i)
                .and_then(|ws| ws.iter().find(|w| &w.rec == b))
        });
        let version = match written {
            // Anchored, a key that is absent is absent whatever lingers there.
            Some(None) if inst.anchored && !inst.m.contains_key(&i) => return Expect::NotFound,
            Some(None) => {
                return Expect::Fails(ReadError::AuthenticationFailed {
                    primary_namespace: p,
                    secondary_namespace: s,
                    key: k,
                })
            }
            Some(Some(w)) => Some(w.version),
            None => None,
        };
        match (inst.judge(i, version), written.flatten()) {
            (Verdict::Serve, Some(w)) => Expect::Value(w.value.clone(), w.version),
            (Verdict::Serve | Verdict::Absent, None) => Expect::NotFound,
            (Verdict::Absent, Some(w)) => Expect::Fails(ReadError::Removed {
                primary_namespace: p,
                secondary_namespace: s,
                key: k,
                found: w.version,
            }),
            (Verdict::Rollback(m), Some(w)) => Expect::Fails(ReadError::Rollback {
                primary_namespace: p,
                secondary_namespace: s,
                key: k,
                found: w.version,
                expected_at_least: m,
            }),
            (Verdict::Missing(m), _) => Expect::Fails(ReadError::Missing {
                primary_namespace: p,
                secondary_namespace: s,
                key: k,
                expected_version: m,
            }),
            (Verdict::Rollback(_), None) => unreachable!("a rollback needs a record"),
        }
    }

    #[track_caller]
    fn check_read(&self, i: usize, want: &Expect, got: &Result<Vec<u8>, io::Error>, ctx: &str) {
        match (want, got) {
            (Expect::Value(v, _), Ok(got)) => assert_eq!(got, v, "{ctx}"),
            (Expect::NotFound, Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::NotFound, "{ctx}: {e:?}");
                assert!(read_error(e).is_none(), "{ctx}: {e:?}");
            }
            (Expect::Fails(want), Err(e)) => {
                assert_eq!(read_error(e), Some(want), "{ctx}");
                let kind = match want {
                    ReadError::Removed { .. } => ErrorKind::NotFound,
                    _ => ErrorKind::InvalidData,
                };
                assert_eq!(e.kind(), kind, "{ctx}");
                if matches!(want, ReadError::Rollback { .. } | ReadError::Missing { .. }) {
                    assert!(
                        self.attacked.contains(&i),
                        "{ctx}: a freshness alarm for a key nobody attacked"
                    );
                }
            }
            (want, got) => panic!("{ctx}: expected {want:?}, got {got:?}"),
        }
    }

    /// Takes the armed fault for the operation's one inner call.
    fn take_fault(&mut self) -> Option<Fault> {
        self.armed.take()
    }

    fn write(&mut self, i: usize, value: Vec<u8>, via_async: bool) {
        let (p, s, k) = self.names[i].clone();
        let fault = self.take_fault();
        let before_keys = self.inner_keys();
        let before = self.held(i);
        let version = self.next;
        self.next += 1;
        let r = if via_async {
            now(KVStore::write(self.store(), &p, &s, &k, value.clone()))
        } else {
            KVStoreSync::write(self.store(), &p, &s, &k, value.clone())
        };
        if !self.stored_names.contains_key(&i) {
            let added: Vec<Name> = self
                .inner_keys()
                .difference(&before_keys)
                .cloned()
                .collect();
            if let [one] = added.as_slice() {
                self.stored_names.insert(i, one.clone());
            }
        }
        let landed = self.held(i);
        match fault {
            None | Some(Fault::LostWrite) => r.expect("a write"),
            Some(_) => assert!(matches!(&r, Err(e) if is_fault(e)), "{r:?}"),
        }
        if fault == Some(Fault::LostWrite) {
            assert_eq!(landed, before, "a lost write changed the store");
            self.attacked.insert(i);
        }
        if matches!(fault, None | Some(Fault::After)) {
            let rec = landed.clone().expect("the record landed");
            let (_, v) = encrypted_kvstore::__fuzzing::record_v2_prefix(&rec).expect("a record");
            assert_eq!(v, version, "the version taken");
            self.written.entry(i).or_default().push(Written {
                rec,
                value,
                version,
            });
        }
        if matches!(fault, None | Some(Fault::LostWrite)) {
            self.me.m.insert(i, version);
        }
        if fault.is_none() {
            self.attacked.remove(&i);
        }
    }

    fn remove(&mut self, i: usize, lazy: bool, via_async: bool) {
        let (p, s, k) = self.names[i].clone();
        let fault = self.take_fault();
        let r = if via_async {
            now(KVStore::remove(self.store(), &p, &s, &k, lazy))
        } else {
            KVStoreSync::remove(self.store(), &p, &s, &k, lazy)
        };
        match fault {
            None | Some(Fault::LostWrite) => r.expect("a remove"),
            Some(_) => assert!(matches!(&r, Err(e) if is_fault(e)), "{r:?}"),
        }
        // The key leaves M when the remove is issued, whatever its inner call does.
        self.me.m.remove(&i);
        match fault {
            None => {
                assert_eq!(self.held(i), None, "removed");
                self.attacked.remove(&i);
            }
            Some(Fault::LostWrite) => {
                self.attacked.insert(i);
            }
            Some(_) => {}
        }
    }

    fn read(&mut self, i: usize, via_async: bool) {
        let (p, s, k) = self.names[i].clone();
        let fault = self.take_fault();
        let found = self.held(i);
        let r = if via_async {
            now(KVStore::read(self.store(), &p, &s, &k))
        } else {
            KVStoreSync::read(self.store(), &p, &s, &k)
        };
        if matches!(fault, Some(Fault::Before | Fault::After | Fault::TornWrite)) {
            assert!(matches!(&r, Err(e) if is_fault(e)), "{r:?}");
            return;
        }
        let want = self.expect(&self.me, i, found);
        self.check_read(i, &want, &r, &format!("read {p}/{s}/{k}"));
        if let (Expect::Value(_, v), false) = (&want, self.me.anchored) {
            let m = self.me.m.get(&i).map_or(*v, |m| (*m).max(*v));
            self.me.m.insert(i, m);
        }
    }

    /// The listing `inst` must return for the pair of name `i` (or every pair), from the inner
    /// listing.
    fn expected_list(
        &self,
        inst: &Instance,
        pair: Option<(&str, &str)>,
    ) -> Result<Vec<Name>, ListError> {
        let plain: BTreeMap<&Name, usize> =
            self.stored_names.iter().map(|(i, st)| (st, *i)).collect();
        let stored_pair = pair.and_then(|(p, s)| {
            self.stored_names
                .iter()
                .find(|(i, _)| self.names[**i].0 == p && self.names[**i].1 == s)
                .map(|(_, (sp, ss, _))| (sp.clone(), ss.clone()))
        });
        let listing: Vec<Name> = self
            .inner_keys()
            .into_iter()
            .filter(|(sp, ss, _)| match (&pair, &stored_pair) {
                (None, _) => true,
                (Some(_), Some((p, s))) => sp == p && ss == s,
                (Some(_), None) => false,
            })
            .collect();
        let mut keys = Vec::new();
        let mut undecodable = None;
        for st in &listing {
            match plain.get(st) {
                Some(i) => keys.push((*i, self.names[*i].clone())),
                None if self.names_encrypted => undecodable = undecodable.or(Some(st.clone())),
                // A junk key: a valid LDK name, in clear.
                None => keys.push((usize::MAX, st.clone())),
            }
        }
        if let Some((sp, ss, sk)) = undecodable {
            return Err(ListError::UndecodableName {
                stored_primary_namespace: sp,
                stored_secondary_namespace: ss,
                stored_key: sk,
            });
        }
        // A key of M in the pair missing from the listing: the smallest.
        let mut held: Vec<(Name, u64)> = inst
            .m
            .iter()
            .filter(|(i, _)| {
                pair.is_none_or(|(p, s)| self.names[**i].0 == p && self.names[**i].1 == s)
            })
            .map(|(i, v)| (self.names[*i].clone(), *v))
            .collect();
        held.sort();
        for (n, v) in held {
            if !keys.iter().any(|(_, k)| *k == n) {
                return Err(ListError::Missing {
                    primary_namespace: n.0,
                    secondary_namespace: n.1,
                    key: n.2,
                    expected_version: v,
                });
            }
        }
        let mut out: Vec<Name> = keys
            .into_iter()
            .filter(|(i, _)| !inst.anchored || inst.m.contains_key(i))
            .map(|(_, n)| n)
            .collect();
        out.sort();
        Ok(out)
    }

    fn list(&mut self, i: usize, via_async: bool) {
        let (p, s, _) = self.names[i].clone();
        let fault = self.take_fault();
        let r = if via_async {
            now(KVStore::list(self.store(), &p, &s))
        } else {
            KVStoreSync::list(self.store(), &p, &s)
        };
        if matches!(fault, Some(Fault::Before | Fault::After | Fault::TornWrite)) {
            assert!(matches!(&r, Err(e) if is_fault(e)), "{r:?}");
            return;
        }
        let want = self.expected_list(&self.me, Some((&p, &s)));
        self.check_list(
            want,
            r.map(|l| l.into_iter().map(|k| (p.clone(), s.clone(), k)).collect()),
        );
    }

    fn list_all(&mut self) {
        let fault = self.take_fault();
        let r = self.store().list_all_keys();
        if matches!(fault, Some(Fault::Before | Fault::After | Fault::TornWrite)) {
            assert!(matches!(&r, Err(e) if is_fault(e)), "{r:?}");
            return;
        }
        let want = self.expected_list(&self.me, None);
        self.check_list(want, r);
    }

    #[track_caller]
    fn check_list(&self, want: Result<Vec<Name>, ListError>, got: Result<Vec<Name>, io::Error>) {
        match (want, got) {
            (Ok(want), Ok(mut got)) => {
                got.sort();
                assert_eq!(got, want, "list");
            }
            (Err(ListError::UndecodableName { .. }), Err(e)) => {
                // Which junk name the store meets first is the inner listing's order.
                match list_error(&e) {
                    Some(ListError::UndecodableName {
                        stored_primary_namespace,
                        stored_secondary_namespace,
                        stored_key,
                    }) => assert!(self.junk.contains(&(
                        stored_primary_namespace.clone(),
                        stored_secondary_namespace.clone(),
                        stored_key.clone()
                    ))),
                    other => panic!("list: {other:?}"),
                }
                assert_eq!(e.kind(), ErrorKind::InvalidData);
            }
            (Err(want @ ListError::Missing { .. }), Err(e)) => {
                assert_eq!(list_error(&e), Some(&want), "list");
                assert_eq!(e.kind(), ErrorKind::InvalidData);
                let ListError::Missing {
                    primary_namespace: p,
                    secondary_namespace: s,
                    key: k,
                    ..
                } = want
                else {
                    unreachable!()
                };
                let i = self
                    .names
                    .iter()
                    .position(|n| *n == (p.clone(), s.clone(), k.clone()));
                assert!(
                    i.is_some_and(|i| self.attacked.contains(&i)),
                    "a list alarm for a key nobody attacked: {p}/{s}/{k}"
                );
            }
            (want, got) => panic!("list: expected {want:?}, got {got:?}"),
        }
    }

    fn reopen(&mut self) {
        self.store = None;
        self.armed = None;
        self.inner.take_armed();
        let o = with_anchor(det_options(5), &self.anchor);
        let store = if self.passphrase {
            o.open(self.inner.clone(), Credential::passphrase(PASSPHRASE))
        } else {
            o.open(self.inner.clone(), Credential::raw_key(&raw_key()))
        }
        .expect("reopen");
        // One reservation: from the stored limit, 2^32 versions.
        assert_eq!(store.info().version_limit, self.limit + BLOCK);
        self.me.start = self.limit;
        self.next = self.limit;
        self.limit += BLOCK;
        if !self.me.anchored {
            self.me.m.clear();
        }
        self.store = Some(store);
    }

    /// A fresh read-only instance over the inner store (and the anchor) reads every key.
    fn check_restart(&self) {
        let o = with_anchor(det_options(99).read_only(), &self.anchor);
        let mem = self.inner.mem.clone();
        let fresh = if self.passphrase {
            o.open(mem, Credential::passphrase(PASSPHRASE))
        } else {
            o.open(mem, Credential::raw_key(&raw_key()))
        }
        .expect("a fresh instance opens the stored header");
        let inst = Instance {
            anchored: self.me.anchored,
            read_only: true,
            start: u64::MAX,
            accept_mark: self.me.accept_mark,
            m: if self.me.anchored {
                self.me.m.clone()
            } else {
                BTreeMap::new()
            },
        };
        for i in 0..self.names.len() {
            let (p, s, k) = &self.names[i];
            let got = KVStoreSync::read(&fresh, p, s, k);
            let want = self.expect(&inst, i, self.held(i));
            self.check_read(i, &want, &got, &format!("fresh instance: {p}/{s}/{k}"));
        }
    }

    fn step(&mut self, op: Op) {
        match op {
            Op::Write {
                name,
                value,
                via_async,
            } => match self.name(name) {
                Ok(i) => self.write(i, value, via_async),
                Err((p, s, k)) => {
                    invalid_input(KVStoreSync::write(self.store(), &p, &s, &k, value))
                }
            },
            Op::Read { name, via_async } => match self.name(name) {
                Ok(i) => self.read(i, via_async),
                Err((p, s, k)) => invalid_input(KVStoreSync::read(self.store(), &p, &s, &k)),
            },
            Op::Remove {
                name,
                lazy,
                via_async,
            } => match self.name(name) {
                Ok(i) => self.remove(i, lazy, via_async),
                Err((p, s, k)) => {
                    invalid_input(KVStoreSync::remove(self.store(), &p, &s, &k, lazy))
                }
            },
            Op::List { name, via_async } => {
                let i = self.valid(name);
                self.list(i, via_async)
            }
            Op::ListAll => self.list_all(),
            Op::Reopen => self.reopen(),
            Op::Fault { kind } => {
                let f = match kind % 4 {
                    0 => Fault::Before,
                    1 => Fault::After,
                    2 => Fault::TornWrite,
                    _ => Fault::LostWrite,
                };
                self.inner.arm(f);
                self.armed = Some(f);
            }
            Op::PutBack { name, pick } => {
                let i = self.valid(name);
                let (Some(st), Some(ws)) = (self.stored_names.get(&i), self.written.get(&i)) else {
                    return;
                };
                let rec = ws[usize::from(pick) % ws.len()].rec.clone();
                self.inner
                    .tamper_write(&st.0, &st.1, &st.2, rec)
                    .expect("tamper");
                self.attacked.insert(i);
            }
            Op::Delete { name } => {
                let i = self.valid(name);
                let Some(st) = self.stored_names.get(&i).cloned() else {
                    return;
                };
                self.inner
                    .tamper_remove(&st.0, &st.1, &st.2)
                    .expect("tamper");
                self.attacked.insert(i);
            }
            Op::Junk { name, n, value } => {
                let i = self.valid(name);
                let Some((sp, ss, _)) = self.stored_names.get(&i).cloned() else {
                    return;
                };
                let junk = (sp, ss, format!("junk{n}"));
                self.inner
                    .tamper_write(&junk.0, &junk.1, &junk.2, value)
                    .expect("tamper");
                self.junk.insert(junk);
            }
        }
    }
}

/// `o` with the anchor, if there is one.
fn with_anchor(o: OpenOptions, anchor: &Option<MemoryStore>) -> OpenOptions {
    match anchor {
        Some(a) => o.anchor(StoreAnchor::new(a.clone())),
        None => o,
    }
}

/// The input: the options byte (bit 0: encrypted names, bit 1: padding, bit 2: a passphrase,
/// else a raw key, bit 3: a freshness anchor), then the operations.
#[derive(Arbitrary, Debug)]
struct Input {
    options: u8,
    ops: Vec<Op>,
}

fuzz_target!(|input: Input| {
    let mut w = World::new(input.options);
    w.check_restart();
    for op in input.ops.into_iter().take(MAX_OPS) {
        w.step(op);
        w.check_restart();
    }
});
