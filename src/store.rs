//! `EncryptedStore`: the wrapper itself, and its `KVStoreSync`, `KVStore` and
//! `MigratableKVStore` implementations.

use core::fmt;
use std::sync::{Arc, Mutex};

use lightning::io;
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{
    KVStore, KVStoreSync, MigratableKVStore,
    ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
};
use zeroize::Zeroizing;

use crate::aead::Cipher;
use crate::error::{OpenError, ReadError, WriteError};
use crate::format::{
    self, Header, Protection, RecordAd, DATA_KEY_LEN, NONCE_LEN, SALT_LEN, STORE_ID_LEN,
};
use crate::kdf::{self, DeriveError, KdfParams};
use crate::keys::RawKey;
use crate::names::{self, HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE};
use crate::rng::{self, RandomSource, SharedRandom};

/// What unlocks a store.
#[derive(Clone, Copy)]
enum Credential<'a> {
    Passphrase(&'a [u8]),
    Key(&'a RawKey),
}

/// Public facts about a store, read from its header. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreInfo {
    /// Format version of the header and records.
    pub format_version: u8,
    /// How the data key is protected (and the Argon2id costs, for a passphrase).
    pub protection: Protection,
    /// The store's random identity, bound into every record's associated data.
    pub store_id: [u8; 16],
    /// Identifier of the data key that seals records.
    pub key_id: u32,
}

impl StoreInfo {
    fn of(h: &Header) -> StoreInfo {
        StoreInfo {
            format_version: format::FORMAT_VERSION,
            protection: h.protection,
            store_id: h.store_id,
            key_id: h.key_id,
        }
    }
}

/// The keys and identity of an open store, shared by the store and its in-flight futures.
struct Keys {
    cipher: Cipher,
    data_key: Zeroizing<[u8; DATA_KEY_LEN]>,
    store_id: [u8; STORE_ID_LEN],
    key_id: u32,
    rng: SharedRandom,
    /// The current header. Locked only to change the passphrase or read `info`; never on the
    /// read/write path.
    header: Mutex<Header>,
}

impl Keys {
    fn ad(&self, primary: &str, secondary: &str, key: &str) -> Option<RecordAd> {
        RecordAd::new(&self.store_id, self.key_id, primary, secondary, key)
    }

    fn seal(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<Vec<u8>, WriteError> {
        names::check_key(primary, secondary, key).map_err(WriteError::InvalidName)?;
        // Names were checked just above, so their AD always fits; if it ever did not, that is
        // an error, never a record under a shorter associated data.
        let ad = self
            .ad(primary, secondary, key)
            .ok_or(WriteError::EncryptionFailed)?;
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(WriteError::Random)?;
        format::seal_record(&self.cipher, self.key_id, &nonce, &ad, buf).map_err(|e| match e {
            format::SealError::TooLarge => WriteError::ValueTooLarge,
            format::SealError::Failed => WriteError::EncryptionFailed,
        })
    }

    fn open(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        rec: Vec<u8>,
    ) -> Result<Vec<u8>, ReadError> {
        let failed = || ReadError::AuthenticationFailed {
            primary_namespace: primary.to_owned(),
            secondary_namespace: secondary.to_owned(),
            key: key.to_owned(),
        };
        let ad = self.ad(primary, secondary, key).ok_or_else(failed)?;
        format::open_record(&self.cipher, self.key_id, &ad, rec).map_err(|_| failed())
    }
}

/// Options for creating and opening stores. [`EncryptedStore::create`] and friends use the
/// defaults; this type exists to replace the random source in tests.
#[derive(Clone)]
pub struct OpenOptions {
    rng: SharedRandom,
    max_kdf_memory_kib: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            rng: rng::os(),
            max_kdf_memory_kib: KdfParams::CEILING_MEMORY_KIB,
        }
    }
}

impl fmt::Debug for OpenOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenOptions")
            .field("max_kdf_memory_kib", &self.max_kdf_memory_kib)
            .finish_non_exhaustive()
    }
}

fn fill<const N: usize>(rng: &dyn RandomSource) -> Result<[u8; N], OpenError> {
    let mut b = [0u8; N];
    rng.fill(&mut b).map_err(OpenError::Random)?;
    Ok(b)
}

