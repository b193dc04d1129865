//! Accepting the current state of a store as fresh in its anchor (docs/FORMAT.md, "Accepting
//! the current state"): with the inner store's own complete listing, or with the caller's.

use std::sync::Arc;

use crate::error::OpenError;
use crate::io::{complete, read_header, sealed, InnerStore, Io, MigratableInnerStore, SyncIo};
use crate::keys::Credential;
use crate::store::engine::{self, Engine};
use crate::store::EncryptedStore;

use super::OpenOptions;

impl OpenOptions {
    /// Accepts the store's current state as fresh in the anchor given with
    /// [`anchor`](Self::anchor), and returns the store open and anchored (docs/FORMAT.md,
    /// "Accepting the current state"). The explicit way on when the anchor was lost (a new
    /// device, a restore from seed, a store restored from a backup on purpose: `open` then
    /// fails with [`OpenError::AnchorEmpty`] or [`OpenError::HeaderRolledBack`]), and the way
    /// to attach an anchor to a store that has none.
    ///
    /// Every value is listed and read first: each must authenticate, or nothing is changed in
    /// the anchor. Then one entry per value is written under a new epoch, the header is marked
    /// anchored if it was not (one header write), and the anchor's `meta` is written last (the
    /// commit point: a crash before it leaves the anchor as it was; run it again). Whatever
    /// the store holds now is trusted from here on: run it only when you know the store is the
    /// one you mean to keep, with the node stopped.
    pub fn accept_current_state<M, S: InnerStore<M> + MigratableInnerStore<M>>(
        &self,
        inner: S,
        credential: Credential<'_>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let all = sealed::ListAll::<M>::list_all_keys(&inner).map_err(OpenError::Io)?;
        let engine = self.accept(&SyncIo::new(&inner), credential, all)?;
        Ok(EncryptedStore { inner, engine })
    }

    /// [`accept_current_state`](Self::accept_current_state) for an inner store that cannot list
    /// all its keys itself (no `MigratableKVStore`, such as ldk-node 0.7's `SqliteStore`):
    /// `stored` is every key the store holds, as stored (the names the inner store uses:
    /// ciphertext when names are encrypted), found by the caller (the CLI lists an SQLite
    /// table itself). **It must be complete**: a key left out is absent from then on (`read`
    /// answers `NotFound`, `list` leaves it out), so LDK misses it loudly rather than loading it
    /// stale.
    pub fn accept_current_state_listed<M, S: InnerStore<M>>(
        &self,
        inner: S,
        credential: Credential<'_>,
        stored: Vec<(String, String, String)>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let engine = self.accept(&SyncIo::new(&inner), credential, stored)?;
        Ok(EncryptedStore { inner, engine })
    }

    /// "Accepting the current state" over the stored names `stored` (every key of the store).
    fn accept<IO: Io>(
        &self,
        io: &IO,
        cred: Credential<'_>,
        stored: Vec<(String, String, String)>,
    ) -> Result<Arc<Engine>, OpenError> {
        if self.anchor.is_none() {
            return Err(OpenError::AnchorRequired);
        }
        if self.read_only {
            return Err(engine::read_only_error());
        }
        let bytes = complete(read_header(io))?.ok_or(OpenError::NotInitialized)?;
        let (header, hk, secrets) = self.unlock_v2_header(&bytes, cred)?;
        let a = self.anchor.clone().ok_or(OpenError::AnchorRequired)?;
        Engine::accept(
            io,
            &bytes,
            (header, hk, secrets),
            a,
            Arc::clone(&self.rng),
            stored,
            self.max_kdf_memory_kib,
        )
    }
}
