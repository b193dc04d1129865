//! `ls STORE [PRIMARY [SECONDARY]]`: list keys. Names stored in clear are listed from the inner
//! store without a passphrase; a store with encrypted names is opened read-only with
//! the passphrase and its names decoded, and without the passphrase `ls` says the names are
//! encrypted and prints none of the stored names.

use std::io::Write;
use std::path::Path;

use encrypted_kvstore::RESERVED_PRIMARY_NAMESPACE;
use lightning::util::persist::{KVStoreSync, MigratableKVStore};
use serde::Serialize;

use super::{current_passphrase, key_path, list_sorted, print_json, Key};
use crate::fail::{self, chain, Failure, Kind};
use crate::location::Location;
use crate::store::{self, AnchorDir, AnyStore};
use crate::PassOpts;

#[derive(Serialize)]
struct KeyJson<'a> {
    primary_namespace: &'a str,
    secondary_namespace: &'a str,
    key: &'a str,
}

pub(super) fn run(
    dir: &Location,
    primary: Option<&str>,
    secondary: Option<&str>,
    json: bool,
    pass: &PassOpts,
    anchor: Option<&Path>,
) -> Result<(), Failure> {
    let (kind, info) = store::check_encrypted(dir)?;
    if let Some(a) = anchor {
        store::check_anchor(a, &[dir], AnchorDir::Existing)?;
    }
    if let Some(p) = primary.filter(|p| *p == RESERVED_PRIMARY_NAMESPACE) {
        return Err(Failure::new(
            Kind::Usage,
            format!("the primary namespace \"{p}\" is reserved for the store's header"),
        ));
    }
    // Names in clear are listed from the inner store, which needs neither the passphrase nor
    // the anchor; given an anchor, the store is opened (and the anchor checked) as for
    // encrypted names.
    let keys = if info.names_encrypted || anchor.is_some() {
        let pw = current_passphrase(pass, dir).map_err(|f| {
            Failure::new(
                f.kind,
                format!(
                    "the names in {} are encrypted: `ls` can \
                     show them only with the passphrase, and never prints the stored names; {}",
                    dir.display(),
                    f.msg
                ),
            )
        })?;
        // Read-only: listing never writes the store, not even its header.
        let store = store::open_encrypted(dir, kind, &pw, false, anchor)?;
        list(&store, dir, primary, secondary)?
    } else {
        let inner = AnyStore::open(dir, kind, false, Kind::NotEncrypted)?;
        list(&inner, dir, primary, secondary)?
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

/// Every key of `s` (without PRIMARY) or of one namespace, sorted, leaving out the header's
/// namespace. A name that cannot be decoded fails the listing, naming it.
fn list<S: KVStoreSync + MigratableKVStore>(
    s: &S,
    dir: &Location,
    primary: Option<&str>,
    secondary: Option<&str>,
) -> Result<Vec<Key>, Failure> {
    let Some(p) = primary else {
        let mut all = list_sorted(s, dir)?;
        all.retain(|k| k.0 != RESERVED_PRIMARY_NAMESPACE);
        return Ok(all);
    };
    let sec = secondary.unwrap_or("");
    let mut names = KVStoreSync::list(s, p, sec).map_err(|e| {
        if e.kind() == lightning::io::ErrorKind::InvalidInput {
            Failure::new(Kind::Usage, format!("invalid namespace: {}", chain(&e)))
        } else {
            fail::list_error("cannot list", dir, &e)
        }
    })?;
    names.sort();
    Ok(names
        .into_iter()
        .map(|k| (p.to_owned(), sec.to_owned(), k))
        .collect())
}
