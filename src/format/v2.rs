//! Format version 2 (docs/FORMAT.md): the header with its credential and state blocks, the
//! versioned record, Padmé padding. Pure functions: no I/O, no panics on any input.

use crate::error::HeaderCorruption;
use blake2::digest::consts::U32;
use blake2::digest::Digest;
use blake2::Blake2b;
use zeroize::Zeroizing;

use super::{array_at, u32_at, HeaderParseError, Protection};
use super::{DATA_KEY_LEN, MAGIC, NONCE_LEN, SALT_LEN, STORE_ID_LEN, TAG_LEN};
use crate::aead::{Cipher, SealFailed};
use crate::kdf::KdfParams;

mod record;
pub(crate) use record::*;

/// The version byte of a header and the format byte of a record.
pub(crate) const VERSION: u8 = 2;

const PROTECTION_PASSPHRASE: u8 = 1;
const PROTECTION_RAW_KEY: u8 = 2;

/// Options bits (header offset 144).
pub(crate) const OPT_NAMES: u8 = 1;
pub(crate) const OPT_PADDING: u8 = 2;
pub(crate) const OPT_ANCHORED: u8 = 8;
/// Bits 2 and 4 to 7 are reserved: a header with one of them set is corrupt.
const OPT_KNOWN: u8 = OPT_NAMES | OPT_PADDING | OPT_ANCHORED;

/// Most data keys a keyring holds.
pub(crate) const MAX_KEYS: usize = 8;
/// Length of the name key (AES-256-SIV).
pub(crate) const NAME_KEY_LEN: usize = 64;
/// Length of hk, the header key.
pub(crate) const HK_LEN: usize = 32;
/// Length of the anchor key (seals the freshness anchor's values).
pub(crate) const ANCHOR_KEY_LEN: usize = 32;

const OFF_VERSION: usize = 8;
const OFF_PROTECTION: usize = 9;
const OFF_M: usize = 12;
const OFF_T: usize = 16;
const OFF_P: usize = 20;
const OFF_SALT: usize = 24;
const OFF_STORE_ID: usize = 56;
const OFF_WRAP_NONCE: usize = 72;
const OFF_WRAPPED: usize = 96;
const WRAPPED_LEN: usize = HK_LEN + TAG_LEN;
const OFF_OPTIONS: usize = 144;
const OFF_KEY_COUNT: usize = 145;
const OFF_SEQ: usize = 148;
const OFF_LIMIT: usize = 156;
const OFF_CURRENT: usize = 164;
const OFF_KEY_IDS: usize = 168;
const CHECKSUM_LEN: usize = 32;

/// Shortest v2 header (one key, names off).
pub(crate) const MIN_HEADER_LEN: usize = 308;
/// Longest v2 header (eight keys and a name key).
pub(crate) const MAX_HEADER_LEN: usize = 624;

const CHECKSUM_LABEL: &[u8] = b"encrypted-kvstore v2 header checksum";

/// The length of a v2 header with `n` keys, with or without a name key.
pub(crate) fn header_len(n: usize, names: bool) -> usize {
    272 + 36 * n + if names { NAME_KEY_LEN } else { 0 }
}

fn checksum(prefix: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut h = Blake2b::<U32>::new();
    Digest::update(&mut h, CHECKSUM_LABEL);
    Digest::update(&mut h, prefix);
    h.finalize().into()
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    array_at(b, off).map(u64::from_le_bytes)
}

/// The state block: everything a header write other than a change of credential changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct State {
    pub options: u8,
    pub header_seq: u64,
    pub version_limit: u64,
    /// Strictly ascending; the last is the current key.
    pub key_ids: Vec<u32>,
}

impl State {
    /// The id of the key that seals new records.
    pub(crate) fn current_key_id(&self) -> Option<u32> {
        self.key_ids.last().copied()
    }
}

/// The plaintext of `sealed_secrets`: the data keys in the order of `key_ids`, the anchor key,
/// then the name key when names are encrypted.
#[derive(Clone)]
pub(crate) struct Secrets {
    pub data_keys: Vec<Zeroizing<[u8; DATA_KEY_LEN]>>,
    pub anchor_key: Zeroizing<[u8; ANCHOR_KEY_LEN]>,
    pub name_key: Option<Zeroizing<[u8; NAME_KEY_LEN]>>,
}