fn derive_kek(
    protection: &Protection,
    salt: &[u8; SALT_LEN],
    cred: Credential<'_>,
) -> Result<Zeroizing<[u8; 32]>, OpenError> {
    match (protection, cred) {
        (Protection::Passphrase(params), Credential::Passphrase(p)) => {
            kdf::argon2id(params, p, &format::passphrase_salt(salt)).map_err(|e| match e {
                DeriveError::OutOfMemory => OpenError::OutOfMemory,
                DeriveError::Argon2 => OpenError::KdfParamsOutOfBounds,
            })
        }
        (Protection::RawKey, Credential::Key(k)) => {
            format::raw_kek(k.bytes(), salt).map_err(|_| OpenError::KeyWrapFailed)
        }
        (Protection::Passphrase(_), Credential::Key(_)) => Err(OpenError::PassphraseRequired),
        (Protection::RawKey, Credential::Passphrase(_)) => Err(OpenError::RawKeyRequired),
    }
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
    /// anything is allocated, and so are new parameters above it (`create`,
    /// `change_passphrase` through these options). Use it where memory is short (a phone, a
    /// small VPS): without it, anyone who can write the inner store can make `open` allocate
    /// up to 1 GiB, which there is an out-of-memory kill rather than an error.
    /// [`KdfParams::default`] needs 65,536 KiB.
    pub fn max_kdf_memory_kib(mut self, kib: u32) -> Self {
        self.max_kdf_memory_kib = kib.min(KdfParams::CEILING_MEMORY_KIB);
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

    /// Wraps `data_key` into a fresh header for `cred` (new salt and wrap nonce).
    fn wrap(
        &self,
        store_id: [u8; STORE_ID_LEN],
        key_id: u32,
        data_key: &[u8; DATA_KEY_LEN],
        cred: Credential<'_>,
        params: Option<KdfParams>,
    ) -> Result<Header, OpenError> {
        let protection = match (cred, params) {
            (Credential::Passphrase(p), Some(params)) => {
                if p.is_empty() {
                    return Err(OpenError::EmptyPassphrase);
                }
                Protection::Passphrase(params)
            }
            (Credential::Passphrase(_), None) => Protection::Passphrase(KdfParams::default()),
            (Credential::Key(_), _) => Protection::RawKey,
        };
        self.check_memory(&protection)?;
        let salt = fill::<SALT_LEN>(&*self.rng)?;
        let wrap_nonce = fill::<NONCE_LEN>(&*self.rng)?;
        let kek = derive_kek(&protection, &salt, cred)?;
        Header::seal(
            protection, salt, store_id, key_id, wrap_nonce, &kek, data_key,
        )
        .map_err(|_| OpenError::KeyWrapFailed)
    }

    /// A new header and data key.
    fn new_header(
        &self,
        cred: Credential<'_>,
        params: Option<KdfParams>,
    ) -> Result<(Header, Zeroizing<[u8; DATA_KEY_LEN]>), OpenError> {
        let store_id = fill::<STORE_ID_LEN>(&*self.rng)?;
        let mut data_key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        self.rng
            .fill(&mut data_key[..])
            .map_err(OpenError::Random)?;
        let header = self.wrap(store_id, 0, &data_key, cred, params)?;
        Ok((header, data_key))
    }

    fn keys(&self, header: Header, data_key: Zeroizing<[u8; DATA_KEY_LEN]>) -> Arc<Keys> {
        Arc::new(Keys {
            cipher: Cipher::new(&data_key),
            data_key,
            store_id: header.store_id,
            key_id: header.key_id,
            rng: Arc::clone(&self.rng),
            header: Mutex::new(header),
        })
    }

    /// Unlocks header bytes read from the inner store (`None`: there was no header).
    fn unlock(&self, bytes: Option<Vec<u8>>, cred: Credential<'_>) -> Result<Arc<Keys>, OpenError> {
        let bytes = bytes.ok_or(OpenError::NotInitialized)?;
        let header = parse_header(&bytes)?;
        self.check_memory(&header.protection)?;
        let kek = derive_kek(&header.protection, &header.salt, cred)?;
        let data_key = header.unwrap_key(&kek).ok_or(match cred {
            Credential::Passphrase(_) => OpenError::WrongPassphrase,
            Credential::Key(_) => OpenError::WrongKey,
        })?;
        Ok(self.keys(header, data_key))
    }

    fn do_create<S: KVStoreSync>(
        &self,
        inner: S,
        cred: Credential<'_>,
        params: Option<KdfParams>,
        refuse_data: fn(&S) -> Result<(), OpenError>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        if read_header_sync(&inner)?.is_some() {
            return Err(OpenError::AlreadyInitialized);
        }
        refuse_data(&inner)?;
        let (header, data_key) = self.new_header(cred, params)?;
        write_header_sync(&inner, &header)?;
        Ok(EncryptedStore {
            inner,
            keys: self.keys(header, data_key),
        })
    }

    fn do_open<S: KVStoreSync>(
        &self,
        inner: S,
        cred: Credential<'_>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let bytes = read_header_sync(&inner)?;
        let keys = self.unlock(bytes, cred)?;
        Ok(EncryptedStore { inner, keys })
    }

    /// See [`EncryptedStore::create`].
    pub fn create<S: KVStoreSync>(
        &self,
        inner: S,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<EncryptedStore<S>, OpenError> {
        self.do_create(
            inner,
            Credential::Passphrase(passphrase),
            Some(params),
            refuse_existing_data,
        )
    }

    /// See [`EncryptedStore::create_with_key`].
    pub fn create_with_key<S: KVStoreSync>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        self.do_create(inner, Credential::Key(key), None, refuse_existing_data)
    }

    /// See [`EncryptedStore::create_in_empty`].
    pub fn create_in_empty<S: KVStoreSync + MigratableKVStore>(
        &self,
        inner: S,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<EncryptedStore<S>, OpenError> {
        self.do_create(
            inner,
            Credential::Passphrase(passphrase),
            Some(params),
            refuse_any_data,
        )
    }

    /// See [`EncryptedStore::create_with_key_in_empty`].
    pub fn create_with_key_in_empty<S: KVStoreSync + MigratableKVStore>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        self.do_create(inner, Credential::Key(key), None, refuse_any_data)
    }

    /// See [`EncryptedStore::open`].
    pub fn open<S: KVStoreSync>(
        &self,
        inner: S,
        passphrase: &[u8],
    ) -> Result<EncryptedStore<S>, OpenError> {
        self.do_open(inner, Credential::Passphrase(passphrase))
    }

    /// See [`EncryptedStore::open_with_key`].
    pub fn open_with_key<S: KVStoreSync>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        self.do_open(inner, Credential::Key(key))
    }

    async fn do_create_async<S: KVStore>(
        &self,
        inner: S,
        cred: Credential<'_>,
        params: Option<KdfParams>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        if header_result(
            KVStore::read(
                &inner,
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
            )
            .await,
        )?
        .is_some()
        {
            return Err(OpenError::AlreadyInitialized);
        }
        for (primary, secondary) in WELL_KNOWN_NAMESPACES {
            let keys = KVStore::list(&inner, primary, secondary)
                .await
                .map_err(OpenError::Io)?;
            if !keys.is_empty() {
                return Err(OpenError::ExistingData {
                    primary_namespace: primary.to_owned(),
                });
            }
        }
        let (header, data_key) = self.new_header(cred, params)?;
        KVStore::write(
            &inner,
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            header.to_bytes().to_vec(),
        )
        .await
        .map_err(OpenError::Io)?;
        Ok(EncryptedStore {
            inner,
            keys: self.keys(header, data_key),
        })
    }

    async fn do_open_async<S: KVStore>(
        &self,
        inner: S,
        cred: Credential<'_>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let bytes = header_result(
            KVStore::read(
                &inner,
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
            )
            .await,
        )?;
        let keys = self.unlock(bytes, cred)?;
        Ok(EncryptedStore { inner, keys })
    }

    /// [`create`](Self::create) over an asynchronous-only inner store. The Argon2id derivation
    /// runs on the polling thread.
    pub async fn create_async<S: KVStore>(
        &self,
        inner: S,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<EncryptedStore<S>, OpenError> {
        self.do_create_async(inner, Credential::Passphrase(passphrase), Some(params))
            .await
    }

    /// [`open`](Self::open) over an asynchronous-only inner store. The Argon2id derivation runs
    /// on the polling thread.
    pub async fn open_async<S: KVStore>(
        &self,
        inner: S,
        passphrase: &[u8],
    ) -> Result<EncryptedStore<S>, OpenError> {
        self.do_open_async(inner, Credential::Passphrase(passphrase))
            .await
    }

    /// [`create_with_key`](Self::create_with_key) over an asynchronous-only inner store.
    pub async fn create_with_key_async<S: KVStore>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        self.do_create_async(inner, Credential::Key(key), None)
            .await
    }

    /// [`open_with_key`](Self::open_with_key) over an asynchronous-only inner store.
    pub async fn open_with_key_async<S: KVStore>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        self.do_open_async(inner, Credential::Key(key)).await
    }
}

