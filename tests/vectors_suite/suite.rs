//! Known-answer test vectors (one case per file under `tests/vectors/`, in the spirit of age's
//! CCTV suite).
//!
//! Each file is a list of `name: value` lines; byte strings are hex. A store case (no `kind:`
//! line) has `expect:` one of `success`, `open failure: <OpenError variant>`,
//! `read failure: <ReadError variant>` (`NotFound` too), `list failure:` or `write failure:`;
//! `anchor: <name> <hex>` lines (or `anchor: none`) are the values of an anchor the case is
//! opened with (docs/FORMAT.md, "Test vectors"), checked here with a map anchor. Every read and
//! list case is checked after a read-only and after a writable open, which must agree; a
//! `kind: seed-derivation` case pins `RawKey::derive_from_seed` (`seed:` and
//! `raw_key:`, hex or `none`); a `kind: padme` case pins `padme`.
//! The store cases (`v2_*.txt`) are written by the independent Python implementation of
//! docs/FORMAT.md (`tests/independent/check_vectors_v2.py --generate`, compared byte for byte
//! in CI); the checker below reads every file on its own and must pass forever. The seed
//! derivation cases are regenerated here and must be byte-identical
//! (`EKV_WRITE_VECTORS=1 cargo test --test vectors` writes them; `EKV_WRITE_VECTORS=<directory>`
//! writes them there instead). Another test opens the stores written by the Python
//! implementation (`tests/independent/written/`, or the directory in `EKV_INDEPENDENT_WRITTEN`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use super::v::{ldk, V};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use blake2::digest::consts::U32;
use encrypted_kvstore::{
    Credential, EncryptedStore, FreshnessAnchor, InvalidName, KdfParams, ListError, MemoryStore,
    OpenError, OpenOptions, RawKey, ReadError, WriteError, HEADER_KEY, HEADER_SECONDARY_NAMESPACE,
    RESERVED_PRIMARY_NAMESPACE,
};
use ldk::util::persist::KVStoreSync;

fn dir() -> PathBuf {
    crate::common::repository().join("tests/vectors")
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
enum StoredCred {
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
        OpenError::HeaderAuthenticationFailed => "HeaderAuthenticationFailed",
        OpenError::HeaderChanged => "HeaderChanged",
        OpenError::AnchorRequired => "AnchorRequired",
        OpenError::AnchorEmpty => "AnchorEmpty",
        OpenError::AnchorNotAttached => "AnchorNotAttached",
        OpenError::AnchorCorrupt { .. } => "AnchorCorrupt",
        OpenError::AnchorIo(_) => "AnchorIo",
        OpenError::HeaderRolledBack { .. } => "HeaderRolledBack",
        OpenError::CounterExhausted => "CounterExhausted",
        _ => "unknown",
    }
}

/// Every line a store case may have (docs/FORMAT.md, parts 1 and 3): a file with any other
/// line is not understood, and fails rather than being checked in part.
const STORE_FIELDS: [&str; 14] = [
    "description",
    "expect",
    "credential",
    "primary",
    "secondary",
    "key",
    "stored_primary",
    "stored_secondary",
    "stored_key",
    "header",
    "record",
    "anchor",
    "version",
    "plaintext",
];

