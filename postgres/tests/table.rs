//! The table on the server: ldk-node's layout and schema version, what a read-only store does
//! with a missing table, an unknown schema version refused, and rows the store would never
//! write refused with typed errors.

// Helpers outside #[test] functions fail the test as the tests themselves do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use bitcoin::io::ErrorKind;
use common::{admin, typed};
use encrypted_kvstore_postgres::test_support::{pg_env, runtime, unique_table};
use encrypted_kvstore_postgres::{PostgresError, PostgresOptions};

#[cfg(feature = "lightning-0-2")]
use lightning::util::persist::{KVStoreSync, MigratableKVStore as ListAll};
#[cfg(all(feature = "lightning-0-3", not(feature = "lightning-0-2")))]
use lightning_0_3::util::persist::{KVStoreSync, MigratableKVStoreSync as ListAll};

#[test]
fn ldk_node_layout_and_schema_version() {
    let Some(env) = pg_env("table::ldk_node_layout_and_schema_version") else {
        return;
    };
    let rt = runtime();
    let table = unique_table("layout");
    let store = PostgresOptions::new()
        .table(&table)
        .connect(&env.primary, rt.handle().clone())
        .unwrap();
    KVStoreSync::write(&store, "p", "s", "a", b"1".to_vec()).unwrap();
    KVStoreSync::write(&store, "p", "s", "b", b"2".to_vec()).unwrap();
    KVStoreSync::write(&store, "p", "s", "a", b"3".to_vec()).unwrap();
    let client = admin(&rt, &env.primary);
    rt.block_on(async {
        let columns = client
            .query(
                "SELECT column_name, data_type, is_nullable, coalesce(column_default, '') \
                 FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
                &[&table],
            )
            .await
            .unwrap();
        let columns: Vec<(String, String, String, String)> = columns
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let shape: Vec<(&str, &str, &str)> = columns
            .iter()
            .map(|(n, t, null, _)| (n.as_str(), t.as_str(), null.as_str()))
            .collect();
        assert_eq!(
            shape,
            [
                ("primary_namespace", "text", "NO"),
                ("secondary_namespace", "text", "NO"),
                ("key", "text", "NO"),
                ("value", "bytea", "YES"),
                ("sort_order", "bigint", "NO"),
            ]
        );
        assert_eq!(columns[1].3, "''::text");
        assert!(
            columns[4].3.starts_with("nextval("),
            "sort_order is a BIGSERIAL: {}",
            columns[4].3
        );

        let primary_key: Vec<String> = client
            .query(
                "SELECT a.attname FROM pg_index i \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indrelid = to_regclass($1) AND i.indisprimary ORDER BY a.attnum",
                &[&format!("\"{table}\"")],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(
            primary_key,
            ["primary_namespace", "secondary_namespace", "key"]
        );

        let row = client
            .query_one(
                "SELECT obj_description(to_regclass($1), 'pg_class')",
                &[&format!("\"{table}\"")],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, Option<String>>(0).as_deref(), Some("1"));
        let index = client
            .query_one(
                "SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexname = $2",
                &[&table, &format!("idx_{table}_paginated")],
            )
            .await
            .unwrap();
        assert_eq!(index.get::<_, i64>(0), 1);

        // sort_order: assigned at creation, kept by an overwrite.
        let rows = client
            .query(
                &format!("SELECT key, sort_order FROM \"{table}\" ORDER BY sort_order"),
                &[],
            )
            .await
            .unwrap();
        let keys: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        assert_eq!(keys, ["a", "b"]);

        // Empty and missing names are refused by the table itself too.
        let err = client
            .execute(
                &format!(
                    "INSERT INTO \"{table}\" (primary_namespace, key, value) VALUES ('p', '', '')"
                ),
                &[],
            )
            .await
            .unwrap_err();
        assert_eq!(
            err.code(),
            Some(&tokio_postgres::error::SqlState::CHECK_VIOLATION),
            "{err:?}"
        );
    });
    drop(store);
    common::drop_table(&rt, &env.primary, &table);
}

#[test]
fn read_only_never_creates_the_table() {
    let Some(env) = pg_env("table::read_only_never_creates_the_table") else {
        return;
    };
    let rt = runtime();
    let table = unique_table("absent");
    let err = PostgresOptions::new()
        .table(&table)
        .read_only()
        .connect(&env.primary, rt.handle().clone())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    match typed(&err) {
        PostgresError::NoTable { table: t } => assert_eq!(t, &table),
        other => panic!("expected NoTable, got {other:?}"),
    }
    assert!(err.to_string().contains(&table), "{err}");
    let client = admin(&rt, &env.primary);
    let exists: bool = rt
        .block_on(client.query_one(
            "SELECT to_regclass($1) IS NOT NULL",
            &[&format!("\"{table}\"")],
        ))
        .unwrap()
        .get(0);
    assert!(!exists);
}

#[test]
fn unknown_schema_versions_are_refused() {
    let Some(env) = pg_env("table::unknown_schema_versions_are_refused") else {
        return;
    };
    let rt = runtime();
    let client = admin(&rt, &env.primary);
    for comment in ["2", "0", "junk", "1; DROP", &"9".repeat(200)] {
        let table = unique_table("schema");
        drop(
            PostgresOptions::new()
                .table(&table)
                .connect(&env.primary, rt.handle().clone())
                .unwrap(),
        );
        rt.block_on(client.batch_execute(&format!(
            "COMMENT ON TABLE \"{table}\" IS '{}'",
            comment.replace('\'', "''")
        )))
        .unwrap();
        for read_only in [false, true] {
            let options = PostgresOptions::new().table(&table);
            let options = if read_only {
                options.read_only()
            } else {
                options
            };
            let err = options
                .connect(&env.primary, rt.handle().clone())
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidData, "{comment:?}");
            match typed(&err) {
                PostgresError::UnsupportedSchema { found, .. } => {
                    assert!(
                        found.len() <= 64 && comment.starts_with(found.as_str()),
                        "{found:?}"
                    )
                }
                other => panic!("expected UnsupportedSchema, got {other:?}"),
            }
        }
        common::drop_table(&rt, &env.primary, &table);
    }
}

