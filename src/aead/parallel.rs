//! Long values sealed and opened on several threads (feature `parallel`, on by default).
//!
//! On one core the AEAD is bound by ChaCha20: with `chacha20` 0.10's AVX2 backend it runs at
//! about a third of the speed of the AVX2 Poly1305 on this machine kind. ChaCha20 is a counter
//! mode, so any thread can encrypt any 16 KiB unit by seeking the keystream to it, while
//! Poly1305 must see the ciphertext in order. So one thread (the caller's, the "hashing"
//! thread) hashes every unit in order, and helper threads encrypt or decrypt units beside it;
//! whenever the hashing thread would otherwise wait, it takes a unit of cipher work itself.
//! The split is decided as the work goes, so it balances on any CPU, and if a helper cannot be
//! started, or is not scheduled, the caller simply does all the work: no step ever waits for a
//! unit that nobody has started.
//!
//! - Sealing: units are claimed in order; whoever claims one encrypts it (copying it from the
//!   plaintext first when sealing into a new buffer) and hands it back; the hashing thread
//!   hashes units in order as they come back. At most [`RING`] units are in flight.
//! - Opening: the hashing thread hashes unit *i* and moves it to its final place (the record
//!   prefix is dropped by moving each unit back by the prefix length while it is in cache);
//!   only then is the unit handed to a helper to decrypt, so no byte is decrypted before it
//!   has been hashed. The tag is compared after every thread has finished; on mismatch the
//!   caller zeroizes the whole buffer, as on the one-thread path.
//!
//! The output is byte for byte the one-thread path's (tests in the parent module compare both
//! with the `chacha20poly1305` crate, with 0 to 3 helpers). Only safe Rust: the buffer is split
//! into disjoint `&mut` units that move between threads through one mutex; threads are scoped,
//! so every helper has finished before the buffer is used again.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use chacha20::XChaCha20;

use super::Mac;

/// Bytes per unit of work: a multiple of the ChaCha20 block (64) and of the Poly1305 block
/// (16), small enough to stay in the L1 cache between being moved, hashed and encrypted, large
/// enough that the two lock operations per unit cost well under 1 %.
pub(super) const UNIT: usize = 16 * 1024;

/// Values shorter than this stay on one thread. On this VM a helper starts within ~45 µs
/// when the other vCPU is busy or was busy within the last ~0.2 ms, but after the vCPU has
/// idled longer it can take about 1 ms to run at all (the host wakes it), and the caller must
/// still join it at the end. Measured with the other vCPU idle, values of 256 KiB took 1.37x
/// longer with threads, 1 MiB 1.08x, 4 MiB 0.91x; with it awake, 256 KiB 0.81x, 1 MiB 0.75x,
/// 4 MiB 0.57x. From 1 MiB the worst case costs at most ~0.1 ms.
pub(super) const MIN_LEN: usize = 1 << 20;

/// Threads used at most, the caller's included. The hashing thread hashes at about three
/// times the speed of one ChaCha20 thread, so beyond four threads it becomes the bottleneck.
const MAX_THREADS: usize = 4;

/// Units encrypted but not yet hashed (sealing), or hashed but not yet decrypted (opening), at
/// most. Bounds the state to a fixed array: the parallel path allocates nothing per unit.
const RING: usize = 32;

/// How many helper threads to start: the CPUs this process may use, at most [`MAX_THREADS`],
/// minus the caller's. Read once (it reads cgroup limits on Linux).
pub(super) fn helpers() -> usize {
    static HELPERS: OnceLock<usize> = OnceLock::new();
    *HELPERS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(MAX_THREADS)
            .saturating_sub(1)
    })
}

/// The mutex-protected state and the condition variable threads wait on.
struct Shared<S> {
    state: Mutex<S>,
    cond: Condvar,
    /// Threads blocked in [`Shared::wait`]; changed only with `state` locked, so a thread that
    /// changes the state and then sees 0 here knows nobody needs waking (saves a syscall per
    /// unit).
    waiting: AtomicUsize,
}

impl<S> Shared<S> {
    fn new(state: S) -> Self {
        Shared {
            state: Mutex::new(state),
            cond: Condvar::new(),
            waiting: AtomicUsize::new(0),
        }
    }

    /// No code path panics while holding the lock, so poisoning cannot happen; if it ever
    /// did, the state is still consistent (every change is a single assignment).
    fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'g>(&self, guard: MutexGuard<'g, S>) -> MutexGuard<'g, S> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let guard = self
            .cond
            .wait(guard)
            .unwrap_or_else(PoisonError::into_inner);
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        guard
    }

    /// Call with the lock held, after changing the state.
    fn wake(&self) {
        if self.waiting.load(Ordering::Relaxed) > 0 {
            self.cond.notify_all();
        }
    }
}