impl Secrets {
    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut b = Zeroizing::new(Vec::new());
        for k in &self.data_keys {
            b.extend_from_slice(&k[..]);
        }
        b.extend_from_slice(&self.anchor_key[..]);
        if let Some(n) = &self.name_key {
            b.extend_from_slice(&n[..]);
        }
        b
    }
}

/// A parsed v2 header: every field is public; hk is wrapped, the secrets sealed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct HeaderV2 {
    pub protection: Protection,
    pub salt: [u8; SALT_LEN],
    pub store_id: [u8; STORE_ID_LEN],
    pub wrap_nonce: [u8; NONCE_LEN],
    pub wrapped_hk: [u8; WRAPPED_LEN],
    pub state: State,
    pub secrets_nonce: [u8; NONCE_LEN],
    pub sealed_secrets: Vec<u8>,
}

impl HeaderV2 {
    /// Reading steps 1 to 9 of "Reading the header". Strict: a header that parses serializes
    /// back to the same bytes.
    pub(crate) fn parse(b: &[u8]) -> Result<HeaderV2, HeaderParseError> {
        let corrupt = HeaderParseError::Corrupt;
        if b.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(corrupt(HeaderCorruption::BadMagic));
        }
        match b.get(OFF_VERSION) {
            Some(&VERSION) => {}
            Some(&v) => return Err(HeaderParseError::UnsupportedVersion(v)),
            None => return Err(corrupt(HeaderCorruption::Truncated)),
        }
        // Step 4.
        if b.len() < MIN_HEADER_LEN {
            return Err(corrupt(HeaderCorruption::Truncated));
        }
        if b.len() > MAX_HEADER_LEN {
            return Err(corrupt(HeaderCorruption::TrailingBytes));
        }
        // Step 5.
        let (prefix, sum) = b.split_at(b.len() - CHECKSUM_LEN);
        if checksum(prefix) != sum {
            return Err(corrupt(HeaderCorruption::ChecksumMismatch));
        }
        let truncated = corrupt(HeaderCorruption::Truncated);
        // Step 6.
        let options = *b.get(OFF_OPTIONS).ok_or(truncated)?;
        if b.get(10..12) != Some(&[0u8, 0][..])
            || b.get(146..148) != Some(&[0u8, 0][..])
            || options & !OPT_KNOWN != 0
        {
            return Err(corrupt(HeaderCorruption::ReservedBytesSet));
        }
        // Step 7.
        let n = usize::from(*b.get(OFF_KEY_COUNT).ok_or(truncated)?);
        if n == 0 || n > MAX_KEYS {
            return Err(corrupt(HeaderCorruption::KeyCountOutOfRange));
        }
        let names = options & OPT_NAMES != 0;
        if b.len() != header_len(n, names) {
            return Err(corrupt(HeaderCorruption::LengthMismatch));
        }
        // Step 8.
        let mut key_ids = Vec::with_capacity(n);
        for i in 0..n {
            key_ids.push(u32_at(b, OFF_KEY_IDS + 4 * i).ok_or(truncated)?);
        }
        if key_ids.windows(2).any(|w| w.first() >= w.get(1)) {
            return Err(corrupt(HeaderCorruption::KeyIdsNotAscending));
        }
        let current = u32_at(b, OFF_CURRENT).ok_or(truncated)?;
        if key_ids.last() != Some(&current) {
            return Err(corrupt(HeaderCorruption::CurrentKeyNotLargest));
        }
        let header_seq = u64_at(b, OFF_SEQ).ok_or(truncated)?;
        let version_limit = u64_at(b, OFF_LIMIT).ok_or(truncated)?;
        if header_seq == 0 {
            return Err(corrupt(HeaderCorruption::HeaderSeqZero));
        }
        if version_limit == 0 {
            return Err(corrupt(HeaderCorruption::VersionLimitZero));
        }
        // Step 9.
        let (m, t, p) = (
            u32_at(b, OFF_M).ok_or(truncated)?,
            u32_at(b, OFF_T).ok_or(truncated)?,
            u32_at(b, OFF_P).ok_or(truncated)?,
        );
        let protection = match b.get(OFF_PROTECTION) {
            Some(&PROTECTION_PASSPHRASE) => Protection::Passphrase(
                KdfParams::from_header(m, t, p).map_err(|_| HeaderParseError::KdfOutOfBounds)?,
            ),
            Some(&PROTECTION_RAW_KEY) => {
                if (m, t, p) != (0, 0, 0) {
                    return Err(corrupt(HeaderCorruption::RawKeyWithKdfParams));
                }
                Protection::RawKey
            }
            _ => return Err(corrupt(HeaderCorruption::UnknownProtection)),
        };
        let off_nonce = OFF_KEY_IDS + 4 * n;
        let off_sealed = off_nonce + NONCE_LEN;
        let sealed_secrets = b
            .get(off_sealed..b.len() - CHECKSUM_LEN)
            .ok_or(truncated)?
            .to_vec();
        Ok(HeaderV2 {
            protection,
            salt: array_at(b, OFF_SALT).ok_or(truncated)?,
            store_id: array_at(b, OFF_STORE_ID).ok_or(truncated)?,
            wrap_nonce: array_at(b, OFF_WRAP_NONCE).ok_or(truncated)?,
            wrapped_hk: array_at(b, OFF_WRAPPED).ok_or(truncated)?,
            state: State {
                options,
                header_seq,
                version_limit,
                key_ids,
            },
            secrets_nonce: array_at(b, off_nonce).ok_or(truncated)?,
            sealed_secrets,
        })
    }

    /// Bytes 0..96: the associated data of the key wrap.
    fn wrap_ad(&self) -> [u8; OFF_WRAPPED] {
        let mut b = [0u8; OFF_WRAPPED];
        b[..8].copy_from_slice(MAGIC);
        b[OFF_VERSION] = VERSION;
        let (prot, m, t, p) = match self.protection {
            Protection::Passphrase(k) => (
                PROTECTION_PASSPHRASE,
                k.memory_kib(),
                k.iterations(),
                k.parallelism(),
            ),
            Protection::RawKey => (PROTECTION_RAW_KEY, 0, 0, 0),
        };
        b[OFF_PROTECTION] = prot;
        b[OFF_M..OFF_M + 4].copy_from_slice(&m.to_le_bytes());
        b[OFF_T..OFF_T + 4].copy_from_slice(&t.to_le_bytes());
        b[OFF_P..OFF_P + 4].copy_from_slice(&p.to_le_bytes());
        b[OFF_SALT..OFF_STORE_ID].copy_from_slice(&self.salt);
        b[OFF_STORE_ID..OFF_WRAP_NONCE].copy_from_slice(&self.store_id);
        b[OFF_WRAP_NONCE..OFF_WRAPPED].copy_from_slice(&self.wrap_nonce);
        b
    }

    /// Bytes 0..192+4n: the associated data of the secrets' seal.
    fn secrets_ad(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(OFF_KEY_IDS + 4 * MAX_KEYS + NONCE_LEN);
        b.extend_from_slice(&self.wrap_ad());
        b.extend_from_slice(&self.wrapped_hk);
        b.push(self.state.options);
        // The key count fits: at most 8 keys (checked at parse and in `seal`).
        b.push(u8::try_from(self.state.key_ids.len()).unwrap_or(u8::MAX));
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.state.header_seq.to_le_bytes());
        b.extend_from_slice(&self.state.version_limit.to_le_bytes());
        let current = self.state.current_key_id().unwrap_or(u32::MAX);
        b.extend_from_slice(&current.to_le_bytes());
        for id in &self.state.key_ids {
            b.extend_from_slice(&id.to_le_bytes());
        }
        b.extend_from_slice(&self.secrets_nonce);
        b
    }

    /// The header's bytes.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.secrets_ad();
        b.extend_from_slice(&self.sealed_secrets);
        let sum = checksum(&b);
        b.extend_from_slice(&sum);
        b
    }

    /// A header with a new credential block (`hk` wrapped under `kek`) and `state` with
    /// `secrets` sealed under `hk`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn seal(
        protection: Protection,
        salt: [u8; SALT_LEN],
        store_id: [u8; STORE_ID_LEN],
        wrap_nonce: [u8; NONCE_LEN],
        kek: &[u8; 32],
        hk: &[u8; HK_LEN],
        state: State,
        secrets_nonce: [u8; NONCE_LEN],
        secrets: &Secrets,
    ) -> Result<HeaderV2, SealFailed> {
        let mut h = HeaderV2 {
            protection,
            salt,
            store_id,
            wrap_nonce,
            wrapped_hk: [0u8; WRAPPED_LEN],
            state,
            secrets_nonce,
            sealed_secrets: Vec::new(),
        };
        let ad = h.wrap_ad();
        let mut buf = Zeroizing::new(*hk);
        let tag = Cipher::new(kek).seal_in_place(&wrap_nonce, &ad, &mut buf[..])?;
        h.wrapped_hk[..HK_LEN].copy_from_slice(&buf[..]);
        h.wrapped_hk[HK_LEN..].copy_from_slice(&tag);
        h.reseal_secrets(hk, secrets)?;
        Ok(h)
    }

    /// The same credential block with a new state (and `secrets_nonce`), its secrets sealed
    /// again under `hk`.
    pub(crate) fn with_state(
        &self,
        hk: &[u8; HK_LEN],
        state: State,
        secrets_nonce: [u8; NONCE_LEN],
        secrets: &Secrets,
    ) -> Result<HeaderV2, SealFailed> {
        let mut h = self.clone();
        h.state = state;
        h.secrets_nonce = secrets_nonce;
        h.reseal_secrets(hk, secrets)?;
        Ok(h)
    }

    fn reseal_secrets(&mut self, hk: &[u8; HK_LEN], secrets: &Secrets) -> Result<(), SealFailed> {
        let n = self.state.key_ids.len();
        let names = self.state.options & OPT_NAMES != 0;
        if n == 0
            || n > MAX_KEYS
            || secrets.data_keys.len() != n
            || secrets.name_key.is_some() != names
        {
            return Err(SealFailed);
        }
        let ad = self.secrets_ad();
        let mut buf = secrets.to_bytes();
        let tag = Cipher::new(hk).seal_in_place(&self.secrets_nonce, &ad, &mut buf[..])?;
        let mut sealed = buf.to_vec();
        sealed.extend_from_slice(&tag);
        self.sealed_secrets = sealed;
        Ok(())
    }

    /// Unwraps hk with `kek`; `None` when the credential (or any byte of bytes 0..144) is
    /// wrong.
    pub(crate) fn unwrap_hk(&self, kek: &[u8; 32]) -> Option<Zeroizing<[u8; HK_LEN]>> {
        let ad = self.wrap_ad();
        let mut hk = Zeroizing::new([0u8; HK_LEN]);
        hk.copy_from_slice(self.wrapped_hk.get(..HK_LEN)?);
        let tag: [u8; TAG_LEN] = array_at(&self.wrapped_hk, HK_LEN)?;
        Cipher::new(kek)
            .open_in_place(&self.wrap_nonce, &ad, &mut hk[..], &tag)
            .ok()?;
        Some(hk)
    }

    /// Opens the secrets with hk; `None` when any byte of the header before them is not the
    /// one they were sealed with.
    pub(crate) fn open_secrets(&self, hk: &[u8; HK_LEN]) -> Option<Secrets> {
        let n = self.state.key_ids.len();
        let names = self.state.options & OPT_NAMES != 0;
        let keys_len = DATA_KEY_LEN * n;
        let len = keys_len + ANCHOR_KEY_LEN + if names { NAME_KEY_LEN } else { 0 };
        if self.sealed_secrets.len() != len + TAG_LEN {
            return None;
        }
        let ad = self.secrets_ad();
        let mut buf = Zeroizing::new(self.sealed_secrets.get(..len)?.to_vec());
        let tag: [u8; TAG_LEN] = array_at(&self.sealed_secrets, len)?;
        Cipher::new(hk)
            .open_in_place(&self.secrets_nonce, &ad, &mut buf[..], &tag)
            .ok()?;
        let mut data_keys = Vec::with_capacity(n);
        for i in 0..n {
            let mut k = Zeroizing::new([0u8; DATA_KEY_LEN]);
            k.copy_from_slice(buf.get(i * DATA_KEY_LEN..(i + 1) * DATA_KEY_LEN)?);
            data_keys.push(k);
        }
        let mut anchor_key = Zeroizing::new([0u8; ANCHOR_KEY_LEN]);
        anchor_key.copy_from_slice(buf.get(keys_len..keys_len + ANCHOR_KEY_LEN)?);
        let name_key = if names {
            let mut k = Zeroizing::new([0u8; NAME_KEY_LEN]);
            k.copy_from_slice(buf.get(keys_len + ANCHOR_KEY_LEN..len)?);
            Some(k)
        } else {
            None
        };
        Some(Secrets {
            data_keys,
            anchor_key,
            name_key,
        })
    }
}

/// `prefix` (every byte of a v2 header but the checksum) followed by its checksum.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn with_checksum(prefix: &[u8]) -> Vec<u8> {
    let mut b = prefix.to_vec();
    b.extend_from_slice(&checksum(prefix));
    b
}

#[cfg(test)]
mod tests;
