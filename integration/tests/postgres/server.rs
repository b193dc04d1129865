//! What the PostgreSQL suite needs besides the store, over the workspace's shared test support
//! (`encrypted_kvstore_postgres::test_support`: the servers from the environment, skipping
//! without them, private clusters, table names): one runtime for every store's connection,
//! plain SQL to look at (and break) what the stores wrote, and reconnecting while a dropped
//! store's lock is released.

#![allow(
    dead_code, // the 0.2 and 0.3 suites use different subsets
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use encrypted_kvstore_postgres::test_support::{pg_env, unique_table as table, PrivateCluster};
use tokio_postgres::{NoTls, Row};

/// The multi-thread runtime every store's connection task runs on (one per test binary). The
/// store itself starts no thread; this runtime's workers drive the connections.
pub fn runtime() -> tokio::runtime::Handle {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(encrypted_kvstore_postgres::test_support::runtime)
        .handle()
        .clone()
}

/// A plain SQL connection, for looking at the rows a store wrote and for changing them as an
/// attacker with access to the database would.
pub struct Sql {
    client: tokio_postgres::Client,
}

impl Sql {
    /// Connects to `url`.
    pub fn connect(url: &str) -> Sql {
        let rt = runtime();
        let client = rt.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
            tokio::spawn(connection);
            client
        });
        Sql { client }
    }

    /// Runs `sql` (no parameters) and returns its rows.
    pub fn query(&self, sql: &str) -> Vec<Row> {
        runtime()
            .block_on(self.client.query(sql, &[]))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Runs statements (no parameters, no rows).
    pub fn batch(&self, sql: &str) {
        runtime()
            .block_on(self.client.batch_execute(sql))
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every row of `table` as the store keeps it: `(primary, secondary, key, value)`.
    pub fn rows(&self, table: &str) -> Vec<(String, String, String, Vec<u8>)> {
        self.query(&format!(
            "SELECT primary_namespace, secondary_namespace, key, value FROM {table} \
             ORDER BY primary_namespace, secondary_namespace, key"
        ))
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
    }
}

/// Retries `connect` for a few seconds: a store's advisory lock is released when the server
/// ends the session of a dropped store, which can come a moment after the drop.
pub fn retrying<T, E: std::fmt::Debug>(mut connect: impl FnMut() -> Result<T, E>) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match connect() {
            Ok(t) => return t,
            Err(e) if Instant::now() > deadline => panic!("could not connect: {e:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
