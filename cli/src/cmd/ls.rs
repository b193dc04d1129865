//! `ls STORE [PRIMARY [SECONDARY]]`: list keys (names are not secret; no passphrase).

use std::io::Write;
use std::path::Path;

use encrypted_kvstore::RESERVED_PRIMARY_NAMESPACE;
use lightning::util::persist::KVStoreSync;
use serde::Serialize;

use super::{key_path, list_sorted, print_json, Key};
use crate::fail::{self, chain, Failure, Kind};
use crate::store::{self, AnyStore};

#[derive(Serialize)]
struct KeyJson<'a> {
    primary_namespace: &'a str,
    secondary_namespace: &'a str,
    key: &'a str,
}

pub(super) fn run(
    dir: &Path,
    primary: Option<&str>,
    secondary: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let (kind, _) = store::check_encrypted(dir)?;
    let inner = AnyStore::open(dir, kind, false, Kind::NotEncrypted)?;
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
