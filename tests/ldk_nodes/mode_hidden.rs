//! Stores with both options, `OpenOptions::new().encrypt_names().pad_values()`:
//! no plaintext name reaches the disk, so records are found by walking the store's directory,
//! and every record is `53 + padme(8 + L)` bytes for a value of `L` bytes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use super::compat::LDK;
use super::v::ldk::util::persist::KVStoreSync;
use super::v::{fs, FilesystemStore, MigratableKVStoreSync, V};
use crate::common::{cheap, PASSPHRASE};
use encrypted_kvstore::{
    padme, Credential, EncryptedStore, OpenOptions, RESERVED_PRIMARY_NAMESPACE,
};

/// The stores this mode makes.
pub type Store = EncryptedStore<FilesystemStore>;

/// Overhead of a record: format, key id, version, nonce, tag (docs/FORMAT.md).
const OVERHEAD: u64 = encrypted_kvstore::RECORD_OVERHEAD as u64;

/// Every namespace and key LDK's persisters and the suite write, which no stored name may show.
const LDK_NAMES: [&str; 6] = [
    "monitors",
    "monitor_updates",
    "archived_monitors",
    "manager",
    "network_graph",
    "scorer",
];

/// The size of the record of a value of `len` bytes in a padded store.
pub fn padded_record_len(len: usize) -> u64 {
    OVERHEAD + padme(8 + len as u64).unwrap()
}

/// A new store in `dir`, with encrypted names and padded values.
pub fn create(dir: &Path) -> Store {
    let store = OpenOptions::new()
        .encrypt_names()
        .pad_values()
        .create::<V, _>(fs(dir), Credential::passphrase_with(PASSPHRASE, cheap()))
        .unwrap();
    let info = EncryptedStore::inspect::<V>(&fs(dir)).unwrap();
    assert_eq!(info.format_version, encrypted_kvstore::FORMAT_VERSION);
    assert!(info.names_encrypted);
    store
}

/// The store in `dir`, opened again from disk (a restart): no option, the header says what
/// the store is. A writable open.
pub fn reopen(dir: &Path) -> Store {
    EncryptedStore::open::<V>(fs(dir), Credential::passphrase(PASSPHRASE)).unwrap()
}

/// A second instance over `dir` while the node's is open: read-only, so it never writes the
/// header the node's instance reserves versions in.
pub fn reopen_to_check(dir: &Path) -> Store {
    OpenOptions::new()
        .read_only()
        .open::<V, _>(fs(dir), Credential::passphrase(PASSPHRASE))
        .unwrap()
}

/// One file of the inner store below `dir`, outside the header's namespace: its path
/// components below `dir` and its size.
struct Record {
    path: PathBuf,
    components: Vec<String>,
    size: u64,
}

