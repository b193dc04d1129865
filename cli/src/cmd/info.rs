//! `info STORE`: the public header facts and the number of values (no passphrase).

use std::path::Path;

use encrypted_kvstore::{Protection, RESERVED_PRIMARY_NAMESPACE};
use serde::Serialize;

use super::{list_sorted, print_json};
use crate::fail::{Failure, Kind};
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
    values: usize,
}

pub(super) fn run(dir: &Path, json: bool) -> Result<(), Failure> {
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
