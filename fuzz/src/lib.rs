//! Fixtures shared by the fuzz targets and by `examples/gen_seeds.rs`: a deterministic random
//! source, an allocation counter, an inner store that fails on demand, and the fixed stores
//! whose authentic records and headers the targets use as oracles.
//!
//! Everything here is deterministic: the same build produces the same stores, records and
//! headers on every run, so a crash reproduces from its input file alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use encrypted_kvstore::{
    Credential, EncryptedStore, KdfParams, MemoryStore, RawKey, HEADER_KEY,
    HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use lightning::io;
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{KVStore, KVStoreSync, MigratableKVStore};

// ---------------------------------------------------------------------------------------------
// Allocation accounting.

/// The global allocator of every fuzz binary: the system allocator, counting live bytes and
/// their peak so a target can assert how much one input made the library allocate. It also
/// refuses (returns null for) any single request above [`HARD_LIMIT`], which aborts the process
/// (a crash libFuzzer records) unless the caller used a fallible API such as `try_reserve`.
pub struct CountingAlloc;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Largest single allocation allowed: the documented Argon2id memory ceiling (1 GiB) plus
/// 64 MiB. The targets themselves assert much tighter per-input budgets.
pub const HARD_LIMIT: usize = (1 << 30) + (64 << 20);

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Ordering::Relaxed) + size;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY (for the whole impl): every method forwards to `System` with the caller's arguments
// unchanged and only updates counters; a request above `HARD_LIMIT` gets a null pointer, which
// `GlobalAlloc` allows.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_LIMIT {
            return std::ptr::null_mut();
        }
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > HARD_LIMIT {
            return std::ptr::null_mut();
        }
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > HARD_LIMIT {
            return std::ptr::null_mut();
        }
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

/// Starts measuring: returns the bytes live now, and resets the peak to it.
pub fn alloc_baseline() -> usize {
    let live = LIVE.load(Ordering::Relaxed);
    PEAK.store(live, Ordering::Relaxed);
    live
}

/// Most bytes live at once since [`alloc_baseline`], above that baseline.
pub fn alloc_peak_since(baseline: usize) -> usize {
    PEAK.load(Ordering::Relaxed).saturating_sub(baseline)
}

// ---------------------------------------------------------------------------------------------
// Determinism.

// A deterministic random source (SplitMix64 over a counter), the test suite's own. Predictable
// by design: for fuzzing only, where reproducibility matters and secrecy does not.
#[path = "../../tests/common/splitmix.rs"]
mod splitmix;
/// Options whose random stream depends only on `seed`.
pub use splitmix::seeded_options as det_options;

/// The cheapest Argon2id parameters (8 KiB, one pass, one lane): fuzzing tests parsing and
/// logic, not the KDF's strength.
pub fn cheap_kdf() -> KdfParams {
    KdfParams::insecure_for_tests_only(8, 1, 1).expect("8 KiB, 1 pass, 1 lane is within bounds")
}

/// Polls a future that is ready at once (every future of [`MemoryStore`] is).
pub fn now<T>(fut: AsyncResult<'static, T, io::Error>) -> Result<T, io::Error> {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(io::Error::new(io::ErrorKind::Other, "future not ready")),
    }
}

// ---------------------------------------------------------------------------------------------
// Credentials and names.

/// The passphrase the header target tries on every input.
pub const PASSPHRASE: &[u8] = b"fuzz passphrase";
/// A passphrase that no fixture store uses.
pub const WRONG_PASSPHRASE: &[u8] = b"not the fuzz passphrase";

/// The raw key the fixture stores use.
pub fn raw_key() -> RawKey {
    RawKey::from_bytes([0x42; 32])
}

/// A raw key that no fixture store uses.
pub fn wrong_raw_key() -> RawKey {
    RawKey::from_bytes([0x43; 32])
}

