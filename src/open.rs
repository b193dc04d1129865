//! Creating, opening and accepting a store: [`OpenOptions`] and the header's life cycle up to
//! an open store (create, open, accepting the current state, inspect), with the anchor loaded
//! and checked at open. Written once over the header I/O of `io.rs` ([`Io`]) so that the
//! synchronous and asynchronous constructors of every supported LDK version share one body.
//!
//! A synchronous inner store is driven through the same `async` body: its calls return futures
//! that are ready at once, so the body completes in a single poll ([`complete`]), and a body
//! that did not would be an error, never a wait.

use core::fmt;
use core::future::Future;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::anchor::{self, AnchorKey, AnchorState, FreshnessAnchor, Loaded, Meta};
use crate::error::OpenError;
use crate::format::v2::{self as f2, HeaderV2, Secrets, State, ANCHOR_KEY_LEN};
use crate::format::{self, Protection, DATA_KEY_LEN, NONCE_LEN, STORE_ID_LEN};
use crate::io::{
    complete, read_header, sealed, write_header, AsyncInnerStore, AsyncIo, InnerStore, Io,
    MigratableInnerStore, SyncIo,
};
use crate::kdf::KdfParams;
use crate::keys::{self, Credential};
use crate::rng::{self, RandomSource, SharedRandom};
use crate::store::engine::{self, Engine};
use crate::store::{EncryptedStore, StoreInfo};

mod accept;

/// Options for creating and opening stores: the options of a new store (encrypted names,
/// padding), a freshness anchor, a read-only open, a lower Argon2id memory ceiling.
/// [`EncryptedStore::create`] and friends use the defaults.
///
/// Every constructor takes a version marker `M` ([`ldk::V0_2`](crate::ldk::V0_2),
/// [`ldk::V0_3`](crate::ldk::V0_3)) that the compiler infers from the LDK traits the inner
/// store implements; see [`ldk`](crate::ldk) for a store that implements both.
#[derive(Clone)]
pub struct OpenOptions {
    rng: SharedRandom,
    max_kdf_memory_kib: u32,
    encrypt_names: bool,
    pad_values: bool,
    read_only: bool,
    anchor: Option<Arc<dyn FreshnessAnchor>>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            rng: rng::os(),
            max_kdf_memory_kib: KdfParams::CEILING_MEMORY_KIB,
            encrypt_names: false,
            pad_values: false,
            read_only: false,
            anchor: None,
        }
    }
}

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("OpenOptions");
        d.field("max_kdf_memory_kib", &self.max_kdf_memory_kib);
        // The options appear only when set: the default shows the memory ceiling alone.
        for (name, on) in [
            ("encrypt_names", self.encrypt_names),
            ("pad_values", self.pad_values),
            ("read_only", self.read_only),
            ("anchor", self.anchor.is_some()),
        ] {
            if on {
                d.field(name, &on);
            }
        }
        d.finish_non_exhaustive()
    }
}

fn fill<const N: usize>(rng: &dyn RandomSource) -> Result<[u8; N], OpenError> {
    let mut b = [0u8; N];
    rng.fill(&mut b).map_err(OpenError::Random)?;
    Ok(b)
}

impl OpenOptions {
    /// Default options: randomness from the operating system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the random source (salts, store identity, data key, nonces).
    ///
    /// **For tests only**: a predictable source makes every value written with it readable by
    /// anyone who can predict it, and a repeating one reuses nonces.
    pub fn random_source_for_tests_only(mut self, rng: Arc<dyn RandomSource>) -> Self {
        self.rng = rng;
        self
    }

