//! Known-answer test vectors for format v1 (one case per file under `tests/vectors/`, in the
//! spirit of age's CCTV suite).
//!
//! Each file is a list of `name: value` lines; byte strings are hex. `expect:` is one of
//! `success`, `open failure: <OpenError variant>` or `read failure: <ReadError variant>`.
//! The checker below reads the files on its own and must pass forever: pinned v1 blobs always
//! open. A second test regenerates every file with a deterministic random source and checks the
//! result is byte-identical, so the writer cannot drift from the pinned format either.
//! (`EKV_WRITE_VECTORS=1 cargo test --test vectors` writes the files; do that only when
//! introducing a new format version, never to make a changed v1 pass.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::v::{ldk, V};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};
use encrypted_kvstore::{
    EncryptedStore, KdfParams, MemoryStore, OpenError, OpenOptions, RawKey, ReadError, HEADER_KEY,
    HEADER_SECONDARY_NAMESPACE, RESERVED_PRIMARY_NAMESPACE,
};
use ldk::util::persist::KVStoreSync;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Checker: reads the pinned files, independent of the generator.

#[derive(Debug)]
enum Credential {
    Passphrase(Vec<u8>),
    Key(RawKey),
}

fn open_error_name(e: &OpenError) -> &'static str {
    match e {
        OpenError::NotInitialized => "NotInitialized",
        OpenError::AlreadyInitialized => "AlreadyInitialized",
        OpenError::ExistingData { .. } => "ExistingData",
        OpenError::WrongPassphrase => "WrongPassphrase",
        OpenError::WrongKey => "WrongKey",
        OpenError::PassphraseRequired => "PassphraseRequired",
        OpenError::RawKeyRequired => "RawKeyRequired",
        OpenError::EmptyPassphrase => "EmptyPassphrase",
        OpenError::CorruptHeader { .. } => "CorruptHeader",
        OpenError::UnsupportedVersion { .. } => "UnsupportedVersion",
        OpenError::KdfParamsOutOfBounds => "KdfParamsOutOfBounds",
        OpenError::OutOfMemory => "OutOfMemory",
        OpenError::Random(_) => "Random",
        OpenError::Io(_) => "Io",
        _ => "unknown",
    }
}

fn check_vector(path: &Path) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let mut f = BTreeMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{name}: bad line {line:?}"));
        f.insert(k.trim().to_string(), v.trim().to_string());
    }
    let get = |k: &str| {
        f.get(k)
            .unwrap_or_else(|| panic!("{name}: missing field {k}"))
            .clone()
    };
    let cred = match get("credential").split_once(' ') {
        Some(("passphrase", h)) => Credential::Passphrase(unhex(h)),
        Some(("key", h)) => Credential::Key(RawKey::from_slice(&unhex(h)).unwrap()),
        other => panic!("{name}: bad credential {other:?}"),
    };
    let (p, s, k) = (get("primary"), get("secondary"), get("key"));
    let inner = MemoryStore::new();
    let header = get("header");
    if header != "none" {
        inner
            .write(
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
                unhex(&header),
            )
            .unwrap();
    }
    let record = get("record");
    if record != "none" {
        inner.write(&p, &s, &k, unhex(&record)).unwrap();
    }
    let opened = match &cred {
        Credential::Passphrase(pw) => EncryptedStore::open::<V>(inner.clone(), pw),
        Credential::Key(key) => EncryptedStore::open_with_key::<V>(inner.clone(), key),
    };
    let expect = get("expect");
    let store = match (expect.split_once(": "), opened) {
        (Some(("open failure", want)), Err(e)) => {
            assert_eq!(open_error_name(&e), want, "{name}: wrong open error: {e}");
            return;
        }
        (Some(("open failure", want)), Ok(_)) => panic!("{name}: opened, expected {want}"),
        (_, Err(e)) => panic!("{name}: open failed: {e:?}"),
        (_, Ok(store)) => store,
    };
    let read = store.read(&p, &s, &k);
    match (expect.as_str(), expect.split_once(": "), read) {
        ("success", _, Ok(v)) => assert_eq!(hex(&v), get("plaintext"), "{name}: plaintext"),
        ("success", _, Err(e)) => panic!("{name}: read failed: {e}"),
        (_, Some(("read failure", "AuthenticationFailed")), Err(e)) => {
            assert_eq!(e.kind(), ldk::io::ErrorKind::InvalidData, "{name}");
            let typed = e
                .get_ref()
                .and_then(|e| e.downcast_ref::<ReadError>())
                .unwrap_or_else(|| panic!("{name}: untyped error {e}"));
            assert_eq!(
                typed,
                &ReadError::AuthenticationFailed {
                    primary_namespace: p.clone(),
                    secondary_namespace: s.clone(),
                    key: k.clone()
                },
                "{name}"
            );
        }
        (_, _, r) => panic!("{name}: expected {expect}, got {r:?}"),
    }
    // Nothing a read or a failed open does may write to the inner store.
    assert_eq!(
        inner.len(),
        usize::from(header != "none") + usize::from(record != "none")
    );
}