/// Starts up to `helpers` scoped threads running `work`; a thread that cannot be started is
/// skipped (the caller's own loop then does its share).
fn spawn_helpers<'scope, 'env, F>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    helpers: usize,
    work: &'env F,
) where
    F: Fn() + Sync,
{
    for _ in 0..helpers {
        if std::thread::Builder::new()
            .spawn_scoped(scope, work)
            .is_err()
        {
            break;
        }
    }
}

/// XORs the keystream for unit `index` into `unit`.
fn apply_unit(stream: &mut XChaCha20, index: usize, unit: &mut [u8]) {
    // Block 0 keys Poly1305; the message starts at block 1.
    stream.seek(64u64 + (index as u64) * (UNIT as u64));
    stream.apply_keystream(unit);
}

/// A unit to seal: where its ciphertext goes, and the plaintext to copy there first (empty
/// when the unit is sealed in place).
pub(super) type SealUnit<'a> = (&'a mut [u8], &'a [u8]);

/// Longest shift [`ShiftedUnits`] supports (the record prefix is 29 bytes).
pub(super) const MAX_SHIFT: usize = 32;

/// The units of a message that must move `shift` bytes towards the end of its buffer before
/// it is sealed in place (the record prefix goes in front of it). Each unit is moved when it
/// is claimed, in order and while it is about to be encrypted, instead of in a separate pass
/// over the whole message: moving unit *i* overwrites the first `shift` bytes of unit *i + 1*,
/// so those are kept in `carry` first.
pub(super) struct ShiftedUnits<'a> {
    /// The buffer from the next unit's destination on; its plaintext starts `shift` bytes
    /// earlier (those bytes are in `carry`).
    rest: &'a mut [u8],
    carry: [u8; MAX_SHIFT],
    shift: usize,
    /// Plaintext bytes not yet moved.
    left: usize,
}

impl<'a> ShiftedUnits<'a> {
    /// `buf` holds the message in `buf[..len]` and is `len + shift` long; the units come out
    /// at `buf[shift..]`. `None` if the lengths do not fit.
    pub(super) fn new(buf: &'a mut [u8], shift: usize, len: usize) -> Option<Self> {
        if shift > MAX_SHIFT || shift.checked_add(len) != Some(buf.len()) {
            return None;
        }
        let mut carry = [0u8; MAX_SHIFT];
        let first = shift.min(len);
        carry.get_mut(..first)?.copy_from_slice(buf.get(..first)?);
        let rest = buf.get_mut(shift..)?;
        Some(ShiftedUnits {
            rest,
            carry,
            shift,
            left: len,
        })
    }
}

impl<'a> Iterator for ShiftedUnits<'a> {
    type Item = SealUnit<'a>;

    fn next(&mut self) -> Option<SealUnit<'a>> {
        let (m, s) = (UNIT.min(self.left), self.shift);
        if m == 0 {
            return None;
        }
        // `rest[..m]` is this unit's destination. Its plaintext is `carry[..min(s, m)]`
        // followed by `rest[..m - s]`; the next unit's first `s` bytes are `rest[m - s..m]`
        // (only when there is a next unit, and then m = UNIT > s).
        let mut next_carry = [0u8; MAX_SHIFT];
        let after = self.left - m;
        if after > 0 {
            let k = s.min(after);
            next_carry
                .get_mut(..k)?
                .copy_from_slice(self.rest.get(m - s..m - s + k)?);
        }
        if m > s && s > 0 {
            self.rest.get(..m)?; // in range, so copy_within cannot panic
            self.rest.copy_within(..m - s, s);
        }
        let head = s.min(m);
        self.rest
            .get_mut(..head)?
            .copy_from_slice(self.carry.get(..head)?);
        self.carry = next_carry;
        let (unit, tail) = std::mem::take(&mut self.rest).split_at_mut_checked(m)?;
        self.rest = tail;
        self.left = after;
        Some((unit, &[]))
    }
}

impl Drop for ShiftedUnits<'_> {
    fn drop(&mut self) {
        // The carry holds plaintext.
        zeroize::Zeroize::zeroize(&mut self.carry);
    }
}

struct SealState<'a, I> {
    /// Units nobody has claimed yet, in order.
    todo: I,
    /// Units claimed so far (the index of the next one).
    claimed: usize,
    /// Units hashed so far (the index of the next one to hash).
    hashed: usize,
    /// Encrypted units waiting to be hashed: unit `i` at `i % RING`.
    ready: [Option<&'a [u8]>; RING],
}