fn records(dir: &Path) -> Vec<Record> {
    fn walk(root: &Path, at: &Path, out: &mut Vec<Record>) {
        for entry in std::fs::read_dir(at).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let components: Vec<String> = path
                .strip_prefix(root)
                .unwrap()
                .iter()
                .map(|c| c.to_str().unwrap().to_owned())
                .collect();
            if components[0] == RESERVED_PRIMARY_NAMESPACE {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let size = entry.metadata().unwrap().len();
                out.push(Record {
                    path,
                    components,
                    size,
                });
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// How many path components `FilesystemStore` gives a value with these namespaces.
fn depth(primary: &str, secondary: &str) -> usize {
    match (primary.is_empty(), secondary.is_empty()) {
        (true, _) => 1,
        (false, true) => 2,
        (false, false) => 3,
    }
}

/// The whole tree of `dir` against the store's decoded contents: one file per value, at the
/// depth its namespaces give, of exactly `53 + padme(8 + L)` bytes (as multisets: the stored
/// names do not say which file is which value); no path component shows a plaintext
/// namespace, key or `hidden` string; no 32-byte window of any value is in any file.
#[track_caller]
pub fn check_tree(dir: &Path, reopened: &Store, hidden: &[String]) {
    let keys = MigratableKVStoreSync::list_all_keys(reopened).unwrap();
    let mut expected = Vec::new();
    let mut values = Vec::new();
    let mut secrets: Vec<String> = LDK_NAMES.iter().map(|s| (*s).to_owned()).collect();
    secrets.extend(hidden.iter().cloned());
    for (p, s, k) in &keys {
        let value = KVStoreSync::read(reopened, p, s, k).unwrap();
        expected.push((depth(p, s), padded_record_len(value.len())));
        values.push(value);
        secrets.extend([p, s, k].into_iter().filter(|n| !n.is_empty()).cloned());
    }
    let files = records(dir);
    let mut found: Vec<(usize, u64)> = files.iter().map(|r| (r.components.len(), r.size)).collect();
    expected.sort_unstable();
    found.sort_unstable();
    assert_eq!(
        found, expected,
        "records on disk against the store's values"
    );
    for r in &files {
        // Every record is padded: its sealed plaintext is a Padmé bucket.
        let sealed = r.size - OVERHEAD;
        assert_eq!(
            padme(sealed),
            Some(sealed),
            "{}: not padded",
            r.path.display()
        );
        for c in &r.components {
            for secret in &secrets {
                // Short names (update ids "1", "2", ...) can occur in base64 by chance: only
                // an equal component would show them.
                let shown = if secret.len() >= 6 {
                    c.contains(secret.as_str())
                } else {
                    c == secret
                };
                assert!(!shown, "{}: shows the name {secret:?}", r.path.display());
            }
        }
    }
    let all: Vec<Vec<u8>> = files
        .iter()
        .map(|r| std::fs::read(&r.path).unwrap())
        .collect();
    for value in values.iter().filter(|v| v.len() >= 64) {
        for start in [0, value.len() / 3, value.len() / 2, value.len() - 32] {
            let window = &value[start..start + 32];
            assert!(
                !all.iter().any(|f| f.windows(32).any(|w| w == window)),
                "plaintext on disk"
            );
        }
    }
}

/// The monitor of `key` is one of the sealed records of `dir` (see [`check_tree`]); neither
/// its key nor its funding transaction id shows in a path.
#[track_caller]
pub fn check_monitor_record(dir: &Path, reopened: &Store, key: &str, plain: &[u8]) {
    let value = KVStoreSync::read(
        reopened,
        super::v::ldk::util::persist::CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
        "",
        key,
    )
    .unwrap();
    assert_eq!(value, plain);
    check_tree(dir, reopened, &hidden_by_monitor_key(key));
}

/// The tree of `dir` (see [`check_tree`]), where neither the monitor key nor its funding
/// transaction id shows in a path.
#[track_caller]
pub fn check_tree_of_monitor(dir: &Path, reopened: &Store, key: &str) {
    check_tree(dir, reopened, &hidden_by_monitor_key(key));
}

fn hidden_by_monitor_key(key: &str) -> Vec<String> {
    let txid = key.split('_').next().unwrap().to_owned();
    assert_eq!(txid.len(), 64, "{key}: not <funding txid>_<index>");
    vec![key.to_owned(), txid]
}

/// Whether the run measures and prints the sizes of LDK's values (padded stores only).
pub const MEASURES_SIZES: bool = true;

/// The files of the full monitors: with names encrypted, the records two levels deep
/// (`<primary>/<key>`). In these tests' stores, the monitors are the only such values.
pub fn monitor_files(dir: &Path) -> Vec<PathBuf> {
    files_at_depth(dir, 2)
}

/// The files of the monitor updates: the records three levels deep
/// (`<primary>/<secondary>/<key>`), the only values with a secondary namespace.
pub fn update_files(dir: &Path) -> Vec<PathBuf> {
    files_at_depth(dir, 3)
}

fn files_at_depth(dir: &Path, depth: usize) -> Vec<PathBuf> {
    records(dir)
        .into_iter()
        .filter(|r| r.components.len() == depth)
        .map(|r| r.path)
        .collect()
}

/// Prints the sizes of a value LDK wrote: plaintext `L`, the padded record
/// `53 + padme(8 + L)`, the unpadded record `L + 53`, and the overheads (BENCHMARKS.md,
/// "Padding overhead on LDK's values"; run with `--nocapture` to see them).
pub fn report(what: &str, len: usize) {
    let l = len as u64;
    let padded = padded_record_len(len);
    let unpadded = l + OVERHEAD;
    let pct = |a: u64, b: u64| 100.0 * (a as f64 - b as f64) / b as f64;
    println!(
        "padding [lightning {LDK}] {what}: L = {l}, padded = {padded} (+{:.2} % of L), \
         unpadded = {unpadded} (+{:.2} % of L), padded over unpadded +{:.2} %",
        pct(padded, l),
        pct(unpadded, l),
        pct(padded, unpadded)
    );
}
