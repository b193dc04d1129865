//! The rule and its updates, against a model of an inner store whose operations on one key
//! apply in call order at any moment between call and completion.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use proptest::prelude::*;

use super::*;

mod read_only;

fn key(i: u8) -> Key {
    ("p".into(), String::new(), format!("k{i}"))
}

fn seen(version: Option<u64>, in_flight: Option<u64>) -> Seen {
    Seen { version, in_flight }
}

#[test]
fn the_rule_anchored() {
    let mut f = Freshness::new(false, 1_000);
    f.load(Vec::new(), 500);
    let m = Some(100);
    assert_eq!(f.judge(seen(m, None), Some(100)), Verdict::Serve);
    assert_eq!(
        f.judge(seen(m, None), Some(600)),
        Verdict::Serve,
        "newer, at least F"
    );
    assert_eq!(
        f.judge(seen(m, None), Some(200)),
        Verdict::Rollback {
            expected_at_least: 100
        },
        "newer than M but below F: a record of an abandoned timeline"
    );
    assert_eq!(
        f.judge(seen(m, None), Some(99)),
        Verdict::Rollback {
            expected_at_least: 100
        }
    );
    assert_eq!(
        f.judge(seen(m, None), None),
        Verdict::Missing {
            expected_version: 100
        }
    );
    assert_eq!(f.judge(seen(None, None), Some(2_000)), Verdict::Absent);
    assert_eq!(f.judge(seen(None, None), None), Verdict::Absent);
    assert_eq!(
        f.judge(seen(None, Some(1_500)), Some(1_600)),
        Verdict::Serve
    );
    assert_eq!(
        f.judge(seen(None, Some(1_500)), Some(1_400)),
        Verdict::Absent
    );
}

#[test]
fn the_rule_without_an_anchor() {
    let f = Freshness::new(false, 1_000);
    assert_eq!(f.judge(seen(Some(100), None), Some(100)), Verdict::Serve);
    assert_eq!(f.judge(seen(Some(100), None), Some(101)), Verdict::Serve);
    assert_eq!(
        f.judge(seen(Some(100), None), Some(99)),
        Verdict::Rollback {
            expected_at_least: 100
        }
    );
    assert_eq!(
        f.judge(seen(Some(100), None), None),
        Verdict::Missing {
            expected_version: 100
        }
    );
    assert_eq!(
        f.judge(seen(None, None), Some(999)),
        Verdict::Serve,
        "older than the session"
    );
    assert_eq!(
        f.judge(seen(None, None), Some(1_000)),
        Verdict::Absent,
        "this session's, removed"
    );
    assert_eq!(
        f.judge(seen(None, Some(1_000)), Some(1_000)),
        Verdict::Serve
    );
    let ro = Freshness::new(true, 1_000);
    assert_eq!(ro.judge(seen(Some(100), None), None), Verdict::Absent);
    assert_eq!(
        ro.judge(seen(None, None), Some(u64::MAX - 1)),
        Verdict::Serve
    );
}

#[test]
fn a_served_read_is_watched_unless_an_operation_overlapped_it() {
    let mut f = Freshness::new(false, 1_000);
    let t = f.read_issued(key(0));
    assert_eq!(f.read_done(&t, Some(7)), Verdict::Serve);
    assert_eq!(f.get(&key(0)), Some(7));
    let t = f.read_issued(key(1));
    let w = f.remove_issued(key(1), 1_000);
    f.mutation_done(w, true);
    assert_eq!(
        f.read_done(&t, Some(7)),
        Verdict::Serve,
        "read before the remove"
    );
    assert_eq!(
        f.get(&key(1)),
        None,
        "not watched: the remove may have come after the read"
    );
}

