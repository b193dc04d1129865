//! Failures the tool reports, each with the exit code the help text documents.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use encrypted_kvstore::{HeaderError, ListError, OpenError, ReadError, RotateError};

use crate::location::Location;

/// What kind of failure ended the command; decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A value did not authenticate, or a copy did not read back identical (exit 1).
    Verification,
    /// Bad arguments or options (exit 2, as clap uses for its own usage errors).
    Usage,
    /// The passphrase does not unlock the store (exit 3).
    WrongPassphrase,
    /// The directory is not an encrypted store (exit 4).
    NotEncrypted,
    /// The source is not a plaintext `FilesystemStore` directory or ldk-node database (exit 5).
    NotFilesystemStore,
    /// The destination exists and is not empty (exit 6).
    DestinationNotEmpty,
    /// The header is corrupt, of an unknown version, or protected by a raw key (exit 7).
    BadHeader,
    /// No passphrase could be obtained (exit 8).
    Passphrase,
    /// The requested key does not exist (exit 9).
    KeyNotFound,
    /// Any other I/O or system failure (exit 10).
    Io,
    /// An earlier data-key rotation is unfinished: the keyring is full, or a value is still
    /// sealed under an old key, so the old keys were not retired (exit 12).
    RotationUnfinished,
    /// A freshness check failed: the store's header is older than its anchor says, or a value
    /// was rolled back, deleted or resurrected (exit 13).
    Freshness,
    /// The anchor does not fit the store: an anchored store opened without its anchor, an
    /// anchor that knows nothing of the store, a store not attached to the anchor given, or a
    /// corrupt anchor (exit 14).
    Anchor,
}

impl Kind {
    /// The process exit code for this kind.
    pub fn code(self) -> u8 {
        match self {
            Kind::Verification => 1,
            Kind::Usage => 2,
            Kind::WrongPassphrase => 3,
            Kind::NotEncrypted => 4,
            Kind::NotFilesystemStore => 5,
            Kind::DestinationNotEmpty => 6,
            Kind::BadHeader => 7,
            Kind::Passphrase => 8,
            Kind::KeyNotFound => 9,
            Kind::Io => 10,
            Kind::RotationUnfinished => 12,
            Kind::Freshness => 13,
            Kind::Anchor => 14,
        }
    }
}

/// The exit-code table printed at the end of `--help` (and copied into the README).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
   0  success
   1  verification failed: a value did not authenticate, or a copy did not read back identical
   2  usage error (bad arguments or options)
   3  wrong passphrase
   4  not an encrypted store (no encrypted-kvstore header in the directory, database or table)
   5  not a plaintext store: not a FilesystemStore directory (missing, unexpected files,
      symbolic links), ldk-node SQLite database or PostgreSQL table, or already encrypted
   6  destination exists and is not empty
   7  corrupt or unsupported store header (or a store protected by a raw key)
   8  no passphrase available (no terminal to prompt on, unreadable or empty file, mismatch)
   9  key not found
  10  I/O or other error
  12  data-key rotation unfinished: the keyring is full (8 keys), or a value is still sealed
      under an old key so the old keys were not retired (run `rotate --resume`)
  13  FRESHNESS check failed: the store's header is older than its anchor says (an older copy
      of the store was put back), or a value was rolled back, deleted or resurrected
  14  anchor problem: an anchored store opened without --anchor, an anchor that knows nothing
      of the store (run `anchor accept`), a store not attached to the anchor given, or a
      corrupt anchor";

/// A failure: its kind and a message a user can act on (never secret material).
#[derive(Debug)]
pub struct Failure {
    /// Decides the exit code.
    pub kind: Kind,
    /// Printed after `error: `.
    pub msg: String,
}

impl Failure {
    /// A failure of `kind` with message `msg`.
    pub fn new(kind: Kind, msg: impl Into<String>) -> Failure {
        Failure {
            kind,
            msg: msg.into(),
        }
    }

    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.code())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// An error and its chain of sources, on one line. A `lightning::io::Error` that carries an
/// error is shown as that error (its own `Display` shows the carried error's `Debug` form).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = String::new();
    let mut cur = Some(e);
    while let Some(err) = cur {
        let err = match err
            .downcast_ref::<lightning::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => inner as &(dyn std::error::Error + 'static),
            None => err,
        };
        let t = err.to_string();
        if s.is_empty() {
            s = t;
        } else if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = err.source();
    }
    s
}

