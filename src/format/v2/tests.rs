//! The header and record layout, byte by byte.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

fn secrets(n: usize, names: bool) -> Secrets {
    Secrets {
        data_keys: (0..n).map(|i| Zeroizing::new([i as u8 + 10; 32])).collect(),
        anchor_key: Zeroizing::new([9u8; ANCHOR_KEY_LEN]),
        name_key: names.then(|| Zeroizing::new([7u8; NAME_KEY_LEN])),
    }
}

fn header(n: usize, options: u8) -> HeaderV2 {
    HeaderV2::seal(
        Protection::RawKey,
        [1; SALT_LEN],
        [2; STORE_ID_LEN],
        [3; NONCE_LEN],
        &[4; 32],
        &[5; 32],
        State {
            options,
            header_seq: 1,
            version_limit: 1,
            key_ids: (0..n as u32).collect(),
        },
        [6; NONCE_LEN],
        &secrets(n, options & OPT_NAMES != 0),
    )
    .unwrap()
}

#[test]
fn header_lengths_and_round_trip() {
    for (n, opt, len) in [(1, 0, 308), (8, OPT_NAMES, 624), (3, OPT_PADDING, 380)] {
        let h = header(n, opt);
        let b = h.to_bytes();
        assert_eq!(b.len(), len);
        assert_eq!(b.len(), header_len(n, opt & OPT_NAMES != 0));
        let p = HeaderV2::parse(&b).unwrap();
        assert_eq!(p.to_bytes(), b);
        let hk = p.unwrap_hk(&[4; 32]).unwrap();
        assert_eq!(*hk, [5; 32]);
        assert!(p.unwrap_hk(&[9; 32]).is_none());
        let s = p.open_secrets(&hk).unwrap();
        assert_eq!(s.data_keys.len(), n);
        assert_eq!(s.name_key.is_some(), opt & OPT_NAMES != 0);
    }
}

/// Every byte flip is refused by the parse (checksum) and, with the checksum fixed, by
/// the parse, the unwrap (bytes 0..144) or the seal of the secrets (the rest).
#[test]
fn every_flip_is_caught() {
    let b = header(2, OPT_PADDING).to_bytes();
    for i in 0..b.len() {
        let mut f = b.clone();
        f[i] ^= 0x01;
        assert!(HeaderV2::parse(&f).is_err(), "{i}");
        if i >= b.len() - 32 {
            continue;
        }
        let fixed = with_checksum(&f[..f.len() - 32]);
        let Ok(p) = HeaderV2::parse(&fixed) else {
            continue;
        };
        let opened = p
            .unwrap_hk(&[4; 32])
            .and_then(|hk| p.open_secrets(&hk).map(|_| ()));
        assert!(
            opened.is_none(),
            "byte {i} flipped with the checksum fixed opened"
        );
    }
}

#[test]
fn parse_refuses_each_rule() {
    let good = header(2, 0).to_bytes();
    let edit = |i: usize, v: u8| {
        let mut f = good.clone();
        f[i] = v;
        with_checksum(&f[..f.len() - 32])
    };
    let c = |b: &[u8]| matches!(HeaderV2::parse(b), Err(HeaderParseError::Corrupt(_)));
    assert!(c(&edit(10, 1)));
    assert!(c(&edit(146, 1)));
    assert!(c(&edit(144, 0x10)));
    assert!(c(&edit(145, 0)));
    assert!(c(&edit(145, 9)));
    assert!(c(&edit(145, 3)));
    assert!(c(&edit(144, OPT_NAMES)));
    assert!(c(&edit(168, 1))); // ids 1, 1
    assert!(c(&edit(164, 0))); // current not largest
    assert!(c(&edit(9, 3)));
    assert!(c(&edit(12, 1))); // raw key with costs
    let mut seq0 = good.clone();
    seq0[148..156].copy_from_slice(&0u64.to_le_bytes());
    assert!(c(&with_checksum(&seq0[..seq0.len() - 32])));
    let mut lim0 = good.clone();
    lim0[156..164].copy_from_slice(&0u64.to_le_bytes());
    assert!(c(&with_checksum(&lim0[..lim0.len() - 32])));
    // Bit 2 is reserved like bits 4 to 7.
    assert!(c(&edit(144, 4)));
    for bit in 4..8 {
        assert!(c(&edit(144, 1 << bit)), "{bit}");
    }
    assert!(c(&good[..275]));
    let mut long = good.clone();
    long.resize(593, 0);
    assert!(c(&long));
}