#[test]
fn only_the_latest_write_of_a_key_sets_it() {
    let mut f = Freshness::new(false, 10);
    let a = f.write_issued(key(0), 10);
    let b = f.write_issued(key(0), 11);
    assert_eq!(f.mutation_done(b, true).map(|(_, v)| v), Some(11));
    assert_eq!(f.mutation_done(a, true).map(|(_, v)| v), None);
    assert_eq!(f.get(&key(0)), Some(11));
    let c = f.write_issued(key(0), 12);
    let r = f.remove_issued(key(0), 13);
    assert_eq!(
        f.mutation_done(c, true).map(|(_, v)| v),
        None,
        "a remove was issued after it"
    );
    f.mutation_done(r, false);
    assert_eq!(
        f.get(&key(0)),
        None,
        "a failed remove still leaves the key absent"
    );
}

/// A read-only anchored instance raises what it holds to what it served, never adds a key so,
/// and a re-read entry older than what it holds does not lower it (the writer's entry of a
/// record this instance served may not be written yet); no entry drops the key, and before
/// serving makes the read absent.
#[test]
fn a_read_only_instance_holds_what_it_served() {
    let mut f = Freshness::new(true, 0);
    f.load(vec![(key(0), 10)], 0);
    let t = f.read_issued(key(0));
    assert_eq!(f.read_done(&t, Some(12)), Verdict::Serve);
    assert_eq!(f.get(&key(0)), Some(12));
    f.reload(&key(0), Some(10));
    assert_eq!(f.get(&key(0)), Some(12));
    let t = f.read_issued(key(0));
    assert_eq!(
        f.read_done(&t, Some(10)),
        Verdict::Rollback {
            expected_at_least: 12
        }
    );
    f.reload(&key(0), Some(13));
    assert_eq!(f.get(&key(0)), Some(13));
    // Dropped (no entry) while a read that found the old record was in flight: the read is
    // served (judged at its issue), and the key stays dropped.
    let t = f.read_issued(key(0));
    f.reload(&key(0), None);
    assert_eq!(f.read_done(&t, Some(13)), Verdict::Serve);
    assert_eq!(f.get(&key(0)), None);
    // Before serving, the entry re-read: none, absent; an entry older than the record served
    // (its entry not written yet), held at the record's version.
    assert!(!f.reread_before_serving(&key(0), None, 13));
    assert_eq!(f.get(&key(0)), None);
    assert!(f.reread_before_serving(&key(0), Some(13), 15));
    assert_eq!(f.get(&key(0)), Some(15));
    assert!(f.reread_before_serving(&key(0), Some(14), 14));
    assert_eq!(f.get(&key(0)), Some(15));
}

/// A read-only anchored instance re-reads the key's entry before refusing a read, and judges
/// the read again against both moments: a record the writer has since replaced is absent (it
/// was the key's record when this instance did not hold the key), while a record older than
/// what the instance held when the read was issued is a rollback whatever the entry is now.
#[test]
fn a_reread_entry_is_judged_with_the_moment_of_issue() {
    let mut f = Freshness::new(true, 0);
    f.load(vec![(key(1), 97)], 0);
    // k0 unknown at issue; the inner read finds the writer's record 89; by the time the entry
    // is re-read the writer has written 97.
    let t = f.read_issued(key(0));
    assert_eq!(f.read_done(&t, Some(89)), Verdict::Absent);
    f.reload(&key(0), Some(97));
    assert_eq!(f.read_done(&t, Some(89)), Verdict::Absent);
    // The next read, with 97 held, refuses 89.
    let t = f.read_issued(key(0));
    assert_eq!(
        f.read_done(&t, Some(89)),
        Verdict::Rollback {
            expected_at_least: 97
        }
    );
    // k1 held at 97 when the read is issued: 89 is refused, also when the entry moved on.
    for now in [97, 98] {
        f.reload(&key(1), Some(97));
        let t = f.read_issued(key(1));
        assert_eq!(
            f.read_done(&t, Some(89)),
            Verdict::Rollback {
                expected_at_least: 97
            }
        );
        f.reload(&key(1), Some(now));
        assert_eq!(
            f.read_done(&t, Some(89)),
            Verdict::Rollback {
                expected_at_least: 97
            },
            "entry now {now}"
        );
    }
    // A record the writer wrote after this instance's read was issued is served.
    let t = f.read_issued(key(1));
    f.reload(&key(1), Some(99));
    assert_eq!(f.read_done(&t, Some(99)), Verdict::Serve);
}

