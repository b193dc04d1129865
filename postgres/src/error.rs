//! [`PostgresError`], the one error type of this crate, and its mapping to `lightning::io::Error`.

use core::fmt;

use bitcoin::io;

/// Why a [`PostgresStore`](crate::PostgresStore) could not connect or could not serve a request.
///
/// At the LDK trait edge it travels inside an `io::Error` of the kind [`PostgresError::kind`]
/// gives; downcast with `err.get_ref().and_then(|e| e.downcast_ref::<PostgresError>())`.
///
/// No message holds the connection URL or its password: the URL is parsed once and never
/// repeated, and the client library's errors name neither.
#[derive(Debug)]
#[non_exhaustive]
pub enum PostgresError {
    /// The runtime handle given to `connect` is not a multi-thread tokio runtime (the store's
    /// synchronous methods block on a task of that runtime, which a current-thread runtime could
    /// not run meanwhile).
    NotMultiThreadRuntime,
    /// The connection URL could not be parsed. Its text is not repeated: it may hold a password.
    InvalidUrl,
    /// The table name is not a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes).
    InvalidTableName {
        /// The refused name, at most its first 64 characters.
        name: String,
    },
    /// A namespace or key breaks LDK's rules: the alphabet `A-Za-z0-9_-`, at most 120
    /// characters, a non-empty key, and no secondary namespace without a primary namespace.
    InvalidName {
        /// What is wrong.
        reason: &'static str,
    },
    /// A page token this store did not make (0.3's paginated listing).
    InvalidPageToken,
    /// The server could not be reached, or refused the session.
    Connect {
        /// The client library's error (it names neither the URL nor the password).
        source: tokio_postgres::Error,
    },
    /// Another writer holds the table's advisory lock: only one writable store per table.
    Locked {
        /// The database.
        database: String,
        /// The table.
        table: String,
    },
    /// A writable store was pointed at a server in recovery (a standby): it cannot be written.
    StandbyServer,
    /// A read-only store found no table of that name (a read-only store never creates it).
    NoTable {
        /// The table.
        table: String,
    },
    /// The table's comment holds a schema version this crate does not know.
    UnsupportedSchema {
        /// The table.
        table: String,
        /// The comment found, at most its first 64 characters.
        found: String,
    },
    /// No value is stored under that key (LDK expects the kind `NotFound`).
    NotFound,
    /// A write or a remove asked of a read-only store.
    ReadOnly,
    /// A statement failed on the server, or the connection was lost during it (the next
    /// request reconnects).
    Database {
        /// The store operation.
        operation: &'static str,
        /// The client library's error.
        source: tokio_postgres::Error,
    },
    /// The connection was lost while a request was in flight; its effect is unknown (a write
    /// may or may not have been committed). The next request reconnects.
    ConnectionLost {
        /// The store operation.
        operation: &'static str,
    },
    /// A row read back breaks the table's rules (a NULL value, a name LDK would refuse, a
    /// negative sort order): the table was written by something else.
    InvalidRow {
        /// What is wrong.
        reason: &'static str,
    },
    /// The store's task is gone: its runtime was shut down.
    Closed,
}

impl PostgresError {
    /// The `io::ErrorKind` this error travels under at the LDK trait edge.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Self::NotMultiThreadRuntime
            | Self::InvalidUrl
            | Self::InvalidTableName { .. }
            | Self::InvalidName { .. }
            | Self::InvalidPageToken => io::ErrorKind::InvalidInput,
            Self::Connect { .. } => io::ErrorKind::ConnectionRefused,
            // ldk-node's PostgresStore reports its lock under the same kind.
            Self::Locked { .. } => io::ErrorKind::AlreadyExists,
            Self::StandbyServer | Self::ReadOnly => io::ErrorKind::PermissionDenied,
            Self::NoTable { .. } | Self::NotFound => io::ErrorKind::NotFound,
            Self::UnsupportedSchema { .. } | Self::InvalidRow { .. } => io::ErrorKind::InvalidData,
            Self::ConnectionLost { .. } => io::ErrorKind::ConnectionAborted,
            Self::Database { .. } | Self::Closed => io::ErrorKind::Other,
        }
    }
}

impl fmt::Display for PostgresError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotMultiThreadRuntime => {
                f.write_str("the PostgreSQL store needs a multi-thread tokio runtime")
            }
            Self::InvalidUrl => f.write_str(
                "the PostgreSQL connection URL could not be parsed (not shown: it may hold a password)",
            ),
            Self::InvalidTableName { name } => write!(
                f,
                "invalid table name {name:?}: a plain identifier [A-Za-z_][A-Za-z0-9_]*, at most 63 bytes"
            ),
            Self::InvalidName { reason } => write!(f, "invalid namespace or key: {reason}"),
            Self::InvalidPageToken => f.write_str("invalid page token: not one this store made"),
            Self::Connect { source } => {
                write!(f, "could not connect to PostgreSQL: ")?;
                chain(f, source)
            }
            Self::Locked { database, table } => write!(
                f,
                "table {table:?} of database {database:?} is locked by another writer \
                 (its advisory lock is held by another session)"
            ),
            Self::StandbyServer => f.write_str(
                "the PostgreSQL server is a standby (in recovery): a writable store needs the primary",
            ),
            Self::NoTable { table } => write!(
                f,
                "table {table:?} does not exist (a read-only store never creates it)"
            ),
            Self::UnsupportedSchema { table, found } => write!(
                f,
                "table {table:?} has schema version {found:?}, this store knows version 1"
            ),
            Self::NotFound => f.write_str("no value is stored under that key"),
            Self::ReadOnly => f.write_str("the PostgreSQL store is read-only"),
            Self::Database { operation, source } => {
                write!(f, "PostgreSQL {operation} failed: ")?;
                chain(f, source)
            }
            Self::ConnectionLost { operation } => write!(
                f,
                "the PostgreSQL connection was lost during {operation} (its effect is unknown)"
            ),
            Self::InvalidRow { reason } => write!(f, "invalid row in the PostgreSQL table: {reason}"),
            Self::Closed => f.write_str("the PostgreSQL store's task has ended (runtime shut down)"),
        }
    }
}

impl std::error::Error for PostgresError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect { source } | Self::Database { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<PostgresError> for io::Error {
    fn from(e: PostgresError) -> Self {
        io::Error::new(e.kind(), e)
    }
}

/// The client library's error and its causes (its own Display stops at "db error").
fn chain(f: &mut fmt::Formatter<'_>, error: &tokio_postgres::Error) -> fmt::Result {
    write!(f, "{error}")?;
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        write!(f, ": {c}")?;
        cause = c.source();
    }
    Ok(())
}

/// At most the first 64 characters of a string read from the server or given by a caller, for
/// an error message.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}
