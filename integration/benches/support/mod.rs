//! Shared by the benches: timing that keeps every sample, so each group can print the ratios
//! it was asked about from numbers measured in the same run.
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId};
use lightning::util::persist::KVStoreSync;

/// Per-iteration times (seconds) of every sample criterion took, by benchmark name.
#[derive(Default)]
pub struct Recorder {
    samples: RefCell<BTreeMap<String, Vec<f64>>>,
}

/// Inputs prepared per batch stay under this many bytes (setup is not timed). Batches keep
/// the operations back to back: on this VM a vCPU left idle for more than ~0.2 ms takes up to
/// ~1 ms to wake, which would otherwise be timed whenever a helper thread starts.
const BATCH_BYTES: usize = 32 << 20;
const MAX_BATCH: u64 = 4096;

impl Recorder {
    /// [`bench`](Self::bench) of writing a fresh copy of `v` to `store` under `(p, "", k)`.
    pub fn bench_write<S: KVStoreSync>(
        &self,
        group: &mut BenchmarkGroup<'_, WallTime>,
        name: &str,
        param: &str,
        store: &S,
        (p, k): (&str, &str),
        v: &[u8],
    ) {
        self.bench(
            group,
            name,
            param,
            v.len(),
            || fresh(v),
            |buf| KVStoreSync::write(store, p, "", k, buf).unwrap(),
        );
    }

    /// [`bench`](Self::bench) of reading `(p, "", k)` (a value of `n` bytes) from `store`.
    pub fn bench_read<S: KVStoreSync>(
        &self,
        group: &mut BenchmarkGroup<'_, WallTime>,
        name: &str,
        param: &str,
        store: &S,
        (p, k): (&str, &str),
        n: usize,
    ) {
        self.bench(
            group,
            name,
            param,
            n,
            || (),
            |()| KVStoreSync::read(store, p, "", k).unwrap(),
        );
    }

    /// Benchmarks `routine` on inputs made by `setup` (not timed) and keeps the samples under
    /// `name/param`. `input_bytes` sizes the batches of prepared inputs.
    pub fn bench<I, O>(
        &self,
        group: &mut BenchmarkGroup<'_, WallTime>,
        name: &str,
        param: &str,
        input_bytes: usize,
        mut setup: impl FnMut() -> I,
        mut routine: impl FnMut(I) -> O,
    ) {
        let key = format!("{name}/{param}");
        let per_batch = ((BATCH_BYTES / input_bytes.max(1)) as u64).clamp(1, MAX_BATCH);
        group.bench_function(BenchmarkId::new(name, param), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                let mut outputs = Vec::with_capacity(per_batch.min(iters) as usize);
                while left > 0 {
                    let n = left.min(per_batch);
                    let inputs: Vec<I> = (0..n).map(|_| setup()).collect();
                    let t = Instant::now();
                    for input in inputs {
                        outputs.push(routine(black_box(input)));
                    }
                    total += t.elapsed();
                    black_box(&outputs);
                    outputs.clear();
                    left -= n;
                }
                self.samples
                    .borrow_mut()
                    .entry(key.clone())
                    .or_default()
                    .push(total.as_secs_f64() / iters as f64);
                total
            })
        });
    }

    /// Median per-iteration time in seconds of `name/param` (as measured in this run).
    pub fn median(&self, key: &str) -> Option<f64> {
        let mut v = self.samples.borrow().get(key)?.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        Some(v[v.len() / 2])
    }

    /// Prints `ours / baseline` for one comparison, with the target it is held to.
    pub fn ratio(&self, label: &str, ours: &str, baseline: &str, target: Option<f64>) {
        match (self.median(ours), self.median(baseline)) {
            (Some(a), Some(b)) => {
                let r = a / b;
                let verdict = verdict(r, target);
                println!(
                    "RATIO {label}: {r:.3}  [{ours} {} / {baseline} {}]{verdict}",
                    fmt_time(a),
                    fmt_time(b)
                );
            }
            _ => println!("RATIO {label}: not measured (filtered out)"),
        }
    }

    /// Prints the throughput of `key` for `bytes` per iteration.
    pub fn throughput(&self, label: &str, key: &str, bytes: usize, target_gbps: Option<f64>) {
        if let Some(t) = self.median(key) {
            let gbps = bytes as f64 / t / 1e9;
            let verdict = match target_gbps {
                Some(g) if gbps >= g => format!("  (target >= {g:.1} GB/s: met)"),
                Some(g) => format!("  (target >= {g:.1} GB/s: NOT met)"),
                None => String::new(),
            };
            println!(
                "THROUGHPUT {label}: {gbps:.2} GB/s  [{key} {}]{verdict}",
                fmt_time(t)
            );
        }
    }

    /// Prints the absolute median of `key` against an absolute target.
    pub fn absolute(&self, label: &str, key: &str, target: Duration) {
        if let Some(t) = self.median(key) {
            let met = if t <= target.as_secs_f64() {
                "met"
            } else {
                "NOT met"
            };
            println!(
                "TIME {label}: {}  (target <= {}: {met})",
                fmt_time(t),
                fmt_time(target.as_secs_f64())
            );
        }
    }
}

