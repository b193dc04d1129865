//! Known-answer test vectors for format v1 (one case per file under `tests/vectors/`, in the
//! spirit of age's CCTV suite).
//!
//! Each file is a list of `name: value` lines; byte strings are hex. A store case (no `kind:`
//! line) has `expect:` one of `success`, `open failure: <OpenError variant>` or
//! `read failure: <ReadError variant>` (version 2 also `list failure:`, `write failure:` and
//! `read failure: NotFound`); version 2 `anchor: <name> <hex>` lines (or `anchor: none`) are
//! the values of an anchor the case is opened with (docs/FORMAT.md, part 3), checked here with
//! a map anchor, read-only and writable; a `kind: seed-derivation` case pins
//! `RawKey::derive_from_seed` (`seed:` and `raw_key:`, hex or `none`).
//! The checker below reads the files on its own and must pass forever: pinned v1 blobs always
//! open. A second test regenerates every file with a deterministic random source and checks the
//! result is byte-identical, so the writer cannot drift from the pinned format either.
//! (`EKV_WRITE_VECTORS=1 cargo test --test vectors` writes the files; do that only when
//! introducing a new format version, never to make a changed v1 pass.
//! `EKV_WRITE_VECTORS=<directory>` writes them there instead, e.g. to check what a changed
//! writer produces with `tests/independent/check_vectors.py`.)
//! A third test opens the stores written by that independent Python implementation of
//! docs/FORMAT.md (`tests/independent/written/`, or the directory in `EKV_INDEPENDENT_WRITTEN`).

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
use blake2::{Blake2b, Digest};
use encrypted_kvstore::{
    EncryptedStore, FreshnessAnchor, InvalidName, KdfParams, ListError, MemoryStore, OpenError,
    OpenOptions, RawKey, ReadError, WriteError, HEADER_KEY, HEADER_SECONDARY_NAMESPACE,
    RESERVED_PRIMARY_NAMESPACE,
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
    let cred = match get("credential").split_once(' ') {
        Some(("passphrase", h)) => Credential::Passphrase(unhex(h)),
        Some(("key", h)) => Credential::Key(RawKey::from_slice(&unhex(h)).unwrap()),
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
    if let Some(a) = &anchor {
        // A read-only open writes nothing, and gives the same outcome as the writable one below.
        let before = (a.map.snapshot(), inner.len());
        let opened = open_store(&inner, &cred, Some(&a.map), true);
        if let Some(store) = expect_open(&name, &expect, opened) {
            let read = store.read(&p, &s, &k);
            check_read(&name, &expect, [&p, &s, &k], &record, &f, read);
        }
        assert!(
            (a.map.snapshot(), inner.len()) == before,
            "{name}: a read-only open or read wrote"
        );
    }
    let opened = match &anchor {
        Some(a) => open_store(&inner, &cred, Some(&a.map), false),
        None => match &cred {
            Credential::Passphrase(pw) => EncryptedStore::open::<V>(inner.clone(), pw),
            Credential::Key(key) => EncryptedStore::open_with_key::<V>(inner.clone(), key),
        },
    };
    let anchor_before = anchor.as_ref().map(|a| a.map.snapshot());
    let Some(store) = expect_open(&name, &expect, opened) else {
        if let Some(a) = &anchor {
            assert!(
                Some(a.map.snapshot()) == anchor_before,
                "{name}: a refused open wrote to the anchor"
            );
        }
        return;
    };
    if let Some(a) = &anchor {
        a.check_meta_after_open(&name, &inner);
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
                WriteError::InvalidName(InvalidName::TooLongToEncrypt { .. }) => {
                    assert_eq!(e.kind(), ldk::io::ErrorKind::InvalidInput, "{name}");
                    "TooLongToEncrypt"
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
                let read = record_version(&name, &record);
                a.check_entry_after_write(&name, &inner, [&sp, &ss, &sk], &header, read);
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
    cred: &Credential,
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
        Credential::Passphrase(pw) => o.open::<V, _>(inner.clone(), pw),
        Credential::Key(key) => o.open_with_key::<V, _>(inner.clone(), key),
    }
}

/// The version in a record as FORMAT lays it out (format byte 2: bytes 5..13; a legacy
/// version 1 record: 0).
fn record_version(name: &str, record: &str) -> u64 {
    let rec = unhex(record);
    match rec.first() {
        Some(1) => 0,
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
            assert_eq!(e.kind(), ldk::io::ErrorKind::InvalidData, "{name}: {e}");
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
            "Resurrected",
            ReadError::Resurrected {
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

    fn meta(&self, name: &str) -> Vec<u8> {
        self.values
            .get("meta")
            .unwrap_or_else(|| panic!("{name}: an anchored open without meta"))
            .clone()
    }

    /// "Opening with an anchor", step 4: a writable open reserves versions (one header write)
    /// and writes `meta` with the new `header_seq`, the rest of it unchanged.
    fn check_meta_after_open(&self, name: &str, inner: &MemoryStore) {
        let h = inner
            .read(
                RESERVED_PRIMARY_NAMESPACE,
                HEADER_SECONDARY_NAMESPACE,
                HEADER_KEY,
            )
            .unwrap();
        let mut want = self.meta(name);
        want[25..33].copy_from_slice(&h[148..156]);
        let got = self.map.read(&self.store, "meta").unwrap();
        assert_eq!(
            got.map(|m| hex(&m)),
            Some(hex(&want)),
            "{name}: meta after open"
        );
    }

    /// After the write of `check_version`: its version is the first the store could hand out
    /// ("Opening with an anchor", step 4: `next` = the largest of the header's
    /// `version_limit`, 1 + every op and 1 + every floor of the meta's epoch; the read raised it
    /// to 1 + the version read), and the anchor holds `Live` of it for the key in the meta's
    /// epoch, under the name the case gives that key's entry if it has one.
    fn check_entry_after_write(
        &self,
        name: &str,
        inner: &MemoryStore,
        [sp, ss, sk]: [&str; 3],
        header: &str,
        read_version: u64,
    ) {
        let rec = inner.read(sp, ss, sk).unwrap();
        let epoch = &self.meta(name)[33..41];
        let at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap());
        let mut next = at(&unhex(header), 156).max(read_version.saturating_add(1));
        for (n, v) in &self.values {
            if n.starts_with('k') && v.len() >= 25 && v[17..25] == *epoch {
                next = next.max(at(v, 9).saturating_add(1));
            } else if n.starts_with('p') && v.len() >= 17 && v[9..17] == *epoch {
                next = next.max(at(v, 1).saturating_add(1));
            }
        }
        assert_eq!(
            at(&rec, 5),
            next,
            "{name}: the version of the write after the read"
        );
        let mut names = Vec::new();
        for n in [sp, ss, sk] {
            names.push(u8::try_from(n.len()).unwrap());
            names.extend_from_slice(n.as_bytes());
        }
        let mut want = vec![1];
        want.extend_from_slice(&rec[5..13]);
        want.extend_from_slice(&rec[5..13]);
        want.extend_from_slice(epoch);
        want.extend_from_slice(&names);
        let holding: Vec<String> = self
            .map
            .snapshot()
            .into_iter()
            .filter(|((st, _), v)| *st == self.store && *v == want)
            .map(|((_, n), _)| n)
            .collect();
        assert_eq!(
            holding.len(),
            1,
            "{name}: Live entry after the write: {holding:?}"
        );
        let entry_name = &holding[0];
        assert!(
            entry_name.len() == 65
                && entry_name.starts_with('k')
                && entry_name[1..]
                    .bytes()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{name}: entry name {entry_name}"
        );
        for (n, v) in &self.values {
            if n.starts_with('k') && v.len() >= 25 && v[17..25] == *epoch && v[25..] == names {
                assert_eq!(n, entry_name, "{name}: the entry moved to another name");
            }
        }
    }
}

/// `version:` of a version 2 success case: the record holds it (format byte 2: bytes 5..13; a
/// legacy version 1 record: 0), and the library took it in, since a write after the read
/// gets a larger version.
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
    if version == u64::MAX {
        // Nothing can be written after it: the counter is exhausted.
        let e = store.write(p, s, k, b"x".to_vec()).expect_err(name);
        let typed = e.get_ref().and_then(|e| e.downcast_ref::<WriteError>());
        assert!(
            matches!(typed, Some(WriteError::Header(OpenError::CounterExhausted))),
            "{name}: {e:?}"
        );
        return;
    }
    store.write(p, s, k, b"x".to_vec()).unwrap();
    let rewritten = inner.read(sp, ss, sk).unwrap();
    assert_eq!(rewritten[0], 2, "{name}: new records are version 2");
    let new = u64::from_le_bytes(rewritten[5..13].try_into().unwrap());
    assert!(
        new > version,
        "{name}: wrote version {new} after reading {version}"
    );
    assert_eq!(store.read(p, s, k).unwrap(), b"x", "{name}");
}

/// `list failure: <ListError variant>`: listing the pair fails, naming the stored names found.
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
        _ => panic!("{name}: expected {want}, got {typed:?}"),
    }
}

