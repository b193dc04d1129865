//! The kinds of store the tool works on, behind one type so each command is written once: an
//! LDK `FilesystemStore` directory, an ldk-node SQLite database file, and a table in a
//! PostgreSQL database. A path names a directory store if it is a directory, an ldk-node
//! database if it is a file; a `postgresql://` URL names a table (`--pg-table`).

use std::path::{Path, PathBuf};

use encrypted_kvstore::{Credential, EncryptedStore, OpenOptions, StoreAnchor, StoreInfo};
use encrypted_kvstore_postgres::PostgresStore;
use lightning::io;
use lightning::util::persist::{KVStoreSync, MigratableKVStore};
use lightning_persister::fs_store::FilesystemStore;

use crate::fail::{open_error, open_error_anchored, Failure, Kind};
use crate::layout::{self, Staging};
use crate::location::Location;
use crate::pg::{self, PgStaging};
use crate::sqlite::SqliteKv;

/// Which kind of store a location holds (or, for a destination, will hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// An LDK `FilesystemStore` directory.
    Directory,
    /// An ldk-node SQLite database file.
    Sqlite,
    /// A table in a PostgreSQL database.
    Postgres,
}

/// What `loc` is, following a link at a path itself (the user named it); `None` if nothing is
/// at a path. A PostgreSQL table is of kind `Postgres` whether it exists or not (connecting
/// tells).
pub fn kind_of(loc: &Location) -> Result<Option<StoreKind>, Failure> {
    let path = match loc {
        Location::Postgres(_) => return Ok(Some(StoreKind::Postgres)),
        Location::Path(p) => p,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(Some(StoreKind::Directory)),
        Ok(m) if m.is_file() => Ok(Some(StoreKind::Sqlite)),
        Ok(_) => Err(Failure::new(
            Kind::Usage,
            format!(
                "{} is neither a directory (FilesystemStore) nor a file (ldk-node SQLite \
                 database)",
                path.display()
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(crate::fail::io("cannot read", path, &e)),
    }
}

/// Any kind of inner store.
pub enum AnyStore {
    /// A `FilesystemStore` directory.
    Fs(FilesystemStore),
    /// An ldk-node SQLite database.
    Sqlite(SqliteKv),
    /// A PostgreSQL table.
    Pg(PostgresStore),
}

impl AnyStore {
    /// Opens the store at `loc` as it is: a directory as a `FilesystemStore`, a file as an
    /// ldk-node database, a PostgreSQL table through a `PostgresStore` (read-only unless
    /// `writable`: a read-only database is opened read-only, a read-only table is never
    /// created or written and takes no lock). A file that is not an ldk-node database, or a
    /// table that does not exist, is a failure of kind `not_store`.
    pub fn open(
        loc: &Location,
        kind: StoreKind,
        writable: bool,
        not_store: Kind,
    ) -> Result<AnyStore, Failure> {
        Ok(match (kind, loc) {
            (StoreKind::Postgres, Location::Postgres(pg)) => {
                AnyStore::Pg(pg::open(pg, writable, not_store)?)
            }
            (StoreKind::Directory, Location::Path(path)) => {
                AnyStore::Fs(FilesystemStore::new(path.clone()))
            }
            (StoreKind::Sqlite, Location::Path(path)) => {
                AnyStore::Sqlite(SqliteKv::open(path, writable, not_store)?)
            }
            _ => {
                return Err(Failure::new(
                    Kind::Usage,
                    format!("{loc} is not a store of the kind expected"),
                ))
            }
        })
    }

    /// Flushes the store to disk and closes it (a database is closed and synced; a
    /// `FilesystemStore` syncs each write itself, and PostgreSQL commits each write).
    pub fn close(self) -> Result<(), Failure> {
        match self {
            AnyStore::Fs(_) | AnyStore::Pg(_) => Ok(()),
            AnyStore::Sqlite(db) => db.close_and_sync(),
        }
    }
}

impl KVStoreSync for AnyStore {
    fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, io::Error> {
        match self {
            AnyStore::Fs(x) => KVStoreSync::read(x, p, s, k),
            AnyStore::Sqlite(x) => x.read(p, s, k),
            AnyStore::Pg(x) => KVStoreSync::read(x, p, s, k),
        }
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        match self {
            AnyStore::Fs(x) => KVStoreSync::write(x, p, s, k, buf),
            AnyStore::Sqlite(x) => x.write(p, s, k, buf),
            AnyStore::Pg(x) => KVStoreSync::write(x, p, s, k, buf),
        }
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Result<(), io::Error> {
        match self {
            AnyStore::Fs(x) => KVStoreSync::remove(x, p, s, k, lazy),
            AnyStore::Sqlite(x) => x.remove(p, s, k, lazy),
            AnyStore::Pg(x) => KVStoreSync::remove(x, p, s, k, lazy),
        }
    }
    fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
        match self {
            AnyStore::Fs(x) => KVStoreSync::list(x, p, s),
            AnyStore::Sqlite(x) => x.list(p, s),
            AnyStore::Pg(x) => KVStoreSync::list(x, p, s),
        }
    }
}

impl MigratableKVStore for AnyStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        match self {
            AnyStore::Fs(x) => x.list_all_keys(),
            AnyStore::Sqlite(x) => x.list_all_keys(),
            AnyStore::Pg(x) => x.list_all_keys(),
        }
    }
}

/// Checks that `loc` is an encrypted store of any kind (a directory with the `FilesystemStore`
/// layout, an ldk-node database, a PostgreSQL table) with a header, and returns its kind and
/// public header facts.
pub fn check_encrypted(loc: &Location) -> Result<(StoreKind, StoreInfo), Failure> {
    let kind = kind_of(loc)?.ok_or_else(|| {
        Failure::new(
            Kind::NotEncrypted,
            format!("{loc} is not an encrypted store: no such directory or database file"),
        )
    })?;
    if let (StoreKind::Directory, Some(path)) = (kind, loc.path()) {
        layout::check(path)?;
    }
    let inner = AnyStore::open(loc, kind, false, Kind::NotEncrypted)?;
    let info = EncryptedStore::inspect(&inner).map_err(|e| open_error(loc, e))?;
    Ok((kind, info))
}

/// Opens the encrypted store at `loc` (checked with [`check_encrypted`]) with `passphrase`,
/// and with the freshness anchor in the directory `anchor` if one is given (checked with
/// [`check_anchor`]).
///
/// Unless `writable`, the store is never written: a database is opened read-only, a
/// PostgreSQL table through a read-only `PostgresStore`, and the store is opened with
/// `read_only()` (without it, opening a store writes its header once to reserve record
/// versions; a read-only one refuses writes and removes, and writes nothing to the anchor
/// either). Every command but `passwd`, `rotate` and `anchor` opens this way.
pub fn open_encrypted(
    loc: &Location,
    kind: StoreKind,
    passphrase: &[u8],
    writable: bool,
    anchor: Option<&Path>,
) -> Result<EncryptedStore<AnyStore>, Failure> {
    open_inner(
        AnyStore::open(loc, kind, writable, Kind::NotEncrypted)?,
        loc,
        passphrase,
        writable,
        anchor,
    )
}

/// Opens the encrypted store held by `inner` (at `loc`, for messages); read-only (never
/// written, the header included) unless `writable`; with the anchor in `anchor` if given.
pub fn open_inner(
    inner: AnyStore,
    loc: &Location,
    passphrase: &[u8],
    writable: bool,
    anchor: Option<&Path>,
) -> Result<EncryptedStore<AnyStore>, Failure> {
    let options = if writable {
        OpenOptions::new()
    } else {
        OpenOptions::new().read_only()
    };
    with_anchor(options, anchor)
        .open(inner, Credential::passphrase(passphrase))
        .map_err(|e| open_error_anchored(loc, anchor, e))
}

/// `options` with the freshness anchor kept in the directory `anchor` (a `FilesystemStore`
/// used through `StoreAnchor`), if one is given.
pub fn with_anchor(options: OpenOptions, anchor: Option<&Path>) -> OpenOptions {
    match anchor {
        Some(dir) => options.anchor(StoreAnchor::new(FilesystemStore::new(dir.to_path_buf()))),
        None => options,
    }
}

/// What an anchor directory given on the command line must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnchorDir {
    /// It must exist already (every command that opens an existing store).
    Existing,
    /// It may be missing: [`create_anchor_dir`] makes it (`init`, `encrypt`, `anchor accept`).
    MayBeMissing,
}

