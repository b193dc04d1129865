//! Freshness watermarks of format v2 (docs/FORMAT.md, "Freshness"): a pure state machine, no
//! I/O. The store layer reports each operation twice, when it is issued (before the inner call)
//! and when it completes, through tickets that are returned exactly once (a dropped future
//! returns its ticket from a drop guard), and turns the refusals into its error variants.
//!
//! The rules differ from the document's first draft where that draft gave false alarms under
//! async interleavings; FORMAT.md states the rules as implemented here.

// The store layer that calls this API is written in parallel; until it lands nothing outside
// the tests calls it.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A non-lazy pair with more `Removed` entries than this after a hard remove is folded; a lazy
/// pair drops its oldest down to this.
const COMPACT_ABOVE: usize = 32;
/// A pair with more `Removed` entries than this after a failed fold drops its oldest down to
/// `COMPACT_ABOVE`.
const CAP_ABOVE: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The key holds a record of version ≥ `version`.
    Live,
    /// The key is absent or holds a record of version ≥ `version`.
    MaybeRemoved,
    /// The key is absent or holds a record of version > `version`.
    Removed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    kind: Kind,
    version: u64,
    /// The version of the operation that set the entry.
    op: u64,
}

impl Entry {
    fn live(v: u64) -> Self {
        Entry {
            kind: Kind::Live,
            version: v,
            op: v,
        }
    }
    fn maybe_removed(v: u64, op: u64) -> Self {
        Entry {
            kind: Kind::MaybeRemoved,
            version: v,
            op,
        }
    }
    fn removed(t: u64) -> Self {
        Entry {
            kind: Kind::Removed,
            version: t,
            op: t,
        }
    }
}

/// Bookkeeping of one key while something is in flight for it; dropped when nothing is.
#[derive(Debug, Default)]
struct Flight {
    /// The version of the latest issued write or remove of the key (0: none while in flight).
    latest: u64,
    /// How many writes and removes of the key were issued since this record was created.
    issued: u64,
    reads: usize,
    mutations: usize,
    removes: usize,
}

impl Flight {
    fn idle(&self) -> bool {
        self.reads == 0 && self.mutations == 0
    }
}

/// Everything kept for one namespace pair: its pair record (`floor`, `lazy`), the entries of its
/// keys, and the in-flight bookkeeping. Dropped when it holds nothing.
#[derive(Debug, Default)]
struct Pair {
    floor: u64,
    lazy: bool,
    entries: BTreeMap<String, Entry>,
    /// The `Removed` entries of `entries`, by tombstone version: compaction drops the oldest.
    removed: BTreeSet<(u64, String)>,
    flights: BTreeMap<String, Flight>,
    /// Writes and removes of the pair issued and not yet done.
    mutations_in_flight: usize,
    /// The store-wide issue sequence number of the latest write or remove issued in the pair.
    last_issue: u64,
}

impl Pair {
    fn entry(&self, key: &str) -> Option<Entry> {
        self.entries.get(key).copied()
    }

    /// Sets or deletes the entry of `key`, keeping the index of `Removed` entries.
    fn set(&mut self, key: &str, entry: Option<Entry>) {
        let old = match (entry, self.entries.get_mut(key)) {
            (Some(e), Some(slot)) => Some(std::mem::replace(slot, e)),
            (Some(e), None) => self.entries.insert(key.to_owned(), e),
            (None, _) => self.entries.remove(key),
        };
        if let Some(Entry {
            kind: Kind::Removed,
            version,
            ..
        }) = old
        {
            self.removed.remove(&(version, key.to_owned()));
        }
        if let Some(Entry {
            kind: Kind::Removed,
            version,
            ..
        }) = entry
        {
            self.removed.insert((version, key.to_owned()));
        }
    }

    /// Drops the `Removed` entries with the smallest tombstone versions until `keep` remain
    /// (a weakening: those keys' resurrection is no longer detected).
    fn drop_oldest_tombstones(&mut self, keep: usize) {
        while self.removed.len() > keep {
            match self.removed.pop_first() {
                Some((_, key)) => {
                    self.entries.remove(&key);
                }
                None => break,
            }
        }
    }

    /// Holds nothing that differs from an absent pair.
    fn empty(&self) -> bool {
        self.entries.is_empty() && self.flights.is_empty() && self.floor == 0 && !self.lazy
    }
}

/// Why a read was refused; the store layer adds the names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A record older than the watermark.
    Rollback { found: u64, expected_at_least: u64 },
    /// No record where one of this version (or newer) must be.
    Missing { expected_version: u64 },
    /// A record at or below a tombstone (or the pair's floor).
    Resurrected { found: u64, removed_at: u64 },
}

