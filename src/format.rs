//! Format v1: the store header and the value record, byte by byte (see `docs/FORMAT.md`).
//! Pure functions: no I/O, no panics on any input.

use blake2::digest::consts::U32;
use blake2::digest::{Digest, KeyInit, Mac};
use blake2::{Blake2b, Blake2bMac};
use zeroize::{Zeroize, Zeroizing};

use crate::aead::{Cipher, OpenFailed, SealFailed};
use crate::kdf::KdfParams;

pub(crate) mod v2;

/// The version byte of format version 1 headers and records. The code also writes and reads
/// format version 2 (version byte 2; what `create` makes by default).
pub const FORMAT_VERSION: u8 = 1;

/// First eight bytes of every header.
pub(crate) const MAGIC: &[u8; 8] = b"EKVSTORE";

const PROTECTION_PASSPHRASE: u8 = 1;
const PROTECTION_RAW_KEY: u8 = 2;

pub(crate) const SALT_LEN: usize = 32;
pub(crate) const STORE_ID_LEN: usize = 16;
pub(crate) use crate::aead::{KEY_LEN as DATA_KEY_LEN, NONCE_LEN, TAG_LEN};
const WRAPPED_LEN: usize = DATA_KEY_LEN + TAG_LEN;
const CHECKSUM_LEN: usize = 32;

// Header offsets.
const OFF_VERSION: usize = 8;
const OFF_PROTECTION: usize = 9;
const OFF_RESERVED: usize = 10;
const OFF_M: usize = 12;
const OFF_T: usize = 16;
const OFF_P: usize = 20;
const OFF_SALT: usize = 24;
const OFF_STORE_ID: usize = OFF_SALT + SALT_LEN; // 56
const OFF_KEY_ID: usize = OFF_STORE_ID + STORE_ID_LEN; // 72
const OFF_WRAP_NONCE: usize = OFF_KEY_ID + 4; // 76
const OFF_WRAPPED: usize = OFF_WRAP_NONCE + NONCE_LEN; // 100
const OFF_CHECKSUM: usize = OFF_WRAPPED + WRAPPED_LEN; // 148
/// Length of a v1 header.
pub(crate) const HEADER_LEN: usize = OFF_CHECKSUM + CHECKSUM_LEN; // 180

/// Record layout: version (1) | key id (4, LE) | nonce (24) | ciphertext | tag (16).
pub(crate) const RECORD_PREFIX_LEN: usize = 1 + 4 + NONCE_LEN;
/// Bytes a format version 1 record adds to its value (45).
pub const RECORD_OVERHEAD: usize = RECORD_PREFIX_LEN + TAG_LEN;
/// Bytes a format version 2 record adds to its value without padding (53: the version 1
/// fields and the record's 8-byte version).
pub const RECORD_OVERHEAD_V2: usize = v2::RECORD_OVERHEAD;

/// The labels of one format version's key-encryption-key derivations (a version 1 and a
/// version 2 header never share a KEK).
pub(crate) struct KekLabels {
    /// Prefix of the Argon2id salt.
    pub passphrase: &'static [u8; 35],
    /// Prefix of the raw-key KEK's message.
    pub raw: &'static [u8; 32],
}

/// Format version 1's KEK labels.
pub(crate) const KEK_V1: KekLabels = KekLabels {
    passphrase: b"encrypted-kvstore v1 passphrase kek",
    raw: b"encrypted-kvstore v1 raw-key kek",
};
const RECORD_AD_LABEL: &[u8] = b"encrypted-kvstore v1 record";
const MAX_NAME_LEN: usize = crate::names::KVSTORE_NAMESPACE_KEY_MAX_LEN;
const AD_MAX: usize = RECORD_AD_LABEL.len() + 1 + 4 + STORE_ID_LEN + 3 * (4 + MAX_NAME_LEN);

/// How a store's data key is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protection {
    /// By a key-encryption key derived from a passphrase with Argon2id.
    Passphrase(KdfParams),
    /// By a key-encryption key derived from a caller-held 32-byte key.
    RawKey,
}

/// A parsed v1 header. Every field is public knowledge; the data key is wrapped.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub protection: Protection,
    pub salt: [u8; SALT_LEN],
    pub store_id: [u8; STORE_ID_LEN],
    pub key_id: u32,
    pub wrap_nonce: [u8; NONCE_LEN],
    pub wrapped_key: [u8; WRAPPED_LEN],
}

/// Why header bytes did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderParseError {
    Corrupt(&'static str),
    UnsupportedVersion(u8),
    KdfOutOfBounds,
}

