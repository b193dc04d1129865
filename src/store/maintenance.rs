//! Maintenance of an open store: its credential (change, rekey), its data keys (rotation,
//! re-encryption, retirement) and its anchor (detaching). Each is a header change made by the
//! engine (`engine/rotation.rs`, `engine/counter.rs`); here are the public methods.

use crate::error::{HeaderError, RotateError};
use crate::format::Protection;
use crate::io::{sealed, InnerStore, Io, MigratableInnerStore, SyncIo};
use crate::keys::{self, Credential, NewCredential, SealError};
use crate::store::engine;
use crate::store::{EncryptedStore, ReencryptProgress};

/// The maintenance of an open store. `M` is the LDK version marker, inferred from the traits
/// `S` implements (see [`ldk`](crate::ldk)).
impl<S> EncryptedStore<S> {
    /// Replaces the credential that protects the store (a passphrase or a raw key) by
    /// `credential`; a passphrase gets the Argon2id costs it names
    /// ([`Credential::passphrase_with`]), or the default.
    ///
    /// Rewrites only the header, in one inner write; values and data keys are untouched. If
    /// that write fails, the header is unchanged and the old credential still opens the store.
    /// After a suspected compromise use [`rekey`](Self::rekey) instead.
    pub fn change_credential<M>(&self, credential: Credential<'_>) -> Result<(), RotateError>
    where
        S: InnerStore<M>,
    {
        self.rewrap(&SyncIo::new(&self.inner), credential, false)
            .map(|_| ())
    }

    /// The one body of every credential change: a new header for the same data keys (`rekey`:
    /// and a new current data key), written in one inner write under the counter's lock (so
    /// concurrent changes land in one order). The key encryption key is derived before that
    /// lock is taken: writes take it for their versions and do not wait for Argon2id. Returns
    /// the id of the current data key.
    fn rewrap<IO: Io>(
        &self,
        io: &IO,
        cred: Credential<'_>,
        rekey: bool,
    ) -> Result<u32, RotateError> {
        let v2 = &self.engine;
        if v2.read_only {
            return Err(RotateError::ReadOnly);
        }
        let header_error = |e: SealError| RotateError::Header(e.into());
        let protection = keys::protection(cred).map_err(header_error)?;
        if let Protection::Passphrase(p) = &protection {
            if p.memory_kib() > v2.max_kdf_memory_kib {
                return Err(RotateError::Header(HeaderError::KdfParamsOutOfBounds));
            }
        }
        let block = NewCredential::derive(&*v2.rng, protection, cred).map_err(header_error)?;
        let mut c = v2.counter();
        let (state, secrets, new_id) = if rekey {
            let (state, secrets, id) = v2.rotated(&c)?;
            (state, secrets, Some(id))
        } else {
            (engine::next_state(&c)?, v2.ring().secrets.clone(), None)
        };
        let (header, hk) = block
            .seal(&*v2.rng, c.header.store_id, state, &secrets)
            .map_err(header_error)?;
        v2.replace_header(io, &mut c, header, Some(hk))
            .map_err(RotateError::Header)?;
        let current = match new_id {
            Some(id) => {
                v2.use_keyring(secrets, id);
                id
            }
            None => v2.ring().current,
        };
        drop(c);
        v2.header_written()
            .map_err(|e| RotateError::Header(HeaderError::Anchor(e)))?;
        Ok(current)
    }

    /// The recovery after a suspected compromise (docs/FORMAT.md, "Changing the passphrase or
    /// key"): a new credential **and** a new current data key, in one header write, so that no
    /// header ever opens with the new credential while the old data key still seals new
    /// writes. Returns the new key id. Follow with [`reencrypt`](Self::reencrypt) and
    /// [`retire_old_keys`](Self::retire_old_keys), then destroy old backups. Refuses with
    /// [`RotateError::KeyringFull`] at 8 keys.
    pub fn rekey<M>(&self, credential: Credential<'_>) -> Result<u32, RotateError>
    where
        S: InnerStore<M>,
    {
        self.rewrap(&SyncIo::new(&self.inner), credential, true)
    }

    /// Stops watching the store with its freshness anchor. Clears the
    /// header's `anchored` bit (one header write), so the store opens without an anchor again;
    /// the anchor's values are left to you. Rollback across restarts is no longer detected
    /// (docs/FORMAT.md, "What the format detects"). Nothing happens on a store that is not
    /// anchored.
    pub fn detach_anchor<M>(&self) -> Result<(), RotateError>
    where
        S: InnerStore<M>,
    {
        self.engine.detach(&SyncIo::new(&self.inner))
    }

    /// Adds a new random data key to the header's keyring and makes it the
    /// key that seals every new write, in one header write; older keys still open existing
    /// records. Returns the new key id. Follow with [`reencrypt`](Self::reencrypt) and
    /// [`retire_old_keys`](Self::retire_old_keys) to take the old keys out of use. Refuses with
    /// [`RotateError::KeyringFull`] at 8 keys.
    pub fn rotate_data_key<M>(&self) -> Result<u32, RotateError>
    where
        S: InnerStore<M>,
    {
        self.engine.rotate(&SyncIo::new(&self.inner))
    }

    /// Rewrites every value not sealed under the current data key (with a new
    /// version, so an old-key record put back later is refused as a rollback while the key is
    /// watched). Each value is replaced by one complete inner write and the old keys stay in
    /// the header until [`retire_old_keys`](Self::retire_old_keys), so a crash at any point
    /// loses nothing; running it again resumes (values already under the current key are only
    /// read). `progress` is called after each value.
    pub fn reencrypt<M>(
        &self,
        mut progress: impl FnMut(ReencryptProgress),
    ) -> Result<ReencryptProgress, RotateError>
    where
        S: InnerStore<M> + MigratableInnerStore<M>,
    {
        let all = sealed::ListAll::<M>::list_all_keys(&self.inner).map_err(RotateError::List)?;
        self.engine
            .reencrypt(&SyncIo::new(&self.inner), all, &mut progress)
    }

    /// After checking that every value is sealed under the current data key
    /// (else [`RotateError::NotReencrypted`], nothing written), removes every other key from the
    /// header in one header write. Records of the retired keys that linger in backups then no
    /// longer open. Assumes no other instance writes the store during the check.
    pub fn retire_old_keys<M>(&self) -> Result<(), RotateError>
    where
        S: InnerStore<M> + MigratableInnerStore<M>,
    {
        self.engine.retire(&SyncIo::new(&self.inner), &|| {
            sealed::ListAll::<M>::list_all_keys(&self.inner)
        })
    }
}

// Over the LDK 0.2 traits; the core they test is the same for every version.
#[cfg(all(test, feature = "lightning-0-2"))]
mod tests;