    /// Lowers the most Argon2id memory (in KiB) that a header may ask for, below the
    /// library-wide ceiling of [`KdfParams::CEILING_MEMORY_KIB`] (1 GiB), which stays in force
    /// whatever is given here.
    ///
    /// A header asking for more is refused with [`OpenError::KdfParamsOutOfBounds`] before
    /// anything is allocated, and so are new costs above it: `create` through these options,
    /// and a credential change or rekey of a store they opened
    /// ([`HeaderError::KdfParamsOutOfBounds`](crate::HeaderError::KdfParamsOutOfBounds)).
    /// Use it where memory is short (a phone, a small VPS): without it, anyone who can write
    /// the inner store can make `open` allocate up to 1 GiB, which there is an out-of-memory
    /// kill rather than an error.
    /// [`KdfParams::default`] needs 65,536 KiB.
    pub fn max_kdf_memory_kib(mut self, kib: u32) -> Self {
        self.max_kdf_memory_kib = kib.min(KdfParams::CEILING_MEMORY_KIB);
        self
    }

    /// `create` makes a store whose namespaces and keys are encrypted (AES-256-SIV, base64url)
    /// before they reach the inner store; `list` decodes them. Names of up to 74 bytes fit
    /// (LDK's and ldk-node's all do); longer ones are refused with
    /// [`InvalidName::TooLongToEncrypt`](crate::InvalidName::TooLongToEncrypt). Recorded in the
    /// header for the life of the store.
    ///
    /// An open store remembers up to 16,384 keys it decoded (a few MiB at most), so listing
    /// the same namespace again costs a lookup per key instead of a decryption.
    pub fn encrypt_names(mut self) -> Self {
        self.encrypt_names = true;
        self
    }

    /// `create` makes a store that pads every value (Padmé: at most 12 % more, usually far
    /// less) so that stored sizes reveal only a size bucket. Recorded in the header for the
    /// life of the store.
    pub fn pad_values(mut self) -> Self {
        self.pad_values = true;
        self
    }

    /// `open` a store without ever writing to it (no header write, writes and removes
    /// refused with `PermissionDenied`), for a tool that inspects a store while its node runs.
    /// A read-only instance raises no false alarm when the writer removes a key it read.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Watches the store with a freshness anchor (docs/FORMAT.md, "The freshness anchor"): the
    /// watermarks are persisted there, so rollback, deletion and resurrection are also refused
    /// across restarts, including a whole store put back from an older copy.
    ///
    /// `create` makes an anchored store. `open` of an anchored store needs its anchor
    /// ([`OpenError::AnchorRequired`] without it); [`accept_current_state`](Self::accept_current_state)
    /// attaches an anchor to an existing store, or starts over after the anchor was lost.
    /// The anchor must be kept where whoever can roll back the inner store cannot roll it
    /// back too (for example [`StoreAnchor`](crate::StoreAnchor) over a local
    /// `FilesystemStore` when the data is in a cloud store).
    pub fn anchor(mut self, anchor: impl FreshnessAnchor + 'static) -> Self {
        self.anchor = Some(Arc::new(anchor));
        self
    }

    /// Refuses Argon2id costs above this instance's memory ceiling.
    fn check_memory(&self, protection: &Protection) -> Result<(), OpenError> {
        match protection {
            Protection::Passphrase(p) if p.memory_kib() > self.max_kdf_memory_kib => {
                Err(OpenError::KdfParamsOutOfBounds)
            }
            _ => Ok(()),
        }
    }

    /// A header with a new credential block for `cred` over `state` and `secrets`, within
    /// this instance's memory ceiling.
    pub(crate) fn seal_v2(
        &self,
        store_id: [u8; STORE_ID_LEN],
        cred: Credential<'_>,
        state: State,
        secrets: &Secrets,
    ) -> Result<(HeaderV2, Zeroizing<[u8; 32]>), OpenError> {
        let protection = keys::protection(cred)?;
        self.check_memory(&protection)?;
        let block = keys::NewCredential::derive(&*self.rng, protection, cred)?;
        Ok(block.seal(&*self.rng, store_id, state, secrets)?)
    }

