//! A plaintext in-memory store, for tests, examples and benchmarks.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use lightning::io;
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{KVStore, KVStoreSync, MigratableKVStore};

type Map = BTreeMap<(String, String, String), Vec<u8>>;

/// A plaintext key-value store in memory: a sorted map behind a lock. Clones share the same
/// map. It checks no names (the encrypted store does that before calling it); it exists for
/// tests, examples and benchmarks, not for persistence.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    map: Arc<RwLock<Map>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of values held (including an encrypted store's header).
    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether the store holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn poisoned() -> io::Error {
    io::Error::new(io::ErrorKind::Other, "memory store lock poisoned")
}

fn k(p: &str, s: &str, key: &str) -> (String, String, String) {
    (p.to_owned(), s.to_owned(), key.to_owned())
}

impl KVStoreSync for MemoryStore {
    fn read(&self, p: &str, s: &str, key: &str) -> Result<Vec<u8>, io::Error> {
        let m = self.map.read().map_err(|_| poisoned())?;
        m.get(&k(p, s, key))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "key not found"))
    }

    fn write(&self, p: &str, s: &str, key: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        self.map
            .write()
            .map_err(|_| poisoned())?
            .insert(k(p, s, key), buf);
        Ok(())
    }

    fn remove(&self, p: &str, s: &str, key: &str, _lazy: bool) -> Result<(), io::Error> {
        self.map
            .write()
            .map_err(|_| poisoned())?
            .remove(&k(p, s, key));
        Ok(())
    }

    fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
        let m = self.map.read().map_err(|_| poisoned())?;
        Ok(m.keys()
            .filter(|(mp, ms, _)| mp == p && ms == s)
            .map(|(_, _, key)| key.clone())
            .collect())
    }
}

impl KVStore for MemoryStore {
    fn read(&self, p: &str, s: &str, key: &str) -> AsyncResult<'static, Vec<u8>, io::Error> {
        let r = KVStoreSync::read(self, p, s, key);
        Box::pin(async move { r })
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        let r = KVStoreSync::write(self, p, s, key, buf);
        Box::pin(async move { r })
    }
    fn remove(
        &self,
        p: &str,
        s: &str,
        key: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), io::Error> {
        let r = KVStoreSync::remove(self, p, s, key, lazy);
        Box::pin(async move { r })
    }
    fn list(&self, p: &str, s: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        let r = KVStoreSync::list(self, p, s);
        Box::pin(async move { r })
    }
}

impl MigratableKVStore for MemoryStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        Ok(self
            .map
            .read()
            .map_err(|_| poisoned())?
            .keys()
            .cloned()
            .collect())
    }
}