#[test]
fn a_reencryption_never_writes_back_over_an_operation_of_its_key() {
    let mut f = Freshness::new(false, 10);
    let quiet = f.reencrypt_read(&key(0));
    assert!(f.reencrypt_may_write(&key(0), quiet));
    let quiet = f.reencrypt_read(&key(0));
    let w = f.write_issued(key(0), 10);
    f.mutation_done(w, true);
    assert!(
        !f.reencrypt_may_write(&key(0), quiet),
        "a write was issued during the pass"
    );
    let quiet = f.reencrypt_read(&key(0));
    assert!(quiet, "the write landed: nothing is in flight");
    assert!(f.reencrypt_may_write(&key(0), quiet));
    // Another key's operation in flight is not this key's.
    let other = f.write_issued(key(1), 10);
    let quiet = f.reencrypt_read(&key(0));
    assert!(quiet, "only another key has an operation in flight");
    assert!(f.reencrypt_may_write(&key(0), quiet));
    f.mutation_done(other, true);
    let w = f.write_issued(key(0), 11);
    let quiet = f.reencrypt_read(&key(0));
    assert!(!quiet);
    f.mutation_done(w, true);
    assert!(
        !f.reencrypt_may_write(&key(0), quiet),
        "one was in flight when the pass read"
    );
}

/// One step of a run over three keys.
#[derive(Clone, Debug)]
enum Step {
    Write(u8),
    Remove(u8),
    Read(u8),
    /// Applies the oldest unapplied operation of a key to the inner store.
    Apply(u8),
    /// Performs the read at this index of the reads in flight.
    Perform(usize),
    /// Completes the operation at this index: succeeded (if applied) or failed.
    Complete(usize, bool),
    /// Completes the read at this index (performing it first if it was not).
    Finish(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..2).prop_map(Step::Write),
        (0u8..2).prop_map(Step::Remove),
        (0u8..2).prop_map(Step::Read),
        (0u8..2).prop_map(Step::Apply),
        (0usize..4).prop_map(Step::Perform),
        (0usize..4, any::<bool>()).prop_map(|(i, ok)| Step::Complete(i, ok)),
        (0usize..4).prop_map(Step::Finish),
    ]
}

struct Op {
    ticket: MutationTicket,
    key: u8,
    /// `Some(version)`: a write.
    write: Option<u64>,
    applied: bool,
}

struct Model {
    f: Freshness,
    store: [Option<u64>; 3],
    /// Every record each key held.
    history: [Vec<u64>; 3],
    next: u64,
    ops: Vec<Op>,
    reads: Vec<(ReadTicket, u8, Option<Option<u64>>)>,
}

impl Model {
    fn new(anchored: bool) -> Model {
        let mut f = Freshness::new(false, 100);
        let mut store = [None; 3];
        let mut history = [Vec::new(), Vec::new(), Vec::new()];
        if anchored {
            // Keys 0 and 1 live from an earlier session (accepted below F = 50).
            f.load(vec![(key(0), 10), (key(1), 20)], 50);
            store = [Some(10), Some(20), None];
            history = [vec![5, 10], vec![20], vec![30]];
        }
        Model {
            f,
            store,
            history,
            next: 100,
            ops: Vec::new(),
            reads: Vec::new(),
        }
    }