fn check_vector(path: &Path) {
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    let mut f = BTreeMap::new();
    // `anchor:` lines (version 2) repeat: the values the case's anchor holds.
    let mut anchor_lines = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{name}: bad line {line:?}"));
        if k.trim() == "anchor" {
            anchor_lines.push(v.trim().to_string());
            continue;
        }
        let old = f.insert(k.trim().to_string(), v.trim().to_string());
        assert!(old.is_none(), "{name}: repeated field {k}");
    }
    let get = |k: &str| {
        f.get(k)
            .unwrap_or_else(|| panic!("{name}: missing field {k}"))
            .clone()
    };
    match f.get("kind").map(String::as_str) {
        None => {}
        Some("seed-derivation") => {
            return check_seed_derivation(&name, &get("seed"), &get("raw_key"))
        }
        Some("padme") => return check_padme(&name, &f),
        Some(other) => panic!("{name}: unknown kind {other:?}"),
    }
    for k in f.keys() {
        assert!(
            STORE_FIELDS.contains(&k.as_str()),
            "{name}: unknown line {k:?}"
        );
    }
    // The line is trimmed: an empty passphrase is `credential: passphrase` alone.
    let credential = get("credential");
    let cred = match credential.split_once(' ').unwrap_or((&credential, "")) {
        ("passphrase", h) => StoredCred::Passphrase(unhex(h)),
        ("key", h) => StoredCred::Key(RawKey::from_slice(&unhex(h)).unwrap()),
        other => panic!("{name}: bad credential {other:?}"),
    };
    let (p, s, k) = (get("primary"), get("secondary"), get("key"));
    // Version 2 with encrypted names: where the record is in the inner store.
    let stored = |field: &str, plain: &String| f.get(field).unwrap_or(plain).clone();
    let (sp, ss, sk) = (
        stored("stored_primary", &p),
        stored("stored_secondary", &s),
        stored("stored_key", &k),
    );
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
        inner.write(&sp, &ss, &sk, unhex(&record)).unwrap();
    }
    let expect = get("expect");
    let anchor = (!anchor_lines.is_empty()).then(|| CaseAnchor::new(&name, &header, &anchor_lines));
    let map = anchor.as_ref().map(|a| &a.map);
    if !expect.starts_with("write failure") {
        // A read-only open (S = 2^64 - 1) writes nothing, and gives the same outcome as the
        // writable one below (S = the reservation's start).
        let before = (snapshot(&inner), map.map(MapAnchor::snapshot));
        let opened = open_store(&inner, &cred, map, true);
        if let Some(store) = expect_open(&name, &expect, opened) {
            if let Some(("list failure", want)) = expect.split_once(": ") {
                check_list_failure(&name, &store, want, &f);
            } else {
                let read = store.read(&p, &s, &k);
                check_read(&name, &expect, [&p, &s, &k], &record, &f, read);
            }
        }
        assert!(
            (snapshot(&inner), map.map(MapAnchor::snapshot)) == before,
            "{name}: a read-only open, read or list wrote"
        );
    }
    let anchor_before = map.map(MapAnchor::snapshot);
    let opened = open_store(&inner, &cred, map, false);
    let Some(store) = expect_open(&name, &expect, opened) else {
        assert!(
            map.map(MapAnchor::snapshot) == anchor_before,
            "{name}: a refused open wrote to the anchor"
        );
        return;
    };
    check_reservation(&name, &inner, &header, anchor.as_ref());
    if let Some(a) = &anchor {
        a.check_after_open(&name);
    }
    match expect.split_once(": ") {
        Some(("list failure", want)) => return check_list_failure(&name, &store, want, &f),
        Some(("write failure", want)) => {
            let e = store
                .write(&p, &s, &k, unhex(&get("plaintext")))
                .expect_err(&name);
            let typed = e
                .get_ref()
                .and_then(|e| e.downcast_ref::<WriteError>())
                .unwrap_or_else(|| panic!("{name}: untyped error {e}"));
            let got = match typed {
                WriteError::InvalidName(invalid) => {
                    assert_eq!(e.kind(), ldk::io::ErrorKind::InvalidInput, "{name}");
                    invalid_name_variant(invalid)
                }
                other => panic!("{name}: expected {want}, got {other:?}"),
            };
            assert_eq!(got, want, "{name}");
            assert_eq!(inner.len(), 1, "{name}: a refused write wrote");
            return;
        }
        _ => {}
    }
    let read = store.read(&p, &s, &k);
    let success = check_read(&name, &expect, [&p, &s, &k], &record, &f, read);
    if success {
        if let Some(version) = f.get("version") {
            check_version(
                &name,
                &store,
                &inner,
                [&p, &s, &k],
                [&sp, &ss, &sk],
                &record,
                version,
            );
            if let Some(a) = &anchor {
                a.check_entry_after_write(
                    &name,
                    &cred,
                    &inner,
                    [&p, &s, &k],
                    [&sp, &ss, &sk],
                    &header,
                    &record,
                );
            }
            return;
        }
        assert!(
            anchor.is_none(),
            "{name}: an anchored success without version"
        );
    }
    // Nothing a read or a failed open does may write to the inner store.
    assert_eq!(
        inner.len(),
        usize::from(header != "none") + usize::from(record != "none")
    );
}

/// How a case names an `InvalidName` (docs/FORMAT.md, "Test vectors"): `TooLongToEncrypt`
/// (a name too long for encrypted names), `InvalidName` for the rest (LDK's rules, the
/// reserved namespace).
fn invalid_name_variant(e: &InvalidName) -> &'static str {
    match e {
        InvalidName::TooLongToEncrypt { .. } => "TooLongToEncrypt",
        _ => "InvalidName",
    }
}

/// `open failure: <variant>`: `None` when the open failed as expected; the store otherwise.
fn expect_open(
    name: &str,
    expect: &str,
    opened: Result<EncryptedStore<MemoryStore>, OpenError>,
) -> Option<EncryptedStore<MemoryStore>> {
    match (expect.split_once(": "), opened) {
        (Some(("open failure", want)), Err(e)) => {
            assert_eq!(open_error_name(&e), want, "{name}: wrong open error: {e}");
            None
        }
        (Some(("open failure", want)), Ok(_)) => panic!("{name}: opened, expected {want}"),
        (_, Err(e)) => panic!("{name}: open failed: {e:?}"),
        (_, Ok(store)) => Some(store),
    }
}