/// `kind: padme`: every `x: padme(x)` line, against the library's bucket function and, for
/// the smaller sizes, against the size of what a padded store actually writes.
fn check_padme(name: &str, f: &BTreeMap<String, String>) {
    let inner = MemoryStore::new();
    let store = OpenOptions::new()
        .pad_values()
        .create_with_key::<V, _>(inner.clone(), &RawKey::from_bytes([7; 32]))
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
    EncryptedStore::create_with_key::<V>(inner.clone(), &derived).unwrap();
    let opened =
        EncryptedStore::open_with_key::<V>(inner.clone(), &RawKey::from_slice(&expected).unwrap());
    assert!(
        opened.is_ok(),
        "{name}: derived key differs from the known answer"
    );
    expected[31] ^= 1;
    let other = EncryptedStore::open_with_key::<V>(inner, &RawKey::from_slice(&expected).unwrap());
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
#[test]
fn anchor_vectors_cover_every_anchored_outcome() {
    let mut seen = std::collections::BTreeSet::new();
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
        seen.insert(expect);
    }
    for want in [
        "success",
        "open failure: AnchorRequired",
        "open failure: AnchorEmpty",
        "open failure: AnchorCorrupt",
        "open failure: HeaderRolledBack",
        "open failure: AnchorNotAttached",
        "read failure: Rollback",
        "read failure: Missing",
        "read failure: Resurrected",
        "read failure: NotFound",
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
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/independent/written"),
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
// Generator: deterministic, so regenerating must reproduce the pinned files byte for byte.

fn opts(seed: u64) -> OpenOptions {
    crate::common::seeded_options(seed).format_v1()
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
            "Version byte 2 in a 180-byte (version 1 sized) header: version 2 refuses a length below 276",
            "open failure: CorruptHeader",
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
    c.header = Some(h.clone());
    c.credential = key_cred.clone();
    cases.push(c);
    cases.push(mk(
        "v1_raw_key_header_with_kdf_params_given_passphrase.txt",
        "Raw-key header carrying KDF parameters, opened with a passphrase: step 7 comes before the credential check",
        "open failure: CorruptHeader",
        Some(h),
        None,
    ));

    // Every step of "Reading a header", its bounds, and their order.
    let set_kdf = |h: &mut Vec<u8>, m: u32, t: u32, p: u32| {
        h[12..16].copy_from_slice(&m.to_le_bytes());
        h[16..20].copy_from_slice(&t.to_le_bytes());
        h[20..24].copy_from_slice(&p.to_le_bytes());
    };
    let kdf = |m: u32, t: u32, p: u32| {
        hdr(&|h| {
            set_kdf(h, m, t, p);
            fix_checksum(h)
        })
    };
    let oob = "open failure: KdfParamsOutOfBounds";
    cases.extend([
        mk(
            "v1_header_7_bytes.txt",
            "Header of 7 bytes, a prefix of the magic",
            "open failure: CorruptHeader",
            hdr(&|h| h.truncate(7)),
            None,
        ),
        mk(
            "v1_header_version_missing.txt",
            "Header of exactly the 8-byte magic: version byte missing",
            "open failure: CorruptHeader",
            hdr(&|h| h.truncate(8)),
            None,
        ),
        mk(
            "v1_header_version_2_short.txt",
            "Magic and version 2 only: version 2 reads on, and its length check (276 to 592) refuses it",
            "open failure: CorruptHeader",
            Some(b"EKVSTORE\x02".to_vec()),
            None,
        ),
        mk(
            "v1_header_memory_huge_checksum_stale.txt",
            "Memory cost 0xffffffff KiB without recomputing the checksum: the checksum is checked before the bounds",
            "open failure: CorruptHeader",
            hdr(&|h| set_kdf(h, u32::MAX, 1, 1)),
            None,
        ),
        mk(
            "v1_header_reserved_nonzero_memory_huge.txt",
            "Reserved byte set and memory cost 0xffffffff KiB, checksum recomputed: reserved bytes are checked before the bounds",
            "open failure: CorruptHeader",
            hdr(&|h| {
                h[11] = 1;
                set_kdf(h, u32::MAX, 1, 1);
                fix_checksum(h)
            }),
            None,
        ),
        mk(
            "v1_header_iterations_zero.txt",
            "Argon2id m=64 t=0 p=1, checksum recomputed: t below 1",
            oob,
            kdf(64, 0, 1),
            None,
        ),
        mk(
            "v1_header_iterations_11.txt",
            "Argon2id m=64 t=11 p=1, checksum recomputed: t above 10",
            oob,
            kdf(64, 11, 1),
            None,
        ),
        mk(
            "v1_header_parallelism_17.txt",
            "Argon2id m=136 t=1 p=17, checksum recomputed: p above 16 (m = 8p)",
            oob,
            kdf(136, 1, 17),
            None,
        ),
        mk(
            "v1_header_memory_below_8p.txt",
            "Argon2id m=63 t=1 p=8, checksum recomputed: m below 8p",
            oob,
            kdf(63, 1, 8),
            None,
        ),
        mk(
            "v1_header_memory_1gib_plus_1.txt",
            "Argon2id m=1048577 t=1 p=1, checksum recomputed: m above 1 GiB",
            oob,
            kdf(1_048_577, 1, 1),
            None,
        ),
        mk(
            "v1_header_work_over_ceiling.txt",
            "Argon2id m=419431 t=10 p=1, checksum recomputed: m and t within bounds, m x t = 4194310 above 4194304",
            oob,
            kdf(419_431, 10, 1),
            None,
        ),
    ]);
    // Given a raw key, a passphrase header fails at step 7 if its costs are out of bounds and
    // at step 8 (PassphraseRequired) if they are within: this pins the order of the two
    // checks and shows headers at the costly ceilings accepted without running Argon2id.
    for (file, description, expect, header) in [
        (
            "v1_header_memory_huge_given_key.txt",
            "Memory cost 0xffffffff KiB, opened with a raw key: the bounds are checked before the credential",
            oob,
            kdf(u32::MAX, 1, 1),
        ),
        (
            "v1_header_kdf_at_every_ceiling_given_key.txt",
            "Argon2id m=1048576 t=4 p=16 (m, p and m x t at their ceilings), opened with a raw key: within bounds",
            "open failure: PassphraseRequired",
            kdf(1_048_576, 4, 16),
        ),
        (
            "v1_header_work_at_ceiling_given_key.txt",
            "Argon2id m=524288 t=8 p=1 (m x t = 4194304), opened with a raw key: within bounds",
            "open failure: PassphraseRequired",
            kdf(524_288, 8, 1),
        ),
    ] {
        let mut c = mk(file, description, expect, header, None);
        c.credential = key_cred.clone();
        cases.push(c);
    }
    // The cheap ceilings and floors open for real.
    for (file, description, seed, (m, t, par)) in [
        (
            "v1_kdf_min_memory_max_iterations_ok.txt",
            "Argon2id m=8 t=10 p=1 (m = 8p, t at its ceiling): opens and reads",
            7,
            (8, 10, 1),
        ),
        (
            "v1_kdf_max_parallelism_ok.txt",
            "Argon2id m=128 t=1 p=16 (p at its ceiling, m = 8p): opens and reads",
            8,
            (128, 1, 16),
        ),
    ] {
        let params = KdfParams::insecure_for_tests_only(m, t, par).unwrap();
        let sealed = seal(seed, &pw, params, p, s, k, &value);
        cases.push(mk(
            file,
            description,
            "success",
            Some(sealed.header),
            Some(sealed.record),
        ));
    }
    cases
}

/// `RawKey::derive_from_seed` known answers, computed here with the `blake2` crate's keyed
/// BLAKE2b-256 as docs/FORMAT.md states it (the library's own code is what the checker tests).
fn generate_seed_derivations() -> Vec<(&'static str, String)> {
    use blake2::digest::{KeyInit, Mac};
    let seed = |n: usize| (0..n).map(|i| (i * 7 + 3) as u8).collect::<Vec<u8>>();
    [
        (
            "v1_seed_derivation_15_bytes.txt",
            "A 15-byte seed is refused",
            15,
        ),
        (
            "v1_seed_derivation_16_bytes.txt",
            "The shortest seed accepted, 16 bytes",
            16,
        ),
        (
            "v1_seed_derivation_32_bytes.txt",
            "A 32-byte seed, as LDK's KeysManager takes",
            32,
        ),
        (
            "v1_seed_derivation_64_bytes.txt",
            "The longest seed accepted, 64 bytes",
            64,
        ),
        (
            "v1_seed_derivation_65_bytes.txt",
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
    let mut cases: Vec<(&str, String)> = generate().iter().map(|c| (c.file, c.render())).collect();
    cases.extend(generate_seed_derivations());
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
                "{file}: the code no longer writes the pinned v1 bytes; a format change needs a new version",
            );
        }
    }
    // Version 2's files are written by the independent implementation
    // (`tests/independent/check_vectors_v2.py --generate`, checked byte for byte in CI).
    let v1_files = vector_files()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("v1_"))
        })
        .count();
    assert_eq!(v1_files, cases.len(), "a vector file has no generator case");
}

