//! Format version 2 (docs/FORMAT.md): the header with its credential and state blocks, the
//! versioned record, Padmé padding. Pure functions: no I/O, no panics on any input.

use crate::error::HeaderCorruption;
use blake2::digest::consts::U32;
use blake2::digest::Digest;
use blake2::Blake2b;
use zeroize::{Zeroize, Zeroizing};

use super::{array_at, u32_at, HeaderParseError, Protection, SealError};
use super::{DATA_KEY_LEN, MAGIC, NONCE_LEN, SALT_LEN, STORE_ID_LEN, TAG_LEN};
use crate::aead::{Cipher, OpenFailed, SealFailed};
use crate::kdf::KdfParams;

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

/// Record layout: format (1) | key id (4) | version (8) | nonce (24) | ciphertext | tag (16).
pub(crate) const RECORD_PREFIX_LEN: usize = 1 + 4 + 8 + NONCE_LEN;
/// Bytes a v2 record adds to its sealed plaintext.
pub(crate) const RECORD_OVERHEAD: usize = RECORD_PREFIX_LEN + TAG_LEN;

const CHECKSUM_LABEL: &[u8] = b"encrypted-kvstore v2 header checksum";
const RECORD_AD_LABEL: &[u8] = b"encrypted-kvstore v2 record";
const MAX_NAME_LEN: usize = crate::names::KVSTORE_NAMESPACE_KEY_MAX_LEN;
const AD_MAX: usize = RECORD_AD_LABEL.len() + 1 + 4 + 8 + STORE_ID_LEN + 3 * (4 + MAX_NAME_LEN);

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

/// Padmé (Nikitin et al., PETS 2019) of `x`: the bucket a sealed plaintext of `x` bytes is
/// padded to. `None` when the bucket would not fit in a `u64`.
pub(crate) fn padme(x: u64) -> Option<u64> {
    if x < 2 {
        return Some(x);
    }
    let e = 63 - u64::from(x.leading_zeros()); // floor(log2 x)
    let s = 64 - u64::from(e.leading_zeros()); // floor(log2 e) + 1
    let mask = (1u64 << (e - s)) - 1;
    Some(x.checked_add(mask)? & !mask)
}

/// Length of the length field that starts a padded plaintext.
const PAD_LEN_FIELD: usize = 8;

/// The length of the sealed plaintext of a value of `len` bytes: the value itself, or with
/// `padded` its padded encoding (`padme(8 + len)`).
fn sealed_len(len: usize, padded: bool) -> Result<usize, SealError> {
    if !padded {
        return Ok(len);
    }
    let len = u64::try_from(len).map_err(|_| SealError::TooLarge)?;
    let x = len.checked_add(8).ok_or(SealError::TooLarge)?;
    usize::try_from(padme(x).ok_or(SealError::TooLarge)?).map_err(|_| SealError::TooLarge)
}

/// The padded plaintext of `value`: `len (8) || value || zeros` of length `padme(8 + len)`.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn pad(value: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let total = sealed_len(value.len(), true)?;
    let len = u64::try_from(value.len()).map_err(|_| SealError::TooLarge)?;
    let mut p = Vec::new();
    p.try_reserve_exact(total)
        .map_err(|_| SealError::TooLarge)?;
    p.extend_from_slice(&len.to_le_bytes());
    p.extend_from_slice(value);
    p.resize(total, 0);
    Ok(Zeroizing::new(p))
}

/// The length of the value inside the padded plaintext `p`, if `p` is one this library
/// writes: `len <= len(p) - 8`, `len(p) = padme(8 + len)`, and every byte after the value zero.
fn padded_value_len(p: &[u8]) -> Option<usize> {
    let len = u64::from_le_bytes(array_at(p, 0)?);
    let total = u64::try_from(p.len()).ok()?;
    if len > total.checked_sub(8)? || padme(len.checked_add(8)?)? != total {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    if p.get(PAD_LEN_FIELD + len..)?.iter().any(|&b| b != 0) {
        return None;
    }
    Some(len)
}

/// Checks and strips the padding of an opened plaintext, in place. `None` for anything this
/// library never writes.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn unpad(mut p: Vec<u8>) -> Option<Vec<u8>> {
    match padded_value_len(&p) {
        Some(len) => {
            p.copy_within(PAD_LEN_FIELD..PAD_LEN_FIELD + len, 0);
            p.truncate(len);
            Some(p)
        }
        None => {
            p.as_mut_slice().zeroize();
            None
        }
    }
}

/// The associated data of a v2 record, built on the stack.
pub(crate) struct RecordAd {
    buf: [u8; AD_MAX],
    len: usize,
}

