//! ldk-node's SQLite database (`ldk_node_data.sqlite`, table `ldk_node_data`) as an LDK
//! key-value store, read and written with exactly the schema and `user_version` ldk-node 0.7
//! (`ldk_node::io::sqlite_store::SqliteStore`) uses, so a database this tool writes opens
//! unchanged in ldk-node.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use lightning::io;
use lightning::util::persist::{KVStoreSync, MigratableKVStore};
use rusqlite::types::ValueRef;
use rusqlite::{named_params, Connection, OpenFlags, OptionalExtension};

use crate::fail::{Failure, Kind};

/// ldk-node's table.
pub const TABLE: &str = "ldk_node_data";
/// ldk-node's schema version (`PRAGMA user_version`). Other versions are refused: version 1
/// has another schema, and a later one is not known to this tool.
pub const USER_VERSION: u32 = 2;

/// ldk-node 0.7's `CREATE TABLE` statement, byte for byte, so the schema SQLite records for a
/// database this tool writes is the one ldk-node itself records.
fn create_table_sql() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (
			primary_namespace TEXT NOT NULL,
			secondary_namespace TEXT DEFAULT \"\" NOT NULL,
			key TEXT NOT NULL CHECK (key <> ''),
			value BLOB, PRIMARY KEY ( primary_namespace, secondary_namespace, key )
			);"
    )
}

/// The columns ldk-node's table has, in order.
const COLUMNS: [&str; 4] = ["primary_namespace", "secondary_namespace", "key", "value"];

/// One ldk-node SQLite database opened by this tool.
pub struct SqliteKv {
    conn: Mutex<Connection>,
    path: PathBuf,
}

fn sql_err(e: rusqlite::Error) -> io::Error {
    io::Error::new(io::ErrorKind::Other, e.to_string())
}

impl SqliteKv {
    /// Opens an existing ldk-node database. `writable` is false for every command that only
    /// reads (SQLite then opens the file read-only). Refuses (exit 5, or 4 with
    /// `not_store = Kind::NotEncrypted`) a file that is not an ldk-node database of the schema
    /// version this tool knows.
    pub fn open(path: &Path, writable: bool, not_store: Kind) -> Result<SqliteKv, Failure> {
        let flags = if writable {
            OpenFlags::SQLITE_OPEN_READ_WRITE
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| Failure::new(Kind::Io, format!("cannot open {}: {e}", path.display())))?;
        let not = |why: String| {
            Failure::new(
                not_store,
                format!(
                    "{} is not an ldk-node SQLite database: {why}",
                    path.display()
                ),
            )
        };
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| not(e.to_string()))?;
        let columns: Vec<String> = {
            let mut stmt = conn
                .prepare(&format!(
                    "SELECT name FROM pragma_table_info('{TABLE}') ORDER BY cid"
                ))
                .map_err(|e| not(e.to_string()))?;
            let rows = stmt
                .query_map([], |r| r.get(0))
                .map_err(|e| not(e.to_string()))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| not(e.to_string()))?
        };
        if columns.is_empty() {
            return Err(not(format!("it has no table {TABLE}")));
        }
        if columns != COLUMNS {
            return Err(not(format!(
                "its table {TABLE} has the columns ({}), not ({})",
                columns.join(", "),
                COLUMNS.join(", ")
            )));
        }
        if version != USER_VERSION {
            return Err(not(format!(
                "its schema version (PRAGMA user_version) is {version}; this tool knows \
                 version {USER_VERSION} (ldk-node 0.7). Open it once with ldk-node to migrate it"
            )));
        }
        Ok(SqliteKv {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Creates a new, empty database at `path` (which must not exist) with ldk-node's schema
    /// and `user_version`. Writes are not synced one by one (`PRAGMA synchronous = OFF`, a
    /// setting of this connection only, not of the file): the database is a staging copy that
    /// is discarded if the run is interrupted, and [`SqliteKv::close_and_sync`] syncs it once
    /// before it is put in place.
    pub fn create(path: &Path) -> Result<SqliteKv, Failure> {
        let io_fail = |e: rusqlite::Error| {
            Failure::new(Kind::Io, format!("cannot create {}: {e}", path.display()))
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(io_fail)?;
        conn.pragma_update(None, "synchronous", "OFF")
            .map_err(io_fail)?;
        conn.pragma_update(None, "user_version", USER_VERSION)
            .map_err(io_fail)?;
        conn.execute(&create_table_sql(), []).map_err(io_fail)?;
        Ok(SqliteKv {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    /// Closes the database and flushes the file to disk.
    pub fn close_and_sync(self) -> Result<(), Failure> {
        let path = self.path.clone();
        let conn = self.conn.into_inner().unwrap_or_else(|p| p.into_inner());
        conn.close().map_err(|(_, e)| {
            Failure::new(Kind::Io, format!("cannot close {}: {e}", path.display()))
        })?;
        std::fs::File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(|e| crate::fail::io("cannot sync", &path, &e))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KVStoreSync for SqliteKv {
    fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, io::Error> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT value FROM {TABLE} WHERE primary_namespace=:p AND \
                 secondary_namespace=:s AND key=:k"
            ))
            .map_err(sql_err)?;
        // ldk-node writes blobs; a row changed by anything else may hold another type. Text is
        // read as its bytes and NULL as no bytes (an encrypted store then refuses them as it
        // refuses any bytes that do not authenticate); a number is not a value at all.
        let value: Option<Result<Vec<u8>, &'static str>> = stmt
            .query_row(named_params! {":p": p, ":s": s, ":k": k}, |r| {
                Ok(match r.get_ref(0)? {
                    ValueRef::Blob(b) | ValueRef::Text(b) => Ok(b.to_vec()),
                    ValueRef::Null => Ok(Vec::new()),
                    ValueRef::Integer(_) | ValueRef::Real(_) => {
                        Err("the value is a number, not bytes")
                    }
                })
            })
            .optional()
            .map_err(sql_err)?;
        match value {
            Some(Ok(v)) => Ok(v),
            Some(Err(why)) => Err(io::Error::new(io::ErrorKind::InvalidData, why)),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "key not found")),
        }
    }

    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO {TABLE} (primary_namespace, secondary_namespace, key, \
                 value) VALUES (:p, :s, :k, :v)"
            ))
            .map_err(sql_err)?;
        stmt.execute(named_params! {":p": p, ":s": s, ":k": k, ":v": buf})
            .map(|_| ())
            .map_err(sql_err)
    }

    fn remove(&self, p: &str, s: &str, k: &str, _lazy: bool) -> Result<(), io::Error> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "DELETE FROM {TABLE} WHERE primary_namespace=:p AND secondary_namespace=:s \
                 AND key=:k"
            ))
            .map_err(sql_err)?;
        stmt.execute(named_params! {":p": p, ":s": s, ":k": k})
            .map(|_| ())
            .map_err(sql_err)
    }

    fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT key FROM {TABLE} WHERE primary_namespace=:p AND secondary_namespace=:s"
            ))
            .map_err(sql_err)?;
        let rows = stmt
            .query_map(named_params! {":p": p, ":s": s}, |r| r.get(0))
            .map_err(sql_err)?;
        rows.collect::<Result<_, _>>().map_err(sql_err)
    }
}