fn vector_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    v
}

#[test]
fn pinned_vectors_give_their_expected_outcome() {
    let files = vector_files();
    assert!(files.len() >= 30, "only {} vectors found", files.len());
    for f in &files {
        check_vector(f);
    }
}

// ---------------------------------------------------------------------------------------------
// Generator: deterministic, so regenerating must reproduce the pinned files byte for byte.

fn opts(seed: u64) -> OpenOptions {
    crate::common::seeded_options(seed)
}

const PASSPHRASE: &[u8] = b"correct horse battery staple";

fn cheap() -> KdfParams {
    KdfParams::insecure_for_tests_only(64, 1, 1).unwrap()
}

struct Sealed {
    header: Vec<u8>,
    record: Vec<u8>,
}

/// Creates a store and writes one value; returns the header and the record bytes.
fn seal(
    seed: u64,
    cred: &Credential,
    params: KdfParams,
    p: &str,
    s: &str,
    k: &str,
    v: &[u8],
) -> Sealed {
    let inner = MemoryStore::new();
    let store = match cred {
        Credential::Passphrase(pw) => opts(seed).create::<V, _>(inner.clone(), pw, params),
        Credential::Key(key) => opts(seed).create_with_key::<V, _>(inner.clone(), key),
    }
    .unwrap();
    store.write(p, s, k, v.to_vec()).unwrap();
    Sealed {
        header: inner
            .read(
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
            )
            .unwrap(),
        record: inner.read(p, s, k).unwrap(),
    }
}

/// Recomputes the unkeyed checksum after a deliberate edit (docs/FORMAT.md).
fn fix_checksum(h: &mut [u8]) {
    let mut d = Blake2b::<U32>::new();
    d.update(b"encrypted-kvstore v1 header checksum");
    d.update(&h[..148]);
    let sum = d.finalize();
    h[148..180].copy_from_slice(&sum);
}

struct Case {
    file: &'static str,
    description: &'static str,
    expect: &'static str,
    credential: String,
    primary: String,
    secondary: String,
    key: String,
    header: Option<Vec<u8>>,
    record: Option<Vec<u8>>,
    plaintext: Option<Vec<u8>>,
}

impl Case {
    fn render(&self) -> String {
        let opt = |b: &Option<Vec<u8>>| b.as_ref().map_or("none".to_string(), |b| hex(b));
        let mut s = format!(
            "description: {}\nexpect: {}\ncredential: {}\nprimary: {}\nsecondary: {}\nkey: {}\nheader: {}\nrecord: {}\n",
            self.description,
            self.expect,
            self.credential,
            self.primary,
            self.secondary,
            self.key,
            opt(&self.header),
            opt(&self.record),
        );
        if let Some(p) = &self.plaintext {
            s.push_str(&format!("plaintext: {}\n", hex(p)));
        }
        s
    }
}

