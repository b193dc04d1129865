//! `encrypted-kvstore`: encrypt an existing LDK node's `FilesystemStore` directory or
//! ldk-node's SQLite database (into the same kind of store, or into a PostgreSQL table),
//! verify it, change its passphrase, and inspect it.

mod cmd;
mod fail;
mod layout;
mod location;
mod pass;
mod pg;
mod progress;
mod sqlite;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::fail::EXIT_CODES_HELP;
use crate::location::{StoreArg, DEFAULT_PG_TABLE};

const PASSPHRASE_HELP: &str = "\
Passphrases are read from --passphrase-file FILE (one trailing newline is stripped), else from \
the environment variable ENCRYPTED_KVSTORE_PASSPHRASE, else from a prompt with no echo when \
standard input is a terminal (a new passphrase is asked twice). `passwd` reads the new \
passphrase from --new-passphrase-file or ENCRYPTED_KVSTORE_NEW_PASSPHRASE the same way. \
A passphrase is never taken as a plain command-line argument.";

const POSTGRES_HELP: &str = "\
A store may also be a table in a PostgreSQL database: give a connection URL \
(postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?...], or postgres://...) wherever a STORE is \
taken, and the table with --pg-table NAME (default: ldk_data, ldk-node's). The password in a \
URL is never printed, but the command line is visible to other local users in the process list: \
leave the password out of the URL and set the environment variable PGPASSWORD instead (used \
only for a URL that holds no password).";

/// Encrypt an LDK node's data at rest, check it, and manage its passphrase.
///
/// A store is a directory (LDK's `FilesystemStore` layout), a file (ldk-node's SQLite
/// database, `ldk_node_data.sqlite`, table `ldk_node_data`) or a table in a PostgreSQL database
/// (a `postgresql://` URL and --pg-table); `encrypt` and `decrypt` write a store of the same
/// kind as their source, or into PostgreSQL when TO is a URL. Stop the node before `encrypt`,
/// `decrypt`, `passwd` or `rotate`: the tool must be the only program using a store while it
/// works on it.
#[derive(Parser, Debug)]
#[command(name = "encrypted-kvstore", version)]
#[command(after_help = after_help())]
#[command(after_long_help = after_help())]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The table of a store given as a PostgreSQL URL (a plain identifier).
    #[arg(long, global = true, value_name = "NAME", default_value = DEFAULT_PG_TABLE)]
    pg_table: String,
}

