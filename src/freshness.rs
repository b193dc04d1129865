//! Freshness (docs/FORMAT.md, "Freshness"): the map M of keys to versions, the operations in
//! flight, and the one rule that judges what a read found. A pure state machine, no I/O. The
//! store layer reports each operation when it is issued and when it completes, through tickets
//! that are given back exactly once (a dropped future gives its ticket back from a drop guard).

use core::borrow::Borrow;
use core::hash::{Hash, Hasher};
use std::collections::HashMap;

mod list;
#[cfg(test)]
mod tests;

pub(crate) use list::{ListTicket, Listed};

/// A key: primary namespace, secondary namespace, key (plaintext names).
pub(crate) type Key = (String, String, String);

/// A namespace pair, owned or borrowed: M's pairs are looked up by borrowed names (no copy of
/// them per lookup). Hashes and compares as the owned `(String, String)` does.
trait Pair {
    fn pair(&self) -> (&str, &str);
}

impl Pair for (String, String) {
    fn pair(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl Pair for (&str, &str) {
    fn pair(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> Borrow<dyn Pair + 'a> for (String, String) {
    fn borrow(&self) -> &(dyn Pair + 'a) {
        self
    }
}

impl Hash for dyn Pair + '_ {
    fn hash<H: Hasher>(&self, h: &mut H) {
        // As `(String, String)` hashes: each `str` in turn.
        self.pair().hash(h);
    }
}

impl PartialEq for dyn Pair + '_ {
    fn eq(&self, other: &Self) -> bool {
        let ((p, s), (op, os)) = (self.pair(), other.pair());
        same(p, op) && same(s, os)
    }
}

/// `a == b`, without calling `memcmp` for two empty names: an empty `str` points at a dangling
/// address, and glibc's AVX-512 `memcmp` loads from it under an all-zero mask, which costs a
/// microcode assist of about 75 ns on such CPUs (the empty secondary namespace is LDK's
/// commonest).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

impl Eq for dyn Pair + '_ {}

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
    key: Key,
    seen: Seen,
    seq: u64,
    /// [`Freshness::changes`] at issue: if it is the same at completion, so is `seen`.
    changes: u64,
}

/// A write's or remove's ticket.
#[derive(Debug)]
pub(crate) struct MutationTicket {
    key: Key,
    seq: u64,
    /// `Some(version)` for a write.
    write: Option<u64>,
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
    pub(crate) fn key(&self) -> &Key {
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
    /// Every key M holds or has an operation in flight, grouped by namespace pair: one lookup
    /// finds both.
    map: HashMap<(String, String), HashMap<String, Entry>>,
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
}

impl Freshness {
    pub(crate) fn new(read_only: bool, start: u64) -> Self {
        Freshness {
            anchored: false,
            read_only,
            start: if read_only { u64::MAX } else { start },
            accept_mark: 0,
            map: HashMap::new(),
            tick: 0,
            checks: 0,
            active: 0,
            changes: 0,
            seq: 0,
            watched: None,
        }
    }