impl<'a, I: Iterator<Item = SealUnit<'a>>> SealState<'a, I> {
    /// Claims the next unit if the ring has room for it.
    fn claim(&mut self) -> Option<(usize, SealUnit<'a>)> {
        if self.claimed >= self.hashed.saturating_add(RING) {
            return None;
        }
        let unit = self.todo.next()?;
        let index = self.claimed;
        self.claimed += 1;
        Some((index, unit))
    }

    fn put_ready(&mut self, index: usize, ciphertext: &'a [u8]) {
        if let Some(slot) = self.ready.get_mut(index % RING) {
            *slot = Some(ciphertext);
        }
    }
}

fn seal_unit<'a>(stream: &mut XChaCha20, index: usize, (dst, src): SealUnit<'a>) -> &'a [u8] {
    if !src.is_empty() {
        dst.copy_from_slice(src);
    }
    apply_unit(stream, index, dst);
    dst
}

/// Encrypts the `units` (the message cut into [`UNIT`]-byte pieces, `count` of them, in
/// order) and hashes the ciphertext into `mac`, with up to `helpers` helper threads. `false`
/// if the iterator did not yield exactly `count` units (a bug; the tag is then wrong and must
/// not be used), rather than waiting for units that never come.
pub(super) fn seal<'a, I>(
    key: &[u8; 32],
    nonce: &[u8; 24],
    mac: &mut Mac,
    units: I,
    count: usize,
    helpers: usize,
) -> bool
where
    I: Iterator<Item = SealUnit<'a>> + Send,
{
    let shared = Shared::new(SealState {
        todo: units,
        claimed: 0,
        hashed: 0,
        ready: [None; RING],
    });
    let shared = &shared;
    let helper = move || {
        let mut stream = XChaCha20::new(key.into(), nonce.into());
        let mut st = shared.lock();
        loop {
            if let Some((index, unit)) = st.claim() {
                drop(st);
                let ciphertext = seal_unit(&mut stream, index, unit);
                st = shared.lock();
                st.put_ready(index, ciphertext);
                shared.wake();
            } else if st.claimed < st.hashed.saturating_add(RING) {
                return; // nothing left to claim
            } else {
                st = shared.wait(st); // ring full: wait for the hashing thread
            }
        }
    };
    std::thread::scope(|scope| {
        spawn_helpers(scope, helpers, &helper);

        // The hashing thread.
        let mut stream = XChaCha20::new(key.into(), nonce.into());
        let mut st = shared.lock();
        loop {
            let next = st.hashed;
            if let Some(ciphertext) = st.ready.get_mut(next % RING).and_then(Option::take) {
                st.hashed += 1;
                shared.wake();
                drop(st);
                mac.update_padded(ciphertext);
                st = shared.lock();
            } else if let Some((index, unit)) = st.claim() {
                // Rather than wait, encrypt the next unclaimed unit here.
                drop(st);
                let ciphertext = seal_unit(&mut stream, index, unit);
                if index == next {
                    // Still in cache: hash it right away.
                    mac.update_padded(ciphertext);
                    st = shared.lock();
                    st.hashed += 1;
                    shared.wake();
                } else {
                    st = shared.lock();
                    st.put_ready(index, ciphertext);
                }
            } else if st.claimed == st.hashed {
                break; // nothing in flight and nothing left to claim
            } else {
                // Unit `next` is being encrypted by a helper; it wakes us when it is done.
                st = shared.wait(st);
            }
        }
        st.hashed == count
    })
}

