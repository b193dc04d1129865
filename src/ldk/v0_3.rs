//! `lightning` 0.3's store traits (feature `lightning-0-3`): `KVStoreSync`, `KVStore`,
//! `MigratableKVStoreSync`, `MigratableKVStore`, `PaginatedKVStoreSync` and `PaginatedKVStore`
//! for [`EncryptedStore`], [`SharedStore`] and [`MemoryStore`], and the sealed header I/O the
//! constructors use. Each method checks names, calls the store core and maps its error; nothing
//! else lives here.
//!
//! Paginated listing passes through like `list`: keys, their order and the page tokens are the
//! inner store's, untouched. The reserved namespace cannot appear in a page: a page lists one
//! (primary, secondary) namespace pair, the header lives alone in primary namespace
//! `encrypted_kvstore`, and a listing of that namespace is refused (`InvalidInput`) before the
//! inner store is asked, like every other call that names it.
//!
//! In LDK 0.3 every `Deref` to a `KVStore` (such as `Arc<S>`) is a `KVStore` already; the
//! synchronous traits have no such blanket implementation, so [`SharedStore`] still serves them.

use core::future::Future;
use std::sync::Arc;

use lightning_0_3::io;
use lightning_0_3::util::native_async::MaybeSend;
use lightning_0_3::util::persist::{
    KVStore, KVStoreSync, MigratableKVStore, MigratableKVStoreSync, PageToken, PaginatedKVStore,
    PaginatedKVStoreSync, PaginatedListResponse,
};

use crate::error::ReadError;
use crate::ldk::{sealed, V0_3};
use crate::memory::MemoryStore;
use crate::names;
use crate::open::{AsyncIo, SyncIo};
use crate::store::v2::{complete_io, V2};
use crate::store::{without_reserved, EncryptedStore, Engine, SharedStore};

impl<S: KVStoreSync + ?Sized> sealed::SyncIo<V0_3> for S {
    fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, io::Error> {
        KVStoreSync::read(self, p, s, k)
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        KVStoreSync::write(self, p, s, k, buf)
    }
    fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
        KVStoreSync::list(self, p, s)
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Result<(), io::Error> {
        KVStoreSync::remove(self, p, s, k, lazy)
    }
}

impl<S: MigratableKVStoreSync + ?Sized> sealed::ListAll<V0_3> for S {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        MigratableKVStoreSync::list_all_keys(self)
    }
}

impl<S: KVStore + ?Sized> sealed::AsyncIo<V0_3> for S {
    fn read(
        &self,
        p: &str,
        s: &str,
        k: &str,
    ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + Send + 'static {
        KVStore::read(self, p, s, k)
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        KVStore::write(self, p, s, k, buf)
    }
    fn list(
        &self,
        p: &str,
        s: &str,
    ) -> impl Future<Output = Result<Vec<String>, io::Error>> + Send + 'static {
        KVStore::list(self, p, s)
    }
    fn remove(
        &self,
        p: &str,
        s: &str,
        k: &str,
        lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        KVStore::remove(self, p, s, k, lazy)
    }
}

