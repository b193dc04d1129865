//! Freshness (docs/FORMAT.md, "Freshness"): the map M of keys to versions, the operations in
//! flight, and the one rule that judges what a read found. A pure state machine, no I/O. The
//! store layer reports each operation when it is issued and when it completes, through tickets
//! that are given back exactly once (a dropped future gives its ticket back from a drop guard).

/// M's maps: keyed by names, hashed with a per-map random seed.
pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::Arc;

mod entries;
mod list;
#[cfg(test)]
mod tests;

use crate::names::{same_name, Triple};
pub(crate) use entries::Names;
use entries::{KeyName, Pair, PairKeys, Slot};
pub(crate) use list::{ListTicket, Listed};

/// A key: primary namespace, secondary namespace, key (plaintext names).
pub(crate) type Key = (String, String, String);

/// What a judgement says about a read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Serve the record (or pass the inner `NotFound` through, when nothing was found).
    Serve,
    /// The key is absent: `NotFound`.
    Absent,
    /// An older record than the key's version: `Rollback`.
    Rollback { expected_at_least: u64 },
    /// Nothing where the key must hold this version: `Missing`.
    Missing { expected_version: u64 },
}

/// A key's state at one moment: its version in M, and the version of the first operation in
/// flight for it (if any).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) version: Option<u64>,
    pub(crate) in_flight: Option<u64>,
}

