//! `lightning` 0.2's store traits (feature `lightning-0-2`): `KVStoreSync`, `KVStore` and
//! `MigratableKVStore` for [`EncryptedStore`], [`SharedStore`] and [`MemoryStore`], and the
//! sealed I/O traits through which the core calls an inner store of this version. Each method
//! calls the store core (which checks names and returns typed errors); nothing else lives here.
//! What both versions share comes from `shared_impls!` in `ldk.rs`.

use core::future::Future;

use lightning::io;
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{KVStore, KVStoreSync, MigratableKVStore};

use crate::io::sealed;
use crate::io::{complete_io, AsyncIo, SyncIo};
use crate::ldk::V0_2;
use crate::memory::MemoryStore;

use crate::store::{EncryptedStore, SharedStore};

crate::ldk::shared_impls!(V0_2);

impl<S: MigratableKVStore + ?Sized> sealed::ListAll<V0_2> for S {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        MigratableKVStore::list_all_keys(self)
    }
}

impl<S: MigratableKVStore> MigratableKVStore for EncryptedStore<S> {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        let tickets = self.engine.list_all_issued();
        self.engine
            .list_all_done(tickets, self.inner.list_all_keys()?)
    }
}

impl<S: KVStore> KVStore for EncryptedStore<S> {
    fn read(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
    ) -> AsyncResult<'static, Vec<u8>, io::Error> {
        let io = AsyncIo::<S, V0_2>::new(&self.inner);
        Box::pin(
            self.engine
                .read(&io, primary_namespace, secondary_namespace, key),
        )
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
        let io = AsyncIo::<S, V0_2>::new(&self.inner);
        Box::pin(
            self.engine
                .write(&io, primary_namespace, secondary_namespace, key, buf),
        )
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> AsyncResult<'static, (), io::Error> {
        let io = AsyncIo::<S, V0_2>::new(&self.inner);
        Box::pin(
            self.engine
                .remove(&io, primary_namespace, secondary_namespace, key, lazy),
        )
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> AsyncResult<'static, Vec<String>, io::Error> {
        let io = AsyncIo::<S, V0_2>::new(&self.inner);
        Box::pin(
            self.engine
                .list(&io, primary_namespace, secondary_namespace),
        )
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

impl KVStore for MemoryStore {
    fn read(&self, p: &str, s: &str, key: &str) -> AsyncResult<'static, Vec<u8>, io::Error> {
        let r = self.get(p, s, key);
        Box::pin(async move { r })
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        let r = self.put(p, s, key, buf);
        Box::pin(async move { r })
    }
    fn remove(
        &self,
        p: &str,
        s: &str,
        key: &str,
        _lazy: bool,
    ) -> AsyncResult<'static, (), io::Error> {
        let r = self.delete(p, s, key);
        Box::pin(async move { r })
    }
    fn list(&self, p: &str, s: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        let r = self.keys_in(p, s);
        Box::pin(async move { r })
    }
}

impl MigratableKVStore for MemoryStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        self.all_keys()
    }
}

#[cfg(test)]
mod tests {
    use lightning::util::persist::{
        ARCHIVED_CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
        CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE, KVSTORE_NAMESPACE_KEY_ALPHABET,
        KVSTORE_NAMESPACE_KEY_MAX_LEN,
    };

    /// The core's copies of LDK's naming constants are this version's.
    #[test]
    fn core_constants_are_ldk_0_2s() {
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