/// Opens with the library's `OpenOptions`: with the case's anchor, read-only or writable.
fn open_store(
    inner: &MemoryStore,
    cred: &StoredCred,
    anchor: Option<&MapAnchor>,
    read_only: bool,
) -> Result<EncryptedStore<MemoryStore>, OpenError> {
    let mut o = OpenOptions::new();
    if let Some(a) = anchor {
        o = o.anchor(a.clone());
    }
    if read_only {
        o = o.read_only();
    }
    match cred {
        StoredCred::Passphrase(pw) => o.open::<V, _>(inner.clone(), Credential::passphrase(pw)),
        StoredCred::Key(key) => o.open::<V, _>(inner.clone(), Credential::raw_key(key)),
    }
}

/// The version in a record as FORMAT lays it out (bytes 5..13 after format byte 2).
fn record_version(name: &str, record: &str) -> u64 {
    let rec = unhex(record);
    match rec.first() {
        Some(2) => u64::from_le_bytes(rec[5..13].try_into().unwrap()),
        other => panic!("{name}: a record with format byte {other:?}"),
    }
}

/// The outcome of the case's read against `expect`: `success` (the plaintext), or
/// `read failure: <variant>` (the typed `ReadError` naming the plaintext names, its `found`
/// the record's version; `NotFound`: the inner store's `NotFound`, untyped). Returns whether
/// the read succeeded.
fn check_read(
    name: &str,
    expect: &str,
    [p, s, k]: [&str; 3],
    record: &str,
    f: &BTreeMap<String, String>,
    read: Result<Vec<u8>, ldk::io::Error>,
) -> bool {
    let want = match (expect, expect.split_once(": "), read) {
        ("success", _, Ok(v)) => {
            assert_eq!(hex(&v), f["plaintext"], "{name}: plaintext");
            return true;
        }
        ("success", _, Err(e)) => panic!("{name}: read failed: {e}"),
        (_, Some(("read failure", want @ ("InvalidName" | "TooLongToEncrypt"))), Err(e)) => {
            // Step 1 of "Reading a record": refused before anything is read.
            assert_eq!(e.kind(), ldk::io::ErrorKind::InvalidInput, "{name}: {e}");
            match e.get_ref().and_then(|e| e.downcast_ref::<ReadError>()) {
                Some(ReadError::InvalidName(invalid)) => {
                    assert_eq!(invalid_name_variant(invalid), want, "{name}: {invalid:?}")
                }
                other => panic!("{name}: expected {want}, got {other:?}"),
            }
            return false;
        }
        (_, Some(("read failure", "NotFound")), Err(e)) => {
            assert_eq!(e.kind(), ldk::io::ErrorKind::NotFound, "{name}: {e}");
            assert!(
                e.get_ref()
                    .and_then(|e| e.downcast_ref::<ReadError>())
                    .is_none(),
                "{name}: a typed error for NotFound: {e}"
            );
            return false;
        }
        (_, Some(("read failure", want)), Err(e)) => {
            // Removed (a record of an absent key) is `NotFound` at the trait edge, typed; the
            // others are `InvalidData`.
            let kind = if want == "Removed" {
                ldk::io::ErrorKind::NotFound
            } else {
                ldk::io::ErrorKind::InvalidData
            };
            assert_eq!(e.kind(), kind, "{name}: {e}");
            let typed = e
                .get_ref()
                .and_then(|e| e.downcast_ref::<ReadError>())
                .unwrap_or_else(|| panic!("{name}: untyped error {e}"))
                .clone();
            (want.to_string(), typed)
        }
        (_, _, r) => panic!("{name}: expected {expect}, got {r:?}"),
    };
    let names = |pn: &str, sn: &str, kn: &str| {
        assert_eq!([pn, sn, kn], [p, s, k], "{name}: names in the error");
    };
    match (want.0.as_str(), &want.1) {
        (
            "AuthenticationFailed",
            ReadError::AuthenticationFailed {
                primary_namespace,
                secondary_namespace,
                key,
            },
        )
        | (
            "Missing",
            ReadError::Missing {
                primary_namespace,
                secondary_namespace,
                key,
                ..
            },
        ) => names(primary_namespace, secondary_namespace, key),
        (
            "Rollback",
            ReadError::Rollback {
                primary_namespace,
                secondary_namespace,
                key,
                found,
                ..
            },
        )
        | (
            "Removed",
            ReadError::Removed {
                primary_namespace,
                secondary_namespace,
                key,
                found,
                ..
            },
        ) => {
            names(primary_namespace, secondary_namespace, key);
            assert_eq!(*found, record_version(name, record), "{name}: found");
        }
        (want, got) => panic!("{name}: expected {want}, got {got:?}"),
    }
    false
}