/// The `N` bytes at `off`; `None` when `b` is too short (never a zero-filled stand-in).
fn array_at<const N: usize>(b: &[u8], off: usize) -> Option<[u8; N]> {
    b.get(off..off.checked_add(N)?)?.try_into().ok()
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    array_at(b, off).map(u32::from_le_bytes)
}

fn checksum(prefix: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut h = Blake2b::<U32>::new();
    Digest::update(&mut h, b"encrypted-kvstore v1 header checksum");
    Digest::update(&mut h, prefix);
    h.finalize().into()
}

impl Header {
    /// Parses header bytes. Strict: a header that parses serializes back to the same bytes.
    pub(crate) fn parse(b: &[u8]) -> Result<Header, HeaderParseError> {
        if b.get(..MAGIC.len()) != Some(&MAGIC[..]) {
            return Err(HeaderParseError::Corrupt(
                "it does not start with the encrypted-kvstore magic bytes",
            ));
        }
        match b.get(OFF_VERSION) {
            Some(&FORMAT_VERSION) => {}
            Some(&v) => return Err(HeaderParseError::UnsupportedVersion(v)),
            None => return Err(HeaderParseError::Corrupt("it is truncated")),
        }
        if b.len() != HEADER_LEN {
            return Err(HeaderParseError::Corrupt(if b.len() < HEADER_LEN {
                "it is truncated"
            } else {
                "it has trailing bytes"
            }));
        }
        let (prefix, sum) = b.split_at(OFF_CHECKSUM);
        if checksum(prefix) != sum {
            return Err(HeaderParseError::Corrupt("its checksum does not match"));
        }
        if b.get(OFF_RESERVED..OFF_M) != Some(&[0u8, 0][..]) {
            return Err(HeaderParseError::Corrupt("its reserved bytes are not zero"));
        }
        let truncated = HeaderParseError::Corrupt("it is truncated");
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
                    return Err(HeaderParseError::Corrupt(
                        "a raw-key header carries KDF parameters",
                    ));
                }
                Protection::RawKey
            }
            _ => {
                return Err(HeaderParseError::Corrupt(
                    "its key protection method is unknown",
                ))
            }
        };
        Ok(Header {
            protection,
            salt: array_at(b, OFF_SALT).ok_or(truncated)?,
            store_id: array_at(b, OFF_STORE_ID).ok_or(truncated)?,
            key_id: u32_at(b, OFF_KEY_ID).ok_or(truncated)?,
            wrap_nonce: array_at(b, OFF_WRAP_NONCE).ok_or(truncated)?,
            wrapped_key: array_at(b, OFF_WRAPPED).ok_or(truncated)?,
        })
    }

    /// The authenticated part of the header (everything before the wrapped key), which is the
    /// associated data of the key wrap.
    fn wrap_ad(&self) -> [u8; OFF_WRAPPED] {
        let mut b = [0u8; OFF_WRAPPED];
        b[..8].copy_from_slice(MAGIC);
        b[OFF_VERSION] = FORMAT_VERSION;
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
        b[OFF_STORE_ID..OFF_KEY_ID].copy_from_slice(&self.store_id);
        b[OFF_KEY_ID..OFF_WRAP_NONCE].copy_from_slice(&self.key_id.to_le_bytes());
        b[OFF_WRAP_NONCE..OFF_WRAPPED].copy_from_slice(&self.wrap_nonce);
        b
    }

    /// The header's bytes.
    pub(crate) fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..OFF_WRAPPED].copy_from_slice(&self.wrap_ad());
        b[OFF_WRAPPED..OFF_CHECKSUM].copy_from_slice(&self.wrapped_key);
        let sum = checksum(&b[..OFF_CHECKSUM]);
        b[OFF_CHECKSUM..].copy_from_slice(&sum);
        b
    }

    /// Builds a header whose wrapped key is `data_key` sealed under `kek`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn seal(
        protection: Protection,
        salt: [u8; SALT_LEN],
        store_id: [u8; STORE_ID_LEN],
        key_id: u32,
        wrap_nonce: [u8; NONCE_LEN],
        kek: &[u8; 32],
        data_key: &[u8; DATA_KEY_LEN],
    ) -> Result<Header, SealFailed> {
        let mut h = Header {
            protection,
            salt,
            store_id,
            key_id,
            wrap_nonce,
            wrapped_key: [0u8; WRAPPED_LEN],
        };
        let ad = h.wrap_ad();
        let mut buf = Zeroizing::new(*data_key);
        let tag = Cipher::new(kek).seal_in_place(&wrap_nonce, &ad, &mut buf[..])?;
        h.wrapped_key[..DATA_KEY_LEN].copy_from_slice(&buf[..]);
        h.wrapped_key[DATA_KEY_LEN..].copy_from_slice(&tag);
        Ok(h)
    }

    /// Unwraps the data key with `kek`; `None` when the key (or any header byte) is wrong.
    pub(crate) fn unwrap_key(&self, kek: &[u8; 32]) -> Option<Zeroizing<[u8; DATA_KEY_LEN]>> {
        let ad = self.wrap_ad();
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        key.copy_from_slice(&self.wrapped_key[..DATA_KEY_LEN]);
        let tag: [u8; TAG_LEN] = array_at(&self.wrapped_key, DATA_KEY_LEN)?;
        Cipher::new(kek)
            .open_in_place(&self.wrap_nonce, &ad, &mut key[..], &tag)
            .ok()?;
        Some(key)
    }
}