impl<S: KVStoreSync> KVStoreSync for EncryptedStore<S> {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> Result<Vec<u8>, io::Error> {
        let keys = match &self.engine {
            Engine::V1(keys) => keys,
            Engine::V2(v2) => {
                let io = SyncIo::<S, V0_3>::new(&self.inner);
                return complete_io(v2.read(&io, primary_namespace, secondary_namespace, key));
            }
        };
        names::check_key(primary_namespace, secondary_namespace, key)
            .map_err(ReadError::InvalidName)?;
        let rec = self
            .inner
            .read(primary_namespace, secondary_namespace, key)?;
        Ok(keys.open(primary_namespace, secondary_namespace, key, rec)?)
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), io::Error> {
        let keys = match &self.engine {
            Engine::V1(keys) => keys,
            Engine::V2(v2) => {
                let io = SyncIo::<S, V0_3>::new(&self.inner);
                return v2.write_sync(&io, primary_namespace, secondary_namespace, key, buf);
            }
        };
        let rec = keys.seal(primary_namespace, secondary_namespace, key, buf)?;
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
        if let Engine::V2(v2) = &self.engine {
            let io = SyncIo::<S, V0_3>::new(&self.inner);
            return v2.remove_sync(&io, primary_namespace, secondary_namespace, key, lazy);
        }
        names::check_key(primary_namespace, secondary_namespace, key)?;
        self.inner
            .remove(primary_namespace, secondary_namespace, key, lazy)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, io::Error> {
        if let Engine::V2(v2) = &self.engine {
            let io = SyncIo::<S, V0_3>::new(&self.inner);
            return complete_io(v2.list(&io, primary_namespace, secondary_namespace, true));
        }
        names::check_namespace(primary_namespace, secondary_namespace)?;
        self.inner.list(primary_namespace, secondary_namespace)
    }
}

impl<S: KVStore> KVStore for EncryptedStore<S> {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + 'static + MaybeSend {
        let branch = match &self.engine {
            Engine::V2(v2) => {
                let io = AsyncIo::<S, V0_3>::new(&self.inner);
                Err(v2.read(&io, primary_namespace, secondary_namespace, key))
            }
            Engine::V1(keys) => {
                let fut = names::check_key(primary_namespace, secondary_namespace, key)
                    .map(|()| self.inner.read(primary_namespace, secondary_namespace, key))
                    .map_err(|e| io::Error::from(ReadError::InvalidName(e)));
                let names = (
                    primary_namespace.to_owned(),
                    secondary_namespace.to_owned(),
                    key.to_owned(),
                );
                Ok((fut, Arc::clone(keys), names))
            }
        };
        async move {
            match branch {
                Err(v2) => v2.await,
                Ok((fut, keys, (p, s, k))) => {
                    let rec = fut?.await?;
                    Ok(keys.open(&p, &s, &k, rec)?)
                }
            }
        }
    }

    /// Encrypts before calling the inner `write`, so the inner store sees writes to a key in
    /// the order they were made, as [`KVStore::write`] requires.
    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> impl Future<Output = Result<(), io::Error>> + 'static + MaybeSend {
        let branch = match &self.engine {
            Engine::V2(v2) => {
                let io = AsyncIo::<S, V0_3>::new(&self.inner);
                Err(v2.write(&io, primary_namespace, secondary_namespace, key, buf))
            }
            Engine::V1(keys) => Ok(keys
                .seal(primary_namespace, secondary_namespace, key, buf)
                .map(|rec| {
                    self.inner
                        .write(primary_namespace, secondary_namespace, key, rec)
                })
                .map_err(io::Error::from)),
        };
        async move {
            match branch {
                Err(v2) => v2.await,
                Ok(fut) => fut?.await,
            }
        }
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + 'static + MaybeSend {
        let branch = match &self.engine {
            Engine::V2(v2) => {
                let io = AsyncIo::<S, V0_3>::new(&self.inner);
                Err(v2.remove_async(&io, primary_namespace, secondary_namespace, key, lazy))
            }
            Engine::V1(_) => Ok(
                names::check_key(primary_namespace, secondary_namespace, key)
                    .map(|()| {
                        self.inner
                            .remove(primary_namespace, secondary_namespace, key, lazy)
                    })
                    .map_err(io::Error::from),
            ),
        };
        async move {
            match branch {
                Err(v2) => v2.await,
                Ok(fut) => fut?.await,
            }
        }
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> impl Future<Output = Result<Vec<String>, io::Error>> + 'static + MaybeSend {
        let branch = match &self.engine {
            Engine::V2(v2) => {
                let io = AsyncIo::<S, V0_3>::new(&self.inner);
                Err(v2.list(&io, primary_namespace, secondary_namespace, true))
            }
            Engine::V1(_) => Ok(
                names::check_namespace(primary_namespace, secondary_namespace)
                    .map(|()| self.inner.list(primary_namespace, secondary_namespace))
                    .map_err(io::Error::from),
            ),
        };
        async move {
            match branch {
                Err(v2) => v2.await,
                Ok(fut) => fut?.await,
            }
        }
    }
}

impl<S: MigratableKVStoreSync> MigratableKVStoreSync for EncryptedStore<S> {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        if let Engine::V2(v2) = &self.engine {
            let tickets = v2.list_all_issued();
            return v2.list_all_done(tickets, self.inner.list_all_keys()?);
        }
        let mut all = self.inner.list_all_keys()?;
        without_reserved(&mut all);
        Ok(all)
    }
}