/// A [`FreshnessAnchor`] over a map of (store, name) to value; clones share it, so the checker
/// puts a case's values in and sees what the library wrote.
#[derive(Clone, Default)]
struct MapAnchor(Arc<Mutex<AnchorValues>>);

/// (store, name) to value.
type AnchorValues = BTreeMap<(String, String), Vec<u8>>;

impl MapAnchor {
    fn snapshot(&self) -> AnchorValues {
        self.0.lock().unwrap().clone()
    }
}

impl FreshnessAnchor for MapAnchor {
    fn read(&self, store: &str, name: &str) -> Result<Option<Vec<u8>>, ldk::io::Error> {
        let map = self.0.lock().unwrap();
        Ok(map.get(&(store.to_string(), name.to_string())).cloned())
    }
    fn write(&self, store: &str, name: &str, value: &[u8]) -> Result<(), ldk::io::Error> {
        let mut map = self.0.lock().unwrap();
        map.insert((store.to_string(), name.to_string()), value.to_vec());
        Ok(())
    }
    fn remove(&self, store: &str, name: &str) -> Result<(), ldk::io::Error> {
        self.0
            .lock()
            .unwrap()
            .remove(&(store.to_string(), name.to_string()));
        Ok(())
    }
    fn list(&self, store: &str) -> Result<Vec<String>, ldk::io::Error> {
        let map = self.0.lock().unwrap();
        Ok(map
            .keys()
            .filter(|(st, _)| st == store)
            .map(|(_, n)| n.clone())
            .collect())
    }
}

/// The anchor of a case with `anchor:` lines (`anchor: none`: an anchor holding nothing),
/// filled with its values under the header's store id (bytes 56..72) in hex.
struct CaseAnchor {
    map: MapAnchor,
    store: String,
    values: BTreeMap<String, Vec<u8>>,
}

impl CaseAnchor {
    fn new(name: &str, header: &str, lines: &[String]) -> Self {
        let header = unhex(header);
        assert!(header.len() >= 72, "{name}: anchor lines need a v2 header");
        let store = hex(&header[56..72]);
        let mut values = BTreeMap::new();
        if lines != ["none"] {
            for line in lines {
                let (n, v) = line
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("{name}: bad anchor line {line:?}"));
                assert!(n != "none", "{name}: anchor: none with other values");
                let old = values.insert(n.to_string(), unhex(v));
                assert!(old.is_none(), "{name}: anchor value {n} twice");
            }
        }
        let map = MapAnchor::default();
        for (n, v) in &values {
            map.write(&store, n, v).unwrap();
        }
        CaseAnchor { map, store, values }
    }

    /// "Opening with an anchor", step 4: a writable open rewrites `meta` (new `header_seq` and
    /// `version_limit`, a fresh nonce) in place, and adds or removes no other value.
    fn check_after_open(&self, name: &str) {
        let now = self.own_values();
        assert_eq!(
            now.keys().collect::<Vec<_>>(),
            self.values.keys().collect::<Vec<_>>(),
            "{name}: the anchor's names after a writable open"
        );
        assert_ne!(
            now.get("meta"),
            self.values.get("meta"),
            "{name}: meta not rewritten by the writable open"
        );
    }

    /// This store's values in the anchor now, by name.
    fn own_values(&self) -> BTreeMap<String, Vec<u8>> {
        self.map
            .snapshot()
            .into_iter()
            .filter(|((st, _), _)| *st == self.store)
            .map(|((_, n), v)| (n, v))
            .collect()
    }

    /// After the write of `check_version` (a success case: the key has an entry of the meta's
    /// epoch): the entry was rewritten under its own name (no value added or removed), and
    /// it and `meta` now hold what the library wrote, seen through the library itself: with
    /// the case's record put back the read is `Rollback` (found the case's version, expected
    /// the write's), and with the case's header put back the open is `HeaderRolledBack`.
    #[allow(clippy::too_many_arguments)]
    fn check_entry_after_write(
        &self,
        name: &str,
        cred: &StoredCred,
        inner: &MemoryStore,
        [p, s, k]: [&str; 3],
        [sp, ss, sk]: [&str; 3],
        header: &str,
        record: &str,
    ) {
        assert_eq!(
            self.own_values().keys().collect::<Vec<_>>(),
            self.values.keys().collect::<Vec<_>>(),
            "{name}: the anchor's names after a write of a key with an entry"
        );
        let written = record_version(name, &hex(&inner.read(sp, ss, sk).unwrap()));
        let read = record_version(name, record);

        let rolled_back = copy_store(inner);
        rolled_back.write(sp, ss, sk, unhex(record)).unwrap();
        let anchor = MapAnchor(Arc::new(Mutex::new(self.map.snapshot())));
        let store = open_store(&rolled_back, cred, Some(&anchor), true)
            .unwrap_or_else(|e| panic!("{name}: reopen after the write: {e:?}"));
        let e = store.read(p, s, k).expect_err(name);
        match e.get_ref().and_then(|e| e.downcast_ref::<ReadError>()) {
            Some(ReadError::Rollback {
                found,
                expected_at_least,
                ..
            }) => assert_eq!(
                (*found, *expected_at_least),
                (read, written),
                "{name}: the entry after the write"
            ),
            other => panic!("{name}: the case's record put back after the write: {other:?}"),
        }

        let old_header = copy_store(inner);
        old_header
            .write(
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
                unhex(header),
            )
            .unwrap();
        let now = header_u64(
            &inner
                .read(
                    RESERVED_PRIMARY_NAMESPACE,
                    HEADER_SECONDARY_NAMESPACE,
                    HEADER_KEY,
                )
                .unwrap(),
            148,
        );
        let anchor = MapAnchor(Arc::new(Mutex::new(self.map.snapshot())));
        match open_store(&old_header, cred, Some(&anchor), true) {
            Err(OpenError::HeaderRolledBack {
                header_seq,
                anchor_header_seq,
            }) => assert_eq!(
                (header_seq, anchor_header_seq),
                (header_u64(&unhex(header), 148), now),
                "{name}: HeaderRolledBack"
            ),
            other => panic!(
                "{name}: the case's header put back after a writable open: {:?}",
                other.err()
            ),
        }
    }
}