    /// A new store: header (versions 1 to 2^32 reserved in it) and state.
    fn new_v2(&self, cred: Credential<'_>) -> Result<(Vec<u8>, Arc<Engine>), OpenError> {
        let store_id = fill::<STORE_ID_LEN>(&*self.rng)?;
        let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        self.rng
            .fill(&mut data_key[..])
            .map_err(OpenError::Random)?;
        let mut anchor_key = Zeroizing::new([0u8; ANCHOR_KEY_LEN]);
        self.rng
            .fill(&mut anchor_key[..])
            .map_err(OpenError::Random)?;
        let name_key = if self.encrypt_names {
            let mut k = Zeroizing::new([0u8; f2::NAME_KEY_LEN]);
            self.rng.fill(&mut k[..]).map_err(OpenError::Random)?;
            Some(k)
        } else {
            None
        };
        let mut options = 0;
        if self.encrypt_names {
            options |= f2::OPT_NAMES;
        }
        if self.pad_values {
            options |= f2::OPT_PADDING;
        }
        if self.anchor.is_some() {
            options |= f2::OPT_ANCHORED;
        }
        let limit = 1 + engine::BLOCK;
        let state = State {
            options,
            header_seq: 1,
            version_limit: limit,
            key_ids: vec![0],
        };
        let secrets = Secrets {
            data_keys: vec![data_key],
            anchor_key,
            name_key,
        };
        let (header, hk) = self.seal_v2(store_id, cred, state, &secrets)?;
        let bytes = header.to_bytes();
        let mut v2 = Engine::new(header, hk, secrets, Arc::clone(&self.rng), false, 1, limit)?;
        v2.max_kdf_memory_kib = self.max_kdf_memory_kib;
        if let Some(a) = &self.anchor {
            let meta = Meta {
                epoch: u64::from_le_bytes(fill::<8>(&*self.rng)?),
                header_seq: 1,
                version_limit: limit,
                accept_mark: 1,
            };
            // The anchor's meta first: a crash before the header write leaves no store (and a
            // meta nobody reads), never an anchored store its anchor knows nothing of.
            let sealed = v2
                .anchor_key()
                .seal_meta(&meta)
                .map_err(OpenError::AnchorIo)?;
            a.write(
                &anchor::store_hex(&store_id),
                AnchorState::meta_name(),
                &sealed,
            )
            .map_err(OpenError::AnchorIo)?;
            v2.attach_anchor(Arc::clone(a), meta, Vec::new());
        }
        Ok((bytes, Arc::new(v2)))
    }

    /// Unlocks header bytes (reading steps 1 to 12): the header, its key hk and its secrets.
    fn unlock_v2_header(
        &self,
        bytes: &[u8],
        cred: Credential<'_>,
    ) -> Result<(HeaderV2, Zeroizing<[u8; 32]>, Secrets), OpenError> {
        let header = HeaderV2::parse(bytes).map_err(parse_error)?;
        self.check_memory(&header.protection)?;
        let kek = keys::derive_kek(&header.protection, &header.salt, cred)?;
        let hk = header.unwrap_hk(&kek).ok_or(if cred.is_passphrase() {
            OpenError::WrongPassphrase
        } else {
            OpenError::WrongKey
        })?;
        let secrets = header
            .open_secrets(&hk)
            .ok_or(OpenError::HeaderAuthenticationFailed)?;
        Ok((header, hk, secrets))
    }