/// Why a `list` was refused: the smallest key, in byte order, that must be listed and is not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ListRefusal {
    pub key: String,
    pub expected_version: u64,
}

/// A read in flight: its names and the state noted when it was issued.
#[must_use]
#[derive(Debug)]
pub(crate) struct ReadTicket {
    primary: String,
    secondary: String,
    key: String,
    entry: Option<Entry>,
    floor: u64,
    /// `Flight::issued` of the key at issue: a different value at completion means a write or
    /// remove of the key was issued while the read was in flight.
    issued: u64,
    remove_in_flight: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mutation {
    Write,
    HardRemove,
    LazyRemove,
}

/// A write or remove in flight.
#[must_use]
#[derive(Debug)]
pub(crate) struct MutationTicket {
    primary: String,
    secondary: String,
    key: String,
    version: u64,
    what: Mutation,
}

/// A `list` in flight: the pair and its `Live` entries when it was issued.
#[must_use]
#[derive(Debug)]
pub(crate) struct ListTicket {
    primary: String,
    secondary: String,
    live: Vec<(String, u64)>,
}

/// A pair to fold: list it, read `fold_candidates` through the read path, then `fold_commit`
/// (or `fold_failed` if the list or a read failed, or the fold was dropped). Every request ends
/// in exactly one of the two, which keeps the pair at 64 tombstones or fewer.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FoldRequest {
    pub primary: String,
    pub secondary: String,
    /// The issue sequence number when the fold was requested, if no write or remove of the
    /// pair was in flight then; `None`: the fold cannot commit (it is requested anyway, so that
    /// its failure counts toward the cap).
    mark: Option<u64>,
}

/// What the state holds, for the memory bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sizes {
    /// Entries of every kind.
    pub entries: usize,
    /// The `Removed` entries among them.
    pub tombstones: usize,
    /// Pair records (a floor above 0, or `lazy`).
    pub pairs: usize,
    /// Keys with an operation in flight.
    pub in_flight: usize,
}

/// The watermarks of one open store (docs/FORMAT.md, "Freshness").
#[derive(Debug)]
pub(crate) struct Freshness {
    read_only: bool,
    /// primary → secondary → pair.
    pairs: BTreeMap<String, BTreeMap<String, Pair>>,
    /// Store-wide sequence number of issued writes and removes.
    seq: u64,
    compact_above: usize,
    cap_above: usize,
}

/// The check of a found record of version `r` against one moment's state.
fn check(entry: Option<Entry>, floor: u64, r: u64) -> Result<(), Refusal> {
    match entry {
        Some(Entry {
            kind: Kind::Live | Kind::MaybeRemoved,
            version,
            ..
        }) if r < version => Err(Refusal::Rollback {
            found: r,
            expected_at_least: version,
        }),
        Some(Entry {
            kind: Kind::Removed,
            version,
            ..
        }) if r <= version => Err(Refusal::Resurrected {
            found: r,
            removed_at: version,
        }),
        None if r < floor => Err(Refusal::Resurrected {
            found: r,
            removed_at: floor,
        }),
        _ => Ok(()),
    }
}

impl Freshness {
    /// Empty watermarks. `read_only`: the instance never writes, and records what it reads as
    /// `MaybeRemoved` (another instance may remove it).
    pub(crate) fn new(read_only: bool) -> Self {
        Self::with_limits(read_only, COMPACT_ABOVE, CAP_ABOVE)
    }

    fn with_limits(read_only: bool, compact_above: usize, cap_above: usize) -> Self {
        Freshness {
            read_only,
            pairs: BTreeMap::new(),
            seq: 0,
            compact_above,
            cap_above,
        }
    }

    fn pair(&self, p: &str, s: &str) -> Option<&Pair> {
        self.pairs.get(p).and_then(|m| m.get(s))
    }

    fn pair_mut(&mut self, p: &str, s: &str) -> &mut Pair {
        self.pairs
            .entry(p.to_owned())
            .or_default()
            .entry(s.to_owned())
            .or_default()
    }

    fn existing_pair_mut(&mut self, p: &str, s: &str) -> Option<&mut Pair> {
        self.pairs.get_mut(p).and_then(|m| m.get_mut(s))
    }