/// The namespace pairs where LDK and ldk-node keep values, which `create` lists to refuse a store
/// that already holds data. (`KVStoreSync` cannot enumerate namespaces; for stores that can,
/// `create_in_empty` refuses any value at all.)
const WELL_KNOWN_NAMESPACES: [(&str, &str); 14] = [
    // LDK: channel manager, network graph, scorer, output sweeper (top level); monitors.
    ("", ""),
    (CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE, ""),
    (CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE, ""),
    (ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE, ""),
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

fn parse_header(bytes: &[u8]) -> Result<Header, OpenError> {
    Header::parse(bytes).map_err(|e| match e {
        format::HeaderParseError::Corrupt(reason) => OpenError::CorruptHeader { reason },
        format::HeaderParseError::UnsupportedVersion(version) => {
            OpenError::UnsupportedVersion { version }
        }
        format::HeaderParseError::KdfOutOfBounds => OpenError::KdfParamsOutOfBounds,
    })
}

fn header_result(r: Result<Vec<u8>, io::Error>) -> Result<Option<Vec<u8>>, OpenError> {
    match r {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(OpenError::Io(e)),
    }
}

fn read_header_sync<S: KVStoreSync>(inner: &S) -> Result<Option<Vec<u8>>, OpenError> {
    header_result(KVStoreSync::read(
        inner,
        RESERVED_PRIMARY_NAMESPACE,
        HEADER_SECONDARY_NAMESPACE,
        HEADER_KEY,
    ))
}

fn write_header_sync<S: KVStoreSync>(inner: &S, header: &Header) -> Result<(), OpenError> {
    KVStoreSync::write(
        inner,
        RESERVED_PRIMARY_NAMESPACE,
        HEADER_SECONDARY_NAMESPACE,
        HEADER_KEY,
        header.to_bytes().to_vec(),
    )
    .map_err(OpenError::Io)
}

fn refuse_existing_data<S: KVStoreSync>(inner: &S) -> Result<(), OpenError> {
    for (primary, secondary) in WELL_KNOWN_NAMESPACES {
        if !KVStoreSync::list(inner, primary, secondary)
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
fn refuse_any_data<S: MigratableKVStore>(inner: &S) -> Result<(), OpenError> {
    match inner.list_all_keys().map_err(OpenError::Io)?.first() {
        Some((primary, _, _)) => Err(OpenError::ExistingData {
            primary_namespace: primary.clone(),
        }),
        None => Ok(()),
    }
}

/// An LDK key-value store that encrypts every value it hands to an inner store.
///
/// Values are sealed with XChaCha20-Poly1305 under the store's data key, with a fresh random
/// nonce per write and associated data that binds each value to this store and to its primary
/// namespace, secondary namespace and key. `list` and `remove` go straight to the inner store.
/// See the crate documentation and `docs/FORMAT.md`.
///
/// Works over any `S: KVStoreSync` (and `S: KVStore` for the async trait, `S:
/// MigratableKVStore` for migration). To share one inner store, wrap it in [`SharedStore`].
pub struct EncryptedStore<S> {
    inner: S,
    keys: Arc<Keys>,
}

impl<S> fmt::Debug for EncryptedStore<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedStore")
            .field("store_id", &Hex(&self.keys.store_id))
            .field("key_id", &self.keys.key_id)
            .finish_non_exhaustive()
    }
}

struct Hex<'a>(&'a [u8]);
impl fmt::Debug for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl<S: KVStoreSync> EncryptedStore<S> {
    /// Initialises a new encrypted store in `inner` protected by `passphrase` (Argon2id with
    /// `params`) and writes its header: one inner write.
    ///
    /// Refuses with [`OpenError::AlreadyInitialized`] where a header exists, and with
    /// [`OpenError::ExistingData`] where the inner store holds values in any namespace where
    /// LDK or ldk-node keep them: the top level, the monitor namespaces, lightning-liquidity's,
    /// and ldk-node's (`bdk_wallet`, `payments`, `pending_payments`, `forwarded_payments/*`,
    /// `lsps2_leases`, `static_invoices`). It never starts an empty store on top of that data.
    /// `KVStoreSync` cannot enumerate other namespaces: where the inner store can
    /// (`MigratableKVStore`), [`create_in_empty`](Self::create_in_empty) refuses any value at
    /// all.
    pub fn create(inner: S, passphrase: &[u8], params: KdfParams) -> Result<Self, OpenError> {
        OpenOptions::new().create(inner, passphrase, params)
    }

