//! Store operations: a store (with, chosen by the input's first byte, encrypted names,
//! padding, a passphrase instead of a raw key, a freshness anchor over a second in-memory
//! store) over an in-memory store that fails on demand, driven by writes,
//! reads, hard and lazy removes, lists, restarts, data-key rotation, re-encryption and
//! retirement through both traits, with faults injected on inner calls and attacks made behind
//! the wrapper's back.
//!
//! The model follows docs/FORMAT.md, "Versions", "Freshness" and "Data-key rotation": the
//! store-wide counter (every write and remove takes the next version, also when its inner call
//! then fails; an open continues from the header's `version_limit`), per key the entry the open
//! instance holds (`Live(v)`, `MaybeRemoved(v)`, `Removed(t)`, or none after a lazy remove or a
//! restart; weakened before a remove's inner call, strengthened only after success, pinned after
//! a failure as "Updates" says), the keyring of the instance and the one of the stored header
//! (they differ after a header write whose acknowledgement was lost), and every inner call each
//! operation makes. From it, every result is predicted exactly: the value, `NotFound`,
//! `AuthenticationFailed`, the freshness error with its numbers, the `RotateError` of a pass
//! (`NotReencrypted` while a record is under an old key) and, for a faulted call, the injected
//! error itself.
//!
//! With an anchor ("The freshness anchor"), the model also holds what the anchor holds: per
//! key, the instance's entry as it was after the key's last write or remove (reads never write
//! the anchor), and the lazy pairs; a restart loads them, so attacks stay refused across it.
//!
//! A fault (`Op::Fault`) makes inner call number `at` of the next operation fail, with no
//! effect or after its effect (the acknowledgement lost): a record write or remove, a read, a
//! list, the header read and write of an open's version reservation or of a rotation or
//! retirement, any call of a re-encryption pass. Reservations ahead of need (at 32,768 remaining
//! versions of a 65,536 block) are not reached: an input makes at most a few hundred operations
//! per open, and the public API has no way to skip versions, so the only reservation faulted here
//! is the one of each open.
//!
//! Properties checked on top of the exact model, each from a simpler rule of its own:
//! - no false alarm: a freshness error is only ever predicted (so, since the store must match
//!   the model, only ever raised) for a key attacked since the wrapper last wrote or removed it;
//! - the user's view: from what the calls returned alone, each key has a set of values it may
//!   hold (an acknowledged write: its value; a failed one: the old ones or the new one; `None`
//!   for absent). Every read of a key not attacked since its last acknowledged change returns one
//!   of them, through the open instance and through a fresh instance opened over the inner
//!   store (and the anchor) after every step (a restart at that point), never an error: nothing
//!   acknowledged is lost, and every record has its key in the stored header whatever
//!   rotation, re-encryption or retirement was interrupted;
//! - attacks the instance must catch: an older record put back over the key's acknowledged
//!   write, its record deleted, a record put back over its acknowledged hard remove are refused
//!   with `Rollback`, `Missing` (on read and list) and `Resurrected` (a lazy remove, a failed
//!   call or, without an anchor, a restart since then makes it not a must).
//!
//! Pairs here never hold more than 32 tombstones, so compaction (and the floor) stays out of
//! the model.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::Arbitrary;
use encrypted_kvstore::{
    padme, Credential, EncryptedStore, HeaderError, ListError, MemoryStore, OpenError, OpenOptions,
    ReadError, ReencryptProgress, RotateError, StoreAnchor, StoreInfo, HEADER_KEY,
    HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
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
const BLOCK: u64 = 65_536;
/// Keys a keyring holds at most.
const MAX_KEYS: usize = 8;

type Name = (String, String, String);
type Store = EncryptedStore<FaultyStore>;

/// An authentic record written through the wrapper.
#[derive(Debug, Clone)]
struct Written {
    rec: Vec<u8>,
    value: Vec<u8>,
    version: u64,
    key_id: u32,
}

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
        ns: u8,
        via_async: bool,
    },
    ListAll,
    /// A restart: the store is dropped and opened again over the same inner store.
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
    /// `rotate_data_key`.
    Rotate,
    /// `reencrypt`.
    Reencrypt,
    /// `retire_old_keys`.
    Retire,
    /// Inner call number `fault_index(at)` of the next operation fails: with no effect, or
    /// (`after`) once it took effect.
    Fault {
        at: u8,
        after: bool,
    },
}

/// The faulted call's number: the first call for half the bytes, so that one-call operations
/// meet their fault often.
fn fault_index(at: u8) -> usize {
    usize::from(at.saturating_sub(128)) % 24
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
    fn maybe_removed(v: u64, op: u64) -> Mark {
        Mark {
            kind: Kind::MaybeRemoved,
            version: v,
            op,
        }
    }
}

/// The last call of a key the wrapper acknowledged in this session, when nothing weakened
/// what it knows since (no failed call, no lazy remove, no restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    Wrote(u64),
    Removed(u64),
}

/// What a read must give.
#[derive(Debug)]
enum Expect {
    /// Value, version, key id.
    Value(Vec<u8>, u64, u32),
    NotFound,
    Fails(ReadError),
}

