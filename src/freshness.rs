//! Freshness watermarks (docs/FORMAT.md, "Freshness"): a pure state machine, no
//! I/O. The store layer reports each operation twice, when it is issued (before the inner call)
//! and when it completes, through tickets that are returned exactly once (a dropped future
//! returns its ticket from a drop guard), and turns the refusals into its error variants.
//!
//! FORMAT.md states these rules, including the ones that keep asynchronous interleavings free
//! of false alarms.

use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A non-lazy pair with more `Removed` entries than this after a hard remove is folded; a lazy
/// pair drops its oldest down to this.
const COMPACT_ABOVE: usize = 32;
/// A pair with more `Removed` entries than this after a failed fold drops its oldest down to
/// `COMPACT_ABOVE`.
const CAP_ABOVE: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The key holds a record of version ≥ `version`.
    Live,
    /// The key is absent or holds a record of version ≥ `version`.
    MaybeRemoved,
    /// The key is absent or holds a record of version > `version`.
    Removed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) kind: Kind,
    pub(crate) version: u64,
    /// The version of the operation that set the entry.
    pub(crate) op: u64,
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
    fn drop_oldest_tombstones(&mut self, keep: usize) -> Vec<String> {
        let mut dropped = Vec::new();
        while self.removed.len() > keep {
            match self.removed.pop_first() {
                Some((_, key)) => {
                    self.entries.remove(&key);
                    dropped.push(key);
                }
                None => break,
            }
        }
        dropped
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
    pub(crate) primary: String,
    pub(crate) secondary: String,
    pub(crate) live: Vec<(String, u64)>,
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

/// What the state holds, for the memory bound (measured by the tests).
#[cfg(test)]
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
    /// Whether changes are recorded in `dirty` (a writable instance with an anchor).
    tracking: bool,
    dirty: Dirty,
}

/// What changed since the anchor was last brought up to date: the names of the keys and pairs
/// whose state must be written to it (their current state, whatever it is then).
#[derive(Debug, Default)]
pub(crate) struct Dirty {
    pub(crate) pairs: BTreeSet<(String, String)>,
    pub(crate) keys: BTreeSet<(String, String, String)>,
}