impl RecordAd {
    /// `None` when a name is longer than LDK allows (callers check names first).
    pub(crate) fn new(
        store_id: &[u8; STORE_ID_LEN],
        key_id: u32,
        version: u64,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Option<RecordAd> {
        let mut ad = RecordAd {
            buf: [0u8; AD_MAX],
            len: 0,
        };
        ad.push(RECORD_AD_LABEL)?;
        ad.push(&[VERSION])?;
        ad.push(&key_id.to_le_bytes())?;
        ad.push(&version.to_le_bytes())?;
        ad.push(store_id)?;
        for name in [primary, secondary, key] {
            if name.len() > MAX_NAME_LEN {
                return None;
            }
            ad.push(&u32::try_from(name.len()).ok()?.to_le_bytes())?;
            ad.push(name.as_bytes())?;
        }
        Some(ad)
    }

    fn push(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.len.checked_add(bytes.len())?;
        self.buf.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(())
    }

    fn as_bytes(&self) -> Option<&[u8]> {
        self.buf.get(..self.len)
    }
}

/// Seals `value` (padded first when `padded`) into a v2 record, copying the value once: in
/// the caller's buffer when its capacity holds the record (the value is moved up past the
/// prefix, then encrypted over itself, so no plaintext is left behind), otherwise into a new
/// buffer of the record's size, and the caller's buffer is zeroized.
pub(crate) fn seal_record(
    cipher: &Cipher,
    key_id: u32,
    version: u64,
    nonce: &[u8; NONCE_LEN],
    ad: &RecordAd,
    value: Vec<u8>,
    padded: bool,
) -> Result<Vec<u8>, SealError> {
    // Zeroized on every early return.
    let mut value = Zeroizing::new(value);
    let ad = ad.as_bytes().ok_or(SealError::Failed)?;
    let n = value.len();
    let body_len = sealed_len(n, padded)?;
    let total = body_len
        .checked_add(RECORD_OVERHEAD)
        .ok_or(SealError::TooLarge)?;
    // Where the value starts in the record: after the prefix and, padded, its length.
    let at = RECORD_PREFIX_LEN + if padded { PAD_LEN_FIELD } else { 0 };
    let mut rec = if value.capacity() >= total {
        let mut rec = core::mem::take(&mut *value);
        // Within the capacity: no reallocation. Every byte from `n` on is zero, and the value
        // moved to `at > 0` leaves the bytes after it (the padding) zero.
        rec.resize(total, 0);
        rec.copy_within(..n, at);
        rec
    } else {
        let mut rec = Vec::new();
        rec.try_reserve_exact(total)
            .map_err(|_| SealError::TooLarge)?;
        rec.resize(at, 0);
        rec.extend_from_slice(&value);
        rec.resize(total, 0);
        // Zeroized as a slice, in bulk, then freed (`Vec`'s own zeroization, on the drop of
        // `Zeroizing`, writes byte by byte: it is left an empty buffer).
        let mut value = core::mem::take(&mut *value);
        value.as_mut_slice().zeroize();
        drop(value);
        rec
    };
    let put = |rec: &mut [u8], at: usize, bytes: &[u8]| {
        rec.get_mut(at..at + bytes.len())
            .map(|dst| dst.copy_from_slice(bytes))
            .ok_or(SealError::Failed)
    };
    put(&mut rec, 0, &[VERSION])?;
    put(&mut rec, 1, &key_id.to_le_bytes())?;
    put(&mut rec, 5, &version.to_le_bytes())?;
    put(&mut rec, 13, nonce)?;
    if padded {
        let len = u64::try_from(n).map_err(|_| SealError::TooLarge)?;
        put(&mut rec, RECORD_PREFIX_LEN, &len.to_le_bytes())?;
    }
    let (body, tag) = rec
        .get_mut(RECORD_PREFIX_LEN..)
        .ok_or(SealError::Failed)?
        .split_at_mut(body_len);
    match cipher.seal_in_place(nonce, ad, body) {
        Ok(t) => {
            tag.copy_from_slice(&t);
            Ok(rec)
        }
        Err(SealFailed) => {
            body.zeroize();
            Err(SealError::Failed)
        }
    }
}

/// The public prefix of a v2 record: key id and version (not yet authenticated).
pub(crate) fn record_prefix(rec: &[u8]) -> Option<(u32, u64)> {
    if rec.len() < RECORD_OVERHEAD || rec.first() != Some(&VERSION) {
        return None;
    }
    Some((u32_at(rec, 1)?, u64_at(rec, 5)?))
}

/// Opens a v2 record in place and returns its value, unpadded when `padded` (the caller took
/// key id and version from [`record_prefix`] and built `ad` with them). The value is moved to
/// the front of the buffer once: by ring in the pass that decrypts it (unpadded), or after
/// opening in place. The buffer is zeroized on failure, a bad padding included.
pub(crate) fn open_record(
    cipher: &Cipher,
    ad: &RecordAd,
    mut rec: Vec<u8>,
    padded: bool,
) -> Result<Vec<u8>, OpenFailed> {
    let ad = ad.as_bytes().ok_or(OpenFailed)?;
    if rec.len() < RECORD_OVERHEAD {
        rec.as_mut_slice().zeroize();
        return Err(OpenFailed);
    }
    let nonce: [u8; NONCE_LEN] = array_at(&rec, 13).ok_or(OpenFailed)?;
    if !padded {
        let len = cipher.open_shifted(&nonce, ad, &mut rec, RECORD_PREFIX_LEN)?;
        rec.truncate(len);
        return Ok(rec);
    }
    let tag_at = rec.len() - TAG_LEN;
    let tag: [u8; TAG_LEN] = array_at(&rec, tag_at).ok_or(OpenFailed)?;
    let body = rec.get_mut(RECORD_PREFIX_LEN..tag_at).ok_or(OpenFailed)?;
    cipher.open_in_place(&nonce, ad, body, &tag)?;
    let Some(len) = padded_value_len(body) else {
        body.zeroize();
        return Err(OpenFailed);
    };
    let at = RECORD_PREFIX_LEN + PAD_LEN_FIELD;
    rec.copy_within(at..at + len, 0);
    rec.truncate(len);
    Ok(rec)
}

#[cfg(test)]
mod tests;