/// The public facts of a header the model follows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HeaderView {
    /// The keyring; the last one is current.
    keys: Vec<u32>,
    seq: u64,
    limit: u64,
}

impl HeaderView {
    fn of(info: &StoreInfo) -> HeaderView {
        assert_eq!(info.format_version, 2);
        assert_eq!(Some(&info.key_id), info.key_ids.last(), "current key");
        HeaderView {
            keys: info.key_ids.clone(),
            seq: info.header_seq,
            limit: info.version_limit,
        }
    }

    fn current(&self) -> u32 {
        *self.keys.last().expect("a keyring is never empty")
    }

    /// The header a rewrite of this one (a rotation, a retirement) writes with `keys`.
    fn rewritten(&self, keys: Vec<u32>) -> HeaderView {
        HeaderView {
            keys,
            seq: self.seq + 1,
            limit: self.limit,
        }
    }
}

/// What a rotation, re-encryption or retirement must return as its error.
#[derive(Debug)]
enum WantRotate {
    KeyringFull,
    /// `List` with the injected fault.
    List,
    /// `Read` with the injected fault, or with this read error.
    Read(Option<ReadError>),
    /// `Write` with the injected fault.
    Write,
    /// `Header(Io)` with the injected fault.
    HeaderIo,
    HeaderChanged,
    NotReencrypted(Name, u32),
}

fn check_rotate<T: std::fmt::Debug>(want: Option<WantRotate>, got: Result<T, RotateError>) {
    let Some(want) = want else {
        got.expect("rotation operation");
        return;
    };
    let Err(e) = got else {
        panic!("expected {want:?}, got {got:?}");
    };
    let right = match (&want, &e) {
        (WantRotate::KeyringFull, RotateError::KeyringFull) => true,
        (WantRotate::List, RotateError::List(e))
        | (WantRotate::Read(None), RotateError::Read(e))
        | (WantRotate::Write, RotateError::Write(e))
        | (WantRotate::HeaderIo, RotateError::Header(HeaderError::Io(e))) => is_fault(e),
        (WantRotate::Read(Some(r)), RotateError::Read(e)) => {
            e.kind() == ErrorKind::InvalidData && read_error(e) == Some(r)
        }
        (WantRotate::HeaderChanged, RotateError::Header(HeaderError::Changed)) => true,
        (
            WantRotate::NotReencrypted((p, s, k), id),
            RotateError::NotReencrypted {
                primary_namespace,
                secondary_namespace,
                key,
                key_id,
            },
        ) => (p, s, k, id) == (primary_namespace, secondary_namespace, key, key_id),
        _ => false,
    };
    assert!(right, "expected {want:?}, got {e:?}");
}