/// Checks the anchor directory `anchor` for the stores at `stores` (which need not exist yet):
/// it is a directory (or missing, if `mode` allows), and it is neither one of the stores nor
/// inside one, nor holds one (an anchor restored or rolled back with its store protects
/// nothing). A store in PostgreSQL cannot overlap a directory; it is kept on another machine
/// or at least in another place than the anchor by construction.
pub fn check_anchor(anchor: &Path, stores: &[&Location], mode: AnchorDir) -> Result<(), Failure> {
    let a = anchor.display();
    match std::fs::metadata(anchor) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Failure::new(
                Kind::Usage,
                format!("--anchor {a}: not a directory (an anchor is a directory)"),
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if mode == AnchorDir::Existing {
                return Err(Failure::new(
                    Kind::Anchor,
                    format!(
                        "--anchor {a}: no such directory. If the anchor was lost, make an empty \
                         directory and accept the store's current state explicitly with \
                         `encrypted-kvstore anchor accept STORE --anchor {a}`"
                    ),
                ));
            }
        }
        Err(e) => return Err(crate::fail::io("cannot read", anchor, &e)),
    }
    let abs_anchor = absolute(anchor)?;
    for store in stores.iter().filter_map(|s| s.path()) {
        let s = absolute(store)?;
        if abs_anchor.starts_with(&s) || s.starts_with(&abs_anchor) {
            return Err(Failure::new(
                Kind::Usage,
                format!(
                    "--anchor {a} overlaps the store {}: keep the anchor outside the store (and \
                     the store outside the anchor), where restoring or rolling back the store \
                     cannot roll back the anchor too",
                    store.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Makes the anchor directory `anchor` (private to the user) if it does not exist.
pub fn create_anchor_dir(anchor: &Path) -> Result<(), Failure> {
    if anchor.exists() {
        return Ok(());
    }
    layout::create_private_dir(anchor).map_err(|e| crate::fail::io("cannot create", anchor, &e))
}

/// `p` made absolute with links resolved as far as it exists (a missing tail is kept as given).
fn absolute(p: &Path) -> Result<PathBuf, Failure> {
    let abs = std::path::absolute(p).map_err(|e| crate::fail::io("cannot resolve", p, &e))?;
    let mut existing = abs.as_path();
    let mut tail = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut out = c;
            for part in tail.iter().rev() {
                out.push(part);
            }
            return Ok(out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                existing = parent;
            }
            _ => return Ok(abs),
        }
    }
}

/// A new store of `kind` being built apart from its destination (a staging directory next to
/// it, or a staging table next to a PostgreSQL table), put in place only by
/// [`NewStore::commit`].
pub struct NewStore {
    staging: Stage,
    kind: StoreKind,
    /// Where the store is being built: the staging directory, the database file inside it, or
    /// the staging table.
    pub location: Location,
}

enum Stage {
    Path(Staging),
    Pg(Box<PgStaging>),
}

/// The staging place of a new store at `to`, for overlap checks: `<TO>.partial` for a path,
/// `None` for a PostgreSQL table.
pub fn staging_path(to: &Location) -> Result<Option<PathBuf>, Failure> {
    match to {
        Location::Path(p) => layout::staging_path(p).map(Some),
        Location::Postgres(_) => Ok(None),
    }
}

/// Refuses a source and a destination (with its staging place) that overlap: paths inside one
/// another, or the same PostgreSQL table (or the destination's staging table).
pub fn refuse_overlap(from: &Location, to: &Location) -> Result<(), Failure> {
    match (from, to) {
        (Location::Path(src), Location::Path(dst)) => {
            layout::refuse_overlap(src, dst, &layout::staging_path(dst)?)
        }
        (Location::Postgres(src), Location::Postgres(dst)) => {
            let staging = dst.with_table(&pg::staging_table(&dst.table)?);
            if src.same_table(dst) || src.same_table(&staging) {
                Err(Failure::new(
                    Kind::Usage,
                    format!("source {from} and destination {to} are the same table"),
                ))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Refuses a destination for a new store of `kind` that exists (a directory may exist if it is
/// empty, and a PostgreSQL table if it holds no row and its name leaves room for its staging
/// table's).
pub fn check_destination(to: &Location, kind: StoreKind) -> Result<(), Failure> {
    match (kind, to) {
        (StoreKind::Directory, Location::Path(p)) => layout::check_destination(p),
        (StoreKind::Sqlite, Location::Path(p)) => layout::check_destination_file(p),
        (StoreKind::Postgres, Location::Postgres(pg)) => {
            pg::staging_table(&pg.table)?;
            pg::check_destination(pg)
        }
        _ => Err(Failure::new(
            Kind::Usage,
            format!("{to} cannot hold a store of the kind expected"),
        )),
    }
}

/// The kind of the store `encrypt` or `decrypt` makes at `to` from a source of kind `from`: a
/// PostgreSQL table for a URL; for a path, the source's kind (a directory for a PostgreSQL
/// source).
pub fn destination_kind(from: StoreKind, to: &Location) -> StoreKind {
    match (to, from) {
        (Location::Postgres(_), _) => StoreKind::Postgres,
        (Location::Path(_), StoreKind::Postgres) => StoreKind::Directory,
        (Location::Path(_), k) => k,
    }
}

impl NewStore {
    /// Makes the staging place for `to` (removing one left by an interrupted run) and an empty
    /// inner store of `kind` in it.
    pub fn begin(to: &Location, kind: StoreKind) -> Result<(NewStore, AnyStore), Failure> {
        let (staging, location, store) = match (kind, to) {
            (StoreKind::Postgres, Location::Postgres(pg)) => {
                let (staging, store) = PgStaging::begin(pg)?;
                let location = Location::Postgres(staging.location().clone());
                (Stage::Pg(Box::new(staging)), location, AnyStore::Pg(store))
            }
            (StoreKind::Directory, Location::Path(to)) => {
                let staging = Staging::begin(to)?;
                let p = staging.path.clone();
                let store = AnyStore::Fs(FilesystemStore::new(p.clone()));
                (Stage::Path(staging), Location::Path(p), store)
            }
            (StoreKind::Sqlite, Location::Path(to)) => {
                let name = to.file_name().ok_or_else(|| {
                    Failure::new(
                        Kind::Usage,
                        format!("{} does not name a file", to.display()),
                    )
                })?;
                let staging = Staging::begin(to)?;
                let p = staging.path.join(name);
                let db = SqliteKv::create(&p)?;
                (
                    Stage::Path(staging),
                    Location::Path(p),
                    AnyStore::Sqlite(db),
                )
            }
            _ => {
                return Err(Failure::new(
                    Kind::Usage,
                    format!("{to} cannot hold a store of the kind expected"),
                ))
            }
        };
        Ok((
            NewStore {
                staging,
                kind,
                location,
            },
            store,
        ))
    }

    /// The store built so far, opened again (read-only for a database or a table).
    pub fn reopen(&self) -> Result<AnyStore, Failure> {
        AnyStore::open(&self.location, self.kind, false, Kind::Io)
    }

    /// Puts the finished store in place.
    pub fn commit(self) -> Result<(), Failure> {
        match (self.staging, self.kind) {
            (Stage::Pg(staging), _) => staging.commit(),
            (Stage::Path(staging), StoreKind::Sqlite) => {
                match self.location.path().and_then(Path::file_name) {
                    Some(name) => {
                        let name = name.to_os_string();
                        staging.commit_file(&name)
                    }
                    None => Err(Failure::new(
                        Kind::Io,
                        "the staged database has no file name",
                    )),
                }
            }
            (Stage::Path(staging), _) => staging.commit(),
        }
    }
}
