//! A read-only anchored instance beside one honest writer (docs/FORMAT.md, "Read-only,
//! anchored" and "Two instances"), over the state machine alone. The writer's inner calls and
//! anchor updates happen one at a time in its order (a write lands its record, then its entry;
//! a remove drops the entry, then the record), with any number of the reader's steps between
//! them; the reader re-reads a key's entry before refusing and before serving, as the store
//! does.

use proptest::prelude::*;

use super::{key, Freshness, Verdict};

const KEYS: u8 = 3;
/// The accept mark the reader loads: every record of the run is at or above it.
const F: u64 = 5;

#[derive(Clone, Debug)]
enum Step {
    /// The writer starts a write of a key (its record, then its entry).
    Write(u8),
    /// The writer starts a remove of a key (its entry, then its record).
    Remove(u8),
    /// The writer makes its next inner call or anchor update.
    Advance,
    /// The reader issues a read.
    Read(u8),
    /// The read at this index gets what the inner store holds now.
    Perform(usize),
    /// The read at this index completes (performing it first if it was not).
    Finish(usize),
    /// An attacker puts back a record the key held before.
    PutBack(u8, prop::sample::Index),
}

fn step(attacks: bool) -> impl Strategy<Value = Step> {
    let put_back = if attacks { 2 } else { 0 };
    prop_oneof![
        2 => (0..KEYS).prop_map(Step::Write),
        1 => (0..KEYS).prop_map(Step::Remove),
        4 => Just(Step::Advance),
        3 => (0..KEYS).prop_map(Step::Read),
        2 => (0usize..3).prop_map(Step::Perform),
        3 => (0usize..3).prop_map(Step::Finish),
        put_back => (0..KEYS, any::<prop::sample::Index>()).prop_map(|(k, i)| Step::PutBack(k, i)),
    ]
}

enum Action {
    Record(u8, Option<u64>),
    Entry(u8, Option<u64>),
}

struct Read {
    ticket: super::ReadTicket,
    key: u8,
    /// What the inner call returned, once performed, and whether the attacker put it there.
    found: Option<(Option<u64>, bool)>,
    /// The newest record of the key the reader served before this read was issued.
    served_before: Option<u64>,
    /// The writer's records of the key from the read's issue to its completion.
    current: Vec<u64>,
    /// The writer's anchor entries of the key from the read's issue to its completion.
    entries: Vec<u64>,
}

/// What a completed read saw and got.
#[derive(Debug)]
struct Outcome {
    /// What the reader held for the key when the read was issued.
    held: Option<u64>,
    /// The newest record of the key it served before the read was issued.
    served_before: Option<u64>,
    /// The writer's records of the key from the read's issue to its completion.
    current: Vec<u64>,
    /// The writer's anchor entries of the key from the read's issue to its completion.
    entries: Vec<u64>,
    /// The writer's anchor entry of the key when the read completed.
    entry: Option<u64>,
    found: Option<u64>,
    verdict: Verdict,
    /// Whether the record found was put back by the attacker (not the writer's).
    put_back: bool,
}

struct World {
    reader: Freshness,
    /// The inner store: each key's record, and whether the attacker put it there.
    store: [(Option<u64>, bool); KEYS as usize],
    /// The writer's anchor entries.
    anchor: [Option<u64>; KEYS as usize],
    /// Every record the writer wrote for each key.
    history: [Vec<u64>; KEYS as usize],
    /// What the writer's last inner call of each key left there.
    written: [Option<u64>; KEYS as usize],
    /// The newest record of each key the reader served.
    served: [Option<u64>; KEYS as usize],
    pending: std::collections::VecDeque<Action>,
    next: u64,
    reads: Vec<Read>,
}

impl World {
    fn new() -> World {
        // Keys 0 and 1 live, key 2 removed; the reader opens now and loads the anchor.
        let anchor = [Some(10), Some(20), None];
        let mut reader = Freshness::new(true, 0);
        let held = (0..KEYS)
            .filter_map(|k| Some((key(k), anchor[usize::from(k)]?)))
            .collect();
        reader.load(held, F);
        World {
            reader,
            store: [(Some(10), false), (Some(20), false), (None, false)],
            anchor,
            history: [vec![6, 10], vec![20], vec![30]],
            written: [Some(10), Some(20), None],
            served: [None; KEYS as usize],
            pending: Default::default(),
            next: 100,
            reads: Vec::new(),
        }
    }

