//! [`PostgresOptions`], [`PostgresStore`], and the two ways a call reaches the store's task.

use core::fmt;
use core::future::Future;
use std::time::Duration;

use bitcoin::io;
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Config;

use crate::error::PostgresError;
use crate::names;
use crate::sql::Table;
use crate::task::{self, AllKeys, Message, Op, Page, Reply};

/// The table ldk-node's `PostgresStore` uses by default.
pub const DEFAULT_TABLE: &str = "ldk_data";

/// How long dropping a store waits for its task to close the connection (and so release the
/// advisory lock) before giving up on the acknowledgement.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// How to connect: the table (default `ldk_data`) and whether the store is read-only.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    table: String,
    read_only: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl PostgresOptions {
    /// Table `ldk_data`, writable.
    pub fn new() -> Self {
        PostgresOptions {
            table: DEFAULT_TABLE.to_owned(),
            read_only: false,
        }
    }

    /// The table: a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes), checked at
    /// [`connect`](Self::connect) ([`PostgresError::InvalidTableName`]). Case matters (the
    /// name is quoted in SQL, as ldk-node quotes it).
    pub fn table(mut self, name: &str) -> Self {
        name.clone_into(&mut self.table);
        self
    }

    /// A read-only store: takes no lock (any number may run beside a writer, on the primary or
    /// on a standby), never writes, never creates the table (a missing table is
    /// [`PostgresError::NoTable`]); writes and removes fail with [`PostgresError::ReadOnly`].
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Connects (blocking) and checks the table: a writable store takes the table's advisory
    /// lock (another writer: [`PostgresError::Locked`]), refuses a standby
    /// ([`PostgresError::StandbyServer`]), and creates the table if it is missing.
    ///
    /// `url` is a libpq-style URL or key/value string (`postgresql://user:password@127.0.0.1:5432/db`);
    /// the connection is plain TCP (no TLS), meant for a server on the same machine or a
    /// trusted private link. The URL is never repeated in an error or in `Debug`.
    ///
    /// `runtime` must be a multi-thread tokio runtime with I/O enabled
    /// (`Builder::new_multi_thread().enable_all()`): the store's one connection is driven by a
    /// task spawned on it, and the synchronous methods block on that task's replies. A
    /// current-thread runtime is refused ([`PostgresError::NotMultiThreadRuntime`],
    /// `InvalidInput`). The store starts no thread of its own.
    ///
    /// Errors are [`PostgresError`]s inside an `io::Error` of the kind
    /// [`PostgresError::kind`] gives.
    pub fn connect(self, url: &str, runtime: Handle) -> Result<PostgresStore, io::Error> {
        self.connect_typed(url, runtime).map_err(io::Error::from)
    }

    fn connect_typed(self, url: &str, runtime: Handle) -> Result<PostgresStore, PostgresError> {
        if runtime.runtime_flavor() != RuntimeFlavor::MultiThread {
            return Err(PostgresError::NotMultiThreadRuntime);
        }
        names::check_table(&self.table)?;
        // The parse error is not kept: it could quote the URL.
        let config: Config = url.parse().map_err(|_| PostgresError::InvalidUrl)?;
        let table = Table::new(&self.table);
        let (requests, rx) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        drop(runtime.spawn(task::run(config, table, self.read_only, rx, ready_tx)));
        let connected = wait(|| ready_rx.recv()).map_err(|_| PostgresError::Closed)??;
        Ok(PostgresStore {
            requests,
            table: self.table,
            database: connected.database,
            read_only: self.read_only,
        })
    }
}

/// A plain LDK store over one PostgreSQL table, in ldk-node's layout
/// (`primary_namespace, secondary_namespace, key, value, sort_order`; schema version 1 in the
/// table comment). No encryption of its own: wrap it in an `EncryptedStore`.
///
/// One per table and process: share it with `Arc`. Every call is a request to the store's one
/// task, sent when the call is made and served in that order, so writes to a key land in call
/// order, also for the async methods (their futures only await the reply). A write that
/// returned `Ok` is committed (autocommit). Dropping the store closes its connection, which
/// releases the advisory lock.
pub struct PostgresStore {
    requests: mpsc::UnboundedSender<Message>,
    table: String,
    database: String,
    read_only: bool,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("database", &self.database)
            .field("table", &self.table)
            .field("read_only", &self.read_only)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A writable store on table `ldk_data`: `PostgresOptions::new().connect(url, runtime)`.
    pub fn connect(url: &str, runtime: Handle) -> Result<Self, io::Error> {
        PostgresOptions::new().connect(url, runtime)
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The database (`current_database()` of the connection).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// Whether the store is read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Sends a request now and blocks until it is served.
    fn call<T>(&self, op: impl FnOnce(Reply<T>) -> Op) -> Result<T, PostgresError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.requests
            .send(Message::Request(op(Reply::Blocking(tx))))
            .map_err(|_| PostgresError::Closed)?;
        wait(|| rx.recv()).map_err(|_| PostgresError::Closed)?
    }

