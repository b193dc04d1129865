//! The entries of M and of the operations in flight: each in a slot that stays put while the
//! entry exists (a mutation's ticket names it, so its completion finds the entry without a
//! lookup), found by borrowed names through a map of namespace pairs. A pair's names are
//! copied once for all its keys, and a pair's map is kept when it empties (up to
//! [`EMPTY_PAIRS_KEPT`] of them), so a pair whose keys come and go (LDK's monitor updates)
//! does not rebuild it.

use core::borrow::Borrow;
use core::hash::{Hash, Hasher};
use std::sync::Arc;

use super::{Entry, Freshness, HashMap};
use crate::names::{same_name, Triple};

/// How many emptied pair maps are kept before they are all dropped.
pub(super) const EMPTY_PAIRS_KEPT: usize = 16;

/// A namespace pair, owned or borrowed: M's pairs are looked up by borrowed names (no copy of
/// them per lookup). Hashes and compares as the owned `(String, String)` does.
pub(super) trait Pair {
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
        same_name(p, op) && same_name(s, os)
    }
}

impl Eq for dyn Pair + '_ {}

/// A key's names: its pair's, shared by every key of the pair, and its own.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Names {
    pub(super) pair: Arc<(String, String)>,
    key: String,
}

impl Triple for Names {
    fn names(&self) -> (&str, &str, &str) {
        (&self.pair.0, &self.pair.1, &self.key)
    }
}

impl Names {
    /// The names of `key`, sharing `pair`'s if given (the same pair's names), else copied.
    pub(super) fn of(key: &impl Triple, pair: Option<&Arc<(String, String)>>) -> Names {
        let (p, s, k) = key.names();
        let pair = match pair {
            Some(pair) => Arc::clone(pair),
            None => Arc::new((p.to_owned(), s.to_owned())),
        };
        Names {
            pair,
            key: k.to_owned(),
        }
    }
}

/// The keys of one namespace pair that have entries, and the pair's names they share.
#[derive(Debug)]
pub(super) struct PairKeys {
    pub(super) names: Arc<(String, String)>,
    pub(super) keys: HashMap<KeyName, usize>,
}

/// A key's entry and its names, in the slot its ticket names.
#[derive(Debug)]
pub(super) struct Slot {
    /// Shared with the tickets of reads issued while the entry exists.
    pub(super) key: Arc<Names>,
    pub(super) entry: Entry,
}

/// The key of an entry in its pair's map: the entry's names (shared with its slot), found by
/// the key name alone. Hashes and compares as that `str` does.
#[derive(Debug)]
pub(super) struct KeyName(pub(super) Arc<Names>);

impl KeyName {
    pub(super) fn key(&self) -> &str {
        &self.0.key
    }
}

impl Borrow<str> for KeyName {
    fn borrow(&self) -> &str {
        self.key()
    }
}

impl Hash for KeyName {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.key().hash(h);
    }
}

impl PartialEq for KeyName {
    fn eq(&self, other: &Self) -> bool {
        same_name(self.key(), other.key())
    }
}

impl Eq for KeyName {}

impl Freshness {
    /// The slot of the key's entry, if it has one.
    pub(super) fn slot_of(&self, key: &impl Triple) -> Option<usize> {
        let (p, s, k) = key.names();
        let pair: &dyn Pair = &(p, s);
        self.map.get(pair).and_then(|m| m.keys.get(k)).copied()
    }

    /// The names of the pair `(p, s)`, shared, if it has a map.
    pub(super) fn pair_names(&self, p: &str, s: &str) -> Option<&Arc<(String, String)>> {
        let pair: &dyn Pair = &(p, s);
        self.map.get(pair).map(|m| &m.names)
    }

    pub(super) fn entry_at(&self, i: usize) -> Option<&Entry> {
        self.slots.get(i)?.as_ref().map(|s| &s.entry)
    }

    pub(super) fn entry_at_mut(&mut self, i: usize) -> Option<&mut Entry> {
        self.slots.get_mut(i)?.as_mut().map(|s| &mut s.entry)
    }

    pub(super) fn entry(&self, key: &impl Triple) -> Option<&Entry> {
        self.entry_at(self.slot_of(key)?)
    }

    /// The slot of the key's entry, made if there is none (names are copied only then).
    pub(super) fn slot_or_new(&mut self, key: &impl Triple) -> usize {
        let (p, s, k) = key.names();
        let pair: &dyn Pair = &(p, s);
        let m = match self.map.get_mut(pair) {
            Some(m) => {
                if let Some(i) = m.keys.get(k) {
                    return *i;
                }
                if m.keys.is_empty() {
                    self.empty_pairs = self.empty_pairs.saturating_sub(1);
                }
                m
            }
            None => self
                .map
                .entry((p.to_owned(), s.to_owned()))
                .or_insert_with(|| PairKeys {
                    names: Arc::new((p.to_owned(), s.to_owned())),
                    keys: HashMap::default(),
                }),
        };
        let names = Arc::new(Names::of(key, Some(&m.names)));
        let slot = Slot {
            key: Arc::clone(&names),
            entry: Entry::default(),
        };
        let i = match self.free.pop() {
            Some(i) if self.slots.get(i).is_some_and(Option::is_none) => {
                if let Some(cell) = self.slots.get_mut(i) {
                    *cell = Some(slot);
                }
                i
            }
            _ => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        m.keys.insert(KeyName(names), i);
        i
    }

    /// Removes the entry in slot `i` if it is empty (M does not hold the key, nothing in
    /// flight).
    pub(super) fn drop_if_empty(&mut self, i: usize) {
        let Some(cell) = self.slots.get_mut(i) else {
            return;
        };
        let empty = cell
            .as_ref()
            .is_some_and(|s| s.entry.held.is_none() && s.entry.flight.count == 0);
        if !empty {
            return;
        }
        let Some(slot) = cell.take() else {
            return;
        };
        self.free.push(i);
        let (p, s, k) = slot.key.names();
        let pair: &dyn Pair = &(p, s);
        let Some(m) = self.map.get_mut(pair) else {
            return;
        };
        m.keys.remove(k);
        if m.keys.is_empty() {
            self.empty_pairs += 1;
            if self.empty_pairs > EMPTY_PAIRS_KEPT {
                self.drop_empty_pairs();
            }
        }
    }

    /// Drops the maps of pairs that have no entries.
    pub(super) fn drop_empty_pairs(&mut self) {
        self.map.retain(|_, m| !m.keys.is_empty());
        self.empty_pairs = 0;
    }
}