    /// Drops the pair if it holds nothing, and the primary if it has no pair left.
    fn tidy(&mut self, p: &str, s: &str) {
        if let Some(m) = self.pairs.get_mut(p) {
            if m.get(s).is_some_and(Pair::empty) {
                m.remove(s);
            }
            if m.is_empty() {
                self.pairs.remove(p);
            }
        }
    }

    /// A read of `p/s/k` is about to be made: notes the issue-time state.
    pub(crate) fn read_issued(&mut self, p: &str, s: &str, k: &str) -> ReadTicket {
        let pair = self.pair_mut(p, s);
        let entry = pair.entry(k);
        let floor = pair.floor;
        let flight = pair.flights.entry(k.to_owned()).or_default();
        flight.reads += 1;
        ReadTicket {
            primary: p.to_owned(),
            secondary: s.to_owned(),
            key: k.to_owned(),
            entry,
            floor,
            issued: flight.issued,
            remove_in_flight: flight.removes > 0,
        }
    }

    /// Releases the read's in-flight bookkeeping; returns whether a write or remove of the key
    /// was issued while it was in flight, or a remove was in flight when it was issued.
    fn release_read(pair: &mut Pair, t: &ReadTicket) -> bool {
        let Some(flight) = pair.flights.get_mut(&t.key) else {
            return true;
        };
        flight.reads = flight.reads.saturating_sub(1);
        let raced = t.remove_in_flight || flight.issued != t.issued;
        if flight.idle() {
            pair.flights.remove(&t.key);
        }
        raced
    }

    /// The read found a record of `version` (0: a legacy v1 record). It is refused only if both
    /// the issue-time and the current state refuse it (the issue-time refusal is returned).
    /// When accepted, the entry is raised unless the read raced a write or remove of the key.
    pub(crate) fn read_found(&mut self, t: ReadTicket, version: u64) -> Result<(), Refusal> {
        let read_only = self.read_only;
        let pair = self.pair_mut(&t.primary, &t.secondary);
        let now = pair.entry(&t.key);
        let verdict = match check(t.entry, t.floor, version) {
            Ok(()) => Ok(()),
            Err(refusal) => check(now, pair.floor, version).map_err(|_| refusal),
        };
        let raced = Self::release_read(pair, &t);
        if verdict.is_ok() && !raced && now.is_none_or(|e| e.op <= version) {
            // In a lazy pair a key that is not known `Live` may still have a lazy removal
            // pending: what was read may disappear.
            let keep_maybe = read_only || (pair.lazy && now.is_none_or(|e| e.kind != Kind::Live));
            let entry = if keep_maybe {
                Entry::maybe_removed(version, version)
            } else {
                Entry::live(version)
            };
            pair.set(&t.key, Some(entry));
        }
        self.tidy(&t.primary, &t.secondary);
        verdict
    }

    /// The read found nothing: refused (`Missing`) only if the key was `Live(v)` with the same
    /// `v` both at issue and now.
    pub(crate) fn read_missing(&mut self, t: ReadTicket) -> Result<(), Refusal> {
        let pair = self.pair_mut(&t.primary, &t.secondary);
        let now = pair.entry(&t.key);
        Self::release_read(pair, &t);
        let verdict = match (t.entry, now) {
            (
                Some(
                    at_issue @ Entry {
                        kind: Kind::Live,
                        version,
                        ..
                    },
                ),
                Some(now),
            ) if at_issue == now => Err(Refusal::Missing {
                expected_version: version,
            }),
            _ => Ok(()),
        };
        self.tidy(&t.primary, &t.secondary);
        verdict
    }

    /// The read failed (inner error, authentication failure) or was dropped.
    pub(crate) fn read_abandoned(&mut self, t: ReadTicket) {
        let pair = self.pair_mut(&t.primary, &t.secondary);
        Self::release_read(pair, &t);
        self.tidy(&t.primary, &t.secondary);
    }

    fn mutation_issued(
        &mut self,
        p: &str,
        s: &str,
        k: &str,
        version: u64,
        what: Mutation,
    ) -> MutationTicket {
        self.seq = self.seq.saturating_add(1);
        let seq = self.seq;
        let pair = self.pair_mut(p, s);
        pair.mutations_in_flight += 1;
        pair.last_issue = seq;
        let flight = pair.flights.entry(k.to_owned()).or_default();
        flight.latest = version;
        flight.issued = flight.issued.saturating_add(1);
        flight.mutations += 1;
        if what != Mutation::Write {
            flight.removes += 1;
        }
        match what {
            Mutation::Write => {}
            Mutation::HardRemove => {
                if let Some(Entry {
                    kind: Kind::Live | Kind::MaybeRemoved,
                    version: v,
                    ..
                }) = pair.entry(k)
                {
                    pair.set(k, Some(Entry::maybe_removed(v, version)));
                }
            }
            Mutation::LazyRemove => {
                pair.lazy = true;
                pair.floor = 0;
                pair.set(k, None);
            }
        }
        MutationTicket {
            primary: p.to_owned(),
            secondary: s.to_owned(),
            key: k.to_owned(),
            version,
            what,
        }
    }