#[test]
fn rows_the_store_never_writes_are_refused() {
    let Some(env) = pg_env("table::rows_the_store_never_writes_are_refused") else {
        return;
    };
    let rt = runtime();
    let table = unique_table("hostile");
    let store = PostgresOptions::new()
        .table(&table)
        .connect(&env.primary, rt.handle().clone())
        .unwrap();
    KVStoreSync::write(&store, "p", "s", "good", b"v".to_vec()).unwrap();
    let client = admin(&rt, &env.primary);
    rt.block_on(client.batch_execute(&format!(
        "INSERT INTO \"{table}\" (primary_namespace, secondary_namespace, key, value) VALUES \
         ('p', 's', 'null_value', NULL), ('p', 's', 'bad/key', 'x'), ('q', '', 'k', 'x')"
    )))
    .unwrap();

    assert_eq!(KVStoreSync::read(&store, "p", "s", "good").unwrap(), b"v");
    let err = KVStoreSync::read(&store, "p", "s", "null_value").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(matches!(typed(&err), PostgresError::InvalidRow { .. }));
    // A listing with a name LDK refuses is refused whole; other pairs still list.
    let err = KVStoreSync::list(&store, "p", "s").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData);
    assert!(matches!(typed(&err), PostgresError::InvalidRow { .. }));
    assert_eq!(KVStoreSync::list(&store, "q", "").unwrap(), ["k"]);
    assert_eq!(
        ListAll::list_all_keys(&store).unwrap_err().kind(),
        ErrorKind::InvalidData
    );

    rt.block_on(client.batch_execute(&format!("DELETE FROM \"{table}\" WHERE key = 'bad/key'")))
        .unwrap();
    let mut keys = KVStoreSync::list(&store, "p", "s").unwrap();
    keys.sort();
    assert_eq!(keys, ["good", "null_value"]);
    drop(store);
    common::drop_table(&rt, &env.primary, &table);
}
