//! Stores in PostgreSQL: the runtime that drives their connections, connecting, and building a
//! new store in a staging table that is moved into its destination table in one transaction.
//!
//! A new store is written into `<TABLE>_ekv_partial` while the destination table is held by
//! this tool (a writable `PostgresStore` on it holds the table's advisory lock, so no node can
//! write it meanwhile), read back from there, and only then moved: one transaction copies every
//! row into the destination, which must still be empty, and drops the staging table. Until
//! that transaction commits the destination holds no row, so an interrupted run never leaves a
//! store there that looks complete; a rerun drops the staging table it left.

use std::future::Future;
use std::sync::OnceLock;

use encrypted_kvstore_postgres::{PostgresError, PostgresOptions, PostgresStore};
use tokio::runtime::{Handle, Runtime};

use crate::fail::{chain, Failure, Kind};
use crate::location::PgLocation;

/// The suffix of a staging table's name.
const STAGING_SUFFIX: &str = "_ekv_partial";

/// PostgreSQL's identifier limit (longer names are cut silently).
const MAX_IDENTIFIER: usize = 63;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime the PostgreSQL connections run on: made on first use, one worker thread (the
/// tool sends one request at a time), kept until the process exits.
fn runtime() -> Result<Handle, Failure> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt.handle().clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("encrypted-kvstore-postgres")
        .enable_all()
        .build()
        .map_err(|e| {
            Failure::new(
                Kind::Io,
                format!("cannot start the PostgreSQL runtime: {e}"),
            )
        })?;
    Ok(RUNTIME.get_or_init(|| rt).handle().clone())
}

/// Runs `f` to completion on the PostgreSQL runtime.
fn block_on<F: Future>(f: F) -> Result<F::Output, Failure> {
    Ok(runtime()?.block_on(f))
}

/// The staging table of the destination table `table`.
pub fn staging_table(table: &str) -> Result<String, Failure> {
    if table.len() + STAGING_SUFFIX.len() > MAX_IDENTIFIER {
        return Err(Failure::new(
            Kind::Usage,
            format!(
                "--pg-table {table}: a new store's table name may have at most {} characters \
                 (its staging table adds \"{STAGING_SUFFIX}\")",
                MAX_IDENTIFIER - STAGING_SUFFIX.len()
            ),
        ));
    }
    Ok(format!("{table}{STAGING_SUFFIX}"))
}

/// Connects a `PostgresStore` to the table at `pg`: read-only (no lock, never written, never
/// created) unless `writable`. A missing table is a failure of kind `not_store`.
pub fn open(pg: &PgLocation, writable: bool, not_store: Kind) -> Result<PostgresStore, Failure> {
    let mut options = PostgresOptions::new().table(&pg.table);
    if !writable {
        options = options.read_only();
    }
    options
        .connect(pg.url(), runtime()?)
        .map_err(|e| connect_failure(pg, &e, not_store))
}

/// Maps a failed connection of a store to the table at `pg`.
fn connect_failure(pg: &PgLocation, e: &lightning::io::Error, not_store: Kind) -> Failure {
    let typed = e.get_ref().and_then(|i| i.downcast_ref::<PostgresError>());
    match typed {
        Some(PostgresError::NoTable { .. }) => Failure::new(
            not_store,
            format!("{pg}: no such table, so no store (check --pg-table and the database name)"),
        ),
        Some(PostgresError::Locked { .. }) => Failure::new(
            Kind::Io,
            format!(
                "{pg} is in use: another program writes it (its advisory lock is held). Stop \
                 the node first: the tool must be the only program using a store while it \
                 works on it"
            ),
        ),
        Some(p @ (PostgresError::InvalidTableName { .. } | PostgresError::InvalidUrl)) => {
            Failure::new(Kind::Usage, format!("{pg}: {p}"))
        }
        _ => Failure::new(Kind::Io, format!("{pg}: {}", chain(e))),
    }
}