struct OpenState<'a> {
    /// Hashed units waiting to be decrypted: a queue of at most `RING` in a fixed array.
    queue: [Option<(usize, &'a mut [u8])>; RING],
    head: usize,
    tail: usize,
    /// Every unit has been hashed and queued.
    finished: bool,
    /// Units taken off the queue for decryption.
    taken: usize,
}

impl<'a> OpenState<'a> {
    fn pop(&mut self) -> Option<(usize, &'a mut [u8])> {
        if self.head == self.tail {
            return None;
        }
        let unit = self.queue.get_mut(self.head % RING).and_then(Option::take);
        self.head += 1;
        self.taken += usize::from(unit.is_some());
        unit
    }

    /// `false` if the queue is full (the caller never lets it be).
    fn push(&mut self, index: usize, unit: &'a mut [u8]) -> bool {
        match self.queue.get_mut(self.tail % RING) {
            Some(slot) if slot.is_none() => {
                *slot = Some((index, unit));
                self.tail += 1;
                true
            }
            _ => false,
        }
    }
}

/// Hashes the ciphertext at `buf[shift..shift + len]` into `mac`, moves it to `buf[..len]`
/// and decrypts it there, with up to `helpers` helper threads. `false` if `buf` is shorter
/// than `shift + len` (nothing touched), or if some unit was not decrypted (a bug; `buf` may
/// then hold plaintext and must be zeroized, never used).
pub(super) fn open_shifted(
    key: &[u8; 32],
    nonce: &[u8; 24],
    mac: &mut Mac,
    buf: &mut [u8],
    shift: usize,
    len: usize,
    helpers: usize,
) -> bool {
    if shift.checked_add(len).is_none_or(|end| end > buf.len()) {
        return false;
    }
    // When the hashing thread already has this many units queued, it decrypts the unit it
    // has just hashed itself instead of queueing it (it is still in its cache).
    let backlog = helpers.saturating_mul(2).clamp(1, RING);
    let shared = Shared::new(OpenState {
        queue: [const { None }; RING],
        head: 0,
        tail: 0,
        finished: false,
        taken: 0,
    });
    let shared = &shared;
    let helper = move || {
        let mut stream = XChaCha20::new(key.into(), nonce.into());
        let mut st = shared.lock();
        loop {
            if let Some((index, unit)) = st.pop() {
                drop(st);
                apply_unit(&mut stream, index, unit);
                st = shared.lock();
            } else if st.finished {
                return;
            } else {
                st = shared.wait(st);
            }
        }
    };
    let mut complete = true;
    std::thread::scope(|scope| {
        spawn_helpers(scope, helpers, &helper);

        // The hashing thread. `rest` is the buffer from the current unit's final place on.
        let mut stream = XChaCha20::new(key.into(), nonce.into());
        let mut rest: &mut [u8] = buf;
        let (mut index, mut at, mut own) = (0usize, 0usize, 0usize);
        while at < len {
            let n = UNIT.min(len - at);
            let Some(ciphertext) = rest.get(shift..shift + n) else {
                complete = false; // unreachable: checked on entry
                break;
            };
            mac.update_padded(ciphertext);
            rest.copy_within(shift..shift + n, 0);
            let Some((unit, tail)) = std::mem::take(&mut rest).split_at_mut_checked(n) else {
                complete = false; // unreachable: rest is at least shift + n long
                break;
            };
            rest = tail;
            let mut st = shared.lock();
            if st.tail - st.head >= backlog {
                drop(st);
                apply_unit(&mut stream, index, unit);
                own += 1;
            } else {
                complete &= st.push(index, unit);
                shared.wake();
            }
            index += 1;
            at += n;
        }
        let mut st = shared.lock();
        st.finished = true;
        shared.wake();
        // Help drain the queue.
        while let Some((index, unit)) = st.pop() {
            drop(st);
            apply_unit(&mut stream, index, unit);
            st = shared.lock();
        }
        // Every hashed unit was decrypted, by us or by a helper (a unit lost to a bug would
        // otherwise be returned still encrypted, under a tag that verifies).
        complete &= st.taken + own == index;
    });
    complete
}

#[cfg(test)]
mod tests {
    use super::*;
    use poly1305::universal_hash::KeyInit;

    fn mac() -> Mac {
        Mac::Simd(poly1305::Poly1305::new(&[1u8; 32].into()))
    }

    /// A count that does not match the units is reported, never waited on.
    #[test]
    fn wrong_unit_count_is_an_error_not_a_hang() {
        let (key, nonce) = ([2u8; 32], [3u8; 24]);
        for helpers in 0..=2 {
            let mut buf = vec![7u8; 5 * UNIT + 9];
            let units = buf.chunks_mut(UNIT).map(|u| (u, &[][..]));
            assert!(seal(&key, &nonce, &mut mac(), units, 6, helpers));
            for count in [0, 5, 7, 100] {
                let units = buf.chunks_mut(UNIT).map(|u| (u, &[][..]));
                assert!(!seal(&key, &nonce, &mut mac(), units, count, helpers));
            }
        }
    }

    /// The shifted units cover exactly the message, at every length around the shift and
    /// the unit size.
    #[test]
    fn shifted_units_move_the_message_up() {
        for shift in [0usize, 1, 29, 32] {
            for len in [
                0,
                1,
                shift,
                shift + 1,
                UNIT - 1,
                UNIT,
                UNIT + shift,
                3 * UNIT + 5,
            ] {
                let msg: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
                let mut buf = msg.clone();
                buf.resize(len + shift, 0xEE);
                let units: Vec<usize> = ShiftedUnits::new(&mut buf, shift, len)
                    .unwrap()
                    .map(|(u, _)| u.len())
                    .collect();
                assert_eq!(units.iter().sum::<usize>(), len, "{shift} {len}");
                assert_eq!(units.len(), len.div_ceil(UNIT), "{shift} {len}");
                assert!(buf[shift..] == msg[..], "{shift} {len}");
            }
            let mut short = vec![0u8; 10];
            assert!(ShiftedUnits::new(&mut short, shift, 11).is_none());
        }
        assert!(ShiftedUnits::new(&mut [0u8; 40], 33, 7).is_none());
    }
}
