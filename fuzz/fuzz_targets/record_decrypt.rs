//! Record decryption: arbitrary bytes handed back by the inner store for a key, under a fixed
//! store. Never panics; only the authentic record written for that very key opens, and it opens
//! to the value written.
//!
//! Input: one byte `sel`, one byte choosing the source, then `rest`. Source 255: the record is
//! `rest` itself. Any other source `j`: it is authentic record `j` (modulo) with `rest` XORed
//! over it from the start (bytes past its end are appended), so the target does not depend on
//! the seeds to reach authentic records, moved records and near-misses.
//!
//! `sel` below 128: the record is read for triple `sel` (modulo) through a fixed store with
//! the default options (names in clear, no padding), by the sync and the async trait.
//!
//! `sel` from 128, triple `sel & 63` (modulo):
//! - bit 6 clear: the record is read through a fixed store with encrypted names and
//!   padding (put at the triple's stored names), by both traits: only the authentic record of
//!   that triple opens, everything else is `AuthenticationFailed` naming the plaintext triple
//!   (the store wrote each triple once, so no freshness error is possible);
//! - bit 6 set: the record goes to the record functions under a fixed data key and
//!   associated data (`__fuzzing::record_v2_*`): the prefix is the record's bytes 1..13; a
//!   record that opens seals again, with its own nonce, to exactly its bytes (so it was sealed
//!   under that key and AD); the authentic one opens to the padded value; no other key opens
//!   anything; and `unpad` accepts exactly the outputs of `pad` (checked on the opened
//!   plaintext and on `rest` itself).

#![no_main]

use std::sync::OnceLock;

use encrypted_kvstore::__fuzzing::{
    pad_v2, record_v2_open, record_v2_prefix, record_v2_seal, unpad_v2, RECORD_V2_OVERHEAD,
};
use encrypted_kvstore::ReadError;
use fuzz_fixtures::{
    alloc_baseline, alloc_peak_since, fixture_value, now, record_fixture, record_fixture_v2,
    sealed_v2, triples_v2, RecordFixture, RecordFixtureV2, V2_KEY, V2_STORE_ID,
};
use libfuzzer_sys::fuzz_target;
use lightning::io::ErrorKind;
use lightning::util::persist::{KVStore, KVStoreSync};

static FIXTURE: OnceLock<RecordFixture> = OnceLock::new();
static FIXTURE_V2: OnceLock<RecordFixtureV2> = OnceLock::new();
static SEALED_V2: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

/// `base` with `rest` XORed over it from the start, bytes past its end appended.
fn xor_over(base: &[u8], rest: &[u8]) -> Vec<u8> {
    let mut rec = base.to_vec();
    for (at, x) in rest.iter().enumerate() {
        match rec.get_mut(at) {
            Some(b) => *b ^= x,
            None => rec.push(*x),
        }
    }
    rec
}

fn check_read(
    (p, s, k): &(String, String, String),
    bytes: &[u8],
    authentic: &[u8],
    value: &[u8],
    got: Result<Vec<u8>, lightning::io::Error>,
) {
    match got {
        Ok(v) => {
            assert_eq!(
                bytes, authentic,
                "a non-authentic record opened for {p}/{s}/{k}"
            );
            assert_eq!(
                &v[..],
                value,
                "the authentic record opened to another value"
            );
        }
        Err(e) => {
            assert_ne!(
                bytes, authentic,
                "the authentic record of {p}/{s}/{k} did not open: {e}"
            );
            assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
            let typed = e.get_ref().and_then(|e| e.downcast_ref::<ReadError>());
            assert_eq!(
                typed,
                Some(&ReadError::AuthenticationFailed {
                    primary_namespace: p.clone(),
                    secondary_namespace: s.clone(),
                    key: k.clone(),
                })
            );
        }
    }
}

/// Format 2, through the store.
fn store_v2(i: usize, src: u8, rest: &[u8]) {
    let fx = FIXTURE_V2.get_or_init(|| record_fixture_v2().expect("the v2 record fixture builds"));
    let n = fx.triples.len();
    let i = i % n;
    let bytes = if src == 255 {
        rest.to_vec()
    } else {
        xor_over(&fx.records[usize::from(src) % n].0, rest)
    };
    let (sp, ss, sk) = &fx.stored[i];
    KVStoreSync::write(&fx.inner, sp, ss, sk, bytes.clone()).expect("memory store write");
    let (p, s, k) = &fx.triples[i];
    let (authentic, value) = &fx.records[i];
    let base = alloc_baseline();
    let sync = KVStoreSync::read(&fx.store, p, s, k);
    let asyn = now(KVStore::read(&fx.store, p, s, k));
    // Besides the record: three encrypted names, the freshness ticket's names, the error.
    let peak = alloc_peak_since(base);
    assert!(
        peak <= 4 * bytes.len() + 8192,
        "reading a {}-byte v2 record allocated {peak} bytes",
        bytes.len()
    );
    for got in [sync, asyn] {
        check_read(&fx.triples[i], &bytes, authentic, value, got);
    }
}

