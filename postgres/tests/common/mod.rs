//! Helpers the PostgreSQL store's test files share.
#![allow(dead_code)] // Each test file uses a part.
#![allow(clippy::expect_used, clippy::panic)] // Test helpers fail the test.

use encrypted_kvstore_postgres::test_support::PgEnv;
use encrypted_kvstore_postgres::PostgresError;
use tokio_postgres::NoTls;

/// The typed error inside an io::Error from the store.
pub fn typed(err: &bitcoin::io::Error) -> &PostgresError {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<PostgresError>())
        .unwrap_or_else(|| panic!("not a PostgresError: {err:?}"))
}

/// A plain client of the shared primary for the test's own SQL (inspection, sabotage), with its
/// connection driven on `runtime`.
pub fn admin(runtime: &tokio::runtime::Runtime, url: &str) -> tokio_postgres::Client {
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .expect("admin connects");
        tokio::spawn(connection);
        client
    })
}

/// `url` with `application_name` set, so the test can find the store's backend.
pub fn named(url: &str, application_name: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={application_name}")
}

/// Terminates every backend with that application name; returns how many.
pub fn terminate(runtime: &tokio::runtime::Runtime, env: &PgEnv, application_name: &str) -> i64 {
    let client = admin(runtime, &env.primary);
    runtime.block_on(async {
        let row = client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                &[&application_name],
            )
            .await
            .expect("terminate");
        row.get::<_, i64>(0)
    })
}

/// Drops the table (and its sequence with it), so tests leave nothing behind.
pub fn drop_table(runtime: &tokio::runtime::Runtime, url: &str, table: &str) {
    let client = admin(runtime, url);
    runtime.block_on(async {
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\""))
            .await
            .expect("drop table");
    });
}
