//! The store's one task: it owns the connection, drives it, and serves requests one at a time
//! in the order they were sent.
//!
//! A lost connection fails the request in flight (its effect is unknown) and is re-opened by
//! the next request; a writable store takes its advisory lock again first, and if another
//! session holds it by then, the store is locked out for good: every later request fails with
//! [`PostgresError::Locked`].

use core::future::Future;
use core::pin::Pin;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, Connection, NoTls, Row, Socket, Statement};

use crate::error::{clip, PostgresError};
use crate::names;
use crate::sql::{self, Table, PAGE_SIZE, SCHEMA_VERSION};

/// Where a request's result goes: a blocked caller or an awaiting future.
pub(crate) enum Reply<T> {
    Blocking(std::sync::mpsc::SyncSender<Result<T, PostgresError>>),
    Async(oneshot::Sender<Result<T, PostgresError>>),
}

impl<T> Reply<T> {
    fn send(self, result: Result<T, PostgresError>) {
        // A caller that stopped waiting (a dropped future) does not want the result.
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(result);
            }
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

/// One page of 0.3's paginated listing: keys newest first, and the `sort_order` to continue
/// below when there is more.
#[cfg_attr(not(feature = "lightning-0-3"), allow(dead_code))] // Read by 0.3's traits only.
pub(crate) struct Page {
    pub(crate) keys: Vec<String>,
    pub(crate) next: Option<i64>,
}

/// A request: names already checked by the caller.
pub(crate) enum Op {
    Read {
        primary: String,
        secondary: String,
        key: String,
        reply: Reply<Vec<u8>>,
    },
    Write {
        primary: String,
        secondary: String,
        key: String,
        value: Vec<u8>,
        reply: Reply<()>,
    },
    Remove {
        primary: String,
        secondary: String,
        key: String,
        reply: Reply<()>,
    },
    List {
        primary: String,
        secondary: String,
        reply: Reply<Vec<String>>,
    },
    ListAll {
        reply: Reply<AllKeys>,
    },
    Page {
        primary: String,
        secondary: String,
        below: Option<i64>,
        reply: Reply<Page>,
    },
}

/// Every name in the table, for migration.
pub(crate) type AllKeys = Vec<(String, String, String)>;

/// What the store sends its task.
pub(crate) enum Message {
    Request(Op),
    /// Close the connection (releasing the advisory lock), acknowledge, end.
    Shutdown(std::sync::mpsc::SyncSender<()>),
}

/// What the store learns at connect.
pub(crate) struct Connected {
    pub(crate) database: String,
}

type Driver = Pin<Box<Connection<Socket, NoTlsStream>>>;

struct Statements {
    read: Statement,
    list: Statement,
    list_all: Statement,
    first_page: Statement,
    next_page: Statement,
    /// `None` for a read-only store.
    write: Option<(Statement, Statement)>,
}

struct Session {
    client: Client,
    driver: Driver,
    statements: Statements,
}

/// How a statement failed.
enum Failure {
    /// The server answered with an error, or the client library failed.
    Query(tokio_postgres::Error),
    /// The connection ended while the statement was in flight.
    Lost,
}

/// Runs `query` while driving the connection, which is what makes the query progress.
async fn drive<T, F>(driver: &mut Driver, query: F) -> Result<T, Failure>
where
    F: Future<Output = Result<T, tokio_postgres::Error>>,
{
    tokio::select! {
        biased;
        result = query => result.map_err(Failure::Query),
        _ = driver.as_mut() => Err(Failure::Lost),
    }
}

struct Worker {
    config: Config,
    table: Table,
    read_only: bool,
    /// Known once connected; a read-only store learns it too, for messages.
    database: String,
    session: Option<Session>,
    /// Set when a reconnect found the advisory lock taken: the store never writes again.
    locked_out: bool,
    /// The backend (pid, start time) of the session that last took the lock.
    own_backend: Option<(i32, String)>,
}

/// This session's backend: pid and start time (a pid alone may be reused).
const OWN_BACKEND: &str =
    "SELECT pid, backend_start::text FROM pg_stat_activity WHERE pid = pg_backend_pid()";

/// The backend holding an advisory lock, by the lock's two 32-bit halves.
const LOCK_HOLDER: &str = "SELECT a.pid, a.backend_start::text FROM pg_locks l \
     JOIN pg_stat_activity a ON a.pid = l.pid \
     WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1";

/// A bigint advisory lock key as `pg_locks` shows it: high half in `classid`, low in `objid`.
fn lock_key(id: i64) -> (u32, u32) {
    let bits = id as u64;
    ((bits >> 32) as u32, bits as u32)
}

/// (pid, backend_start) of a row of `OWN_BACKEND` or `LOCK_HOLDER`.
fn backend(row: &Row) -> Result<(i32, String), PostgresError> {
    let pid = row.try_get(0);
    let start: Result<Option<String>, _> = row.try_get(1);
    match (pid, start) {
        (Ok(pid), Ok(start)) => Ok((pid, start.unwrap_or_default())),
        _ => Err(PostgresError::InvalidRow {
            reason: "pg_stat_activity's pid or backend_start",
        }),
    }
}

/// The task's body. Reports the first connection's outcome on `ready`; ends at once if it
/// failed, else when the store is dropped (or its runtime shut down).
pub(crate) async fn run(
    config: Config,
    table: Table,
    read_only: bool,
    mut requests: mpsc::UnboundedReceiver<Message>,
    ready: std::sync::mpsc::SyncSender<Result<Connected, PostgresError>>,
) {
    let mut worker = Worker {
        config,
        table,
        read_only,
        database: String::new(),
        session: None,
        locked_out: false,
        own_backend: None,
    };
    match worker.open_session(true).await {
        Ok(session) => {
            worker.session = Some(session);
            let connected = Connected {
                database: worker.database.clone(),
            };
            if ready.send(Ok(connected)).is_err() {
                return;
            }
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    }
    drop(ready);

    let mut ack = None;
    loop {
        let message = match worker.session.as_mut() {
            Some(session) => {
                // Idle: keep the connection driven so a server that ends the session is noticed
                // (and the next request reconnects).
                tokio::select! {
                    biased;
                    message = requests.recv() => Some(message),
                    _ = session.driver.as_mut() => None,
                }
            }
            None => Some(requests.recv().await),
        };
        match message {
            None => worker.session = None,
            Some(None) => break,
            Some(Some(Message::Shutdown(tx))) => {
                ack = Some(tx);
                break;
            }
            Some(Some(Message::Request(op))) => worker.serve(op).await,
        }
    }
    if let Some(session) = worker.session.take() {
        let Session {
            client, mut driver, ..
        } = session;
        if !worker.read_only {
            // Released by the server before it answers: a writer connecting right after the
            // store is dropped finds the table free (the session's end frees it too, but a
            // moment after the socket is closed).
            let id = sql::lock_id(&worker.database, &worker.table.name);
            let unlock = "SELECT pg_advisory_unlock($1)";
            let _ = drive(&mut driver, client.query(unlock, &[&id])).await;
        }
        // Dropping the client makes the connection send Terminate and finish.
        drop(client);
        let _ = driver.as_mut().await;
    }
    if let Some(tx) = ack {
        let _ = tx.send(());
    }
}

impl Worker {
    async fn serve(&mut self, op: Op) {
        match op {
            Op::Read {
                primary,
                secondary,
                key,
                reply,
            } => reply.send(self.read(&primary, &secondary, &key).await),
            Op::Write {
                primary,
                secondary,
                key,
                value,
                reply,
            } => {
                let params: [&(dyn ToSql + Sync); 4] = [&primary, &secondary, &key, &value];
                reply.send(self.execute_write(true, "write", &params).await)
            }
            Op::Remove {
                primary,
                secondary,
                key,
                reply,
            } => {
                let params: [&(dyn ToSql + Sync); 3] = [&primary, &secondary, &key];
                reply.send(self.execute_write(false, "remove", &params).await)
            }
            Op::List {
                primary,
                secondary,
                reply,
            } => reply.send(self.list(&primary, &secondary).await),
            Op::ListAll { reply } => reply.send(self.list_all().await),
            Op::Page {
                primary,
                secondary,
                below,
                reply,
            } => reply.send(self.page(&primary, &secondary, below).await),
        }
    }

    /// Runs one statement on the session, opening one first if there is none.
    async fn query(
        &mut self,
        operation: &'static str,
        pick: fn(&Statements) -> Option<&Statement>,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, PostgresError> {
        if self.locked_out {
            return Err(self.locked());
        }
        if self.session.is_none() {
            self.session = Some(self.open_session(false).await?);
        }
        let Some(session) = self.session.as_mut() else {
            return Err(PostgresError::ConnectionLost { operation });
        };
        let statement = pick(&session.statements).ok_or(PostgresError::ReadOnly)?;
        let result = drive(&mut session.driver, session.client.query(statement, params)).await;
        match result {
            Ok(rows) => Ok(rows),
            Err(Failure::Lost) => {
                self.session = None;
                Err(PostgresError::ConnectionLost { operation })
            }
            Err(Failure::Query(source)) => {
                // A FATAL error (the backend was terminated, the server is shutting down) ends
                // the session, though the connection may not have seen the end yet.
                let fatal = source
                    .as_db_error()
                    .is_some_and(|db| matches!(db.severity(), "FATAL" | "PANIC"));
                if fatal || source.is_closed() || session.client.is_closed() {
                    self.session = None;
                }
                Err(PostgresError::Database { operation, source })
            }
        }
    }

    async fn read(
        &mut self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Result<Vec<u8>, PostgresError> {
        let rows = self
            .query("read", |s| Some(&s.read), &[&primary, &secondary, &key])
            .await?;
        let Some(row) = rows.first() else {
            return Err(PostgresError::NotFound);
        };
        match row.try_get::<_, Option<Vec<u8>>>(0) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(PostgresError::InvalidRow {
                reason: "a NULL value",
            }),
            Err(_) => Err(PostgresError::InvalidRow {
                reason: "a value that is not BYTEA",
            }),
        }
    }

    async fn execute_write(
        &mut self,
        upsert: bool,
        operation: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<(), PostgresError> {
        let pick: fn(&Statements) -> Option<&Statement> = if upsert {
            |s| s.write.as_ref().map(|(write, _)| write)
        } else {
            |s| s.write.as_ref().map(|(_, remove)| remove)
        };
        self.query(operation, pick, params).await.map(|_| ())
    }

    async fn list(&mut self, primary: &str, secondary: &str) -> Result<Vec<String>, PostgresError> {
        let rows = self
            .query("list", |s| Some(&s.list), &[&primary, &secondary])
            .await?;
        rows.iter()
            .map(|row| {
                let key = text(row, 0)?;
                names::check_stored(primary, secondary, &key)?;
                Ok(key)
            })
            .collect()
    }

    async fn list_all(&mut self) -> Result<AllKeys, PostgresError> {
        let rows = self
            .query("list_all_keys", |s| Some(&s.list_all), &[])
            .await?;
        rows.iter()
            .map(|row| {
                let names = (text(row, 0)?, text(row, 1)?, text(row, 2)?);
                names::check_stored(&names.0, &names.1, &names.2)?;
                Ok(names)
            })
            .collect()
    }

    async fn page(
        &mut self,
        primary: &str,
        secondary: &str,
        below: Option<i64>,
    ) -> Result<Page, PostgresError> {
        // One row more than a page tells whether there is a next page.
        let limit = PAGE_SIZE as i64 + 1;
        let rows = match below {
            None => {
                self.query(
                    "list_paginated",
                    |s| Some(&s.first_page),
                    &[&primary, &secondary, &limit],
                )
                .await?
            }
            Some(below) => {
                self.query(
                    "list_paginated",
                    |s| Some(&s.next_page),
                    &[&primary, &secondary, &below, &limit],
                )
                .await?
            }
        };
        let mut keys = Vec::with_capacity(PAGE_SIZE);
        let mut last = None;
        for row in rows.iter().take(PAGE_SIZE) {
            let key = text(row, 0)?;
            names::check_stored(primary, secondary, &key)?;
            let order: i64 = row.try_get(1).map_err(|_| PostgresError::InvalidRow {
                reason: "a sort_order that is not BIGINT",
            })?;
            if order < 0 {
                return Err(PostgresError::InvalidRow {
                    reason: "a negative sort_order",
                });
            }
            keys.push(key);
            last = Some(order);
        }
        let next = if rows.len() > PAGE_SIZE { last } else { None };
        Ok(Page { keys, next })
    }

    fn locked(&self) -> PostgresError {
        PostgresError::Locked {
            database: self.database.clone(),
            table: self.table.name.clone(),
        }
    }

    /// Connects, takes the lock (writable), checks the table (creating it on a writable
    /// store's first connection), prepares the statements.
    async fn open_session(&mut self, first: bool) -> Result<Session, PostgresError> {
        let (client, driver) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|source| PostgresError::Connect { source })?;
        let mut driver: Driver = Box::pin(driver);
        // The session is open: a statement that fails from here on is a database error.
        let fail = |failure| match failure {
            Failure::Query(source) => PostgresError::Database {
                operation: "connect",
                source,
            },
            Failure::Lost => PostgresError::ConnectionLost {
                operation: "connect",
            },
        };

        let row = drive(
            &mut driver,
            client.query_one("SELECT current_database(), pg_is_in_recovery()", &[]),
        )
        .await
        .map_err(fail)?;
        self.database = row
            .try_get::<_, String>(0)
            .map_err(|_| PostgresError::InvalidRow {
                reason: "current_database() is not text",
            })?;
        let in_recovery: bool = row.try_get(1).map_err(|_| PostgresError::InvalidRow {
            reason: "pg_is_in_recovery() is not bool",
        })?;

        if !self.read_only {
            if in_recovery {
                return Err(PostgresError::StandbyServer);
            }
            let id = sql::lock_id(&self.database, &self.table.name);
            let try_lock = async |driver: &mut Driver| -> Result<bool, PostgresError> {
                let row = drive(
                    driver,
                    client.query_one("SELECT pg_try_advisory_lock($1)", &[&id]),
                )
                .await
                .map_err(fail)?;
                row.try_get(0).map_err(|_| PostgresError::InvalidRow {
                    reason: "pg_try_advisory_lock() is not bool",
                })
            };
            let mut locked = try_lock(&mut driver).await?;
            if !locked && !first {
                // The holder may be this store's own previous session, lost to us but not yet
                // to the server (a backend still exiting, a dead peer it has not noticed): end
                // it, waiting up to 5 s, and try once more. Any other holder is another writer.
                let holder = drive(
                    &mut driver,
                    client.query_opt(LOCK_HOLDER, &[&lock_key(id).0, &lock_key(id).1]),
                )
                .await
                .map_err(fail)?;
                let holder = holder.map(|row| backend(&row)).transpose()?;
                if holder.is_some() && holder == self.own_backend {
                    if let Some((pid, _)) = &holder {
                        let end = "SELECT pg_terminate_backend($1, 5000)";
                        drive(&mut driver, client.query_one(end, &[pid]))
                            .await
                            .map_err(fail)?;
                    }
                }
                locked = try_lock(&mut driver).await?;
            }
            if !locked {
                if !first {
                    self.locked_out = true;
                }
                return Err(self.locked());
            }
            let row = drive(&mut driver, client.query_one(OWN_BACKEND, &[]))
                .await
                .map_err(fail)?;
            self.own_backend = Some(backend(&row)?);
            if first {
                drive(&mut driver, client.batch_execute(&self.table.create()))
                    .await
                    .map_err(fail)?;
            }
        }

        let row = drive(
            &mut driver,
            client.query_one(Table::INSPECT, &[&self.table.quoted]),
        )
        .await
        .map_err(fail)?;
        let exists: bool = row.try_get(0).map_err(|_| PostgresError::InvalidRow {
            reason: "to_regclass() is not bool",
        })?;
        if !exists {
            return Err(PostgresError::NoTable {
                table: self.table.name.clone(),
            });
        }
        let comment: Option<String> = row.try_get(1).map_err(|_| PostgresError::InvalidRow {
            reason: "the table comment is not text",
        })?;
        match comment {
            Some(found) if found.trim().parse::<u16>() == Ok(SCHEMA_VERSION) => {}
            Some(found) => {
                return Err(PostgresError::UnsupportedSchema {
                    table: self.table.name.clone(),
                    found: clip(&found),
                })
            }
            // A table without a version is one that was just created (or one whose creator
            // stopped before it wrote the comment).
            None if !self.read_only => {
                drive(&mut driver, client.batch_execute(&self.table.set_version()))
                    .await
                    .map_err(fail)?;
            }
            None => {}
        }
        if first && !self.read_only {
            drive(
                &mut driver,
                client.batch_execute(&self.table.create_index()),
            )
            .await
            .map_err(fail)?;
        }

        let t = &self.table;
        let mut prepare = async |text: String| -> Result<Statement, PostgresError> {
            drive(&mut driver, client.prepare(&text))
                .await
                .map_err(fail)
        };
        let read = prepare(t.read()).await?;
        let list = prepare(t.list()).await?;
        let list_all = prepare(t.list_all()).await?;
        let first_page = prepare(t.first_page()).await?;
        let next_page = prepare(t.next_page()).await?;
        let write = if self.read_only {
            None
        } else {
            Some((prepare(t.write()).await?, prepare(t.remove()).await?))
        };
        let statements = Statements {
            read,
            list,
            list_all,
            first_page,
            next_page,
            write,
        };
        Ok(Session {
            client,
            driver,
            statements,
        })
    }
}

/// Column `i` of `row` as text.
fn text(row: &Row, i: usize) -> Result<String, PostgresError> {
    row.try_get(i).map_err(|_| PostgresError::InvalidRow {
        reason: "a name that is not text",
    })
}