impl<S: MigratableKVStore> MigratableKVStore for EncryptedStore<S> {
    fn list_all_keys(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String, String)>, io::Error>> + 'static + MaybeSend
    {
        let v2 = match &self.engine {
            Engine::V2(v2) => Some((Arc::clone(v2), v2.list_all_issued())),
            Engine::V1(_) => None,
        };
        let fut = self.inner.list_all_keys();
        async move {
            let mut all = fut.await?;
            if let Some((v2, tickets)) = v2 {
                return v2.list_all_done(tickets, all);
            }
            without_reserved(&mut all);
            Ok(all)
        }
    }
}

/// The inner store's page of a v2 store, with its keys decoded.
fn decode_page(
    v2: &V2,
    (p, s, sp, ss): (&str, &str, &str, &str),
    page: PaginatedListResponse,
) -> Result<PaginatedListResponse, io::Error> {
    let keys = v2.decode_keys(p, s, sp, ss, page.keys)?;
    Ok(PaginatedListResponse {
        keys,
        next_page_token: page.next_page_token,
    })
}

/// Keys, order and tokens are the inner store's; see the module documentation for why the
/// reserved namespace cannot appear. With encrypted names, the order is that of the stored
/// names, and the keys are decoded.
impl<S: PaginatedKVStoreSync> PaginatedKVStoreSync for EncryptedStore<S> {
    fn list_paginated(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        page_token: Option<PageToken>,
    ) -> Result<PaginatedListResponse, io::Error> {
        if let Engine::V2(v2) = &self.engine {
            let (sp, ss) = v2.stored_namespace(primary_namespace, secondary_namespace)?;
            let page = self.inner.list_paginated(&sp, &ss, page_token)?;
            return decode_page(v2, (primary_namespace, secondary_namespace, &sp, &ss), page);
        }
        names::check_namespace(primary_namespace, secondary_namespace)?;
        self.inner
            .list_paginated(primary_namespace, secondary_namespace, page_token)
    }
}

/// Keys, order and tokens are the inner store's; see the module documentation for why the
/// reserved namespace cannot appear. With encrypted names, the order is that of the stored
/// names, and the keys are decoded.
impl<S: PaginatedKVStore> PaginatedKVStore for EncryptedStore<S> {
    fn list_paginated(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        page_token: Option<PageToken>,
    ) -> impl Future<Output = Result<PaginatedListResponse, io::Error>> + 'static + MaybeSend {
        let v2 = match &self.engine {
            Engine::V2(v2) => Some(Arc::clone(v2)),
            Engine::V1(_) => None,
        };
        let names = match &v2 {
            Some(v2) => v2
                .stored_namespace(primary_namespace, secondary_namespace)
                .map_err(io::Error::from),
            None => names::check_namespace(primary_namespace, secondary_namespace)
                .map(|()| (primary_namespace.to_owned(), secondary_namespace.to_owned()))
                .map_err(io::Error::from),
        };
        // Boxed: the inner future's type names the borrowed stored names, although it holds
        // none of them (it is `'static`).
        type Page = core::pin::Pin<
            Box<dyn Future<Output = Result<PaginatedListResponse, io::Error>> + Send>,
        >;
        let prepared = names.map(|(sp, ss)| {
            let fut: Page = Box::pin(self.inner.list_paginated(&sp, &ss, page_token));
            (sp, ss, fut)
        });
        let (p, s) = (primary_namespace.to_owned(), secondary_namespace.to_owned());
        async move {
            let (sp, ss, fut) = prepared?;
            let page = fut.await?;
            match v2 {
                Some(v2) => decode_page(&v2, (&p, &s, &sp, &ss), page),
                None => Ok(page),
            }
        }
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
    fn read(
        &self,
        p: &str,
        s: &str,
        k: &str,
    ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + 'static + MaybeSend {
        self.0.read(p, s, k)
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> impl Future<Output = Result<(), io::Error>> + 'static + MaybeSend {
        self.0.write(p, s, k, buf)
    }
    fn remove(
        &self,
        p: &str,
        s: &str,
        k: &str,
        lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + 'static + MaybeSend {
        self.0.remove(p, s, k, lazy)
    }
    fn list(
        &self,
        p: &str,
        s: &str,
    ) -> impl Future<Output = Result<Vec<String>, io::Error>> + 'static + MaybeSend {
        self.0.list(p, s)
    }
}

impl<S: MigratableKVStoreSync + ?Sized> MigratableKVStoreSync for SharedStore<S> {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        self.0.list_all_keys()
    }
}