/// Every value of a memory store, by (primary, secondary, key).
fn snapshot(inner: &MemoryStore) -> BTreeMap<(String, String, String), Vec<u8>> {
    super::v::MigratableKVStoreSync::list_all_keys(inner)
        .unwrap()
        .into_iter()
        .map(|(p, s, k)| {
            let v = inner.read(&p, &s, &k).unwrap();
            ((p, s, k), v)
        })
        .collect()
}

/// A new memory store holding the same values.
fn copy_store(inner: &MemoryStore) -> MemoryStore {
    let copy = MemoryStore::new();
    for ((p, s, k), v) in snapshot(inner) {
        copy.write(&p, &s, &k, v).unwrap();
    }
    copy
}

fn header_u64(h: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(h[at..at + 8].try_into().unwrap())
}

/// The one reservation of a writable open ("Versions"): the header rewritten with
/// `header_seq + 1` and `version_limit = start + 2^32`, where `start` is the case header's
/// `version_limit` (without an anchor) or at least it (with one: the larger of it and the
/// meta's); the credential block, options, keyring and current key unchanged.
fn check_reservation(name: &str, inner: &MemoryStore, header: &str, anchor: Option<&CaseAnchor>) {
    let old = unhex(header);
    let new = inner
        .read(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        )
        .unwrap();
    assert_eq!(new.len(), old.len(), "{name}: header length after the open");
    let n = usize::from(old[145]);
    assert_eq!(
        new[..148],
        old[..148],
        "{name}: credential block or options"
    );
    assert_eq!(
        new[164..168 + 4 * n],
        old[164..168 + 4 * n],
        "{name}: keyring"
    );
    assert_eq!(
        header_u64(&new, 148),
        header_u64(&old, 148) + 1,
        "{name}: header_seq after the open"
    );
    let start = header_u64(&new, 156) - (1 << 32);
    let limit = header_u64(&old, 156);
    if anchor.is_some() {
        assert!(
            start >= limit,
            "{name}: reserved from {start}, below {limit}"
        );
    } else {
        assert_eq!(start, limit, "{name}: reserved from {start}");
    }
}

/// `version:` of a success case: the record holds it (bytes 5..13), and the library took it
/// in, since a write after the read gets a larger version.
#[allow(clippy::too_many_arguments)]
fn check_version(
    name: &str,
    store: &EncryptedStore<MemoryStore>,
    inner: &MemoryStore,
    [p, s, k]: [&str; 3],
    [sp, ss, sk]: [&str; 3],
    record: &str,
    version: &str,
) {
    let version: u64 = version.parse().expect("version");
    assert_eq!(
        record_version(name, record),
        version,
        "{name}: version line"
    );
    store.write(p, s, k, b"x".to_vec()).unwrap();
    let rewritten = inner.read(sp, ss, sk).unwrap();
    assert_eq!(rewritten[0], 2, "{name}: new records are format 2");
    let new = u64::from_le_bytes(rewritten[5..13].try_into().unwrap());
    // The first version of the session: the reservation's start.
    let limit = header_u64(
        &inner
            .read(
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
            )
            .unwrap(),
        156,
    );
    assert_eq!(new, limit - (1 << 32), "{name}: the first write's version");
    assert!(
        new > version,
        "{name}: wrote version {new} after reading {version}"
    );
    assert_eq!(store.read(p, s, k).unwrap(), b"x", "{name}");
}

