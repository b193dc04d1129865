//! `lightning` 0.2's store traits (feature `lightning-0-2`): `KVStoreSync`, `KVStore` and
//! `MigratableKVStore` for [`EncryptedStore`], [`SharedStore`] and [`MemoryStore`], and the
//! sealed header I/O the constructors use. Each method checks names, calls the store core and
//! maps its error; nothing else lives here.

use core::future::Future;

use lightning::io;
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{KVStore, KVStoreSync, MigratableKVStore};

use crate::io::sealed;
use crate::io::{complete_io, AsyncIo, SyncIo};
use crate::ldk::V0_2;
use crate::memory::MemoryStore;

use crate::store::{EncryptedStore, SharedStore};

impl<S: KVStoreSync + ?Sized> sealed::SyncIo<V0_2> for S {
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

impl<S: MigratableKVStore + ?Sized> sealed::ListAll<V0_2> for S {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        MigratableKVStore::list_all_keys(self)
    }
}

impl<S: KVStore + ?Sized> sealed::AsyncIo<V0_2> for S {
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
        let io = SyncIo::<S, V0_2>::new(&self.inner);
        complete_io(
            self.engine
                .read(&io, primary_namespace, secondary_namespace, key),
        )
    }

    fn write(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), io::Error> {
        let io = SyncIo::<S, V0_2>::new(&self.inner);
        self.engine
            .write_sync(&io, primary_namespace, secondary_namespace, key, buf)
    }

    fn remove(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
        key: &str,
        lazy: bool,
    ) -> Result<(), io::Error> {
        let io = SyncIo::<S, V0_2>::new(&self.inner);
        self.engine
            .remove_sync(&io, primary_namespace, secondary_namespace, key, lazy)
    }

    fn list(
        &self,
        primary_namespace: &str,
        secondary_namespace: &str,
    ) -> Result<Vec<String>, io::Error> {
        let io = SyncIo::<S, V0_2>::new(&self.inner);
        complete_io(
            self.engine
                .list(&io, primary_namespace, secondary_namespace),
        )
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
