//! Maintenance of an open store: its credential (change, rekey), its data keys (rotation,
//! re-encryption, retirement) and its anchor (detaching). Each is a header change made by the
//! engine (`engine/rotation.rs`, `engine/counter.rs`); here are the public methods.

use bitcoin::io;

use crate::error::{OpenError, RotateError};
use crate::io::{sealed, InnerStore, Io, MigratableInnerStore, SyncIo};
use crate::kdf::KdfParams;
use crate::keys::RawKey;
use crate::keys::{self, Credential};
use crate::store::engine;
use crate::store::{EncryptedStore, ReencryptProgress};

/// The maintenance of an open store. `M` is the LDK version marker, inferred from the traits
/// `S` implements (see [`ldk`](crate::ldk)).
impl<S> EncryptedStore<S> {
    /// Replaces the passphrase (or raw key) that protects the store by a new passphrase.
    ///
    /// Rewrites only the header, in one inner write; values are untouched. If that write fails,
    /// the header is unchanged and the old credential still opens the store.
    pub fn change_passphrase<M>(
        &self,
        new_passphrase: &[u8],
        params: KdfParams,
    ) -> Result<(), OpenError>
    where
        S: InnerStore<M>,
    {
        self.rewrap(
            &SyncIo::new(&self.inner),
            Credential::Passphrase(new_passphrase),
            Some(params),
            false,
        )
        .map(|_| ())
        .map_err(rotate_to_open)
    }

    /// Replaces the passphrase (or raw key) that protects the store by a raw key. One inner
    /// write, as for [`change_passphrase`](Self::change_passphrase).
    pub fn change_key<M>(&self, new_key: &RawKey) -> Result<(), OpenError>
    where
        S: InnerStore<M>,
    {
        self.rewrap(
            &SyncIo::new(&self.inner),
            Credential::Key(new_key),
            None,
            false,
        )
        .map(|_| ())
        .map_err(rotate_to_open)
    }

    /// The one body of every credential change: a new header for the same data keys (`rekey`:
    /// and a new current data key), written in one inner write under the counter's lock (so
    /// concurrent changes land in one order). Returns the id of the current data key.
    fn rewrap<IO: Io>(
        &self,
        io: &IO,
        cred: Credential<'_>,
        params: Option<KdfParams>,
        rekey: bool,
    ) -> Result<u32, RotateError> {
        let v2 = &self.engine;
        if v2.read_only {
            return Err(RotateError::ReadOnly);
        }
        let mut c = v2.counter();
        let limit = c.header.state.version_limit;
        let (state, secrets, new_id) = if rekey {
            let (state, secrets, id) = v2.rotated(&c)?;
            (state, secrets, Some(id))
        } else {
            let state = engine::header_state(&c.header, limit).map_err(RotateError::Header)?;
            (state, v2.ring().secrets.clone(), None)
        };
        let protection = keys::protection(cred, params).map_err(RotateError::Header)?;
        let (header, hk) = keys::seal_credential(
            &*v2.rng,
            c.header.store_id,
            protection,
            cred,
            state,
            &secrets,
        )
        .map_err(RotateError::Header)?;
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
            .map_err(|e| RotateError::Header(OpenError::AnchorIo(e)))?;
        Ok(current)
    }

    /// The recovery after a suspected compromise (docs/FORMAT.md, "Changing the passphrase or
    /// key"): a new passphrase **and** a new current data key, in one header write, so that no
    /// header ever opens with the new passphrase while the old data key still seals new
    /// writes. Returns the new key id. Follow with [`reencrypt`](Self::reencrypt) and
    /// [`retire_old_keys`](Self::retire_old_keys), then destroy old backups.
    pub fn rekey_passphrase<M>(
        &self,
        new_passphrase: &[u8],
        params: KdfParams,
    ) -> Result<u32, RotateError>
    where
        S: InnerStore<M>,
    {
        self.rewrap(
            &SyncIo::new(&self.inner),
            Credential::Passphrase(new_passphrase),
            Some(params),
            true,
        )
    }

    /// [`rekey_passphrase`](Self::rekey_passphrase) to a raw key.
    pub fn rekey_key<M>(&self, new_key: &RawKey) -> Result<u32, RotateError>
    where
        S: InnerStore<M>,
    {
        self.rewrap(
            &SyncIo::new(&self.inner),
            Credential::Key(new_key),
            None,
            true,
        )
    }

    /// Stops watching the store with its freshness anchor. Clears the
    /// header's `anchored` bit (one header write), so the store opens without an anchor again;
    /// the anchor's values are left to you. Rollback across restarts is no longer detected
    /// (docs/FORMAT.md, "What the format detects"). Nothing happens on a store that is not
    /// anchored.
    pub fn detach_anchor<M>(&self) -> Result<(), OpenError>
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

/// A credential change fails only with header errors.
fn rotate_to_open(e: RotateError) -> OpenError {
    match e {
        RotateError::Header(e) => e,
        RotateError::ReadOnly => engine::read_only_error(),
        other => OpenError::Io(io::Error::new(io::ErrorKind::Other, other)),
    }
}
