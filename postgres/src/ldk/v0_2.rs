//! `lightning` 0.2's store traits (feature `lightning-0-2`): `KVStoreSync`, `KVStore`,
//! `MigratableKVStore`.

use lightning::io;
use lightning::util::async_poll::AsyncResult;
use lightning::util::persist::{KVStore, KVStoreSync, MigratableKVStore};

use crate::store::PostgresStore;

impl KVStoreSync for PostgresStore {
    fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, io::Error> {
        self.run(Self::read_op(p, s, k))
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        self.run(self.write_op(p, s, k, buf))
    }
    fn remove(&self, p: &str, s: &str, k: &str, _lazy: bool) -> Result<(), io::Error> {
        self.run(self.remove_op(p, s, k))
    }
    fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
        self.run(Self::list_op(p, s))
    }
}

impl KVStore for PostgresStore {
    fn read(&self, p: &str, s: &str, k: &str) -> AsyncResult<'static, Vec<u8>, io::Error> {
        Box::pin(self.run_async(Self::read_op(p, s, k)))
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> AsyncResult<'static, (), io::Error> {
        Box::pin(self.run_async(self.write_op(p, s, k, buf)))
    }
    fn remove(
        &self,
        p: &str,
        s: &str,
        k: &str,
        _lazy: bool,
    ) -> AsyncResult<'static, (), io::Error> {
        Box::pin(self.run_async(self.remove_op(p, s, k)))
    }
    fn list(&self, p: &str, s: &str) -> AsyncResult<'static, Vec<String>, io::Error> {
        Box::pin(self.run_async(Self::list_op(p, s)))
    }
}

impl MigratableKVStore for PostgresStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        self.run(Ok(Self::list_all_op()))
    }
}