/// A duration in seconds, human-readable.
pub fn fmt_time(s: f64) -> String {
    if s < 1e-6 {
        format!("{:.0} ns", s * 1e9)
    } else if s < 1e-3 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

/// The value sizes the issue asks about, with their labels.
pub const SIZES: [(usize, &str); 5] = [
    (64, "64B"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
    (16 << 20, "16MiB"),
];

/// A deterministic value of `n` bytes (content does not matter to the ciphers).
pub fn value(n: usize) -> Arc<Vec<u8>> {
    Arc::new((0..n).map(|i| (i * 31 + 7) as u8).collect())
}

/// Runs `ours` and `baseline` alternately, `pairs` times each, on inputs `setup` makes before
/// each pair (not timed), and returns the median of the per-pair time ratios ours / baseline:
/// drift in the machine's speed (fsync times on a shared disk) biases both sides of a pair
/// alike.
pub fn interleaved_median<A, B>(
    pairs: usize,
    mut setup: impl FnMut() -> (A, B),
    mut ours: impl FnMut(A),
    mut baseline: impl FnMut(B),
) -> f64 {
    let mut ratios = Vec::with_capacity(pairs);
    for _ in 0..pairs {
        let (a, b) = setup();
        let t = Instant::now();
        ours(a);
        let to = t.elapsed();
        let t = Instant::now();
        baseline(b);
        let tb = t.elapsed();
        ratios.push(to.as_secs_f64() / tb.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Rounds of an interleaved pass.
pub const ROUNDS: usize = 101;
/// An interleaved turn times enough operations to take about this long (seconds).
const TURN: f64 = 500e-6;

/// The variants take turns, `rounds` times, each round starting at the next variant; a turn
/// times `batch` operations on inputs made beforehand (not timed). Returns the per-operation
/// time of every turn, by variant.
pub fn interleave<I, O>(
    variants: usize,
    rounds: usize,
    batch: usize,
    mut setup: impl FnMut(usize) -> I,
    mut op: impl FnMut(usize, I) -> O,
) -> Vec<Vec<f64>> {
    let mut times = vec![Vec::with_capacity(rounds); variants];
    let mut inputs = Vec::with_capacity(batch);
    let mut outputs = Vec::with_capacity(batch);
    for r in 0..rounds {
        for j in 0..variants {
            let i = (r + j) % variants;
            inputs.extend((0..batch).map(|_| setup(i)));
            let t = Instant::now();
            for input in inputs.drain(..) {
                outputs.push(op(i, black_box(input)));
            }
            let e = t.elapsed();
            black_box(&outputs);
            outputs.clear();
            times[i].push(e.as_secs_f64() / batch as f64);
        }
    }
    times
}

/// Median over rounds of `times[a][r] / times[b][r]`.
pub fn median_ratio(times: &[Vec<f64>], a: usize, b: usize) -> f64 {
    let mut r: Vec<f64> = times[a].iter().zip(&times[b]).map(|(x, y)| x / y).collect();
    r.sort_by(f64::total_cmp);
    r[r.len() / 2]
}

/// Operations per interleaved turn, from criterion's median of the baseline.
pub fn batch_for(per_op: f64) -> usize {
    ((TURN / per_op) as usize).clamp(1, 4096)
}

/// Prints one comparison: the interleaved ratio, then criterion's ratio of medians, and the
/// verdict on `target` (judged on the interleaved ratio when there is one).
pub fn report(
    rec: &Recorder,
    label: &str,
    ours: &str,
    base: &str,
    interleaved: Option<(f64, usize)>,
    target: Option<f64>,
) {
    let (Some(a), Some(b)) = (rec.median(ours), rec.median(base)) else {
        println!("RATIO {label}: not measured (filtered out)");
        return;
    };
    let inter = match interleaved {
        Some((r, rounds)) => format!("{r:.3} interleaved ({rounds} rounds), "),
        None => String::new(),
    };
    let verdict = verdict(interleaved.map_or(a / b, |(r, _)| r), target);
    println!(
        "RATIO {label}: {inter}{:.3} criterion [{ours} {} / {base} {}]{verdict}",
        a / b,
        fmt_time(a),
        fmt_time(b)
    );
}

/// The verdict on ratio `r` against `target`, as printed after a `RATIO` line.
fn verdict(r: f64, target: Option<f64>) -> String {
    match target {
        Some(t) if r <= t => format!("  (target <= {t:.2}: met)"),
        Some(t) => format!("  (target <= {t:.2}: NOT met)"),
        None => String::new(),
    }
}

/// A copy of `v` with exactly its length as capacity, as LDK's serialisers hand values over.
pub fn fresh(v: &[u8]) -> Vec<u8> {
    v.to_vec()
}

/// An inner store that costs nothing: writes are kept (so freeing them is not timed; call
/// [`Handoff::clear`] in untimed setup), reads pop a record queued by [`Handoff::queue`] in
/// untimed setup (moved out, not copied). What is timed over it is our record path alone.
#[derive(Default)]
pub struct Handoff {
    written: std::sync::Mutex<Vec<Vec<u8>>>,
    to_read: std::sync::Mutex<Vec<Vec<u8>>>,
    /// Writes are queued for the next read instead (see [`Handoff::loop_back`]).
    loop_back: std::sync::atomic::AtomicBool,
}

impl Handoff {
    /// Queues a record for a later read.
    pub fn queue(&self, record: Vec<u8>) {
        self.to_read.lock().unwrap().push(record);
    }
    /// From now on (`true`), each write is what the next read returns: a read followed by a
    /// write of the value read is a round trip on one buffer, back to back and in cache.
    pub fn loop_back(&self, on: bool) {
        self.loop_back
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }
    /// Drops the records written so far, and returns the last one.
    pub fn clear(&self) -> Option<Vec<u8>> {
        let mut w = self.written.lock().unwrap();
        let last = w.pop();
        w.clear();
        last
    }
}

impl lightning::util::persist::KVStoreSync for Handoff {
    fn read(&self, _: &str, _: &str, _: &str) -> Result<Vec<u8>, lightning::io::Error> {
        self.to_read
            .lock()
            .unwrap()
            .pop()
            .ok_or_else(|| lightning::io::Error::from(lightning::io::ErrorKind::NotFound))
    }
    fn write(&self, _: &str, _: &str, _: &str, buf: Vec<u8>) -> Result<(), lightning::io::Error> {
        if self.loop_back.load(std::sync::atomic::Ordering::Relaxed) {
            self.to_read.lock().unwrap().push(buf);
        } else {
            self.written.lock().unwrap().push(buf);
        }
        Ok(())
    }
    fn remove(&self, _: &str, _: &str, _: &str, _: bool) -> Result<(), lightning::io::Error> {
        Ok(())
    }
    fn list(&self, _: &str, _: &str) -> Result<Vec<String>, lightning::io::Error> {
        Ok(Vec::new())
    }
}