/// `prefix` (the bytes before the checksum) followed by their checksum.
#[cfg(feature = "fuzzing")]
pub(crate) fn header_with_checksum(prefix: &[u8; OFF_CHECKSUM]) -> [u8; HEADER_LEN] {
    let mut b = [0u8; HEADER_LEN];
    b[..OFF_CHECKSUM].copy_from_slice(prefix);
    b[OFF_CHECKSUM..].copy_from_slice(&checksum(prefix));
    b
}

/// Salt input to Argon2id: the version's label, then the header's random salt.
pub(crate) fn passphrase_salt(labels: &KekLabels, salt: &[u8; SALT_LEN]) -> [u8; 35 + SALT_LEN] {
    let mut s = [0u8; 35 + SALT_LEN];
    let (label, random) = s.split_at_mut(labels.passphrase.len());
    label.copy_from_slice(labels.passphrase);
    random.copy_from_slice(salt);
    s
}

/// The keyed hash refused its key (BLAKE2b takes keys of 1 to 64 bytes, so a 32-byte key
/// cannot be refused; if it ever were, no KEK is produced rather than a weak one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyedHashFailed;

/// KEK for the raw-key mode: BLAKE2b-256 keyed with the raw key over a label and the salt.
pub(crate) fn raw_kek(
    labels: &KekLabels,
    raw: &[u8; 32],
    salt: &[u8; SALT_LEN],
) -> Result<Zeroizing<[u8; 32]>, KeyedHashFailed> {
    let mut mac = <Blake2bMac<U32> as KeyInit>::new_from_slice(raw).map_err(|_| KeyedHashFailed)?;
    Mac::update(&mut mac, labels.raw);
    Mac::update(&mut mac, salt);
    let mut digest = mac.finalize().into_bytes();
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&digest);
    digest.as_mut_slice().zeroize();
    Ok(out)
}

/// The associated data of a record: label, version, key id, store id, then the three names,
/// each preceded by its length as a 4-byte little-endian integer. Built on the stack.
pub(crate) struct RecordAd {
    buf: [u8; AD_MAX],
    len: usize,
}