/// Version 2 stores written by this library with fresh OS randomness (every option, both
/// credentials), in the vector file format with `expect: success`, for the independent Python
/// implementation to open: `EKV_WRITE_V2_STORES=<directory>` (CI) writes them there. Without
/// the variable the same stores are made and checked by this suite's own checker.
#[test]
fn library_written_v2_stores_open_in_a_second_implementation() {
    let out = std::env::var_os("EKV_WRITE_V2_STORES").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = out.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).unwrap();
    let modes: [(&str, OpenOptions); 4] = [
        ("plain", OpenOptions::new().format_v2()),
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
        for by_key in [false, true] {
            let inner = MemoryStore::new();
            let store = if by_key {
                opts.create_with_key::<V, _>(inner.clone(), &RawKey::from_bytes(key))
            } else {
                opts.create::<V, _>(inner.clone(), &passphrase, cheap())
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
                "v2_library_{mode}_{}.txt",
                if by_key { "key" } else { "passphrase" }
            ));
            std::fs::write(
                &file,
                format!(
                    "description: A version 2 store ({mode}) written by the library\n\
                     expect: success\ncredential: {credential}\nprimary: {p}\nsecondary: {s}\n\
                     key: {k}\nstored_primary: {sp}\nstored_secondary: {ss}\nstored_key: {sk}\n\
                     header: {}\nrecord: {}\nversion: {version}\nplaintext: {}\n",
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
    assert_eq!(n, 8);
}