    /// "Opening with an anchor": checks the anchor against the header and loads it (`None`
    /// when the store is not anchored). Refuses an anchored store without its anchor, and an
    /// anchor for a store that is not anchored.
    fn load_anchor(
        &self,
        header: &HeaderV2,
        secrets: &Secrets,
    ) -> Result<Option<Loaded>, OpenError> {
        let anchored = header.state.options & f2::OPT_ANCHORED != 0;
        let ns = anchor::store_hex(&header.store_id);
        let seq = header.state.header_seq;
        let key = AnchorKey::new(&secrets.anchor_key, header.store_id, Arc::clone(&self.rng));
        let rolled_back = |m: &Meta| OpenError::HeaderRolledBack {
            header_seq: seq,
            anchor_header_seq: m.header_seq,
        };
        match (&self.anchor, anchored) {
            (None, false) => Ok(None),
            (None, true) => Err(OpenError::AnchorRequired),
            (Some(a), false) => match anchor::read_meta(&**a, &ns, &key)? {
                // An older header from before the anchor was attached was put back.
                Some(m) if m.header_seq > seq => Err(rolled_back(&m)),
                _ => Err(OpenError::AnchorNotAttached),
            },
            (Some(a), true) => {
                let meta = anchor::read_meta(&**a, &ns, &key)?.ok_or(OpenError::AnchorEmpty)?;
                if meta.header_seq > seq {
                    return Err(rolled_back(&meta));
                }
                let entries = anchor::load(&**a, &ns, &key, &meta)?;
                Ok(Some((meta, entries)))
            }
        }
    }

    /// Unlocks header bytes (reading steps 1 to 13) and loads the anchor. A writable
    /// instance then reserves its block of versions in one header write (and records the new
    /// header in the anchor's `meta`); a read-only one writes nothing.
    async fn unlock_v2<IO: Io>(
        &self,
        io: &IO,
        bytes: &[u8],
        cred: Credential<'_>,
    ) -> Result<Arc<Engine>, OpenError> {
        let (header, hk, secrets) = self.unlock_v2_header(bytes, cred)?;
        self.finish_v2(io, header, hk, secrets).await
    }

    async fn finish_v2<IO: Io>(
        &self,
        io: &IO,
        header: HeaderV2,
        hk: Zeroizing<[u8; 32]>,
        secrets: Secrets,
    ) -> Result<Arc<Engine>, OpenError> {
        let loaded = self.load_anchor(&header, &secrets)?;
        let rng = Arc::clone(&self.rng);
        let start = header
            .state
            .version_limit
            .max(loaded.as_ref().map_or(0, |(m, _)| m.version_limit));
        let (loaded_meta, entries) = match loaded {
            Some((m, e)) => (Some(m), e),
            None => (None, Vec::new()),
        };
        let attach = |mut v2: Engine, meta: Option<Meta>| -> Result<Arc<Engine>, OpenError> {
            v2.max_kdf_memory_kib = self.max_kdf_memory_kib;
            if let (Some(a), Some(meta)) = (&self.anchor, meta) {
                v2.attach_anchor(Arc::clone(a), meta, entries);
            }
            Ok(Arc::new(v2))
        };
        if self.read_only {
            return attach(
                Engine::new(header, hk, secrets, rng, true, start, start)?,
                loaded_meta,
            );
        }
        let limit = start
            .checked_add(engine::BLOCK)
            .ok_or(OpenError::CounterExhausted)?;
        let nonce = fill::<NONCE_LEN>(&*rng)?;
        let reserved = header
            .with_state(
                &hk,
                engine::header_state(&header, limit).ok_or(OpenError::CounterExhausted)?,
                nonce,
                &secrets,
            )
            .map_err(|_| OpenError::KeyWrapFailed)?;
        write_header(io, reserved.to_bytes()).await?;
        let meta = loaded_meta.map(|m| Meta {
            header_seq: reserved.state.header_seq,
            version_limit: limit,
            ..m
        });
        let v2 = attach(
            Engine::new(reserved, hk, secrets, rng, false, start, limit)?,
            meta,
        )?;
        v2.header_written().map_err(OpenError::AnchorIo)?;
        Ok(v2)
    }

    /// The one body of every `create*`: refuse a header or existing data (`refuse_data`, a
    /// future that does nothing until awaited here), then write a new header (the only write).
    async fn do_create<IO: Io>(
        &self,
        io: &IO,
        cred: Credential<'_>,
        refuse_data: impl Future<Output = Result<(), OpenError>>,
    ) -> Result<Arc<Engine>, OpenError> {
        if read_header(io).await?.is_some() {
            return Err(OpenError::AlreadyInitialized);
        }
        refuse_data.await?;
        let (bytes, v2) = self.new_v2(cred)?;
        write_header(io, bytes).await?;
        Ok(v2)
    }

