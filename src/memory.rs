//! A plaintext in-memory store, for tests, examples and benchmarks. The LDK traits of each
//! enabled version are implemented in `ldk/` over the methods here.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use bitcoin::io;

use crate::names::Triple;

/// By (primary namespace, secondary namespace, key), looked up by borrowed names as a
/// `dyn Triple` (no copy of them per lookup, no `memcmp` of an empty name).
type Map = BTreeMap<(String, String, String), Entry>;

// Creation order and page size serve only LDK 0.3's paginated listing.
#[derive(Debug)]
#[cfg_attr(not(feature = "lightning-0-3"), allow(dead_code))]
struct Entry {
    /// Creation order: set when the key is first written, kept when it is overwritten.
    created: u64,
    value: Vec<u8>,
}

#[derive(Debug, Default)]
struct State {
    map: Map,
    next_created: u64,
}

/// How many keys a page of [`MemoryStore`]'s paginated listing holds unless told otherwise
/// (as many as LDK 0.3's `FilesystemStoreV2`).
pub const DEFAULT_PAGE_SIZE: usize = 50;

/// A plaintext key-value store in memory: a sorted map behind a lock. Clones share the same
/// map. It checks no names (the encrypted store does that before calling it); it exists for
/// tests, examples and benchmarks, not for persistence.
///
/// With LDK 0.3 it also lists keys page by page (`PaginatedKVStoreSync`), newest created first,
/// with the creation sequence number as the page token.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "lightning-0-3"), allow(dead_code))]
pub struct MemoryStore {
    state: Arc<RwLock<State>>,
    page_size: usize,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            state: Arc::default(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store whose paginated listings hold at most `page_size` keys a page (at least
    /// one).
    pub fn with_page_size(page_size: usize) -> Self {
        MemoryStore {
            state: Arc::default(),
            page_size: page_size.max(1),
        }
    }

    /// Number of values held (including an encrypted store's header).
    pub fn len(&self) -> usize {
        // A poisoned lock still holds the map; report its size, not a made-up zero.
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .map
            .len()
    }

    /// Whether the store holds no value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn get(&self, p: &str, s: &str, key: &str) -> Result<Vec<u8>, io::Error> {
        let m = self.state.read().map_err(|_| poisoned())?;
        m.map
            .get(&(p, s, key) as &dyn Triple)
            .map(|e| e.value.clone())
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "key not found"))
    }

    pub(crate) fn put(&self, p: &str, s: &str, key: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        let mut m = self.state.write().map_err(|_| poisoned())?;
        let State { map, next_created } = &mut *m;
        match map.get_mut(&(p, s, key) as &dyn Triple) {
            Some(e) => e.value = buf,
            None => {
                *next_created += 1;
                let created = *next_created;
                map.insert(
                    (p.to_owned(), s.to_owned(), key.to_owned()),
                    Entry {
                        created,
                        value: buf,
                    },
                );
            }
        }
        Ok(())
    }

    pub(crate) fn delete(&self, p: &str, s: &str, key: &str) -> Result<(), io::Error> {
        self.state
            .write()
            .map_err(|_| poisoned())?
            .map
            .remove(&(p, s, key) as &dyn Triple);
        Ok(())
    }

    pub(crate) fn keys_in(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
        let m = self.state.read().map_err(|_| poisoned())?;
        Ok(m.map
            .keys()
            .filter(|(mp, ms, _)| mp == p && ms == s)
            .map(|(_, _, key)| key.clone())
            .collect())
    }

    pub(crate) fn all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        Ok(self
            .state
            .read()
            .map_err(|_| poisoned())?
            .map
            .keys()
            .cloned()
            .collect())
    }

    /// One page of the keys of (`p`, `s`), newest created first, after the entry whose creation
    /// number is `token` (a deleted entry's token resumes at the next older key). Returns the
    /// keys and the token of the next page, if there is one.
    #[cfg_attr(not(feature = "lightning-0-3"), allow(dead_code))]
    pub(crate) fn page(
        &self,
        p: &str,
        s: &str,
        token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), io::Error> {
        let after = match token {
            None => u64::MAX,
            Some(t) => t.parse::<u64>().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a page token of this store",
                )
            })?,
        };
        let m = self.state.read().map_err(|_| poisoned())?;
        let mut entries: Vec<(u64, &str)> = m
            .map
            .iter()
            .filter(|((mp, ms, _), e)| mp == p && ms == s && e.created < after)
            .map(|((_, _, key), e)| (e.created, key.as_str()))
            .collect();
        entries.sort_unstable_by_key(|&(created, _)| core::cmp::Reverse(created));
        let more = entries.len() > self.page_size;
        entries.truncate(self.page_size);
        let next = match entries.last() {
            Some((created, _)) if more => Some(created.to_string()),
            _ => None,
        };
        Ok((
            entries.into_iter().map(|(_, key)| key.to_owned()).collect(),
            next,
        ))
    }
}

fn poisoned() -> io::Error {
    io::Error::new(io::ErrorKind::Other, "memory store lock poisoned")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Held keys sort as the tuple of names does, empty names included, and a lookup by
    /// borrowed names finds exactly the key written under them.
    #[test]
    fn keys_sort_as_tuples_and_are_found_by_borrowed_names() {
        let names = ["", "a", "b", "ab", "a_", "B"];
        let store = MemoryStore::new();
        let mut tuples = Vec::new();
        for p in names {
            for s in names {
                for k in names {
                    store
                        .put(p, s, k, format!("{p}/{s}/{k}").into_bytes())
                        .unwrap();
                    tuples.push((p.to_owned(), s.to_owned(), k.to_owned()));
                }
            }
        }
        tuples.sort();
        assert_eq!(store.all_keys().unwrap(), tuples);
        for (p, s, k) in &tuples {
            assert_eq!(
                store.get(p, s, k).unwrap(),
                format!("{p}/{s}/{k}").into_bytes()
            );
        }
        store.delete("a", "", "b").unwrap();
        assert_eq!(
            store.get("a", "", "b").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(store.len(), tuples.len() - 1);
    }
}
