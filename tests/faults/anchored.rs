//! Faults of the inner store and of the freshness anchor, each followed by a crash and a
//! restart (docs/FORMAT.md, "Updates": an anchor entry is removed before the inner remove and
//! written only after the inner write succeeded; a failed anchor write stays pending and every
//! later write or remove retries it first).
//!
//! A store with padding (and encrypted names where the workload goes on past the fault) over
//! LDK's `FilesystemStore`, anchored in a second `FilesystemStore` through `StoreAnchor`, runs a
//! workload of writes, overwrites, LDK's monitor-update pattern (updates written once, lazily
//! removed after the full monitor is written), hard removes in one namespace pair (of written
//! keys and of keys never written), a restart, a rotation with re-encryption and retirement,
//! and a hard remove of a monitor. Every inner operation and, separately, every anchor
//! operation of it is failed in each loud way (no effect; effect with the acknowledgement lost;
//! a torn write), one case at a time. The workload either goes on past the failed operation or
//! stops there; then the process "crashes" (the store is dropped) and the store is opened again
//! with the same anchor, writable. What must hold:
//!
//! - the operation the fault hit returns an error (a fault is never swallowed), and the case's
//!   fault fired exactly when the workload reached its index;
//! - every error the workload sees carries the injected fault, or is a documented consequence
//!   of it (`HeaderChanged` after a header write whose acknowledgement was lost,
//!   `NotReencrypted` after an interrupted re-encryption), and no read or list of the
//!   workload is refused as `Rollback`, `Missing` or `AuthenticationFailed` (except a record a
//!   torn write left);
//! - the open after the crash succeeds. The only refusals accepted are those of a torn write,
//!   which LDK's `FilesystemStore` never makes (it writes a temporary file and renames it) and
//!   an anchor must not make (its contract: a write is atomic): `CorruptHeader` after a torn
//!   header write (the previous header is put back, as an operator would from a copy, and the
//!   store then opens) and `AnchorCorrupt` after a torn anchor value (the documented way on,
//!   `accept_current_state`, then opens it);
//! - every value reads back as its last acknowledged write (or as nothing after an
//!   acknowledged remove), a value whose operation failed as its old or its new state, every
//!   listing agrees, and no value is refused; so after a fault anywhere in the rotation every
//!   present record still opens under the keyring of the header;
//! - after writes and a remove on the reopened store, a second restart reads them all;
//! - attacks are still refused after all this: with the anchor as the fault and the restarts
//!   left it, putting back the records the inner store held before those writes and removing
//!   the keys written since makes every rewritten key `Rollback`, every new key `Missing`, the
//!   removed key absent (`Removed`), and `list_all_keys` refuse.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::v::{ldk, snapshot, FaultyStore, MigratableKVStoreSync, TempFs, V};
use crate::common::{cheap, injected_within, FaultKind, FaultyAnchor, FAULT_KINDS, PASSPHRASE};
use encrypted_kvstore::{
    Credential, EncryptedStore, FreshnessAnchor, HeaderError, ListError, OpenError, OpenOptions,
    ReadError, RemoveError, RotateError, StoreAnchor, WriteError, HEADER_KEY,
    HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::KVStoreSync;

type Inner = FaultyStore<TempFs>;
type Anchor = FaultyAnchor<StoreAnchor<TempFs, V>>;
type Store = EncryptedStore<Inner>;
type Key = (String, String, String);

fn key(p: &str, s: &str, k: &str) -> Key {
    (p.to_owned(), s.to_owned(), k.to_owned())
}

#[derive(Clone, Debug)]
enum Step {
    /// Writes the value numbered by the tag.
    Write(Key, u8),
    Remove(Key, bool),
    Read(Key),
    List(&'static str, &'static str),
    /// Drops the store and opens it again (a clean restart inside the workload).
    Restart,
    Rotate,
    Reencrypt,
    Retire,
}

const MONITORS: &str = "monitors";
const UPDATES: &str = "monitor_updates";
/// The pair of the hard-remove churn.
const CHURN: &str = "archive";
/// Hard removes in the churn pair.
const CHURN_REMOVES: usize = 9;
/// Churn keys that are written before they are removed (the others are removed absent).
const CHURN_WRITTEN: usize = 6;

fn monitor(m: &str) -> Key {
    key(MONITORS, "", m)
}
fn update(m: &str, n: u32) -> Key {
    key(UPDATES, m, &n.to_string())
}
fn churn(i: usize) -> Key {
    key(CHURN, "", &format!("k{i:02}"))
}
fn stays(i: usize) -> Key {
    key(CHURN, "", &format!("stays{i}"))
}
fn manager() -> Key {
    key("", "", "manager")
}

/// The value of a write: distinct per key and tag, of a few sizes (padding buckets differ).
fn value((p, s, k): &Key, tag: u8) -> Vec<u8> {
    let mut v = format!("{p}/{s}/{k} #{tag}").into_bytes();
    v.resize(v.len() + usize::from(tag) * 37, tag);
    v
}

fn workload() -> Vec<Step> {
    use Step::*;
    let mut w = vec![
        Write(monitor("m1"), 1),
        Write(monitor("m2"), 1),
        Write(manager(), 1),
        // LDK's monitor updates: written once, lazily removed after the full monitor write.
        Write(update("m1", 1), 1),
        Write(update("m1", 2), 1),
        Write(monitor("m1"), 2),
        Remove(update("m1", 1), true),
        Remove(update("m1", 2), true),
        Write(update("m1", 3), 1),
        Read(monitor("m1")),
        Write(stays(0), 1),
        Write(stays(1), 1),
    ];
    w.extend((0..CHURN_WRITTEN).map(|i| Write(churn(i), 1)));
    // Hard removes: the anchor drops each written key's entry, and keeps nothing for a key
    // that was never written.
    w.extend((0..CHURN_REMOVES).map(|i| Remove(churn(i), false)));
    w.extend([
        List(CHURN, ""),
        Restart,
        Read(monitor("m1")),
        Read(update("m1", 3)),
        List(UPDATES, "m1"),
        Read(churn(0)),
        Read(stays(0)),
        Write(update("m1", 4), 1),
        Write(monitor("m1"), 3),
        Remove(update("m1", 3), true),
        Remove(update("m1", 4), true),
        // A hard-removed key written again.
        Write(churn(5), 2),
        Write(monitor("m2"), 2),
        Rotate,
        Write(manager(), 2),
        Reencrypt,
        Retire,
        // A closed channel's monitor, hard removed (archived).
        Remove(monitor("m2"), false),
        Write(manager(), 3),
        Read(stays(1)),
        List(MONITORS, ""),
        List("", ""),
    ]);
    w
}

/// Every key the workload touches.
fn universe() -> Vec<Key> {
    let mut keys = vec![monitor("m1"), monitor("m2"), manager()];
    keys.extend((1..=5).map(|n| update("m1", n)));
    keys.extend((0..2).map(stays));
    keys.extend((0..CHURN_REMOVES).map(churn));
    keys
}

/// The namespace pairs of [`universe`].
const PAIRS: [(&str, &str); 4] = [(MONITORS, ""), (UPDATES, "m1"), (CHURN, ""), ("", "")];

/// What a key may hold in the inner store.
#[derive(Clone, Debug, PartialEq)]
enum Holds {
    Absent,
    Value(Vec<u8>),
    /// The prefix of a record left by a torn write: reads fail authentication.
    Torn,
    /// The record of an absent key (a remove that failed before it reached the inner store)
    /// sealed under a data key retired since: nothing opens it, reads fail authentication.
    Retired,
}

/// For each key, every state it may be in: one after an acknowledged operation, more after a
/// failed one (its old and its new state).
///
/// The second field: keys whose record may linger while the key is absent (an orphan). The
/// third: keys that are absent from the next restart on (`true`: certainly; `false`: maybe),
/// because the anchor did not record what this instance still serves (an entry removed with
/// the acknowledgement lost, or a first write whose entry was never written).
struct Model(
    BTreeMap<Key, Vec<Holds>>,
    BTreeSet<Key>,
    BTreeMap<Key, bool>,
);

impl Model {
    fn new() -> Model {
        Model(
            universe()
                .into_iter()
                .map(|k| (k, vec![Holds::Absent]))
                .collect(),
            BTreeSet::new(),
            BTreeMap::new(),
        )
    }

    fn set(&mut self, k: &Key, h: Holds) {
        self.0.insert(k.clone(), vec![h]);
    }

    /// A write or remove of `k` succeeded: no record of an earlier remove lingers.
    fn settled(&mut self, k: &Key, h: Holds) {
        self.set(k, h);
        self.1.remove(k);
        self.2.remove(k);
    }

    /// A restart: what the anchor did not record takes effect.
    fn restarted(&mut self) {
        for (k, certain) in std::mem::take(&mut self.2) {
            if certain {
                self.set(&k, Holds::Absent);
            } else {
                self.also(&k, Holds::Absent);
            }
            self.1.insert(k);
        }
    }

    /// A remove of `k` failed: its record may linger, absent (left out of listings, so
    /// neither re-encrypted nor checked by the retirement).
    fn orphan(&mut self, k: &Key) {
        self.also(k, Holds::Absent);
        self.1.insert(k.clone());
    }

    /// The old data keys were retired: a lingering record of an absent key no longer opens.
    fn retired(&mut self) {
        for k in self.1.clone() {
            self.also(&k, Holds::Retired);
        }
    }

    fn also(&mut self, k: &Key, h: Holds) {
        let states = self.0.get_mut(k).unwrap();
        if !states.contains(&h) {
            states.push(h);
        }
    }

    fn may(&self, k: &Key, h: &Holds) -> bool {
        self.0[k].contains(h)
    }

    /// Checks a read against the model and narrows the key to what it found. `Err(())`: the
    /// read failed with an error the caller must explain.
    fn read(&mut self, k: &Key, r: io::Result<Vec<u8>>, ctx: &str) -> Result<(), io::Error> {
        let found = match r {
            Ok(v) => Holds::Value(v),
            Err(e) if e.kind() == ErrorKind::NotFound => Holds::Absent,
            Err(e) => match e.get_ref().and_then(|i| i.downcast_ref::<ReadError>()) {
                Some(ReadError::AuthenticationFailed { .. }) if self.may(k, &Holds::Torn) => {
                    Holds::Torn
                }
                Some(ReadError::AuthenticationFailed { .. }) if self.may(k, &Holds::Retired) => {
                    Holds::Retired
                }
                _ => return Err(e),
            },
        };
        assert!(
            self.may(k, &found),
            "{ctx}: {k:?} read {found:?}, the model allows {:?}",
            self.0[k]
        );
        self.set(k, found);
        Ok(())
    }

    /// Checks a listing of a pair against the model and narrows it.
    fn list(&mut self, (p, s): (&str, &str), listed: &[String], ctx: &str) {
        let keys: Vec<Key> = self
            .0
            .keys()
            .filter(|(kp, ks, _)| kp == p && ks == s)
            .cloned()
            .collect();
        for l in listed {
            assert!(
                keys.iter().any(|(_, _, k)| k == l),
                "{ctx}: {p}/{s} lists {l}, which was never written"
            );
        }
        for k in keys {
            let states = self.0.get_mut(&k).unwrap();
            let absent = |h: &Holds| matches!(h, Holds::Absent | Holds::Retired);
            if listed.contains(&k.2) {
                states.retain(|h| !absent(h));
            } else {
                // A torn record of a key the store does not hold (a first write cut short) is
                // left out of the listing as absent.
                states.retain(|h| absent(h) || *h == Holds::Torn);
            }
            assert!(
                !states.is_empty(),
                "{ctx}: {k:?} listed wrongly: {listed:?}"
            );
        }
    }

    /// Keys that may be present, for `list_all_keys`.
    fn check_all(&mut self, mut all: Vec<Key>, ctx: &str) {
        all.sort();
        for (p, s) in PAIRS {
            let listed: Vec<String> = all
                .iter()
                .filter(|(ap, as_, _)| ap == p && as_ == s)
                .map(|(_, _, k)| k.clone())
                .collect();
            self.list((p, s), &listed, ctx);
        }
        let known = universe();
        for k in &all {
            assert!(known.contains(k), "{ctx}: list_all_keys lists {k:?}");
        }
    }
}

/// Which side's operations are faulted.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Target {
    Inner,
    Anchor,
}