    /// The one body of every `open*`: read the header and unlock it. Never writes.
    async fn do_open<IO: Io>(
        &self,
        io: &IO,
        cred: Credential<'_>,
    ) -> Result<Arc<Engine>, OpenError> {
        let bytes = read_header(io).await?.ok_or(OpenError::NotInitialized)?;
        self.unlock_v2(io, &bytes, cred).await
    }

    /// See [`EncryptedStore::create`].
    pub fn create<M, S: InnerStore<M>>(
        &self,
        inner: S,
        credential: Credential<'_>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let io = SyncIo::new(&inner);
        let engine = complete(self.do_create(&io, credential, refuse_existing_data(&io)))?;
        Ok(EncryptedStore { inner, engine })
    }

    /// See [`EncryptedStore::create_in_empty`].
    pub fn create_in_empty<M, S: InnerStore<M> + MigratableInnerStore<M>>(
        &self,
        inner: S,
        credential: Credential<'_>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let refuse = refuse_any_data::<M, S>(&inner);
        let engine = complete(self.do_create(&SyncIo::new(&inner), credential, refuse))?;
        Ok(EncryptedStore { inner, engine })
    }

    /// See [`EncryptedStore::open`].
    pub fn open<M, S: InnerStore<M>>(
        &self,
        inner: S,
        credential: Credential<'_>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let engine = complete(self.do_open(&SyncIo::new(&inner), credential))?;
        Ok(EncryptedStore { inner, engine })
    }

    /// [`create`](Self::create) over an asynchronous-only inner store. The Argon2id derivation
    /// (for a passphrase) runs on the polling thread.
    pub async fn create_async<M, S: AsyncInnerStore<M>>(
        &self,
        inner: S,
        credential: Credential<'_>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let io = AsyncIo::new(&inner);
        let engine = self
            .do_create(&io, credential, refuse_existing_data(&io))
            .await?;
        Ok(EncryptedStore { inner, engine })
    }

    /// [`open`](Self::open) over an asynchronous-only inner store. The Argon2id derivation (for
    /// a passphrase) runs on the polling thread.
    pub async fn open_async<M, S: AsyncInnerStore<M>>(
        &self,
        inner: S,
        credential: Credential<'_>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let engine = self.do_open(&AsyncIo::new(&inner), credential).await?;
        Ok(EncryptedStore { inner, engine })
    }
}

/// The namespace pairs where LDK and ldk-node keep values, which `create` lists to refuse a store
/// that already holds data. (`KVStoreSync` cannot enumerate namespaces; for stores that can,
/// `create_in_empty` refuses any value at all.) LDK's are the same in every supported LDK
/// version; each adapter's tests pin them to that version's constants.
pub(crate) const WELL_KNOWN_NAMESPACES: [(&str, &str); 14] = [
    // LDK: channel manager, network graph, scorer, output sweeper (top level); monitors.
    ("", ""),
    ("monitors", ""),
    ("monitor_updates", ""),
    ("archived_monitors", ""),
    // lightning-liquidity.
    ("lightning_liquidity_state", ""),
    // ldk-node 0.7 and its main branch (events, peers and node metrics are top-level keys,
    // listed above).
    ("bdk_wallet", ""),
    ("payments", ""),
    ("pending_payments", ""),
    ("forwarded_payments", "details"),
    ("forwarded_payments", "replay_markers"),
    ("forwarded_payments", "channel_stats"),
    ("forwarded_payments", "channel_pair_stats"),
    ("lsps2_leases", ""),
    ("static_invoices", ""),
];

fn parse_error(e: format::HeaderParseError) -> OpenError {
    match e {
        format::HeaderParseError::Corrupt(reason) => OpenError::CorruptHeader { reason },
        format::HeaderParseError::UnsupportedVersion(version) => {
            OpenError::UnsupportedVersion { version }
        }
        format::HeaderParseError::KdfOutOfBounds => OpenError::KdfParamsOutOfBounds,
    }
}

