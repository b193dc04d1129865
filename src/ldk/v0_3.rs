//! `lightning` 0.3's store traits (feature `lightning-0-3`): `KVStoreSync`, `KVStore`,
//! `MigratableKVStoreSync`, `MigratableKVStore`, `PaginatedKVStoreSync` and `PaginatedKVStore`
//! for [`EncryptedStore`], [`SharedStore`] and [`MemoryStore`], and the sealed I/O traits
//! through which the core calls an inner store of this version. Each method calls the store
//! core (which checks names and returns typed errors); nothing else lives here. What both
//! versions share comes from `shared_impls!` in `ldk.rs`.
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

use crate::io::sealed;
use crate::io::{complete_io, AsyncIo, SyncIo};
use crate::ldk::V0_3;
use crate::memory::MemoryStore;
use crate::store::engine::Engine;
use crate::store::{EncryptedStore, SharedStore};

crate::ldk::shared_impls!(V0_3);

impl<S: MigratableKVStoreSync + ?Sized> sealed::ListAll<V0_3> for S {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        MigratableKVStoreSync::list_all_keys(self)
    }
}

impl<S: KVStore> KVStore for EncryptedStore<S> {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + 'static + MaybeSend {
        let io = AsyncIo::<S, V0_3>::new(&self.inner);
        self.engine
            .read(&io, primary_namespace, secondary_namespace, key)
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
        let io = AsyncIo::<S, V0_3>::new(&self.inner);
        self.engine
            .write(&io, primary_namespace, secondary_namespace, key, buf)
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + 'static + MaybeSend {
        let io = AsyncIo::<S, V0_3>::new(&self.inner);
        self.engine
            .remove(&io, primary_namespace, secondary_namespace, key, lazy)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> impl Future<Output = Result<Vec<String>, io::Error>> + 'static + MaybeSend {
        let io = AsyncIo::<S, V0_3>::new(&self.inner);
        self.engine
            .list(&io, primary_namespace, secondary_namespace)
    }
}

impl<S: MigratableKVStoreSync> MigratableKVStoreSync for EncryptedStore<S> {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        let tickets = self.engine.list_all_issued();
        self.engine
            .list_all_done(tickets, self.inner.list_all_keys()?)
    }
}

impl<S: MigratableKVStore> MigratableKVStore for EncryptedStore<S> {
    fn list_all_keys(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String, String)>, io::Error>> + 'static + MaybeSend
    {
        let v2 = Arc::clone(&self.engine);
        let tickets = v2.list_all_issued();
        let fut = self.inner.list_all_keys();
        async move { v2.list_all_done(tickets, fut.await?) }
    }
}

/// The inner store's page, with its keys decoded.
fn decode_page(
    v2: &Engine,
    (p, s, sp, ss): (&str, &str, &str, &str),
    page: PaginatedListResponse,
) -> Result<PaginatedListResponse, io::Error> {
    let keys = v2.page_keys(p, s, sp, ss, page.keys)?;
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
        let v2 = &self.engine;
        let (sp, ss) = v2.stored_namespace(primary_namespace, secondary_namespace)?;
        let page = self.inner.list_paginated(&sp, &ss, page_token)?;
        decode_page(v2, (primary_namespace, secondary_namespace, &sp, &ss), page)
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
        let v2 = Arc::clone(&self.engine);
        let names = v2
            .stored_namespace(primary_namespace, secondary_namespace)
            .map_err(io::Error::from);
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
            decode_page(&v2, (&p, &s, &sp, &ss), page)
        }
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