    /// Sends a request now; the future awaits its reply.
    fn call_async<T: Send + 'static>(
        &self,
        op: impl FnOnce(Reply<T>) -> Op,
    ) -> impl Future<Output = Result<T, PostgresError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .requests
            .send(Message::Request(op(Reply::Async(tx))))
            .is_ok();
        async move {
            if !sent {
                return Err(PostgresError::Closed);
            }
            rx.await.map_err(|_| PostgresError::Closed)?
        }
    }

    fn writable(&self) -> Result<(), PostgresError> {
        if self.read_only {
            Err(PostgresError::ReadOnly)
        } else {
            Ok(())
        }
    }

    pub(crate) fn read_op(
        p: &str,
        s: &str,
        k: &str,
    ) -> Result<impl FnOnce(Reply<Vec<u8>>) -> Op, PostgresError> {
        names::check_key(p, s, k)?;
        let (primary, secondary, key) = (p.to_owned(), s.to_owned(), k.to_owned());
        Ok(move |reply| Op::Read {
            primary,
            secondary,
            key,
            reply,
        })
    }

    pub(crate) fn write_op(
        &self,
        p: &str,
        s: &str,
        k: &str,
        value: Vec<u8>,
    ) -> Result<impl FnOnce(Reply<()>) -> Op, PostgresError> {
        names::check_key(p, s, k)?;
        self.writable()?;
        let (primary, secondary, key) = (p.to_owned(), s.to_owned(), k.to_owned());
        Ok(move |reply| Op::Write {
            primary,
            secondary,
            key,
            value,
            reply,
        })
    }

    pub(crate) fn remove_op(
        &self,
        p: &str,
        s: &str,
        k: &str,
    ) -> Result<impl FnOnce(Reply<()>) -> Op, PostgresError> {
        names::check_key(p, s, k)?;
        self.writable()?;
        let (primary, secondary, key) = (p.to_owned(), s.to_owned(), k.to_owned());
        Ok(move |reply| Op::Remove {
            primary,
            secondary,
            key,
            reply,
        })
    }

    pub(crate) fn list_op(
        p: &str,
        s: &str,
    ) -> Result<impl FnOnce(Reply<Vec<String>>) -> Op, PostgresError> {
        names::check_list(p, s)?;
        let (primary, secondary) = (p.to_owned(), s.to_owned());
        Ok(move |reply| Op::List {
            primary,
            secondary,
            reply,
        })
    }

    pub(crate) fn list_all_op() -> impl FnOnce(Reply<AllKeys>) -> Op {
        |reply| Op::ListAll { reply }
    }

    /// `token` is a page token as text (the decimal `sort_order` of the last key of the
    /// previous page, as ldk-node makes them).
    #[cfg_attr(not(feature = "lightning-0-3"), allow(dead_code))]
    pub(crate) fn page_op(
        p: &str,
        s: &str,
        token: Option<&str>,
    ) -> Result<impl FnOnce(Reply<Page>) -> Op, PostgresError> {
        names::check_list(p, s)?;
        let below = match token {
            None => None,
            Some(t) => match t.parse::<i64>() {
                Ok(n) if n >= 0 && t.bytes().all(|b| b.is_ascii_digit()) => Some(n),
                _ => return Err(PostgresError::InvalidPageToken),
            },
        };
        let (primary, secondary) = (p.to_owned(), s.to_owned());
        Ok(move |reply| Op::Page {
            primary,
            secondary,
            below,
            reply,
        })
    }

    /// Blocking: sends the request made by `op` (or returns its error) and waits.
    pub(crate) fn run<T>(
        &self,
        op: Result<impl FnOnce(Reply<T>) -> Op, PostgresError>,
    ) -> Result<T, io::Error> {
        self.call(op?).map_err(io::Error::from)
    }

    /// Async: sends the request made by `op` now (or fails now); the future awaits the reply.
    pub(crate) fn run_async<T: Send + 'static>(
        &self,
        op: Result<impl FnOnce(Reply<T>) -> Op, PostgresError>,
    ) -> impl Future<Output = Result<T, io::Error>> + Send + 'static {
        let pending = op.map(|op| self.call_async(op));
        async move {
            match pending {
                Ok(reply) => reply.await.map_err(io::Error::from),
                Err(e) => Err(io::Error::from(e)),
            }
        }
    }
}

impl Drop for PostgresStore {
    /// Closes the connection (the advisory lock goes with it) and waits, at most 5 s, until
    /// the task says it has.
    fn drop(&mut self) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        if self.requests.send(Message::Shutdown(tx)).is_ok() {
            let _ = wait(|| rx.recv_timeout(CLOSE_WAIT));
        }
    }
}

/// Blocks on `f`. On a worker thread of a multi-thread runtime (the store's own, typically,
/// when a synchronous method is called from async code) the worker is handed over first, so
/// the tasks queued on it, the store's among them, keep running.
fn wait<T>(f: impl FnOnce() -> T) -> T {
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