async fn refuse_existing_data<IO: Io>(inner: &IO) -> Result<(), OpenError> {
    for (primary, secondary) in WELL_KNOWN_NAMESPACES {
        if !inner
            .list(primary, secondary)
            .await
            .map_err(OpenError::Io)?
            .is_empty()
        {
            return Err(OpenError::ExistingData {
                primary_namespace: primary.to_owned(),
            });
        }
    }
    Ok(())
}

/// Refuses any value at all, in any namespace, found through `list_all_keys`.
async fn refuse_any_data<M, S: MigratableInnerStore<M> + ?Sized>(
    inner: &S,
) -> Result<(), OpenError> {
    match sealed::ListAll::<M>::list_all_keys(inner)
        .map_err(OpenError::Io)?
        .first()
    {
        Some((primary, _, _)) => Err(OpenError::ExistingData {
            primary_namespace: primary.clone(),
        }),
        None => Ok(()),
    }
}

/// The constructors. `M` is the LDK version marker, inferred from the traits `S` implements
/// (see [`ldk`](crate::ldk)).
impl<S> EncryptedStore<S> {
    /// Initialises a new encrypted store in `inner` protected by `credential` (a passphrase,
    /// stretched with Argon2id at the costs it names or the default, or a raw key) and writes
    /// its header: one inner write.
    ///
    /// Refuses with [`OpenError::AlreadyInitialized`] where a header exists, and with
    /// [`OpenError::ExistingData`] where the inner store holds values in any namespace where
    /// LDK or ldk-node keep them: the top level, the monitor namespaces, lightning-liquidity's,
    /// and ldk-node's (`bdk_wallet`, `payments`, `pending_payments`, `forwarded_payments/*`,
    /// `lsps2_leases`, `static_invoices`). It never starts an empty store on top of that data.
    /// `KVStoreSync` cannot enumerate other namespaces: where the inner store can (LDK's
    /// migration trait), [`create_in_empty`](Self::create_in_empty) refuses any value at all.
    /// An empty passphrase is refused ([`OpenError::EmptyPassphrase`]).
    pub fn create<M>(inner: S, credential: Credential<'_>) -> Result<Self, OpenError>
    where
        S: InnerStore<M>,
    {
        OpenOptions::new().create(inner, credential)
    }

    /// Like [`create`](Self::create), but lists every key of the inner store (LDK's
    /// `MigratableKVStore::list_all_keys`, `MigratableKVStoreSync` in 0.3) and refuses with
    /// [`OpenError::ExistingData`] if there is any value at all, in any namespace.
    pub fn create_in_empty<M>(inner: S, credential: Credential<'_>) -> Result<Self, OpenError>
    where
        S: InnerStore<M> + MigratableInnerStore<M>,
    {
        OpenOptions::new().create_in_empty(inner, credential)
    }

    /// Opens an existing encrypted store with the credential that protects it
    /// ([`OpenError::WrongPassphrase`] or [`OpenError::WrongKey`] otherwise; the Argon2id costs
    /// are the header's). Never writes a new store: where there is no header it fails with
    /// [`OpenError::NotInitialized`].
    pub fn open<M>(inner: S, credential: Credential<'_>) -> Result<Self, OpenError>
    where
        S: InnerStore<M>,
    {
        OpenOptions::new().open(inner, credential)
    }

    /// Reads the public facts of the header of the encrypted store in `inner`, without
    /// unlocking it (no passphrase needed, nothing derived).
    pub fn inspect<M>(inner: &S) -> Result<StoreInfo, OpenError>
    where
        S: InnerStore<M>,
    {
        let bytes = complete(read_header(&SyncIo::new(inner)))?.ok_or(OpenError::NotInitialized)?;
        let h = HeaderV2::parse(&bytes).map_err(parse_error)?;
        Ok(StoreInfo::of(&h))
    }
}

#[cfg(test)]
mod tests;
