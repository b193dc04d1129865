//! Creating, opening and re-keying a store: the header's life cycle, written once over a small
//! private header-I/O abstraction ([`HeaderIo`]) so that the synchronous and asynchronous
//! constructors of every supported LDK version share one body.
//!
//! A synchronous inner store is driven through the same `async` body: its calls return futures
//! that are ready at once, so the body completes in a single poll ([`complete`]), and a body
//! that did not would be an error, never a wait.

use core::fmt;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::sync::Arc;

use bitcoin::io;
use zeroize::Zeroizing;

use crate::anchor::{self, AnchorKey, AnchorState, FreshnessAnchor, Loaded, Meta};
use crate::error::{OpenError, RotateError};
use crate::format::v2::{self as f2, HeaderV2, Secrets, State, ANCHOR_KEY_LEN};
use crate::format::{self, Protection, DATA_KEY_LEN, NONCE_LEN, SALT_LEN, STORE_ID_LEN};
use crate::kdf::{self, DeriveError, KdfParams};
use crate::keys::RawKey;
use crate::ldk::{sealed, AsyncInnerStore, InnerStore, MigratableInnerStore};
use crate::names::{HEADER_KEY, HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE};
use crate::rng::{self, RandomSource, SharedRandom};
use crate::store::v2::{self as s2, V2};
use crate::store::{EncryptedStore, ReencryptProgress, StoreInfo};

/// How far `accept_current_state` moves the counter past the highest version it can see
/// (docs/FORMAT.md, "Accepting the current state").
const ACCEPT_JUMP: u64 = 1 << 40;

/// What unlocks a store.
#[derive(Clone, Copy)]
pub(crate) enum Credential<'a> {
    Passphrase(&'a [u8]),
    Key(&'a RawKey),
}

/// The inner-store calls the header's life cycle needs, as futures (ready at once for a
/// synchronous store). Implemented by [`SyncIo`] and [`AsyncIo`] over the adapters' sealed
/// per-version traits.
pub(crate) trait HeaderIo {
    /// The future of one inner call. It borrows nothing: the call was made when it was
    /// created.
    type Fut<T: Send + 'static>: Future<Output = Result<T, io::Error>> + Send + 'static;
    fn read(&self, primary: &str, secondary: &str, key: &str) -> Self::Fut<Vec<u8>>;
    fn write(&self, primary: &str, secondary: &str, key: &str, buf: Vec<u8>) -> Self::Fut<()>;
    fn list(&self, primary: &str, secondary: &str) -> Self::Fut<Vec<String>>;
    fn remove(&self, primary: &str, secondary: &str, key: &str, lazy: bool) -> Self::Fut<()>;
}

/// A synchronous inner store of LDK version `M`, seen as [`HeaderIo`].
pub(crate) struct SyncIo<'a, S: ?Sized, M>(&'a S, PhantomData<fn() -> M>);

impl<'a, S: InnerStore<M> + ?Sized, M> SyncIo<'a, S, M> {
    pub(crate) fn new(inner: &'a S) -> Self {
        SyncIo(inner, PhantomData)
    }
}

impl<S: InnerStore<M> + ?Sized, M> HeaderIo for SyncIo<'_, S, M> {
    type Fut<T: Send + 'static> = core::future::Ready<Result<T, io::Error>>;
    fn read(&self, p: &str, s: &str, k: &str) -> Self::Fut<Vec<u8>> {
        core::future::ready(sealed::SyncIo::<M>::read(self.0, p, s, k))
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Self::Fut<()> {
        core::future::ready(sealed::SyncIo::<M>::write(self.0, p, s, k, buf))
    }
    fn list(&self, p: &str, s: &str) -> Self::Fut<Vec<String>> {
        core::future::ready(sealed::SyncIo::<M>::list(self.0, p, s))
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Self::Fut<()> {
        core::future::ready(sealed::SyncIo::<M>::remove(self.0, p, s, k, lazy))
    }
}

/// An asynchronous inner store of LDK version `M`, seen as [`HeaderIo`].
pub(crate) struct AsyncIo<'a, S: ?Sized, M>(&'a S, PhantomData<fn() -> M>);