/// The current state of the keys and pairs of a [`Dirty`], for the anchor.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Pair records: `(floor, lazy)`; `(0, false)` is the default (no record).
    pub(crate) pairs: Vec<((String, String), (u64, bool))>,
    /// Entries; `None`: the key has none.
    pub(crate) keys: Vec<((String, String, String), Option<Entry>)>,
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
            tracking: false,
            dirty: Dirty::default(),
        }
    }

    /// From now on, records which keys and pairs change, for [`take_changes`](Self::take_changes).
    pub(crate) fn track_changes(&mut self, on: bool) {
        self.tracking = on;
        if !on {
            self.dirty = Dirty::default();
        }
    }

    fn mark_key(&mut self, p: &str, s: &str, k: &str) {
        if self.tracking {
            self.dirty
                .keys
                .insert((p.to_owned(), s.to_owned(), k.to_owned()));
        }
    }

    fn mark_pair(&mut self, p: &str, s: &str) {
        if self.tracking {
            self.dirty.pairs.insert((p.to_owned(), s.to_owned()));
        }
    }

    fn mark_keys(&mut self, p: &str, s: &str, keys: &[String]) {
        for k in keys {
            self.mark_key(p, s, k);
        }
    }

    /// Marks the keys of a fold's listing: after its reads, each has an entry that the anchor
    /// must hold too (FORMAT.md, "Compaction", step 2).
    pub(crate) fn mark_listed(&mut self, p: &str, s: &str, keys: &[String]) {
        self.mark_keys(p, s, keys);
    }

    /// The current state of everything that changed since the last call, and forgets it.
    pub(crate) fn take_changes(&mut self) -> Changes {
        let dirty = std::mem::take(&mut self.dirty);
        let pairs = dirty
            .pairs
            .into_iter()
            .map(|(p, s)| {
                let st = self.pair(&p, &s).map_or((0, false), |x| (x.floor, x.lazy));
                ((p, s), st)
            })
            .collect();
        let keys = dirty
            .keys
            .into_iter()
            .map(|(p, s, k)| {
                let e = self.pair(&p, &s).and_then(|x| x.entry(&k));
                ((p, s, k), e)
            })
            .collect();
        Changes { pairs, keys }
    }

    /// Gives back changes that could not be written to the anchor, to be written next time.
    pub(crate) fn untaken(
        &mut self,
        pairs: Vec<(String, String)>,
        keys: Vec<(String, String, String)>,
    ) {
        if self.tracking {
            self.dirty.pairs.extend(pairs);
            self.dirty.keys.extend(keys);
        }
    }

    /// Loads an entry persisted in the anchor (at open, before any operation).
    pub(crate) fn load_entry(&mut self, p: &str, s: &str, k: &str, entry: Entry) {
        self.pair_mut(p, s).set(k, Some(entry));
    }

    /// Loads a pair record persisted in the anchor (at open, before any operation).
    pub(crate) fn load_pair(&mut self, p: &str, s: &str, floor: u64, lazy: bool) {
        let pair = self.pair_mut(p, s);
        pair.floor = floor;
        pair.lazy = lazy;
        self.tidy(p, s);
    }

    /// Replaces the entry of a key by what the anchor holds now (a read-only instance, before
    /// it reports a key loaded from the anchor as missing).
    pub(crate) fn reload_entry(&mut self, p: &str, s: &str, k: &str, entry: Option<Entry>) {
        self.pair_mut(p, s).set(k, entry);
        self.tidy(p, s);
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

    /// The read found a record of `version`. It is refused only if both the issue-time and the
    /// current state refuse it (the issue-time refusal is returned).
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
                    self.mark_key(p, s, k);
                }
            }
            Mutation::LazyRemove => {
                let changed = !pair.lazy || pair.floor != 0;
                pair.lazy = true;
                pair.floor = 0;
                pair.set(k, None);
                if changed {
                    self.mark_pair(p, s);
                }
                self.mark_key(p, s, k);
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
        let mut dropped = Vec::new();
        let changed = own && (!ok || t.what != Mutation::LazyRemove);
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
                            dropped = pair.drop_oldest_tombstones(compact_above);
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
        if changed {
            self.mark_key(&t.primary, &t.secondary, &t.key);
        }
        self.mark_keys(&t.primary, &t.secondary, &dropped);
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

    /// A listing of every key (`list_all_keys`) is about to be made: the tickets of every pair
    /// that has `Live` entries.
    pub(crate) fn list_all_issued(&mut self) -> Vec<ListTicket> {
        let pairs: Vec<(String, String)> = self
            .pairs
            .iter()
            .flat_map(|(p, m)| m.keys().map(move |s| (p.clone(), s.clone())))
            .collect();
        pairs
            .into_iter()
            .map(|(p, s)| self.list_issued(&p, &s))
            .filter(|t| !t.live.is_empty())
            .collect()
    }

    /// The list returned `listed`: refused for the smallest key that was `Live(v)` with the same
    /// `v` at issue and now, and is not listed.
    pub(crate) fn list_done(
        &mut self,
        t: &ListTicket,
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
        let (committed, dropped) = match (safe, top) {
            (true, Some(top)) => {
                state.floor = state.floor.max(top);
                let mut dropped = Vec::new();
                for (_, key) in std::mem::take(&mut state.removed) {
                    state.entries.remove(&key);
                    dropped.push(key);
                }
                // The pair record first: the anchor must never hold the floor's absence
                // together with the tombstones' absence.
                self.mark_pair(&pair.primary, &pair.secondary);
                (true, dropped)
            }
            (true, None) => (false, Vec::new()),
            (false, _) => {
                let dropped = if state.removed.len() > cap_above {
                    state.drop_oldest_tombstones(compact_above)
                } else {
                    Vec::new()
                };
                (false, dropped)
            }
        };
        self.mark_keys(&pair.primary, &pair.secondary, &dropped);
        committed
    }

    /// The fold's list or one of its reads failed, or it was dropped: if the pair holds more
    /// than 64 tombstones, the oldest are dropped down to 32.
    pub(crate) fn fold_failed(&mut self, pair: &FoldRequest) {
        let (cap_above, compact_above) = (self.cap_above, self.compact_above);
        if let Some(state) = self.existing_pair_mut(&pair.primary, &pair.secondary) {
            if state.removed.len() > cap_above {
                let dropped = state.drop_oldest_tombstones(compact_above);
                self.mark_keys(&pair.primary, &pair.secondary, &dropped);
            }
        }
        self.tidy(&pair.primary, &pair.secondary);
    }

    /// What the state holds.
    #[cfg(test)]
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

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "monitors";
    const S: &str = "";

    fn s(k: &str) -> String {
        k.to_owned()
    }

    fn write(f: &mut Freshness, k: &str, v: u64) {
        let t = f.write_issued(P, S, k, v);
        assert_eq!(f.mutation_done(t, true), None);
    }

    fn hard_remove(f: &mut Freshness, k: &str, t: u64) -> Option<FoldRequest> {
        let ticket = f.remove_issued(P, S, k, t, false);
        f.mutation_done(ticket, true)
    }

    fn lazy_remove(f: &mut Freshness, k: &str, t: u64) {
        let ticket = f.remove_issued(P, S, k, t, true);
        assert_eq!(f.mutation_done(ticket, true), None);
    }

    fn read(f: &mut Freshness, k: &str, r: u64) -> Result<(), Refusal> {
        let t = f.read_issued(P, S, k);
        f.read_found(t, r)
    }

    fn miss(f: &mut Freshness, k: &str) -> Result<(), Refusal> {
        let t = f.read_issued(P, S, k);
        f.read_missing(t)
    }

    fn list(f: &mut Freshness, keys: &[&str]) -> Result<(), ListRefusal> {
        let t = f.list_issued(P, S);
        let listed: Vec<String> = keys.iter().map(|k| s(k)).collect();
        f.list_done(&t, &listed)
    }

    fn entry(f: &Freshness, k: &str) -> Option<Entry> {
        f.pair(P, S).and_then(|p| p.entry(k))
    }

    fn floor(f: &Freshness) -> u64 {
        f.pair(P, S).map_or(0, |p| p.floor)
    }

    // ---- Checks ----

    #[test]
    fn check_live_refuses_an_older_record_as_rollback() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 5);
        assert_eq!(
            read(&mut f, "a", 4),
            Err(Refusal::Rollback {
                found: 4,
                expected_at_least: 5
            })
        );
        assert_eq!(read(&mut f, "a", 5), Ok(()));
        assert_eq!(read(&mut f, "a", 9), Ok(()));
    }

    #[test]
    fn check_maybe_removed_refuses_older_and_lets_absence_through() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 5);
        let t = f.remove_issued(P, S, "a", 6, false);
        assert_eq!(entry(&f, "a"), Some(Entry::maybe_removed(5, 6)));
        assert_eq!(
            read(&mut f, "a", 4),
            Err(Refusal::Rollback {
                found: 4,
                expected_at_least: 5
            })
        );
        assert_eq!(read(&mut f, "a", 5), Ok(()));
        assert_eq!(miss(&mut f, "a"), Ok(()));
        let _ = f.mutation_done(t, true);
    }

    #[test]
    fn check_removed_refuses_at_or_below_the_tombstone_as_resurrected() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 5);
        assert_eq!(hard_remove(&mut f, "a", 6), None);
        assert_eq!(
            read(&mut f, "a", 5),
            Err(Refusal::Resurrected {
                found: 5,
                removed_at: 6
            })
        );
        assert_eq!(
            read(&mut f, "a", 6),
            Err(Refusal::Resurrected {
                found: 6,
                removed_at: 6
            })
        );
        assert_eq!(miss(&mut f, "a"), Ok(()));
        assert_eq!(read(&mut f, "a", 7), Ok(()));
    }

    #[test]
    fn check_no_entry_refuses_below_the_floor() {
        let mut f = Freshness::with_limits(false, 1, 2);
        // Two tombstones in the pair: a fold; nothing else is listed.
        assert_eq!(hard_remove(&mut f, "x", 3), None);
        let req = hard_remove(&mut f, "y", 4).expect("a fold is requested");
        assert!(f.fold_commit(&req, &[]));
        assert_eq!(floor(&f), 4);
        assert_eq!(
            read(&mut f, "z", 3),
            Err(Refusal::Resurrected {
                found: 3,
                removed_at: 4
            })
        );
        assert_eq!(read(&mut f, "z", 4), Ok(()));
    }

    #[test]
    fn check_missing_only_from_live() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 5);
        assert_eq!(
            miss(&mut f, "a"),
            Err(Refusal::Missing {
                expected_version: 5
            })
        );
        // Removed, MaybeRemoved and no entry let NotFound through.
        assert_eq!(hard_remove(&mut f, "a", 6), None);
        assert_eq!(miss(&mut f, "a"), Ok(()));
        assert_eq!(miss(&mut f, "never"), Ok(()));
        write(&mut f, "b", 7);
        let t = f.remove_issued(P, S, "b", 8, false);
        assert_eq!(miss(&mut f, "b"), Ok(()));
        let _ = f.mutation_done(t, false);
        assert_eq!(miss(&mut f, "b"), Ok(()));
    }

    #[test]
    fn check_list_names_the_smallest_missing_live_key() {
        let mut f = Freshness::new(false);
        write(&mut f, "c", 3);
        write(&mut f, "b", 2);
        write(&mut f, "a", 1);
        assert_eq!(list(&mut f, &["a", "b", "c"]), Ok(()));
        assert_eq!(
            list(&mut f, &["a"]),
            Err(ListRefusal {
                key: s("b"),
                expected_version: 2
            })
        );
        assert_eq!(
            list(&mut f, &["b"]),
            Err(ListRefusal {
                key: s("a"),
                expected_version: 1
            })
        );
    }

    #[test]
    fn check_list_ignores_removed_unknown_and_maybe_removed_keys() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 1);
        assert_eq!(hard_remove(&mut f, "a", 2), None);
        write(&mut f, "b", 3);
        let t = f.remove_issued(P, S, "b", 4, false);
        assert_eq!(list(&mut f, &["zombie", "a"]), Ok(()));
        assert_eq!(list(&mut f, &[]), Ok(()));
        let _ = f.mutation_done(t, true);
    }

    #[test]
    fn check_two_moments_a_write_completing_during_a_read_is_no_alarm() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 5);
        let r = f.read_issued(P, S, "a");
        write(&mut f, "a", 7);
        // The read saw the record before the write: accepted (the issue-time entry accepts).
        assert_eq!(f.read_found(r, 5), Ok(()));
        assert_eq!(entry(&f, "a"), Some(Entry::live(7)));
        // A rollback behind the wrapper's back (same entry at both moments) is refused.
        let r = f.read_issued(P, S, "a");
        assert_eq!(
            f.read_found(r, 5),
            Err(Refusal::Rollback {
                found: 5,
                expected_at_least: 7
            })
        );
    }

    #[test]
    fn check_two_moments_issue_time_accepts_a_read_issued_before_a_write() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 5);
        // Completion-time refusal alone does not refuse; issue-time refusal alone neither.
        let r = f.read_issued(P, S, "a");
        assert_eq!(hard_remove(&mut f, "a", 6), None);
        assert_eq!(f.read_found(r, 5), Ok(()));
        let r = f.read_issued(P, S, "a"); // Removed(6) at issue
        write(&mut f, "a", 8);
        assert_eq!(f.read_found(r, 8), Ok(()));
    }

    #[test]
    fn check_two_moments_missing_only_when_the_same_live_entry_at_both() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 5);
        let r = f.read_issued(P, S, "a");
        assert_eq!(hard_remove(&mut f, "a", 6), None);
        write(&mut f, "a", 7);
        // Live(5) at issue, Live(7) now: the read may have seen the gap between them.
        assert_eq!(f.read_missing(r), Ok(()));
        let r = f.read_issued(P, S, "a");
        assert_eq!(
            f.read_missing(r),
            Err(Refusal::Missing {
                expected_version: 7
            })
        );
    }

    #[test]
    fn check_two_moments_list() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 5);
        let l = f.list_issued(P, S);
        assert_eq!(hard_remove(&mut f, "a", 6), None);
        write(&mut f, "a", 7);
        assert_eq!(f.list_done(&l, &[]), Ok(()));
        // Not Live at issue (never written), Live now: no alarm either.
        let l = f.list_issued(P, S);
        write(&mut f, "b", 8);
        assert_eq!(f.list_done(&l, &[s("a")]), Ok(()));
        let l = f.list_issued(P, S);
        assert_eq!(
            f.list_done(&l, &[s("a")]),
            Err(ListRefusal {
                key: s("b"),
                expected_version: 8
            })
        );
        let l = f.list_issued(P, S);
        f.list_abandoned(l);
    }

    // ---- Updates ----

    #[test]
    fn update_write_sets_live_only_after_success() {
        let mut f = Freshness::new(false);
        let t = f.write_issued(P, S, "a", 3);
        assert_eq!(entry(&f, "a"), None);
        assert_eq!(f.mutation_done(t, true), None);
        assert_eq!(entry(&f, "a"), Some(Entry::live(3)));
        let t = f.write_issued(P, S, "a", 4);
        assert_eq!(f.mutation_done(t, false), None);
        assert_eq!(entry(&f, "a"), Some(Entry::live(3)));
    }

    #[test]
    fn update_failed_write_pins_a_key_a_fold_could_otherwise_exclude() {
        let mut f = Freshness::with_limits(false, 1, 2);
        let t = f.write_issued(P, S, "late", 3);
        assert_eq!(f.mutation_done(t, false), None);
        // The failed write may still land: the key keeps an entry that admits version 3.
        assert_eq!(entry(&f, "late"), Some(Entry::maybe_removed(0, 3)));
        assert_eq!(hard_remove(&mut f, "x", 4), None);
        let req = hard_remove(&mut f, "y", 5).expect("fold");
        assert!(f.fold_commit(&req, &[]));
        assert_eq!(floor(&f), 5);
        assert_eq!(read(&mut f, "late", 3), Ok(()));
        // From a tombstone: the same check, but kept by folds.
        assert_eq!(hard_remove(&mut f, "k", 6), None);
        let t = f.write_issued(P, S, "k", 7);
        assert_eq!(f.mutation_done(t, false), None);
        assert_eq!(entry(&f, "k"), Some(Entry::maybe_removed(7, 7)));
        assert_eq!(
            read(&mut f, "k", 6),
            Err(Refusal::Rollback {
                found: 6,
                expected_at_least: 7
            })
        );
    }

    #[test]
    fn update_hard_remove_weakens_before_and_sets_removed_after() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 5);
        let t = f.remove_issued(P, S, "a", 6, false);
        assert_eq!(entry(&f, "a"), Some(Entry::maybe_removed(5, 6)));
        assert_eq!(f.mutation_done(t, true), None);
        assert_eq!(entry(&f, "a"), Some(Entry::removed(6)));
    }

    #[test]
    fn update_failed_hard_remove_keeps_the_weakening_and_a_read_does_not_undo_it() {
        let mut f = Freshness::new(false);
        write(&mut f, "a", 5);
        let t = f.remove_issued(P, S, "a", 6, false);
        assert_eq!(f.mutation_done(t, false), None);
        assert_eq!(entry(&f, "a"), Some(Entry::maybe_removed(5, 6)));
        // The remove may land later: reading the old record does not make it Live again.
        assert_eq!(read(&mut f, "a", 5), Ok(()));
        assert_eq!(entry(&f, "a"), Some(Entry::maybe_removed(5, 6)));
        // A key without entry is pinned too.
        let t = f.remove_issued(P, S, "b", 7, false);
        assert_eq!(f.mutation_done(t, false), None);
        assert_eq!(read(&mut f, "b", 2), Ok(()));
        assert_eq!(miss(&mut f, "b"), Ok(()));
    }

    #[test]
    fn update_lazy_remove_deletes_the_entry_and_zeroes_the_floor() {
        let mut f = Freshness::with_limits(false, 1, 2);
        assert_eq!(hard_remove(&mut f, "x", 1), None);
        let req = hard_remove(&mut f, "y", 2).expect("fold");
        assert!(f.fold_commit(&req, &[]));
        assert_eq!(floor(&f), 2);
        write(&mut f, "a", 3);
        let t = f.remove_issued(P, S, "a", 4, true);
        assert_eq!(entry(&f, "a"), None);
        assert_eq!(floor(&f), 0);
        assert!(f.pair(P, S).is_some_and(|p| p.lazy));
        assert_eq!(f.mutation_done(t, true), None);
        assert_eq!(entry(&f, "a"), None);
        // Its return, and an old record of any untracked key, are accepted.
        assert_eq!(read(&mut f, "a", 3), Ok(()));
        assert_eq!(read(&mut f, "z", 1), Ok(()));
        assert_eq!(f.sizes().pairs, 1);
    }

    #[test]
    fn update_read_raises_the_entry_when_its_op_is_not_newer() {
        let mut f = Freshness::new(false);
        assert_eq!(read(&mut f, "a", 4), Ok(()));
        assert_eq!(entry(&f, "a"), Some(Entry::live(4)));
        assert_eq!(read(&mut f, "a", 9), Ok(()));
        assert_eq!(entry(&f, "a"), Some(Entry::live(9)));
        // MaybeRemoved(5) op 6: a read of 5 does not raise it (op 6 > 5).
        write(&mut f, "b", 5);
        let t = f.remove_issued(P, S, "b", 6, false);
        assert_eq!(f.mutation_done(t, false), None);
        assert_eq!(read(&mut f, "b", 5), Ok(()));
        assert_eq!(entry(&f, "b"), Some(Entry::maybe_removed(5, 6)));
        assert_eq!(read(&mut f, "b", 8), Ok(()));
        assert_eq!(entry(&f, "b"), Some(Entry::live(8)));
    }

    #[test]
    fn update_read_in_a_lazy_pair_stays_maybe_removed() {
        let mut f = Freshness::new(false);
        lazy_remove(&mut f, "old", 1);
        assert_eq!(read(&mut f, "u", 3), Ok(()));
        assert_eq!(entry(&f, "u"), Some(Entry::maybe_removed(3, 3)));
        // A reread stays MaybeRemoved: its lazy removal may still be applied.
        assert_eq!(read(&mut f, "u", 3), Ok(()));
        assert_eq!(entry(&f, "u"), Some(Entry::maybe_removed(3, 3)));
        assert_eq!(miss(&mut f, "u"), Ok(()));
        // A key written after the lazy remove is Live, and stays Live when reread.
        write(&mut f, "w", 4);
        assert_eq!(read(&mut f, "w", 4), Ok(()));
        assert_eq!(entry(&f, "w"), Some(Entry::live(4)));
    }

    #[test]
    fn update_read_skipped_when_a_mutation_was_issued_during_it() {
        let mut f = Freshness::new(false);
        let r = f.read_issued(P, S, "a");
        let t = f.remove_issued(P, S, "a", 2, false);
        assert_eq!(f.mutation_done(t, false), None);
        // The read saw version 1 before the (failed, maybe landed) remove: no Live(1).
        assert_eq!(f.read_found(r, 1), Ok(()));
        assert_ne!(entry(&f, "a").map(|e| e.kind), Some(Kind::Live));
        assert_eq!(miss(&mut f, "a"), Ok(()));
        // Also when the racing write has not completed yet.
        let r = f.read_issued(P, S, "b");
        let t = f.write_issued(P, S, "b", 3);
        assert_eq!(f.read_found(r, 1), Ok(()));
        assert_eq!(entry(&f, "b"), None);
        assert_eq!(f.mutation_done(t, true), None);
    }

    #[test]
    fn update_read_skipped_when_a_remove_was_in_flight_at_issue() {
        let mut f = Freshness::new(false);
        let t = f.remove_issued(P, S, "a", 2, false);
        let r = f.read_issued(P, S, "a");
        assert_eq!(f.read_found(r, 1), Ok(()));
        assert_eq!(entry(&f, "a"), None);
        assert_eq!(f.mutation_done(t, true), None);
        assert_eq!(entry(&f, "a"), Some(Entry::removed(2)));
        // Lazy remove in flight at issue: same.
        let t = f.remove_issued(P, S, "b", 3, true);
        let r = f.read_issued(P, S, "b");
        assert_eq!(f.read_found(r, 1), Ok(()));
        assert_eq!(entry(&f, "b"), None);
        assert_eq!(f.mutation_done(t, true), None);
    }

    #[test]
    fn update_after_column_skipped_when_a_later_mutation_was_issued() {
        let mut f = Freshness::new(false);
        let w1 = f.write_issued(P, S, "a", 1);
        let w2 = f.write_issued(P, S, "a", 2);
        assert_eq!(f.mutation_done(w2, true), None);
        assert_eq!(f.mutation_done(w1, true), None);
        assert_eq!(entry(&f, "a"), Some(Entry::live(2)));
        let rm = f.remove_issued(P, S, "a", 3, false);
        let w4 = f.write_issued(P, S, "a", 4);
        assert_eq!(f.mutation_done(w4, true), None);
        assert_eq!(f.mutation_done(rm, true), None);
        assert_eq!(entry(&f, "a"), Some(Entry::live(4)));
    }

    #[test]
    fn update_read_only_records_maybe_removed() {
        let mut f = Freshness::new(true);
        assert_eq!(read(&mut f, "a", 4), Ok(()));
        assert_eq!(entry(&f, "a"), Some(Entry::maybe_removed(4, 4)));
        assert_eq!(
            read(&mut f, "a", 3),
            Err(Refusal::Rollback {
                found: 3,
                expected_at_least: 4
            })
        );
        assert_eq!(miss(&mut f, "a"), Ok(()));
        assert_eq!(list(&mut f, &[]), Ok(()));
        assert_eq!(read(&mut f, "a", 6), Ok(()));
        assert_eq!(entry(&f, "a"), Some(Entry::maybe_removed(6, 6)));
    }

    #[test]
    fn in_flight_bookkeeping_is_dropped_when_idle() {
        let mut f = Freshness::new(false);
        let r = f.read_issued(P, S, "a");
        let w = f.write_issued(P, S, "a", 1);
        let l = f.remove_issued(P, S, "b", 2, true);
        assert_eq!(f.sizes().in_flight, 2);
        f.read_abandoned(r);
        assert_eq!(f.sizes().in_flight, 2);
        assert_eq!(f.mutation_done(w, false), None);
        assert_eq!(f.mutation_done(l, true), None);
        assert_eq!(f.sizes().in_flight, 0);
        // An unknown read that ends leaves nothing at all.
        let mut g = Freshness::new(false);
        let r = g.read_issued("x", "y", "z");
        assert_eq!(g.read_missing(r), Ok(()));
        assert!(g.pairs.is_empty());
    }

    // ---- Compaction ----

    #[test]
    fn compaction_lazy_pair_drops_the_oldest_tombstones_down_to_32() {
        let mut f = Freshness::new(false);
        lazy_remove(&mut f, "lazy", 1);
        for i in 0..33u64 {
            assert_eq!(hard_remove(&mut f, &format!("k{i:02}"), 10 + i), None);
        }
        assert_eq!(f.sizes().tombstones, 32);
        assert_eq!(entry(&f, "k00"), None);
        assert_eq!(entry(&f, "k01"), Some(Entry::removed(11)));
        assert_eq!(floor(&f), 0);
    }

    #[test]
    fn compaction_non_lazy_pair_asks_for_a_fold_above_32() {
        let mut f = Freshness::new(false);
        for i in 0..32u64 {
            assert_eq!(hard_remove(&mut f, &format!("k{i:02}"), 10 + i), None);
        }
        let req = hard_remove(&mut f, "k32", 42).expect("33 tombstones: fold");
        assert_eq!((req.primary.as_str(), req.secondary.as_str()), (P, S));
        assert_eq!(f.sizes().tombstones, 33);
        f.fold_failed(&req);
        assert_eq!(f.sizes().tombstones, 33);
        // Tried again at the next hard remove.
        assert!(hard_remove(&mut f, "k33", 43).is_some());
    }

    #[test]
    fn compaction_fold_candidates_are_listed_keys_without_entry_or_with_a_tombstone() {
        let mut f = Freshness::with_limits(false, 1, 2);
        write(&mut f, "live", 1);
        assert_eq!(hard_remove(&mut f, "gone", 2), None);
        let req = hard_remove(&mut f, "gone2", 3).expect("fold");
        let listed = [s("gone"), s("live"), s("untracked")];
        assert_eq!(
            f.fold_candidates(&req, &listed),
            vec![s("gone"), s("untracked")]
        );
    }

    #[test]
    fn compaction_fold_commit_raises_the_floor_and_drops_the_tombstones() {
        let mut f = Freshness::with_limits(false, 1, 2);
        write(&mut f, "live", 1);
        assert_eq!(hard_remove(&mut f, "gone", 2), None);
        let req = hard_remove(&mut f, "gone2", 3).expect("fold");
        let listed = [s("live"), s("untracked"), s("gone")];
        assert_eq!(
            f.fold_candidates(&req, &listed),
            vec![s("untracked"), s("gone")]
        );
        let r = f.read_issued(P, S, "untracked");
        assert_eq!(f.read_found(r, 1), Ok(()));
        // "gone" came back with its removed record: an attack the fold finds.
        let r = f.read_issued(P, S, "gone");
        assert_eq!(
            f.read_found(r, 1),
            Err(Refusal::Resurrected {
                found: 1,
                removed_at: 2
            })
        );
        assert!(
            !f.fold_commit(&req, &listed),
            "gone still has its tombstone: refused"
        );
        // The second attempt: "gone" is honest now (version 4).
        let req = hard_remove(&mut f, "gone3", 5).expect("fold");
        let r = f.read_issued(P, S, "gone");
        assert_eq!(f.read_found(r, 4), Ok(()));
        assert!(f.fold_commit(&req, &listed));
        assert_eq!(floor(&f), 5);
        assert_eq!(f.sizes().tombstones, 0);
        assert_eq!(entry(&f, "untracked"), Some(Entry::live(1)));
        assert_eq!(read(&mut f, "untracked", 1), Ok(()));
        assert_eq!(
            read(&mut f, "gone2", 2),
            Err(Refusal::Resurrected {
                found: 2,
                removed_at: 5
            })
        );
        assert_eq!(
            read(&mut f, "gone3", 4),
            Err(Refusal::Resurrected {
                found: 4,
                removed_at: 5
            })
        );
    }

    #[test]
    fn compaction_fold_refused_when_the_pair_was_written_after_the_request() {
        let mut f = Freshness::with_limits(false, 1, 2);
        assert_eq!(hard_remove(&mut f, "x", 1), None);
        let req = hard_remove(&mut f, "y", 2).expect("fold");
        let listed: Vec<String> = Vec::new();
        // A key created during the fold, whose write failed (and may have landed): not listed.
        let w = f.write_issued(P, S, "new", 3);
        assert!(!f.fold_commit(&req, &listed), "write in flight");
        assert_eq!(f.mutation_done(w, true), None);
        assert!(
            !f.fold_commit(&req, &listed),
            "write issued since the request"
        );
        assert_eq!(floor(&f), 0);
        // A re-created removed key (x written again after the listing): refused as well.
        let req = hard_remove(&mut f, "z", 4).expect("fold");
        write(&mut f, "x", 5);
        assert!(!f.fold_commit(&req, &listed));
        assert_eq!(entry(&f, "z"), Some(Entry::removed(4)));
    }

    #[test]
    fn compaction_fold_refused_when_a_mutation_was_in_flight_at_the_request() {
        let mut f = Freshness::with_limits(false, 1, 2);
        assert_eq!(hard_remove(&mut f, "x", 1), None);
        let w = f.write_issued(P, S, "other", 2);
        let req = hard_remove(&mut f, "y", 3).expect("fold");
        assert_eq!(f.mutation_done(w, false), None);
        assert!(!f.fold_commit(&req, &[]));
    }

    #[test]
    fn compaction_fold_refused_when_a_listed_key_has_no_entry() {
        let mut f = Freshness::with_limits(false, 1, 2);
        assert_eq!(hard_remove(&mut f, "x", 1), None);
        let req = hard_remove(&mut f, "y", 2).expect("fold");
        let listed = [s("untracked")];
        assert_eq!(f.fold_candidates(&req, &listed), listed.to_vec());
        // Its read failed: the key is unchecked, the floor must not pass it.
        let r = f.read_issued(P, S, "untracked");
        f.read_abandoned(r);
        assert!(!f.fold_commit(&req, &listed));
        assert_eq!(floor(&f), 0);
        let r = f.read_issued(P, S, "untracked");
        assert_eq!(f.read_found(r, 1), Ok(()));
        assert!(f.fold_commit(&req, &listed));
        assert_eq!(floor(&f), 2);
    }

    #[test]
    fn compaction_lazy_pair_is_never_folded() {
        let mut f = Freshness::with_limits(false, 1, 2);
        assert_eq!(hard_remove(&mut f, "x", 1), None);
        let req = hard_remove(&mut f, "y", 2).expect("fold");
        lazy_remove(&mut f, "l", 3);
        assert!(!f.fold_commit(&req, &[]));
        assert_eq!(floor(&f), 0);
    }

    #[test]
    fn compaction_cap_failed_folds_drop_the_oldest_above_64_down_to_32() {
        let mut f = Freshness::new(false);
        let mut reqs = Vec::new();
        for i in 0..65u64 {
            if let Some(req) = hard_remove(&mut f, &format!("k{i:02}"), 10 + i) {
                reqs.push(req);
            }
        }
        assert_eq!(reqs.len(), 65 - 32);
        assert_eq!(f.sizes().tombstones, 65);
        let last = reqs.pop().expect("requests");
        f.fold_failed(&last);
        assert_eq!(f.sizes().tombstones, 32);
        assert_eq!(entry(&f, "k32"), None);
        assert_eq!(entry(&f, "k33"), Some(Entry::removed(43)));
        f.fold_failed(&last);
        assert_eq!(f.sizes().tombstones, 32);
    }

    #[test]
    fn compaction_cap_a_refused_commit_counts_as_a_failed_fold() {
        let mut f = Freshness::new(false);
        let mut last = None;
        for i in 0..65u64 {
            last = hard_remove(&mut f, &format!("k{i:02}"), 10 + i).or(last);
        }
        let req = last.expect("requests");
        assert!(!f.fold_commit(&req, &[s("unchecked")]));
        assert_eq!(f.sizes().tombstones, 32);
    }

    // ---- Model-based property test ----

    mod model {
        use super::super::*;
        use proptest::prelude::*;
        use proptest::strategy::ValueTree;
        use proptest::test_runner::{Config, RngSeed};
        use std::collections::VecDeque;

        const KEYS: usize = 6;
        const PAIRS: [(&str, &str); 2] = [("p0", ""), ("p1", "s")];

        fn names(k: usize) -> (&'static str, &'static str, String) {
            let (p, s) = PAIRS[k / 3];
            (p, s, format!("k{}", k % 3))
        }

        #[derive(Clone, Copy, Debug)]
        pub(super) enum Step {
            Read(u8),
            Write(u8, u8),
            HardRemove(u8, u8),
            LazyRemove(u8, u8),
            List(u8),
            Advance(u8, u8),
            Resolve(u8),
        }

        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum Attack {
            Rollback,
            Delete,
            Resurrect,
        }

        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        enum Outcome {
            Ok,
            FailBefore,
            FailAfter,
        }

        #[derive(Debug)]
        struct Queued {
            id: u64,
            version: u64,
            remove: bool,
            /// Applied to the store when resolved (a failure before the effect, a dropped lazy
            /// remove: not).
            applies: bool,
        }

        enum Item {
            Read {
                t: ReadTicket,
                key: usize,
                window: Vec<Option<u64>>,
                fold: Option<u64>,
            },
            Mut {
                t: MutationTicket,
                key: usize,
                id: u64,
                ok: bool,
                must_resolve: bool,
            },
            List {
                t: ListTicket,
                pair: usize,
                windows: Vec<Vec<Option<u64>>>,
            },
            Fold {
                id: u64,
                req: FoldRequest,
                pair: usize,
                windows: Vec<Vec<Option<u64>>>,
                listed: Option<Vec<String>>,
                reads: usize,
                failed: bool,
            },
        }

        struct Model {
            f: Freshness,
            read_only: bool,
            store: Vec<Option<u64>>,
            history: Vec<Vec<u64>>,
            queues: Vec<VecDeque<Queued>>,
            items: Vec<Item>,
            next: u64,
            next_id: u64,
            /// The last issued mutation of each key: (is a hard remove, version, outcome Ok).
            last: Vec<Option<(Mutation, u64, bool)>>,
            refusals: Vec<String>,
            folds_committed: usize,
            /// What an anchor holds, written from `take_changes` where the store layer writes
            /// it (before a remove's inner call, after every completion).
            anchor: BTreeMap<(String, String, String), Entry>,
            anchor_pairs: BTreeMap<(String, String), (u64, bool)>,
        }

        impl Model {
            fn new(mut f: Freshness, read_only: bool, initial: &[bool]) -> Self {
                f.track_changes(!read_only);
                let mut m = Model {
                    f,
                    read_only,
                    store: vec![None; KEYS],
                    history: vec![Vec::new(); KEYS],
                    queues: (0..KEYS).map(|_| VecDeque::new()).collect(),
                    items: Vec::new(),
                    next: 1,
                    next_id: 0,
                    last: vec![None; KEYS],
                    refusals: Vec::new(),
                    folds_committed: 0,
                    anchor: BTreeMap::new(),
                    anchor_pairs: BTreeMap::new(),
                };
                for (k, present) in initial.iter().enumerate().take(KEYS) {
                    if *present {
                        m.set(k, Some(m.next));
                        m.next += 1;
                    }
                }
                m
            }

            /// The store's value of `k` changes: every read, list and fold listing in flight
            /// may see the new value.
            fn set(&mut self, k: usize, value: Option<u64>) {
                self.store[k] = value;
                if let Some(v) = value {
                    self.history[k].push(v);
                }
                for item in &mut self.items {
                    match item {
                        Item::Read { key, window, .. } if *key == k => window.push(value),
                        Item::List { pair, windows, .. }
                        | Item::Fold {
                            pair,
                            windows,
                            listed: None,
                            ..
                        } if *pair == k / 3 => windows[k % 3].push(value),
                        _ => {}
                    }
                }
            }

            /// Writes the changes to the anchor, as `sync_anchor` does.
            fn sync(&mut self) {
                let ch = self.f.take_changes();
                for (pair, state) in ch.pairs {
                    if state == (0, false) {
                        self.anchor_pairs.remove(&pair);
                    } else {
                        self.anchor_pairs.insert(pair, state);
                    }
                }
                for (key, entry) in ch.keys {
                    match entry {
                        Some(e) => self.anchor.insert(key, e),
                        None => self.anchor.remove(&key),
                    };
                }
            }

            /// A crash now, and a restart from the anchor alone: every state the store can be
            /// in (its current values, then each pending effect of a key landing in order) must
            /// pass the checks of watermarks loaded from the anchor.
            fn crash_check(&mut self) {
                if self.read_only {
                    return;
                }
                for k in 0..KEYS {
                    let (p, s, key) = names(k);
                    let entry = self
                        .anchor
                        .get(&(p.to_owned(), s.to_owned(), key.clone()))
                        .copied();
                    let floor = self
                        .anchor_pairs
                        .get(&(p.to_owned(), s.to_owned()))
                        .map_or(0, |x| x.0);
                    let mut states = vec![self.store[k]];
                    for q in self.queues[k].iter().filter(|q| q.applies) {
                        states.push(if q.remove { None } else { Some(q.version) });
                    }
                    for st in states {
                        let alarm =
                            match st {
                                Some(v) => check(entry, floor, v).err(),
                                None => entry.filter(|e| e.kind == Kind::Live).map(|e| {
                                    Refusal::Missing {
                                        expected_version: e.version,
                                    }
                                }),
                            };
                        if let Some(a) = alarm {
                            self.refusal(format!(
                                "after a crash, key {k} holding {st:?} against the anchor's \
                                 {entry:?} (floor {floor}): {a:?}"
                            ));
                        }
                    }
                }
            }

            fn resolve_head(&mut self, k: usize) -> Option<u64> {
                let q = self.queues[k].pop_front()?;
                if q.applies {
                    self.set(k, if q.remove { None } else { Some(q.version) });
                }
                Some(q.id)
            }

            fn resolve_through(&mut self, k: usize, id: u64) {
                while self.queues[k].iter().any(|q| q.id == id) {
                    self.resolve_head(k);
                }
            }

            fn windows(&self, pair: usize) -> Vec<Vec<Option<u64>>> {
                (0..3).map(|i| vec![self.store[pair * 3 + i]]).collect()
            }

            fn issue_read(&mut self, k: usize, fold: Option<u64>) {
                let (p, s, key) = names(k);
                let t = self.f.read_issued(p, s, &key);
                self.items.push(Item::Read {
                    t,
                    key: k,
                    window: vec![self.store[k]],
                    fold,
                });
            }

            fn issue_mutation(&mut self, k: usize, what: Mutation, outcome: u8) {
                let version = self.next;
                self.next += 1;
                let outcome = match outcome % 8 {
                    0 => Outcome::FailBefore,
                    1 => Outcome::FailAfter,
                    _ => Outcome::Ok,
                };
                if self.read_only {
                    // Another instance, the only writer: applied at once.
                    if outcome != Outcome::FailBefore {
                        self.set(
                            k,
                            if what == Mutation::Write {
                                Some(version)
                            } else {
                                None
                            },
                        );
                    }
                    return;
                }
                let (p, s, key) = names(k);
                let t = match what {
                    Mutation::Write => self.f.write_issued(p, s, &key, version),
                    Mutation::HardRemove => self.f.remove_issued(p, s, &key, version, false),
                    Mutation::LazyRemove => self.f.remove_issued(p, s, &key, version, true),
                };
                if what != Mutation::Write {
                    // The weakening reaches the anchor before the inner remove.
                    self.sync();
                }
                let lazy = what == Mutation::LazyRemove;
                // FailBefore: never applied (for a lazy remove: dropped, yet it returns Ok).
                let applies = outcome != Outcome::FailBefore;
                let ok = lazy || outcome == Outcome::Ok;
                let id = self.next_id;
                self.next_id += 1;
                self.queues[k].push_back(Queued {
                    id,
                    version,
                    remove: what != Mutation::Write,
                    applies,
                });
                self.last[k] = Some((what, version, ok));
                // A call that succeeded has taken effect; a failed one or a lazy remove may
                // still land later (in order, before the key's next mutation).
                self.items.push(Item::Mut {
                    t,
                    key: k,
                    id,
                    ok,
                    must_resolve: ok && !lazy,
                });
            }

            fn refusal(&mut self, what: String) {
                self.refusals.push(what);
            }

            fn advance(&mut self, i: usize, choice: u8) {
                if self.items.is_empty() {
                    return;
                }
                let i = i % self.items.len();
                if let Item::Fold {
                    listed: Some(_),
                    reads,
                    ..
                } = &self.items[i]
                {
                    if *reads > 0 {
                        return;
                    }
                }
                let item = self.items.swap_remove(i);
                match item {
                    Item::Read {
                        t,
                        key,
                        window,
                        fold,
                    } => {
                        let outcome = if choice % 8 == 0 {
                            self.f.read_abandoned(t);
                            Err(false)
                        } else {
                            let seen = window[usize::from(choice) % window.len()];
                            let r = match seen {
                                Some(v) => self.f.read_found(t, v),
                                None => self.f.read_missing(t),
                            };
                            r.map_err(|e| {
                                self.refusal(format!("read of key {key} seeing {seen:?}: {e:?}"));
                                true
                            })
                        };
                        if let Some(fid) = fold {
                            for it in &mut self.items {
                                if let Item::Fold {
                                    id, reads, failed, ..
                                } = it
                                {
                                    if *id == fid {
                                        *reads -= 1;
                                        *failed |= outcome.is_err();
                                    }
                                }
                            }
                        }
                    }
                    Item::Mut {
                        t,
                        key,
                        id,
                        ok,
                        must_resolve,
                    } => {
                        if must_resolve {
                            self.resolve_through(key, id);
                        }
                        let fold = self.f.mutation_done(t, ok);
                        self.sync();
                        if let Some(req) = fold {
                            let pair = key / 3;
                            let fid = self.next_id;
                            self.next_id += 1;
                            let windows = self.windows(pair);
                            self.items.push(Item::Fold {
                                id: fid,
                                req,
                                pair,
                                windows,
                                listed: None,
                                reads: 0,
                                failed: false,
                            });
                        }
                    }
                    Item::List { t, pair, windows } => {
                        if choice % 8 == 0 {
                            self.f.list_abandoned(t);
                            return;
                        }
                        let listed = pick_listed(&windows, choice);
                        if let Err(e) = self.f.list_done(&t, &listed) {
                            self.refusal(format!("list of pair {pair} seeing {listed:?}: {e:?}"));
                        }
                    }
                    Item::Fold {
                        id,
                        req,
                        pair,
                        windows,
                        listed: None,
                        ..
                    } => {
                        let listed = pick_listed(&windows, choice);
                        let candidates = self.f.fold_candidates(&req, &listed);
                        for c in &candidates {
                            let k = pair * 3 + usize::from(c.as_bytes()[1] - b'0');
                            self.issue_read(k, Some(id));
                        }
                        self.items.push(Item::Fold {
                            id,
                            req,
                            pair,
                            windows,
                            listed: Some(listed),
                            reads: candidates.len(),
                            failed: false,
                        });
                    }
                    Item::Fold {
                        req,
                        pair,
                        listed: Some(listed),
                        failed,
                        ..
                    } => {
                        if failed || choice % 8 == 0 {
                            self.f.fold_failed(&req);
                        } else {
                            let (p, s) = PAIRS[pair];
                            self.f.mark_listed(p, s, &listed);
                            self.sync();
                            if self.f.fold_commit(&req, &listed) {
                                self.folds_committed += 1;
                            }
                        }
                        self.sync();
                    }
                }
            }

            pub(super) fn step(&mut self, step: Step) {
                match step {
                    Step::Read(k) => self.issue_read(usize::from(k) % KEYS, None),
                    Step::Write(k, o) => {
                        self.issue_mutation(usize::from(k) % KEYS, Mutation::Write, o)
                    }
                    Step::HardRemove(k, o) => {
                        self.issue_mutation(usize::from(k) % KEYS, Mutation::HardRemove, o)
                    }
                    Step::LazyRemove(k, o) => {
                        self.issue_mutation(usize::from(k) % KEYS, Mutation::LazyRemove, o)
                    }
                    Step::List(p) => {
                        let pair = usize::from(p) % PAIRS.len();
                        let (ps, ss) = PAIRS[pair];
                        let t = self.f.list_issued(ps, ss);
                        let windows = self.windows(pair);
                        self.items.push(Item::List { t, pair, windows });
                    }
                    Step::Advance(i, c) => self.advance(usize::from(i), c),
                    Step::Resolve(k) => {
                        self.resolve_head(usize::from(k) % KEYS);
                    }
                }
            }

            /// Completes everything in flight and lands every pending effect.
            fn drain(&mut self) {
                while !self.items.is_empty() {
                    let n = self.items.len();
                    self.advance(n - 1, 1);
                    if self.items.len() == n {
                        // A fold waiting for its reads: complete those first.
                        self.advance(0, 1);
                    }
                }
                for k in 0..KEYS {
                    while self.resolve_head(k).is_some() {}
                }
            }

            /// Drains, injects `attack` on key `k` and reads it (and lists its pair). Returns
            /// whether the state had to catch it, and whether it did.
            pub(super) fn attack(
                &mut self,
                attack: Attack,
                k: usize,
                strict_resurrection: bool,
            ) -> (bool, bool) {
                self.drain();
                let (p, s, key) = names(k);
                let current = self.store[k];
                let older = |v: u64| self.history[k].iter().copied().filter(|&o| o < v).min();
                let (target, must) = match (attack, self.last[k], current) {
                    (Attack::Rollback, Some((Mutation::Write, v, true)), Some(c)) => match older(c)
                    {
                        Some(o) => (Some(o), c == v),
                        None => return (false, false),
                    },
                    (Attack::Rollback, _, Some(c)) => match older(c) {
                        Some(o) => (Some(o), false),
                        None => return (false, false),
                    },
                    (Attack::Delete, last, Some(_)) => {
                        (None, matches!(last, Some((Mutation::Write, _, true))))
                    }
                    (Attack::Resurrect, last, None) => match self.history[k].last().copied() {
                        Some(o) => (
                            Some(o),
                            strict_resurrection
                                && matches!(last, Some((Mutation::HardRemove, _, true))),
                        ),
                        None => return (false, false),
                    },
                    _ => return (false, false),
                };
                self.store[k] = target;
                let t = self.f.read_issued(p, s, &key);
                let verdict = match target {
                    Some(v) => self.f.read_found(t, v),
                    None => self.f.read_missing(t),
                };
                // Any refusal of an attack is right; one the state had to catch must name it.
                let mut caught = verdict.is_err();
                if must {
                    match (attack, verdict) {
                        (Attack::Rollback, Err(Refusal::Rollback { .. }))
                        | (Attack::Delete, Err(Refusal::Missing { .. }))
                        | (Attack::Resurrect, Err(Refusal::Resurrected { .. })) => {}
                        (_, other) => panic!("{attack:?} answered {other:?}"),
                    }
                }
                if attack == Attack::Delete {
                    let pair = k / 3;
                    let listed: Vec<String> = (0..3)
                        .filter(|i| self.store[pair * 3 + i].is_some())
                        .map(|i| format!("k{i}"))
                        .collect();
                    let l = self.f.list_issued(p, s);
                    match self.f.list_done(&l, &listed) {
                        Err(ListRefusal { key: missing, .. }) => assert_eq!(missing, key),
                        Ok(()) => caught = false,
                    }
                }
                (must, caught)
            }
        }

        fn pick_listed(windows: &[Vec<Option<u64>>], choice: u8) -> Vec<String> {
            windows
                .iter()
                .enumerate()
                .filter(|(i, w)| w[(usize::from(choice) + i * 7) % w.len()].is_some())
                .map(|(i, _)| format!("k{i}"))
                .collect()
        }

        /// `advance`: the weight of completing something in flight (higher: less overlap).
        fn step(advance: u32) -> impl Strategy<Value = Step> {
            prop_oneof![
                3 => any::<u8>().prop_map(Step::Read),
                3 => (any::<u8>(), any::<u8>()).prop_map(|(k, o)| Step::Write(k, o)),
                2 => (any::<u8>(), any::<u8>()).prop_map(|(k, o)| Step::HardRemove(k, o)),
                1 => (any::<u8>(), any::<u8>()).prop_map(|(k, o)| Step::LazyRemove(k, o)),
                1 => any::<u8>().prop_map(Step::List),
                advance => (any::<u8>(), any::<u8>()).prop_map(|(i, c)| Step::Advance(i, c)),
                2 => any::<u8>().prop_map(Step::Resolve),
            ]
        }

        fn attack() -> impl Strategy<Value = Option<(Attack, usize)>> {
            prop_oneof![
                1 => Just(None),
                3 => (prop_oneof![Just(Attack::Rollback), Just(Attack::Delete), Just(Attack::Resurrect)], 0..KEYS)
                    .prop_map(Some),
            ]
        }

        fn config(cases: u32, seed: u64) -> Config {
            Config {
                cases,
                rng_seed: RngSeed::Fixed(seed),
                failure_persistence: None,
                ..Config::default()
            }
        }

        /// Runs one case; `limits`: the compaction limits (the default ones are never reached
        /// with 3 keys a pair, so every tombstone stays; small ones fold and cap all the time).
        /// `restart`: before the attack, everything in flight completes and the instance is
        /// replaced by one whose watermarks are loaded from the anchor alone.
        fn run(
            read_only: bool,
            small_limits: bool,
            initial: &[bool],
            steps: &[Step],
            attack: Option<(Attack, usize)>,
            restart: bool,
        ) -> Result<(), TestCaseError> {
            let fresh = || {
                if small_limits {
                    Freshness::with_limits(read_only, 1, 2)
                } else {
                    Freshness::new(read_only)
                }
            };
            let mut m = Model::new(fresh(), read_only, initial);
            for s in steps {
                m.step(*s);
                m.crash_check();
            }
            prop_assert!(m.refusals.is_empty(), "false alarms: {:?}", m.refusals);
            if restart {
                m.drain();
                m.crash_check();
                prop_assert!(m.refusals.is_empty(), "false alarms: {:?}", m.refusals);
                let mut f = fresh();
                for ((p, s), (floor, lazy)) in &m.anchor_pairs {
                    f.load_pair(p, s, *floor, *lazy);
                }
                for ((p, s, k), e) in &m.anchor {
                    f.load_entry(p, s, k, *e);
                }
                f.track_changes(true);
                m.f = f;
            }
            if let Some((a, k)) = attack {
                let (must, caught) = m.attack(a, k, !small_limits);
                prop_assert!(
                    m.refusals.is_empty(),
                    "false alarms while draining: {:?}",
                    m.refusals
                );
                if must {
                    prop_assert!(caught, "{a:?} of key {k} not caught");
                }
            } else {
                m.drain();
                prop_assert!(
                    m.refusals.is_empty(),
                    "false alarms while draining: {:?}",
                    m.refusals
                );
                prop_assert_eq!(m.f.sizes().in_flight, 0);
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(config(768, 0xF2E5_0001))]

            #[test]
            fn honest_interleavings_never_refuse_and_attacks_on_watched_keys_are_caught(
                initial in proptest::collection::vec(any::<bool>(), KEYS),
                steps in proptest::collection::vec(step(6), 0..120),
                attack in attack(),
            ) {
                run(false, false, &initial, &steps, attack, false)?;
            }

            #[test]
            fn after_a_restart_from_the_anchor_attacks_on_written_keys_are_caught(
                initial in proptest::collection::vec(any::<bool>(), KEYS),
                steps in proptest::collection::vec(prop_oneof![step(6), step(24)], 0..120),
                attack in attack(),
            ) {
                run(false, false, &initial, &steps, attack, true)?;
            }

            #[test]
            fn with_folds_and_caps_at_every_step_no_false_alarm_and_live_keys_still_caught(
                initial in proptest::collection::vec(any::<bool>(), KEYS),
                steps in proptest::collection::vec(prop_oneof![step(6), step(24)], 0..120),
                attack in attack(),
            ) {
                run(false, true, &initial, &steps, attack, false)?;
            }

            #[test]
            fn a_read_only_instance_beside_an_honest_writer_never_refuses(
                initial in proptest::collection::vec(any::<bool>(), KEYS),
                steps in proptest::collection::vec(step(6), 0..120),
            ) {
                run(true, false, &initial, &steps, None, false)?;
            }
        }

        /// The property test must reach what it claims to test: folds that commit, and caught
        /// attacks of each kind.
        #[test]
        fn the_model_reaches_folds_and_catches() {
            let mut runner = proptest::test_runner::TestRunner::new(config(1, 0xF2E5_0002));
            let mut folds = 0;
            let mut caught = [0usize; 3];
            for _ in 0..400 {
                let initial = proptest::collection::vec(any::<bool>(), KEYS)
                    .new_tree(&mut runner)
                    .map(|t| t.current())
                    .unwrap_or_default();
                let steps = proptest::collection::vec(step(24), 0..120)
                    .new_tree(&mut runner)
                    .map(|t| t.current())
                    .unwrap_or_default();
                let mut m = Model::new(Freshness::with_limits(false, 1, 2), false, &initial);
                for s in &steps {
                    m.step(*s);
                }
                m.drain();
                folds += m.folds_committed;
                for (i, a) in [Attack::Rollback, Attack::Delete, Attack::Resurrect]
                    .into_iter()
                    .enumerate()
                {
                    for k in 0..KEYS {
                        let mut probe = Model::new(Freshness::new(false), false, &initial);
                        for s in &steps {
                            probe.step(*s);
                        }
                        let (must, got) = probe.attack(a, k, true);
                        assert!(!must || got);
                        caught[i] += usize::from(must && got);
                    }
                }
            }
            println!("model: {folds} folds committed; attacks caught (rollback, deletion, resurrection): {caught:?}");
            assert!(folds > 25, "{folds}");
            assert!(caught.iter().all(|&c| c > 50), "{caught:?}");
        }
    }

    // ---- The bound ----

    fn max_sizes(a: Sizes, b: Sizes) -> Sizes {
        Sizes {
            entries: a.entries.max(b.entries),
            tombstones: a.tombstones.max(b.tombstones),
            pairs: a.pairs.max(b.pairs),
            in_flight: a.in_flight.max(b.in_flight),
        }
    }

    #[test]
    fn bound_ldk_monitor_pattern_100000_cycles_stays_constant() {
        const MONITORS: usize = 3;
        const UPDATES_PER_MONITOR_WRITE: u64 = 10;
        let mut f = Freshness::new(false);
        let mut next = 1u64;
        let mut pending: Vec<Vec<String>> = vec![Vec::new(); MONITORS];
        let mut counters = [0u64; MONITORS];
        let mut max = f.sizes();
        let mut at_100 = None;
        for cycle in 0..100_000usize {
            let m = cycle % MONITORS;
            let monitor = format!("{m:064x}_0");
            let updates = format!("monitor_updates/{monitor}");
            // The update write, as ChainMonitor persists it; its future completes after the
            // next cycle's issue (overlap), as an async persister's would.
            counters[m] += 1;
            let key = format!("{:020}", counters[m]);
            let w = f.write_issued(&updates, "", &key, next);
            next += 1;
            let r = f.read_issued("monitors", "", &monitor);
            max = max_sizes(max, f.sizes());
            f.read_abandoned(r);
            assert_eq!(f.mutation_done(w, true), None);
            pending[m].push(key);
            if counters[m] % UPDATES_PER_MONITOR_WRITE == 0 {
                let w = f.write_issued("monitors", "", &monitor, next);
                next += 1;
                assert_eq!(f.mutation_done(w, true), None);
                for key in pending[m].drain(..) {
                    let t = f.remove_issued(&updates, "", &key, next, true);
                    next += 1;
                    assert_eq!(f.mutation_done(t, true), None);
                }
            }
            max = max_sizes(max, f.sizes());
            if cycle == 99 {
                at_100 = Some(f.sizes());
            }
        }
        let end = f.sizes();
        println!("monitor pattern, 100,000 cycles: after 100 {at_100:?}, end {end:?}, max {max:?}");
        // 3 monitor entries + at most 9 update entries per monitor between monitor writes; one
        // lazy pair record per monitor; no tombstones; in flight: the two calls that overlap.
        assert_eq!(
            max,
            Sizes {
                entries: 3 + 3 * 9,
                tombstones: 0,
                pairs: 3,
                in_flight: 2
            }
        );
        assert_eq!(end, at_100.unwrap_or(end));
        assert_eq!(
            end,
            Sizes {
                entries: 3 + (4 + 3 + 3), // 33,334, 33,333, 33,333 updates: 4, 3, 3 pending
                tombstones: 0,
                pairs: 3,
                in_flight: 0
            }
        );
    }

    /// Hard-remove churn in one pair: 5 keys that stay, 100,000 keys written and hard removed,
    /// a fold whenever asked. `fail_every`: every n-th fold fails (0: none).
    /// Returns the largest sizes after each remove (its fold included), the largest tombstone
    /// count seen between a remove and its fold's outcome, and the folds committed.
    fn churn(fail_every: usize) -> (Sizes, usize, usize) {
        let mut f = Freshness::new(false);
        let mut store: BTreeMap<String, u64> = BTreeMap::new();
        let mut next = 1u64;
        for i in 0..5 {
            store.insert(format!("stay{i}"), next);
            next += 1;
        }
        let mut max = f.sizes();
        let mut during = 0usize;
        let mut folds = 0usize;
        let mut committed = 0usize;
        for i in 0..100_000u64 {
            let key = format!("churn{i:06}");
            write(&mut f, &key, next);
            store.insert(key.clone(), next);
            next += 1;
            let fold = hard_remove(&mut f, &key, next);
            store.remove(&key);
            next += 1;
            during = during.max(f.sizes().tombstones);
            if let Some(req) = fold {
                folds += 1;
                if fail_every > 0 && folds % fail_every != 0 {
                    f.fold_failed(&req);
                    max = max_sizes(max, f.sizes());
                    continue;
                }
                let listed: Vec<String> = store.keys().cloned().collect();
                for key in f.fold_candidates(&req, &listed) {
                    let r = f.read_issued(P, S, &key);
                    let v = store.get(&key).copied().unwrap_or(0);
                    assert_eq!(f.read_found(r, v), Ok(()));
                }
                committed += usize::from(f.fold_commit(&req, &listed));
            }
            max = max_sizes(max, f.sizes());
        }
        for (key, v) in &store {
            assert_eq!(read(&mut f, key, *v), Ok(()));
        }
        if committed > 0 {
            // The first churned key, long folded under the floor, is refused if it comes back.
            let floor = f.pair(P, S).map_or(0, |p| p.floor);
            assert!(floor > 6);
            assert_eq!(
                read(&mut f, "churn000000", 6),
                Err(Refusal::Resurrected {
                    found: 6,
                    removed_at: floor
                })
            );
        }
        (max, during, committed)
    }

    #[test]
    fn bound_hard_remove_churn_with_folds_keeps_at_most_32_tombstones() {
        let (max, during, committed) = churn(0);
        println!(
            "hard-remove churn, 100,000 removes, every fold commits: max {max:?} \
             ({during} tombstones between a remove and its fold), {committed} folds"
        );
        assert_eq!((max.tombstones, during), (32, 33));
        assert_eq!(max.entries, 5 + 32);
        assert_eq!(committed, 100_000 / 33);
    }

    #[test]
    fn bound_hard_remove_churn_with_failing_folds_keeps_at_most_64_tombstones() {
        for (fail_every, name) in [(7, "6 of 7 folds fail"), (usize::MAX, "every fold fails")] {
            let (max, during, committed) = churn(fail_every);
            println!(
                "hard-remove churn, 100,000 removes, {name}: max {max:?} \
                 ({during} tombstones between a remove and its fold), {committed} folds"
            );
            assert!(max.tombstones <= 64, "{max:?}");
            assert!(during <= 65, "{during}");
        }
        let (max, during, committed) = churn(usize::MAX);
        assert_eq!((max.tombstones, during, committed), (64, 65, 0));
    }
}