struct World {
    /// `None` only while restarting.
    store: Option<Store>,
    inner: FaultyStore,
    names_encrypted: bool,
    padded: bool,
    passphrase: bool,
    /// Opens so far (each open gets its own deterministic random stream).
    opens: u64,
    names: Vec<Name>,
    invalid: Vec<Name>,
    /// Per name, the names its records are stored under (learned at its first stored write).
    stored_names: BTreeMap<usize, Name>,
    /// Per name, the bytes the inner store holds.
    stored: BTreeMap<usize, Vec<u8>>,
    /// Per name, every authentic record written through the wrapper.
    written: BTreeMap<usize, Vec<Written>>,
    /// The open instance's entries.
    marks: BTreeMap<usize, Mark>,
    /// The freshness anchor's store (options bit 3), and the entries it holds: the instance's
    /// entry of a key as it was after the key's last write or remove (reads never write the
    /// anchor). Its pair records are `lazy_pairs`, which a lazy remove writes at once.
    anchor: Option<MemoryStore>,
    anchor_marks: BTreeMap<usize, Mark>,
    /// Pairs with a lazy remove since the open.
    lazy_pairs: BTreeSet<(String, String)>,
    /// The next version the store hands out.
    next: u64,
    /// Names changed behind the wrapper's back since its last call that reached them.
    attacked: BTreeSet<usize>,
    /// Per name, the values the user may find (`None`: absent); a name not here is absent.
    allowed: BTreeMap<usize, Vec<Option<Vec<u8>>>>,
    /// Names whose content came from an attack, until an acknowledged write or remove.
    tainted: BTreeSet<usize>,
    last_ack: BTreeMap<usize, Ack>,
    /// The header the open instance holds, and the stored one.
    live: HeaderView,
    stored_header: HeaderView,
    /// The instance found the stored header changed: it writes no header any more.
    poisoned: bool,
    /// The fault armed for the next operation: its call number and kind.
    armed: Option<(usize, Fault)>,
    /// The fault of the operation in progress, until its call is made.
    op_fault: Option<(usize, Fault)>,
    /// Inner calls of the operation in progress so far, as the model counts them.
    calls: usize,
    /// What the last step may have changed: nothing (it armed a fault), the open instance's
    /// entries only (a read or list), or the inner store too.
    changed: Changed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Changed {
    Nothing,
    Entries,
    Inner,
}

/// `o` with the anchor, if there is one.
fn with_anchor(o: OpenOptions, anchor: &Option<MemoryStore>) -> OpenOptions {
    match anchor {
        Some(a) => o.anchor(StoreAnchor::new(a.clone())),
        None => o,
    }
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

/// `r` is the injected fault, passed up unchanged.
fn assert_fault<T: std::fmt::Debug>(r: &Result<T, io::Error>) {
    match r {
        Err(e) => assert!(is_fault(e), "the inner fault came back changed: {e:?}"),
        Ok(v) => panic!("the inner call failed, yet the operation succeeded: {v:?}"),
    }
}

fn prefix(rec: &[u8]) -> (u32, u64) {
    encrypted_kvstore::__fuzzing::record_v2_prefix(rec).expect("a record")
}

fn is_freshness(e: &ReadError) -> bool {
    matches!(
        e,
        ReadError::Rollback { .. } | ReadError::Missing { .. } | ReadError::Resurrected { .. }
    )
}

impl World {
    /// `options` bit 0: encrypted names, bit 1: padding, bit 2: a passphrase (else a raw key),
    /// bit 3: a freshness anchor over an in-memory store.
    pub fn new(options: u8) -> World {
        let (names_encrypted, padded, passphrase) =
            (options & 1 != 0, options & 2 != 0, options & 4 != 0);
        let anchor = (options & 8 != 0).then(MemoryStore::new);
        let mut o: OpenOptions = with_anchor(det_options(4), &anchor);
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
        let created = HeaderView {
            keys: vec![0],
            seq: 1,
            limit: 1 + BLOCK,
        };
        let mut w = World {
            store: Some(store),
            inner,
            names_encrypted,
            padded,
            passphrase,
            opens: 0,
            names: triples_v2(),
            invalid,
            stored_names: BTreeMap::new(),
            stored: BTreeMap::new(),
            written: BTreeMap::new(),
            marks: BTreeMap::new(),
            anchor,
            anchor_marks: BTreeMap::new(),
            lazy_pairs: BTreeSet::new(),
            next: 1,
            attacked: BTreeSet::new(),
            allowed: BTreeMap::new(),
            tainted: BTreeSet::new(),
            last_ack: BTreeMap::new(),
            live: created.clone(),
            stored_header: created,
            poisoned: false,
            armed: None,
            op_fault: None,
            calls: 0,
            changed: Changed::Inner,
        };
        if !names_encrypted {
            w.stored_names = w.names.iter().cloned().enumerate().collect();
        }
        let info = w.store().info();
        assert_eq!(info.names_encrypted, names_encrypted);
        assert_eq!(info.values_padded, padded);
        assert_eq!(info.anchored, w.anchor.is_some());
        w
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

    fn pair(&self, i: usize) -> (String, String) {
        let (p, s, _) = &self.names[i];
        (p.clone(), s.clone())
    }

    /// One inner call of the operation in progress: the fault it meets, if it is the armed
    /// one's.
    fn call(&mut self) -> Option<Fault> {
        let n = self.calls;
        self.calls += 1;
        match self.op_fault {
            Some((at, f)) if at == n => {
                self.op_fault = None;
                Some(f)
            }
            _ => None,
        }
    }

    /// The authentic record `b` of name `i`, if a reader holding `ring` opens it.
    fn authentic(&self, i: usize, b: &[u8], ring: &[u32]) -> Option<&Written> {
        self.written
            .get(&i)?
            .iter()
            .find(|w| w.rec == b && ring.contains(&w.key_id))
    }

    /// The read of name `i` through the open instance the model predicts, with the entry it
    /// leaves.
    fn predict(&self, i: usize) -> (Expect, Option<Mark>) {
        self.predict_with(i, &self.marks, &self.live.keys)
    }

    /// The read of name `i` by an instance holding `marks` and the keyring `ring`.
    fn predict_with(
        &self,
        i: usize,
        marks: &BTreeMap<usize, Mark>,
        ring: &[u32],
    ) -> (Expect, Option<Mark>) {
        let (p, s, k) = self.names[i].clone();
        let mark = marks.get(&i).copied();
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
        let Some(found) = self.authentic(i, b, ring) else {
            return (
                Expect::Fails(ReadError::AuthenticationFailed {
                    primary_namespace: p,
                    secondary_namespace: s,
                    key: k,
                }),
                mark,
            );
        };
        let r = found.version;
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
                Some(Mark::maybe_removed(r, r))
            } else {
                Some(Mark::live(r))
            }
        } else {
            mark
        };
        (Expect::Value(found.value.clone(), r, found.key_id), after)
    }

    /// The freshness refusal the instance cannot avoid for name `i` by the simple rule of the
    /// key's last acknowledged call (docs/FORMAT.md, "What the format detects").
    fn must_refuse(&self, i: usize) -> Option<&'static str> {
        let ack = self.last_ack.get(&i)?;
        let Some(b) = self.stored.get(&i) else {
            return matches!(ack, Ack::Wrote(_)).then_some("Missing");
        };
        let r = self.authentic(i, b, &self.live.keys)?.version;
        match *ack {
            Ack::Wrote(w) if r < w => Some("Rollback"),
            Ack::Removed(t) if r <= t => Some("Resurrected"),
            _ => None,
        }
    }

