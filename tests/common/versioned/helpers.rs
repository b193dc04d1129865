//! The helpers that name LDK traits, compiled once per LDK version (see `common/mod.rs`).

// Under LDK 0.3 the boxed futures of `Fut` refine the trait's `impl Future` return types.
#![allow(refining_impl_trait)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::ldk::io;
use super::ldk::util::persist::{KVStore, KVStoreSync};
use super::{FilesystemStore, MigratableKVStoreSync, V};
use crate::common::{name, FaultKind, FaultState, InjectedFault, Name, Snapshot, PASSPHRASE};
use encrypted_kvstore::{
    Credential, EncryptedStore, OpenError, OpenOptions, StoreAnchor, HEADER_KEY,
    HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};

/// A boxed future, as both LDK versions' `KVStore` accept (0.2 names it `AsyncResult`).
pub type Fut<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'static>>;

/// LDK's `FilesystemStore` in a temporary directory of its own, which goes when the last clone
/// is dropped. Clones share the store, so a test can write behind the wrapper's back as an
/// attacker with write access to the disk would.
#[derive(Clone)]
pub struct TempFs {
    store: Arc<FilesystemStore>,
    _dir: Arc<tempfile::TempDir>,
}

impl TempFs {
    /// A store in a new, empty temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        TempFs {
            store: Arc::new(fs(dir.path())),
            _dir: Arc::new(dir),
        }
    }
}

impl TempFs {
    /// A store in a new, empty temporary directory on a memory-backed file system where the
    /// machine has one (`/dev/shm`), else where [`TempFs::new`] puts it: the same
    /// `FilesystemStore` code, whose `fsync`s cost nothing there, for sweeps that run a
    /// workload thousands of times.
    pub fn in_memory_fs() -> Self {
        let shm = Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .unwrap();
        TempFs {
            store: Arc::new(fs(dir.path())),
            _dir: Arc::new(dir),
        }
    }

    /// The directory the store keeps its files in.
    pub fn path(&self) -> &Path {
        self._dir.path()
    }
}

impl KVStoreSync for TempFs {
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
        KVStoreSync::read(&*self.store, p, s, k)
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> io::Result<()> {
        KVStoreSync::write(&*self.store, p, s, k, buf)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
        KVStoreSync::remove(&*self.store, p, s, k, lazy)
    }
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
        KVStoreSync::list(&*self.store, p, s)
    }
}