    fn run(&mut self, s: &Step) -> Option<Outcome> {
        match *s {
            Step::Write(k) => {
                let v = self.next;
                self.next += 1;
                self.pending.push_back(Action::Record(k, Some(v)));
                self.pending.push_back(Action::Entry(k, Some(v)));
            }
            Step::Remove(k) => {
                self.pending.push_back(Action::Entry(k, None));
                self.pending.push_back(Action::Record(k, None));
            }
            Step::Advance => match self.pending.pop_front() {
                Some(Action::Record(k, v)) => {
                    self.store[usize::from(k)] = (v, false);
                    self.written[usize::from(k)] = v;
                    for r in self.reads.iter_mut().filter(|r| r.key == k) {
                        r.current.extend(v);
                    }
                    self.history[usize::from(k)].extend(v);
                }
                Some(Action::Entry(k, v)) => {
                    self.anchor[usize::from(k)] = v;
                    for r in self.reads.iter_mut().filter(|r| r.key == k) {
                        r.entries.extend(v);
                    }
                }
                None => {}
            },
            Step::Read(k) => {
                let ticket = self.reader.read_issued(key(k));
                self.reads.push(Read {
                    ticket,
                    key: k,
                    found: None,
                    served_before: self.served[usize::from(k)],
                    current: self.written[usize::from(k)].into_iter().collect(),
                    entries: self.anchor[usize::from(k)].into_iter().collect(),
                });
            }
            Step::Perform(i) => {
                let store = &self.store;
                if let Some(r) = self.reads.get_mut(i) {
                    r.found.get_or_insert(store[usize::from(r.key)]);
                }
            }
            Step::Finish(i) => {
                if i >= self.reads.len() {
                    return None;
                }
                let r = self.reads.remove(i);
                let k = r.key;
                let (found, put_back) = r.found.unwrap_or(self.store[usize::from(k)]);
                let entry = self.anchor[usize::from(k)];
                let mut verdict = self.reader.read_done(&r.ticket, found);
                if verdict != Verdict::Serve {
                    self.reader.reload(&key(k), entry);
                    verdict = self.reader.read_done(&r.ticket, found);
                } else if let Some(v) = found {
                    if !self.reader.reread_before_serving(&key(k), entry, v) {
                        verdict = Verdict::Absent;
                    }
                }
                if let (Verdict::Serve, Some(v)) = (verdict, found) {
                    let served = &mut self.served[usize::from(k)];
                    *served = Some(served.map_or(v, |m| m.max(v)));
                }
                return Some(Outcome {
                    held: r.ticket.held(),
                    served_before: r.served_before,
                    current: r.current,
                    entries: r.entries,
                    entry,
                    found,
                    verdict,
                    put_back,
                });
            }
            Step::PutBack(k, pick) => {
                let h = &self.history[usize::from(k)];
                let v = Some(h[pick.index(h.len())]);
                // The writer's own latest record, put back over itself, is no attack.
                let honest = self.written[usize::from(k)];
                if self.store[usize::from(k)].0 != v {
                    self.store[usize::from(k)] = (v, v != honest);
                }
            }
        }
        None
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Beside an honest writer, a read-only instance never raises an alarm, whatever the
    /// interleaving of its reads with the writer's calls and anchor updates.
    #[test]
    fn beside_an_honest_writer_no_alarm(steps in prop::collection::vec(step(false), 0..80)) {
        let mut w = World::new();
        for s in &steps {
            if let Some(o) = w.run(s) {
                let quiet = matches!(o.verdict, Verdict::Serve | Verdict::Absent);
                prop_assert!(quiet, "{:?} after {:?}", o, steps);
            }
        }
    }

    /// With records put back, a read-only instance never serves a key's record older than
    /// one it held when the read was issued or served before that (its reads of a key never go
    /// back), and never serves a record put back unless the record was the writer's at some
    /// moment while the read was in flight (a read is judged at its issue and at its
    /// completion), or the writer's entry named it at such a moment (the writer's next record
    /// landed and its entry was not written yet: the one-operation window), or the key is
    /// live and held and the record is newer than what the reader held (it has not seen the
    /// writer's newer one). A removed key's record put back is never served.
    #[test]
    fn put_back_records_never_take_it_back(steps in prop::collection::vec(step(true), 0..80)) {
        let mut w = World::new();
        for s in &steps {
            if let Some(o) = w.run(s) {
                if o.verdict == Verdict::Serve {
                    let v = o.found.expect("a served read found a record");
                    let floor = o.held.max(o.served_before);
                    prop_assert!(floor.is_none_or(|m| v >= m), "{:?} after {:?}", o, steps);
                    let newer_than_seen = o.held.is_some() && o.entry.is_some();
                    let vouched =
                        newer_than_seen || o.current.contains(&v) || o.entries.contains(&v);
                    prop_assert!(!o.put_back || vouched, "{:?} after {:?}", o, steps);
                }
            }
        }
    }
}