/// `list failure: <ListError variant>`: listing the pair fails, naming the stored names found
/// (`UndecodableName`) or the plaintext names of the key missing (`Missing`).
fn check_list_failure(
    name: &str,
    store: &EncryptedStore<MemoryStore>,
    want: &str,
    f: &BTreeMap<String, String>,
) {
    let e = store.list(&f["primary"], &f["secondary"]).expect_err(name);
    assert_eq!(e.kind(), ldk::io::ErrorKind::InvalidData, "{name}");
    let typed = e
        .get_ref()
        .and_then(|e| e.downcast_ref::<ListError>())
        .unwrap_or_else(|| panic!("{name}: untyped error {e}"));
    match (want, typed) {
        (
            "UndecodableName",
            ListError::UndecodableName {
                stored_primary_namespace,
                stored_secondary_namespace,
                stored_key,
            },
        ) => {
            assert_eq!(stored_primary_namespace, &f["stored_primary"], "{name}");
            assert_eq!(stored_secondary_namespace, &f["stored_secondary"], "{name}");
            assert_eq!(stored_key, &f["stored_key"], "{name}");
        }
        // A key of M the listing lacks: the `key:` line is the one named (the smallest).
        (
            "Missing",
            ListError::Missing {
                primary_namespace,
                secondary_namespace,
                key,
                ..
            },
        ) => assert_eq!(
            [primary_namespace, secondary_namespace, key],
            [&f["primary"], &f["secondary"], &f["key"]],
            "{name}: the missing key"
        ),
        _ => panic!("{name}: expected {want}, got {typed:?}"),
    }
}

/// `kind: padme`: every `x: padme(x)` line, against the library's bucket function and, for
/// the smaller sizes, against the size of what a padded store actually writes.
fn check_padme(name: &str, f: &BTreeMap<String, String>) {
    let inner = MemoryStore::new();
    let store = OpenOptions::new()
        .pad_values()
        .create::<V, _>(
            inner.clone(),
            Credential::raw_key(&RawKey::from_bytes([7; 32])),
        )
        .unwrap();
    let mut lines = 0;
    for (k, v) in f {
        let Ok(x) = k.parse::<u64>() else { continue };
        let want: u64 = v.parse().expect("padme value");
        assert_eq!(
            encrypted_kvstore::padme(x),
            Some(want),
            "{name}: padme({x})"
        );
        if (8..=70_000).contains(&x) {
            let value = vec![0x5a; usize::try_from(x - 8).unwrap()];
            store.write("p", "", "k", value.clone()).unwrap();
            let stored = inner.read("p", "", "k").unwrap().len() as u64;
            assert_eq!(
                stored,
                53 + want,
                "{name}: stored size for a value of {} bytes",
                x - 8
            );
            assert_eq!(store.read("p", "", "k").unwrap(), value, "{name}");
        }
        lines += 1;
    }
    assert!(lines >= 300, "{name}: only {lines} lines");
}

/// `RawKey` does not reveal its bytes, so the known answer is checked by use: a store created
/// with the derived key must open with the expected key, and not with that key one bit off.
fn check_seed_derivation(name: &str, seed: &str, raw_key: &str) {
    let derived = RawKey::derive_from_seed(&unhex(seed));
    if raw_key == "none" {
        assert!(
            derived.is_none(),
            "{name}: derived a key from a refused seed"
        );
        return;
    }
    let derived = derived.unwrap_or_else(|| panic!("{name}: seed refused"));
    let mut expected = unhex(raw_key);
    let inner = MemoryStore::new();
    EncryptedStore::create::<V>(inner.clone(), Credential::raw_key(&derived)).unwrap();
    let opened = EncryptedStore::open::<V>(
        inner.clone(),
        Credential::raw_key(&RawKey::from_slice(&expected).unwrap()),
    );
    assert!(
        opened.is_ok(),
        "{name}: derived key differs from the known answer"
    );
    expected[31] ^= 1;
    let other = EncryptedStore::open::<V>(
        inner,
        Credential::raw_key(&RawKey::from_slice(&expected).unwrap()),
    );
    assert!(
        matches!(other, Err(OpenError::WrongKey)),
        "{name}: a key one bit off opened the store"
    );
}

fn vector_files() -> Vec<PathBuf> {
    vector_files_in(&dir())
}

fn vector_files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
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