/// The async trait of LDK's own `FilesystemStore` (its writes run on tokio's blocking pool, in
/// call order per key).
impl KVStore for TempFs {
    fn read(&self, p: &str, s: &str, k: &str) -> Fut<Vec<u8>> {
        Box::pin(KVStore::read(&*self.store, p, s, k))
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Fut<()> {
        Box::pin(KVStore::write(&*self.store, p, s, k, buf))
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Fut<()> {
        Box::pin(KVStore::remove(&*self.store, p, s, k, lazy))
    }
    fn list(&self, p: &str, s: &str) -> Fut<Vec<String>> {
        Box::pin(KVStore::list(&*self.store, p, s))
    }
}

impl MigratableKVStoreSync for TempFs {
    fn list_all_keys(&self) -> io::Result<Vec<(String, String, String)>> {
        MigratableKVStoreSync::list_all_keys(&*self.store)
    }
}

/// A fresh `FilesystemStore` over `dir`.
pub fn fs(dir: &Path) -> FilesystemStore {
    FilesystemStore::new(dir.to_path_buf())
}

/// The stored header of the store in `inner`, as the inner store holds it.
pub fn stored_header<S: KVStoreSync>(inner: &S) -> Vec<u8> {
    KVStoreSync::read(
        inner,
        RESERVED_PRIMARY_NAMESPACE,
        HEADER_SECONDARY_NAMESPACE,
        HEADER_KEY,
    )
    .unwrap()
}

/// Puts `header` in place of the stored header in `inner`, behind the wrapper's back.
pub fn put_stored_header<S: KVStoreSync>(inner: &S, header: Vec<u8>) {
    KVStoreSync::write(
        inner,
        RESERVED_PRIMARY_NAMESPACE,
        HEADER_SECONDARY_NAMESPACE,
        HEADER_KEY,
        header,
    )
    .unwrap()
}

/// A freshness anchor kept in a second `FilesystemStore`.
pub type Anchor = StoreAnchor<TempFs, V>;

/// An anchor kept in `dir`.
pub fn anchor(dir: &TempFs) -> Anchor {
    StoreAnchor::new(dir.clone())
}

/// Opens the anchored store in `inner` with its anchor in `a` and [`PASSPHRASE`], writable.
pub fn open_anchored<S: KVStoreSync>(inner: S, a: &TempFs) -> Result<EncryptedStore<S>, OpenError> {
    OpenOptions::new()
        .anchor(anchor(a))
        .open::<V, _>(inner, Credential::passphrase(PASSPHRASE))
}

/// Opens the anchored store in `inner` with its anchor in `a` and [`PASSPHRASE`], read-only.
pub fn open_anchored_read_only<S: KVStoreSync>(
    inner: S,
    a: &TempFs,
) -> Result<EncryptedStore<S>, OpenError> {
    OpenOptions::new()
        .read_only()
        .anchor(anchor(a))
        .open::<V, _>(inner, Credential::passphrase(PASSPHRASE))
}

/// Opens the anchored store in `inner` with its anchor in `a`, writable and then read-only,
/// where both must be refused: each error, named by its mode.
pub fn open_anchored_refused<S: KVStoreSync + Clone>(
    inner: &S,
    a: &TempFs,
) -> [(&'static str, OpenError); 2] {
    let refused = |r: Result<EncryptedStore<S>, OpenError>, mode: &str| match r {
        Ok(_) => panic!("{mode}: opened"),
        Err(e) => e,
    };
    [
        (
            "writable",
            refused(open_anchored(inner.clone(), a), "writable"),
        ),
        (
            "read-only",
            refused(open_anchored_read_only(inner.clone(), a), "read-only"),
        ),
    ]
}

/// Reads every value of `store` (for an inner store: headers and records, as stored).
pub fn snapshot<S: MigratableKVStoreSync>(store: &S) -> Snapshot {
    let mut out = Snapshot::new();
    for (p, s, k) in store.list_all_keys().unwrap() {
        let v = KVStoreSync::read(store, &p, &s, &k).unwrap();
        out.insert((p, s, k), v);
    }
    out
}

/// One store operation, through whichever LDK trait an adapter drives.
pub trait Ops {
    /// `read`.
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>>;
    /// `write`.
    fn write(&self, p: &str, s: &str, k: &str, v: Vec<u8>) -> io::Result<()>;
    /// `remove`.
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()>;
    /// `list`, sorted.
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>>;
}

/// Drives a store through `KVStoreSync`.
pub struct SyncOps<'a, S>(pub &'a S);

impl<S: KVStoreSync> Ops for SyncOps<'_, S> {
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
        KVStoreSync::read(self.0, p, s, k)
    }
    fn write(&self, p: &str, s: &str, k: &str, v: Vec<u8>) -> io::Result<()> {
        KVStoreSync::write(self.0, p, s, k, v)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
        KVStoreSync::remove(self.0, p, s, k, lazy)
    }
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
        let mut l = KVStoreSync::list(self.0, p, s)?;
        l.sort();
        Ok(l)
    }
}

/// Drives a store through the async `KVStore`, each future run to completion on a
/// current-thread tokio runtime (LDK's `FilesystemStore` needs one for `spawn_blocking`).
pub struct AsyncOps<'a, S> {
    store: &'a S,
    rt: tokio::runtime::Runtime,
}

impl<'a, S> AsyncOps<'a, S> {
    /// An adapter with its own runtime.
    pub fn new(store: &'a S) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        AsyncOps { store, rt }
    }
}

impl<S: KVStore> Ops for AsyncOps<'_, S> {
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
        let fut = KVStore::read(self.store, p, s, k);
        self.rt.block_on(fut)
    }
    fn write(&self, p: &str, s: &str, k: &str, v: Vec<u8>) -> io::Result<()> {
        let fut = KVStore::write(self.store, p, s, k, v);
        self.rt.block_on(fut)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
        let fut = KVStore::remove(self.store, p, s, k, lazy);
        self.rt.block_on(fut)
    }
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
        let fut = KVStore::list(self.store, p, s);
        let mut l = self.rt.block_on(fut)?;
        l.sort();
        Ok(l)
    }
}

/// An inner store that counts every operation on it and fails (or silently garbles) the armed
/// one, once. Clones share the counter, the arming and the history of changes.
///
/// Through `KVStore`, an operation (its count, its fault and its effect) happens when its
/// future is first polled, not when the future is made: a future dropped unpolled does nothing.
pub struct FaultyStore<S> {
    inner: S,
    state: Arc<FaultState<Name>>,
}

impl<S> std::ops::Deref for FaultyStore<S> {
    type Target = FaultState<Name>;
    fn deref(&self) -> &Self::Target {
        &self.state
    }
}

