//! Header parsing: arbitrary bytes at the header's place in the inner store, given to
//! `inspect`, and to `open` with a passphrase and with a raw key. Never panics; never opens
//! unless the bytes are an authentic header and the credential is the one that sealed it;
//! allocates nothing beyond the Argon2id memory the header declares, which parsing bounds by
//! the documented ceiling; and any header that parses serializes back to the same bytes.
//!
//! Input: one byte, then `rest`. 255: the header is `rest`. Any other value `j`: the header is
//! the `j`-th authentic fixture header (modulo) with `rest` XORed over it from the start (bytes
//! past its end are appended), so authentic headers and near-misses are reached without
//! depending on the seeds.
//!
//! The authentic fixtures include stores with and without encrypted names and padding, after
//! a reopen and after a passphrase change. A version byte other than 2 is refused as
//! `UnsupportedVersion` naming it.
//!
//! Each header is tried as given and, when it is 276 to 592 bytes long (a length a header can
//! have), once more with its checksum recomputed, so mutations reach the checks behind the
//! checksum (reserved bytes, key count and ids, protection, KDF bounds, key unwrapping, the
//! seal of the state block).
//!
//! `open` runs Argon2id only for headers asking for at most `OPEN_MAX_MEMORY_KIB` of memory
//! and `OPEN_MAX_WORK_KIB` of work (so the target stays fast); `inspect`, parsing and the
//! raw-key path run on every input.

#![no_main]

use std::sync::OnceLock;