impl Seen {
    fn of(e: &Entry) -> Seen {
        Seen {
            version: e.held.map(|h| h.version),
            in_flight: (e.flight.count > 0).then_some(e.flight.first),
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Flight {
    /// How many operations of the key are in flight.
    count: usize,
    /// The version of the first operation of this run (a remove counts with the version the
    /// counter had when it was issued).
    first: u64,
    /// The sequence number of the latest operation issued.
    last: u64,
}

/// A read's ticket: the key's state when it was issued.
#[derive(Debug)]
pub(crate) struct ReadTicket {
    /// The key's names: its entry's when it has one (no copy), else a copy.
    key: Arc<Names>,
    seen: Seen,
    seq: u64,
    /// [`Freshness::changes`] at issue: if it is the same at completion, so is `seen`.
    changes: u64,
}

/// A write's or remove's ticket.
#[derive(Debug)]
pub(crate) struct MutationTicket {
    /// The key's slot: an entry with an operation in flight keeps its slot.
    slot: usize,
    seq: u64,
    /// `Some(version)` for a write.
    write: Option<u64>,
    /// The data key that seals the write, once [`Freshness::sealing`] counted it.
    sealed_under: Option<u32>,
}

impl ReadTicket {
    /// The version M held for the key when the read was issued.
    pub(crate) fn held(&self) -> Option<u64> {
        self.seen.version
    }

    /// Whether an operation of the key was in flight when the read was issued.
    pub(crate) fn was_in_flight(&self) -> bool {
        self.seen.in_flight.is_some()
    }

    /// The key read.
    pub(crate) fn key(&self) -> &Names {
        &self.key
    }
}

/// What is known of one key: its version in M, if M holds it, and its operations in flight.
/// A key with neither has no entry.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    held: Option<Held>,
    flight: Flight,
}

impl Entry {
    /// Holds `version` in M from `since` on; an entry that already holds it is left as it is
    /// (its `since` and mark too). Returns whether it changed.
    fn hold(&mut self, version: u64, since: u64) -> bool {
        let changed = self.held.is_none_or(|h| h.version != version);
        if changed {
            self.held = Some(Held {
                version,
                since,
                mark: 0,
            });
        }
        changed
    }
}

/// A key's version in M.
#[derive(Clone, Copy, Debug)]
struct Held {
    version: u64,
    /// The [`Freshness::tick`] at which the entry took this version.
    since: u64,
    /// The last missing-key check that found the key listed.
    mark: u64,
}

/// The freshness state of an open store.
#[derive(Debug)]
pub(crate) struct Freshness {
    anchored: bool,
    read_only: bool,
    /// S: the first version of this session (2^64 − 1 for a read-only instance).
    start: u64,
    /// F: the accept mark (0 without an anchor).
    accept_mark: u64,
    /// Every key M holds or has an operation in flight, grouped by namespace pair: the slot of
    /// its entry. One lookup finds both. A pair's map may be empty (kept for reuse).
    map: HashMap<(String, String), PairKeys>,
    /// How many of `map`'s pairs have no keys.
    empty_pairs: usize,
    /// The entries (`None`: a free slot, listed in `free`). A slot stays with its key while the
    /// entry exists, so a mutation's completion finds it without a lookup.
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Counts changes of M's entries (each entry records when it took its version), so a
    /// listing needs no copy of M to know which keys were held when it was issued.
    tick: u64,
    /// Counts missing-key checks (each marks the keys its listing holds).
    checks: u64,
    /// How many keys have operations in flight: when none has, reads look at M alone.
    active: usize,
    /// Counts changes of anything a judgement reads (the entries, the anchor's use, F): a
    /// read that completes with no change since its issue judges the state it saw then.
    changes: u64,
    /// Operations issued so far (a sequence number, not a version).
    seq: u64,
    /// The key a re-encryption pass is reading, and whether a write or remove of it was
    /// issued since.
    watched: Option<(Key, bool)>,
    /// Writes in flight, by the id of the data key that seals them (a few ids: a list).
    sealed_under: Vec<(u32, usize)>,
}

impl Freshness {
    pub(crate) fn new(read_only: bool, start: u64) -> Self {
        Freshness {
            anchored: false,
            read_only,
            start: if read_only { u64::MAX } else { start },
            accept_mark: 0,
            map: HashMap::default(),
            empty_pairs: 0,
            slots: Vec::new(),
            free: Vec::new(),
            tick: 0,
            checks: 0,
            active: 0,
            changes: 0,
            seq: 0,
            watched: None,
            sealed_under: Vec::new(),
        }
    }

    /// Loads what the anchor holds: M and the accept mark F.
    pub(crate) fn load(&mut self, entries: Vec<(Key, u64)>, accept_mark: u64) {
        self.changes += 1;
        self.anchored = true;
        self.accept_mark = accept_mark;
        // Operations in flight stay; M is replaced.
        let (slots, free) = (&mut self.slots, &mut self.free);
        for m in self.map.values_mut() {
            m.keys.retain(|_, i| {
                let Some(cell) = slots.get_mut(*i) else {
                    return false;
                };
                let keep = cell.as_mut().is_some_and(|slot| {
                    slot.entry.held = None;
                    slot.entry.flight.count > 0
                });
                if !keep && cell.take().is_some() {
                    free.push(*i);
                }
                keep
            });
        }
        self.drop_empty_pairs();
        self.tick += 1;
        let since = self.tick;
        for (key, version) in entries {
            let held = Held {
                version,
                since,
                mark: 0,
            };
            let i = self.slot_or_new(&key);
            if let Some(e) = self.entry_at_mut(i) {
                e.held = Some(held);
            }
        }
    }

    pub(crate) fn is_anchored(&self) -> bool {
        self.anchored
    }

    /// Stops using the anchor: M keeps what it holds and goes on as for a store without one.
    pub(crate) fn unanchor(&mut self) {
        self.changes += 1;
        self.anchored = false;
        self.accept_mark = 0;
    }

    pub(crate) fn get(&self, key: &impl Triple) -> Option<u64> {
        self.entry(key).and_then(|e| e.held).map(|h| h.version)
    }

    /// Sets or clears `M[key]`.
    fn set(&mut self, key: &impl Triple, v: Option<u64>) {
        self.changes += 1;
        match v {
            Some(v) => {
                let since = self.tick + 1;
                let i = self.slot_or_new(key);
                if self.entry_at_mut(i).is_some_and(|e| e.hold(v, since)) {
                    self.tick = since;
                }
            }
            None => {
                if let Some(i) = self.slot_of(key) {
                    self.clear_at(i);
                }
            }
        }
    }

    /// Clears `M[key]` in slot `i`, and the key's entry with it unless an operation of it is in
    /// flight.
    fn clear_at(&mut self, i: usize) {
        self.changes += 1;
        if let Some(e) = self.entry_at_mut(i) {
            e.held = None;
        }
        self.drop_if_empty(i);
    }

    /// `M[k]` after a read-only instance re-read the key's anchor entry (before an alarm): the
    /// entry's version, or the version M holds if that is greater (a record this instance
    /// served whose entry the writer has not written yet), or nothing if there is no entry.
    pub(crate) fn reload(&mut self, key: &impl Triple, v: Option<u64>) {
        let v = v.map(|v| self.get(key).map_or(v, |m| m.max(v)));
        self.set(key, v);
    }

    /// A read-only instance re-read the entry of `key` before serving its record of version
    /// `v`: held at the greatest of the entry, `M[k]` and `v`, or dropped if there is no entry.
    /// Returns whether it is held (else the read is absent).
    pub(crate) fn reread_before_serving(
        &mut self,
        key: &impl Triple,
        entry: Option<u64>,
        v: u64,
    ) -> bool {
        self.reload(key, entry.map(|e| e.max(v)));
        entry.is_some()
    }

    /// The version of the first operation of `key` in flight, if any.
    fn in_flight(&self, key: &impl Triple) -> Option<u64> {
        if self.active == 0 {
            return None;
        }
        self.entry(key)
            .map(|e| e.flight)
            .filter(|f| f.count > 0)
            .map(|f| f.first)
    }

    fn seen(&self, key: &impl Triple) -> Seen {
        self.entry(key).map(Seen::of).unwrap_or_default()
    }

    /// The rule (docs/FORMAT.md, "The rule") for one state of the key.
    pub(crate) fn judge(&self, seen: Seen, found: Option<u64>) -> Verdict {
        match (self.anchored, seen.version, found) {
            (true, Some(m), Some(v)) => {
                if v == m || (v > m && v >= self.accept_mark) {
                    Verdict::Serve
                } else {
                    Verdict::Rollback {
                        expected_at_least: m,
                    }
                }
            }
            (true, None, Some(v)) => match seen.in_flight {
                Some(first) if v >= first => Verdict::Serve,
                _ => Verdict::Absent,
            },
            (false, Some(m), Some(v)) => {
                if v >= m {
                    Verdict::Serve
                } else {
                    Verdict::Rollback {
                        expected_at_least: m,
                    }
                }
            }
            (false, None, Some(v)) => {
                if seen.in_flight.is_some() || v < self.start {
                    Verdict::Serve
                } else {
                    Verdict::Absent
                }
            }
            (anchored, Some(m), None) => {
                if !anchored && self.read_only {
                    Verdict::Absent
                } else {
                    Verdict::Missing {
                        expected_version: m,
                    }
                }
            }
            (_, None, None) => Verdict::Absent,
        }
    }

    // ---- reads ----

    pub(crate) fn read_issued(&self, key: impl Triple) -> ReadTicket {
        let slot = self.slot_of(&key).and_then(|i| self.slots.get(i)?.as_ref());
        let (key, seen) = match slot {
            Some(slot) => (Arc::clone(&slot.key), Seen::of(&slot.entry)),
            None => {
                let (p, s, _) = key.names();
                let names = Names::of(&key, self.pair_names(p, s));
                (Arc::new(names), Seen::default())
            }
        };
        ReadTicket {
            key,
            seen,
            seq: self.seq,
            changes: self.changes,
        }
    }

    /// Judges a read that returned (`found`: the version of the record, or `None` for the
    /// inner `NotFound`) against the issue-time state and the state now: refused only if both
    /// refuse (the issue-time refusal is reported). A read-only instance that re-read the
    /// key's entry after a refusal calls this again, to judge against the entry it re-read.
    /// A served record of a store without an anchor is watched from now on
    /// (`M[k] = max(M[k], v)`), unless an operation overlapped the read; a read-only anchored
    /// instance raises `M[k]` so for a key it holds.
    pub(crate) fn read_done(&mut self, t: &ReadTicket, found: Option<u64>) -> Verdict {
        let (verdict, seen_now) = self.both_moments(t, found);
        if let (Verdict::Serve, Some(v)) = (verdict, found) {
            // Watched only if no operation of the key was in flight or issued while the read
            // was: one that lands after the read may remove what it found.
            // (`seen_now` is the state now: nothing changed it since it was taken.)
            let quiet =
                t.seq == self.seq && t.seen.in_flight.is_none() && seen_now.in_flight.is_none();
            // A read-only anchored instance raises a version it holds, never adds a key: one
            // it dropped while the read was in flight (its entry was gone) stays dropped.
            let watched = !self.anchored || (self.read_only && seen_now.version.is_some());
            if watched && quiet {
                let m = seen_now.version.map_or(v, |m| m.max(v));
                if seen_now.version != Some(m) {
                    self.set(&*t.key, Some(m));
                }
            }
        }
        verdict
    }

    /// The key's state now.
    pub(crate) fn seen_now(&self, key: &impl Triple) -> Seen {
        self.seen(key)
    }

    /// The read `t`'s verdict: judged against the key's state at issue and now, refused only
    /// if both refuse (the issue-time refusal is reported). Returns the state now with it.
    fn both_moments(&self, t: &ReadTicket, found: Option<u64>) -> (Verdict, Seen) {
        let seen_now = if t.changes == self.changes {
            t.seen
        } else {
            self.seen(&*t.key)
        };
        let then = self.judge(t.seen, found);
        let now = self.judge(seen_now, found);
        let verdict = match (then, now) {
            (Verdict::Serve, _) | (_, Verdict::Serve) => Verdict::Serve,
            (Verdict::Absent, _) | (_, Verdict::Absent) => Verdict::Absent,
            // Nothing found where M held a version: a deletion only if M held the same version
            // at both moments (a remove and a new write in between may have left a gap).
            (Verdict::Missing { .. }, _) if t.seen.version != seen_now.version => Verdict::Absent,
            (refused, _) => refused,
        };
        (verdict, seen_now)
    }

    // ---- writes and removes ----

    /// Counts an operation of `key` in flight; returns its sequence number and the key's slot.
    fn issue(&mut self, key: &impl Triple, first: u64) -> (u64, usize) {
        self.changes += 1;
        self.seq += 1;
        let seq = self.seq;
        let i = self.slot_or_new(key);
        let starts = self.entry_at_mut(i).is_some_and(|e| {
            let f = &mut e.flight;
            let starts = f.count == 0;
            if starts {
                // This operation starts a new run.
                f.first = first;
            }
            f.count += 1;
            f.last = seq;
            starts
        });
        if starts {
            self.active += 1;
        }
        if let Some((k, disturbed)) = &mut self.watched {
            let ((p, s, n), (wp, ws, wn)) = (key.names(), k.names());
            if same_name(p, wp) && same_name(s, ws) && same_name(n, wn) {
                *disturbed = true;
            }
        }
        (seq, i)
    }

    pub(crate) fn write_issued(&mut self, key: impl Triple, version: u64) -> MutationTicket {
        let (seq, slot) = self.issue(&key, version);
        MutationTicket {
            slot,
            seq,
            write: Some(version),
            sealed_under: None,
        }
    }

    /// A remove: the key leaves M now, before the inner call (`next`: the counter's next
    /// version, which every later write of the key is at least).
    pub(crate) fn remove_issued(&mut self, key: impl Triple, next: u64) -> MutationTicket {
        let (seq, slot) = self.issue(&key, next);
        self.clear_at(slot);
        MutationTicket {
            slot,
            seq,
            write: None,
            sealed_under: None,
        }
    }

    /// The write `t` is sealed under the data key `key_id`: counted until it completes.
    pub(crate) fn sealing(&mut self, t: &mut MutationTicket, key_id: u32) {
        if t.sealed_under.is_some() {
            return;
        }
        match self.sealed_under.iter_mut().find(|(id, _)| *id == key_id) {
            Some((_, n)) => *n += 1,
            None => self.sealed_under.push((key_id, 1)),
        }
        t.sealed_under = Some(key_id);
    }

    /// Whether a write sealed under another data key than `current` is in flight.
    pub(crate) fn sealed_under_other(&self, current: u32) -> bool {
        self.sealed_under
            .iter()
            .any(|(id, n)| *id != current && *n > 0)
    }

    /// A write or remove returned (`ok`) or failed (or its future was dropped). Returns the
    /// key with the version M now holds for it when the write set it (the anchor's entry to
    /// write).
    pub(crate) fn mutation_done(&mut self, t: MutationTicket, ok: bool) -> Option<(&Names, u64)> {
        self.changes += 1;
        if let Some(id) = t.sealed_under {
            if let Some((_, n)) = self.sealed_under.iter_mut().find(|(i, _)| *i == id) {
                *n = n.saturating_sub(1);
            }
        }
        let since = self.tick + 1;
        let (mut set, mut changed, mut idle) = (None, false, false);
        if let Some(e) = self.entry_at_mut(t.slot) {
            let f = &mut e.flight;
            let latest = f.last == t.seq;
            idle = f.count == 1;
            f.count = f.count.saturating_sub(1);
            if let (Some(v), true, true) = (t.write, ok, latest) {
                changed = e.hold(v, since);
                set = Some(v);
            }
        }
        if idle {
            self.active = self.active.saturating_sub(1);
        }
        if changed {
            self.tick = since;
        }
        self.drop_if_empty(t.slot);
        let key = self.slots.get(t.slot)?.as_ref().map(|s| &*s.key)?;
        set.map(|v| (key, v))
    }

    // ---- re-encryption ----

    /// A re-encryption pass is about to read `key`: notes whether an operation of it is in
    /// flight, and from now on whether one is issued.
    pub(crate) fn reencrypt_read(&mut self, key: &Key) -> bool {
        self.watched = Some((key.clone(), false));
        self.in_flight(key).is_none()
    }

    /// Whether the pass may write `key` back now: nothing was in flight when it read it
    /// (`quiet`), nothing is now, and nothing was issued since.
    pub(crate) fn reencrypt_may_write(&mut self, key: &impl Triple, quiet: bool) -> bool {
        let undisturbed = matches!(&self.watched, Some((k, false)) if k.names() == key.names());
        self.watched = None;
        quiet && undisturbed && self.in_flight(key).is_none()
    }
}
