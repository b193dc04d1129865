//! Where passphrases come from: a file, an environment variable, or a no-echo prompt.
//! Never from a plain command-line argument (visible to every user in the process list).

use std::io::IsTerminal;
use std::path::Path;

use zeroize::Zeroizing;

use crate::fail::{chain, Failure, Kind};

/// Environment variable holding the passphrase of the store (or the new one for `init` and
/// `encrypt`), when `--passphrase-file` is not given.
pub const PASSPHRASE_ENV: &str = "ENCRYPTED_KVSTORE_PASSPHRASE";
/// Environment variable holding the new passphrase for `passwd`, when `--new-passphrase-file`
/// is not given.
pub const NEW_PASSPHRASE_ENV: &str = "ENCRYPTED_KVSTORE_NEW_PASSPHRASE";

/// A passphrase, wiped from memory when dropped.
pub type Secret = Zeroizing<Vec<u8>>;

/// Where to look for one passphrase.
pub struct Source<'a> {
    /// The `--…-file` option's value, if given.
    pub file: Option<&'a Path>,
    /// The option's name, for messages.
    pub file_flag: &'a str,
    /// The environment variable to look at next.
    pub env: &'a str,
    /// The prompt shown on the terminal last.
    pub prompt: &'a str,
}

/// Reads a passphrase from `src`: the file, else the environment variable, else (only when
/// standard input is a terminal) a no-echo prompt, asked twice when `confirm` (a new
/// passphrase).
pub fn obtain(src: &Source<'_>, confirm: bool) -> Result<Secret, Failure> {
    if let Some(path) = src.file {
        return from_file(path);
    }
    match std::env::var(src.env) {
        Ok(v) => {
            let v = Zeroizing::new(v);
            if v.is_empty() {
                return Err(Failure::new(
                    Kind::Passphrase,
                    format!("the environment variable {} is set but empty", src.env),
                ));
            }
            return Ok(Zeroizing::new(v.as_bytes().to_vec()));
        }
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(Failure::new(
                Kind::Passphrase,
                format!("the environment variable {} is not valid UTF-8", src.env),
            ))
        }
        Err(std::env::VarError::NotPresent) => {}
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            Kind::Passphrase,
            format!(
                "no passphrase given and no terminal to ask for one: use {} FILE or set {}",
                src.file_flag, src.env
            ),
        ));
    }
    let first = prompt(src.prompt)?;
    if confirm {
        let again = prompt("Repeat to confirm: ")?;
        if *first != *again {
            return Err(Failure::new(
                Kind::Passphrase,
                "the two passphrases do not match; nothing was changed",
            ));
        }
    }
    Ok(first)
}

fn prompt(text: &str) -> Result<Secret, Failure> {
    let s = Zeroizing::new(rpassword::prompt_password(text).map_err(|e| {
        Failure::new(
            Kind::Passphrase,
            format!(
                "could not read a passphrase from the terminal: {}",
                chain(&e)
            ),
        )
    })?);
    if s.is_empty() {
        return Err(Failure::new(
            Kind::Passphrase,
            "the passphrase may not be empty",
        ));
    }
    Ok(Zeroizing::new(s.as_bytes().to_vec()))
}

/// The file's bytes without one trailing newline (`\n` or `\r\n`).
fn from_file(path: &Path) -> Result<Secret, Failure> {
    let mut bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
        Failure::new(
            Kind::Passphrase,
            format!(
                "cannot read passphrase file {}: {}",
                path.display(),
                chain(&e)
            ),
        )
    })?);
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(Failure::new(
            Kind::Passphrase,
            format!("the passphrase file {} is empty", path.display()),
        ));
    }
    warn_if_readable_by_others(path);
    Ok(bytes)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if m.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: passphrase file {} can be read by other users (chmod 600 it)",
                path.display()
            );
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}
