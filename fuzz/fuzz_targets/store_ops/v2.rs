//! The format 2 half of `store_ops`: a store created with versions (and, chosen by the input,
//! encrypted names and/or padding) over an in-memory store, driven by writes, reads, hard and
//! lazy removes, lists and reopens through both traits, and attacked behind the wrapper's back.
//!
//! The model follows docs/FORMAT.md, "Versions" and "Freshness": the store-wide counter (every
//! write and remove takes the next version; an open continues from the header's
//! `version_limit`), and per key the entry the open instance holds (`Live(v)`,
//! `MaybeRemoved(v)` after a read in a pair with a lazy remove, `Removed(t)` after a hard
//! remove, none after a lazy remove or a reopen). From it, every read and list is predicted
//! exactly: the value, `NotFound`, `AuthenticationFailed`, or the freshness error with its
//! numbers (`Rollback`, `Missing`, `Resurrected`, `ListError::Missing`).
//!
//! Two properties on top of the model: a freshness error is only ever predicted (so, since
//! the store must match the model, only ever raised) for a key attacked since the wrapper last
//! wrote or removed it, so honest sequences never raise one; and the attacks on a key the
//! store wrote (an older authentic record of it put back, its record deleted, a hard-removed
//! record brought back) are refused with the matching typed error whenever the open instance
//! knows better (always, unless a lazy remove or a reopen dropped what it knew).
//!
//! Pairs here never hold more than 32 tombstones, so compaction (and the floor) stays out of
//! the model.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use encrypted_kvstore::{
    padme, EncryptedStore, ListError, MemoryStore, OpenOptions, ReadError, HEADER_KEY,
    HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use fuzz_fixtures::{cheap_kdf, det_options, learn_stored_names, now, triples_v2};
use lightning::io::{self, ErrorKind};
use lightning::util::persist::{KVStore, KVStoreSync, MigratableKVStore};

const PASSPHRASE: &[u8] = b"v2 passphrase";

type Name = (String, String, String);
/// An authentic record, its value and its version.
type Written = (Vec<u8>, Vec<u8>, u64);

#[derive(Arbitrary, Debug)]
pub enum OpV2 {
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
        ns: u8,
        via_async: bool,
    },
    ListAll,
    Reopen,
    /// Attack: put back the `pick`-th authentic record ever written under the name (a
    /// rollback while it is live, a resurrection after a remove).
    PutBack {
        name: u8,
        pick: u8,
    },
    /// Attack: delete the name's record.
    Delete {
        name: u8,
    },
    /// Attack: flip a byte of the name's record (never authentic).
    Flip {
        name: u8,
        at: u16,
        xor: u8,
    },
    /// Attack: copy one name's record over another's (never authentic there).
    Copy {
        from: u8,
        to: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Live,
    MaybeRemoved,
    Removed,
}

/// The open instance's freshness entry for a key (docs/FORMAT.md, "State").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    kind: Kind,
    version: u64,
    op: u64,
}

impl Mark {
    fn live(v: u64) -> Mark {
        Mark {
            kind: Kind::Live,
            version: v,
            op: v,
        }
    }
}

/// What a read must give.
#[derive(Debug)]
enum Expect {
    Value(Vec<u8>, u64),
    NotFound,
    Fails(ReadError),
}

pub struct WorldV2 {
    store: EncryptedStore<MemoryStore>,
    inner: MemoryStore,
    names_encrypted: bool,
    padded: bool,
    names: Vec<Name>,
    invalid: Vec<Name>,
    /// Per name, the names its records are stored under (learned at its first write).
    stored_names: BTreeMap<usize, Name>,
    /// Per name, the bytes the inner store holds.
    stored: BTreeMap<usize, Vec<u8>>,
    /// Per name, every authentic record written through the wrapper: bytes, value, version.
    written: BTreeMap<usize, Vec<Written>>,
    /// The open instance's entries.
    marks: BTreeMap<usize, Mark>,
    /// Pairs with a lazy remove since the open.
    lazy_pairs: BTreeSet<(String, String)>,
    /// The next version the store hands out.
    next: u64,
    /// Names changed behind the wrapper's back since it last wrote or removed them.
    attacked: BTreeSet<usize>,
}

