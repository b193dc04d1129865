//! Drives the record path for instruction counting: 1000 writes and reads of one value of the
//! given size through `EncryptedStore` over a store that keeps one record and allocates
//! nothing, so that the count is the wrapper's alone. Instruction counts are deterministic
//! where times on a shared machine are not:
//!
//! `cargo build --release --example record_path &&
//!  valgrind --tool=callgrind target/release/examples/record_path 64`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use encrypted_kvstore::{Credential, EncryptedStore, RawKey};
use lightning::util::persist::KVStoreSync;

#[path = "../tests/common/slot.rs"]
mod slot;
use slot::Slot;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a value size in bytes"))
        .unwrap_or(64);
    let store = EncryptedStore::create(
        Slot::default(),
        Credential::raw_key(&RawKey::from_bytes([3; 32])),
    )
    .unwrap();
    let key = "0101010101010101010101010101010101010101010101010101010101010101_0";
    for _ in 0..1000 {
        store.write("monitors", "", key, vec![5u8; n]).unwrap();
        assert_eq!(store.read("monitors", "", key).unwrap().len(), n);
    }
}
