//! The subcommands. Everything goes through the library's public API over LDK's
//! `FilesystemStore`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use encrypted_kvstore::{
    EncryptedStore, KdfParams, OpenError, Protection, StoreInfo, RESERVED_PRIMARY_NAMESPACE,
};
use lightning::util::persist::{KVStoreSync, MigratableKVStore};
use lightning_persister::fs_store::FilesystemStore;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::fail::{self, chain, open_error, read_reason, Failure, Kind};
use crate::layout::{self, Staging};
use crate::pass::{self, Secret, Source, NEW_PASSPHRASE_ENV, PASSPHRASE_ENV};
use crate::progress::Progress;
use crate::{Command, KdfOpts, PassOpts};

/// (primary namespace, secondary namespace, key).
type Key = (String, String, String);

/// Runs one subcommand.
pub fn run(c: Command) -> Result<(), Failure> {
    match c {
        Command::Init { dir, pass, kdf } => init(&dir, &pass, &kdf),
        Command::Encrypt {
            from,
            to,
            exclude,
            pass,
            kdf,
        } => encrypt(&from, &to, &exclude, &pass, &kdf),
        Command::Decrypt { from, to, pass } => decrypt(&from, &to, &pass),
        Command::Verify { dir, pass, json } => verify(&dir, &pass, json),
        Command::Passwd {
            dir,
            pass,
            new_passphrase_file,
            kdf,
        } => passwd(&dir, &pass, new_passphrase_file.as_deref(), &kdf),
        Command::Ls {
            dir,
            primary,
            secondary,
            json,
        } => ls(&dir, primary.as_deref(), secondary.as_deref(), json),
        Command::Cat {
            dir,
            primary,
            secondary,
            key,
            force,
            pass,
        } => cat(&dir, (&primary, &secondary, &key), force, &pass),
        Command::Info { dir, json } => info(&dir, json),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers

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

fn current_passphrase(p: &PassOpts, dir: &Path) -> Result<Secret, Failure> {
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
    dir: &Path,
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

fn list_sorted<S: MigratableKVStore>(s: &S, dir: &Path) -> Result<Vec<Key>, Failure> {
    let mut keys = s
        .list_all_keys()
        .map_err(|e| fail::io("cannot list the keys of", dir, &e))?;
    keys.sort();
    Ok(keys)
}

/// Checks that `dir` is an encrypted store (exists, `FilesystemStore` layout, header) and
/// returns its public header facts.
fn check_encrypted_dir(dir: &Path) -> Result<StoreInfo, Failure> {
    if !dir.is_dir() {
        return Err(Failure::new(
            Kind::NotEncrypted,
            format!(
                "{} is not an encrypted store: no such directory (or not a directory)",
                dir.display()
            ),
        ));
    }
    layout::check(dir)?;
    EncryptedStore::inspect(&FilesystemStore::new(dir.to_path_buf()))
        .map_err(|e| open_error(dir, e))
}

fn open_store(dir: &Path, pw: &Secret) -> Result<EncryptedStore<FilesystemStore>, Failure> {
    EncryptedStore::open(FilesystemStore::new(dir.to_path_buf()), pw)
        .map_err(|e| open_error(dir, e))
}

/// One value that failed: which, why, and the exit-code kind.
struct ValueFailure {
    key: Key,
    kind: Kind,
    reason: String,
}

/// Prints failures on stderr and turns them into one failure (exit 1 when any value failed
/// authentication or comparison, otherwise the first failure's kind).
fn report(failures: &[ValueFailure], what: String) -> Failure {
    for f in failures {
        eprintln!("  {}: {}", key_path(&f.key), f.reason);
    }
    let kind = if failures.iter().any(|f| f.kind == Kind::Verification) {
        Kind::Verification
    } else {
        failures.first().map(|f| f.kind).unwrap_or(Kind::Io)
    };
    Failure::new(kind, what)
}

/// Copies every key from `src` to `dst`. Returns the number of value bytes copied.
fn copy_all<S: KVStoreSync, D: KVStoreSync>(
    src: &S,
    dst: &D,
    keys: &[Key],
    label: &str,
) -> Result<u64, Vec<ValueFailure>> {
    let bar = Progress::new(keys.len(), label);
    let mut bytes = 0u64;
    let mut failures = Vec::new();
    for key in keys {
        let (p, s, k) = (&key.0, &key.1, &key.2);
        match KVStoreSync::read(src, p, s, k) {
            Ok(v) => {
                let v = Zeroizing::new(v);
                bytes += v.len() as u64;
                if let Err(e) = KVStoreSync::write(dst, p, s, k, v.to_vec()) {
                    failures.push(ValueFailure {
                        key: key.clone(),
                        kind: Kind::Io,
                        reason: format!("cannot write the copy: {}", chain(&e)),
                    });
                }
            }
            Err(e) => {
                let (kind, reason) = read_reason(&e);
                failures.push(ValueFailure {
                    key: key.clone(),
                    kind,
                    reason: format!("cannot read the source: {reason}"),
                });
            }
        }
        bar.inc();
    }
    if failures.is_empty() {
        Ok(bytes)
    } else {
        Err(failures)
    }
}

/// Reads every value back from both stores and compares. Also checks that neither store's key
/// list (the source's from `relist_src`) differs from `keys`: the source changing during the
/// copy means the node is running.
fn compare_all<S, D>(
    src: &S,
    src_dir: &Path,
    relist_src: impl FnOnce() -> Result<Vec<Key>, Failure>,
    copy: &D,
    copy_dir: &Path,
    keys: &[Key],
) -> Result<(), Failure>
where
    S: KVStoreSync,
    D: KVStoreSync + MigratableKVStore,
{
    if relist_src()? != keys {
        return Err(Failure::new(
            Kind::Verification,
            format!(
                "keys were added to or removed from {} while it was being copied: is the node \
                 still running? Stop it and run the command again",
                src_dir.display()
            ),
        ));
    }
    let copied = list_sorted(copy, copy_dir)?;
    if copied != keys {
        let missing = keys.iter().filter(|k| !copied.contains(k)).count();
        let extra = copied.iter().filter(|k| !keys.contains(k)).count();
        return Err(Failure::new(
            Kind::Verification,
            format!(
                "the copy does not hold the same keys as the source ({missing} missing, \
                 {extra} unexpected)"
            ),
        ));
    }
    let bar = Progress::new(keys.len(), "compare");
    let mut failures = Vec::new();
    for key in keys {
        let (p, s, k) = (&key.0, &key.1, &key.2);
        let a = KVStoreSync::read(src, p, s, k).map(Zeroizing::new);
        let b = KVStoreSync::read(copy, p, s, k).map(Zeroizing::new);
        let failure = match (a, b) {
            (Ok(a), Ok(b)) if *a == *b => None,
            (Ok(_), Ok(_)) => Some((
                Kind::Verification,
                "the copy differs from the source (did the node write while the tool ran?)"
                    .to_owned(),
            )),
            (Err(e), _) => {
                let (kind, r) = read_reason(&e);
                Some((kind, format!("cannot read the source again: {r}")))
            }
            (_, Err(e)) => {
                let (kind, r) = read_reason(&e);
                Some((kind, format!("cannot read the copy back: {r}")))
            }
        };
        if let Some((kind, reason)) = failure {
            failures.push(ValueFailure {
                key: key.clone(),
                kind,
                reason,
            });
        }
        bar.inc();
    }
    drop(bar);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(report(
            &failures,
            format!(
                "{} of {} values did not read back identical; nothing was moved into place",
                failures.len(),
                keys.len()
            ),
        ))
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

// ---------------------------------------------------------------------------------------------
// Commands

fn init(dir: &Path, pass: &PassOpts, kdf: &KdfOpts) -> Result<(), Failure> {
    let params = kdf_params(kdf)?;
    let exists = dir.exists();
    if exists {
        if EncryptedStore::inspect(&FilesystemStore::new(dir.to_path_buf())).is_ok() {
            return Err(Failure::new(
                Kind::DestinationNotEmpty,
                format!(
                    "{} already holds an encrypted store; refusing to replace it",
                    dir.display()
                ),
            ));
        }
        layout::check_destination(dir)?;
    } else {
        layout::check_destination(dir)?;
    }
    let pw = new_passphrase(
        pass.passphrase_file.as_deref(),
        "--passphrase-file",
        PASSPHRASE_ENV,
        dir,
    )?;
    if !exists {
        layout::create_private_dir(dir).map_err(|e| fail::io("cannot create", dir, &e))?;
    }
    match EncryptedStore::create(FilesystemStore::new(dir.to_path_buf()), &pw, params) {
        Ok(_) => {
            println!(
                "created an empty encrypted store in {} (Argon2id: {} KiB, {} passes, {} lanes)",
                dir.display(),
                params.memory_kib(),
                params.iterations(),
                params.parallelism()
            );
            Ok(())
        }
        Err(e) => {
            if !exists {
                let _ = std::fs::remove_dir_all(dir);
            }
            Err(open_error(dir, e))
        }
    }
}

fn encrypt(
    from: &Path,
    to: &Path,
    exclude: &[String],
    pass: &PassOpts,
    kdf: &KdfOpts,
) -> Result<(), Failure> {
    let params = kdf_params(kdf)?;
    if let Some(x) = exclude
        .iter()
        .find(|x| x.is_empty() || x.contains(['/', '\\']) || *x == "." || *x == "..")
    {
        return Err(Failure::new(
            Kind::Usage,
            format!("--exclude takes the name of an entry directly in --from, not \"{x}\""),
        ));
    }
    let layout = layout::check_excluding(from, exclude)?;
    for x in exclude {
        if !layout
            .excluded
            .iter()
            .any(|p| p.file_name() == Some(x.as_ref()))
        {
            eprintln!("note: --exclude {x}: there is no {x} in {}", from.display());
        }
    }
    let src = FilesystemStore::new(from.to_path_buf());
    match EncryptedStore::inspect(&src) {
        Err(OpenError::NotInitialized) => {}
        Err(OpenError::Io(e)) => return Err(fail::io("cannot read", from, &e)),
        _ => {
            return Err(Failure::new(
                Kind::NotFilesystemStore,
                format!(
                    "{} is already an encrypted store (it has an encrypted-kvstore header), \
                     not a plaintext one",
                    from.display()
                ),
            ))
        }
    }
    let staging_path = layout::staging_path(to)?;
    layout::refuse_overlap(from, to, &staging_path)?;
    layout::check_destination(to)?;
    let keys = layout.keys.clone();
    if exclude.is_empty() && list_sorted(&src, from)? != keys {
        // The layout walk mirrors FilesystemStore::list_all_keys; never copy on a disagreement.
        return Err(Failure::new(
            Kind::Io,
            format!(
                "the keys of {} changed while it was being listed: is the node still running?",
                from.display()
            ),
        ));
    }
    if keys.iter().any(|k| k.0 == RESERVED_PRIMARY_NAMESPACE) {
        return Err(Failure::new(
            Kind::NotFilesystemStore,
            format!(
                "{} holds values in the primary namespace \"{RESERVED_PRIMARY_NAMESPACE}\", which \
                 an encrypted store reserves for its header",
                from.display()
            ),
        ));
    }
    note_artifacts(from, &layout);
    let pw = new_passphrase(
        pass.passphrase_file.as_deref(),
        "--passphrase-file",
        PASSPHRASE_ENV,
        to,
    )?;

    let staging = Staging::begin(to)?;
    let enc = EncryptedStore::create(FilesystemStore::new(staging.path.clone()), &pw, params)
        .map_err(|e| open_error(&staging.path, e))?;
    let bytes = copy_all(&src, &enc, &keys, "encrypt").map_err(|f| {
        report(
            &f,
            format!(
                "{} values could not be copied; nothing was moved into place",
                f.len()
            ),
        )
    })?;
    drop(enc);
    // Read back through a freshly opened store: proves the header opens with the passphrase and
    // that every record authenticates and decrypts to the source's bytes.
    let enc = open_store(&staging.path, &pw)?;
    let relist = || Ok(layout::check_excluding(from, exclude)?.keys);
    compare_all(&src, from, relist, &enc, &staging.path, &keys)?;
    drop(enc);
    staging.commit()?;
    println!(
        "encrypted {} values ({bytes} bytes) from {} into {}; every value was read back and \
         matched the source",
        keys.len(),
        from.display(),
        to.display()
    );
    for x in &layout.excluded {
        println!("left out (--exclude): {}", x.display());
    }
    Ok(())
}

fn decrypt(from: &Path, to: &Path, pass: &PassOpts) -> Result<(), Failure> {
    check_encrypted_dir(from)?;
    let staging_path = layout::staging_path(to)?;
    layout::refuse_overlap(from, to, &staging_path)?;
    layout::check_destination(to)?;
    let pw = current_passphrase(pass, from)?;
    let enc = open_store(from, &pw)?;
    let keys = list_sorted(&enc, from)?;
    eprintln!(
        "warning: {} will hold the node's data UNENCRYPTED; protect it and delete it when done",
        to.display()
    );
    let staging = Staging::begin(to)?;
    let out = FilesystemStore::new(staging.path.clone());
    let bytes = copy_all(&enc, &out, &keys, "decrypt").map_err(|f| {
        report(
            &f,
            format!(
                "{} values could not be decrypted or copied; nothing was moved into place",
                f.len()
            ),
        )
    })?;
    drop(out);
    let out = FilesystemStore::new(staging.path.clone());
    compare_all(
        &enc,
        from,
        || list_sorted(&enc, from),
        &out,
        &staging.path,
        &keys,
    )?;
    drop(out);
    staging.commit()?;
    println!(
        "decrypted {} values ({bytes} bytes) from {} into {} (PLAINTEXT); every value was read \
         back and matched",
        keys.len(),
        from.display(),
        to.display()
    );
    Ok(())
}

#[derive(Serialize)]
struct KeyJson<'a> {
    primary_namespace: &'a str,
    secondary_namespace: &'a str,
    key: &'a str,
}

#[derive(Serialize)]
struct FailedJson<'a> {
    primary_namespace: &'a str,
    secondary_namespace: &'a str,
    key: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct VerifyJson<'a> {
    directory: String,
    ok: bool,
    values: usize,
    verified: usize,
    failed: Vec<FailedJson<'a>>,
}

fn verify(dir: &Path, pass: &PassOpts, json: bool) -> Result<(), Failure> {
    check_encrypted_dir(dir)?;
    let pw = current_passphrase(pass, dir)?;
    let store = open_store(dir, &pw)?;
    let keys = list_sorted(&store, dir)?;
    let bar = Progress::new(keys.len(), "verify");
    let mut failures: Vec<ValueFailure> = Vec::new();
    for key in &keys {
        // The plaintext is only authenticated, never shown; wipe it as soon as it is read.
        if let Err(e) = KVStoreSync::read(&store, &key.0, &key.1, &key.2).map(Zeroizing::new) {
            let (kind, reason) = read_reason(&e);
            failures.push(ValueFailure {
                key: key.clone(),
                kind,
                reason,
            });
        }
        bar.inc();
    }
    drop(bar);
    let verified = keys.len() - failures.len();
    if json {
        let out = VerifyJson {
            directory: dir.display().to_string(),
            ok: failures.is_empty(),
            values: keys.len(),
            verified,
            failed: failures
                .iter()
                .map(|f| FailedJson {
                    primary_namespace: &f.key.0,
                    secondary_namespace: &f.key.1,
                    key: &f.key.2,
                    reason: &f.reason,
                })
                .collect(),
        };
        print_json(&out)?;
    } else {
        for f in &failures {
            println!(
                "FAILED {} (primary namespace \"{}\", secondary namespace \"{}\", key \"{}\"): {}",
                key_path(&f.key),
                f.key.0,
                f.key.1,
                f.key.2,
                f.reason
            );
        }
        if failures.is_empty() {
            println!(
                "verified {} values in {}: all authentic",
                keys.len(),
                dir.display()
            );
        } else {
            println!(
                "{} of {} values in {} FAILED verification",
                failures.len(),
                keys.len(),
                dir.display()
            );
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        let kind = if failures.iter().any(|f| f.kind == Kind::Verification) {
            Kind::Verification
        } else {
            failures.first().map(|f| f.kind).unwrap_or(Kind::Io)
        };
        Err(Failure::new(
            kind,
            format!(
                "{} of {} values failed verification",
                failures.len(),
                keys.len()
            ),
        ))
    }
}

fn passwd(
    dir: &Path,
    pass: &PassOpts,
    new_file: Option<&Path>,
    kdf: &KdfOpts,
) -> Result<(), Failure> {
    let params = kdf_params(kdf)?;
    check_encrypted_dir(dir)?;
    let old = current_passphrase(pass, dir)?;
    let store = open_store(dir, &old)?;
    let new = new_passphrase(new_file, "--new-passphrase-file", NEW_PASSPHRASE_ENV, dir)?;
    store
        .change_passphrase(&new, params)
        .map_err(|e| open_error(dir, e))?;
    drop(store);
    // Prove the new header opens with the new passphrase before saying so.
    open_store(dir, &new)?;
    println!(
        "changed the passphrase of {} (Argon2id: {} KiB, {} passes, {} lanes); values were not \
         rewritten, so backups of the old header still open with the old passphrase",
        dir.display(),
        params.memory_kib(),
        params.iterations(),
        params.parallelism()
    );
    Ok(())
}

fn ls(
    dir: &Path,
    primary: Option<&str>,
    secondary: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    check_encrypted_dir(dir)?;
    let inner = FilesystemStore::new(dir.to_path_buf());
    let keys: Vec<Key> = match primary {
        None => {
            let mut all = list_sorted(&inner, dir)?;
            all.retain(|k| k.0 != RESERVED_PRIMARY_NAMESPACE);
            all
        }
        Some(p) => {
            if p == RESERVED_PRIMARY_NAMESPACE {
                return Err(Failure::new(
                    Kind::Usage,
                    format!("the primary namespace \"{p}\" is reserved for the store's header"),
                ));
            }
            let s = secondary.unwrap_or("");
            let mut names = KVStoreSync::list(&inner, p, s).map_err(|e| {
                if e.kind() == lightning::io::ErrorKind::InvalidInput {
                    Failure::new(Kind::Usage, format!("invalid namespace: {}", chain(&e)))
                } else {
                    fail::io("cannot list", dir, &e)
                }
            })?;
            names.sort();
            names
                .into_iter()
                .map(|k| (p.to_owned(), s.to_owned(), k))
                .collect()
        }
    };
    if json {
        let out: Vec<KeyJson<'_>> = keys
            .iter()
            .map(|k| KeyJson {
                primary_namespace: &k.0,
                secondary_namespace: &k.1,
                key: &k.2,
            })
            .collect();
        print_json(&out)?;
    } else {
        let mut stdout = std::io::stdout().lock();
        for k in &keys {
            let line = if primary.is_none() {
                key_path(k)
            } else {
                k.2.clone()
            };
            writeln!(stdout, "{line}")
                .map_err(|e| fail::io("cannot write", Path::new("stdout"), &e))?;
        }
    }
    Ok(())
}

fn cat(
    dir: &Path,
    (p, s, k): (&str, &str, &str),
    force: bool,
    pass: &PassOpts,
) -> Result<(), Failure> {
    if std::io::stdout().is_terminal() && !force {
        return Err(Failure::new(
            Kind::Usage,
            "refusing to write raw value bytes to a terminal: redirect stdout to a file or a \
             pipe, or pass --force",
        ));
    }
    check_encrypted_dir(dir)?;
    let pw = current_passphrase(pass, dir)?;
    let store = open_store(dir, &pw)?;
    let value = KVStoreSync::read(&store, p, s, k)
        .map(Zeroizing::new)
        .map_err(|e| {
            let (kind, reason) = read_reason(&e);
            let reason = if kind == Kind::KeyNotFound {
                "not found".to_owned()
            } else {
                reason
            };
            Failure::new(kind, format!("{}: {reason}", path_of((p, s, k))))
        })?;
    let mut out = std::io::stdout().lock();
    out.write_all(&value)
        .and_then(|()| out.flush())
        .map_err(|e| fail::io("cannot write", Path::new("stdout"), &e))
}

#[derive(Serialize)]
struct KdfJson {
    algorithm: &'static str,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

#[derive(Serialize)]
struct InfoJson {
    directory: String,
    format_version: u8,
    protection: &'static str,
    kdf: Option<KdfJson>,
    store_id: String,
    key_id: u32,
    values: usize,
}

fn info(dir: &Path, json: bool) -> Result<(), Failure> {
    let info = check_encrypted_dir(dir)?;
    let inner = FilesystemStore::new(dir.to_path_buf());
    let values = list_sorted(&inner, dir)?
        .iter()
        .filter(|k| k.0 != RESERVED_PRIMARY_NAMESPACE)
        .count();
    let (protection, kdf) = match info.protection {
        Protection::Passphrase(p) => (
            "passphrase",
            Some(KdfJson {
                algorithm: "argon2id",
                memory_kib: p.memory_kib(),
                iterations: p.iterations(),
                parallelism: p.parallelism(),
            }),
        ),
        Protection::RawKey => ("raw_key", None),
        _ => ("unknown", None),
    };
    let store_id: String = info.store_id.iter().map(|b| format!("{b:02x}")).collect();
    if json {
        return print_json(&InfoJson {
            directory: dir.display().to_string(),
            format_version: info.format_version,
            protection,
            kdf,
            store_id,
            key_id: info.key_id,
            values,
        });
    }
    println!("directory:      {}", dir.display());
    println!("format version: {}", info.format_version);
    match &kdf {
        Some(k) => println!(
            "protection:     passphrase (Argon2id: {} KiB, {} passes, {} lanes)",
            k.memory_kib, k.iterations, k.parallelism
        ),
        None => println!("protection:     {protection}"),
    }
    println!("store id:       {store_id}");
    println!("key id:         {}", info.key_id);
    println!("values:         {values}");
    Ok(())
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
