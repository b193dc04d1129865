//! The subcommands, one file each. Every command works through the library's public API on
//! any kind of inner store (`crate::store`): an LDK `FilesystemStore` directory, an ldk-node
//! SQLite database, or a PostgreSQL table.

mod anchor;
mod cat;
mod copy;
mod decrypt;
mod encrypt;
mod info;
mod init;
mod ls;
mod passwd;
mod rotate;
mod verify;

use std::io::BufRead;
use std::path::Path;

use encrypted_kvstore::{KdfParams, OpenOptions};
use lightning::util::persist::MigratableKVStore;
use serde::Serialize;

use crate::fail::{self, Failure, Kind};
use crate::layout;
use crate::location::Location;
use crate::pass::{self, Secret, Source, PASSPHRASE_ENV};
use crate::{AnchorCommand, Command, FormatOpts, KdfOpts, PassOpts};

/// (primary namespace, secondary namespace, key).
type Key = (String, String, String);

/// Test hook: with this variable set to a pause point's name, the command stops there, says
/// `test pause: NAME` on stderr and waits for one line on stdin. It changes nothing; it lets
/// the tests change the source or interrupt the tool at a known step instead of racing it.
/// Points: `encrypt-copied`, `decrypt-copied` (after the copy, before the read-back);
/// `rotate-rotated` (after the new data key's header write, before re-encryption);
/// `reencrypt-first` (after the first value of a re-encryption pass); `rotate-reencrypted`
/// (after the re-encryption pass, before the old keys are retired).
pub const TEST_PAUSE_ENV: &str = "ENCRYPTED_KVSTORE_TEST_PAUSE";

fn pause_point(point: &str) {
    if std::env::var_os(TEST_PAUSE_ENV).is_some_and(|v| v == point) {
        eprintln!("test pause: {point}");
        let _ = std::io::stdin().lock().read_line(&mut String::new());
    }
}