fn read_error(e: &io::Error) -> Option<&ReadError> {
    e.get_ref().and_then(|e| e.downcast_ref::<ReadError>())
}

fn invalid_input<T: std::fmt::Debug>(r: Result<T, io::Error>) {
    match r {
        Err(e) => assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}"),
        Ok(v) => panic!("an invalid name was accepted: {v:?}"),
    }
}

fn version_of(rec: &[u8]) -> u64 {
    u64::from_le_bytes(rec[5..13].try_into().expect("8 bytes"))
}

impl WorldV2 {
    pub fn new(options: u8) -> WorldV2 {
        let (names_encrypted, padded) = (options & 1 != 0, options & 2 != 0);
        let mut o: OpenOptions = det_options(4).format_v2();
        if names_encrypted {
            o = o.encrypt_names();
        }
        if padded {
            o = o.pad_values();
        }
        let inner = MemoryStore::new();
        let store = o
            .create(inner.clone(), PASSPHRASE, cheap_kdf())
            .expect("create v2");
        let mut invalid: Vec<Name> = [
            ("", "s", "k"),
            ("p", "", ""),
            ("p", "", "a/b"),
            (RESERVED_PRIMARY_NAMESPACE, "", HEADER_KEY),
            ("Encrypted_KVStore", "", "k"),
            ("p", "s", "é"),
        ]
        .iter()
        .map(|(p, s, k)| (p.to_string(), s.to_string(), k.to_string()))
        .chain([("p".to_string(), String::new(), "x".repeat(121))])
        .collect();
        if names_encrypted {
            // Valid LDK names, too long to encrypt.
            invalid.push(("p".into(), String::new(), "x".repeat(75)));
            invalid.push(("y".repeat(75), String::new(), "k".into()));
        }
        let mut w = WorldV2 {
            store,
            inner,
            names_encrypted,
            padded,
            names: triples_v2(),
            invalid,
            stored_names: BTreeMap::new(),
            stored: BTreeMap::new(),
            written: BTreeMap::new(),
            marks: BTreeMap::new(),
            lazy_pairs: BTreeSet::new(),
            next: 1,
            attacked: BTreeSet::new(),
        };
        if !names_encrypted {
            w.stored_names = w.names.iter().cloned().enumerate().collect();
        }
        w.check_info();
        w
    }