fn after_help() -> String {
    format!("{PASSPHRASE_HELP}\n\n{POSTGRES_HELP}\n\n{EXIT_CODES_HELP}")
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a new, empty encrypted store in DIR.
    ///
    /// DIR is created if it does not exist; an existing DIR must be empty (a DIR that already
    /// holds data or an encrypted-store header is refused). DIR may be a PostgreSQL URL: the
    /// table (--pg-table) is created if it does not exist and must hold no row. Asks for a new
    /// passphrase. With --anchor DIR the store is watched by a freshness anchor kept in DIR, and
    /// every later command needs --anchor DIR to open it.
    #[command(after_long_help = after_help())]
    Init {
        /// Directory of the new store, or a PostgreSQL URL (a table that holds no row).
        dir: StoreArg,
        #[command(flatten)]
        pass: PassOpts,
        #[command(flatten)]
        kdf: KdfOpts,
        #[command(flatten)]
        format: FormatOpts,
        #[command(flatten)]
        anchor: AnchorOpts,
    },
    /// Copy every value of a plaintext store into a new encrypted store of the same kind, or
    /// into a PostgreSQL table.
    ///
    /// TO may be a PostgreSQL URL whatever the source: the copy is then built in the table
    /// `<TABLE>_ekv_partial`, read back from there, and moved into the table --pg-table (which
    /// must hold no row, and which the tool holds meanwhile, as a node would) in one
    /// transaction; a rerun drops the staging table an interrupted run left.
    ///
    /// The source is a FilesystemStore directory, an ldk-node SQLite database file or a
    /// PostgreSQL table. Into a path, the copy is built in `<TO>.partial` next to TO; every value
    /// is then read back through the encrypted store and compared with the source, and only
    /// then is the copy put in place as TO. The source is only read, never modified. If the run
    /// is interrupted, run the same command again: it removes the incomplete `<TO>.partial` and
    /// starts over. TO must not exist (a directory TO may exist if empty). An encrypted database
    /// keeps ldk-node's schema and `user_version`, so ldk-node opens it through
    /// `EncryptedStore<SqliteStore>`. Symbolic links inside a source directory are refused
    /// unless --follow-symlinks is given. `decrypt` turns the new store back into the plaintext
    /// store. With --anchor DIR the new store is watched by a freshness anchor kept in DIR. Stop
    /// the node first.
    #[command(after_long_help = after_help())]
    Encrypt {
        /// The node's plaintext data directory (FilesystemStore layout), SQLite database, or
        /// PostgreSQL table (a URL).
        #[arg(long, value_name = "PLAIN_STORE")]
        from: StoreArg,
        /// The new encrypted store: a directory for a directory source (must not exist, or be
        /// empty), a database file for a database source (must not exist), or a PostgreSQL
        /// table for a URL (it must hold no row; it is filled in one transaction at the end,
        /// from the staging table <TABLE>_ekv_partial).
        #[arg(long, value_name = "STORE")]
        to: StoreArg,
        #[command(flatten)]
        from_table: FromTableOpts,
        /// Leave out the entry NAME directly inside PLAIN_DIR (repeatable): a file or directory
        /// that is not part of the key-value store, such as a `logs` directory. Excluded
        /// entries are neither checked nor copied.
        #[arg(long, value_name = "NAME")]
        exclude: Vec<String>,
        /// Copy what symbolic links inside PLAIN_STORE point to. Without it a directory that
        /// holds links is refused (exit 5) and the links are named: LDK never writes links, and
        /// one can point outside the node's directory.
        #[arg(long)]
        follow_symlinks: bool,
        #[command(flatten)]
        pass: PassOpts,
        #[command(flatten)]
        kdf: KdfOpts,
        #[command(flatten)]
        format: FormatOpts,
        #[command(flatten)]
        anchor: AnchorOpts,
    },
    /// Copy every value of an encrypted store into a new PLAINTEXT store of the same kind (a
    /// directory for a PostgreSQL source), or into a PostgreSQL table.
    ///
    /// The reverse of `encrypt`, with the same staging, read-back comparison and rerun
    /// behaviour (a rerun removes the plaintext `<TO>.partial` an interrupted run left). The
    /// output holds your node's secrets unencrypted: protect or delete it.
    #[command(after_long_help = after_help())]
    Decrypt {
        /// The encrypted store (directory, database file or PostgreSQL table).
        #[arg(long, value_name = "STORE")]
        from: StoreArg,
        /// The new plaintext store (must not exist; a directory may exist if empty, a
        /// PostgreSQL table if it holds no row).
        #[arg(long, value_name = "PLAIN_STORE")]
        to: StoreArg,
        #[command(flatten)]
        from_table: FromTableOpts,
        #[command(flatten)]
        pass: PassOpts,
        #[command(flatten)]
        anchor: AnchorOpts,
    },
    /// Authenticate every value of an encrypted store.
    ///
    /// Prints each namespace/key whose value fails to authenticate (never any value bytes)
    /// and exits 0 only if every value verifies (1 otherwise). With --anchor DIR (required
    /// for an anchored store) it also checks freshness: that the header is not older than the
    /// anchor says, and that no value was rolled back, deleted or resurrected (exit 13 if one
    /// was; a deleted value or namespace is found while listing, before any value is read).
    #[command(after_long_help = after_help())]
    Verify {
        /// The encrypted store.
        dir: StoreArg,
        #[command(flatten)]
        pass: PassOpts,
        #[command(flatten)]
        anchor: AnchorOpts,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Change the passphrase of an encrypted store.
    ///
    /// Asks for the current passphrase and twice for the new one. Only the header is
    /// rewritten (in one atomic write); values are not re-encrypted, so a copy of the OLD
    /// header (a backup) still opens the store with the OLD passphrase.
    #[command(after_long_help = after_help())]
    Passwd {
        /// The encrypted store.
        dir: StoreArg,
        #[command(flatten)]
        pass: PassOpts,
        /// Read the new passphrase from FILE (one trailing newline is stripped).
        #[arg(long, value_name = "FILE")]
        new_passphrase_file: Option<PathBuf>,
        #[command(flatten)]
        kdf: KdfOpts,
        #[command(flatten)]
        anchor: AnchorOpts,
    },
    /// List keys of an encrypted store.
    ///
    /// Without PRIMARY, lists every key as a path (`key`, `primary/key` or
    /// `primary/secondary/key`). With PRIMARY (use "" for the top level) and optionally
    /// SECONDARY, lists the keys of that namespace. Names are stored in clear unless the store
    /// was made with --encrypt-names: then `ls` needs the passphrase to decode them (without
    /// one it says that the names are encrypted and prints none of the stored names);
    /// otherwise no passphrase is needed or asked for, and names in clear are listed from the
    /// files even for an anchored store. With --anchor DIR the store is opened with the
    /// passphrase and its anchor checked, as for encrypted names.
    #[command(after_long_help = after_help())]
    Ls {
        /// The encrypted store.
        dir: StoreArg,
        /// Primary namespace.
        primary: Option<String>,
        /// Secondary namespace (default: "").
        secondary: Option<String>,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        pass: PassOpts,
        #[command(flatten)]
        anchor: AnchorOpts,
    },
    /// Write one decrypted value to stdout, as raw bytes.
    ///
    /// Refuses to write to a terminal unless --force is given: redirect stdout to a file.
    #[command(after_long_help = after_help())]
    Cat {
        /// The encrypted store.
        dir: StoreArg,
        /// Primary namespace ("" for the top level).
        primary: String,
        /// Secondary namespace ("" for none).
        secondary: String,
        /// Key.
        key: String,
        /// Write the raw bytes even when stdout is a terminal.
        #[arg(long, alias = "raw")]
        force: bool,
        #[command(flatten)]
        pass: PassOpts,
        #[command(flatten)]
        anchor: AnchorOpts,
    },
    /// Show the store's format version, KDF parameters and number of values.
    ///
    /// Also which options are on (names encrypted, values padded), the data key ids, the
    /// header sequence number, the version limit and whether the store is anchored (watched by
    /// a freshness anchor). Reads only the public
    /// header and the file list: no passphrase needed, no secret shown, nothing written.
    #[command(after_long_help = after_help())]
    Info {
        /// The encrypted store.
        dir: StoreArg,
        /// Print the result as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Replace the data key of a store: rotate, re-encrypt, retire.
    ///
    /// Adds a new data key to the header and makes it the one that seals new writes (one
    /// header write), rewrites every value under it (one complete write per value, with a new
    /// record version), then removes the old keys from the header once no value needs them;
    /// backups of values sealed under a retired key no longer open with the store's header.
    /// An interrupted run loses nothing (the old keys stay until every value is re-encrypted):
    /// finish it with `rotate --resume`. Stop the node first: the tool must be the only program
    /// writing the store. After a suspected compromise, change the passphrase (`passwd`) and
    /// rotate.
    #[command(after_long_help = after_help())]
    Rotate {
        /// The encrypted store.
        dir: StoreArg,
        #[command(flatten)]
        pass: PassOpts,
        /// Rotate and re-encrypt, but keep the old keys in the header (retire them later with
        /// `rotate --resume`).
        #[arg(long)]
        no_retire: bool,
        /// Add no new key: re-encrypt what an interrupted or --no-retire run left under an old
        /// key, then retire the old keys.
        #[arg(long)]
        resume: bool,
        #[command(flatten)]
        anchor: AnchorOpts,
    },
    /// Attach a freshness anchor to a store, re-accept a store after its anchor was lost, or
    /// detach the anchor.
    ///
    /// A freshness anchor is a directory kept apart from the store (not inside it, and not
    /// restored or rolled back with it) where the store's latest header sequence number and
    /// every value's version are recorded. A store opened with its anchor refuses an older
    /// copy of itself put back in place (a rolled-back header, a value rolled back, deleted or
    /// resurrected): the failure is reported as a freshness failure (exit 13). Stop the node
    /// first.
    #[command(after_long_help = after_help())]
    Anchor {
        #[command(subcommand)]
        command: AnchorCommand,
    },
}

#[derive(Subcommand, Debug)]
enum AnchorCommand {
    /// Trust the store as it is now: record its current state in the anchor and mark it
    /// anchored.
    ///
    /// Every value is read and must authenticate, or the anchor is left as it was; then each
    /// value's version and the header are recorded in the anchor in DIR (a new epoch: what the
    /// anchor held for this store before is replaced), and the header is marked anchored.
    /// From then on every command needs --anchor DIR to open the store. Use it to attach an
    /// anchor to a store, or to go on after the anchor was lost (a new device, an emptied
    /// anchor directory) or after restoring an older copy of the store ON PURPOSE: whatever the
    /// store holds now is accepted as fresh, so run it only when you know the store is the one
    /// you mean to keep.
    #[command(after_long_help = after_help())]
    Accept {
        /// The encrypted store.
        dir: StoreArg,
        /// The anchor directory (created if it does not exist).
        #[arg(long = "anchor", value_name = "DIR")]
        anchor: PathBuf,
        #[command(flatten)]
        pass: PassOpts,
    },
    /// Stop watching the store with its anchor: the store opens without --anchor again.
    ///
    /// Opens the store with its anchor (so the freshness checks still apply), then clears the
    /// header's anchored mark in one header write. Rollback of the store across restarts is no
    /// longer detected. The anchor's records of this store are left in DIR.
    #[command(after_long_help = after_help())]
    Detach {
        /// The encrypted store.
        dir: StoreArg,
        /// The anchor directory the store is attached to.
        #[arg(long = "anchor", value_name = "DIR")]
        anchor: PathBuf,
        #[command(flatten)]
        pass: PassOpts,
    },
}

/// The freshness anchor of a store.
#[derive(Args, Debug)]
pub struct AnchorOpts {
    /// The store's freshness anchor: a directory (LDK FilesystemStore layout) kept apart from
    /// the store, never inside it nor restored with it. Required to open an anchored store;
    /// for `init` and `encrypt`, the new store is anchored there.
    #[arg(long, value_name = "DIR")]
    anchor: Option<PathBuf>,
}

/// The table of a source in PostgreSQL, when it is not the destination's.
#[derive(Args, Debug)]
pub struct FromTableOpts {
    /// The table of a --from given as a PostgreSQL URL [default: the --pg-table value], so
    /// that one database can hold both the source and the destination.
    #[arg(long, value_name = "NAME")]
    from_pg_table: Option<String>,
}

/// Where the passphrase of the store comes from.
#[derive(Args, Debug)]
pub struct PassOpts {
    /// Read the passphrase from FILE (one trailing newline is stripped). Otherwise the
    /// environment variable ENCRYPTED_KVSTORE_PASSPHRASE, otherwise a prompt.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

/// The options of a new store.
#[derive(Args, Debug)]
pub struct FormatOpts {
    /// Encrypt namespace and key names too: the store's files are named by ciphertext, and
    /// `ls` needs the passphrase. Names longer than 74 bytes are refused. Fixed for the life of
    /// the store.
    #[arg(long)]
    encrypt_names: bool,
    /// Pad every value to a size bucket (Padmé, at most 12 % more), so stored sizes reveal
    /// less about the values. Fixed for the life of the store.
    #[arg(long)]
    pad: bool,
}

/// Argon2id costs for a new passphrase.
#[derive(Args, Debug)]
pub struct KdfOpts {
    /// Argon2id memory cost in KiB [default: 65536 (64 MiB); at least 19456].
    #[arg(long, value_name = "KIB")]
    kdf_memory_kib: Option<u32>,
    /// Argon2id passes over memory [default: 3; at least 2].
    #[arg(long, value_name = "N")]
    kdf_iterations: Option<u32>,
    /// Argon2id lanes [default: 4].
    #[arg(long, value_name = "N")]
    kdf_parallelism: Option<u32>,
    /// FOR TESTS ONLY, NEVER FOR REAL DATA: use a trivially cheap key derivation (64 KiB, one
    /// pass), which makes the passphrase easy to brute-force from a copy of the store.
    #[arg(
        long,
        conflicts_with_all = ["kdf_memory_kib", "kdf_iterations", "kdf_parallelism"]
    )]
    insecure_kdf_for_tests_only: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A parse error may repeat an argument, a URL with its password among them.
        Err(e) if e.use_stderr() => {
            eprint!("{}", location::scrub(&e.render().to_string()));
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
        Err(e) => e.exit(),
    };
    match cmd::run(cli.command, &cli.pg_table) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", location::scrub(&f.to_string()));
            f.exit_code()
        }
    }
}
