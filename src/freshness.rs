//! TEMPORARY compile stub; replaced by the real module.
#![allow(dead_code, missing_docs)]
use std::collections::HashMap;
pub(crate) struct Freshness {
    live: HashMap<(String, String, String), u64>,
    ro: bool,
}
pub(crate) enum Refusal {
    Rollback { found: u64, expected_at_least: u64 },
    Missing { expected_version: u64 },
    Resurrected { found: u64, removed_at: u64 },
}
pub(crate) struct ListRefusal {
    pub key: String,
    pub expected_version: u64,
}
pub(crate) struct ReadTicket {
    n: (String, String, String),
}
pub(crate) struct MutationTicket {
    n: (String, String, String),
    v: u64,
    remove: bool,
}
pub(crate) struct ListTicket {
    p: String,
    s: String,
}
pub(crate) struct FoldRequest {
    pub primary: String,
    pub secondary: String,
}
pub(crate) struct Sizes {
    pub entries: usize,
    pub tombstones: usize,
    pub pairs: usize,
    pub in_flight: usize,
}
fn n(p: &str, s: &str, k: &str) -> (String, String, String) {
    (p.into(), s.into(), k.into())
}
impl Freshness {
    pub(crate) fn new(read_only: bool) -> Self {
        Freshness {
            live: HashMap::new(),
            ro: read_only,
        }
    }
    pub(crate) fn read_issued(&mut self, p: &str, s: &str, k: &str) -> ReadTicket {
        ReadTicket { n: n(p, s, k) }
    }
    pub(crate) fn read_found(&mut self, t: ReadTicket, version: u64) -> Result<(), Refusal> {
        if let Some(&v) = self.live.get(&t.n) {
            if version < v {
                return Err(Refusal::Rollback {
                    found: version,
                    expected_at_least: v,
                });
            }
        }
        self.live.insert(t.n, version);
        Ok(())
    }
    pub(crate) fn read_missing(&mut self, t: ReadTicket) -> Result<(), Refusal> {
        if let Some(&v) = self.live.get(&t.n) {
            return Err(Refusal::Missing {
                expected_version: v,
            });
        }
        Ok(())
    }
    pub(crate) fn read_abandoned(&mut self, _t: ReadTicket) {}
    pub(crate) fn write_issued(
        &mut self,
        p: &str,
        s: &str,
        k: &str,
        version: u64,
    ) -> MutationTicket {
        MutationTicket {
            n: n(p, s, k),
            v: version,
            remove: false,
        }
    }
    pub(crate) fn remove_issued(
        &mut self,
        p: &str,
        s: &str,
        k: &str,
        version: u64,
        _lazy: bool,
    ) -> MutationTicket {
        self.live.remove(&n(p, s, k));
        MutationTicket {
            n: n(p, s, k),
            v: version,
            remove: true,
        }
    }
    pub(crate) fn mutation_done(&mut self, t: MutationTicket, ok: bool) -> Option<FoldRequest> {
        if ok && !t.remove {
            self.live.insert(t.n, t.v);
        }
        None
    }
    pub(crate) fn list_issued(&mut self, p: &str, s: &str) -> ListTicket {
        ListTicket {
            p: p.into(),
            s: s.into(),
        }
    }
    pub(crate) fn list_done(
        &mut self,
        t: ListTicket,
        listed: &[String],
    ) -> Result<(), ListRefusal> {
        for ((p, s, k), v) in &self.live {
            if *p == t.p && *s == t.s && !listed.contains(k) {
                return Err(ListRefusal {
                    key: k.clone(),
                    expected_version: *v,
                });
            }
        }
        Ok(())
    }
    pub(crate) fn list_abandoned(&mut self, _t: ListTicket) {}
    pub(crate) fn fold_candidates(&self, _pair: &FoldRequest, _listed: &[String]) -> Vec<String> {
        Vec::new()
    }
    pub(crate) fn fold_commit(&mut self, _pair: &FoldRequest, _listed: &[String]) -> bool {
        false
    }
    pub(crate) fn fold_failed(&mut self, _pair: &FoldRequest) {}
    pub(crate) fn sizes(&self) -> Sizes {
        Sizes {
            entries: self.live.len(),
            tombstones: 0,
            pairs: 0,
            in_flight: 0,
        }
    }
}