/// The anchor vectors (`v2_anchor_*.txt`, written by the independent implementation) cover
/// every outcome of "Opening with an anchor" and of the freshness checks of a read, and each
/// of them is opened with an anchor or is the case of an anchored store opened without one.
/// Step 8 of "Reading a record" is covered both ways: a record that does not open at a key
/// not in M is the inner `NotFound`, at a key in M `AuthenticationFailed`.
#[test]
fn anchor_vectors_cover_every_anchored_outcome() {
    let mut seen = std::collections::BTreeSet::new();
    let mut unopenable_absent = 0;
    for path in vector_files() {
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if !file.starts_with("v2_anchor_") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("expect: "))
            .unwrap_or_else(|| panic!("{file}: no expect line"))
            .to_string();
        let anchored = text.lines().any(|l| l.starts_with("anchor: "));
        assert!(
            anchored || expect == "open failure: AnchorRequired",
            "{file}: no anchor lines"
        );
        let record = text
            .lines()
            .find_map(|l| l.strip_prefix("record: "))
            .unwrap_or_else(|| panic!("{file}: no record line"));
        // A record found and judged absent after it opened is `Removed`; the inner `NotFound`
        // with a record present is one that did not open (steps 4 to 9) at an absent key.
        if expect == "read failure: NotFound" && record != "none" {
            unopenable_absent += 1;
        }
        seen.insert(expect);
    }
    assert!(
        unopenable_absent >= 8,
        "only {unopenable_absent} anchor vectors read a record that does not open at an absent key"
    );
    for want in [
        "success",
        "open failure: AnchorRequired",
        "open failure: AnchorEmpty",
        "open failure: AnchorCorrupt",
        "open failure: HeaderRolledBack",
        "open failure: AnchorNotAttached",
        "read failure: Rollback",
        "read failure: Missing",
        "read failure: Removed",
        "read failure: NotFound",
        "read failure: AuthenticationFailed",
    ] {
        assert!(seen.contains(want), "no anchor vector expects {want}");
    }
}

/// The library opens what the independent implementation (`tests/independent/check_vectors.py
/// --write DIR`) wrote with its own randomness: committed files, or a fresh set in
/// `EKV_INDEPENDENT_WRITTEN` (CI).
#[test]
fn stores_written_by_the_independent_implementation_open() {
    let dir = std::env::var_os("EKV_INDEPENDENT_WRITTEN").map_or_else(
        || crate::common::repository().join("tests/independent/written"),
        PathBuf::from,
    );
    let files = vector_files_in(&dir);
    assert!(
        files.len() >= 4,
        "only {} files in {}",
        files.len(),
        dir.display()
    );
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.lines().any(|l| l == "expect: success"),
            "{}: a written store must be expected to open",
            f.display()
        );
        check_vector(f);
    }
}

// ---------------------------------------------------------------------------------------------
// Generator of the seed derivation cases: deterministic, so regenerating must reproduce the
// pinned files byte for byte.

fn cheap() -> KdfParams {
    KdfParams::insecure_for_tests_only(64, 1, 1).unwrap()
}

/// `RawKey::derive_from_seed` known answers, computed here with the `blake2` crate's keyed
/// BLAKE2b-256 as docs/FORMAT.md states it (the library's own code is what the checker tests).
fn generate_seed_derivations() -> Vec<(&'static str, String)> {
    use blake2::digest::{KeyInit, Mac};
    let seed = |n: usize| (0..n).map(|i| (i * 7 + 3) as u8).collect::<Vec<u8>>();
    [
        (
            "seed_derivation_15_bytes.txt",
            "A 15-byte seed is refused",
            15,
        ),
        (
            "seed_derivation_16_bytes.txt",
            "The shortest seed accepted, 16 bytes",
            16,
        ),
        (
            "seed_derivation_32_bytes.txt",
            "A 32-byte seed, as LDK's KeysManager takes",
            32,
        ),
        (
            "seed_derivation_64_bytes.txt",
            "The longest seed accepted, 64 bytes",
            64,
        ),
        (
            "seed_derivation_65_bytes.txt",
            "A 65-byte seed is refused",
            65,
        ),
    ]
    .into_iter()
    .map(|(file, description, n)| {
        let raw_key = if (16..=64).contains(&n) {
            let mut mac = blake2::Blake2bMac::<U32>::new_from_slice(&seed(n)).unwrap();
            mac.update(b"encrypted-kvstore v1 storage key from node seed");
            hex(&mac.finalize().into_bytes())
        } else {
            "none".to_string()
        };
        let text = format!(
            "description: {description}\nkind: seed-derivation\nseed: {}\nraw_key: {raw_key}\n",
            hex(&seed(n))
        );
        (file, text)
    })
    .collect()
}