impl<S: MigratableKVStore + ?Sized> MigratableKVStore for SharedStore<S> {
    fn list_all_keys(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String, String)>, io::Error>> + 'static + MaybeSend
    {
        self.0.list_all_keys()
    }
}

impl<S: PaginatedKVStoreSync + ?Sized> PaginatedKVStoreSync for SharedStore<S> {
    fn list_paginated(
        &self,
        p: &str,
        s: &str,
        page_token: Option<PageToken>,
    ) -> Result<PaginatedListResponse, io::Error> {
        self.0.list_paginated(p, s, page_token)
    }
}

impl<S: PaginatedKVStore + ?Sized> PaginatedKVStore for SharedStore<S> {
    fn list_paginated(
        &self,
        p: &str,
        s: &str,
        page_token: Option<PageToken>,
    ) -> impl Future<Output = Result<PaginatedListResponse, io::Error>> + 'static + MaybeSend {
        self.0.list_paginated(p, s, page_token)
    }
}

impl KVStoreSync for MemoryStore {
    fn read(&self, p: &str, s: &str, key: &str) -> Result<Vec<u8>, io::Error> {
        self.get(p, s, key)
    }
    fn write(&self, p: &str, s: &str, key: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        self.put(p, s, key, buf)
    }
    fn remove(&self, p: &str, s: &str, key: &str, _lazy: bool) -> Result<(), io::Error> {
        self.delete(p, s, key)
    }
    fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
        self.keys_in(p, s)
    }
}

impl KVStore for MemoryStore {
    fn read(
        &self,
        p: &str,
        s: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + 'static + MaybeSend {
        core::future::ready(self.get(p, s, key))
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> impl Future<Output = Result<(), io::Error>> + 'static + MaybeSend {
        core::future::ready(self.put(p, s, key, buf))
    }
    fn remove(
        &self,
        p: &str,
        s: &str,
        key: &str,
        _lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + 'static + MaybeSend {
        core::future::ready(self.delete(p, s, key))
    }
    fn list(
        &self,
        p: &str,
        s: &str,
    ) -> impl Future<Output = Result<Vec<String>, io::Error>> + 'static + MaybeSend {
        core::future::ready(self.keys_in(p, s))
    }
}

impl MigratableKVStoreSync for MemoryStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        self.all_keys()
    }
}

impl MigratableKVStore for MemoryStore {
    fn list_all_keys(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String, String)>, io::Error>> + 'static + MaybeSend
    {
        core::future::ready(self.all_keys())
    }
}

impl PaginatedKVStoreSync for MemoryStore {
    fn list_paginated(
        &self,
        p: &str,
        s: &str,
        page_token: Option<PageToken>,
    ) -> Result<PaginatedListResponse, io::Error> {
        let (keys, next) = self.page(p, s, page_token.as_ref().map(PageToken::as_str))?;
        Ok(PaginatedListResponse {
            keys,
            next_page_token: next.map(PageToken::new),
        })
    }
}

impl PaginatedKVStore for MemoryStore {
    fn list_paginated(
        &self,
        p: &str,
        s: &str,
        page_token: Option<PageToken>,
    ) -> impl Future<Output = Result<PaginatedListResponse, io::Error>> + 'static + MaybeSend {
        core::future::ready(PaginatedKVStoreSync::list_paginated(self, p, s, page_token))
    }
}

#[cfg(test)]
mod tests {
    use lightning_0_3::util::persist::{
        ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE, KVSTORE_NAMESPACE_KEY_ALPHABET,
        KVSTORE_NAMESPACE_KEY_MAX_LEN,
    };

    /// The core's copies of LDK's naming constants are this version's.
    #[test]
    fn core_constants_are_ldk_0_3s() {
        assert_eq!(
            crate::names::KVSTORE_NAMESPACE_KEY_MAX_LEN,
            KVSTORE_NAMESPACE_KEY_MAX_LEN
        );
        assert_eq!(
            crate::names::tests::KVSTORE_NAMESPACE_KEY_ALPHABET,
            KVSTORE_NAMESPACE_KEY_ALPHABET
        );
        assert_eq!(
            crate::open::WELL_KNOWN_NAMESPACES[..4],
            [
                ("", ""),
                (CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE, ""),
                (CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE, ""),
                (ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE, ""),
            ]
        );
    }
}
