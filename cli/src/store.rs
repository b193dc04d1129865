//! The two kinds of store the tool works on, behind one type so each command is written once:
//! an LDK `FilesystemStore` directory and an ldk-node SQLite database file. A path names a
//! directory store if it is a directory, an ldk-node database if it is a file.

use std::path::{Path, PathBuf};

use encrypted_kvstore::{EncryptedStore, OpenOptions, StoreInfo};
use lightning::io;
use lightning::util::persist::{KVStoreSync, MigratableKVStore};
use lightning_persister::fs_store::FilesystemStore;

use crate::fail::{open_error, Failure, Kind};
use crate::layout::{self, Staging};
use crate::sqlite::SqliteKv;

/// Which kind of store a path holds (or, for a destination, will hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// An LDK `FilesystemStore` directory.
    Directory,
    /// An ldk-node SQLite database file.
    Sqlite,
}

/// What `path` is, following a link at `path` itself (the user named it); `None` if nothing is
/// there.
pub fn kind_of(path: &Path) -> Result<Option<StoreKind>, Failure> {
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

/// Either kind of inner store.
pub enum AnyStore {
    /// A `FilesystemStore` directory.
    Fs(FilesystemStore),
    /// An ldk-node SQLite database.
    Sqlite(SqliteKv),
}

impl AnyStore {
    /// Opens the store at `path` as it is: a directory as a `FilesystemStore`, a file as an
    /// ldk-node database (read-only unless `writable`). A file that is not an ldk-node
    /// database is a failure of kind `not_store`.
    pub fn open(
        path: &Path,
        kind: StoreKind,
        writable: bool,
        not_store: Kind,
    ) -> Result<AnyStore, Failure> {
        Ok(match kind {
            StoreKind::Directory => AnyStore::Fs(FilesystemStore::new(path.to_path_buf())),
            StoreKind::Sqlite => AnyStore::Sqlite(SqliteKv::open(path, writable, not_store)?),
        })
    }

    /// Flushes the store to disk and closes it (a database is closed and synced; a
    /// `FilesystemStore` syncs each write itself).
    pub fn close(self) -> Result<(), Failure> {
        match self {
            AnyStore::Fs(_) => Ok(()),
            AnyStore::Sqlite(db) => db.close_and_sync(),
        }
    }
}

impl KVStoreSync for AnyStore {
    fn read(&self, p: &str, s: &str, k: &str) -> Result<Vec<u8>, io::Error> {
        match self {
            AnyStore::Fs(x) => KVStoreSync::read(x, p, s, k),
            AnyStore::Sqlite(x) => x.read(p, s, k),
        }
    }
    fn write(&self, p: &str, s: &str, k: &str, buf: Vec<u8>) -> Result<(), io::Error> {
        match self {
            AnyStore::Fs(x) => KVStoreSync::write(x, p, s, k, buf),
            AnyStore::Sqlite(x) => x.write(p, s, k, buf),
        }
    }
    fn remove(&self, p: &str, s: &str, k: &str, lazy: bool) -> Result<(), io::Error> {
        match self {
            AnyStore::Fs(x) => KVStoreSync::remove(x, p, s, k, lazy),
            AnyStore::Sqlite(x) => x.remove(p, s, k, lazy),
        }
    }
    fn list(&self, p: &str, s: &str) -> Result<Vec<String>, io::Error> {
        match self {
            AnyStore::Fs(x) => KVStoreSync::list(x, p, s),
            AnyStore::Sqlite(x) => x.list(p, s),
        }
    }
}

impl MigratableKVStore for AnyStore {
    fn list_all_keys(&self) -> Result<Vec<(String, String, String)>, io::Error> {
        match self {
            AnyStore::Fs(x) => x.list_all_keys(),
            AnyStore::Sqlite(x) => x.list_all_keys(),
        }
    }
}

/// Checks that `path` is an encrypted store of either kind (a directory with the
/// `FilesystemStore` layout, or an ldk-node database) with a header, and returns its kind and
/// public header facts.
pub fn check_encrypted(path: &Path) -> Result<(StoreKind, StoreInfo), Failure> {
    let kind = kind_of(path)?.ok_or_else(|| {
        Failure::new(
            Kind::NotEncrypted,
            format!(
                "{} is not an encrypted store: no such directory or database file",
                path.display()
            ),
        )
    })?;
    if kind == StoreKind::Directory {
        layout::check(path)?;
    }
    let inner = AnyStore::open(path, kind, false, Kind::NotEncrypted)?;
    let info = EncryptedStore::inspect(&inner).map_err(|e| open_error(path, e))?;
    Ok((kind, info))
}

/// Opens the encrypted store at `path` (checked with [`check_encrypted`]) with `passphrase`.
///
/// Unless `writable`, the store is never written: a database is opened read-only, and a
/// format 2 store is opened with `read_only()` (without it, opening a format 2 store writes its
/// header once to reserve record versions; a read-only one refuses writes and removes). Every
/// command but `passwd`, `rotate` and `upgrade` opens this way.
pub fn open_encrypted(
    path: &Path,
    kind: StoreKind,
    passphrase: &[u8],
    writable: bool,
) -> Result<EncryptedStore<AnyStore>, Failure> {
    open_inner(
        AnyStore::open(path, kind, writable, Kind::NotEncrypted)?,
        path,
        passphrase,
        writable,
    )
}

/// Opens the encrypted store held by `inner` (at `path`, for messages); read-only (never
/// written, the header included) unless `writable`.
pub fn open_inner(
    inner: AnyStore,
    path: &Path,
    passphrase: &[u8],
    writable: bool,
) -> Result<EncryptedStore<AnyStore>, Failure> {
    let options = if writable {
        OpenOptions::new()
    } else {
        OpenOptions::new().read_only()
    };
    options
        .open(inner, passphrase)
        .map_err(|e| open_error(path, e))
}

/// A new store of `kind` being built in a staging directory next to its destination, put in
/// place only by [`NewStore::commit`].
pub struct NewStore {
    staging: Staging,
    kind: StoreKind,
    /// The store inside the staging directory: the directory itself, or the database file.
    pub path: PathBuf,
}

/// Refuses a destination for a new store of `kind` that exists (a directory may exist if it is
/// empty).
pub fn check_destination(to: &Path, kind: StoreKind) -> Result<(), Failure> {
    match kind {
        StoreKind::Directory => layout::check_destination(to),
        StoreKind::Sqlite => layout::check_destination_file(to),
    }
}

impl NewStore {
    /// Makes the staging directory for `to` (removing one left by an interrupted run) and an
    /// empty inner store of `kind` in it.
    pub fn begin(to: &Path, kind: StoreKind) -> Result<(NewStore, AnyStore), Failure> {
        let staging = Staging::begin(to)?;
        let (path, store) = match kind {
            StoreKind::Directory => {
                let p = staging.path.clone();
                (p.clone(), AnyStore::Fs(FilesystemStore::new(p)))
            }
            StoreKind::Sqlite => {
                let name = to.file_name().ok_or_else(|| {
                    Failure::new(
                        Kind::Usage,
                        format!("{} does not name a file", to.display()),
                    )
                })?;
                let p = staging.path.join(name);
                let db = SqliteKv::create(&p)?;
                (p, AnyStore::Sqlite(db))
            }
        };
        Ok((
            NewStore {
                staging,
                kind,
                path,
            },
            store,
        ))
    }

    /// The store built so far, opened again from disk (read-only for a database).
    pub fn reopen(&self) -> Result<AnyStore, Failure> {
        AnyStore::open(&self.path, self.kind, false, Kind::Io)
    }

    /// Puts the finished store in place.
    pub fn commit(self) -> Result<(), Failure> {
        match self.kind {
            StoreKind::Directory => self.staging.commit(),
            StoreKind::Sqlite => match self.path.file_name() {
                Some(name) => {
                    let name = name.to_os_string();
                    self.staging.commit_file(&name)
                }
                None => Err(Failure::new(
                    Kind::Io,
                    "the staged database has no file name",
                )),
            },
        }
    }
}