/// A plain connection for what the store does not do: inspecting a table, and the transaction
/// that moves a staged store into place.
struct Admin {
    client: tokio_postgres::Client,
    /// The table's name quoted for SQL (a plain identifier, as the store quotes it).
    quoted: String,
    pg: PgLocation,
}

/// `name` quoted for SQL, as the store quotes it. Only a plain identifier
/// (`[A-Za-z_][A-Za-z0-9_]*`, at most 63 bytes: the store's rule) is accepted, so nothing in a
/// name can end the quoting.
fn quote(name: &str) -> Result<String, Failure> {
    let mut bytes = name.bytes();
    let first = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if first
        && name.len() <= MAX_IDENTIFIER
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(format!("\"{name}\""))
    } else {
        Err(Failure::new(
            Kind::Usage,
            format!(
                "--pg-table {name:?}: not a plain identifier ([A-Za-z_][A-Za-z0-9_]*, at most \
                 {MAX_IDENTIFIER} bytes)"
            ),
        ))
    }
}

impl Admin {
    fn connect(pg: &PgLocation) -> Result<Admin, Failure> {
        let quoted = quote(&pg.table)?;
        let handle = runtime()?;
        let url = pg.url().to_owned();
        let (client, connection) = handle
            .block_on(tokio_postgres::connect(&url, tokio_postgres::NoTls))
            .map_err(|e| Failure::new(Kind::Io, format!("{pg}: cannot connect: {}", chain(&e))))?;
        // The connection is driven by its own task; it ends when the client is dropped.
        handle.spawn(connection);
        Ok(Admin {
            client,
            quoted,
            pg: pg.clone(),
        })
    }

    fn sql_failure(&self, what: &str, e: &tokio_postgres::Error) -> Failure {
        Failure::new(Kind::Io, format!("{}: {what}: {}", self.pg, chain(e)))
    }

    /// `None` if the table `table` does not exist, else whether it holds a row.
    fn has_rows(&self, table: &str) -> Result<Option<bool>, Failure> {
        let quoted = quote(table)?;
        let exists: bool = block_on(
            self.client
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&quoted]),
        )?
        .and_then(|r| r.try_get(0))
        .map_err(|e| self.sql_failure("cannot look for the table", &e))?;
        if !exists {
            return Ok(None);
        }
        let any: bool = block_on(
            self.client
                .query_one(&format!("SELECT EXISTS (SELECT 1 FROM {quoted})"), &[]),
        )?
        .and_then(|r| r.try_get(0))
        .map_err(|e| self.sql_failure("cannot read the table", &e))?;
        Ok(Some(any))
    }

    fn execute(&self, what: &str, sql: &str) -> Result<(), Failure> {
        block_on(self.client.batch_execute(sql))?.map_err(|e| self.sql_failure(what, &e))
    }
}

/// Refuses a destination table that holds a row (an existing, empty table is used as it is).
pub fn check_destination(pg: &PgLocation) -> Result<(), Failure> {
    let admin = Admin::connect(pg)?;
    if admin.has_rows(&pg.table)? == Some(true) {
        return Err(not_empty(pg));
    }
    Ok(())
}

fn not_empty(pg: &PgLocation) -> Failure {
    Failure::new(
        Kind::DestinationNotEmpty,
        format!(
            "destination {pg} already holds data; refusing to touch it (if an earlier run \
             finished, check it with `verify`)"
        ),
    )
}

/// A new store being built in a staging table; see the module documentation.
pub struct PgStaging {
    admin: Admin,
    /// The destination, held by this tool: its advisory lock is taken while this is alive.
    dest: Option<PostgresStore>,
    /// Whether the destination table was made by this run (dropped again if the run fails).
    made_dest: bool,
    staging: PgLocation,
    done: bool,
}