/// What the workload does after the operation the fault hit.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Then {
    /// Goes on to its end.
    Continue,
    /// Stops: the crash comes right after the failed operation.
    Crash,
}

/// How one case ended, for the counts the sweep reports.
#[derive(Debug, Default)]
struct Outcome {
    /// Inner and anchor operations the workload made.
    inner_ops: u64,
    anchor_ops: u64,
    /// The armed fault fired.
    fired: bool,
    /// Operations of the workload that returned an error.
    errors: usize,
    /// The open after the crash refused a torn header or a torn anchor value.
    torn_refused: bool,
}

fn anchor_over(dir: TempFs) -> Anchor {
    FaultyAnchor::new(StoreAnchor::new(dir))
}

fn open(inner: &Inner, anchor: &Anchor) -> Result<Store, OpenError> {
    OpenOptions::new()
        .anchor(anchor.clone())
        .open::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
}

fn header_of(inner: &Inner) -> Option<Vec<u8>> {
    KVStoreSync::read(
        inner.inner(),
        RESERVED_PRIMARY_NAMESPACE,
        HEADER_SECONDARY_NAMESPACE,
        HEADER_KEY,
    )
    .ok()
}

/// Whether `e` is the injected fault, or carries it.
fn carries_fault(e: &(dyn std::error::Error + 'static)) -> bool {
    injected_within(e).is_some()
}

/// Runs the workload with operation `fault` (counted from the first workload operation) of
/// `target` failed as `kind`, then the crash and the checks. `None`: no fault (the dry run).
fn run(fault: Option<(Target, u64, FaultKind)>, then: Then) -> Outcome {
    let inner = FaultyStore::new(TempFs::in_memory_fs());
    let anchor = anchor_over(TempFs::in_memory_fs());
    // Encrypted names (the anchor keys its values by stored names) where the workload goes on;
    // plain names, cheaper, where it stops at the fault: each (index, kind) runs under both.
    let opts = match then {
        Then::Continue => OpenOptions::new().encrypt_names().pad_values(),
        Then::Crash => OpenOptions::new().pad_values(),
    };
    let mut store = Some(
        opts.anchor(anchor.clone())
            .create::<V, _>(
                inner.clone(),
                Credential::passphrase_with(PASSPHRASE, cheap()),
            )
            .unwrap(),
    );
    let (inner_base, anchor_base) = (inner.ops(), anchor.ops());
    if let Some((target, n, kind)) = fault {
        match target {
            Target::Inner => inner.arm(inner_base + n, kind),
            Target::Anchor => anchor.arm(anchor_base + n, kind),
        }
    }
    let kind = fault.map(|(_, _, k)| k);
    let torn = |t: Target| fault.is_some_and(|(ft, _, k)| ft == t && k == FaultKind::TornWrite);
    let fires = || inner.fires() + anchor.fires();
    let mut model = Model::new();
    let mut outcome = Outcome::default();
    // The header as it was before the operation the fault hit (to put back a torn one).
    let mut header_before_fault = None;

    for (i, step) in workload().into_iter().enumerate() {
        let Some(s) = store.as_ref() else { break };
        let ctx = format!("{fault:?} {then:?}: step {i} {step:?}");
        let (fires_before, header_before) = (fires(), header_of(&inner));
        let mut result: Result<(), Box<dyn std::error::Error>> = Ok(());
        let mut refused_torn = false;
        match &step {
            Step::Write(k, tag) => {
                let v = value(k, *tag);
                match KVStoreSync::write(s, &k.0, &k.1, &k.2, v.clone()) {
                    Ok(()) => model.settled(k, Holds::Value(v)),
                    Err(e) => {
                        let typed = e.get_ref().and_then(|i| i.downcast_ref::<WriteError>());
                        if let Some(WriteError::Anchor(_)) = typed {
                            // The inner write succeeded; the anchor keeps the previous state
                            // (pending): a key it did not hold may be absent after a restart.
                            if model.may(k, &Holds::Absent) {
                                model.2.entry(k.clone()).or_insert(false);
                            }
                            model.set(k, Holds::Value(v));
                        } else {
                            // A first write that failed after it landed leaves a record of an
                            // absent key.
                            if model.may(k, &Holds::Absent) {
                                model.1.insert(k.clone());
                            }
                            model.also(k, Holds::Value(v));
                            if kind == Some(FaultKind::TornWrite) {
                                model.also(k, Holds::Torn);
                            }
                        }
                        result = Err(e.into());
                    }
                }
            }
            Step::Remove(k, lazy) => match KVStoreSync::remove(s, &k.0, &k.1, &k.2, *lazy) {
                Ok(()) => model.settled(k, Holds::Absent),
                Err(e) => {
                    let typed = e.get_ref().and_then(|i| i.downcast_ref::<RemoveError>());
                    assert!(
                        matches!(typed, Some(RemoveError::Anchor(_))) || carries_fault(&e),
                        "{ctx}: a remove failed with neither the fault nor the anchor: {e:?}"
                    );
                    model.orphan(k);
                    if matches!(typed, Some(RemoveError::Anchor(_)))
                        && kind == Some(FaultKind::After)
                        && fires() != fires_before
                    {
                        // The entry was removed, the acknowledgement lost: this instance still
                        // holds the key; from the next restart on it is absent, unless this
                        // instance writes the key again (a re-encryption does).
                        model.2.insert(k.clone(), false);
                    }
                    result = Err(e.into());
                }
            },
            Step::Read(k) => {
                if let Err(e) = model.read(k, KVStoreSync::read(s, &k.0, &k.1, &k.2), &ctx) {
                    result = Err(e.into());
                }
            }
            Step::List(p, sub) => match KVStoreSync::list(s, p, sub) {
                Ok(l) => model.list((p, sub), &l, &ctx),
                Err(e) => {
                    let typed = e.get_ref().and_then(|i| i.downcast_ref::<ListError>());
                    assert!(
                        !matches!(typed, Some(ListError::Missing { .. })),
                        "{ctx}: a listing refused honest data: {e:?}"
                    );
                    result = Err(e.into());
                }
            },
            Step::Restart => {
                store = None;
                match open(&inner, &anchor) {
                    Ok(s) => {
                        model.restarted();
                        store = Some(s);
                    }
                    Err(e) => {
                        // A torn header or anchor value (left by this or an earlier fault)
                        // is refused; the workload cannot go on without a store.
                        let torn_refusal = match &e {
                            OpenError::CorruptHeader { .. } => torn(Target::Inner),
                            OpenError::AnchorCorrupt { .. } => torn(Target::Anchor),
                            _ => false,
                        };
                        if torn_refusal {
                            outcome.errors += 1;
                            refused_torn = true;
                        } else {
                            result = Err(e.into());
                        }
                    }
                }
            }
            Step::Rotate => {
                if let Err(e) = s.rotate_data_key::<V>() {
                    result = Err(e.into());
                }
            }
            Step::Reencrypt => match s.reencrypt::<V>(|_| {}) {
                Ok(_) => {}
                Err(e) => {
                    if kind == Some(FaultKind::TornWrite) && fires() != fires_before {
                        // The pass does not say which record it was writing back.
                        let present: Vec<Key> = model
                            .0
                            .iter()
                            .filter(|(_, h)| !h.contains(&Holds::Absent))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in present {
                            model.also(&k, Holds::Torn);
                        }
                    }
                    result = Err(e.into());
                }
            },
            Step::Retire => match s.retire_old_keys::<V>() {
                Ok(()) => model.retired(),
                Err(e) => result = Err(e.into()),
            },
        }
        let hit = fires() != fires_before;
        if hit {
            header_before_fault = header_before;
            // The operation the fault hit must report it: a fault is never swallowed.
            assert!(
                result.is_err() || refused_torn,
                "{ctx}: the fault fired and the operation returned Ok"
            );
        }
        if let Err(e) = result {
            outcome.errors += 1;
            check_error(&*e, hit, fires() > 0, &model, &ctx);
        }
        if hit && then == Then::Crash {
            break;
        }
    }
    outcome.inner_ops = inner.ops() - inner_base;
    outcome.anchor_ops = anchor.ops() - anchor_base;
    outcome.fired = fires() > 0;
    let ctx = format!("{fault:?} {then:?}: after the crash");
    if let Some((_, n, _)) = fault {
        let used = match fault.map(|f| f.0) {
            Some(Target::Inner) => outcome.inner_ops,
            _ => outcome.anchor_ops,
        };
        assert_eq!(outcome.fired, n < used, "{ctx}: {n} of {used}");
    }

    // The crash: the store is dropped mid-workload, nothing else is done.
    drop(store);
    inner.disarm();
    anchor.disarm();
    model.restarted();
    let reopened = match open(&inner, &anchor) {
        Ok(s) => s,
        Err(OpenError::CorruptHeader { .. }) if torn(Target::Inner) => {
            outcome.torn_refused = true;
            let previous = header_before_fault.expect("a torn header after a header write");
            KVStoreSync::write(
                inner.inner(),
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
                previous,
            )
            .unwrap();
            open(&inner, &anchor).unwrap_or_else(|e| panic!("{ctx}: header put back: {e:?}"))
        }
        Err(OpenError::AnchorCorrupt { .. }) if torn(Target::Anchor) => {
            outcome.torn_refused = true;
            OpenOptions::new()
                .anchor(anchor.clone())
                .accept_current_state::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
                .unwrap_or_else(|e| panic!("{ctx}: accepting the current state: {e:?}"))
        }
        Err(e) => panic!("{ctx}: the open after the crash was refused: {e:?}"),
    };
    check_store(&reopened, &mut model, &ctx);
    // What the inner store holds now: the older records an attacker puts back below.
    let older = records_of(&inner);
    // The state of each key before those writes (`check_store` left one per key).
    let before: BTreeMap<Key, Holds> = model
        .0
        .iter()
        .map(|(k, h)| {
            assert_eq!(h.len(), 1, "{ctx}: {k:?} still {h:?}");
            (k.clone(), h[0].clone())
        })
        .collect();

    // Life goes on: writes and a hard remove on the reopened store, a second restart.
    let later = [
        monitor("m1"),
        update("m1", 5),
        stays(0),
        churn(7),
        manager(),
    ];
    for k in &later {
        let v = value(k, 7);
        KVStoreSync::write(&reopened, &k.0, &k.1, &k.2, v.clone())
            .unwrap_or_else(|e| panic!("{ctx}: write {k:?} after the restart: {e:?}"));
        model.0.insert(k.clone(), vec![Holds::Value(v)]);
    }
    let removed = stays(1);
    KVStoreSync::remove(&reopened, &removed.0, &removed.1, &removed.2, false)
        .unwrap_or_else(|e| panic!("{ctx}: remove after the restart: {e:?}"));
    model.set(&removed, Holds::Absent);
    drop(reopened);
    let again = open(&inner, &anchor).unwrap_or_else(|e| panic!("{ctx}: second restart: {e:?}"));
    check_store(&again, &mut model, &format!("{ctx}, second restart"));
    drop(again);
    attack_after_the_restarts(
        &inner, &anchor, &older, &before, &later, &removed, &mut model, &ctx,
    );
    outcome
}

/// Every record of the inner store but the header, by stored names.
fn records_of(inner: &Inner) -> BTreeMap<Key, Vec<u8>> {
    snapshot(inner.inner())
        .into_iter()
        .filter(|((p, _, _), _)| p != RESERVED_PRIMARY_NAMESPACE)
        .collect()
}

/// With the store closed, the inner store's records are put back as they were in `older`
/// (the rewritten `later` keys rolled back, the `removed` key resurrected) and every record
/// written since is deleted (the new `later` keys). Opened with the anchor the faults and
/// restarts left, the store must refuse each: `Rollback`, `Missing`, absent (`Removed`), and
/// `list_all_keys` `Missing`; every other key reads as before, with no alarm.
#[allow(clippy::too_many_arguments)]
#[track_caller]
fn attack_after_the_restarts(
    inner: &Inner,
    anchor: &Anchor,
    older: &BTreeMap<Key, Vec<u8>>,
    before: &BTreeMap<Key, Holds>,
    later: &[Key],
    removed: &Key,
    model: &mut Model,
    ctx: &str,
) {
    let ctx = format!("{ctx}, attacked");
    let now = records_of(inner);
    for (names, v) in older {
        if now.get(names) != Some(v) {
            KVStoreSync::write(inner.inner(), &names.0, &names.1, &names.2, v.clone()).unwrap();
        }
    }
    let mut deleted = 0;
    for names in now.keys() {
        if !older.contains_key(names) {
            KVStoreSync::remove(inner.inner(), &names.0, &names.1, &names.2, false).unwrap();
            deleted += 1;
        }
    }
    assert!(deleted > 0, "{ctx}: later wrote keys that were absent");
    let store = open(inner, anchor).unwrap_or_else(|e| panic!("{ctx}: open: {e:?}"));
    let typed = |e: &io::Error| {
        e.get_ref()
            .and_then(|i| i.downcast_ref::<ReadError>())
            .cloned()
    };
    let mut refused = 0;
    for k in later {
        let e = KVStoreSync::read(&store, &k.0, &k.1, &k.2)
            .err()
            .unwrap_or_else(|| panic!("{ctx}: {k:?} was served, {:?} before", before[k]));
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{ctx}: {k:?}: {e:?}");
        let ok = match (&before[k], typed(&e)) {
            (Holds::Value(_), Some(ReadError::Rollback { .. })) => true,
            // An orphan record the store judged absent may be what is put back (a torn one, or
            // one under a retired key, reads as absent too while the key is absent, so the
            // snapshot cannot tell it from none).
            (
                Holds::Absent,
                Some(
                    ReadError::Missing { .. }
                    | ReadError::Rollback { .. }
                    | ReadError::AuthenticationFailed { .. },
                ),
            ) => true,
            (
                Holds::Torn,
                Some(ReadError::Rollback { .. } | ReadError::AuthenticationFailed { .. }),
            ) => true,
            (Holds::Retired, Some(ReadError::AuthenticationFailed { .. })) => true,
            _ => false,
        };
        assert!(ok, "{ctx}: {k:?} was {:?}, read {e:?}", before[k]);
        refused += 1;
    }
    assert_eq!(refused, later.len());
    let r = KVStoreSync::read(&store, &removed.0, &removed.1, &removed.2);
    let e = r
        .err()
        .unwrap_or_else(|| panic!("{ctx}: the removed key was served"));
    match &before[removed] {
        Holds::Value(_) => assert!(
            matches!(typed(&e), Some(ReadError::Removed { .. })),
            "{ctx}: the resurrected record: {e:?}"
        ),
        // A torn record, or one under a retired key, of a key the store removed: absent
        // whatever lingers there (NotFound), never served.
        Holds::Torn | Holds::Retired => assert!(
            e.kind() == ErrorKind::NotFound && typed(&e).is_none(),
            "{ctx}: {e:?}"
        ),
        _ => assert_eq!(e.kind(), ErrorKind::NotFound, "{ctx}: {e:?}"),
    }
    // The keys nobody touched read as before.
    for k in universe() {
        if later.contains(&k) || &k == removed {
            continue;
        }
        if let Err(e) = model.read(&k, KVStoreSync::read(&store, &k.0, &k.1, &k.2), &ctx) {
            panic!("{ctx}: {k:?} refused: {e:?}");
        }
    }
    let e = MigratableKVStoreSync::list_all_keys(&store).unwrap_err();
    assert!(
        matches!(
            e.get_ref().and_then(|i| i.downcast_ref::<ListError>()),
            Some(ListError::Missing { .. })
        ),
        "{ctx}: list_all_keys: {e:?}"
    );
}

/// An error the workload saw: the injected fault, or a documented consequence of a fault that
/// already fired (`HeaderChanged`, `NotReencrypted`, or a torn record that fails
/// authentication in a rotation pass). Never a freshness refusal.
#[track_caller]
fn check_error(
    e: &(dyn std::error::Error + 'static),
    hit: bool,
    fired: bool,
    model: &Model,
    ctx: &str,
) {
    if hit && carries_fault(e) {
        return;
    }
    let consequence = match e.downcast_ref::<RotateError>() {
        Some(RotateError::Header(HeaderError::Changed)) => fired,
        Some(RotateError::NotReencrypted { .. }) => fired,
        Some(RotateError::Read(r)) => match r.get_ref().and_then(|i| i.downcast_ref::<ReadError>())
        {
            Some(ReadError::AuthenticationFailed {
                primary_namespace,
                secondary_namespace,
                key: k,
            }) => model.may(
                &key(primary_namespace, secondary_namespace, k),
                &Holds::Torn,
            ),
            _ => false,
        },
        _ => false,
    };
    assert!(
        consequence,
        "{ctx}: an error the fault does not explain: {e:?}"
    );
}

/// Every key and pair of the reopened store against the model: nothing refused, every value
/// as acknowledged (or, for a failed operation, its old or new state).
#[track_caller]
fn check_store(store: &Store, model: &mut Model, ctx: &str) {
    for k in universe() {
        let r = KVStoreSync::read(store, &k.0, &k.1, &k.2);
        if let Err(e) = model.read(&k, r, ctx) {
            panic!("{ctx}: {k:?} refused: {e:?}");
        }
    }
    for (p, s) in PAIRS {
        let l = KVStoreSync::list(store, p, s)
            .unwrap_or_else(|e| panic!("{ctx}: list {p}/{s} refused: {e:?}"));
        model.list((p, s), &l, ctx);
    }
    let all = MigratableKVStoreSync::list_all_keys(store)
        .unwrap_or_else(|e| panic!("{ctx}: list_all_keys refused: {e:?}"));
    model.check_all(all, ctx);
}

/// Every (operation index, loud kind) of `target`, in both `Then` modes. Returns the number of
/// cases run.
fn sweep(target: Target) -> usize {
    let started = Instant::now();
    let dry = run(None, Then::Continue);
    assert_eq!(dry.errors, 0, "the workload runs clean without a fault");
    let total = match target {
        Target::Inner => dry.inner_ops,
        Target::Anchor => dry.anchor_ops,
    };
    let mut cases = 0;
    let mut torn_refusals = 0;
    let mut with_errors = 0;
    for then in [Then::Continue, Then::Crash] {
        for kind in FAULT_KINDS {
            for n in 0..total {
                let o = run(Some((target, n, kind)), then);
                assert!(
                    o.fired,
                    "{target:?} {n} {kind:?} {then:?}: the fault never fired"
                );
                cases += 1;
                torn_refusals += usize::from(o.torn_refused);
                with_errors += usize::from(o.errors > 0);
            }
        }
    }
    println!(
        "anchored fault sweep, {target:?}: {total} operations (workload: {} inner, {} anchor), \
         {cases} (index, kind, then) cases, {with_errors} with an error seen by the workload, \
         {torn_refusals} torn writes refused at the reopen, {:.1} s",
        dry.inner_ops,
        dry.anchor_ops,
        started.elapsed().as_secs_f64()
    );
    cases
}

/// The dry run: the workload's shape (it removes, restarts, rotates) and its operation counts,
/// so that the sweeps below cover what they say; and what the anchor holds: `meta` and one
/// entry per live key, nothing for a removed key or one removed without ever being written.
#[test]
fn the_anchored_workload_runs_clean_and_the_anchor_holds_only_live_keys() {
    let inner = FaultyStore::new(TempFs::in_memory_fs());
    let anchor_dir = TempFs::in_memory_fs();
    let anchor = anchor_over(anchor_dir.clone());
    let dry = run(None, Then::Continue);
    assert_eq!(dry.errors, 0);
    assert!(dry.inner_ops > 60, "{dry:?}");
    assert!(dry.anchor_ops > 40, "{dry:?}");
    let store = OpenOptions::new()
        .anchor(anchor.clone())
        .create::<V, _>(
            inner.clone(),
            Credential::passphrase_with(PASSPHRASE, cheap()),
        )
        .unwrap();
    for i in 0..CHURN_WRITTEN {
        let k = churn(i);
        KVStoreSync::write(&store, &k.0, &k.1, &k.2, value(&k, 1)).unwrap();
    }
    let values = |a: &Anchor| a.inner().list(&hex(&store.info().store_id)).unwrap().len();
    assert_eq!(
        values(&anchor),
        1 + CHURN_WRITTEN,
        "meta and one entry per written key"
    );
    for i in 0..CHURN_REMOVES {
        let k = churn(i);
        KVStoreSync::remove(&store, &k.0, &k.1, &k.2, false).unwrap();
        assert_eq!(
            values(&anchor),
            1 + CHURN_WRITTEN.saturating_sub(i + 1),
            "after removing {k:?}"
        );
    }
    let k = churn(2);
    KVStoreSync::write(&store, &k.0, &k.1, &k.2, value(&k, 2)).unwrap();
    assert_eq!(values(&anchor), 2, "meta and the key written again");
}

fn hex(id: &[u8; 16]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_loud_inner_fault_then_a_crash_and_an_anchored_restart() {
    assert!(sweep(Target::Inner) > 0);
}

#[test]
fn every_loud_anchor_fault_then_a_crash_and_an_anchored_restart() {
    assert!(sweep(Target::Anchor) > 0);
}

/// The values the create and accept tests keep in their store.
fn small_data() -> Vec<(Key, Vec<u8>)> {
    [monitor("m1"), update("m1", 1), manager()]
        .into_iter()
        .map(|k| {
            let v = value(&k, 1);
            (k, v)
        })
        .collect()
}

#[track_caller]
fn check_small_data(store: &Store, ctx: &str) {
    for (k, v) in small_data() {
        let r = KVStoreSync::read(store, &k.0, &k.1, &k.2);
        assert_eq!(
            r.unwrap_or_else(|e| panic!("{ctx}: {k:?}: {e:?}")),
            v,
            "{ctx}"
        );
    }
}

/// Creating an anchored store writes the anchor's `meta`, then the header. A loud fault at
/// any inner or anchor operation of it fails `create` with that fault, and leaves either no
/// store (`NotInitialized`; a `meta` nobody reads; `create` again succeeds), a store that
/// opens with the anchor (the header write's acknowledgement lost), or a torn header
/// (`CorruptHeader`) or torn `meta` (`AnchorCorrupt`, then accepting the current state opens
/// it): never an anchored store its anchor refuses as rolled back.
#[test]
fn faults_while_creating_an_anchored_store() {
    let ops = |target: Target| {
        let inner = FaultyStore::new(TempFs::in_memory_fs());
        let anchor = anchor_over(TempFs::in_memory_fs());
        OpenOptions::new()
            .anchor(anchor.clone())
            .create::<V, _>(
                inner.clone(),
                Credential::passphrase_with(PASSPHRASE, cheap()),
            )
            .unwrap();
        match target {
            Target::Inner => inner.ops(),
            Target::Anchor => anchor.ops(),
        }
    };
    let mut cases = 0;
    for target in [Target::Inner, Target::Anchor] {
        for kind in FAULT_KINDS {
            for n in 0..ops(target) {
                let ctx = format!("create: {target:?} {n} {kind:?}");
                let inner = FaultyStore::new(TempFs::in_memory_fs());
                let anchor = anchor_over(TempFs::in_memory_fs());
                match target {
                    Target::Inner => inner.arm(n, kind),
                    Target::Anchor => anchor.arm(n, kind),
                }
                let r = OpenOptions::new().anchor(anchor.clone()).create::<V, _>(
                    inner.clone(),
                    Credential::passphrase_with(PASSPHRASE, cheap()),
                );
                match r {
                    Err(e) => assert!(carries_fault(&e), "{ctx}: {e:?}"),
                    Ok(_) => panic!("{ctx}: the fault was swallowed"),
                }
                inner.disarm();
                anchor.disarm();
                let store = match open(&inner, &anchor) {
                    Ok(s) => s,
                    Err(OpenError::NotInitialized) => OpenOptions::new()
                        .anchor(anchor.clone())
                        .create::<V, _>(
                            inner.clone(),
                            Credential::passphrase_with(PASSPHRASE, cheap()),
                        )
                        .unwrap_or_else(|e| panic!("{ctx}: create again: {e:?}")),
                    Err(OpenError::CorruptHeader { .. }) if torn(target, kind, Target::Inner) => {
                        cases += 1;
                        continue;
                    }
                    Err(OpenError::AnchorCorrupt { .. }) if torn(target, kind, Target::Anchor) => {
                        OpenOptions::new()
                            .anchor(anchor.clone())
                            .accept_current_state::<V, _>(
                                inner.clone(),
                                Credential::passphrase(PASSPHRASE),
                            )
                            .unwrap_or_else(|e| panic!("{ctx}: accept: {e:?}"))
                    }
                    Err(e) => panic!("{ctx}: {e:?}"),
                };
                for (k, v) in small_data() {
                    KVStoreSync::write(&store, &k.0, &k.1, &k.2, v).unwrap();
                }
                drop(store);
                check_small_data(&open(&inner, &anchor).unwrap(), &ctx);
                cases += 1;
            }
        }
    }
    assert!(cases > 6, "{cases}");
}

fn torn(target: Target, kind: FaultKind, side: Target) -> bool {
    target == side && kind == FaultKind::TornWrite
}

/// Accepting the current state (here of a whole older copy of the store put back on purpose,
/// which the anchor refuses as `HeaderRolledBack`) with a loud fault at any inner or anchor
/// operation: it fails with that fault (or, where the faulted call's failure changes nothing,
/// succeeds with every value exact), and what it leaves either opens with the anchor (the
/// commit point, the anchor's `meta`, was written) or is refused as before the acceptance
/// (`HeaderRolledBack`), or with `AnchorCorrupt` after a torn `meta`; running it again opens
/// the store with every value as restored.
#[test]
fn faults_while_accepting_the_current_state() {
    let setup = || {
        let inner = FaultyStore::new(TempFs::in_memory_fs());
        let anchor = anchor_over(TempFs::in_memory_fs());
        let store = OpenOptions::new()
            .encrypt_names()
            .anchor(anchor.clone())
            .create::<V, _>(
                inner.clone(),
                Credential::passphrase_with(PASSPHRASE, cheap()),
            )
            .unwrap();
        for (k, v) in small_data() {
            KVStoreSync::write(&store, &k.0, &k.1, &k.2, v).unwrap();
        }
        drop(store);
        let copy = MigratableKVStoreSync::list_all_keys(inner.inner())
            .unwrap()
            .into_iter()
            .map(|(p, s, k)| {
                let v = KVStoreSync::read(inner.inner(), &p, &s, &k).unwrap();
                ((p, s, k), v)
            })
            .collect::<Vec<_>>();
        let store = open(&inner, &anchor).unwrap();
        KVStoreSync::write(&store, MONITORS, "", "m1", b"newer".to_vec()).unwrap();
        drop(store);
        // The newer m1 record of the timeline the accept abandons.
        let newer: Vec<(Key, Vec<u8>)> = records_of(&inner)
            .into_iter()
            .filter(|(names, v)| copy.iter().any(|(c, cv)| c == names && cv != v))
            .collect();
        assert_eq!(newer.len(), 1, "only m1 was rewritten");
        for ((p, s, k), v) in copy {
            KVStoreSync::write(inner.inner(), &p, &s, &k, v).unwrap();
        }
        assert!(matches!(
            open(&inner, &anchor),
            Err(OpenError::HeaderRolledBack { .. })
        ));
        (inner, anchor, newer.into_iter().next().unwrap())
    };
    let accept = |inner: &Inner, anchor: &Anchor| {
        OpenOptions::new()
            .anchor(anchor.clone())
            .accept_current_state::<V, _>(inner.clone(), Credential::passphrase(PASSPHRASE))
    };
    let ops = |target: Target| {
        let (inner, anchor, _) = setup();
        let (i, a) = (inner.ops(), anchor.ops());
        accept(&inner, &anchor).unwrap();
        match target {
            Target::Inner => inner.ops() - i,
            Target::Anchor => anchor.ops() - a,
        }
    };
    let mut cases = 0;
    for target in [Target::Inner, Target::Anchor] {
        for kind in FAULT_KINDS {
            for n in 0..ops(target) {
                let ctx = format!("accept: {target:?} {n} {kind:?}");
                let (inner, anchor, newer) = setup();
                match target {
                    Target::Inner => inner.arm(inner.ops() + n, kind),
                    Target::Anchor => anchor.arm(anchor.ops() + n, kind),
                }
                match accept(&inner, &anchor) {
                    Err(e) => assert!(carries_fault(&e), "{ctx}: {e:?}"),
                    // An accept that is `Ok` although its fault fired: the fault hit a call
                    // whose failure changes nothing (a best-effort removal of an old epoch's
                    // value after the commit point, or the header read a read-only reader
                    // makes beside each record and uses only for a record under a key it
                    // lacks). Then what it accepted must be exact: every value, and the
                    // abandoned timeline refused.
                    Ok(s) => {
                        assert_eq!(
                            anchor.fires() + inner.fires(),
                            1,
                            "{ctx}: accepted, and the fault never fired"
                        );
                        check_small_data(&s, &ctx);
                        check_abandoned_refused(&s, &newer, &ctx);
                    }
                }
                inner.disarm();
                anchor.disarm();
                match open(&inner, &anchor) {
                    // The accept committed (its `meta` was written): every value as restored,
                    // the abandoned timeline refused.
                    Ok(s) if accepted(&s) => {
                        check_small_data(&s, &ctx);
                        check_abandoned_refused(&s, &newer, &ctx);
                    }
                    // Its header write landed and its `meta` did not: the header's sequence
                    // number caught up with the anchor's, which is still in force, so the
                    // store opens and each restored record older than the anchor knows is
                    // refused (`Rollback`), never served.
                    Ok(s) => check_small_data_refused_or_read(&s, &ctx),
                    Err(OpenError::HeaderRolledBack { .. }) => {}
                    Err(OpenError::AnchorCorrupt { .. }) if torn(target, kind, Target::Anchor) => {}
                    Err(OpenError::CorruptHeader { .. }) if torn(target, kind, Target::Inner) => {
                        cases += 1;
                        continue;
                    }
                    Err(e) => panic!("{ctx}: {e:?}"),
                }
                let s = accept(&inner, &anchor)
                    .unwrap_or_else(|e| panic!("{ctx}: accepting again: {e:?}"));
                check_small_data(&s, &ctx);
                check_abandoned_refused(&s, &newer, &ctx);
                drop(s);
                let s = open(&inner, &anchor).unwrap();
                check_small_data(&s, &ctx);
                check_abandoned_refused(&s, &newer, &ctx);
                cases += 1;
            }
        }
    }
    assert!(cases > 20, "{cases}");
}

/// Whether every value of [`small_data`] reads back as written.
fn accepted(store: &Store) -> bool {
    small_data()
        .into_iter()
        .all(|(k, v)| KVStoreSync::read(store, &k.0, &k.1, &k.2).ok() == Some(v))
}

/// Every value of [`small_data`] reads back as written or is refused as `Rollback`, and at
/// least one is refused.
#[track_caller]
fn check_small_data_refused_or_read(store: &Store, ctx: &str) {
    let mut refused = 0;
    for (k, v) in small_data() {
        match KVStoreSync::read(store, &k.0, &k.1, &k.2) {
            Ok(got) => assert_eq!(got, v, "{ctx}: {k:?}"),
            Err(e) => {
                assert!(
                    matches!(
                        e.get_ref().and_then(|i| i.downcast_ref::<ReadError>()),
                        Some(ReadError::Rollback { .. })
                    ),
                    "{ctx}: {k:?}: {e:?}"
                );
                refused += 1;
            }
        }
    }
    assert!(refused > 0, "{ctx}");
}

/// The record of the timeline an accept abandoned, put back: refused as `Rollback` (its
/// version is below the accept mark), then the accepted record is restored.
#[track_caller]
fn check_abandoned_refused(store: &Store, (names, record): &(Key, Vec<u8>), ctx: &str) {
    let raw = store.inner().inner();
    let accepted = KVStoreSync::read(raw, &names.0, &names.1, &names.2).unwrap();
    KVStoreSync::write(raw, &names.0, &names.1, &names.2, record.clone()).unwrap();
    let e = KVStoreSync::read(store, MONITORS, "", "m1").unwrap_err();
    assert!(
        matches!(
            e.get_ref().and_then(|i| i.downcast_ref::<ReadError>()),
            Some(ReadError::Rollback { .. })
        ),
        "{ctx}: the abandoned timeline's m1: {e:?}"
    );
    KVStoreSync::write(raw, &names.0, &names.1, &names.2, accepted).unwrap();
}