/// `unpad` accepts exactly what `pad` produces.
fn check_unpad(padded: &[u8]) -> Option<Vec<u8>> {
    let v = unpad_v2(padded.to_vec())?;
    assert_eq!(
        pad_v2(&v).as_deref(),
        Some(padded),
        "unpad accepted a padding that pad does not produce ({} bytes to a {}-byte value)",
        padded.len(),
        v.len()
    );
    Some(v)
}

/// Format 2, through the record functions.
fn functions_v2(i: usize, src: u8, rest: &[u8]) {
    let sealed = SEALED_V2.get_or_init(|| {
        (0..triples_v2().len())
            .map(|j| sealed_v2(j).expect("the v2 records seal"))
            .collect()
    });
    let n = sealed.len();
    let i = i % n;
    let bytes = if src == 255 {
        rest.to_vec()
    } else {
        xor_over(&sealed[usize::from(src) % n], rest)
    };
    let t = &triples_v2()[i];
    let names = (t.0.as_str(), t.1.as_str(), t.2.as_str());

    let prefix = record_v2_prefix(&bytes);
    match prefix {
        Some((key_id, version)) => {
            assert!(bytes.len() >= RECORD_V2_OVERHEAD && bytes[0] == 2);
            assert_eq!(key_id.to_le_bytes(), bytes[1..5]);
            assert_eq!(version.to_le_bytes(), bytes[5..13]);
        }
        None => assert!(bytes.len() < RECORD_V2_OVERHEAD || bytes[0] != 2),
    }

    let opened = record_v2_open(&V2_KEY, &V2_STORE_ID, names, bytes.clone());
    if bytes == sealed[i] {
        let (key_id, version, plain) = opened.as_ref().expect("the authentic v2 record opens");
        assert_eq!((*key_id, *version), (i as u32, i as u64 + 1));
        assert_eq!(Some(plain), pad_v2(&fixture_value(i)).as_ref());
    }
    if let Some((key_id, version, plain)) = &opened {
        assert_eq!(prefix, Some((*key_id, *version)));
        let nonce: [u8; 24] = bytes[13..37].try_into().expect("24 bytes");
        let again = record_v2_seal(
            &V2_KEY,
            &V2_STORE_ID,
            *key_id,
            *version,
            &nonce,
            names,
            plain,
        );
        assert_eq!(
            again.as_ref(),
            Some(&bytes),
            "a v2 record opened that its key and AD do not seal to"
        );
        let value = check_unpad(plain);
        if bytes == sealed[i] {
            assert_eq!(value, Some(fixture_value(i)));
        }
    }
    let mut other = V2_KEY;
    other[0] ^= 1;
    assert!(
        record_v2_open(&other, &V2_STORE_ID, names, bytes.clone()).is_none(),
        "a v2 record opened under another key"
    );
    check_unpad(rest);
}

fuzz_target!(|data: &[u8]| {
    let [sel, src, rest @ ..] = data else {
        return;
    };
    if *sel >= 128 {
        let i = usize::from(*sel & 63);
        if *sel & 64 == 0 {
            store_v2(i, *src, rest);
        } else {
            functions_v2(i, *src, rest);
        }
        return;
    }
    let fx = FIXTURE.get_or_init(|| record_fixture().expect("the record fixture builds"));
    let n = fx.triples.len();
    let i = usize::from(*sel) % n;
    let bytes = if *src == 255 {
        rest.to_vec()
    } else {
        xor_over(&fx.records[usize::from(*src) % n].0, rest)
    };
    let bytes = &bytes[..];
    let (p, s, k) = &fx.triples[i];
    let (authentic, value) = &fx.records[i];
    KVStoreSync::write(&fx.inner, p, s, k, bytes.to_vec()).expect("memory store write");

    let base = alloc_baseline();
    let sync = KVStoreSync::read(&fx.store, p, s, k);
    let asyn = now(KVStore::read(&fx.store, p, s, k));
    // Reading copies the record once (and the async path copies the names, the freshness
    // ticket holds them); nothing grows with anything but the record's length.
    let peak = alloc_peak_since(base);
    assert!(
        peak <= 4 * bytes.len() + 8192,
        "reading a {}-byte record allocated {peak} bytes",
        bytes.len()
    );
    for got in [sync, asyn] {
        check_read(&fx.triples[i], bytes, authentic, value, got);
    }
});