#[test]
fn padme_matches_the_paper() {
    assert_eq!(padme(8), Some(8));
    assert_eq!(padme(9), Some(10));
    assert_eq!(padme(129), Some(144));
    assert_eq!(padme(1000), Some(1024));
    assert_eq!(padme(1008), Some(1024));
    assert_eq!(padme(u64::MAX), None);
    for x in 8u64..5000 {
        let p = padme(x).unwrap();
        assert!(p >= x && (p - x) * 100 <= x * 12, "{x} -> {p}");
        assert_eq!(padme(p), Some(p), "buckets are fixed points");
    }
}

#[test]
fn pad_round_trip_and_strict_unpad() {
    for len in [0usize, 1, 7, 100, 121, 1000, 70_000] {
        let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let p = pad(&v).unwrap();
        assert_eq!(p.len() as u64, padme(8 + len as u64).unwrap());
        assert_eq!(unpad(p.to_vec()).unwrap(), v);
    }
    let p = pad(&[1u8; 201]).unwrap().to_vec();
    assert_eq!(p.len(), 224);
    let mut nz = p.clone();
    *nz.last_mut().unwrap() = 1;
    assert!(unpad(nz).is_none());
    let mut big = p.clone();
    big[..8].copy_from_slice(&(p.len() as u64).to_le_bytes());
    assert!(unpad(big).is_none());
    let mut bucket = p.clone();
    bucket.push(0);
    assert!(unpad(bucket).is_none());
    assert!(unpad(vec![0; 7]).is_none());
}

#[test]
fn record_round_trip_binds_version_and_names() {
    let c = Cipher::new(&[9; 32]);
    let ad = RecordAd::new(&[2; 16], 3, 77, "monitors", "", "k").unwrap();
    let rec = seal_record(&c, 3, 77, &[8; 24], &ad, b"value".to_vec(), false).unwrap();
    assert_eq!(rec.len(), 5 + RECORD_OVERHEAD);
    assert_eq!(RECORD_OVERHEAD, 53);
    assert_eq!(record_prefix(&rec), Some((3, 77)));
    assert_eq!(open_record(&c, &ad, rec.clone(), false).unwrap(), b"value");
    let other = RecordAd::new(&[2; 16], 3, 78, "monitors", "", "k").unwrap();
    assert!(open_record(&c, &other, rec.clone(), false).is_err());
    let other = RecordAd::new(&[2; 16], 3, 77, "monitors", "", "j").unwrap();
    assert!(open_record(&c, &other, rec, false).is_err());
}

/// A padded record is the record of the padded plaintext, byte for byte, whether the value
/// is sealed in the caller's buffer (capacity for the record) or copied into a new one; both
/// open back to the value, and a record with a bad padding does not open.
#[test]
fn padded_and_unpadded_records_in_place_or_copied() {
    let c = Cipher::new(&[5; 32]);
    let ad = RecordAd::new(&[1; 16], 2, 9, "p", "s", "k").unwrap();
    let nonce = [6u8; NONCE_LEN];
    for n in [0usize, 1, 7, 8, 100, 121, 129, 1000, 4096, 70_000] {
        let value: Vec<u8> = (0..n).map(|i| (i * 11 + 3) as u8).collect();
        for padded in [false, true] {
            let plaintext = if padded {
                pad(&value).unwrap().to_vec()
            } else {
                value.clone()
            };
            let expected = seal_record(&c, 2, 9, &nonce, &ad, plaintext.clone(), false).unwrap();
            assert_eq!(expected.len(), plaintext.len() + RECORD_OVERHEAD);
            for spare in [
                0usize,
                1,
                RECORD_OVERHEAD,
                plaintext.len() - n + RECORD_OVERHEAD,
                4096,
            ] {
                let mut v = Vec::with_capacity(n + spare);
                v.extend_from_slice(&value);
                let ptr = v.as_ptr();
                let in_place = v.capacity() >= expected.len();
                let rec = seal_record(&c, 2, 9, &nonce, &ad, v, padded).unwrap();
                assert_eq!(rec, expected, "{n} padded {padded} spare {spare}");
                assert_eq!(rec.as_ptr() == ptr, in_place, "{n} {padded} {spare}");
                assert_eq!(open_record(&c, &ad, rec, padded).unwrap(), value);
            }
        }
        // The padded plaintext with a byte after the value set (where there is one): sealed, it
        // does not open.
        let mut bad = pad(&value).unwrap().to_vec();
        if bad.len() > 8 + n {
            *bad.last_mut().unwrap() = 1;
            let rec = seal_record(&c, 2, 9, &nonce, &ad, bad, false).unwrap();
            assert!(open_record(&c, &ad, rec, true).is_err(), "{n}");
        }
        // Opened as unpadded, a padded record is its padded plaintext.
        let rec = seal_record(&c, 2, 9, &nonce, &ad, value.clone(), true).unwrap();
        assert_eq!(
            open_record(&c, &ad, rec, false).unwrap(),
            pad(&value).unwrap().to_vec()
        );
    }
}