impl RecordAd {
    /// `None` when a name is longer than LDK allows (callers check names first).
    pub(crate) fn new(
        store_id: &[u8; STORE_ID_LEN],
        key_id: u32,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Option<RecordAd> {
        let mut ad = RecordAd {
            buf: [0u8; AD_MAX],
            len: 0,
        };
        ad.push(RECORD_AD_LABEL)?;
        ad.push(&[FORMAT_VERSION])?;
        ad.push(&key_id.to_le_bytes())?;
        ad.push(store_id)?;
        for name in [primary, secondary, key] {
            if name.len() > MAX_NAME_LEN {
                return None;
            }
            ad.push(&(name.len() as u32).to_le_bytes())?;
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

    /// The associated data; `None` only if the length were ever out of range, which `new`
    /// rules out (an error for the caller, never an empty or shortened AD).
    pub(crate) fn as_bytes(&self) -> Option<&[u8]> {
        self.buf.get(..self.len)
    }
}

/// Why a value could not be sealed into a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealError {
    /// The value (plus the record overhead) does not fit in memory or in one AEAD message.
    TooLarge,
    /// The AEAD refused to seal (or the associated data could not be formed).
    Failed,
}

/// Seals `value` into a record: `version || key_id || nonce || ciphertext || tag`, encrypted
/// in place. The value's buffer becomes the record when it has room for the 45 bytes of
/// overhead (the value moves 29 bytes up, no allocation); otherwise one buffer of exactly the
/// record's size is allocated.
pub(crate) fn seal_record(
    cipher: &Cipher,
    key_id: u32,
    nonce: &[u8; NONCE_LEN],
    ad: &RecordAd,
    value: Vec<u8>,
) -> Result<Vec<u8>, SealError> {
    let ad = ad.as_bytes().ok_or(SealError::Failed)?;
    let n = value.len();
    let total = n.checked_add(RECORD_OVERHEAD).ok_or(SealError::TooLarge)?;
    let mut rec = if value.capacity() >= total {
        let mut value = value;
        value.resize(n + RECORD_PREFIX_LEN, 0);
        value.copy_within(..n, RECORD_PREFIX_LEN);
        value
    } else {
        let mut rec = Vec::new();
        rec.try_reserve_exact(total)
            .map_err(|_| SealError::TooLarge)?;
        rec.resize(RECORD_PREFIX_LEN, 0);
        rec.extend_from_slice(&value);
        drop(value);
        rec
    };
    let (prefix, body) = rec.split_at_mut(RECORD_PREFIX_LEN);
    let tag = cipher
        .seal_in_place(nonce, ad, body)
        .map_err(|SealFailed| SealError::Failed)?;
    let (version, rest) = prefix.split_at_mut(1);
    let (id, nonce_out) = rest.split_at_mut(4);
    version.copy_from_slice(&[FORMAT_VERSION]);
    id.copy_from_slice(&key_id.to_le_bytes());
    nonce_out.copy_from_slice(nonce);
    rec.extend_from_slice(&tag);
    Ok(rec)
}

/// Opens a record in place; `Err` for anything that is not an authentic record for `ad` (the
/// buffer is then zeroized). The plaintext ends at the front of the record's own buffer (with
/// ring, decrypted there in the same pass), so no buffer is allocated.
pub(crate) fn open_record(
    cipher: &Cipher,
    key_id: u32,
    ad: &RecordAd,
    mut rec: Vec<u8>,
) -> Result<Vec<u8>, OpenFailed> {
    let ad = ad.as_bytes().ok_or(OpenFailed)?;
    if rec.len() < RECORD_OVERHEAD || rec.first() != Some(&FORMAT_VERSION) {
        return Err(OpenFailed);
    }
    if u32_at(&rec, 1) != Some(key_id) {
        return Err(OpenFailed);
    }
    let nonce: [u8; NONCE_LEN] = array_at(&rec, 5).ok_or(OpenFailed)?;
    let len = cipher.open_shifted(&nonce, ad, &mut rec, RECORD_PREFIX_LEN)?;
    rec.truncate(len);
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header::seal(
            Protection::Passphrase(KdfParams::default()),
            [1; SALT_LEN],
            [2; STORE_ID_LEN],
            0,
            [3; NONCE_LEN],
            &[4; 32],
            &[5; 32],
        )
        .unwrap()
    }

    #[test]
    fn header_layout_is_fixed() {
        assert_eq!(HEADER_LEN, 180);
        assert_eq!(RECORD_OVERHEAD, 45);
        let b = header().to_bytes();
        assert_eq!(&b[..8], b"EKVSTORE");
        assert_eq!(b[8], 1);
        assert_eq!(Header::parse(&b).map(|h| h.to_bytes()), Ok(b));
    }

    #[test]
    fn header_round_trip_and_unwrap() {
        let h = header();
        let parsed = Header::parse(&h.to_bytes()).unwrap();
        assert_eq!(*parsed.unwrap_key(&[4; 32]).unwrap(), [5; 32]);
        assert!(parsed.unwrap_key(&[6; 32]).is_none());
    }

    #[test]
    fn every_header_byte_flip_is_refused() {
        let b = header().to_bytes();
        for i in 0..b.len() {
            let mut t = b;
            t[i] ^= 0x01;
            match Header::parse(&t) {
                Err(_) => {}
                Ok(h) => assert!(h.unwrap_key(&[4; 32]).is_none(), "flip at {i} opened"),
            }
        }
    }

    /// `OpenError::CorruptHeader` says whether a header is short or long.
    #[test]
    fn header_length_errors_say_which() {
        let b = header().to_bytes();
        let truncated = Some(HeaderParseError::Corrupt("it is truncated"));
        assert_eq!(Header::parse(&b[..HEADER_LEN - 1]).err(), truncated);
        assert_eq!(Header::parse(&b[..OFF_VERSION]).err(), truncated);
        let mut long = b.to_vec();
        long.push(0);
        assert_eq!(
            Header::parse(&long).err(),
            Some(HeaderParseError::Corrupt("it has trailing bytes"))
        );
    }

    #[cfg(feature = "fuzzing")]
    #[test]
    fn header_with_checksum_completes_a_header() {
        let b = header().to_bytes();
        let prefix: [u8; OFF_CHECKSUM] = b[..OFF_CHECKSUM].try_into().unwrap();
        assert_eq!(header_with_checksum(&prefix), b);
    }

    #[test]
    fn ad_is_injective_on_boundaries() {
        let id = [0u8; 16];
        let a = RecordAd::new(&id, 0, "ab", "", "c").unwrap();
        let b = RecordAd::new(&id, 0, "a", "b", "c").unwrap();
        let c = RecordAd::new(&id, 0, "a", "", "bc").unwrap();
        assert_ne!(a.as_bytes().unwrap(), b.as_bytes().unwrap());
        assert_ne!(a.as_bytes().unwrap(), c.as_bytes().unwrap());
        assert_ne!(b.as_bytes().unwrap(), c.as_bytes().unwrap());
        let long = "x".repeat(120);
        assert!(RecordAd::new(&id, 0, &long, &long, &long).is_some());
        assert!(RecordAd::new(&id, 0, &format!("{long}x"), "", "k").is_none());
    }

    #[test]
    fn record_round_trip_in_place() {
        let cipher = Cipher::new(&[9u8; 32]);
        let ad = RecordAd::new(&[1; 16], 0, "p", "s", "k").unwrap();
        for (cap_extra, n) in [
            (0usize, 0usize),
            (0, 100),
            (64, 100),
            (0, 70_000),
            (45, 70_000),
        ] {
            let mut v = Vec::with_capacity(n + cap_extra);
            v.extend((0..n).map(|i| i as u8));
            let rec = seal_record(&cipher, 0, &[7; 24], &ad, v).unwrap();
            assert_eq!(rec.len(), n + RECORD_OVERHEAD);
            let back = open_record(&cipher, 0, &ad, rec).unwrap();
            assert_eq!(back, (0..n).map(|i| i as u8).collect::<Vec<_>>());
        }
    }

    /// A value with room for the overhead becomes the record in its own buffer; a value without
    /// is copied once into a buffer of exactly the record's size.
    #[test]
    fn seal_record_reuses_a_buffer_with_room() {
        let cipher = Cipher::new(&[9u8; 32]);
        let ad = RecordAd::new(&[1; 16], 0, "p", "s", "k").unwrap();
        for n in [0usize, 1, 100, 5000] {
            let mut roomy = Vec::with_capacity(n + RECORD_OVERHEAD);
            roomy.resize(n, 7u8);
            let at = roomy.as_ptr();
            let rec = seal_record(&cipher, 0, &[7; 24], &ad, roomy).unwrap();
            assert_eq!(rec.as_ptr(), at, "{n}");
            let rec = seal_record(&cipher, 0, &[7; 24], &ad, vec![7u8; n]).unwrap();
            assert_eq!(rec.capacity(), n + RECORD_OVERHEAD, "{n}");
        }
    }

    /// A record is version | key id | nonce | the `chacha20poly1305` crate's
    /// XChaCha20-Poly1305 ciphertext and tag over the record AD, byte for byte.
    #[test]
    fn record_bytes_are_the_crate_aead() {
        let key = [0x42u8; 32];
        use chacha20poly1305::aead::{AeadInOut, KeyInit};
        use chacha20poly1305::{XChaCha20Poly1305, XNonce};
        let cipher = Cipher::new(&key);
        let reference = XChaCha20Poly1305::new(&key.into());
        let ad = RecordAd::new(&[3; 16], 9, "monitors", "", "ab_1").unwrap();
        for n in [0usize, 1, 63, 64, 1000, 5000, 100_000] {
            let value: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let nonce = [n as u8; NONCE_LEN];
            let mut expected = vec![FORMAT_VERSION, 9, 0, 0, 0];
            expected.extend_from_slice(&nonce);
            let mut body = value.clone();
            let tag = reference
                .encrypt_inout_detached(
                    &XNonce::from(nonce),
                    ad.as_bytes().unwrap(),
                    (&mut body[..]).into(),
                )
                .unwrap();
            expected.extend_from_slice(&body);
            expected.extend_from_slice(&tag);
            for spare in [0usize, RECORD_OVERHEAD] {
                let mut v = Vec::with_capacity(n + spare);
                v.extend_from_slice(&value);
                let rec = seal_record(&cipher, 9, &nonce, &ad, v).unwrap();
                assert_eq!(rec, expected, "{n} {spare}");
            }
            assert_eq!(
                open_record(&cipher, 9, &ad, expected.clone()).unwrap(),
                value
            );
            let mut bad = expected.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            assert!(open_record(&cipher, 9, &ad, bad).is_err());
            assert!(open_record(&cipher, 8, &ad, expected).is_err());
        }
    }
}
