//! Known-answer test vectors (one case per file under `tests/vectors/`, in the spirit of age's
//! CCTV suite).
//!
//! Each file is a list of `name: value` lines; byte strings are hex. A store case (no `kind:`
//! line) has `expect:` one of `success`, `open failure: <OpenError variant>`,
//! `read failure: <ReadError variant>` (`NotFound` too), `list failure:` or `write failure:`;
//! `anchor: <name> <hex>` lines (or `anchor: none`) are the values of an anchor the case is
//! opened with (docs/FORMAT.md, "Test vectors"), checked here with a map anchor, read-only and
//! writable; a `kind: seed-derivation` case pins `RawKey::derive_from_seed` (`seed:` and
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
                    "description: A store ({mode}) written by the library\n\
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