#[test]
fn ad_is_injective_on_boundaries() {
    let id = [0u8; 16];
    let a = RecordAd::new(&id, 0, 1, "ab", "", "c").unwrap();
    let b = RecordAd::new(&id, 0, 1, "a", "b", "c").unwrap();
    let c = RecordAd::new(&id, 0, 1, "a", "", "bc").unwrap();
    assert_ne!(a.as_bytes().unwrap(), b.as_bytes().unwrap());
    assert_ne!(a.as_bytes().unwrap(), c.as_bytes().unwrap());
    assert_ne!(b.as_bytes().unwrap(), c.as_bytes().unwrap());
    let long = "x".repeat(120);
    assert!(RecordAd::new(&id, 0, 1, &long, &long, &long).is_some());
    assert!(RecordAd::new(&id, 0, 1, &format!("{long}x"), "", "k").is_none());
}

/// A record is format | key id | version | nonce | the `chacha20poly1305` crate's
/// XChaCha20-Poly1305 ciphertext and tag over the record AD, byte for byte.
#[test]
fn record_bytes_are_the_crate_aead() {
    use chacha20poly1305::aead::{AeadInOut, KeyInit};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let key = [0x42u8; 32];
    let cipher = Cipher::new(&key);
    let reference = XChaCha20Poly1305::new(&key.into());
    let ad = RecordAd::new(&[3; 16], 9, 1234, "monitors", "", "ab_1").unwrap();
    for n in [0usize, 1, 63, 64, 1000, 5000, 100_000] {
        let value: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
        let nonce = [n as u8; NONCE_LEN];
        let mut expected = vec![VERSION, 9, 0, 0, 0];
        expected.extend_from_slice(&1234u64.to_le_bytes());
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
        let rec = seal_record(&cipher, 9, 1234, &nonce, &ad, value.clone(), false).unwrap();
        assert_eq!(rec, expected, "{n}");
        assert_eq!(record_prefix(&rec), Some((9, 1234)));
        assert_eq!(
            open_record(&cipher, &ad, expected.clone(), false).unwrap(),
            value
        );
        let mut bad = expected.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(open_record(&cipher, &ad, bad, false).is_err());
    }
}

/// A header shorter than the shortest or longer than the longest says which; a version
/// byte other than 2 is an unsupported version, not a corrupt header.
#[test]
fn header_length_and_version_errors_say_which() {
    let b = header(1, 0).to_bytes();
    let truncated = Some(HeaderParseError::Corrupt(
        crate::error::HeaderCorruption::Truncated,
    ));
    assert_eq!(HeaderV2::parse(&b[..b.len() - 1]).err(), truncated);
    assert_eq!(HeaderV2::parse(&b[..OFF_VERSION]).err(), truncated);
    let mut long = b.clone();
    long.resize(MAX_HEADER_LEN + 1, 0);
    assert_eq!(
        HeaderV2::parse(&long).err(),
        Some(HeaderParseError::Corrupt(
            crate::error::HeaderCorruption::TrailingBytes
        ))
    );
    for v in [0u8, 1, 3, 255] {
        let mut f = b.clone();
        f[OFF_VERSION] = v;
        assert_eq!(
            HeaderV2::parse(&f).err(),
            Some(HeaderParseError::UnsupportedVersion(v))
        );
    }
}