impl<S: Clone> Clone for FaultyStore<S> {
    fn clone(&self) -> Self {
        FaultyStore {
            inner: self.inner.clone(),
            state: Arc::clone(&self.state),
        }
    }
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`; nothing armed.
    pub fn new(inner: S) -> Self {
        FaultyStore {
            inner,
            state: Arc::new(FaultState::new()),
        }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

fn fault(op: u64) -> io::Error {
    io::Error::new(io::ErrorKind::Other, InjectedFault { op })
}

impl<S: KVStoreSync> FaultyStore<S> {
    /// Makes a change to `p/s/k` through `change`, remembering what the key held before.
    fn changing(
        &self,
        p: &str,
        s: &str,
        k: &str,
        change: impl FnOnce(&S) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut previous = self.previous();
        let before = match self.inner.read(p, s, k) {
            Ok(v) => Some(v),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        change(&self.inner)?;
        previous.insert(name(p, s, k), before);
        Ok(())
    }
}

impl<S: KVStoreSync> KVStoreSync for FaultyStore<S> {
    fn read(&self, p: &str, s: &str, k: &str) -> io::Result<Vec<u8>> {
        let Some((n, kind)) = self.tick() else {
            return self.inner.read(p, s, k);
        };
        match kind {
            FaultKind::After => {
                let _ = self.inner.read(p, s, k);
                Err(fault(n))
            }
            FaultKind::Before | FaultKind::TornWrite => Err(fault(n)),
            FaultKind::LostWrite => self.inner.read(p, s, k),
            FaultKind::StaleRead => {
                let previous = self.previous();
                match previous.get(&name(p, s, k)) {
                    Some(Some(old)) => Ok(old.clone()),
                    Some(None) => Err(io::Error::from(io::ErrorKind::NotFound)),
                    None => self.inner.read(p, s, k),
                }
            }
            FaultKind::FlippedRead => {
                let mut v = self.inner.read(p, s, k)?;
                let at = n as usize % v.len().max(1);
                match v.get_mut(at) {
                    Some(b) => *b ^= 0x01,
                    None => v.push(0x01),
                }
                Ok(v)
            }
            FaultKind::TruncatedRead => {
                let mut v = self.inner.read(p, s, k)?;
                v.pop();
                Ok(v)
            }
        }
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> io::Result<()> {
        let Some((n, kind)) = self.tick() else {
            return self.changing(p, s, k, |i| i.write(p, s, k, buf));
        };
        match kind {
            FaultKind::Before => Err(fault(n)),
            FaultKind::After => {
                self.changing(p, s, k, |i| i.write(p, s, k, buf))?;
                Err(fault(n))
            }
            FaultKind::TornWrite => {
                let half = buf.len() / 2;
                self.changing(p, s, k, |i| i.write(p, s, k, buf[..half].to_vec()))?;
                Err(fault(n))
            }
            FaultKind::LostWrite => Ok(()),
            FaultKind::StaleRead | FaultKind::FlippedRead | FaultKind::TruncatedRead => {
                self.changing(p, s, k, |i| i.write(p, s, k, buf))
            }
        }
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> io::Result<()> {
        let Some((n, kind)) = self.tick() else {
            return self.changing(p, s, k, |i| i.remove(p, s, k, lazy));
        };
        match kind {
            FaultKind::After => {
                self.changing(p, s, k, |i| i.remove(p, s, k, lazy))?;
                Err(fault(n))
            }
            FaultKind::Before | FaultKind::TornWrite => Err(fault(n)),
            FaultKind::LostWrite => Ok(()),
            FaultKind::StaleRead | FaultKind::FlippedRead | FaultKind::TruncatedRead => {
                self.changing(p, s, k, |i| i.remove(p, s, k, lazy))
            }
        }
    }
    fn list(&self, p: &str, s: &str) -> io::Result<Vec<String>> {
        match self.tick() {
            Some((n, kind)) if kind.is_loud() => Err(fault(n)),
            _ => self.inner.list(p, s),
        }
    }
}

/// The async trait, over the same counted synchronous operations. Each runs when its future is
/// first polled (an `async` block does nothing before that), so a fault fires at the poll, in
/// the order futures are polled, and never for a future dropped unpolled.
impl<S: KVStoreSync + Clone + Send + Sync + 'static> KVStore for FaultyStore<S> {
    fn read(&self, p: &str, s: &str, k: &str) -> Fut<Vec<u8>> {
        let (this, (p, s, k)) = (self.clone(), name(p, s, k));
        Box::pin(async move { KVStoreSync::read(&this, &p, &s, &k) })
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Fut<()> {
        let (this, (p, s, k)) = (self.clone(), name(p, s, k));
        Box::pin(async move { KVStoreSync::write(&this, &p, &s, &k, buf) })
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Fut<()> {
        let (this, (p, s, k)) = (self.clone(), name(p, s, k));
        Box::pin(async move { KVStoreSync::remove(&this, &p, &s, &k, lazy) })
    }
    fn list(&self, p: &str, s: &str) -> Fut<Vec<String>> {
        let (this, p, s) = (self.clone(), p.to_owned(), s.to_owned());
        Box::pin(async move { KVStoreSync::list(&this, &p, &s) })
    }
}

impl<S: MigratableKVStoreSync> MigratableKVStoreSync for FaultyStore<S> {
    fn list_all_keys(&self) -> io::Result<Vec<(String, String, String)>> {
        match self.tick() {
            Some((n, kind)) if kind.is_loud() => Err(fault(n)),
            _ => self.inner.list_all_keys(),
        }
    }
}