    /// `predict`, checked against the rules that need no model of the entries: a freshness
    /// error only for an attacked key, and always the one the last acknowledged call calls for.
    fn expect_read(&self, i: usize) -> (Expect, Option<Mark>) {
        let (expect, after) = self.predict(i);
        if let Expect::Fails(e) = &expect {
            if is_freshness(e) {
                assert!(
                    self.attacked.contains(&i),
                    "the model predicts a freshness error for a key nobody attacked: {e:?}"
                );
            }
        }
        if let Some(must) = self.must_refuse(i) {
            assert!(self.attacked.contains(&i), "an acknowledged state changed");
            let refused = matches!(
                (&expect, must),
                (Expect::Fails(ReadError::Rollback { .. }), "Rollback")
                    | (Expect::Fails(ReadError::Missing { .. }), "Missing")
                    | (Expect::Fails(ReadError::Resurrected { .. }), "Resurrected")
            );
            assert!(
                refused,
                "the instance must refuse name {i} as {must}, predicted {expect:?}"
            );
        }
        (expect, after)
    }

    /// A read of name `i` was accepted at version `r`: the entry it leaves, and the counter.
    fn accepted(&mut self, i: usize, r: u64, after: Option<Mark>) {
        self.next = self.next.max(r + 1);
        match after {
            Some(m) => self.marks.insert(i, m),
            None => self.marks.remove(&i),
        };
    }

    /// The user's view of name `i`: a read returned `seen` (`None`: `NotFound`).
    fn user_saw(&mut self, i: usize, seen: Option<&[u8]>, by: &str) {
        if self.tainted.contains(&i) {
            return;
        }
        let allowed = self.allowed.get(&i).cloned().unwrap_or_else(|| vec![None]);
        assert!(
            allowed.iter().any(|a| a.as_deref() == seen),
            "{by}: name {i} reads {seen:?}, which no acknowledged or failed call left there: \
             {allowed:?}"
        );
        self.allowed.insert(i, vec![seen.map(<[u8]>::to_vec)]);
    }

    /// The user's view of name `i` after a write or remove (`to`: its value, `None` for a
    /// remove) that returned `ok`.
    fn user_changed(&mut self, i: usize, to: Option<Vec<u8>>, ok: bool) {
        if ok {
            self.allowed.insert(i, vec![to]);
            self.tainted.remove(&i);
        } else {
            let a = self.allowed.entry(i).or_insert_with(|| vec![None]);
            if !a.contains(&to) {
                a.push(to);
            }
        }
    }

