//! `lightning` 0.3's store traits (feature `lightning-0-3`): `KVStoreSync`, `KVStore`,
//! `MigratableKVStoreSync`, `MigratableKVStore`, `PaginatedKVStoreSync`, `PaginatedKVStore`.
//!
//! Pages hold 50 keys, newest created first (ties by key); a page token is the decimal
//! `sort_order` of the page's last key, as ldk-node makes them, so tokens carry over between
//! the two stores. A token whose key was removed since still resumes at the next older key.

use core::future::Future;

use lightning_0_3::io;
use lightning_0_3::util::persist::{
    KVStore, KVStoreSync, MigratableKVStore, MigratableKVStoreSync, PageToken, PaginatedKVStore,
    PaginatedKVStoreSync, PaginatedListResponse,
};

use crate::store::PostgresStore;
use crate::task::Page;

fn response(page: Page) -> PaginatedListResponse {
    PaginatedListResponse {
        keys: page.keys,
        next_page_token: page.next.map(|order| PageToken::new(order.to_string())),
    }
}

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
    fn read(
        &self,
        p: &str,
        s: &str,
        k: &str,
    ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + Send + 'static {
        self.run_async(Self::read_op(p, s, k))
    }
    fn write(
        &self,
        p: &str,
        s: &str,
        k: &str,
        buf: Vec<u8>,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        self.run_async(self.write_op(p, s, k, buf))
    }
    fn remove(
        &self,
        p: &str,
        s: &str,
        k: &str,
        _lazy: bool,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        self.run_async(self.remove_op(p, s, k))
    }
    fn list(
        &self,
        p: &str,
        s: &str,
    ) -> impl Future<Output = Result<Vec<String>, io::Error>> + Send + 'static {
        self.run_async(Self::list_op(p, s))
    }
}

impl MigratableKVStoreSync for PostgresStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        self.run(Ok(Self::list_all_op()))
    }
}

impl MigratableKVStore for PostgresStore {
    fn list_all_keys(
        &self,
    ) -> impl Future<Output = Result<Vec<(String, String, String)>, io::Error>> + Send + 'static
    {
        self.run_async(Ok(Self::list_all_op()))
    }
}

impl PaginatedKVStoreSync for PostgresStore {
    fn list_paginated(
        &self,
        p: &str,
        s: &str,
        page_token: Option<PageToken>,
    ) -> Result<PaginatedListResponse, io::Error> {
        let token = page_token.as_ref().map(PageToken::as_str);
        self.run(Self::page_op(p, s, token)).map(response)
    }
}

impl PaginatedKVStore for PostgresStore {
    fn list_paginated(
        &self,
        p: &str,
        s: &str,
        page_token: Option<PageToken>,
    ) -> impl Future<Output = Result<PaginatedListResponse, io::Error>> + Send + 'static {
        let token = page_token.as_ref().map(PageToken::as_str);
        let page = self.run_async(Self::page_op(p, s, token));
        async move { page.await.map(response) }
    }
}