impl MigratableKVStore for SqliteKv {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(&format!(
                "SELECT primary_namespace, secondary_namespace, key FROM {TABLE}"
            ))
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(sql_err)?;
        rows.collect::<Result<_, _>>().map_err(sql_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_database_reopens_with_the_schema_checked() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("ldk_node_data.sqlite");
        let db = SqliteKv::create(&path).unwrap();
        db.write("payments", "", "abc", b"v".to_vec()).unwrap();
        db.write("", "", "events", Vec::new()).unwrap();
        db.close_and_sync().unwrap();
        let db = SqliteKv::open(&path, false, Kind::NotFilesystemStore).unwrap();
        assert_eq!(db.read("payments", "", "abc").unwrap(), b"v");
        assert_eq!(db.read("", "", "events").unwrap(), b"");
        assert_eq!(
            db.read("payments", "", "x").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        let mut all = db.list_all_keys().unwrap();
        all.sort();
        assert_eq!(all.len(), 2);
        assert!(db.write("p", "", "k", vec![1]).is_err(), "read-only");
        drop(db);

        // Rows changed by something else than ldk-node: text reads as its bytes, NULL as none,
        // a number is refused.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO {TABLE} VALUES ('t', '', 'text', 'abc'); \
             INSERT INTO {TABLE} VALUES ('t', '', 'null', NULL); \
             INSERT INTO {TABLE} VALUES ('t', '', 'number', 42);"
        ))
        .unwrap();
        drop(conn);
        let db = SqliteKv::open(&path, false, Kind::NotFilesystemStore).unwrap();
        assert_eq!(db.read("t", "", "text").unwrap(), b"abc");
        assert_eq!(db.read("t", "", "null").unwrap(), b"");
        assert_eq!(
            db.read("t", "", "number").unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn other_files_and_schema_versions_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let text = d.path().join("notes.txt");
        std::fs::write(&text, b"this is not a database, just text of some length").unwrap();
        assert_eq!(
            SqliteKv::open(&text, false, Kind::NotFilesystemStore)
                .err()
                .unwrap()
                .kind,
            Kind::NotFilesystemStore
        );
        let v1 = d.path().join("v1.sqlite");
        let conn = Connection::open(&v1).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA user_version = 1; CREATE TABLE {TABLE} (namespace TEXT, key TEXT, value BLOB);"
        ))
        .unwrap();
        drop(conn);
        let e = SqliteKv::open(&v1, false, Kind::NotEncrypted)
            .err()
            .unwrap();
        assert_eq!(e.kind, Kind::NotEncrypted);
        assert!(e.msg.contains("columns"), "{}", e.msg);
        let other = d.path().join("other.sqlite");
        let conn = Connection::open(&other).unwrap();
        conn.execute_batch("CREATE TABLE t (x);").unwrap();
        drop(conn);
        assert!(SqliteKv::open(&other, false, Kind::NotFilesystemStore)
            .err()
            .unwrap()
            .msg
            .contains("no table"));
    }
}