    fn read(&mut self, i: usize, via_async: bool, fault: Option<Fault>) {
        let (p, s, k) = self.names[i].clone();
        let (expect, after) = self.expect_read(i);
        let got = if via_async {
            now(KVStore::read(self.store(), &p, &s, &k))
        } else {
            KVStoreSync::read(self.store(), &p, &s, &k)
        };
        if fault.is_some() {
            return assert_fault(&got);
        }
        if !self.tainted.contains(&i) {
            if let Err(e) = &got {
                assert_eq!(
                    e.kind(),
                    ErrorKind::NotFound,
                    "false alarm on {p}/{s}/{k}: {e}"
                );
            }
        }
        match (&expect, got) {
            (Expect::Value(v, r, _), Ok(got)) => {
                assert_eq!(&got, v, "read {p}/{s}/{k}: another value");
                self.accepted(i, *r, after);
                self.user_saw(i, Some(&got), "read");
            }
            (Expect::NotFound, Err(e)) if e.kind() == ErrorKind::NotFound => {
                self.user_saw(i, None, "read");
            }
            (Expect::Fails(want), Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::InvalidData, "read {p}/{s}/{k}: {e}");
                assert_eq!(read_error(&e), Some(want), "read {p}/{s}/{k}");
            }
            (want, got) => panic!("read {p}/{s}/{k}: expected {want:?}, got {got:?}"),
        }
    }

    /// The entry after a failed write of `t` (docs/FORMAT.md, "Updates": pinned).
    fn pin_write(&mut self, i: usize, t: u64) {
        match self.marks.get(&i).copied() {
            None => {
                self.marks.insert(i, Mark::maybe_removed(0, t));
            }
            Some(Mark {
                kind: Kind::Removed,
                version,
                ..
            }) => {
                let v = version + 1;
                self.marks.insert(i, Mark::maybe_removed(v, t.max(v)));
            }
            Some(_) => {}
        }
    }

    /// The entry after a failed hard remove of `t`.
    fn pin_remove(&mut self, i: usize, t: u64) {
        let pinned = match self.marks.get(&i).copied() {
            None => Mark::maybe_removed(0, t),
            Some(Mark {
                kind: Kind::Removed,
                version,
                ..
            }) => {
                let v = version + 1;
                Mark::maybe_removed(v, t.max(v))
            }
            Some(m) => Mark::maybe_removed(m.version, m.op.max(t)),
        };
        self.marks.insert(i, pinned);
    }

    /// The record a write of `value` at `version` left under name `i`, checked and noted.
    fn landed(&mut self, i: usize, value: Vec<u8>, version: u64) {
        let (sp, ss, sk) = self.stored_names[&i].clone();
        let rec = KVStoreSync::read(&self.inner.mem, &sp, &ss, &sk).expect("the record is stored");
        let plain_len = if self.padded {
            padme(8 + value.len() as u64).expect("small") as usize
        } else {
            value.len()
        };
        assert_eq!(rec.len(), 53 + plain_len, "record length");
        assert_eq!(rec[0], 2);
        let (key_id, v) = prefix(&rec);
        assert_eq!(v, version, "versions come from one counter");
        assert_eq!(key_id, self.live.current(), "sealed under the current key");
        self.stored.insert(i, rec.clone());
        self.written.entry(i).or_default().push(Written {
            rec,
            value,
            version,
            key_id,
        });
        // What the inner store holds is the wrapper's again.
        self.attacked.remove(&i);
    }

    /// A write or remove of name `i` is done: the anchor holds the instance's entry of it.
    fn synced(&mut self, i: usize) {
        if self.anchor.is_none() {
            return;
        }
        match self.marks.get(&i) {
            Some(m) => self.anchor_marks.insert(i, *m),
            None => self.anchor_marks.remove(&i),
        };
    }

    fn write(&mut self, i: usize, value: Vec<u8>, via_async: bool) {
        let (p, s, k) = self.names[i].clone();
        let learn = !self.stored_names.contains_key(&i);
        let before = if learn {
            self.inner.mem.list_all_keys().expect("inner list")
        } else {
            Vec::new()
        };
        let fault = self.call();
        let r = if via_async {
            now(KVStore::write(self.store(), &p, &s, &k, value.clone()))
        } else {
            KVStoreSync::write(self.store(), &p, &s, &k, value.clone())
        };
        let version = self.next;
        self.next += 1;
        if learn {
            // The first stored write of a name shows its stored names.
            let after = self.inner.mem.list_all_keys().expect("inner list");
            let added: Vec<Name> = after.into_iter().filter(|t| !before.contains(t)).collect();
            if fault == Some(Fault::Before) {
                assert!(
                    added.is_empty(),
                    "a write that failed before its effect wrote"
                );
            } else {
                assert_eq!(added.len(), 1, "a first write adds exactly one inner key");
                let t = added.into_iter().next().expect("one key");
                for (plain, st) in [(&p, &t.0), (&s, &t.1), (&k, &t.2)] {
                    assert_eq!(plain.is_empty(), st.is_empty());
                    assert!(plain.is_empty() || plain != st, "a name stored in clear");
                }
                self.stored_names.insert(i, t);
            }
        }
        match fault {
            Some(_) => assert_fault(&r),
            None => r.expect("write"),
        }
        if fault != Some(Fault::Before) {
            self.landed(i, value.clone(), version);
        }
        if fault.is_some() {
            self.pin_write(i, version);
            self.last_ack.remove(&i);
        } else {
            self.marks.insert(i, Mark::live(version));
            self.last_ack.insert(i, Ack::Wrote(version));
        }
        self.synced(i);
        self.user_changed(i, Some(value), fault.is_none());
    }

    fn remove(&mut self, i: usize, lazy: bool, via_async: bool) {
        let (p, s, k) = self.names[i].clone();
        let fault = self.call();
        let r = if via_async {
            now(KVStore::remove(self.store(), &p, &s, &k, lazy))
        } else {
            KVStoreSync::remove(self.store(), &p, &s, &k, lazy)
        };
        let t = self.next;
        self.next += 1;
        // Before the inner call.
        if lazy {
            self.marks.remove(&i);
            self.lazy_pairs.insert(self.pair(i));
        } else if let Some(m) = self.marks.get(&i).copied() {
            if m.kind != Kind::Removed {
                self.marks.insert(i, Mark::maybe_removed(m.version, t));
            }
        }
        match fault {
            Some(_) => assert_fault(&r),
            None => r.expect("remove"),
        }
        if fault != Some(Fault::Before) {
            self.stored.remove(&i);
            self.attacked.remove(&i);
        }
        match (fault, lazy) {
            (Some(_), false) => self.pin_remove(i, t),
            (None, false) => {
                self.marks.insert(
                    i,
                    Mark {
                        kind: Kind::Removed,
                        version: t,
                        op: t,
                    },
                );
            }
            (_, true) => {}
        }
        match (fault, lazy) {
            (None, false) => self.last_ack.insert(i, Ack::Removed(t)),
            _ => self.last_ack.remove(&i),
        };
        self.synced(i);
        self.user_changed(i, None, fault.is_none());
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
        let must = (0..self.names.len())
            .filter(|i| in_pair(i))
            .any(|i| self.must_refuse(i) == Some("Missing"));
        assert!(
            !must || missing.is_some(),
            "list {p}/{s}: a deletion of an acknowledged write goes unseen"
        );
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

    fn list(&self, p: &str, s: &str, via_async: bool, fault: Option<Fault>) {
        let got = if via_async {
            now(KVStore::list(self.store(), p, s))
        } else {
            KVStoreSync::list(self.store(), p, s)
        };
        if fault.is_some() {
            return assert_fault(&got);
        }
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
        KVStoreSync::write(&self.inner.mem, sp, ss, sk, bytes.clone()).expect("memory write");
        self.stored.insert(i, bytes);
        self.attacked.insert(i);
        self.tainted.insert(i);
    }

    fn open(&self, options: OpenOptions) -> Result<Store, OpenError> {
        let options = with_anchor(options, &self.anchor);
        if self.passphrase {
            options.open(self.inner.clone(), Credential::passphrase(PASSPHRASE))
        } else {
            options.open(self.inner.clone(), Credential::raw_key(&raw_key()))
        }
    }

    /// A restart: the store is dropped, then opened (again after a failed attempt).
    fn reopen(&mut self) {
        assert!(
            self.stored_header.limit >= self.next,
            "a version at or above the header's limit was used"
        );
        self.store = None;
        loop {
            self.opens += 1;
            let r = self.open(det_options(100 + self.opens));
            // The header read, then the reservation's header write (the anchor is another
            // store: its calls are not counted).
            let fault = match self.call() {
                Some(f) => Some(f),
                None => self.call().inspect(|&f| {
                    if f == Fault::After {
                        self.stored_header.seq += 1;
                        self.stored_header.limit = self.open_next() + BLOCK;
                    }
                }),
            };
            match (fault, r) {
                (Some(_), Err(OpenError::Io(e))) if is_fault(&e) => continue,
                (None, Ok(s)) => {
                    self.store = Some(s);
                    break;
                }
                (f, r) => panic!("open with fault {f:?}: {:?}", r.map(|s| s.info())),
            }
        }
        self.next = self.open_next();
        self.stored_header.seq += 1;
        self.stored_header.limit = self.next + BLOCK;
        self.live = self.stored_header.clone();
        self.poisoned = false;
        if self.anchor.is_some() {
            // The anchor's entries and pair records are loaded: what the instance must refuse
            // (and what counts as attacked) carries over the restart.
            self.marks = self.anchor_marks.clone();
        } else {
            // Without an anchor, an open knows nothing of the keys.
            self.marks.clear();
            self.lazy_pairs.clear();
            self.attacked.clear();
            self.last_ack.clear();
        }
    }

    /// The first version an open hands out: the header's limit, or above every op the anchor
    /// holds ("Opening with an anchor", step 4; no fold here, so no floor).
    fn open_next(&self) -> u64 {
        let above_anchor = self.anchor_marks.values().map(|m| m.op + 1).max();
        self.stored_header.limit.max(above_anchor.unwrap_or(0))
    }

    /// The header rewrite of a rotation or retirement to `keys`: the error it must return, if
    /// any (the read-check-write of "Writing the header").
    fn rewrite_header(&mut self, keys: Vec<u32>) -> Option<WantRotate> {
        if self.poisoned {
            return Some(WantRotate::HeaderChanged);
        }
        if self.call().is_some() {
            return Some(WantRotate::HeaderIo);
        }
        if self.stored_header != self.live {
            self.poisoned = true;
            return Some(WantRotate::HeaderChanged);
        }
        let new = self.live.rewritten(keys);
        match self.call() {
            Some(Fault::Before) => Some(WantRotate::HeaderIo),
            Some(_) => {
                self.stored_header = new;
                Some(WantRotate::HeaderIo)
            }
            None => {
                self.stored_header = new.clone();
                self.live = new;
                None
            }
        }
    }

    fn rotate(&mut self) {
        let r = self.store().rotate_data_key();
        let new_id = self.live.current() + 1;
        let want = if self.live.keys.len() >= MAX_KEYS {
            Some(WantRotate::KeyringFull)
        } else {
            let mut keys = self.live.keys.clone();
            keys.push(new_id);
            self.rewrite_header(keys)
        };
        if want.is_none() {
            assert_eq!(r.as_ref().ok(), Some(&new_id), "the new key id");
        }
        check_rotate(want, r);
    }

    /// The names of the stored records in the order `list_all_keys` gives them.
    fn listed(&self) -> Vec<usize> {
        let mut v: Vec<(&Name, usize)> = self
            .stored
            .keys()
            .map(|&i| (&self.stored_names[&i], i))
            .collect();
        v.sort();
        v.into_iter().map(|(_, i)| i).collect()
    }

    /// The read of name `i` by a pass: the error it stops the pass with, or the key id of the
    /// record it accepted.
    fn pass_read(&mut self, i: usize) -> Result<(Vec<u8>, u32), WantRotate> {
        if self.call().is_some() {
            return Err(WantRotate::Read(None));
        }
        match self.expect_read(i) {
            (Expect::Value(v, r, key_id), after) => {
                self.accepted(i, r, after);
                Ok((v, key_id))
            }
            (Expect::Fails(e), _) => Err(WantRotate::Read(Some(e))),
            (Expect::NotFound, _) => panic!("a listed key is not found"),
        }
    }

    fn reencrypt(&mut self) {
        let mut seen = Vec::new();
        let r = self.store().reencrypt(|p| seen.push(p));
        let mut want = None;
        let mut progress = Vec::new();
        let mut done = ReencryptProgressModel {
            total: 0,
            done: 0,
            rewritten: 0,
        };
        if self.call().is_some() {
            want = Some(WantRotate::List);
        } else {
            let listed = self.listed();
            done.total = listed.len();
            for i in listed {
                let value = match self.pass_read(i) {
                    Ok((_, key_id)) if key_id == self.live.current() => None,
                    Ok((value, _)) => Some(value),
                    Err(e) => {
                        want = Some(e);
                        break;
                    }
                };
                if let Some(value) = value {
                    // Written back through the write path: a new version, the current key.
                    let fault = self.call();
                    let version = self.next;
                    self.next += 1;
                    if fault != Some(Fault::Before) {
                        self.landed(i, value, version);
                    }
                    if fault.is_some() {
                        self.pin_write(i, version);
                        self.last_ack.remove(&i);
                        self.synced(i);
                        want = Some(WantRotate::Write);
                        break;
                    }
                    self.marks.insert(i, Mark::live(version));
                    self.last_ack.insert(i, Ack::Wrote(version));
                    self.synced(i);
                    done.rewritten += 1;
                }
                done.done += 1;
                progress.push(done);
            }
        }
        let seen: Vec<ReencryptProgressModel> =
            seen.iter().map(ReencryptProgressModel::of).collect();
        assert_eq!(seen, progress, "reencrypt progress");
        if want.is_none() {
            let got = r.as_ref().ok().map(ReencryptProgressModel::of);
            assert_eq!(got, Some(done), "reencrypt result");
        }
        check_rotate(want, r);
    }

    fn retire(&mut self) {
        let r = self.store().retire_old_keys();
        let want = 'want: {
            if self.call().is_some() {
                break 'want Some(WantRotate::List);
            }
            let current = self.live.current();
            for i in self.listed() {
                match self.pass_read(i) {
                    Ok((_, key_id)) if key_id == current => {}
                    Ok((_, key_id)) => {
                        break 'want Some(WantRotate::NotReencrypted(self.names[i].clone(), key_id))
                    }
                    Err(e) => break 'want Some(e),
                }
            }
            self.rewrite_header(vec![current])
        };
        let retired = want.is_none();
        check_rotate(want, r);
        if retired {
            // The pass read every record: each is authentic under the one key left.
            for (i, b) in &self.stored {
                let w = self.authentic(*i, b, &self.live.keys);
                assert!(w.is_some(), "a record no key opens after retirement");
            }
        }
    }

    pub fn step(&mut self, op: Op) {
        if let Op::Fault { at, after } = op {
            let kind = if after { Fault::After } else { Fault::Before };
            self.armed = Some((fault_index(at), kind));
            self.changed = Changed::Nothing;
            return;
        }
        self.changed = match op {
            Op::Read { .. } | Op::List { .. } | Op::ListAll => Changed::Entries,
            _ => Changed::Inner,
        };
        let armed = self.armed.take();
        if let Some((at, f)) = armed {
            self.inner.arm_after(at, f);
        }
        self.op_fault = armed;
        self.calls = 0;
        let before = self.inner.calls();
        self.run(op);
        let left = self.inner.take_armed();
        assert_eq!(
            left,
            self.op_fault.map(|(_, f)| f),
            "the armed fault fired where the model expects no call, or did not fire"
        );
        assert_eq!(
            self.inner.calls() - before,
            self.calls,
            "inner calls the operation made"
        );
    }

    fn run(&mut self, op: Op) {
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
                Ok(i) => {
                    let fault = self.call();
                    self.read(i, via_async, fault)
                }
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
            Op::List { ns, via_async } => {
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
                    Some((p, s)) => {
                        let fault = self.call();
                        self.list(p, s, via_async, fault)
                    }
                    None => {
                        let (p, s) = &bad[n - all.len()];
                        invalid_input(KVStoreSync::list(self.store(), p, s));
                    }
                }
            }
            Op::ListAll => {
                let got = self.store().list_all_keys();
                if self.call().is_some() {
                    return assert_fault(&got);
                }
                // Every pair is checked as `list` checks it, in (primary, secondary) order;
                // the first refusal is the result.
                let pairs: std::collections::BTreeSet<(String, String)> = self
                    .names
                    .iter()
                    .map(|(p, s, _)| (p.clone(), s.clone()))
                    .collect();
                let refusal = pairs
                    .iter()
                    .find_map(|(p, s)| self.expected_list(p, s).err());
                if let Some(want) = refusal {
                    let e = got.expect_err("list_all_keys accepted a deletion");
                    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
                    let typed = e.get_ref().and_then(|e| e.downcast_ref::<ListError>());
                    assert_eq!(typed, Some(&want), "list_all_keys");
                    return;
                }
                let mut got = got.expect("list_all_keys");
                got.sort();
                let mut want: Vec<Name> =
                    self.stored.keys().map(|&i| self.names[i].clone()).collect();
                want.sort();
                assert_eq!(got, want);
            }
            Op::Reopen => self.reopen(),
            Op::Rotate => self.rotate(),
            Op::Reencrypt => self.reencrypt(),
            Op::Retire => self.retire(),
            Op::PutBack { name, pick } => {
                let i = self.valid(name);
                let Some(w) = self.written.get(&i) else {
                    return;
                };
                let rec = w[usize::from(pick) % w.len()].rec.clone();
                self.tamper_write(i, rec);
            }
            Op::Delete { name } => {
                let i = self.valid(name);
                if self.stored.remove(&i).is_some() {
                    let (sp, ss, sk) = &self.stored_names[&i];
                    KVStoreSync::remove(&self.inner.mem, sp, ss, sk, false).expect("memory remove");
                    self.attacked.insert(i);
                    self.tainted.insert(i);
                }
            }
            Op::Flip { name, at, xor } => {
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
            Op::Copy { from, to } => {
                let (from, to) = (self.valid(from), self.valid(to));
                if from == to || !self.stored_names.contains_key(&to) {
                    return;
                }
                if let Some(b) = self.stored.get(&from).cloned() {
                    self.tamper_write(to, b);
                }
            }
            Op::Fault { .. } => unreachable!("handled in step"),
        }
    }

    /// The inner store and both headers against the model, every list (lists change no entry),
    /// a read of every attacked key, so each attack's outcome is checked at once, and, if the
    /// inner store may have changed, a restart at this point: a fresh read-only instance over the
    /// inner store reads every name as the model says, and every name nobody attacked as the
    /// user's view allows. Nothing after a step that only armed a fault.
    pub fn check(&mut self) {
        if self.changed == Changed::Nothing {
            return;
        }
        let mut all = self.inner.mem.list_all_keys().expect("inner list");
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
                KVStoreSync::read(&self.inner.mem, sp, ss, sk).ok().as_ref(),
                Some(b)
            );
        }
        let stored = EncryptedStore::<encrypted_kvstore::MemoryStore>::inspect(&self.inner.mem)
            .expect("inspect");
        assert_eq!(HeaderView::of(&stored), self.stored_header, "stored header");
        assert_eq!(
            HeaderView::of(&self.store().info()),
            self.live,
            "the instance's header"
        );
        for (p, s) in self.namespaces() {
            self.list(&p, &s, false, None);
        }
        let attacked: Vec<usize> = self.attacked.iter().copied().collect();
        for i in attacked {
            self.read(i, false, None);
        }
        if self.changed == Changed::Inner {
            self.check_restart();
        }
    }

    /// A fresh read-only instance (empty watermarks, the stored header's keyring) over the
    /// inner store.
    fn check_restart(&self) {
        let options = with_anchor(det_options(99).read_only(), &self.anchor);
        let mem = self.inner.mem.clone();
        let fresh = if self.passphrase {
            options.open(mem, Credential::passphrase(PASSPHRASE))
        } else {
            options.open(mem, Credential::raw_key(&raw_key()))
        }
        .expect("a fresh instance opens the stored header");
        for i in 0..self.names.len() {
            let (p, s, k) = &self.names[i];
            let got = KVStoreSync::read(&fresh, p, s, k);
            if !self.tainted.contains(&i) {
                let allowed = self.allowed.get(&i).cloned().unwrap_or_else(|| vec![None]);
                let seen = match &got {
                    Ok(v) => Some(v.clone()),
                    Err(e) if e.kind() == ErrorKind::NotFound => None,
                    Err(e) => panic!("after a restart, {p}/{s}/{k} does not read: {e}"),
                };
                assert!(
                    allowed.contains(&seen),
                    "after a restart, {p}/{s}/{k} reads {seen:?}, outside {allowed:?}"
                );
            }
            // Exactly: with the anchor's entries (a read-only instance checks a record as the
            // writer does), or with none.
            let none = BTreeMap::new();
            let marks = if self.anchor.is_some() {
                &self.anchor_marks
            } else {
                &none
            };
            match (self.predict_with(i, marks, &self.stored_header.keys).0, got) {
                (Expect::Value(v, ..), Ok(got)) => {
                    assert_eq!(got, v, "after a restart: {p}/{s}/{k}")
                }
                (Expect::NotFound, Err(e)) if e.kind() == ErrorKind::NotFound => {}
                (Expect::Fails(want), Err(e)) => {
                    assert_eq!(read_error(&e), Some(&want), "after a restart: {p}/{s}/{k}")
                }
                (want, got) => {
                    panic!("after a restart: {p}/{s}/{k}: expected {want:?}, got {got:?}")
                }
            }
        }
    }
}

/// [`ReencryptProgress`] as the model counts it (that one is `non_exhaustive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReencryptProgressModel {
    total: usize,
    done: usize,
    rewritten: usize,
}

impl ReencryptProgressModel {
    fn of(p: &ReencryptProgress) -> Self {
        ReencryptProgressModel {
            total: p.total,
            done: p.done,
            rewritten: p.rewritten,
        }
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
    w.check();
    for op in input.ops.into_iter().take(MAX_OPS) {
        w.step(op);
        w.check();
    }
});