/// Runs one subcommand; a store given as a PostgreSQL URL is the table `pg_table`.
pub fn run(c: Command, pg_table: &str) -> Result<(), Failure> {
    let at = |s: crate::location::StoreArg| s.resolve(pg_table);
    match c {
        Command::Init {
            dir,
            pass,
            kdf,
            format,
            anchor,
        } => init::run(
            &at(dir),
            &NewOpts {
                pass: &pass,
                kdf: &kdf,
                format: &format,
                anchor: anchor.anchor.as_deref(),
            },
        ),
        Command::Encrypt {
            from,
            to,
            from_table,
            exclude,
            follow_symlinks,
            pass,
            kdf,
            format,
            anchor,
        } => encrypt::run(
            &from.resolve(from_table.from_pg_table.as_deref().unwrap_or(pg_table)),
            &at(to),
            &exclude,
            follow_symlinks,
            &NewOpts {
                pass: &pass,
                kdf: &kdf,
                format: &format,
                anchor: anchor.anchor.as_deref(),
            },
        ),
        Command::Decrypt {
            from,
            to,
            from_table,
            pass,
            anchor,
        } => decrypt::run(
            &from.resolve(from_table.from_pg_table.as_deref().unwrap_or(pg_table)),
            &at(to),
            &pass,
            anchor.anchor.as_deref(),
        ),
        Command::Verify {
            dir,
            pass,
            anchor,
            json,
        } => verify::run(&at(dir), &pass, anchor.anchor.as_deref(), json),
        Command::Passwd {
            dir,
            pass,
            new_passphrase_file,
            kdf,
            anchor,
        } => passwd::run(
            &at(dir),
            &pass,
            new_passphrase_file.as_deref(),
            &kdf,
            anchor.anchor.as_deref(),
        ),
        Command::Ls {
            dir,
            primary,
            secondary,
            json,
            pass,
            anchor,
        } => ls::run(
            &at(dir),
            primary.as_deref(),
            secondary.as_deref(),
            json,
            &pass,
            anchor.anchor.as_deref(),
        ),
        Command::Cat {
            dir,
            primary,
            secondary,
            key,
            force,
            pass,
            anchor,
        } => cat::run(
            &at(dir),
            (&primary, &secondary, &key),
            force,
            &pass,
            anchor.anchor.as_deref(),
        ),
        Command::Info { dir, json } => info::run(&at(dir), json),
        Command::Rotate {
            dir,
            pass,
            no_retire,
            resume,
            anchor,
        } => rotate::run(&at(dir), &pass, no_retire, resume, anchor.anchor.as_deref()),
        Command::Anchor { command } => match command {
            AnchorCommand::Accept { dir, anchor, pass } => anchor::accept(&at(dir), &anchor, &pass),
            AnchorCommand::Detach { dir, anchor, pass } => anchor::detach(&at(dir), &anchor, &pass),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Shared by the commands

/// How a new store is made (`init`, `encrypt`): its passphrase, KDF costs, format and anchor.
struct NewOpts<'a> {
    pass: &'a PassOpts,
    kdf: &'a KdfOpts,
    format: &'a FormatOpts,
    /// The directory of the freshness anchor of the new store, if it is anchored.
    anchor: Option<&'a Path>,
}

fn kdf_params(k: &KdfOpts) -> Result<KdfParams, Failure> {
    if k.insecure_kdf_for_tests_only {
        eprintln!(
            "warning: --insecure-kdf-for-tests-only: the passphrase is protected by a trivially \
             cheap key derivation; never use this for real data"
        );
        return KdfParams::insecure_for_tests_only(64, 1, 1)
            .map_err(|e| Failure::new(Kind::Usage, e.to_string()));
    }
    let d = KdfParams::default();
    KdfParams::new(
        k.kdf_memory_kib.unwrap_or(d.memory_kib()),
        k.kdf_iterations.unwrap_or(d.iterations()),
        k.kdf_parallelism.unwrap_or(d.parallelism()),
    )
    .map_err(|e| Failure::new(Kind::Usage, format!("invalid KDF parameters: {e}")))
}

/// The options `create` is given for a new store with the options the flags ask for, anchored
/// in the directory `anchor` if one is given.
fn create_options(f: &FormatOpts, anchor: Option<&Path>) -> OpenOptions {
    let mut o = crate::store::with_anchor(OpenOptions::new(), anchor);
    if f.encrypt_names {
        o = o.encrypt_names();
    }
    if f.pad {
        o = o.pad_values();
    }
    o
}

/// How a new store's format is described in a command's summary line.
fn describe_format(f: &FormatOpts, anchor: Option<&Path>) -> String {
    let mut s = format!("format {}", encrypted_kvstore::FORMAT_VERSION);
    if f.encrypt_names {
        s.push_str(", names encrypted");
    }
    if f.pad {
        s.push_str(", values padded");
    }
    if let Some(a) = anchor {
        s.push_str(&format!(", anchored in {}", a.display()));
    }
    s
}

fn current_passphrase(p: &PassOpts, dir: &Location) -> Result<Secret, Failure> {
    pass::obtain(
        &Source {
            file: p.passphrase_file.as_deref(),
            file_flag: "--passphrase-file",
            env: PASSPHRASE_ENV,
            prompt: &format!("Passphrase for {}: ", dir.display()),
        },
        false,
    )
}

fn new_passphrase(
    file: Option<&Path>,
    flag: &str,
    env: &str,
    dir: &Location,
) -> Result<Secret, Failure> {
    pass::obtain(
        &Source {
            file,
            file_flag: flag,
            env,
            prompt: &format!("New passphrase for {}: ", dir.display()),
        },
        true,
    )
}

/// The store's path form, as `ls` prints it: `key`, `primary/key` or `primary/secondary/key`
/// (unambiguous, since LDK allows a secondary namespace only under a primary one).
fn path_of((p, s, k): (&str, &str, &str)) -> String {
    match (p.is_empty(), s.is_empty()) {
        (true, _) => k.to_owned(),
        (false, true) => format!("{p}/{k}"),
        (false, false) => format!("{p}/{s}/{k}"),
    }
}

fn key_path(k: &Key) -> String {
    path_of((&k.0, &k.1, &k.2))
}

fn list_sorted<S: MigratableKVStore>(s: &S, dir: &Location) -> Result<Vec<Key>, Failure> {
    let mut keys = s
        .list_all_keys()
        .map_err(|e| fail::list_error("cannot list the keys of", dir, &e))?;
    keys.sort();
    Ok(keys)
}

/// One value that failed: which, why, and the exit-code kind.
struct ValueFailure {
    key: Key,
    kind: Kind,
    reason: String,
}

/// Prints failures on stderr and turns them into one failure (see [`worst_kind`]).
fn report(failures: &[ValueFailure], what: String) -> Failure {
    for f in failures {
        eprintln!("  {}: {}", key_path(&f.key), f.reason);
    }
    Failure::new(worst_kind(failures), what)
}

/// The exit-code kind of a set of failed values: a freshness failure (exit 13) if any value
/// was rolled back, deleted or resurrected, else exit 1 if any failed authentication or
/// comparison, otherwise the first failure's kind.
fn worst_kind(failures: &[ValueFailure]) -> Kind {
    if failures.iter().any(|f| f.kind == Kind::Freshness) {
        Kind::Freshness
    } else if failures.iter().any(|f| f.kind == Kind::Verification) {
        Kind::Verification
    } else {
        failures.first().map(|f| f.kind).unwrap_or(Kind::Io)
    }
}

fn note_artifacts(dir: &Path, l: &layout::Layout) {
    if let Some(first) = l.artifacts.first() {
        eprintln!(
            "note: skipping {} temporary file(s) in {} left by interrupted writes (LDK ignores \
             them too), e.g. {}",
            l.artifacts.len(),
            dir.display(),
            first.display()
        );
    }
}

fn print_json<T: Serialize>(v: &T) -> Result<(), Failure> {
    let s = serde_json::to_string_pretty(v)
        .map_err(|e| Failure::new(Kind::Io, format!("cannot encode JSON: {e}")))?;
    println!("{s}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_unambiguous() {
        assert_eq!(path_of(("", "", "manager")), "manager");
        assert_eq!(path_of(("monitors", "", "abc_1")), "monitors/abc_1");
        assert_eq!(
            path_of(("monitor_updates", "abc_1", "7")),
            "monitor_updates/abc_1/7"
        );
    }

    #[test]
    fn kdf_flags_are_validated_by_the_library() {
        let opts = |m, t, p, insecure| KdfOpts {
            kdf_memory_kib: m,
            kdf_iterations: t,
            kdf_parallelism: p,
            insecure_kdf_for_tests_only: insecure,
        };
        assert_eq!(
            kdf_params(&opts(None, None, None, false)).unwrap(),
            KdfParams::default()
        );
        assert_eq!(
            kdf_params(&opts(Some(19 * 1024), Some(2), Some(1), false)).unwrap(),
            KdfParams::new(19 * 1024, 2, 1).unwrap()
        );
        assert_eq!(
            kdf_params(&opts(Some(1024), None, None, false))
                .unwrap_err()
                .kind,
            Kind::Usage
        );
        assert_eq!(
            kdf_params(&opts(None, None, Some(0), false))
                .unwrap_err()
                .kind,
            Kind::Usage
        );
        assert_eq!(
            kdf_params(&opts(None, None, None, true))
                .unwrap()
                .memory_kib(),
            64
        );
    }
}
