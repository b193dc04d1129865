//! Hooks for the fuzz targets in `fuzz/` (feature `fuzzing`). Not an API.

use zeroize::Zeroizing;

use crate::aead::Cipher;
use crate::format::v2;
use crate::names::encrypted::{self, Field, NameCipher};
use crate::InvalidName;

/// Shortest and longest header.
pub const HEADER_V2_LEN: core::ops::RangeInclusive<usize> = v2::MIN_HEADER_LEN..=v2::MAX_HEADER_LEN;

/// Parses `bytes` as a header and serializes the result again; `None` when it
/// does not parse. The format promises `Some(b)` implies `b == bytes`.
pub fn header_v2_reserialize(bytes: &[u8]) -> Option<Vec<u8>> {
    v2::HeaderV2::parse(bytes).ok().map(|h| h.to_bytes())
}

/// `prefix` (every byte of a header but the last 32) followed by its correct
/// checksum.
pub fn header_v2_with_checksum(prefix: &[u8]) -> Vec<u8> {
    v2::with_checksum(prefix)
}

/// Bytes a record adds to its sealed plaintext.
pub const RECORD_V2_OVERHEAD: usize = v2::RECORD_OVERHEAD;

/// The unauthenticated (key id, version) prefix of a record.
pub fn record_v2_prefix(rec: &[u8]) -> Option<(u32, u64)> {
    v2::record_prefix(rec)
}

/// Seals `plaintext` into a record under `key`, as the store does with its data
/// key `key_id` (but with the given nonce). `None` when a name is too long.
#[allow(clippy::too_many_arguments)]
pub fn record_v2_seal(
    key: &[u8; 32],
    store_id: &[u8; 16],
    key_id: u32,
    version: u64,
    nonce: &[u8; 24],
    names: (&str, &str, &str),
    plaintext: &[u8],
) -> Option<Vec<u8>> {
    let ad = v2::RecordAd::new(store_id, key_id, version, names.0, names.1, names.2)?;
    v2::seal_record(
        &Cipher::new(key),
        key_id,
        version,
        nonce,
        &ad,
        plaintext.to_vec(),
        false,
    )
    .ok()
}

/// Opens `rec` as the store reads a record whose key id is that of `key`: the
/// associated data is built from the record's own prefix. Returns the prefix's key id and
/// version with the sealed plaintext (still padded, if it was).
pub fn record_v2_open(
    key: &[u8; 32],
    store_id: &[u8; 16],
    names: (&str, &str, &str),
    rec: Vec<u8>,
) -> Option<(u32, u64, Vec<u8>)> {
    let (key_id, version) = v2::record_prefix(&rec)?;
    let ad = v2::RecordAd::new(store_id, key_id, version, names.0, names.1, names.2)?;
    let plain = v2::open_record(&Cipher::new(key), &ad, rec, false).ok()?;
    Some((key_id, version, plain))
}

/// The padded form of `value` (option `padding`).
pub fn pad_v2(value: &[u8]) -> Option<Vec<u8>> {
    v2::pad(value).ok().map(|p| p.to_vec())
}

/// Checks and strips the padding of an opened plaintext.
pub fn unpad_v2(padded: Vec<u8>) -> Option<Vec<u8>> {
    v2::unpad(padded)
}

/// Longest plaintext name a store with encrypted names accepts.
pub const NAME_MAX_PLAIN_LEN: usize = encrypted::MAX_PLAIN_NAME_LEN;

/// The name key and store id of the name hooks.
const NAME_KEY: [u8; 64] = [0x5a; 64];
const NAME_STORE_ID: [u8; 16] = [0xa5; 16];

fn name_field<'a>(field: u8, primary: &'a str, secondary: &'a str) -> Field<'a> {
    match field % 3 {
        0 => Field::Primary,
        1 => Field::Secondary { primary },
        _ => Field::Key { primary, secondary },
    }
}

fn name_cipher() -> NameCipher {
    NameCipher::new(&Zeroizing::new(NAME_KEY), NAME_STORE_ID)
}

/// The stored form of `name` under a fixed name key, as field `field % 3` (0 primary
/// namespace, 1 secondary namespace under `primary`, 2 key under `primary`/`secondary`).
/// The caller is trusted to give a valid LDK name, as the store checks names first.
pub fn name_encrypt(
    field: u8,
    primary: &str,
    secondary: &str,
    name: &str,
) -> Result<String, InvalidName> {
    name_cipher().encrypt(name_field(field, primary, secondary), name)
}

/// Decodes a stored name under the same fixed key and field as [`name_encrypt`]; `None`
/// when it does not decode.
pub fn name_decrypt(field: u8, primary: &str, secondary: &str, stored: &str) -> Option<String> {
    name_cipher()
        .decrypt(name_field(field, primary, secondary), stored)
        .ok()
}