    /// A write of `version` is about to be made. Versions must be issued in increasing order
    /// (take the version and call this under one lock, before the inner call).
    pub(crate) fn write_issued(
        &mut self,
        p: &str,
        s: &str,
        k: &str,
        version: u64,
    ) -> MutationTicket {
        self.mutation_issued(p, s, k, version, Mutation::Write)
    }

    /// A remove taking `version` is about to be made: a hard remove weakens a `Live` entry to
    /// `MaybeRemoved`; a lazy one deletes the entry and makes the pair `lazy` with floor 0.
    pub(crate) fn remove_issued(
        &mut self,
        p: &str,
        s: &str,
        k: &str,
        version: u64,
        lazy: bool,
    ) -> MutationTicket {
        let what = if lazy {
            Mutation::LazyRemove
        } else {
            Mutation::HardRemove
        };
        self.mutation_issued(p, s, k, version, what)
    }

    /// The write or remove returned (`ok`: the inner call succeeded; `false` also for a dropped
    /// future). Returns a fold to run when a hard remove left a non-lazy pair with more than 32
    /// tombstones.
    pub(crate) fn mutation_done(&mut self, t: MutationTicket, ok: bool) -> Option<FoldRequest> {
        let seq = self.seq;
        let compact_above = self.compact_above;
        let pair = self.existing_pair_mut(&t.primary, &t.secondary)?;
        pair.mutations_in_flight = pair.mutations_in_flight.saturating_sub(1);
        let mut own = false;
        if let Some(flight) = pair.flights.get_mut(&t.key) {
            flight.mutations = flight.mutations.saturating_sub(1);
            if t.what != Mutation::Write {
                flight.removes = flight.removes.saturating_sub(1);
            }
            own = flight.latest == t.version;
            if flight.idle() {
                pair.flights.remove(&t.key);
            }
        }
        let mut fold = None;
        if own && !ok {
            pin_after_failure(pair, &t);
        } else if own {
            match t.what {
                Mutation::Write => pair.set(&t.key, Some(Entry::live(t.version))),
                Mutation::LazyRemove => {}
                Mutation::HardRemove => {
                    pair.set(&t.key, Some(Entry::removed(t.version)));
                    if pair.removed.len() > compact_above {
                        if pair.lazy {
                            pair.drop_oldest_tombstones(compact_above);
                        } else {
                            fold = Some(FoldRequest {
                                primary: t.primary.clone(),
                                secondary: t.secondary.clone(),
                                mark: (pair.mutations_in_flight == 0).then_some(seq),
                            });
                        }
                    }
                }
            }
        }
        self.tidy(&t.primary, &t.secondary);
        fold
    }

    /// A `list` of the pair is about to be made: notes its `Live` entries.
    pub(crate) fn list_issued(&mut self, p: &str, s: &str) -> ListTicket {
        let live = self
            .pair(p, s)
            .map(|pair| {
                pair.entries
                    .iter()
                    .filter(|(_, e)| e.kind == Kind::Live)
                    .map(|(k, e)| (k.clone(), e.version))
                    .collect()
            })
            .unwrap_or_default();
        ListTicket {
            primary: p.to_owned(),
            secondary: s.to_owned(),
            live,
        }
    }

    /// The list returned `listed`: refused for the smallest key that was `Live(v)` with the same
    /// `v` at issue and now, and is not listed.
    pub(crate) fn list_done(
        &mut self,
        t: ListTicket,
        listed: &[String],
    ) -> Result<(), ListRefusal> {
        if t.live.is_empty() {
            return Ok(());
        }
        let listed: HashSet<&str> = listed.iter().map(String::as_str).collect();
        let Some(pair) = self.pair(&t.primary, &t.secondary) else {
            return Ok(());
        };
        // `t.live` is in key order (from a BTreeMap): the first hit is the smallest key.
        for (key, version) in &t.live {
            if pair.entry(key) == Some(Entry::live(*version)) && !listed.contains(key.as_str()) {
                return Err(ListRefusal {
                    key: key.clone(),
                    expected_version: *version,
                });
            }
        }
        Ok(())
    }