    fn run(&mut self, s: &Step) -> Option<Verdict> {
        match *s {
            Step::Write(k) => {
                let v = self.next;
                self.next += 1;
                let ticket = self.f.write_issued(key(k), v);
                self.ops.push(Op {
                    ticket,
                    key: k,
                    write: Some(v),
                    applied: false,
                });
            }
            Step::Remove(k) => {
                let ticket = self.f.remove_issued(key(k), self.next);
                self.ops.push(Op {
                    ticket,
                    key: k,
                    write: None,
                    applied: false,
                });
            }
            Step::Read(k) => {
                let t = self.f.read_issued(key(k));
                self.reads.push((t, k, None));
            }
            Step::Apply(k) => {
                if let Some(op) = self.ops.iter_mut().find(|o| o.key == k && !o.applied) {
                    op.applied = true;
                    self.store[usize::from(k)] = op.write;
                    if let Some(v) = op.write {
                        self.history[usize::from(k)].push(v);
                    }
                }
            }
            Step::Perform(i) => {
                if let Some(r) = self.reads.get_mut(i) {
                    if r.2.is_none() {
                        r.2 = Some(self.store[usize::from(r.1)]);
                    }
                }
            }
            Step::Complete(i, ok) => {
                if i < self.ops.len() {
                    let k = self.ops[i].key;
                    // Operations of a key complete in order only as far as they were applied;
                    // a failed one may be applied later (or never).
                    let first = self.ops.iter().position(|o| o.key == k).unwrap();
                    let op = self.ops.remove(first);
                    let ok = ok && op.applied;
                    if !op.applied && !ok {
                        // Never applied: it may still land later, or never; model "never".
                    }
                    self.f.mutation_done(op.ticket, ok);
                }
            }
            Step::Finish(i) => {
                if i < self.reads.len() {
                    let (t, k, found) = self.reads.remove(i);
                    let found = found.unwrap_or(self.store[usize::from(k)]);
                    return Some(self.f.read_done(&t, found));
                }
            }
        }
        None
    }

