//! The table: ldk-node's layout, its SQL, and the advisory lock id.
//!
//! The layout, the schema version in the table comment, the paginated index, the page size and
//! the page tokens (the decimal `sort_order` of a page's last key) are ldk-node's, so a node can
//! move between this store and ldk-node's `PostgresStore` on the same table, and the lock id is
//! derived the same way, so the two exclude each other.

use bitcoin::hashes::{sha256, Hash, HashEngine};

/// The schema version this crate reads and writes (the table comment).
pub(crate) const SCHEMA_VERSION: u16 = 1;

/// Keys per page of 0.3's paginated listing.
pub(crate) const PAGE_SIZE: usize = 50;

/// One table's names and statements.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// As configured: a plain identifier (checked by `names::check_table`).
    pub(crate) name: String,
    /// Quoted for SQL.
    pub(crate) quoted: String,
}

impl Table {
    /// `name` must have passed `names::check_table`.
    pub(crate) fn new(name: &str) -> Self {
        Table {
            name: name.to_owned(),
            quoted: format!("\"{name}\""),
        }
    }

    pub(crate) fn create(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\
             primary_namespace TEXT NOT NULL, \
             secondary_namespace TEXT NOT NULL DEFAULT '', \
             key TEXT NOT NULL CHECK (key <> ''), \
             value BYTEA, \
             sort_order BIGSERIAL CHECK (sort_order >= 0), \
             PRIMARY KEY (primary_namespace, secondary_namespace, key))",
            self.quoted
        )
    }

    /// Whether the table exists, and its comment.
    pub(crate) const INSPECT: &'static str =
        "SELECT to_regclass($1) IS NOT NULL, obj_description(to_regclass($1), 'pg_class')";

    pub(crate) fn set_version(&self) -> String {
        format!("COMMENT ON TABLE {} IS '{SCHEMA_VERSION}'", self.quoted)
    }

    pub(crate) fn create_index(&self) -> String {
        format!(
            "CREATE INDEX IF NOT EXISTS \"idx_{}_paginated\" ON {} \
             (primary_namespace, secondary_namespace, sort_order DESC, key ASC)",
            self.name, self.quoted
        )
    }

    pub(crate) fn read(&self) -> String {
        format!(
            "SELECT value FROM {} \
             WHERE primary_namespace = $1 AND secondary_namespace = $2 AND key = $3",
            self.quoted
        )
    }

    /// Autocommit upsert: a new key takes the next `sort_order`, an overwrite keeps its own.
    pub(crate) fn write(&self) -> String {
        format!(
            "INSERT INTO {} (primary_namespace, secondary_namespace, key, value) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (primary_namespace, secondary_namespace, key) \
             DO UPDATE SET value = EXCLUDED.value",
            self.quoted
        )
    }

    pub(crate) fn remove(&self) -> String {
        format!(
            "DELETE FROM {} \
             WHERE primary_namespace = $1 AND secondary_namespace = $2 AND key = $3",
            self.quoted
        )
    }

    pub(crate) fn list(&self) -> String {
        format!(
            "SELECT key FROM {} WHERE primary_namespace = $1 AND secondary_namespace = $2",
            self.quoted
        )
    }

    pub(crate) fn list_all(&self) -> String {
        format!(
            "SELECT primary_namespace, secondary_namespace, key FROM {}",
            self.quoted
        )
    }

    /// Newest created first; `$3` is the page size plus one (is there a next page?).
    pub(crate) fn first_page(&self) -> String {
        format!(
            "SELECT key, sort_order FROM {} \
             WHERE primary_namespace = $1 AND secondary_namespace = $2 \
             ORDER BY sort_order DESC, key ASC LIMIT $3",
            self.quoted
        )
    }

    /// The page after the token's `sort_order` (`$3`); a deleted token entry resumes at the
    /// next older key.
    pub(crate) fn next_page(&self) -> String {
        format!(
            "SELECT key, sort_order FROM {} \
             WHERE primary_namespace = $1 AND secondary_namespace = $2 AND sort_order < $3 \
             ORDER BY sort_order DESC, key ASC LIMIT $4",
            self.quoted
        )
    }
}

/// The advisory lock id of one table in one database: the first 8 bytes (big-endian) of
/// SHA-256("ldk-node:postgres-store" ‖ for each of database, table: its length as a big-endian
/// u64 ‖ its bytes), as ldk-node derives it.
pub(crate) fn lock_id(database: &str, table: &str) -> i64 {
    let mut engine = sha256::Hash::engine();
    engine.input(b"ldk-node:postgres-store");
    for part in [database, table] {
        engine.input(&(part.len() as u64).to_be_bytes());
        engine.input(part.as_bytes());
    }
    let [b0, b1, b2, b3, b4, b5, b6, b7, ..] = sha256::Hash::from_engine(engine).to_byte_array();
    i64::from_be_bytes([b0, b1, b2, b3, b4, b5, b6, b7])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_id_depends_on_database_and_table() {
        let id = lock_id("postgres", "ldk_data");
        assert_eq!(id, lock_id("postgres", "ldk_data"));
        assert_ne!(id, lock_id("other", "ldk_data"));
        assert_ne!(id, lock_id("postgres", "ldk_data2"));
        // Lengths are part of the input: moving a byte between the names changes the id.
        assert_ne!(lock_id("ab", "c"), lock_id("a", "bc"));
    }

    #[test]
    fn lock_id_vector() {
        // Computed independently (Python's hashlib) from the framing in the doc comment.
        assert_eq!(lock_id("postgres", "ldk_data"), -6374305440626139688);
    }
}