impl PgStaging {
    /// Takes the destination `to` (creating its table if it does not exist; it must hold no
    /// row), drops a staging table an interrupted run left, and makes a new, empty staging
    /// table, returned as a writable store.
    pub fn begin(to: &PgLocation) -> Result<(PgStaging, PostgresStore), Failure> {
        let staging = to.with_table(&staging_table(&to.table)?);
        let admin = Admin::connect(to)?;
        let existed = admin.has_rows(&to.table)?.is_some();
        let dest = open(to, true, Kind::Io)?;
        let mut this = PgStaging {
            admin,
            dest: Some(dest),
            made_dest: !existed,
            staging,
            done: false,
        };
        if this.admin.has_rows(&to.table)? == Some(true) {
            // Nothing of ours is there to clean up; the destination is not ours to drop.
            this.made_dest = false;
            this.done = true;
            return Err(not_empty(to));
        }
        if this.admin.has_rows(&this.staging.table)?.is_some() {
            eprintln!(
                "note: removing the staging table {} left by an interrupted earlier run, and \
                 starting over",
                this.staging
            );
            this.admin.execute(
                "cannot remove the staging table",
                &format!("DROP TABLE {}", quote(&this.staging.table)?),
            )?;
        }
        let store = open(&this.staging, true, Kind::Io)?;
        Ok((this, store))
    }

    /// Where the store is being built.
    pub fn location(&self) -> &PgLocation {
        &self.staging
    }

    /// Moves the finished store into the destination in one transaction: the destination is
    /// locked and must still be empty, every row is copied (with its `sort_order`, and the
    /// destination's sequence moved past them), and the staging table is dropped.
    pub fn commit(mut self) -> Result<(), Failure> {
        self.admin.execute("cannot begin a transaction", "BEGIN")?;
        match self.move_into_place() {
            Ok(()) => {
                self.done = true;
                self.dest = None;
                Ok(())
            }
            Err(f) => {
                // Nothing was moved: the transaction is rolled back (the staging table is then
                // dropped as for any failed run).
                let _ = self.admin.execute("cannot roll back", "ROLLBACK");
                Err(f)
            }
        }
    }

    /// The body of the transaction [`PgStaging::commit`] opens, up to and including `COMMIT`.
    fn move_into_place(&self) -> Result<(), Failure> {
        let a = &self.admin;
        let d = &a.quoted;
        let s = quote(&self.staging.table)?;
        let cols = "primary_namespace, secondary_namespace, key, value, sort_order";
        a.execute(
            "cannot lock the destination",
            &format!("LOCK TABLE {d} IN ACCESS EXCLUSIVE MODE"),
        )?;
        if a.has_rows(&self.admin.pg.table)? != Some(false) {
            return Err(Failure::new(
                Kind::DestinationNotEmpty,
                format!(
                    "destination {} was written while the tool ran; nothing was put in place",
                    a.pg
                ),
            ));
        }
        a.execute(
            "cannot move the new store into place",
            &format!(
                "INSERT INTO {d} ({cols}) SELECT {cols} FROM {s}; \
                 SELECT setval(pg_get_serial_sequence('{d}', 'sort_order'), \
                               (SELECT max(sort_order) FROM {d})); \
                 DROP TABLE {s}"
            ),
        )?;
        a.execute("cannot commit the move into place", "COMMIT")
    }
}

impl Drop for PgStaging {
    /// A staging table that was not moved into place (an error was reported) is dropped, so
    /// no partial copy (for `decrypt`, plaintext) stays behind; a destination table this run
    /// made is dropped too if it is still empty.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let dropped = quote(&self.staging.table).and_then(|staging| {
            self.admin.execute(
                "cannot remove the staging table",
                &format!("DROP TABLE IF EXISTS {staging}"),
            )
        });
        if let Err(f) = dropped {
            eprintln!("warning: could not remove the incomplete copy: {f}");
        }
        if self.made_dest {
            let d = &self.admin.quoted;
            let sql = format!(
                "BEGIN; LOCK TABLE {d} IN ACCESS EXCLUSIVE MODE; \
                 DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM {d}) THEN DROP TABLE {d}; END IF; \
                 END $$; COMMIT;"
            );
            if let Err(f) = self
                .admin
                .execute("cannot remove the empty destination", &sql)
            {
                eprintln!("warning: {f}");
            }
        }
        self.dest = None;
    }
}
