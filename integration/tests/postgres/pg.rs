//! `PostgresStore` as the suites use it: shared through `SharedStore` (one connection per
//! table, cloned where a test writes behind the wrapper's back), a table of its own per test.

#![allow(
    dead_code, // every file of the suite uses a different subset
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use crate::server::{retrying, runtime, table};
use encrypted_kvstore::SharedStore;
use encrypted_kvstore_postgres::{PostgresOptions, PostgresStore};

/// The inner store of every encrypted store in the suite: one `PostgresStore`, shareable.
pub type Pg = SharedStore<PostgresStore>;

/// A writable store over `table` at `url` (retried while a dropped store's lock is released).
pub fn connect(url: &str, table: &str) -> Pg {
    SharedStore(Arc::new(retrying(|| {
        PostgresOptions::new().table(table).connect(url, runtime())
    })))
}

/// A read-only store over `table` at `url`: no lock, no write, no table created.
pub fn connect_read_only(url: &str, table: &str) -> Pg {
    SharedStore(Arc::new(
        PostgresOptions::new()
            .table(table)
            .read_only()
            .connect(url, runtime())
            .unwrap(),
    ))
}

/// A writable store over a new table of its own at `url`, and the table's name.
pub fn fresh(url: &str, tag: &str) -> (Pg, String) {
    let name = table(tag);
    (connect(url, &name), name)
}