fn generate() -> Vec<Case> {
    let pw = Credential::Passphrase(PASSPHRASE.to_vec());
    let pw_cred = format!("passphrase {}", hex(PASSPHRASE));
    let raw = [0x42u8; 32];
    let key_cred = format!("key {}", hex(&raw));
    let rawk = Credential::Key(RawKey::from_bytes(raw));
    let value = b"a channel monitor, in plaintext".to_vec();
    let (p, s, k) = ("monitors", "", "0123abcd_1");
    let base = seal(1, &pw, cheap(), p, s, k, &value);
    let other_store = seal(2, &pw, cheap(), p, s, k, &value);

    let mk =
        |file, description, expect: &str, header: Option<Vec<u8>>, record: Option<Vec<u8>>| Case {
            file,
            description,
            expect: Box::leak(expect.to_string().into_boxed_str()),
            credential: pw_cred.clone(),
            primary: p.into(),
            secondary: s.into(),
            key: k.into(),
            header,
            record,
            plaintext: if expect == "success" {
                Some(value.clone())
            } else {
                None
            },
        };
    let hdr = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut h = base.header.clone();
        f(&mut h);
        Some(h)
    };
    let rec = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut r = base.record.clone();
        f(&mut r);
        Some(r)
    };
    let bh = Some(base.header.clone());
    let br = Some(base.record.clone());
    let af = "read failure: AuthenticationFailed";

    let mut cases = vec![
        mk(
            "v1_passphrase_ok.txt",
            "A v1 store (Argon2id m=64 KiB t=1 p=1) and one record: opens and reads",
            "success",
            bh.clone(),
            br.clone(),
        ),
        mk(
            "v1_open_wrong_passphrase.txt",
            "The right header opened with another passphrase",
            "open failure: WrongPassphrase",
            bh.clone(),
            None,
        ),
        mk(
            "v1_open_no_header.txt",
            "A record but no header: never treated as a new store",
            "open failure: NotInitialized",
            None,
            br.clone(),
        ),
        mk(
            "v1_header_bad_magic.txt",
            "First magic byte changed",
            "open failure: CorruptHeader",
            hdr(&|h| h[0] ^= 0x20),
            None,
        ),
        mk(
            "v1_header_version_2.txt",
            "Version byte 2: a format this code does not know",
            "open failure: UnsupportedVersion",
            hdr(&|h| h[8] = 2),
            None,
        ),
        mk(
            "v1_header_truncated.txt",
            "Header cut to 179 bytes",
            "open failure: CorruptHeader",
            hdr(&|h| h.truncate(179)),
            None,
        ),
        mk(
            "v1_header_only_magic.txt",
            "Header of just the magic and version",
            "open failure: CorruptHeader",
            hdr(&|h| h.truncate(9)),
            None,
        ),
        mk(
            "v1_header_trailing_byte.txt",
            "One byte appended to the header",
            "open failure: CorruptHeader",
            hdr(&|h| h.push(0)),
            None,
        ),
        mk(
            "v1_header_empty.txt",
            "An empty header value",
            "open failure: CorruptHeader",
            Some(vec![]),
            None,
        ),
        mk(
            "v1_header_checksum_flipped.txt",
            "Last checksum byte flipped",
            "open failure: CorruptHeader",
            hdr(&|h| h[179] ^= 1),
            None,
        ),
        mk(
            "v1_header_salt_flipped_checksum_fixed.txt",
            "Salt byte changed and checksum recomputed: the key wrap fails",
            "open failure: WrongPassphrase",
            hdr(&|h| {
                h[24] ^= 1;
                fix_checksum(h)
            }),
            None,
        ),
        mk(
            "v1_header_store_id_flipped_checksum_fixed.txt",
            "Store id changed and checksum recomputed: the key wrap (AD) fails",
            "open failure: WrongPassphrase",
            hdr(&|h| {
                h[56] ^= 1;
                fix_checksum(h)
            }),
            None,
        ),
        mk(
            "v1_header_wrapped_key_flipped_checksum_fixed.txt",
            "Wrapped key byte changed and checksum recomputed",
            "open failure: WrongPassphrase",
            hdr(&|h| {
                h[100] ^= 1;
                fix_checksum(h)
            }),
            None,
        ),
        mk(
            "v1_header_iterations_changed_checksum_fixed.txt",
            "Iterations 1 -> 2 (within bounds), checksum recomputed: KDF costs are authenticated",
            "open failure: WrongPassphrase",
            hdr(&|h| {
                h[16] = 2;
                fix_checksum(h)
            }),
            None,
        ),
        mk(
            "v1_header_memory_huge.txt",
            "Memory cost 0xffffffff KiB with a valid checksum: refused before allocating",
            "open failure: KdfParamsOutOfBounds",
            hdr(&|h| {
                h[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
                fix_checksum(h)
            }),
            None,
        ),
        mk(
            "v1_header_iterations_huge.txt",
            "Iterations 2^24 with a valid checksum: refused, not a hang",
            "open failure: KdfParamsOutOfBounds",
            hdr(&|h| {
                h[16..20].copy_from_slice(&(1u32 << 24).to_le_bytes());
                fix_checksum(h)
            }),
            None,
        ),
        mk(
            "v1_header_parallelism_zero.txt",
            "Parallelism 0 with a valid checksum",
            "open failure: KdfParamsOutOfBounds",
            hdr(&|h| {
                h[20..24].copy_from_slice(&0u32.to_le_bytes());
                fix_checksum(h)
            }),
            None,
        ),
        mk(
            "v1_header_reserved_nonzero.txt",
            "Reserved byte set, checksum recomputed",
            "open failure: CorruptHeader",
            hdr(&|h| {
                h[10] = 1;
                fix_checksum(h)
            }),
            None,
        ),
        mk(
            "v1_header_unknown_protection.txt",
            "Protection method 3, checksum recomputed",
            "open failure: CorruptHeader",
            hdr(&|h| {
                h[9] = 3;
                fix_checksum(h)
            }),
            None,
        ),
        mk(
            "v1_header_from_other_store.txt",
            "Header of another store with the same passphrase, record of this one",
            af,
            Some(other_store.header.clone()),
            br.clone(),
        ),
        mk(
            "v1_record_from_other_store.txt",
            "Record of another store with the same passphrase",
            af,
            bh.clone(),
            Some(other_store.record.clone()),
        ),
        mk(
            "v1_record_ciphertext_flipped.txt",
            "First ciphertext byte flipped",
            af,
            bh.clone(),
            rec(&|r| r[29] ^= 1),
        ),
        mk(
            "v1_record_tag_flipped.txt",
            "Last tag byte flipped",
            af,
            bh.clone(),
            rec(&|r| {
                let n = r.len();
                r[n - 1] ^= 0x80
            }),
        ),
        mk(
            "v1_record_nonce_flipped.txt",
            "Nonce byte flipped",
            af,
            bh.clone(),
            rec(&|r| r[5] ^= 1),
        ),
        mk(
            "v1_record_version_2.txt",
            "Record version byte 2",
            af,
            bh.clone(),
            rec(&|r| r[0] = 2),
        ),
        mk(
            "v1_record_key_id_1.txt",
            "Record key id 1 (the store's data key has id 0)",
            af,
            bh.clone(),
            rec(&|r| r[1] = 1),
        ),
        mk(
            "v1_record_truncated_tag.txt",
            "Record missing its last byte",
            af,
            bh.clone(),
            rec(&|r| {
                r.pop();
            }),
        ),
        mk(
            "v1_record_too_short.txt",
            "Record of 44 bytes: shorter than the 45-byte overhead",
            af,
            bh.clone(),
            rec(&|r| r.truncate(44)),
        ),
        mk(
            "v1_record_empty.txt",
            "An empty stored value",
            af,
            bh.clone(),
            Some(vec![]),
        ),
        mk(
            "v1_record_appended_byte.txt",
            "One byte appended to the record",
            af,
            bh.clone(),
            rec(&|r| r.push(0)),
        ),
        mk(
            "v1_record_plaintext.txt",
            "The plaintext value written behind the wrapper",
            af,
            bh.clone(),
            Some(value.clone()),
        ),
    ];

    for c in cases
        .iter_mut()
        .filter(|c| c.file == "v1_open_wrong_passphrase.txt")
    {
        c.credential = format!("passphrase {}", hex(b"correct horse battery stapler"));
    }

    // A record moved to another key, secondary namespace or primary namespace.
    for (file, description, mp, ms, mk_) in [
        (
            "v1_record_moved_key.txt",
            "Record copied to another key",
            p,
            s,
            "0123abcd_2",
        ),
        (
            "v1_record_moved_secondary.txt",
            "Record copied to another secondary namespace",
            p,
            "x",
            k,
        ),
        (
            "v1_record_moved_primary.txt",
            "Record copied to another primary namespace",
            "archived_monitors",
            s,
            k,
        ),
        (
            "v1_record_moved_boundary.txt",
            "Record of (monitors, \"\", 0123abcd_1) presented as (monitors, 0123abcd, _1)",
            p,
            "0123abcd",
            "_1",
        ),
    ] {
        let mut c = mk(file, description, af, bh.clone(), br.clone());
        c.primary = mp.into();
        c.secondary = ms.into();
        c.key = mk_.into();
        cases.push(c);
    }

    // Other successful shapes.
    let top = seal(3, &pw, cheap(), "", "", "manager", &[0u8; 0]);
    let mut c = mk(
        "v1_empty_value_top_level_ok.txt",
        "An empty value under the top-level namespace",
        "success",
        Some(top.header),
        Some(top.record),
    );
    c.primary = String::new();
    c.key = "manager".into();
    c.plaintext = Some(vec![]);
    cases.push(c);

    let long = "A".repeat(120);
    let bytes: Vec<u8> = (0..=255u8).collect();
    let lg = seal(
        4,
        &pw,
        cheap(),
        &long,
        &"b".repeat(120),
        &"c-_9".repeat(30),
        &bytes,
    );
    let mut c = mk(
        "v1_max_length_names_ok.txt",
        "120-character names and all 256 byte values",
        "success",
        Some(lg.header),
        Some(lg.record),
    );
    c.primary = long.clone();
    c.secondary = "b".repeat(120);
    c.key = "c-_9".repeat(30);
    c.plaintext = Some(bytes);
    cases.push(c);

    let dflt = seal(5, &pw, KdfParams::default(), p, s, k, &value);
    cases.push(mk(
        "v1_default_kdf_ok.txt",
        "Default Argon2id costs (64 MiB, t=3, p=4)",
        "success",
        Some(dflt.header),
        Some(dflt.record),
    ));

    let rk = seal(6, &rawk, cheap(), p, s, k, &value);
    for (file, description, expect, cred) in [
        (
            "v1_raw_key_ok.txt",
            "Raw-key store",
            "success",
            key_cred.clone(),
        ),
        (
            "v1_raw_key_wrong_key.txt",
            "Raw-key store opened with another key",
            "open failure: WrongKey",
            format!("key {}", hex(&[0x43u8; 32])),
        ),
        (
            "v1_raw_key_given_passphrase.txt",
            "Raw-key store opened with a passphrase",
            "open failure: RawKeyRequired",
            pw_cred.clone(),
        ),
    ] {
        let mut c = mk(
            file,
            description,
            expect,
            Some(rk.header.clone()),
            Some(rk.record.clone()),
        );
        c.credential = cred;
        cases.push(c);
    }
    let mut c = mk(
        "v1_passphrase_store_given_key.txt",
        "Passphrase store opened with a raw key",
        "open failure: PassphraseRequired",
        bh.clone(),
        None,
    );
    c.credential = key_cred.clone();
    cases.push(c);
    let mut c = mk(
        "v1_raw_key_header_with_kdf_params.txt",
        "Raw-key header carrying KDF parameters, checksum recomputed",
        "open failure: CorruptHeader",
        Some(rk.header.clone()),
        None,
    );
    let mut h = rk.header.clone();
    h[16] = 1;
    fix_checksum(&mut h);
    c.header = Some(h);
    c.credential = key_cred;
    cases.push(c);
    cases
}

#[test]
fn generator_reproduces_pinned_vectors() {
    let cases = generate();
    let write = std::env::var_os("EKV_WRITE_VECTORS").is_some();
    let mut names: Vec<&str> = cases.iter().map(|c| c.file).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "duplicate vector file names");
    for c in &cases {
        let path = dir().join(c.file);
        let text = c.render();
        if write {
            std::fs::write(&path, &text).unwrap();
        } else {
            let pinned = std::fs::read_to_string(&path)
                .unwrap_or_else(|_| panic!("{} is not pinned", c.file));
            assert_eq!(
                pinned, text,
                "{}: the code no longer writes the pinned v1 bytes; a format change needs a new version",
                c.file
            );
        }
    }
    assert_eq!(
        vector_files().len(),
        cases.len(),
        "a vector file has no generator case"
    );
}