/// Valid, pairwise different (primary, secondary, key) triples, chosen so several of them have
/// the same concatenation (the associated data must still tell them apart), plus LDK's own
/// namespaces and names of the maximum length.
pub fn triples() -> Vec<(String, String, String)> {
    let long = "L".repeat(120);
    [
        ("", "", "manager"),
        ("", "", "k"),
        ("monitors", "", "abc_0"),
        ("monitor_updates", "abc_0", "1"),
        ("p", "s", "k"),
        ("p", "", "sk"),
        ("ps", "", "k"),
        ("p", "sk", "K"),
        (long.as_str(), long.as_str(), long.as_str()),
    ]
    .iter()
    .map(|(p, s, k)| (p.to_string(), s.to_string(), k.to_string()))
    .collect()
}

/// The value the record fixture writes under triple `i` (the first one is empty).
pub fn fixture_value(i: usize) -> Vec<u8> {
    (0..i * 7).map(|j| (j as u8) ^ (i as u8)).collect()
}

// ---------------------------------------------------------------------------------------------
// The record fixture.

/// A fixed raw-key store holding one authentic record per triple of [`triples`].
pub struct RecordFixture {
    /// The encrypted store.
    pub store: EncryptedStore<MemoryStore>,
    /// Its inner (plaintext) store, where targets put arbitrary bytes.
    pub inner: MemoryStore,
    /// The triples.
    pub triples: Vec<(String, String, String)>,
    /// For triple `i`: the authentic record written under it, and the value it holds.
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Builds the record fixture; `None` only if the library fails where it must not (the target
/// then panics, which is the crash we want to see).
pub fn record_fixture() -> Option<RecordFixture> {
    let inner = MemoryStore::new();
    let store = det_options(1)
        .create(inner.clone(), Credential::raw_key(&raw_key()))
        .ok()?;
    let triples = triples();
    let mut records = Vec::new();
    for (i, (p, s, k)) in triples.iter().enumerate() {
        let value = fixture_value(i);
        KVStoreSync::write(&store, p, s, k, value.clone()).ok()?;
        records.push((KVStoreSync::read(&inner, p, s, k).ok()?, value.clone()));
        // The oracle is only worth something if the authentic records do open.
        if KVStoreSync::read(&store, p, s, k).ok()? != value {
            return None;
        }
    }
    Some(RecordFixture {
        store,
        inner,
        triples,
        records,
    })
}

/// The triples of [`triples`] that a store with encrypted names accepts (every name at most
/// 74 bytes), plus one at that maximum.
pub fn triples_v2() -> Vec<(String, String, String)> {
    let max = "M".repeat(74);
    triples()
        .into_iter()
        .filter(|(p, s, k)| p.len() <= 74 && s.len() <= 74 && k.len() <= 74)
        .chain([(max.clone(), max.clone(), max)])
        .collect()
}

/// The inner keys that `write` added, for learning a triple's stored (encrypted) names.
fn added_key(before: &[Name], after: Vec<Name>) -> Option<Name> {
    let mut added = after.into_iter().filter(|t| !before.contains(t));
    let one = added.next()?;
    added.next().is_none().then_some(one)
}

/// The stored names a store with encrypted names uses for `(p, s, k)`, learned by
/// writing `value` through it and looking at what appeared in the inner store (which must not
/// hold the triple yet).
pub fn learn_stored_names<S: KVStoreSync>(
    store: &S,
    inner: &MemoryStore,
    (p, s, k): (&str, &str, &str),
    value: Vec<u8>,
) -> Option<Name> {
    let before = inner.list_all_keys().ok()?;
    store.write(p, s, k, value).ok()?;
    added_key(&before, inner.list_all_keys().ok()?)
}

/// A fixed raw-key store with encrypted names and padding, holding one authentic
/// record per triple of [`triples_v2`].
pub struct RecordFixtureV2 {
    /// The encrypted store.
    pub store: EncryptedStore<MemoryStore>,
    /// Its inner store.
    pub inner: MemoryStore,
    /// The (plaintext) triples.
    pub triples: Vec<(String, String, String)>,
    /// For triple `i`: the stored (encrypted) names the inner store holds its record under.
    pub stored: Vec<(String, String, String)>,
    /// For triple `i`: the authentic record written under it, and the value it holds.
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Builds the record fixture with encrypted names and padding (`None` as for [`record_fixture`]).
pub fn record_fixture_v2() -> Option<RecordFixtureV2> {
    let inner = MemoryStore::new();
    let store = det_options(2)
        .encrypt_names()
        .pad_values()
        .create(inner.clone(), Credential::raw_key(&raw_key()))
        .ok()?;
    let triples = triples_v2();
    let (mut stored, mut records) = (Vec::new(), Vec::new());
    for (i, (p, s, k)) in triples.iter().enumerate() {
        let value = fixture_value(i);
        let (sp, ss, sk) = learn_stored_names(&store, &inner, (p, s, k), value.clone())?;
        // Names are encrypted: nothing non-empty is stored in clear.
        for (plain, st) in [(p, &sp), (s, &ss), (k, &sk)] {
            if !plain.is_empty() && plain == st {
                return None;
            }
        }
        records.push((
            KVStoreSync::read(&inner, &sp, &ss, &sk).ok()?,
            value.clone(),
        ));
        stored.push((sp, ss, sk));
        if KVStoreSync::read(&store, p, s, k).ok()? != value {
            return None;
        }
    }
    Some(RecordFixtureV2 {
        store,
        inner,
        triples,
        stored,
        records,
    })
}

/// The fixed data key and store id of the record hooks' fixture.
pub const V2_KEY: [u8; 32] = [0x77; 32];
/// See [`V2_KEY`].
pub const V2_STORE_ID: [u8; 16] = [0x99; 16];

/// A record sealed by the record hooks under [`V2_KEY`]: for triple `i` of [`triples_v2`],
/// key id `i`, version `i + 1`, nonce `[i; 24]`, the padded [`fixture_value`]`(i)`.
pub fn sealed_v2(i: usize) -> Option<Vec<u8>> {
    let t = triples_v2();
    let (p, s, k) = t.get(i)?;
    let padded = encrypted_kvstore::__fuzzing::pad_v2(&fixture_value(i))?;
    encrypted_kvstore::__fuzzing::record_v2_seal(
        &V2_KEY,
        &V2_STORE_ID,
        i as u32,
        i as u64 + 1,
        &[i as u8; 24],
        (p, s, k),
        &padded,
    )
}

// ---------------------------------------------------------------------------------------------
// The header fixture.

/// What unlocks an authentic header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlock {
    /// [`PASSPHRASE`].
    Passphrase,
    /// [`raw_key`].
    Key,
}

/// Authentic headers, each with what unlocks it: passphrase stores with several cheap costs
/// (one and two lanes), one whose passphrase was changed, and raw-key stores; then headers
/// with each option (see below).
pub fn authentic_headers() -> Option<Vec<(Vec<u8>, Unlock)>> {
    let read = |inner: &MemoryStore| {
        KVStoreSync::read(
            inner,
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        )
        .ok()
    };
    let mut out = Vec::new();
    for (seed, (m, t, p)) in [(10u64, (8, 1, 1)), (11, (64, 2, 1)), (12, (16, 1, 2))] {
        let inner = MemoryStore::new();
        let params = KdfParams::insecure_for_tests_only(m, t, p).ok()?;
        det_options(seed)
            .create(
                inner.clone(),
                Credential::passphrase_with(PASSPHRASE, params),
            )
            .ok()?;
        out.push((read(&inner)?, Unlock::Passphrase));
    }
    // A store created with another passphrase, then changed to PASSPHRASE; and one changed from
    // PASSPHRASE to the raw key.
    let inner = MemoryStore::new();
    let store = det_options(13)
        .create(
            inner.clone(),
            Credential::passphrase_with(WRONG_PASSPHRASE, cheap_kdf()),
        )
        .ok()?;
    store
        .change_credential(Credential::passphrase_with(PASSPHRASE, cheap_kdf()))
        .ok()?;
    out.push((read(&inner)?, Unlock::Passphrase));
    store
        .change_credential(Credential::raw_key(&raw_key()))
        .ok()?;
    out.push((read(&inner)?, Unlock::Key));
    let inner = MemoryStore::new();
    det_options(14)
        .create(inner.clone(), Credential::raw_key(&raw_key()))
        .ok()?;
    out.push((read(&inner)?, Unlock::Key));
    // A plain one, each option, both options over a raw key, one reopened (its reservation
    // header, `header_seq` 2) and one whose passphrase was changed.
    let v2 = det_options;
    for options in [
        v2(20),
        det_options(21).pad_values(),
        det_options(22).encrypt_names(),
    ] {
        let inner = MemoryStore::new();
        options
            .create(
                inner.clone(),
                Credential::passphrase_with(PASSPHRASE, cheap_kdf()),
            )
            .ok()?;
        out.push((read(&inner)?, Unlock::Passphrase));
    }
    let inner = MemoryStore::new();
    det_options(23)
        .encrypt_names()
        .pad_values()
        .create(inner.clone(), Credential::raw_key(&raw_key()))
        .ok()?;
    out.push((read(&inner)?, Unlock::Key));
    det_options(24)
        .open(inner.clone(), Credential::raw_key(&raw_key()))
        .ok()?;
    out.push((read(&inner)?, Unlock::Key));
    let inner = MemoryStore::new();
    let store = v2(25)
        .create(
            inner.clone(),
            Credential::passphrase_with(WRONG_PASSPHRASE, cheap_kdf()),
        )
        .ok()?;
    store
        .change_credential(Credential::passphrase_with(PASSPHRASE, cheap_kdf()))
        .ok()?;
    out.push((read(&inner)?, Unlock::Passphrase));
    // The oracle is only worth something if every authentic header does open.
    for (h, unlock) in &out {
        let inner = MemoryStore::new();
        KVStoreSync::write(
            &inner,
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            h.clone(),
        )
        .ok()?;
        match unlock {
            Unlock::Passphrase => {
                EncryptedStore::open(inner, Credential::passphrase(PASSPHRASE)).ok()?
            }
            Unlock::Key => EncryptedStore::open(inner, Credential::raw_key(&raw_key())).ok()?,
        };
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// An inner store that fails on demand.

/// The error an armed [`FaultyStore`] returns.
pub const FAULT_MESSAGE: &str = "injected inner-store fault";

/// How the next call of an armed [`FaultyStore`] misbehaves: loudly (it returns the injected
/// error) or silently (it reports success, as real storage does when it loses or garbles data
/// without noticing). A silent fault that does not apply to the call (a lost write on a read, a
/// corrupted read on a write) leaves the call untouched but is used up all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails and has no effect.
    Before,
    /// The call takes effect, then fails (the acknowledgement is lost).
    After,
    /// A write stores the first half of its bytes, then fails; other calls fail with no effect.
    TornWrite,
    /// A write or remove returns `Ok` and has no effect.
    LostWrite,
    /// A read returns what the key held before its latest change (see
    /// [`FaultyStore::previous`]).
    StaleRead,
    /// A read returns the stored bytes changed by [`corrupt`] (`NotFound` stays `NotFound`).
    CorruptRead {
        /// Where to flip or cut.
        at: u16,
        /// Cut the bytes at `at` instead of flipping the byte there.
        truncate: bool,
    },
}

impl Fault {
    /// Whether the faulted call returns the injected error.
    pub fn is_loud(self) -> bool {
        matches!(self, Fault::Before | Fault::After | Fault::TornWrite)
    }

    /// A fault from fuzz input.
    pub fn from_input(kind: u8, at: u16) -> Fault {
        match kind % 7 {
            0 => Fault::Before,
            1 => Fault::After,
            2 => Fault::TornWrite,
            3 => Fault::LostWrite,
            4 => Fault::StaleRead,
            n => Fault::CorruptRead {
                at,
                truncate: n == 6,
            },
        }
    }
}

/// What a corrupted read returns for `stored`: byte `at % len` flipped (`^ 0x01`), or the
/// bytes cut to `at % len` (always shorter); an empty value gains one byte.
pub fn corrupt(stored: &[u8], at: u16, truncate: bool) -> Vec<u8> {
    let mut v = stored.to_vec();
    if v.is_empty() {
        v.push(0x01);
        return v;
    }
    let at = usize::from(at) % v.len();
    if truncate {
        v.truncate(at);
    } else if let Some(b) = v.get_mut(at) {
        *b ^= 0x01;
    }
    v
}

type Name = (String, String, String);

fn name(p: &str, s: &str, k: &str) -> Name {
    (p.to_owned(), s.to_owned(), k.to_owned())
}

/// A [`MemoryStore`] whose next call (or, with [`arm_after`](Self::arm_after), a later one)
/// misbehaves once armed. It counts the calls made through it, and remembers, per key, what the
/// key held before its latest change (through it, or through
/// [`tamper_write`](Self::tamper_write) and [`tamper_remove`](Self::tamper_remove)), for stale
/// reads. Clones share everything.
///
/// Through `KVStore`, a call (and its fault) happens when its future is first polled.
#[derive(Debug, Clone, Default)]
pub struct FaultyStore {
    /// The plaintext map behind it.
    pub mem: MemoryStore,
    armed: Arc<Mutex<Option<Fault>>>,
    /// Calls to let through before the armed fault fires.
    skip: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    previous: Arc<Mutex<BTreeMap<Name, Option<Vec<u8>>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FaultyStore {
    /// Arms `fault` for the next call.
    pub fn arm(&self, fault: Fault) {
        self.arm_after(0, fault);
    }

    /// Arms `fault` for the call after the next `skip` ones.
    pub fn arm_after(&self, skip: usize, fault: Fault) {
        let mut armed = lock(&self.armed);
        self.skip.store(skip, Ordering::SeqCst);
        *armed = Some(fault);
    }

    /// Disarms, returning what was armed.
    pub fn take_armed(&self) -> Option<Fault> {
        let mut armed = lock(&self.armed);
        self.skip.store(0, Ordering::SeqCst);
        armed.take()
    }

    /// How many calls were made through this store (and its clones) so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// One call is made: the fault it meets, if it is the armed one's.
    fn fire(&self) -> Option<Fault> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut armed = lock(&self.armed);
        armed.as_ref()?;
        let skip = self.skip.load(Ordering::SeqCst);
        if skip > 0 {
            self.skip.store(skip - 1, Ordering::SeqCst);
            return None;
        }
        armed.take()
    }

    /// Sets the switch as it was.
    pub fn set_armed(&self, fault: Option<Fault>) {
        *lock(&self.armed) = fault;
    }

    /// What `p/s/k` held before its latest change: `None` if it never changed, `Some(None)` if
    /// it held nothing.
    pub fn previous(&self, p: &str, s: &str, k: &str) -> Option<Option<Vec<u8>>> {
        lock(&self.previous).get(&name(p, s, k)).cloned()
    }

    fn changing(
        &self,
        p: &str,
        s: &str,
        k: &str,
        change: impl FnOnce(&MemoryStore) -> Result<(), io::Error>,
    ) -> Result<(), io::Error> {
        let mut previous = lock(&self.previous);
        let before = KVStoreSync::read(&self.mem, p, s, k).ok();
        change(&self.mem)?;
        previous.insert(name(p, s, k), before);
        Ok(())
    }

    /// Writes behind the wrapper's back (no fault), remembering the key's history.
    pub fn tamper_write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        self.changing(p, s, k, |m| KVStoreSync::write(m, p, s, k, buf))
    }

    /// Removes behind the wrapper's back (no fault), remembering the key's history.
    pub fn tamper_remove(&self, p: &str, s: &str, k: &str) -> Result<(), io::Error> {
        self.changing(p, s, k, |m| KVStoreSync::remove(m, p, s, k, false))
    }
}

fn injected_fault() -> io::Error {
    io::Error::new(io::ErrorKind::Other, FAULT_MESSAGE)
}

/// Whether `e` is the fault a [`FaultyStore`] injects, passed up unchanged.
pub fn is_fault(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::Other
        && e.get_ref().map(|inner| inner.to_string()).as_deref() == Some(FAULT_MESSAGE)
}

impl KVStoreSync for FaultyStore {
    fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, io::Error> {
        match self.fire() {
            None | Some(Fault::LostWrite) => KVStoreSync::read(&self.mem, p, s, k),
            Some(Fault::Before | Fault::After | Fault::TornWrite) => Err(injected_fault()),
            Some(Fault::StaleRead) => match self.previous(p, s, k) {
                Some(Some(old)) => Ok(old),
                Some(None) => Err(io::Error::new(io::ErrorKind::NotFound, "stale: not found")),
                None => KVStoreSync::read(&self.mem, p, s, k),
            },
            Some(Fault::CorruptRead { at, truncate }) => {
                KVStoreSync::read(&self.mem, p, s, k).map(|v| corrupt(&v, at, truncate))
            }
        }
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        match self.fire() {
            Some(Fault::Before) => Err(injected_fault()),
            Some(Fault::After) => {
                self.changing(p, s, k, |m| KVStoreSync::write(m, p, s, k, buf))?;
                Err(injected_fault())
            }
            Some(Fault::TornWrite) => {
                let half = buf.len() / 2;
                let torn = buf.get(..half).unwrap_or_default().to_vec();
                self.changing(p, s, k, |m| KVStoreSync::write(m, p, s, k, torn))?;
                Err(injected_fault())
            }
            Some(Fault::LostWrite) => Ok(()),
            None | Some(Fault::StaleRead | Fault::CorruptRead { .. }) => {
                self.changing(p, s, k, |m| KVStoreSync::write(m, p, s, k, buf))
            }
        }
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Result<(), io::Error> {
        match self.fire() {
            Some(Fault::Before | Fault::TornWrite) => Err(injected_fault()),
            Some(Fault::After) => {
                self.changing(p, s, k, |m| KVStoreSync::remove(m, p, s, k, lazy))?;
                Err(injected_fault())
            }
            Some(Fault::LostWrite) => Ok(()),
            None | Some(Fault::StaleRead | Fault::CorruptRead { .. }) => {
                self.changing(p, s, k, |m| KVStoreSync::remove(m, p, s, k, lazy))
            }
        }
    }
    fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
        match self.fire() {
            Some(f) if f.is_loud() => Err(injected_fault()),
            _ => KVStoreSync::list(&self.mem, p, s),
        }
    }
}

/// Each call runs when its future is first polled (an `async` block does nothing before).
impl KVStore for FaultyStore {
    fn read(&self, p: &str, s: &str, k: &str) -> AsyncResult<'static, Vec<u8>, io::Error> {
        let (this, (p, s, k)) = (self.clone(), name(p, s, k));
        Box::pin(async move { KVStoreSync::read(&this, &p, &s, &k) })
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        let (this, (p, s, k)) = (self.clone(), name(p, s, k));
        Box::pin(async move { KVStoreSync::write(&this, &p, &s, &k, buf) })
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> AsyncResult<'static, (), io::Error> {
        let (this, (p, s, k)) = (self.clone(), name(p, s, k));
        Box::pin(async move { KVStoreSync::remove(&this, &p, &s, &k, lazy) })
    }
    fn list(&self, p: &str, s: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        let (this, p, s) = (self.clone(), p.to_owned(), s.to_owned());
        Box::pin(async move { KVStoreSync::list(&this, &p, &s) })
    }
}

impl MigratableKVStore for FaultyStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        match self.fire() {
            Some(f) if f.is_loud() => Err(injected_fault()),
            _ => self.mem.list_all_keys(),
        }
    }
}