    /// Like [`create`](Self::create), but lists every key of the inner store
    /// (`MigratableKVStore::list_all_keys`) and refuses with [`OpenError::ExistingData`] if
    /// there is any value at all, in any namespace.
    pub fn create_in_empty(
        inner: S,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<Self, OpenError>
    where
        S: MigratableKVStore,
    {
        OpenOptions::new().create_in_empty(inner, passphrase, params)
    }

    /// [`create_with_key`](Self::create_with_key) with the check of
    /// [`create_in_empty`](Self::create_in_empty).
    pub fn create_with_key_in_empty(inner: S, key: &RawKey) -> Result<Self, OpenError>
    where
        S: MigratableKVStore,
    {
        OpenOptions::new().create_with_key_in_empty(inner, key)
    }

    /// Opens an existing encrypted store with its passphrase. Never writes: where there is no
    /// header it fails with [`OpenError::NotInitialized`].
    pub fn open(inner: S, passphrase: &[u8]) -> Result<Self, OpenError> {
        OpenOptions::new().open(inner, passphrase)
    }

    /// Like [`create`](Self::create), protected by a caller-held 32-byte key instead of a
    /// passphrase (no KDF cost).
    pub fn create_with_key(inner: S, key: &RawKey) -> Result<Self, OpenError> {
        OpenOptions::new().create_with_key(inner, key)
    }

    /// Like [`open`](Self::open), with the raw key the store was created with
    /// ([`OpenError::WrongKey`] otherwise).
    pub fn open_with_key(inner: S, key: &RawKey) -> Result<Self, OpenError> {
        OpenOptions::new().open_with_key(inner, key)
    }

    /// Replaces the passphrase (or raw key) that protects the store by a new passphrase.
    ///
    /// Rewrites only the header, in one inner write; values are untouched. If that write fails,
    /// the header is unchanged and the old credential still opens the store.
    pub fn change_passphrase(
        &self,
        new_passphrase: &[u8],
        params: KdfParams,
    ) -> Result<(), OpenError> {
        self.rewrap(Credential::Passphrase(new_passphrase), Some(params))
    }

    /// Replaces the passphrase (or raw key) that protects the store by a raw key. One inner
    /// write, as for [`change_passphrase`](Self::change_passphrase).
    pub fn change_key(&self, new_key: &RawKey) -> Result<(), OpenError> {
        self.rewrap(Credential::Key(new_key), None)
    }

    fn rewrap(&self, cred: Credential<'_>, params: Option<KdfParams>) -> Result<(), OpenError> {
        let opts = OpenOptions {
            rng: Arc::clone(&self.keys.rng),
            ..OpenOptions::default()
        };
        let header = opts.wrap(
            self.keys.store_id,
            self.keys.key_id,
            &self.keys.data_key,
            cred,
            params,
        )?;
        let mut current = self.keys.header.lock().unwrap_or_else(|p| p.into_inner());
        write_header_sync(&self.inner, &header)?;
        *current = header;
        Ok(())
    }

    /// Reads the public facts of the header of the encrypted store in `inner`, without
    /// unlocking it (no passphrase needed, nothing derived).
    pub fn inspect(inner: &S) -> Result<StoreInfo, OpenError> {
        let bytes = read_header_sync(inner)?.ok_or(OpenError::NotInitialized)?;
        Ok(StoreInfo::of(&parse_header(&bytes)?))
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
        StoreInfo::of(&self.keys.header.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl<S: KVStoreSync> KVStoreSync for EncryptedStore<S> {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, io::Error> {
        names::check_key(primary_namespace, secondary_namespace, key)
            .map_err(ReadError::InvalidName)?;
        let rec = self
            .inner
            .read(primary_namespace, secondary_namespace, key)?;
        Ok(self
            .keys
            .open(primary_namespace, secondary_namespace, key, rec)?)
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), io::Error> {
        let rec = self
            .keys
            .seal(primary_namespace, secondary_namespace, key, buf)?;
        self.inner
            .write(primary_namespace, secondary_namespace, key, rec)
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> Result<(), io::Error> {
        names::check_key(primary_namespace, secondary_namespace, key)?;
        self.inner
            .remove(primary_namespace, secondary_namespace, key, lazy)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, io::Error> {
        names::check_namespace(primary_namespace, secondary_namespace)?;
        self.inner.list(primary_namespace, secondary_namespace)
    }
}

impl<S: MigratableKVStore> MigratableKVStore for EncryptedStore<S> {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        let mut all = self.inner.list_all_keys()?;
        all.retain(|(primary, _, _)| !names::is_reserved(primary));
        Ok(all)
    }
}

fn ready<T: Send + 'static>(r: Result<T, io::Error>) -> AsyncResult<'static, T, io::Error> {
    Box::pin(async move { r })
}

impl<S: KVStore> KVStore for EncryptedStore<S> {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, io::Error> {
        if let Err(e) = names::check_key(primary_namespace, secondary_namespace, key) {
            return ready(Err(ReadError::InvalidName(e).into()));
        }
        let fut = self.inner.read(primary_namespace, secondary_namespace, key);
        let keys = Arc::clone(&self.keys);
        let (p, s, k) = (
            primary_namespace.to_owned(),
            secondary_namespace.to_owned(),
            key.to_owned(),
        );
        Box::pin(async move {
            let rec = fut.await?;
            Ok(keys.open(&p, &s, &k, rec)?)
        })
    }

    /// Encrypts before calling the inner `write`, so the inner store sees writes to a key in
    /// the order they were made, as [`KVStore::write`] requires.
    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        match self
            .keys
            .seal(primary_namespace, secondary_namespace, key, buf)
        {
            Ok(rec) => self
                .inner
                .write(primary_namespace, secondary_namespace, key, rec),
            Err(e) => ready(Err(e.into())),
        }
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), io::Error> {
        match names::check_key(primary_namespace, secondary_namespace, key) {
            Ok(()) => self
                .inner
                .remove(primary_namespace, secondary_namespace, key, lazy),
            Err(e) => ready(Err(e.into())),
        }
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> AsyncResult<'static, Vec<String>, io::Error> {
        match names::check_namespace(primary_namespace, secondary_namespace) {
            Ok(()) => self.inner.list(primary_namespace, secondary_namespace),
            Err(e) => ready(Err(e.into())),
        }
    }
}

/// A shared inner store: `EncryptedStore<SharedStore<S>>` wraps an `Arc<S>` that other code
/// holds too. (LDK has no blanket store implementation for `Arc<S>`, and coherence rules keep
/// this crate from adding one; this newtype forwards every call.)
#[derive(Debug)]
pub struct SharedStore<S: ?Sized>(pub Arc<S>);

impl<S: ?Sized> Clone for SharedStore<S> {
    fn clone(&self) -> Self {
        SharedStore(Arc::clone(&self.0))
    }
}

impl<S: KVStoreSync + ?Sized> KVStoreSync for SharedStore<S> {
    fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, io::Error> {
        self.0.read(p, s, k)
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        self.0.write(p, s, k, buf)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Result<(), io::Error> {
        self.0.remove(p, s, k, lazy)
    }
    fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
        self.0.list(p, s)
    }
}

impl<S: KVStore + ?Sized> KVStore for SharedStore<S> {
    fn read(&self, p: &str, s: &str, k: &str) -> AsyncResult<'static, Vec<u8>, io::Error> {
        self.0.read(p, s, k)
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        self.0.write(p, s, k, buf)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> AsyncResult<'static, (), io::Error> {
        self.0.remove(p, s, k, lazy)
    }
    fn list(&self, p: &str, s: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        self.0.list(p, s)
    }
}

impl<S: MigratableKVStore + ?Sized> MigratableKVStore for SharedStore<S> {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        self.0.list_all_keys()
    }
}