#[test]
fn generator_reproduces_pinned_vectors() {
    let cases = generate_seed_derivations();
    let write_to =
        std::env::var_os("EKV_WRITE_VECTORS").map(
            |v| {
                if v == "1" {
                    dir()
                } else {
                    PathBuf::from(v)
                }
            },
        );
    let mut names: Vec<&str> = cases.iter().map(|c| c.0).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "duplicate vector file names");
    for (file, text) in &cases {
        if let Some(out) = &write_to {
            std::fs::create_dir_all(out).unwrap();
            std::fs::write(out.join(file), text).unwrap();
        } else {
            let pinned = std::fs::read_to_string(dir().join(file))
                .unwrap_or_else(|_| panic!("{file} is not pinned"));
            assert_eq!(
                &pinned, text,
                "{file}: the seed derivation no longer gives the pinned key",
            );
        }
    }
    // The `v2_*` files are written by the independent implementation
    // (`tests/independent/check_vectors_v2.py --generate`, checked byte for byte in CI).
    let here = vector_files()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with("v2_"))
        })
        .count();
    assert_eq!(here, cases.len(), "a vector file has no generator case");
}

/// Stores written by this library with fresh OS randomness (every option, both
/// credentials, with and without an anchor, whose values become `anchor:` lines), in the
/// vector file format with `expect: success`, for the independent Python implementation to
/// open: `EKV_WRITE_V2_STORES=<directory>` (CI) writes them there. Without the variable the
/// same stores are made and checked by this suite's own checker.
#[test]
fn library_written_v2_stores_open_in_a_second_implementation() {
    let out = std::env::var_os("EKV_WRITE_V2_STORES").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = out.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let modes: [(&str, OpenOptions); 4] = [
        ("plain", OpenOptions::new()),
        ("names", OpenOptions::new().encrypt_names()),
        ("padding", OpenOptions::new().pad_values()),
        (
            "names_padding",
            OpenOptions::new().encrypt_names().pad_values(),
        ),
    ];
    let passphrase = b"library written passphrase".to_vec();
    let key = [0x5au8; 32];
    let mut n = 0;
    for (mode, opts) in modes {
        for (by_key, anchored) in [(false, false), (true, false), (false, true), (true, true)] {
            let inner = MemoryStore::new();
            let map = MapAnchor::default();
            let opts = if anchored {
                opts.clone().anchor(map.clone())
            } else {
                opts.clone()
            };
            let store = if by_key {
                opts.create::<V, _>(inner.clone(), Credential::raw_key(&RawKey::from_bytes(key)))
            } else {
                opts.create::<V, _>(
                    inner.clone(),
                    Credential::passphrase_with(&passphrase, cheap()),
                )
            }
            .unwrap();
            let (p, s, k) = ("monitor_updates", "8d2c9f0e_1", "42");
            let value = format!("written by the library, {mode}").into_bytes();
            store.write(p, s, k, value.clone()).unwrap();
            let all = super::v::MigratableKVStoreSync::list_all_keys(&inner).unwrap();
            let (sp, ss, sk) = all
                .into_iter()
                .find(|(sp, _, _)| sp != RESERVED_PRIMARY_NAMESPACE)
                .unwrap();
            let record = inner.read(&sp, &ss, &sk).unwrap();
            let header = inner
                .read(
                    RESERVED_PRIMARY_NAMESPACE,
                    HEADER_SECONDARY_NAMESPACE,
                    HEADER_KEY,
                )
                .unwrap();
            let version = u64::from_le_bytes(record[5..13].try_into().unwrap());
            let credential = if by_key {
                format!("key {}", hex(&key))
            } else {
                format!("passphrase {}", hex(&passphrase))
            };
            let file = dir.join(format!(
                "v2_library_{mode}_{}{}.txt",
                if by_key { "key" } else { "passphrase" },
                if anchored { "_anchored" } else { "" }
            ));
            let anchor_lines: String = map
                .snapshot()
                .into_iter()
                .map(|((_, n), v)| format!("anchor: {n} {}\n", hex(&v)))
                .collect();
            assert_eq!(
                anchor_lines.is_empty(),
                !anchored,
                "{mode}: anchor values written"
            );
            std::fs::write(
                &file,
                format!(
                    "description: A store ({mode}{}) written by the library\n\
                     expect: success\ncredential: {credential}\nprimary: {p}\nsecondary: {s}\n\
                     key: {k}\nstored_primary: {sp}\nstored_secondary: {ss}\nstored_key: {sk}\n\
                     header: {}\nrecord: {}\n{anchor_lines}version: {version}\nplaintext: {}\n",
                    if anchored { ", anchored" } else { "" },
                    hex(&header),
                    hex(&record),
                    hex(&value)
                ),
            )
            .unwrap();
            check_vector(&file);
            n += 1;
        }
    }
    assert_eq!(n, 16);
}