    /// The list failed or was dropped.
    pub(crate) fn list_abandoned(&mut self, t: ListTicket) {
        drop(t);
    }

    /// The keys of the fold's listing to read through the read path before `fold_commit`:
    /// those with no entry or a `Removed` entry.
    pub(crate) fn fold_candidates(&self, pair: &FoldRequest, listed: &[String]) -> Vec<String> {
        let state = self.pair(&pair.primary, &pair.secondary);
        listed
            .iter()
            .filter(|k| {
                state
                    .and_then(|st| st.entry(k))
                    .is_none_or(|e| e.kind == Kind::Removed)
            })
            .cloned()
            .collect()
    }

    /// Raises the pair's floor to its largest tombstone and deletes its `Removed` entries, if
    /// that is still safe: the pair is not lazy, no write or remove of it was in flight when the
    /// fold was requested nor issued since (so `listed`, listed after the request, is the pair's
    /// content now), and every listed key has an entry other than `Removed`. Otherwise the fold
    /// counts as failed. Returns whether it committed.
    pub(crate) fn fold_commit(&mut self, pair: &FoldRequest, listed: &[String]) -> bool {
        let cap_above = self.cap_above;
        let compact_above = self.compact_above;
        let Some(state) = self.existing_pair_mut(&pair.primary, &pair.secondary) else {
            return false;
        };
        let safe = !state.lazy
            && state.mutations_in_flight == 0
            && pair.mark.is_some_and(|mark| state.last_issue <= mark)
            && listed
                .iter()
                .all(|k| state.entry(k).is_some_and(|e| e.kind != Kind::Removed));
        let top = state.removed.last().map(|(t, _)| *t);
        match (safe, top) {
            (true, Some(top)) => {
                state.floor = state.floor.max(top);
                for (_, key) in std::mem::take(&mut state.removed) {
                    state.entries.remove(&key);
                }
                true
            }
            (true, None) => false,
            (false, _) => {
                if state.removed.len() > cap_above {
                    state.drop_oldest_tombstones(compact_above);
                }
                false
            }
        }
    }

    /// The fold's list or one of its reads failed, or it was dropped: if the pair holds more
    /// than 64 tombstones, the oldest are dropped down to 32.
    pub(crate) fn fold_failed(&mut self, pair: &FoldRequest) {
        let (cap_above, compact_above) = (self.cap_above, self.compact_above);
        if let Some(state) = self.existing_pair_mut(&pair.primary, &pair.secondary) {
            if state.removed.len() > cap_above {
                state.drop_oldest_tombstones(compact_above);
            }
        }
        self.tidy(&pair.primary, &pair.secondary);
    }

    /// What the state holds.
    pub(crate) fn sizes(&self) -> Sizes {
        let mut sizes = Sizes {
            entries: 0,
            tombstones: 0,
            pairs: 0,
            in_flight: 0,
        };
        for pair in self.pairs.values().flat_map(BTreeMap::values) {
            sizes.entries += pair.entries.len();
            sizes.tombstones += pair.removed.len();
            sizes.pairs += usize::from(pair.floor > 0 || pair.lazy);
            sizes.in_flight += pair.flights.len();
        }
        sizes
    }
}

/// After a failed (or dropped) write or hard remove that was the key's latest: the call may
/// still land later, so the entry is weakened to admit its effect and pinned so that a later
/// fold's floor cannot exclude it. A write can only add a newer record: a `Removed(x)` entry
/// becomes `MaybeRemoved(x + 1)` (the same check, but kept by folds) and a key without entry
/// `MaybeRemoved(floor)`. A remove can make the key absent: `Live(v)` becomes
/// `MaybeRemoved(v)` too. The op is the failed call's version, so a read of an older record
/// does not raise the entry back.
fn pin_after_failure(pair: &mut Pair, t: &MutationTicket) {
    let floor = pair.floor;
    let pinned = match (t.what, pair.entry(&t.key)) {
        (Mutation::LazyRemove, _) => return,
        (Mutation::Write, Some(e)) if e.kind != Kind::Removed => return,
        (Mutation::HardRemove, Some(e)) if e.kind != Kind::Removed => {
            Entry::maybe_removed(e.version, e.op.max(t.version))
        }
        (_, Some(e)) => {
            let v = e.version.saturating_add(1);
            Entry::maybe_removed(v, t.version.max(v))
        }
        (_, None) => Entry::maybe_removed(floor, t.version),
    };
    pair.set(&t.key, Some(pinned));
}
