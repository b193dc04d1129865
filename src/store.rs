//! `EncryptedStore`: an open store, its inner store and its engine (keys, header, counter,
//! freshness and the record path, in [`engine`]), the public facts about it ([`StoreInfo`])
//! and [`SharedStore`]; its maintenance methods are in `maintenance`. It knows nothing of LDK's
//! trait signatures: the adapters in `ldk/` implement each LDK version's traits by calling it,
//! and `open.rs` creates and opens it.

use core::fmt;
use std::sync::Arc;

use crate::format::{self, Protection};
use crate::names;

pub(crate) mod engine;
mod maintenance;

/// Public facts about a store, read from its header. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreInfo {
    /// Format version of the header and records ([`FORMAT_VERSION`](crate::FORMAT_VERSION)).
    pub format_version: u8,
    /// How the data key is protected (and the Argon2id costs, for a passphrase).
    pub protection: Protection,
    /// The store's random identity, bound into every record's associated data.
    pub store_id: [u8; 16],
    /// Identifier of the data key that seals new records.
    pub key_id: u32,
    /// Identifiers of every data key in the header's keyring, ascending.
    pub key_ids: Vec<u32>,
    /// Namespaces and keys are encrypted before they reach the inner store.
    pub names_encrypted: bool,
    /// Values are padded to a Padmé size bucket.
    pub values_padded: bool,
    /// The header's sequence number.
    pub header_seq: u64,
    /// Every record version used so far is below this.
    pub version_limit: u64,
    /// The store is watched by a freshness anchor, and opens only with it.
    pub anchored: bool,
}

impl StoreInfo {
    pub(crate) fn of(h: &format::v2::HeaderV2) -> StoreInfo {
        let o = h.state.options;
        StoreInfo {
            format_version: format::v2::VERSION,
            protection: h.protection,
            store_id: h.store_id,
            key_id: h.state.current_key_id().unwrap_or(0),
            key_ids: h.state.key_ids.clone(),
            names_encrypted: o & format::v2::OPT_NAMES != 0,
            values_padded: o & format::v2::OPT_PADDING != 0,
            header_seq: h.state.header_seq,
            version_limit: h.state.version_limit,
            anchored: o & format::v2::OPT_ANCHORED != 0,
        }
    }
}

/// How far [`EncryptedStore::reencrypt`] has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReencryptProgress {
    /// Values listed when the pass started.
    pub total: usize,
    /// Values handled so far (read; rewritten if needed; skipped if removed meanwhile).
    pub done: usize,
    /// Values rewritten under the current key so far.
    pub rewritten: usize,
}

/// An LDK key-value store that encrypts every value it hands to an inner store.
///
/// Values are sealed with XChaCha20-Poly1305 under the store's current data key, with a fresh
/// random nonce per write and associated data that binds each value to this store, to its
/// primary namespace, secondary namespace and key, and to its record version, so that the open
/// store refuses rollback, deletion and resurrection of the values it has seen. See the crate
/// documentation and `docs/FORMAT.md`.
///
/// Works over any `S: KVStoreSync` (and `S: KVStore` for the async trait, `S:
/// MigratableKVStore` for migration, `S: PaginatedKVStore` for paginated listing with LDK 0.3)
/// of each LDK version whose feature is on (see [`ldk`](crate::ldk)). To share one inner store,
/// wrap it in [`SharedStore`].
///
/// It has every auto trait `S` has (`Send`, `Sync`, `Unpin`, `UnwindSafe`, `RefUnwindSafe`).
pub struct EncryptedStore<S> {
    pub(crate) inner: S,
    pub(crate) engine: Arc<engine::Engine>,
}

impl<S> fmt::Debug for EncryptedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.info();
        f.debug_struct("EncryptedStore")
            .field("store_id", &Hex(&info.store_id))
            .field("key_id", &info.key_id)
            .finish_non_exhaustive()
    }
}

struct Hex<'a>(&'a [u8]);
impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl<S> EncryptedStore<S> {
    /// The inner store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Gives back the inner store.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// Public facts about this store (format version, protection and KDF costs, identity).
    pub fn info(&self) -> StoreInfo {
        StoreInfo::of(&self.engine.counter().header)
    }
}

/// A shared inner store: `EncryptedStore<SharedStore<S>>` wraps an `Arc<S>` that other code
/// holds too. (LDK has no blanket `KVStoreSync` implementation for `Arc<S>`, and coherence rules
/// keep this crate from adding one; this newtype forwards every call of every enabled LDK
/// version's traits.)
#[derive(Debug)]
pub struct SharedStore<S: ?Sized>(pub Arc<S>);

impl<S: ?Sized> Clone for SharedStore<S> {
    fn clone(&self) -> Self {
        SharedStore(Arc::clone(&self.0))
    }
}

/// Leaves the reserved namespace (the header) out of a listing of every key.
pub(crate) fn without_reserved(all: &mut Vec<(String, String, String)>) {
    all.retain(|(primary, _, _)| !names::is_reserved(primary));
}

#[cfg(test)]
mod tests {
    use std::panic::{RefUnwindSafe, UnwindSafe};

    use super::{EncryptedStore, SharedStore};
    use crate::{MemoryStore, OpenOptions};

    /// Compiles only for types with every auto trait an inner store may bring.
    fn all_auto_traits<T: Send + Sync + Unpin + UnwindSafe + RefUnwindSafe>() {}

    /// Compile-time pin: for every `S` with all five auto traits, `EncryptedStore<S>` has them
    /// too (nothing inside it, the random source included, takes one away). LDK's own store
    /// test helpers take `K: KVStoreSync + RefUnwindSafe`.
    fn keeps_the_auto_traits_of<S: Send + Sync + Unpin + UnwindSafe + RefUnwindSafe>() {
        all_auto_traits::<EncryptedStore<S>>();
    }

    #[test]
    fn encrypted_store_keeps_every_auto_trait_of_its_inner_store() {
        keeps_the_auto_traits_of::<MemoryStore>();
        keeps_the_auto_traits_of::<SharedStore<MemoryStore>>();
        keeps_the_auto_traits_of::<EncryptedStore<MemoryStore>>();
        all_auto_traits::<EncryptedStore<MemoryStore>>();
        all_auto_traits::<OpenOptions>();
    }
}
