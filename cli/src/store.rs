//! The two kinds of store the tool works on, behind one type so each command is written once:
//! an LDK `FilesystemStore` directory and an ldk-node SQLite database file. A path names a
//! directory store if it is a directory, an ldk-node database if it is a file.

use std::path::{Path, PathBuf};

use encrypted_kvstore::{EncryptedStore, OpenOptions, StoreAnchor, StoreInfo};
use lightning::io;
use lightning::util::persist::{KVStoreSync, MigratableKVStore};
use lightning_persister::fs_store::FilesystemStore;

use crate::fail::{open_error, open_error_anchored, Failure, Kind};
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

/// Opens the encrypted store at `path` (checked with [`check_encrypted`]) with `passphrase`,
/// and with the freshness anchor in the directory `anchor` if one is given (checked with
/// [`check_anchor`]).
///
/// Unless `writable`, the store is never written: a database is opened read-only, and the
/// store is opened with `read_only()` (without it, opening a store writes its header once to
/// reserve record versions; a read-only one refuses writes and removes, and writes nothing to
/// the anchor either). Every command but `passwd`, `rotate` and `anchor` opens this way.
pub fn open_encrypted(
    path: &Path,
    kind: StoreKind,
    passphrase: &[u8],
    writable: bool,
    anchor: Option<&Path>,
) -> Result<EncryptedStore<AnyStore>, Failure> {
    open_inner(
        AnyStore::open(path, kind, writable, Kind::NotEncrypted)?,
        path,
        passphrase,
        writable,
        anchor,
    )
}

/// Opens the encrypted store held by `inner` (at `path`, for messages); read-only (never
/// written, the header included) unless `writable`; with the anchor in `anchor` if given.
pub fn open_inner(
    inner: AnyStore,
    path: &Path,
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
        .open(inner, passphrase)
        .map_err(|e| open_error_anchored(path, anchor, e))
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
/// nothing).
pub fn check_anchor(anchor: &Path, stores: &[&Path], mode: AnchorDir) -> Result<(), Failure> {
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
    for store in stores {
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