    /// Reads in flight read now; every operation lands and succeeds; then the reads complete.
    /// Returns the verdicts of those reads.
    fn settle(&mut self) -> Vec<Verdict> {
        for i in 0..self.reads.len() {
            self.run(&Step::Perform(i));
        }
        while !self.ops.is_empty() {
            let k = self.ops[0].key;
            self.run(&Step::Apply(k));
            self.run(&Step::Complete(0, true));
        }
        let mut out = Vec::new();
        while !self.reads.is_empty() {
            out.extend(self.run(&Step::Finish(0)));
        }
        out
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Honest runs (any interleaving, failed calls, overlapping reads) never raise an alarm,
    /// and a record of a key is served only if it is what the store held.
    #[test]
    fn honest_runs_raise_no_alarm(anchored in any::<bool>(), steps in prop::collection::vec(step(), 0..60)) {
        let mut m = Model::new(anchored);
        for s in &steps {
            if let Some(v) = m.run(s) {
                let quiet = matches!(v, Verdict::Serve | Verdict::Absent);
                prop_assert!(
                    quiet,
                    "alarm {:?} after {:?}", v, steps
                );
            }
            // The count of keys with operations in flight is exact, and an entry is kept only
            // for a key M holds or has an operation in flight.
            let entries = || m.f.slots.iter().flatten().map(|s| &s.entry);
            let active = entries().filter(|e| e.flight.count > 0).count();
            prop_assert_eq!(m.f.active, active);
            prop_assert!(entries().all(|e| e.flight.count > 0 || e.held.is_some()));
            let empty = m.f.map.values().filter(|m| m.keys.is_empty()).count();
            prop_assert_eq!(m.f.empty_pairs, empty);
            prop_assert!(empty <= entries::EMPTY_PAIRS_KEPT);
            // Each entry is in one slot, under its own names; free slots are listed once.
            let mut named = 0;
            for ((p, s), keys) in &m.f.map {
                prop_assert_eq!(&*keys.names, &(p.clone(), s.clone()));
                for (k, i) in &keys.keys {
                    let slot = m.f.slots[*i].as_ref().expect("a slot in use");
                    prop_assert_eq!(slot.key.names(), (p.as_str(), s.as_str(), k.key()));
                    prop_assert!(Arc::ptr_eq(&slot.key, &k.0));
                    prop_assert!(Arc::ptr_eq(&slot.key.pair, &keys.names));
                    named += 1;
                }
            }
            prop_assert_eq!(named, m.f.slots.iter().flatten().count());
            let mut free = m.f.free.clone();
            free.sort_unstable();
            free.dedup();
            prop_assert_eq!(free.len(), m.f.free.len());
            prop_assert!(free.iter().all(|i| m.f.slots[*i].is_none()));
            prop_assert_eq!(free.len() + named, m.f.slots.len());
        }
        // Settled, every key reads as what the store holds, with no alarm.
        for v in m.settle() {
            let quiet = matches!(v, Verdict::Serve | Verdict::Absent);
            prop_assert!(quiet, "alarm {:?} settling after {:?}", v, steps);
        }
        for k in 0u8..3 {
            let t = m.f.read_issued(key(k));
            let v = m.f.read_done(&t, m.store[usize::from(k)]);
            let quiet = matches!(v, Verdict::Serve | Verdict::Absent);
            prop_assert!(quiet, "settled alarm {:?} on k{} after {:?}", v, k, steps);
        }
    }

    /// After any honest run, putting back any older record of a key, deleting a key the store
    /// holds, or putting back a record of a removed key is never served.
    #[test]
    fn attacks_after_a_run_are_refused(
        anchored in any::<bool>(),
        steps in prop::collection::vec(step(), 0..60),
        target in 0u8..3,
        pick in any::<prop::sample::Index>(),
    ) {
        let mut m = Model::new(anchored);
        for s in &steps {
            m.run(s);
        }
        m.settle();
        let k = usize::from(target);
        let held = m.f.get(&key(target));
        let current = m.store[k];
        // M never holds a key the store lacks (a failed write that landed anyway is the one
        // case where the store holds a record M does not know: absent, or newer than M).
        prop_assert!(held.is_none() || current.is_some(), "M holds k{} the store lacks", target);
        let older: Vec<u64> = m.history[k].iter().copied().filter(|v| Some(*v) != current).collect();
        // Deletion of a held key.
        if held.is_some() {
            let t = m.f.read_issued(key(target));
            let missing = matches!(m.f.read_done(&t, None), Verdict::Missing { .. });
            prop_assert!(missing, "deletion of k{} not refused", target);
        }
        // Any other record this key ever held, put back.
        if !older.is_empty() {
            let v = older[pick.index(older.len())];
            // Refused: anything below what M holds, and, for a key M does not hold, anything
            // with an anchor and this session's records without one. (A record above M's is a
            // failed write that landed: the one-operation window.)
            let watched = match held {
                Some(h) => v < h,
                None => anchored || v >= 100,
            };
            let t = m.f.read_issued(key(target));
            let verdict = m.f.read_done(&t, Some(v));
            if watched {
                prop_assert!(verdict != Verdict::Serve, "record {} of k{} served; held {:?}", v, target, held);
            }
        }
    }
}

#[test]
fn an_idle_key_counts_as_nothing_in_flight_and_its_entry_leaves_with_it() {
    let mut f = Freshness::new(false, 10);
    let w = f.write_issued(key(0), 10);
    assert_eq!(f.mutation_done(w, true).map(|(_, v)| v), Some(10));
    assert_eq!(f.seen_now(&key(0)), seen(Some(10), None));
    // The next run of operations starts at its own first version.
    let w = f.write_issued(key(0), 11);
    assert_eq!(f.seen_now(&key(0)), seen(Some(10), Some(11)));
    assert_eq!(f.active, 1);
    assert_eq!(f.mutation_done(w, false).map(|(_, v)| v), None);
    assert_eq!(f.seen_now(&key(0)), seen(Some(10), None));
    assert_eq!(f.active, 0);
    let r = f.remove_issued(key(0), 12);
    assert_eq!(f.seen_now(&key(0)), seen(None, Some(12)));
    f.mutation_done(r, true);
    assert_eq!(f.seen_now(&key(0)), seen(None, None));
    // Nothing is kept for a key M does not hold.
    let nothing_kept = |f: &Freshness| {
        f.slots.iter().all(Option::is_none) && f.map.values().all(|m| m.keys.is_empty())
    };
    assert!(nothing_kept(&f));
    let w = f.write_issued(key(1), 13);
    f.mutation_done(w, false);
    assert!(nothing_kept(&f));
    let w = f.write_issued(key(2), 14);
    f.mutation_done(w, true);
    f.load(Vec::new(), 0);
    assert!(f.map.is_empty());
    assert_eq!(f.active, 0);
}

/// A pair whose keys come and go keeps its map and its names; emptied maps are kept only up to
/// a bound.
#[test]
fn emptied_pair_maps_are_reused_and_bounded() {
    let mut f = Freshness::new(false, 1);
    let names =
        |f: &Freshness, p: &str| Arc::clone(f.pair_names(p, "s").expect("the pair's map is kept"));
    let w = f.write_issued(("p0", "s", "a"), 1);
    f.mutation_done(w, true);
    let first = names(&f, "p0");
    let r = f.remove_issued(("p0", "s", "a"), 2);
    f.mutation_done(r, true);
    assert_eq!(f.empty_pairs, 1);
    let w = f.write_issued(("p0", "s", "b"), 2);
    assert_eq!(f.empty_pairs, 0);
    f.mutation_done(w, true);
    assert!(Arc::ptr_eq(&first, &names(&f, "p0")));
    // More pairs emptied than are kept: they are all dropped, and a pair with keys stays.
    let mut v = 3;
    for i in 1..=entries::EMPTY_PAIRS_KEPT + 1 {
        let p = format!("p{i}");
        let w = f.write_issued((p.as_str(), "s", "a"), v);
        f.mutation_done(w, true);
        let r = f.remove_issued((p.as_str(), "s", "a"), v + 1);
        f.mutation_done(r, true);
        v += 2;
    }
    assert_eq!(f.empty_pairs, 0);
    assert_eq!(f.map.len(), 1);
    assert_eq!(f.get(&("p0", "s", "b")), Some(2));
}

fn written(f: &mut Freshness, i: u8, version: u64) {
    let t = f.write_issued(key(i), version);
    f.mutation_done(t, true);
}

fn missing(f: &mut Freshness, t: &ListTicket, listed: &[&str]) -> Option<(String, u64)> {
    let listed: Vec<String> = listed.iter().map(|k| (*k).to_owned()).collect();
    let pair = Listed::Pair("p", "", &listed);
    let by_pair = f.list_missing(t, Some(("p", "")), &pair);
    let mut keys: Vec<Key> = listed
        .iter()
        .map(|k| ("p".into(), String::new(), k.clone()))
        .collect();
    let by_keys = f.list_missing(t, None, &Listed::Keys(&keys));
    // Keys of another pair in a listing of this pair change nothing.
    keys.push(("other".into(), String::new(), "k0".into()));
    let scoped = f.list_missing(t, Some(("p", "")), &Listed::Keys(&keys));
    assert_eq!(by_pair, by_keys, "both forms of a listing judge alike");
    assert_eq!(by_pair, scoped, "a listing judges only its own pair");
    by_pair.map(|((_, _, k), v)| (k, v))
}

#[test]
fn a_listing_reports_the_smallest_key_it_misses() {
    let mut f = Freshness::new(false, 10);
    for i in (0..20).rev() {
        written(&mut f, i, 100 + u64::from(i));
    }
    let t = f.list_issued(Some(("p", "")));
    assert_eq!(missing(&mut f, &t, &["k0"]), Some(("k1".into(), 101)));
}

#[test]
fn a_listing_misses_only_keys_held_when_it_was_issued_and_unchanged_since() {
    let mut f = Freshness::new(false, 10);
    for i in 0..4 {
        written(&mut f, i, 10 + u64::from(i));
    }
    let t = f.list_issued(Some(("p", "")));
    assert_eq!(missing(&mut f, &t, &["k0", "k1", "k2", "k3"]), None);
    assert_eq!(
        missing(&mut f, &t, &["k0", "k1", "k2"]),
        Some(("k3".into(), 13)),
        "the key written last before the listing was issued counts"
    );
    assert_eq!(
        missing(&mut f, &t, &[]),
        Some(("k0".into(), 10)),
        "the smallest of the keys left out"
    );
    assert_eq!(
        missing(&mut f, &t, &["k0", "k3"]),
        Some(("k1".into(), 11)),
        "the smallest key left out"
    );
    for twice in [
        &["k0", "k0", "k2", "k3"][..],
        &["k0", "k0", "k2", "k2", "k3"],
    ] {
        assert_eq!(
            missing(&mut f, &t, twice),
            Some(("k1".into(), 11)),
            "a key listed twice does not stand for one left out"
        );
    }
    assert_eq!(
        missing(&mut f, &t, &["k0", "k1", "k2", "k3", "junk"]),
        None,
        "a key M does not hold changes nothing"
    );
    // Changes after the listing was issued: a key written since (new or not) may be missing
    // from a listing that ran before the write landed; one in flight may be gone.
    written(&mut f, 1, 20);
    written(&mut f, 9, 21);
    let r = f.remove_issued(key(2), 22);
    let w = f.write_issued(key(3), 23);
    assert_eq!(missing(&mut f, &t, &["k0"]), None);
    f.mutation_done(r, true);
    f.mutation_done(w, true);
    let t = f.list_issued(Some(("p", "")));
    assert_eq!(
        missing(&mut f, &t, &["k0", "k1", "k3"]),
        Some(("k9".into(), 21)),
        "a new listing holds them to their new versions"
    );
    assert_eq!(missing(&mut f, &t, &["k0", "k1", "k3", "k9"]), None);
    // A read that found the key at the version M holds changes nothing.
    let read = f.read_issued(key(0));
    f.read_done(&read, Some(10));
    assert_eq!(
        missing(&mut f, &t, &["k1", "k3", "k9"]),
        Some(("k0".into(), 10))
    );
}

#[test]
fn a_read_is_judged_again_after_any_change_since_its_issue() {
    let mut f = Freshness::new(false, 5);
    written(&mut f, 0, 20);
    let read = f.read_issued(key(0));
    let r = f.remove_issued(key(0), 21);
    f.mutation_done(r, true);
    // At issue the older record was a rollback; now the key is removed: absent, no alarm.
    assert_eq!(f.read_done(&read, Some(10)), Verdict::Absent);
    // A write that lands while the read is out changes the version M holds: nothing found
    // is then no proof of a deletion.
    written(&mut f, 2, 40);
    let w = f.write_issued(key(2), 41);
    let read = f.read_issued(key(2));
    f.mutation_done(w, true);
    assert_eq!(f.read_done(&read, None), Verdict::Absent);
    // A write issued while the read is out may be what it finds (anchored: a key not in M is
    // served only at or above the first version in flight).
    let mut a = Freshness::new(false, 5);
    a.load(Vec::new(), 0);
    let read = a.read_issued(key(3));
    let w = a.write_issued(key(3), 50);
    assert_eq!(a.read_done(&read, Some(50)), Verdict::Serve);
    a.mutation_done(w, true);
    // A read-only instance told by the anchor that the key is gone: nothing found is absent.
    let mut r = Freshness::new(true, 5);
    r.load(vec![(key(4), 60)], 0);
    let read = r.read_issued(key(4));
    r.reload(&key(4), None);
    assert_eq!(r.read_done(&read, None), Verdict::Absent);
    // With nothing changed in between, the state at issue is the state now.
    written(&mut f, 1, 30);
    let read = f.read_issued(key(1));
    assert_eq!(
        f.read_done(&read, Some(10)),
        Verdict::Rollback {
            expected_at_least: 30
        }
    );
}
