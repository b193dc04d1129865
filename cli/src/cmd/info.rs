//! `info STORE`: the public header facts and the number of values (no passphrase: it only
//! inspects the header and counts the stored files, and never opens or writes the store).

use encrypted_kvstore::{Protection, RESERVED_PRIMARY_NAMESPACE};
use serde::Serialize;

use super::{list_sorted, print_json};
use crate::fail::{Failure, Kind};
use crate::location::Location;
use crate::store::{self, AnyStore};

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
    /// The options recorded in the header and its state.
    v2: V2Json,
    /// Watched by a freshness anchor, so it opens only with `--anchor`.
    anchored: bool,
    values: usize,
}

#[derive(Serialize)]
struct V2Json {
    names_encrypted: bool,
    values_padded: bool,
    key_ids: Vec<u32>,
    header_seq: u64,
    version_limit: u64,
}

pub(super) fn run(dir: &Location, json: bool) -> Result<(), Failure> {
    let (kind, info) = store::check_encrypted(dir)?;
    let inner = AnyStore::open(dir, kind, false, Kind::NotEncrypted)?;
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
    let v2 = V2Json {
        names_encrypted: info.names_encrypted,
        values_padded: info.values_padded,
        key_ids: info.key_ids.clone(),
        header_seq: info.header_seq,
        version_limit: info.version_limit,
    };
    if json {
        return print_json(&InfoJson {
            directory: dir.display().to_string(),
            format_version: info.format_version,
            protection,
            kdf,
            store_id,
            key_id: info.key_id,
            v2,
            anchored: info.anchored,
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
    {
        let v = &v2;
        let mut options = Vec::new();
        if v.names_encrypted {
            options.push("names encrypted");
        }
        if v.values_padded {
            options.push("values padded");
        }
        if options.is_empty() {
            options.push("none (names in clear, values not padded)");
        }
        let ids: Vec<String> = v.key_ids.iter().map(u32::to_string).collect();
        println!("options:        {}", options.join(", "));
        // Every key in the keyring (more than one while a rotation is unfinished), then the
        // one that seals new writes.
        println!("key ids:        {}", ids.join(", "));
        println!("current key:    {}", info.key_id);
        println!("header seq:     {}", v.header_seq);
        println!("version limit:  {}", v.version_limit);
    }
    println!(
        "anchored:       {}",
        if info.anchored {
            "yes (open it with --anchor DIR)"
        } else {
            "no"
        }
    );
    println!("values:         {values}");
    Ok(())
}