    /// Loads what the anchor holds: M and the accept mark F.
    pub(crate) fn load(&mut self, entries: Vec<(Key, u64)>, accept_mark: u64) {
        self.changes += 1;
        self.anchored = true;
        self.accept_mark = accept_mark;
        // Operations in flight stay; M is replaced.
        for m in self.map.values_mut() {
            m.retain(|_, e| {
                e.held = None;
                e.flight.count > 0
            });
        }
        self.map.retain(|_, m| !m.is_empty());
        self.tick += 1;
        let since = self.tick;
        for ((p, s, k), version) in entries {
            let held = Held {
                version,
                since,
                mark: 0,
            };
            let e = self.map.entry((p, s)).or_default().entry(k).or_default();
            e.held = Some(held);
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

    fn entry(&self, key: &Key) -> Option<&Entry> {
        let pair: &dyn Pair = &(key.0.as_str(), key.1.as_str());
        self.map.get(pair).and_then(|m| m.get(key.2.as_str()))
    }

    /// Runs `f` on the key's entry, made if there is none (names are copied only then).
    fn with_entry<R>(&mut self, key: &Key, f: impl FnOnce(&mut Entry) -> R) -> R {
        self.changes += 1;
        let pair: &dyn Pair = &(key.0.as_str(), key.1.as_str());
        if let Some(e) = self
            .map
            .get_mut(pair)
            .and_then(|m| m.get_mut(key.2.as_str()))
        {
            return f(e);
        }
        let m = match self.map.get_mut(pair) {
            Some(m) => m,
            None => self.map.entry((key.0.clone(), key.1.clone())).or_default(),
        };
        f(m.entry(key.2.clone()).or_default())
    }

    pub(crate) fn get(&self, key: &Key) -> Option<u64> {
        self.entry(key).and_then(|e| e.held).map(|h| h.version)
    }

    /// Sets or clears `M[key]`.
    fn set(&mut self, key: &Key, v: Option<u64>) {
        let since = self.tick + 1;
        match v {
            Some(v) => {
                let changed = self.with_entry(key, |e| e.hold(v, since));
                if changed {
                    self.tick = since;
                }
            }
            None => self.clear(key),
        }
    }

    /// Clears `M[key]`, and the key's entry with it unless an operation of it is in flight.
    fn clear(&mut self, key: &Key) {
        self.changes += 1;
        let pair: &dyn Pair = &(key.0.as_str(), key.1.as_str());
        let Some(m) = self.map.get_mut(pair) else {
            return;
        };
        if let Some(e) = m.get_mut(key.2.as_str()) {
            e.held = None;
            if e.flight.count == 0 {
                m.remove(key.2.as_str());
                if m.is_empty() {
                    self.map.remove(pair);
                }
            }
        }
    }

    /// Replaces `M[k]` by what the anchor holds now (a read-only instance, before an alarm).
    pub(crate) fn reload(&mut self, key: &Key, v: Option<u64>) {
        self.set(key, v);
    }

    /// The version of the first operation of `key` in flight, if any.
    fn in_flight(&self, key: &Key) -> Option<u64> {
        if self.active == 0 {
            return None;
        }
        self.entry(key)
            .map(|e| e.flight)
            .filter(|f| f.count > 0)
            .map(|f| f.first)
    }

    fn seen(&self, key: &Key) -> Seen {
        match self.entry(key) {
            Some(e) => Seen {
                version: e.held.map(|h| h.version),
                in_flight: (e.flight.count > 0).then_some(e.flight.first),
            },
            None => Seen::default(),
        }
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

    pub(crate) fn read_issued(&self, key: Key) -> ReadTicket {
        let seen = self.seen(&key);
        ReadTicket {
            key,
            seen,
            seq: self.seq,
            changes: self.changes,
        }
    }

    /// Judges a read that returned (`found`: the version of the record, or `None` for the
    /// inner `NotFound`) against the issue-time state and the state now: refused only if both
    /// refuse (the issue-time refusal is reported). A served record of a store without an
    /// anchor is watched from now on, unless an operation overlapped the read.
    pub(crate) fn read_done(&mut self, t: &ReadTicket, found: Option<u64>) -> Verdict {
        let seen_now = if t.changes == self.changes {
            t.seen
        } else {
            self.seen(&t.key)
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
        if let (Verdict::Serve, Some(v)) = (verdict, found) {
            // Watched only if no operation of the key was in flight or issued while the read
            // was: one that lands after the read may remove what it found.
            // (`seen_now` is the state now: nothing changed it since it was taken.)
            let quiet =
                t.seq == self.seq && t.seen.in_flight.is_none() && seen_now.in_flight.is_none();
            if !self.anchored && quiet {
                let m = seen_now.version.map_or(v, |m| m.max(v));
                if seen_now.version != Some(m) {
                    self.set(&t.key, Some(m));
                }
            }
        }
        verdict
    }

    /// The key's state now, to judge again after a read-only instance reloaded it.
    pub(crate) fn seen_now(&self, key: &Key) -> Seen {
        self.seen(key)
    }

    // ---- writes and removes ----

    fn issue(&mut self, key: &Key, first: u64) -> u64 {
        self.seq += 1;
        let seq = self.seq;
        let starts = self.with_entry(key, |e| {
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
            if k == key {
                *disturbed = true;
            }
        }
        seq
    }

    pub(crate) fn write_issued(&mut self, key: Key, version: u64) -> MutationTicket {
        let seq = self.issue(&key, version);
        MutationTicket {
            key,
            seq,
            write: Some(version),
        }
    }

    /// A remove: the key leaves M now, before the inner call (`next`: the counter's next
    /// version, which every later write of the key is at least).
    pub(crate) fn remove_issued(&mut self, key: Key, next: u64) -> MutationTicket {
        let seq = self.issue(&key, next);
        self.set(&key, None);
        MutationTicket {
            key,
            seq,
            write: None,
        }
    }

    /// A write or remove returned (`ok`) or failed (or its future was dropped). Returns the
    /// key with the version M now holds for it when the write set it (the anchor's entry to
    /// write).
    pub(crate) fn mutation_done(&mut self, t: MutationTicket, ok: bool) -> (Key, Option<u64>) {
        self.changes += 1;
        let pair: &dyn Pair = &(t.key.0.as_str(), t.key.1.as_str());
        let since = self.tick + 1;
        let mut set = None;
        if let Some(m) = self.map.get_mut(pair) {
            if let Some(e) = m.get_mut(t.key.2.as_str()) {
                let f = &mut e.flight;
                let latest = f.last == t.seq;
                let idle = f.count == 1;
                f.count = f.count.saturating_sub(1);
                if idle {
                    self.active = self.active.saturating_sub(1);
                }
                if let (Some(v), true, true) = (t.write, ok, latest) {
                    if e.hold(v, since) {
                        self.tick = since;
                    }
                    set = Some(v);
                }
                if e.held.is_none() && e.flight.count == 0 {
                    m.remove(t.key.2.as_str());
                    if m.is_empty() {
                        self.map.remove(pair);
                    }
                }
            }
        }
        (t.key, set)
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
    pub(crate) fn reencrypt_may_write(&mut self, key: &Key, quiet: bool) -> bool {
        let undisturbed = matches!(&self.watched, Some((k, false)) if k == key);
        self.watched = None;
        quiet && undisturbed && self.in_flight(key).is_none()
    }
}