use encrypted_kvstore::__fuzzing::{header_v2_reserialize, header_v2_with_checksum, HEADER_V2_LEN};
use encrypted_kvstore::{
    Credential, EncryptedStore, KdfParams, MemoryStore, OpenError, Protection, HEADER_KEY,
    HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use fuzz_fixtures::{
    alloc_baseline, alloc_peak_since, authentic_headers, raw_key, wrong_raw_key, Unlock,
    PASSPHRASE, WRONG_PASSPHRASE,
};
use libfuzzer_sys::fuzz_target;
use lightning::util::persist::KVStoreSync;

const OPEN_MAX_MEMORY_KIB: u32 = 256;
const OPEN_MAX_WORK_KIB: u64 = 1024;
/// Everything but the KDF's working memory: the header copies, the store handle, the errors.
const SLACK: usize = 64 * 1024;

static AUTHENTIC: OnceLock<Vec<(Vec<u8>, Unlock)>> = OnceLock::new();

fn unlocks(bytes: &[u8]) -> Option<Unlock> {
    let auth = AUTHENTIC.get_or_init(|| authentic_headers().expect("the header fixture builds"));
    auth.iter().find(|(h, _)| h == bytes).map(|(_, u)| *u)
}

fn check(bytes: &[u8]) {
    let inner = MemoryStore::new();
    let put = |b: &[u8]| {
        KVStoreSync::write(
            &inner,
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            b.to_vec(),
        )
        .expect("memory store write")
    };
    put(bytes);
    let authentic = unlocks(bytes);

    let base = alloc_baseline();
    let mut kdf_kib = 0u64;

    // Parse -> serialize is the identity on everything that parses, and parsing agrees with
    // `inspect`.
    let reser = header_v2_reserialize(bytes);
    if let Some(out) = &reser {
        assert_eq!(
            &out[..],
            bytes,
            "a header that parses serialized to other bytes"
        );
    }
    let info = EncryptedStore::inspect(&inner);
    assert_eq!(
        info.is_ok(),
        reser.is_some(),
        "inspect and parse disagree: {info:?}"
    );
    if authentic.is_some() {
        assert!(info.is_ok(), "an authentic header did not parse: {info:?}");
    }
    if let Err(e) = &info {
        assert!(
            matches!(
                e,
                OpenError::CorruptHeader { .. }
                    | OpenError::UnsupportedVersion { .. }
                    | OpenError::KdfParamsOutOfBounds
            ),
            "unexpected inspect error {e:?}"
        );
        if bytes.len() > 8 && bytes.starts_with(b"EKVSTORE") && bytes[8] != 2 {
            assert!(matches!(e, OpenError::UnsupportedVersion { version } if *version == bytes[8]));
        }
    }

    // Raw-key path (no KDF): only the authentic raw-key headers open, and only with their key.
    // (A writable store reserves versions at open, rewriting the header: each open starts
    // from the input's bytes again.)
    let by_wrong_key = EncryptedStore::open(inner.clone(), Credential::raw_key(&wrong_raw_key()));
    put(bytes);
    let by_key = EncryptedStore::open(inner.clone(), Credential::raw_key(&raw_key()));
    assert!(by_wrong_key.is_err(), "a wrong raw key opened a store");
    assert_eq!(
        by_key.is_ok(),
        authentic == Some(Unlock::Key),
        "raw key: authentic = {authentic:?}, got {:?}",
        by_key.as_ref().err()
    );
    if let Ok(store) = &by_key {
        opened_info(&inner, store, info.as_ref().ok());
    }

    // Passphrase path, for cheap costs only.
    match info.as_ref().map(|i| i.protection) {
        Ok(Protection::Passphrase(k)) => {
            // Anything that parses is within the documented ceiling.
            assert!(k.memory_kib() <= KdfParams::CEILING_MEMORY_KIB);
            assert!(k.iterations() <= KdfParams::CEILING_ITERATIONS);
            assert!(k.parallelism() <= KdfParams::CEILING_PARALLELISM);
            assert!(
                u64::from(k.memory_kib()) * u64::from(k.iterations())
                    <= KdfParams::CEILING_WORK_KIB
            );
            assert!(
                matches!(by_key, Err(OpenError::PassphraseRequired)),
                "{by_key:?}"
            );
            let work = u64::from(k.memory_kib()) * u64::from(k.iterations());
            if k.memory_kib() <= OPEN_MAX_MEMORY_KIB && work <= OPEN_MAX_WORK_KIB {
                kdf_kib = u64::from(k.memory_kib());
                put(bytes);
                let opened =
                    EncryptedStore::open(inner.clone(), Credential::passphrase(PASSPHRASE));
                assert_eq!(
                    opened.is_ok(),
                    authentic == Some(Unlock::Passphrase),
                    "passphrase: authentic = {authentic:?}, got {:?}",
                    opened.as_ref().err()
                );
                match opened {
                    Ok(store) => {
                        opened_info(&inner, &store, info.as_ref().ok());
                        let wrong = EncryptedStore::open(
                            inner.clone(),
                            Credential::passphrase(WRONG_PASSPHRASE),
                        );
                        assert!(
                            matches!(wrong, Err(OpenError::WrongPassphrase)),
                            "{:?}",
                            wrong.err()
                        );
                    }
                    // An edit of the state block behind a fixed checksum fails the seal of the
                    // secrets, not the key unwrap.
                    Err(e) => assert!(
                        matches!(
                            e,
                            OpenError::WrongPassphrase | OpenError::HeaderAuthenticationFailed
                        ),
                        "{e:?}"
                    ),
                }
            }
        }
        Ok(Protection::RawKey) => {
            let p = EncryptedStore::open(inner.clone(), Credential::passphrase(PASSPHRASE));
            assert!(matches!(p, Err(OpenError::RawKeyRequired)), "{:?}", p.err());
        }
        Ok(_) => panic!("unknown protection"),
        Err(_) => {
            let p = EncryptedStore::open(inner.clone(), Credential::passphrase(PASSPHRASE));
            assert!(p.is_err(), "a header that does not parse opened");
        }
    }

    let peak = alloc_peak_since(base);
    let budget = usize::try_from(kdf_kib * 1024).unwrap_or(usize::MAX) + SLACK + 4 * bytes.len();
    assert!(
        peak <= budget,
        "allocated {peak} bytes, budget {budget} (KDF {kdf_kib} KiB)"
    );
}

/// An opened store's info is what `inspect` reads from the header it left in the inner store;
/// that is the input header, except that the store reserved its first block of versions at
/// open (one more `header_seq`, a higher `version_limit`).
fn opened_info(
    inner: &MemoryStore,
    store: &EncryptedStore<MemoryStore>,
    before: Option<&encrypted_kvstore::StoreInfo>,
) {
    let now = EncryptedStore::inspect(inner).expect("the header an open left parses");
    let got = store.info();
    assert_eq!(got, now);
    let before = before.expect("a header that does not parse opened");
    let mut want = before.clone();
    assert_eq!(got.header_seq, before.header_seq + 1);
    assert!(got.version_limit > before.version_limit);
    want.header_seq = got.header_seq;
    want.version_limit = got.version_limit;
    assert_eq!(got, want);
}

fuzz_target!(|input: &[u8]| {
    let [mode, rest @ ..] = input else {
        return;
    };
    let data = if *mode == 255 {
        rest.to_vec()
    } else {
        let auth =
            AUTHENTIC.get_or_init(|| authentic_headers().expect("the header fixture builds"));
        let mut h = auth[usize::from(*mode) % auth.len()].0.clone();
        for (at, x) in rest.iter().enumerate() {
            match h.get_mut(at) {
                Some(b) => *b ^= x,
                None => h.push(*x),
            }
        }
        h
    };
    let data = &data[..];
    check(data);
    if HEADER_V2_LEN.contains(&data.len()) {
        let fixed = header_v2_with_checksum(&data[..data.len() - 32]);
        if fixed[..] != data[..] {
            check(&fixed);
        }
    }
});