/// An I/O failure while doing `what` on `path`.
pub fn io(what: &str, path: &Path, e: &(dyn std::error::Error + 'static)) -> Failure {
    Failure::new(Kind::Io, format!("{what} {}: {}", path.display(), chain(e)))
}

/// An I/O failure while doing `what` on the store at `loc`.
pub fn io_at(what: &str, loc: &Location, e: &(dyn std::error::Error + 'static)) -> Failure {
    Failure::new(Kind::Io, format!("{what} {loc}: {}", chain(e)))
}

/// Maps a library open/create error for the store at `dir`.
pub fn open_error(dir: &Location, e: OpenError) -> Failure {
    open_error_anchored(dir, None, e)
}

/// Maps a library error for the store in `dir` opened (or created) with the anchor `anchor`
/// (`None`: without one).
pub fn open_error_anchored(dir: &Location, anchor: Option<&Path>, e: OpenError) -> Failure {
    let d = dir.display();
    let a = anchor.map_or_else(|| "DIR".to_owned(), |a| a.display().to_string());
    match e {
        OpenError::AnchorRequired => Failure::new(
            Kind::Anchor,
            format!(
                "{d} is watched by a freshness anchor (AnchorRequired): open it with its anchor, \
                 --anchor DIR. Without it an older copy of the store put back in place could not \
                 be told from the current one"
            ),
        ),
        OpenError::AnchorEmpty => Failure::new(
            Kind::Anchor,
            format!(
                "the anchor in {a} knows nothing of the store in {d} (AnchorEmpty): a lost or \
                 emptied anchor, a new device, or the wrong directory. If the store as it is now \
                 is the one to keep, accept its current state explicitly: \
                 `encrypted-kvstore anchor accept {d} --anchor {a}`"
            ),
        ),
        OpenError::AnchorNotAttached => Failure::new(
            Kind::Anchor,
            format!(
                "{d} is not attached to a freshness anchor (AnchorNotAttached): open it without \
                 --anchor, or attach it with `encrypted-kvstore anchor accept {d} --anchor {a}`"
            ),
        ),
        e @ OpenError::AnchorCorrupt { .. } => {
            Failure::new(Kind::Anchor, format!("{d}: anchor {a}: {}", chain(&e)))
        }
        e @ OpenError::AnchorIo(_) => {
            Failure::new(Kind::Io, format!("{d}: anchor {a}: {}", chain(&e)))
        }
        OpenError::HeaderRolledBack {
            header_seq,
            anchor_header_seq,
        } => Failure::new(
            Kind::Freshness,
            format!(
                "FRESHNESS CHECK FAILED: rollback detected: the header of {d} is older than its \
                 anchor in {a} says (header seq {header_seq}, the anchor saw \
                 {anchor_header_seq}): an older copy of the store was put back. Do not run a \
                 node on it; if you restored it on purpose, accept it explicitly with \
                 `encrypted-kvstore anchor accept {d} --anchor {a}`"
            ),
        ),
        OpenError::NotInitialized => Failure::new(
            Kind::NotEncrypted,
            format!(
                "{d} is not an encrypted store: it has no encrypted-kvstore header \
                 (encrypted_kvstore/header). Use `encrypt` to make one from a plaintext store."
            ),
        ),
        OpenError::AlreadyInitialized => Failure::new(
            Kind::DestinationNotEmpty,
            format!("{d} already holds an encrypted store; refusing to overwrite it"),
        ),
        OpenError::ExistingData { primary_namespace } => Failure::new(
            Kind::DestinationNotEmpty,
            format!(
                "{d} already holds plaintext values (in primary namespace \"{primary_namespace}\"); \
                 use `encrypt --from {d} --to NEW_DIR` instead"
            ),
        ),
        OpenError::WrongPassphrase => Failure::new(
            Kind::WrongPassphrase,
            format!("wrong passphrase: it does not unlock the encrypted store in {d}"),
        ),
        OpenError::RawKeyRequired => Failure::new(
            Kind::BadHeader,
            format!(
                "the store in {d} is protected by a raw 32-byte key, not a passphrase; \
                 this tool only opens passphrase-protected stores"
            ),
        ),
        OpenError::EmptyPassphrase => {
            Failure::new(Kind::Passphrase, "the passphrase may not be empty")
        }
        e @ (OpenError::CorruptHeader { .. }
        | OpenError::UnsupportedVersion { .. }
        | OpenError::KdfParamsOutOfBounds
        | OpenError::HeaderAuthenticationFailed) => {
            Failure::new(Kind::BadHeader, format!("{d}: {}", chain(&e)))
        }
        // A value read while accepting the current state: refused as a read is.
        OpenError::Io(ref inner)
            if inner
                .get_ref()
                .is_some_and(|i| i.downcast_ref::<ReadError>().is_some()) =>
        {
            let (kind, _) = read_reason(inner);
            Failure::new(kind, format!("{d}: {}", chain(inner)))
        }
        e => Failure::new(Kind::Io, format!("{d}: {}", chain(&e))),
    }
}

/// Maps a failed header change (a passphrase change, a rotation, detaching the anchor) of the
/// store in `dir`, opened with the anchor `anchor` (`None`: without one, or not named).
pub fn header_error(dir: &Location, anchor: Option<&Path>, e: HeaderError) -> Failure {
    let d = dir.display();
    match e {
        HeaderError::EmptyPassphrase => {
            Failure::new(Kind::Passphrase, "the passphrase may not be empty")
        }
        e @ HeaderError::KdfParamsOutOfBounds => {
            Failure::new(Kind::BadHeader, format!("{d}: {}", chain(&e)))
        }
        e @ HeaderError::Anchor(_) => {
            let a = anchor.map_or_else(|| "DIR".to_owned(), |a| a.display().to_string());
            Failure::new(Kind::Io, format!("{d}: anchor {a}: {}", chain(&e)))
        }
        e => Failure::new(Kind::Io, format!("{d}: {}", chain(&e))),
    }
}

/// A listing of the store in `dir` failed while doing `what`. A stored name the store did not
/// make (with encrypted names) is a verification failure, and a key deleted behind
/// the store's back a freshness failure; each names what was found, never an entry skipped.
pub fn list_error(what: &str, dir: &Location, e: &lightning::io::Error) -> Failure {
    match e.get_ref().and_then(|i| i.downcast_ref::<ListError>()) {
        Some(l @ ListError::UndecodableName { .. }) => {
            Failure::new(Kind::Verification, format!("{}: {l}", dir.display()))
        }
        Some(l @ ListError::Missing { .. }) => Failure::new(
            Kind::Freshness,
            format!("FRESHNESS CHECK FAILED: {}: {l}", dir.display()),
        ),
        Some(l @ ListError::InvalidName(_)) => Failure::new(Kind::Usage, l.to_string()),
        _ => io_at(what, dir, e),
    }
}

/// Why reading one value failed, for reports (never value bytes).
pub fn read_reason(e: &lightning::io::Error) -> (Kind, String) {
    match e.get_ref().and_then(|i| i.downcast_ref::<ReadError>()) {
        Some(ReadError::AuthenticationFailed { .. }) => {
            return (
                Kind::Verification,
                "authentication failed (tampered, truncated, moved or not written by this store)"
                    .to_owned(),
            )
        }
        Some(r @ (ReadError::Rollback { .. } | ReadError::Missing { .. })) => {
            return (Kind::Freshness, format!("FRESHNESS CHECK FAILED: {r}"))
        }
        _ => {}
    }
    match e.kind() {
        lightning::io::ErrorKind::NotFound => (
            Kind::KeyNotFound,
            "not found (removed while the tool ran?)".to_owned(),
        ),
        lightning::io::ErrorKind::InvalidInput => (Kind::Usage, chain(e)),
        _ => (Kind::Io, format!("I/O error: {}", chain(e))),
    }
}

/// Maps a failed rotation, re-encryption or retirement of data keys of the store in `dir`.
pub fn rotate_error(dir: &Location, e: RotateError) -> Failure {
    rotate_error_anchored(dir, None, e)
}

/// Maps a failed maintenance call (a passphrase change, a rotation, re-encryption or
/// retirement, detaching the anchor) of the store in `dir`, opened with the anchor `anchor`.
pub fn rotate_error_anchored(dir: &Location, anchor: Option<&Path>, e: RotateError) -> Failure {
    let d = dir.display();
    match e {
        RotateError::KeyringFull => Failure::new(
            Kind::RotationUnfinished,
            format!(
                "{d}: the keyring is full (8 data keys): finish the earlier rotations with \
                 `encrypted-kvstore rotate --resume {d}` (re-encrypts every value and retires the \
                 old keys), then rotate again"
            ),
        ),
        RotateError::NotReencrypted {
            primary_namespace,
            secondary_namespace,
            key,
            key_id,
        } => Failure::new(
            Kind::RotationUnfinished,
            format!(
                "{d}: the old keys were not retired: primary namespace \"{primary_namespace}\", \
                 secondary namespace \"{secondary_namespace}\", key \"{key}\" is still sealed \
                 under key {key_id} (was the node running?). Stop the node and run \
                 `encrypted-kvstore rotate --resume {d}`"
            ),
        ),
        RotateError::Header(e) => header_error(dir, anchor, e),
        RotateError::Read(e) => {
            // The library's read errors name the key; the kind decides the exit code.
            let (kind, _) = read_reason(&e);
            Failure::new(
                kind,
                format!("{d}: a value could not be read: {}", chain(&e)),
            )
        }
        RotateError::List(e) => list_error("cannot list the keys of", dir, &e),
        e => Failure::new(Kind::Io, format!("{d}: {}", chain(&e))),
    }
}
