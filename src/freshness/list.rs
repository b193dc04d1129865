//! Listings: what a listing's ticket keeps, and the check that no key M held when it was
//! issued is missing from what it returned.

use std::cmp::Ordering;

use crate::names::Triple;

use super::{Freshness, HashMap, Key, KeyName, Pair, Slot};

/// A listing's ticket: when it was issued and, anchored, what M held in the pair (or in every
/// pair) then.
#[derive(Debug)]
pub(crate) struct ListTicket {
    /// [`Freshness::tick`] at issue: an entry of M set at or before it was held then, with the
    /// version it holds now.
    tick: u64,
    /// Anchored: the keys M held, sorted (`keep_listed` searches it); empty otherwise.
    held: Vec<Key>,
}

/// What a listing returned, by plaintext names.
pub(crate) enum Listed<'a> {
    /// The keys of one namespace pair.
    Pair(&'a str, &'a str, &'a [String]),
    /// Whole keys.
    Keys(&'a [Key]),
}

impl Freshness {
    /// Before listing the pair `(p, s)` (`None`: every pair).
    pub(crate) fn list_issued(&self, pair: Option<(&str, &str)>) -> ListTicket {
        let mut held = Vec::new();
        if self.anchored {
            for ((p, s), m) in &self.map {
                if pair.is_some_and(|(lp, ls)| lp != p || ls != s) {
                    continue;
                }
                let keys = m
                    .keys
                    .iter()
                    .filter(|(_, i)| self.entry_at(**i).is_some_and(|e| e.held.is_some()));
                held.extend(keys.map(|(k, _)| (p.clone(), s.clone(), k.key().to_owned())));
            }
            held.sort_unstable_by(key_cmp);
        }
        ListTicket {
            tick: self.tick,
            held,
        }
    }

    /// The smallest key of the pair `scope` (`None`: of every pair) that M held when the
    /// listing `t` was issued, still holds with the same version and has nothing in flight
    /// for, that `listed` does not hold: `(key, version)`.
    pub(crate) fn list_missing(
        &mut self,
        t: &ListTicket,
        scope: Option<(&str, &str)>,
        listed: &Listed<'_>,
    ) -> Option<(Key, u64)> {
        // Every listed key M holds is marked with this check's number (a key listed twice
        // counts once); what is left unmarked was not listed.
        self.checks += 1;
        let mark = self.checks;
        let slots = &mut self.slots;
        let mut hit = |m: Option<&HashMap<KeyName, usize>>, k: &str| {
            let e = m
                .and_then(|m| m.get(k))
                .and_then(|i| slots.get_mut(*i))
                .and_then(Option::as_mut);
            if let Some(h) = e.and_then(|s| s.entry.held.as_mut()) {
                h.mark = mark;
            }
        };
        match *listed {
            Listed::Pair(p, s, keys) => {
                if scope.is_none_or(|scope| scope == (p, s)) {
                    let pair: &dyn Pair = &(p, s);
                    if let Some(m) = self.map.get(pair).map(|m| &m.keys) {
                        for k in keys {
                            hit(Some(m), k);
                        }
                    }
                }
            }
            Listed::Keys(keys) => {
                for (p, s, k) in keys {
                    if scope.is_none_or(|scope| scope == (p.as_str(), s.as_str())) {
                        let pair: &dyn Pair = &(p.as_str(), s.as_str());
                        hit(self.map.get(pair).map(|m| &m.keys), k);
                    }
                }
            }
        }
        let mut missing = None;
        match scope {
            Some((p, s)) => {
                let pair: &dyn Pair = &(p, s);
                if let Some(m) = self.map.get(pair) {
                    least_unlisted(&mut missing, (p, s, &m.keys), &self.slots, mark, t.tick);
                }
            }
            None => {
                for ((p, s), m) in &self.map {
                    least_unlisted(&mut missing, (p, s, &m.keys), &self.slots, mark, t.tick);
                }
            }
        }
        missing.map(|((p, s, k), v)| ((p.to_owned(), s.to_owned(), k.to_owned()), v))
    }

    /// Anchored: whether a listed key is kept in the result (held in M now or at issue, or in
    /// flight). Without an anchor every listed key is kept.
    pub(crate) fn keep_listed(&self, t: &ListTicket, key: &Key) -> bool {
        !self.anchored
            || self.get(key).is_some()
            || self.in_flight(key).is_some()
            || t.held.binary_search_by(|k| key_cmp(k, key)).is_ok()
    }
}

/// The order of `Key` (each name in turn, bytewise), as a `dyn Triple` orders it: without
/// calling `memcmp` on an empty name.
fn key_cmp(a: &Key, b: &Key) -> Ordering {
    let (a, b): (&dyn Triple, &dyn Triple) = (a, b);
    a.cmp(b)
}

/// Keeps in `least` the smallest key of `m` (the pair `(p, s)`) that M held at `tick` with
/// nothing in flight for it now, and is not marked `mark` (listed).
fn least_unlisted<'a>(
    least: &mut Option<((&'a str, &'a str, &'a str), u64)>,
    (p, s, m): (&'a str, &'a str, &'a HashMap<KeyName, usize>),
    slots: &[Option<Slot>],
    mark: u64,
    tick: u64,
) {
    for (k, i) in m {
        let Some(e) = slots.get(*i).and_then(Option::as_ref).map(|s| &s.entry) else {
            continue;
        };
        let Some(h) = e.held else { continue };
        if h.mark == mark || h.since > tick || e.flight.count > 0 {
            continue;
        }
        let key = (p, s, k.key());
        if least.is_none_or(|(l, _)| key < l) {
            *least = Some((key, h.version));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `key_cmp` is `Key`'s own order, empty names included.
    #[test]
    fn key_order_is_the_tuple_order() {
        let names = ["", "a", "b", "ab", "a_", "B"];
        let mut keys = Vec::new();
        for p in names {
            for s in names {
                for k in names {
                    keys.push((p.to_owned(), s.to_owned(), k.to_owned()));
                }
            }
        }
        for a in &keys {
            for b in &keys {
                assert_eq!(key_cmp(a, b), a.cmp(b), "{a:?} {b:?}");
            }
        }
    }
}
