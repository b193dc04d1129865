//! Stores with the default options (what `EncryptedStore::create` makes): names in clear, so a
//! value's record is at its plaintext path, `RECORD_OVERHEAD` bytes longer than the value.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use super::v::ldk::util::persist::{
    CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE,
    CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE,
};
use super::v::{fs, FilesystemStore, V};
use crate::common::{cheap, PASSPHRASE};
use encrypted_kvstore::{Credential, EncryptedStore, RECORD_OVERHEAD};

/// The stores this mode makes.
pub type Store = EncryptedStore<FilesystemStore>;

/// A new store in `dir`.
pub fn create(dir: &Path) -> Store {
    encrypted_kvstore::OpenOptions::new()
        .create::<V, _>(fs(dir), Credential::passphrase_with(PASSPHRASE, cheap()))
        .unwrap()
}

/// The store in `dir`, opened again from disk (a restart).
pub fn reopen(dir: &Path) -> Store {
    EncryptedStore::open::<V>(fs(dir), Credential::passphrase(PASSPHRASE)).unwrap()
}

/// A second instance over `dir` while the node's is open, to check what is on disk.
pub fn reopen_to_check(dir: &Path) -> Store {
    reopen(dir)
}

/// The monitor record of `key` is at its plaintext path, sealed: `RECORD_OVERHEAD` bytes
/// longer than the monitor, and none of the monitor's bytes in it.
#[track_caller]
pub fn check_monitor_record(dir: &Path, _reopened: &Store, key: &str, plain: &[u8]) {
    let raw = std::fs::read(
        dir.join(CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE)
            .join(key),
    )
    .unwrap();
    assert_eq!(raw.len(), plain.len() + RECORD_OVERHEAD);
    for start in [0, plain.len() / 3, plain.len() / 2, plain.len() - 32] {
        let window = &plain[start..start + 32];
        assert!(!raw.windows(32).any(|w| w == window), "plaintext on disk");
    }
}

/// The files of the full monitors, at `monitors/<key>`.
pub fn monitor_files(dir: &Path) -> Vec<PathBuf> {
    files_in(&dir.join(CHANNEL_MONITOR_PERSISTENCE_PRIMARY_NAMESPACE))
}

/// The files of the monitor updates, at `monitor_updates/<monitor key>/<update id>`.
pub fn update_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for chan in files_in(&dir.join(CHANNEL_MONITOR_UPDATE_PERSISTENCE_PRIMARY_NAMESPACE)) {
        out.extend(files_in(&chan));
    }
    out
}

/// Records the size of a value LDK wrote (only runs with padded values report sizes).
pub fn report(_what: &str, _len: usize) {}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    out.sort();
    out
}

/// Names in clear show by design; [`check_monitor_record`] checks the records.
pub fn check_tree_of_monitor(_dir: &Path, _reopened: &Store, _key: &str) {}

/// Whether the run measures and prints the sizes of LDK's values (padded stores only).
pub const MEASURES_SIZES: bool = false;