impl<'a, S: AsyncInnerStore<M> + ?Sized, M> AsyncIo<'a, S, M> {
    pub(crate) fn new(inner: &'a S) -> Self {
        AsyncIo(inner, PhantomData)
    }
}

type BoxedFut<T> = core::pin::Pin<Box<dyn Future<Output = Result<T, io::Error>> + Send>>;

impl<S: AsyncInnerStore<M> + ?Sized, M> HeaderIo for AsyncIo<'_, S, M> {
    // Boxed: the inner store's future type names the call's borrowed arguments, although it
    // holds none of them (it is `'static`); erasing it lets it outlive them.
    type Fut<T: Send + 'static> = BoxedFut<T>;
    fn read(&self, p: &str, s: &str, k: &str) -> Self::Fut<Vec<u8>> {
        Box::pin(sealed::AsyncIo::<M>::read(self.0, p, s, k))
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Self::Fut<()> {
        Box::pin(sealed::AsyncIo::<M>::write(self.0, p, s, k, buf))
    }
    fn list(&self, p: &str, s: &str) -> Self::Fut<Vec<String>> {
        Box::pin(sealed::AsyncIo::<M>::list(self.0, p, s))
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Self::Fut<()> {
        Box::pin(sealed::AsyncIo::<M>::remove(self.0, p, s, k, lazy))
    }
}

/// Runs a body over [`SyncIo`] to its end. Every future such a body awaits is ready at once, so
/// one poll completes it; if it ever did not, that is an error (nothing was half-done that a
/// retry could not redo: every body writes at most once, as its last step).
fn complete<T>(body: impl Future<Output = Result<T, OpenError>>) -> Result<T, OpenError> {
    let mut body = pin!(body);
    match body.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(r) => r,
        Poll::Pending => Err(OpenError::Io(io::Error::new(
            io::ErrorKind::Other,
            "a synchronous inner store call did not complete",
        ))),
    }
}

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

    /// `create` makes a store whose namespaces and keys are encrypted (AES-256-SIV, base64url)
    /// before they reach the inner store; `list` decodes them. Names of up to 74 bytes fit
    /// (LDK's and ldk-node's all do); longer ones are refused with
    /// [`InvalidName::TooLongToEncrypt`](crate::InvalidName::TooLongToEncrypt). Recorded in the
    /// header for the life of the store.
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

    /// The protection a new header gets for `cred`.
    fn protection_for(
        &self,
        cred: Credential<'_>,
        params: Option<KdfParams>,
    ) -> Result<Protection, OpenError> {
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
        Ok(protection)
    }

    /// A header with a new credential block for `cred` (new salt, wrap nonce and hk) over
    /// `state` and `secrets`.
    pub(crate) fn seal_v2(
        &self,
        store_id: [u8; STORE_ID_LEN],
        cred: Credential<'_>,
        params: Option<KdfParams>,
        state: State,
        secrets: &Secrets,
    ) -> Result<(HeaderV2, Zeroizing<[u8; 32]>), OpenError> {
        let protection = self.protection_for(cred, params)?;
        let salt = fill::<SALT_LEN>(&*self.rng)?;
        let wrap_nonce = fill::<NONCE_LEN>(&*self.rng)?;
        let mut hk = Zeroizing::new([0u8; f2::HK_LEN]);
        self.rng.fill(&mut hk[..]).map_err(OpenError::Random)?;
        let secrets_nonce = fill::<NONCE_LEN>(&*self.rng)?;
        let kek = derive_kek(&protection, &salt, cred)?;
        let h = HeaderV2::seal(
            protection,
            salt,
            store_id,
            wrap_nonce,
            &kek,
            &hk,
            state,
            secrets_nonce,
            secrets,
        )
        .map_err(|_| OpenError::KeyWrapFailed)?;
        Ok((h, hk))
    }

    /// A new store: header (versions 1 to 2^32 reserved in it) and state.
    fn new_v2(
        &self,
        cred: Credential<'_>,
        params: Option<KdfParams>,
    ) -> Result<(Vec<u8>, Arc<V2>), OpenError> {
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
        let limit = 1 + s2::BLOCK;
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
        let (header, hk) = self.seal_v2(store_id, cred, params, state, &secrets)?;
        let bytes = header.to_bytes();
        let mut v2 = V2::new(header, hk, secrets, Arc::clone(&self.rng), false, 1, limit)?;
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
        let kek = derive_kek(&header.protection, &header.salt, cred)?;
        let hk = header.unwrap_hk(&kek).ok_or(match cred {
            Credential::Passphrase(_) => OpenError::WrongPassphrase,
            Credential::Key(_) => OpenError::WrongKey,
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
    async fn unlock_v2<IO: HeaderIo>(
        &self,
        io: &IO,
        bytes: &[u8],
        cred: Credential<'_>,
    ) -> Result<Arc<V2>, OpenError> {
        let (header, hk, secrets) = self.unlock_v2_header(bytes, cred)?;
        self.finish_v2(io, header, hk, secrets).await
    }

    async fn finish_v2<IO: HeaderIo>(
        &self,
        io: &IO,
        header: HeaderV2,
        hk: Zeroizing<[u8; 32]>,
        secrets: Secrets,
    ) -> Result<Arc<V2>, OpenError> {
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
        let attach = |mut v2: V2, meta: Option<Meta>| -> Result<Arc<V2>, OpenError> {
            if let (Some(a), Some(meta)) = (&self.anchor, meta) {
                v2.attach_anchor(Arc::clone(a), meta, entries);
            }
            Ok(Arc::new(v2))
        };
        if self.read_only {
            return attach(
                V2::new(header, hk, secrets, rng, true, start, start)?,
                loaded_meta,
            );
        }
        let limit = start
            .checked_add(s2::BLOCK)
            .ok_or(OpenError::CounterExhausted)?;
        let nonce = fill::<NONCE_LEN>(&*rng)?;
        let reserved = header
            .with_state(&hk, s2::header_state(&header, limit)?, nonce, &secrets)
            .map_err(|_| OpenError::KeyWrapFailed)?;
        write_bytes(io, reserved.to_bytes()).await?;
        let meta = loaded_meta.map(|m| Meta {
            header_seq: reserved.state.header_seq,
            version_limit: limit,
            ..m
        });
        let v2 = attach(
            V2::new(reserved, hk, secrets, rng, false, start, limit)?,
            meta,
        )?;
        v2.header_written().map_err(OpenError::AnchorIo)?;
        Ok(v2)
    }

    /// The one body of every `create*`: refuse a header or existing data (`refuse_data`, a
    /// future that does nothing until awaited here), then write a new header (the only write).
    async fn do_create<IO: HeaderIo>(
        &self,
        io: &IO,
        cred: Credential<'_>,
        params: Option<KdfParams>,
        refuse_data: impl Future<Output = Result<(), OpenError>>,
    ) -> Result<Arc<V2>, OpenError> {
        if read_header(io).await?.is_some() {
            return Err(OpenError::AlreadyInitialized);
        }
        refuse_data.await?;
        let (bytes, v2) = self.new_v2(cred, params)?;
        write_bytes(io, bytes).await?;
        Ok(v2)
    }

    /// The one body of every `open*`: read the header and unlock it. Never writes.
    async fn do_open<IO: HeaderIo>(
        &self,
        io: &IO,
        cred: Credential<'_>,
    ) -> Result<Arc<V2>, OpenError> {
        let bytes = read_header(io).await?.ok_or(OpenError::NotInitialized)?;
        self.unlock_v2(io, &bytes, cred).await
    }

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
        passphrase: &[u8],
    ) -> Result<EncryptedStore<S>, OpenError> {
        let all = sealed::ListAll::<M>::list_all_keys(&inner).map_err(OpenError::Io)?;
        let engine = self.accept(
            &SyncIo::new(&inner),
            Credential::Passphrase(passphrase),
            all,
        )?;
        Ok(EncryptedStore { inner, engine })
    }

    /// [`accept_current_state`](Self::accept_current_state) for a store protected by a raw key.
    pub fn accept_current_state_with_key<M, S: InnerStore<M> + MigratableInnerStore<M>>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let all = sealed::ListAll::<M>::list_all_keys(&inner).map_err(OpenError::Io)?;
        let engine = self.accept(&SyncIo::new(&inner), Credential::Key(key), all)?;
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
        passphrase: &[u8],
        stored: Vec<(String, String, String)>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let cred = Credential::Passphrase(passphrase);
        let engine = self.accept(&SyncIo::new(&inner), cred, stored)?;
        Ok(EncryptedStore { inner, engine })
    }

    /// [`accept_current_state_listed`](Self::accept_current_state_listed) for a store
    /// protected by a raw key.
    pub fn accept_current_state_listed_with_key<M, S: InnerStore<M>>(
        &self,
        inner: S,
        key: &RawKey,
        stored: Vec<(String, String, String)>,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let engine = self.accept(&SyncIo::new(&inner), Credential::Key(key), stored)?;
        Ok(EncryptedStore { inner, engine })
    }

    /// "Accepting the current state" over the stored names `stored` (every key of the store).
    fn accept<IO: HeaderIo>(
        &self,
        io: &IO,
        cred: Credential<'_>,
        mut stored: Vec<(String, String, String)>,
    ) -> Result<Arc<V2>, OpenError> {
        let a = self.anchor.clone().ok_or(OpenError::AnchorRequired)?;
        if self.read_only {
            return Err(s2::read_only_error());
        }
        let bytes = complete(read_header(io))?.ok_or(OpenError::NotInitialized)?;
        let (header, hk, secrets) = self.unlock_v2_header(&bytes, cred)?;
        let store_id = header.store_id;
        let ns = anchor::store_hex(&store_id);
        let key = AnchorKey::new(&secrets.anchor_key, store_id, Arc::clone(&self.rng));
        // Step 2: every value, through the read path of a fresh read-only instance (nothing
        // held: every authentic record is served).
        let limit = header.state.version_limit;
        let reader = Arc::new(V2::new(
            header.clone(),
            hk.clone(),
            secrets.clone(),
            Arc::clone(&self.rng),
            true,
            limit,
            limit,
        )?);
        crate::store::without_reserved(&mut stored);
        let plain = reader
            .decode_all(stored)
            .map_err(|e| OpenError::Io(e.into()))?;
        let mut found = Vec::with_capacity(plain.len());
        let mut top = 0u64;
        for (p, s, k) in plain {
            match reader.read_value(io, &p, &s, &k) {
                Ok((mut value, _, version)) => {
                    zeroize::Zeroize::zeroize(&mut value);
                    top = top.max(version);
                    found.push(((p, s, k), version));
                }
                // Removed since the listing: nothing to accept.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(OpenError::Io(e)),
            }
        }
        // Step 3: the accept mark above every version the abandoned timeline could have used,
        // and a new epoch.
        let old = anchor::read_meta(&*a, &ns, &key).ok().flatten();
        let mark = limit
            .max(old.map_or(0, |m| m.version_limit))
            .max(top.saturating_add(1))
            .checked_add(ACCEPT_JUMP)
            .ok_or(OpenError::CounterExhausted)?;
        let new_limit = mark
            .checked_add(s2::BLOCK)
            .ok_or(OpenError::CounterExhausted)?;
        let mut epoch = u64::from_le_bytes(fill::<8>(&*self.rng)?);
        if old.is_some_and(|m| m.epoch == epoch) {
            epoch = epoch.wrapping_add(1);
        }
        let before = a.list(&ns).map_err(OpenError::AnchorIo)?;
        // Step 4: one entry per key read.
        for (k, version) in &found {
            let (name, value) = key
                .seal_entry(epoch, k, *version)
                .map_err(OpenError::AnchorIo)?;
            a.write(&ns, &name, &value).map_err(OpenError::AnchorIo)?;
        }
        // Step 5: the header (anchored, its limit above the mark), read-check-write.
        let mut state = s2::header_state(&header, new_limit)?;
        state.options |= f2::OPT_ANCHORED;
        let nonce = fill::<NONCE_LEN>(&*self.rng)?;
        let h = header
            .with_state(&hk, state, nonce, &secrets)
            .map_err(|_| OpenError::KeyWrapFailed)?;
        if complete(read_header(io))?.as_deref() != Some(&bytes[..]) {
            return Err(OpenError::HeaderChanged);
        }
        complete(write_bytes(io, h.to_bytes()))?;
        // Step 6, the commit point.
        let meta = Meta {
            epoch,
            header_seq: h.state.header_seq,
            version_limit: new_limit,
            accept_mark: mark,
        };
        let sealed = key.seal_meta(&meta).map_err(OpenError::AnchorIo)?;
        a.write(&ns, AnchorState::meta_name(), &sealed)
            .map_err(OpenError::AnchorIo)?;
        // Step 7, best effort: values of other epochs are ignored when loading.
        for name in before.iter().filter(|n| *n != AnchorState::meta_name()) {
            let _ = a.remove(&ns, name);
        }
        let mut v2 = V2::new(
            h,
            hk,
            secrets,
            Arc::clone(&self.rng),
            false,
            mark,
            new_limit,
        )?;
        v2.attach_anchor(a, meta, found);
        Ok(Arc::new(v2))
    }

    /// See [`EncryptedStore::create`].
    pub fn create<M, S: InnerStore<M>>(
        &self,
        inner: S,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let cred = Credential::Passphrase(passphrase);
        let io = SyncIo::new(&inner);
        let engine = complete(self.do_create(&io, cred, Some(params), refuse_existing_data(&io)))?;
        Ok(EncryptedStore { inner, engine })
    }

    /// See [`EncryptedStore::create_with_key`].
    pub fn create_with_key<M, S: InnerStore<M>>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let io = SyncIo::new(&inner);
        let cred = Credential::Key(key);
        let engine = complete(self.do_create(&io, cred, None, refuse_existing_data(&io)))?;
        Ok(EncryptedStore { inner, engine })
    }

    /// See [`EncryptedStore::create_in_empty`].
    pub fn create_in_empty<M, S: InnerStore<M> + MigratableInnerStore<M>>(
        &self,
        inner: S,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let cred = Credential::Passphrase(passphrase);
        let refuse = refuse_any_data::<M, S>(&inner);
        let engine = complete(self.do_create(&SyncIo::new(&inner), cred, Some(params), refuse))?;
        Ok(EncryptedStore { inner, engine })
    }

    /// See [`EncryptedStore::create_with_key_in_empty`].
    pub fn create_with_key_in_empty<M, S: InnerStore<M> + MigratableInnerStore<M>>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let cred = Credential::Key(key);
        let refuse = refuse_any_data::<M, S>(&inner);
        let engine = complete(self.do_create(&SyncIo::new(&inner), cred, None, refuse))?;
        Ok(EncryptedStore { inner, engine })
    }

    /// See [`EncryptedStore::open`].
    pub fn open<M, S: InnerStore<M>>(
        &self,
        inner: S,
        passphrase: &[u8],
    ) -> Result<EncryptedStore<S>, OpenError> {
        let cred = Credential::Passphrase(passphrase);
        let engine = complete(self.do_open(&SyncIo::new(&inner), cred))?;
        Ok(EncryptedStore { inner, engine })
    }

    /// See [`EncryptedStore::open_with_key`].
    pub fn open_with_key<M, S: InnerStore<M>>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let engine = complete(self.do_open(&SyncIo::new(&inner), Credential::Key(key)))?;
        Ok(EncryptedStore { inner, engine })
    }

    /// [`create`](Self::create) over an asynchronous-only inner store. The Argon2id derivation
    /// runs on the polling thread.
    pub async fn create_async<M, S: AsyncInnerStore<M>>(
        &self,
        inner: S,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let cred = Credential::Passphrase(passphrase);
        let io = AsyncIo::new(&inner);
        let engine = self
            .do_create(&io, cred, Some(params), refuse_existing_data(&io))
            .await?;
        Ok(EncryptedStore { inner, engine })
    }

    /// [`open`](Self::open) over an asynchronous-only inner store. The Argon2id derivation runs
    /// on the polling thread.
    pub async fn open_async<M, S: AsyncInnerStore<M>>(
        &self,
        inner: S,
        passphrase: &[u8],
    ) -> Result<EncryptedStore<S>, OpenError> {
        let cred = Credential::Passphrase(passphrase);
        let engine = self.do_open(&AsyncIo::new(&inner), cred).await?;
        Ok(EncryptedStore { inner, engine })
    }

    /// [`create_with_key`](Self::create_with_key) over an asynchronous-only inner store.
    pub async fn create_with_key_async<M, S: AsyncInnerStore<M>>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let cred = Credential::Key(key);
        let io = AsyncIo::new(&inner);
        let engine = self
            .do_create(&io, cred, None, refuse_existing_data(&io))
            .await?;
        Ok(EncryptedStore { inner, engine })
    }

    /// [`open_with_key`](Self::open_with_key) over an asynchronous-only inner store.
    pub async fn open_with_key_async<M, S: AsyncInnerStore<M>>(
        &self,
        inner: S,
        key: &RawKey,
    ) -> Result<EncryptedStore<S>, OpenError> {
        let engine = self
            .do_open(&AsyncIo::new(&inner), Credential::Key(key))
            .await?;
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

/// A credential change fails only with header errors.
fn rotate_to_open(e: RotateError) -> OpenError {
    match e {
        RotateError::Header(e) => e,
        RotateError::ReadOnly => s2::read_only_error(),
        other => OpenError::Io(io::Error::new(io::ErrorKind::Other, other)),
    }
}

fn parse_error(e: format::HeaderParseError) -> OpenError {
    match e {
        format::HeaderParseError::Corrupt(reason) => OpenError::CorruptHeader { reason },
        format::HeaderParseError::UnsupportedVersion(version) => {
            OpenError::UnsupportedVersion { version }
        }
        format::HeaderParseError::KdfOutOfBounds => OpenError::KdfParamsOutOfBounds,
    }
}

fn header_result(r: Result<Vec<u8>, io::Error>) -> Result<Option<Vec<u8>>, OpenError> {
    match r {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(OpenError::Io(e)),
    }
}

async fn read_header<IO: HeaderIo>(io: &IO) -> Result<Option<Vec<u8>>, OpenError> {
    header_result(
        io.read(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        )
        .await,
    )
}

pub(crate) async fn write_bytes<IO: HeaderIo>(io: &IO, bytes: Vec<u8>) -> Result<(), OpenError> {
    io.write(
        RESERVED_PRIMARY_NAMESPACE,
        HEADER_SECONDARY_NAMESPACE,
        HEADER_KEY,
        bytes,
    )
    .await
    .map_err(OpenError::Io)
}

async fn refuse_existing_data<IO: HeaderIo>(inner: &IO) -> Result<(), OpenError> {
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
    /// Initialises a new encrypted store in `inner` protected by `passphrase` (Argon2id with
    /// `params`) and writes its header: one inner write.
    ///
    /// Refuses with [`OpenError::AlreadyInitialized`] where a header exists, and with
    /// [`OpenError::ExistingData`] where the inner store holds values in any namespace where
    /// LDK or ldk-node keep them: the top level, the monitor namespaces, lightning-liquidity's,
    /// and ldk-node's (`bdk_wallet`, `payments`, `pending_payments`, `forwarded_payments/*`,
    /// `lsps2_leases`, `static_invoices`). It never starts an empty store on top of that data.
    /// `KVStoreSync` cannot enumerate other namespaces: where the inner store can (LDK's
    /// migration trait), [`create_in_empty`](Self::create_in_empty) refuses any value at all.
    pub fn create<M>(inner: S, passphrase: &[u8], params: KdfParams) -> Result<Self, OpenError>
    where
        S: InnerStore<M>,
    {
        OpenOptions::new().create(inner, passphrase, params)
    }

    /// Like [`create`](Self::create), but lists every key of the inner store (LDK's
    /// `MigratableKVStore::list_all_keys`, `MigratableKVStoreSync` in 0.3) and refuses with
    /// [`OpenError::ExistingData`] if there is any value at all, in any namespace.
    pub fn create_in_empty<M>(
        inner: S,
        passphrase: &[u8],
        params: KdfParams,
    ) -> Result<Self, OpenError>
    where
        S: InnerStore<M> + MigratableInnerStore<M>,
    {
        OpenOptions::new().create_in_empty(inner, passphrase, params)
    }

    /// [`create_with_key`](Self::create_with_key) with the check of
    /// [`create_in_empty`](Self::create_in_empty).
    pub fn create_with_key_in_empty<M>(inner: S, key: &RawKey) -> Result<Self, OpenError>
    where
        S: InnerStore<M> + MigratableInnerStore<M>,
    {
        OpenOptions::new().create_with_key_in_empty(inner, key)
    }

    /// Opens an existing encrypted store with its passphrase. Never writes: where there is no
    /// header it fails with [`OpenError::NotInitialized`].
    pub fn open<M>(inner: S, passphrase: &[u8]) -> Result<Self, OpenError>
    where
        S: InnerStore<M>,
    {
        OpenOptions::new().open(inner, passphrase)
    }

    /// Like [`create`](Self::create), protected by a caller-held 32-byte key instead of a
    /// passphrase (no KDF cost).
    pub fn create_with_key<M>(inner: S, key: &RawKey) -> Result<Self, OpenError>
    where
        S: InnerStore<M>,
    {
        OpenOptions::new().create_with_key(inner, key)
    }

    /// Like [`open`](Self::open), with the raw key the store was created with
    /// ([`OpenError::WrongKey`] otherwise).
    pub fn open_with_key<M>(inner: S, key: &RawKey) -> Result<Self, OpenError>
    where
        S: InnerStore<M>,
    {
        OpenOptions::new().open_with_key(inner, key)
    }

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
    fn rewrap<IO: HeaderIo>(
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
        let opts = OpenOptions {
            rng: Arc::clone(&v2.rng),
            ..OpenOptions::default()
        };
        let mut c = v2.counter();
        let limit = c.header.state.version_limit;
        let (state, secrets, new_id) = if rekey {
            let (state, secrets, id) = v2.rotated(&c)?;
            (state, secrets, Some(id))
        } else {
            let state = s2::header_state(&c.header, limit).map_err(RotateError::Header)?;
            (state, v2.ring().secrets.clone(), None)
        };
        let (header, hk) = opts
            .seal_v2(c.header.store_id, cred, params, state, &secrets)
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
mod tests {
    use super::OpenOptions;

    /// `Debug` shows the memory ceiling and nothing of the random source.
    #[test]
    fn debug_shows_the_memory_ceiling() {
        assert_eq!(
            format!("{:?}", OpenOptions::new().max_kdf_memory_kib(4096)),
            "OpenOptions { max_kdf_memory_kib: 4096, .. }"
        );
    }
}