    fn check_info(&self) {
        let info = self.store.info();
        assert_eq!(info.format_version, 2);
        assert_eq!(info.names_encrypted, self.names_encrypted);
        assert_eq!(info.values_padded, self.padded);
        assert_eq!(
            EncryptedStore::<MemoryStore>::inspect(&self.inner).expect("inspect"),
            info
        );
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

    fn pair(&self, i: usize) -> (String, String) {
        let (p, s, _) = &self.names[i];
        (p.clone(), s.clone())
    }

    /// The read of name `i` the model predicts, with the entry it leaves.
    fn predict(&self, i: usize) -> (Expect, Option<Mark>) {
        let (p, s, k) = self.names[i].clone();
        let mark = self.marks.get(&i).copied();
        let Some(b) = self.stored.get(&i) else {
            return match mark {
                Some(Mark {
                    kind: Kind::Live,
                    version,
                    ..
                }) => (
                    Expect::Fails(ReadError::Missing {
                        primary_namespace: p,
                        secondary_namespace: s,
                        key: k,
                        expected_version: version,
                    }),
                    mark,
                ),
                _ => (Expect::NotFound, mark),
            };
        };
        let found = self
            .written
            .get(&i)
            .and_then(|w| w.iter().find(|(rec, _, _)| rec == b));
        let Some((_, value, r)) = found else {
            return (
                Expect::Fails(ReadError::AuthenticationFailed {
                    primary_namespace: p,
                    secondary_namespace: s,
                    key: k,
                }),
                mark,
            );
        };
        let r = *r;
        match mark {
            Some(Mark {
                kind: Kind::Live | Kind::MaybeRemoved,
                version,
                ..
            }) if r < version => {
                return (
                    Expect::Fails(ReadError::Rollback {
                        primary_namespace: p,
                        secondary_namespace: s,
                        key: k,
                        found: r,
                        expected_at_least: version,
                    }),
                    mark,
                )
            }
            Some(Mark {
                kind: Kind::Removed,
                version,
                ..
            }) if r <= version => {
                return (
                    Expect::Fails(ReadError::Resurrected {
                        primary_namespace: p,
                        secondary_namespace: s,
                        key: k,
                        found: r,
                        removed_at: version,
                    }),
                    mark,
                )
            }
            _ => {}
        }
        let after = if mark.is_none_or(|m| m.op <= r) {
            let lazy = self.lazy_pairs.contains(&(p.clone(), s.clone()));
            if lazy && mark.is_none_or(|m| m.kind != Kind::Live) {
                Some(Mark {
                    kind: Kind::MaybeRemoved,
                    version: r,
                    op: r,
                })
            } else {
                Some(Mark::live(r))
            }
        } else {
            mark
        };
        (Expect::Value(value.clone(), r), after)
    }

    fn read(&mut self, i: usize, via_async: bool) {
        let (p, s, k) = self.names[i].clone();
        let (expect, after) = self.predict(i);
        if matches!(
            expect,
            Expect::Fails(
                ReadError::Rollback { .. }
                    | ReadError::Missing { .. }
                    | ReadError::Resurrected { .. }
            )
        ) {
            assert!(
                self.attacked.contains(&i),
                "the model predicts a freshness error for a key nobody attacked: {expect:?}"
            );
        }
        let got = if via_async {
            now(KVStore::read(&self.store, &p, &s, &k))
        } else {
            KVStoreSync::read(&self.store, &p, &s, &k)
        };
        match (&expect, got) {
            (Expect::Value(v, r), Ok(got)) => {
                assert_eq!(&got, v, "read {p}/{s}/{k}: another value");
                self.next = self.next.max(r + 1);
                match after {
                    Some(m) => self.marks.insert(i, m),
                    None => self.marks.remove(&i),
                };
            }
            (Expect::NotFound, Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::NotFound, "read {p}/{s}/{k}: {e}");
            }
            (Expect::Fails(want), Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::InvalidData, "read {p}/{s}/{k}: {e}");
                assert_eq!(read_error(&e), Some(want), "read {p}/{s}/{k}");
            }
            (want, got) => panic!("read {p}/{s}/{k}: expected {want:?}, got {got:?}"),
        }
    }

    fn write(&mut self, i: usize, value: Vec<u8>, via_async: bool) {
        let (p, s, k) = self.names[i].clone();
        let learn = self.names_encrypted && !self.stored_names.contains_key(&i);
        if learn {
            // The first write of a name (always through the sync trait): find its stored
            // names.
            let t = learn_stored_names(&self.store, &self.inner, (&p, &s, &k), value.clone())
                .expect("a first write adds exactly one inner key");
            self.stored_names.insert(i, t);
        } else {
            let r = if via_async {
                now(KVStore::write(&self.store, &p, &s, &k, value.clone()))
            } else {
                KVStoreSync::write(&self.store, &p, &s, &k, value.clone())
            };
            r.expect("write");
            self.stored_names
                .entry(i)
                .or_insert_with(|| (p.clone(), s.clone(), k.clone()));
        }
        let (sp, ss, sk) = &self.stored_names[&i];
        if self.names_encrypted {
            for (plain, st) in [(&p, sp), (&s, ss), (&k, sk)] {
                assert_eq!(plain.is_empty(), st.is_empty());
                assert!(plain.is_empty() || plain != st, "a name stored in clear");
            }
        }
        let rec = KVStoreSync::read(&self.inner, sp, ss, sk).expect("the record is stored");
        let plain_len = if self.padded {
            padme(8 + value.len() as u64).expect("small") as usize
        } else {
            value.len()
        };
        assert_eq!(rec.len(), 53 + plain_len, "record length");
        assert_eq!(rec[0], 2);
        let version = version_of(&rec);
        assert_eq!(version, self.next, "versions come from one counter");
        self.next += 1;
        self.stored.insert(i, rec.clone());
        self.written
            .entry(i)
            .or_default()
            .push((rec, value, version));
        self.marks.insert(i, Mark::live(version));
        self.attacked.remove(&i);
    }

    fn remove(&mut self, i: usize, lazy: bool, via_async: bool) {
        let (p, s, k) = self.names[i].clone();
        let r = if via_async {
            now(KVStore::remove(&self.store, &p, &s, &k, lazy))
        } else {
            KVStoreSync::remove(&self.store, &p, &s, &k, lazy)
        };
        r.expect("remove");
        let t = self.next;
        self.next += 1;
        self.stored.remove(&i);
        if lazy {
            self.marks.remove(&i);
            self.lazy_pairs.insert(self.pair(i));
        } else {
            self.marks.insert(
                i,
                Mark {
                    kind: Kind::Removed,
                    version: t,
                    op: t,
                },
            );
        }
        self.attacked.remove(&i);
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

    /// What `list(p, s)` must give: the keys stored, or the smallest live key missing.
    fn expected_list(&self, p: &str, s: &str) -> Result<Vec<String>, ListError> {
        let in_pair = |i: &usize| self.names[*i].0 == p && self.names[*i].1 == s;
        let missing = self
            .marks
            .iter()
            .filter(|(i, m)| in_pair(i) && m.kind == Kind::Live && !self.stored.contains_key(i))
            .map(|(i, m)| (self.names[*i].2.clone(), m.version))
            .min();
        if let Some((key, expected_version)) = missing {
            return Err(ListError::Missing {
                primary_namespace: p.into(),
                secondary_namespace: s.into(),
                key,
                expected_version,
            });
        }
        let mut v: Vec<String> = self
            .stored
            .keys()
            .filter(|i| in_pair(i))
            .map(|&i| self.names[i].2.clone())
            .collect();
        v.sort();
        Ok(v)
    }

    fn list(&self, p: &str, s: &str, via_async: bool) {
        let got = if via_async {
            now(KVStore::list(&self.store, p, s))
        } else {
            KVStoreSync::list(&self.store, p, s)
        };
        match (self.expected_list(p, s), got) {
            (Ok(want), Ok(mut got)) => {
                got.sort();
                assert_eq!(got, want, "list {p}/{s}");
            }
            (Err(want), Err(e)) => {
                let involved: Vec<usize> = (0..self.names.len())
                    .filter(|&i| self.names[i].0 == p && self.names[i].1 == s)
                    .collect();
                assert!(
                    involved.iter().any(|i| self.attacked.contains(i)),
                    "the model predicts a freshness error for a pair nobody attacked"
                );
                assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
                let typed = e.get_ref().and_then(|e| e.downcast_ref::<ListError>());
                assert_eq!(typed, Some(&want), "list {p}/{s}");
            }
            (want, got) => panic!("list {p}/{s}: expected {want:?}, got {got:?}"),
        }
    }

    fn tamper_write(&mut self, i: usize, bytes: Vec<u8>) {
        let (sp, ss, sk) = &self.stored_names[&i];
        KVStoreSync::write(&self.inner, sp, ss, sk, bytes.clone()).expect("memory write");
        self.stored.insert(i, bytes);
        self.attacked.insert(i);
    }

    pub fn step(&mut self, op: OpV2) {
        match op {
            OpV2::Write {
                name,
                value,
                via_async,
            } => match self.name(name) {
                Ok(i) => self.write(i, value, via_async),
                Err((p, s, k)) => invalid_input(KVStoreSync::write(&self.store, &p, &s, &k, value)),
            },
            OpV2::Read { name, via_async } => match self.name(name) {
                Ok(i) => self.read(i, via_async),
                Err((p, s, k)) => invalid_input(KVStoreSync::read(&self.store, &p, &s, &k)),
            },
            OpV2::Remove {
                name,
                lazy,
                via_async,
            } => match self.name(name) {
                Ok(i) => self.remove(i, lazy, via_async),
                Err((p, s, k)) => invalid_input(KVStoreSync::remove(&self.store, &p, &s, &k, lazy)),
            },
            OpV2::List { ns, via_async } => {
                let all = self.namespaces();
                let mut bad: Vec<(String, String)> =
                    [("", "s"), (RESERVED_PRIMARY_NAMESPACE, ""), ("p", "a.b")]
                        .iter()
                        .map(|(p, s)| (p.to_string(), s.to_string()))
                        .collect();
                if self.names_encrypted {
                    bad.push(("z".repeat(75), String::new()));
                }
                let n = usize::from(ns) % (all.len() + bad.len());
                match all.get(n) {
                    Some((p, s)) => self.list(p, s, via_async),
                    None => {
                        let (p, s) = &bad[n - all.len()];
                        invalid_input(KVStoreSync::list(&self.store, p, s));
                    }
                }
            }
            OpV2::ListAll => {
                let mut got = self.store.list_all_keys().expect("list_all_keys");
                got.sort();
                let mut want: Vec<Name> =
                    self.stored.keys().map(|&i| self.names[i].clone()).collect();
                want.sort();
                assert_eq!(got, want);
            }
            OpV2::Reopen => {
                let limit = EncryptedStore::<MemoryStore>::inspect(&self.inner)
                    .expect("inspect")
                    .version_limit;
                assert!(
                    limit >= self.next,
                    "a version at or above the header's limit was used"
                );
                self.store = EncryptedStore::open(self.inner.clone(), PASSPHRASE).expect("reopen");
                self.check_info();
                // Without an anchor, an open knows nothing of the keys; versions go on from
                // the limit.
                self.next = limit;
                self.marks.clear();
                self.lazy_pairs.clear();
                self.attacked.clear();
            }
            OpV2::PutBack { name, pick } => {
                let i = self.valid(name);
                let Some(w) = self.written.get(&i) else {
                    return;
                };
                let rec = w[usize::from(pick) % w.len()].0.clone();
                self.tamper_write(i, rec);
            }
            OpV2::Delete { name } => {
                let i = self.valid(name);
                if self.stored.remove(&i).is_some() {
                    let (sp, ss, sk) = &self.stored_names[&i];
                    KVStoreSync::remove(&self.inner, sp, ss, sk, false).expect("memory remove");
                    self.attacked.insert(i);
                }
            }
            OpV2::Flip { name, at, xor } => {
                let i = self.valid(name);
                let Some(mut b) = self.stored.get(&i).cloned() else {
                    return;
                };
                if b.is_empty() {
                    return;
                }
                let at = usize::from(at) % b.len();
                b[at] ^= xor.max(1);
                self.tamper_write(i, b);
            }
            OpV2::Copy { from, to } => {
                let (from, to) = (self.valid(from), self.valid(to));
                if from == to || !self.stored_names.contains_key(&to) {
                    return;
                }
                if let Some(b) = self.stored.get(&from).cloned() {
                    self.tamper_write(to, b);
                }
            }
        }
    }

    /// The inner store against the model, every list (lists change no entry), and a read of
    /// every attacked key, so each attack's outcome is checked at once.
    pub fn check(&mut self) {
        let mut all = self.inner.list_all_keys().expect("inner list");
        all.sort();
        let mut want: Vec<Name> = self
            .stored
            .keys()
            .map(|i| self.stored_names[i].clone())
            .collect();
        want.push((
            RESERVED_PRIMARY_NAMESPACE.into(),
            HEADER_SECONDARY_NAMESPACE.into(),
            HEADER_KEY.into(),
        ));
        want.sort();
        assert_eq!(all, want, "the inner store holds other keys than the model");
        for (i, b) in &self.stored {
            let (sp, ss, sk) = &self.stored_names[i];
            assert_eq!(
                KVStoreSync::read(&self.inner, sp, ss, sk).ok().as_ref(),
                Some(b)
            );
        }
        for (p, s) in self.namespaces() {
            self.list(&p, &s, false);
        }
        let attacked: Vec<usize> = self.attacked.iter().copied().collect();
        for i in attacked {
            self.read(i, false);
        }
    }
}
