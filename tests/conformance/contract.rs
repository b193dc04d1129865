//! LDK's store contract as one generic body ([`Subject::run`]), driven through either LDK trait
//! ([`Ops`]) over any store, with a way to look at what the store really holds. The conformance
//! suite runs it over the encrypted and the reference stores; the PostgreSQL suite over
//! `EncryptedStore<PostgresStore>`.
//!
//! How invalid names are judged: the encrypted store must refuse them with an `InvalidInput`
//! error carrying our typed `InvalidName`, before the inner store sees the call. LDK's
//! `FilesystemStore` refuses them with `debug_assert!(false)` in debug builds (a panic in
//! `cargo test`) and an `Other` error in release builds; for it the contract requires "refused,
//! by error or by debug assertion, never accepted". For every store it also checks that nothing
//! was written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::v::{ldk, Ops};
use crate::common::Snapshot;
use encrypted_kvstore::{ListError, ReadError, RemoveError, WriteError};
use ldk::io::{self, ErrorKind};
use ldk::util::persist::{KVSTORE_NAMESPACE_KEY_ALPHABET, KVSTORE_NAMESPACE_KEY_MAX_LEN};

/// How the store under test must refuse a name that breaks LDK's rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Refusal {
    /// Our stores: an `InvalidInput` error carrying the typed `InvalidName`, never a panic.
    Typed,
    /// LDK's `FilesystemStore`: an error, or its `debug_assert!` in debug builds.
    ErrorOrDebugAssert,
}

/// The store under test, the way to look at what it really holds, and how it refuses.
pub(crate) struct Subject<'a, O: Ops> {
    pub(crate) ops: O,
    /// Every value physically held under the store under test (for an encrypted store, its
    /// inner store, header included).
    pub(crate) raw: &'a dyn Fn() -> Snapshot,
    pub(crate) refusal: Refusal,
    pub(crate) label: &'static str,
}

pub(crate) fn v(tag: &str, n: usize) -> Vec<u8> {
    let mut out = tag.as_bytes().to_vec();
    out.extend((0..n).map(|i| (i * 7 + tag.len()) as u8));
    out
}

impl<O: Ops> Subject<'_, O> {
    #[track_caller]
    fn not_found(&self, p: &str, s: &str, k: &str) {
        match self.ops.read(p, s, k) {
            Err(e) => assert_eq!(
                e.kind(),
                ErrorKind::NotFound,
                "{}: {p}/{s}/{k}: {e}",
                self.label
            ),
            Ok(v) => panic!(
                "{}: {p}/{s}/{k}: expected NotFound, got {} bytes",
                self.label,
                v.len()
            ),
        }
    }

    #[track_caller]
    fn reads(&self, p: &str, s: &str, k: &str, want: &[u8]) {
        let got = self
            .ops
            .read(p, s, k)
            .unwrap_or_else(|e| panic!("{}: read {p}/{s}/{k}: {e}", self.label));
        assert_eq!(got, want, "{}: {p}/{s}/{k}", self.label);
    }

    #[track_caller]
    fn lists(&self, p: &str, s: &str, want: &[&str]) {
        let got = self
            .ops
            .list(p, s)
            .unwrap_or_else(|e| panic!("{}: list {p}/{s}: {e}", self.label));
        let mut want: Vec<String> = want.iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{}: list {p}/{s}", self.label);
    }

    /// `op` must be refused as `self.refusal` says, and must not change what is stored.
    #[track_caller]
    fn refused<T: std::fmt::Debug>(&self, what: &str, op: impl FnOnce(&O) -> io::Result<T>) {
        let before = (self.raw)();
        let r = catch_unwind(AssertUnwindSafe(|| op(&self.ops)));
        match (self.refusal, r) {
            (_, Ok(Ok(v))) => panic!("{}: {what} was accepted: {v:?}", self.label),
            (Refusal::Typed, Err(_)) => panic!("{}: {what} panicked", self.label),
            (Refusal::Typed, Ok(Err(e))) => {
                assert_eq!(
                    e.kind(),
                    ErrorKind::InvalidInput,
                    "{}: {what}: {e}",
                    self.label
                );
                let inner = e.get_ref().expect("typed error");
                // Format version 2 reports each operation's own error type (`ListError` for
                // `list`, `RemoveError` for `remove`), version 1 a bare `InvalidName`.
                let typed = inner.downcast_ref::<ReadError>().is_some()
                    || inner.downcast_ref::<WriteError>().is_some()
                    || inner.downcast_ref::<ListError>().is_some()
                    || inner.downcast_ref::<RemoveError>().is_some()
                    || inner
                        .downcast_ref::<encrypted_kvstore::InvalidName>()
                        .is_some();
                assert!(typed, "{}: {what}: untyped error {e}", self.label);
            }
            (Refusal::ErrorOrDebugAssert, Ok(Err(_))) | (Refusal::ErrorOrDebugAssert, Err(_)) => {}
        }
        assert!(
            before == (self.raw)(),
            "{}: {what} changed the stored data",
            self.label
        );
    }

    /// Every kind of refused call with this (primary, secondary, key).
    #[track_caller]
    fn refuses_key(&self, p: &str, s: &str, k: &str) {
        let ctx = format!("{p:?}/{s:?}/{k:?}");
        self.refused(&format!("write {ctx}"), |o| o.write(p, s, k, vec![1, 2, 3]));
        self.refused(&format!("read {ctx}"), |o| o.read(p, s, k));
        self.refused(&format!("remove {ctx}"), |o| o.remove(p, s, k, false));
        self.refused(&format!("lazy remove {ctx}"), |o| o.remove(p, s, k, true));
    }

    #[track_caller]
    fn refuses_namespace(&self, p: &str, s: &str) {
        self.refused(&format!("list {p:?}/{s:?}"), |o| o.list(p, s));
        self.refuses_key(p, s, "k");
    }

    pub(crate) fn run(&self) {
        let o = &self.ops;

        // A missing key is NotFound, in a namespace that exists and in one that does not.
        self.not_found("ns", "sub", "missing");
        o.write("ns", "sub", "present", v("present", 10)).unwrap();
        self.not_found("ns", "sub", "missing");
        self.not_found("nowhere", "", "missing");
        self.not_found("", "", "missing");

        // Write then read; overwrite with longer, shorter and empty values; a large value.
        self.reads("ns", "sub", "present", &v("present", 10));
        for (i, n) in [100usize, 1, 0, 70_000, 3].into_iter().enumerate() {
            let value = v(&format!("overwrite{i}"), n);
            o.write("ns", "sub", "present", value.clone()).unwrap();
            self.reads("ns", "sub", "present", &value);
        }
        o.write("ns", "sub", "empty", Vec::new()).unwrap();
        self.reads("ns", "sub", "empty", &[]);

        // List after write and after remove; unknown namespaces list as empty.
        o.write("ns", "sub", "third", v("third", 5)).unwrap();
        self.lists("ns", "sub", &["present", "empty", "third"]);
        self.lists("ns", "", &[]);
        self.lists("unknown", "", &[]);
        self.lists("unknown", "unknown", &[]);
        o.remove("ns", "sub", "empty", false).unwrap();
        self.not_found("ns", "sub", "empty");
        self.lists("ns", "sub", &["present", "third"]);
        self.reads("ns", "sub", "present", &v("overwrite4", 3));

        // Removing a missing key succeeds (in a known and in an unknown namespace), lazily too.
        o.remove("ns", "sub", "never", false).unwrap();
        o.remove("ns", "sub", "never", true).unwrap();
        o.remove("unknown", "unknown", "never", false).unwrap();
        o.remove("ns", "sub", "empty", false).unwrap();
        self.lists("ns", "sub", &["present", "third"]);

        // Lazy remove: the key is gone for this handle, and a later write cancels it.
        o.remove("ns", "sub", "third", true).unwrap();
        self.not_found("ns", "sub", "third");
        o.write("ns", "sub", "third", v("again", 4)).unwrap();
        self.reads("ns", "sub", "third", &v("again", 4));
        o.remove("ns", "sub", "third", true).unwrap();
        o.write("ns", "sub", "third", v("after lazy", 4)).unwrap();
        self.reads("ns", "sub", "third", &v("after lazy", 4));
        self.lists("ns", "sub", &["present", "third"]);

        // Empty primary and secondary namespaces; primary with empty secondary.
        o.write("", "", "toplevel", v("top", 8)).unwrap();
        self.reads("", "", "toplevel", &v("top", 8));
        self.lists("", "", &["toplevel"]);
        o.write("ns", "", "nosub", v("nosub", 8)).unwrap();
        self.reads("ns", "", "nosub", &v("nosub", 8));
        self.lists("ns", "", &["nosub"]);
        self.lists("ns", "sub", &["present", "third"]);

        // An empty primary with a non-empty secondary is refused; so is an empty key.
        self.refuses_namespace("", "sub");
        self.refuses_key("", "sub", "toplevel");
        self.refuses_key("ns", "sub", "");
        self.refuses_key("", "", "");
        self.refuses_key("ns", "", "");

        // Names of exactly 120 characters work in every position; 121 are refused.
        let max = "A".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN);
        let long = "B".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN + 1);
        o.write(&max, &max, &max, v("max", 3)).unwrap();
        self.reads(&max, &max, &max, &v("max", 3));
        self.lists(&max, &max, &[&max]);
        o.write(&max, "", "k", v("maxp", 3)).unwrap();
        self.reads(&max, "", "k", &v("maxp", 3));
        let maxk = "C".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN);
        o.write("", "", &maxk, v("maxk", 3)).unwrap();
        self.reads("", "", &maxk, &v("maxk", 3));
        o.remove(&max, &max, &max, false).unwrap();
        self.lists(&max, &max, &[]);
        self.refuses_namespace(&long, "");
        self.refuses_namespace(&long, "s");
        self.refuses_namespace("p", &long);
        self.refuses_key("p", "s", &long);
        self.refuses_key("", "", &long);

        // Characters outside LDK's alphabet are refused in every position.
        for bad in [
            "a/b", "..", ".", "a.b", "a b", "a\\b", "a:b", "é", "a\0b", "ns/../x",
        ] {
            assert!(bad
                .chars()
                .any(|c| !KVSTORE_NAMESPACE_KEY_ALPHABET.contains(c)));
            self.refuses_namespace(bad, "");
            self.refuses_namespace("p", bad);
            self.refuses_key("p", "s", bad);
            self.refuses_key("", "", bad);
        }
        // Every character of the alphabet works.
        o.write("alpha", "", KVSTORE_NAMESPACE_KEY_ALPHABET, v("alpha", 2))
            .unwrap();
        self.reads("alpha", "", KVSTORE_NAMESPACE_KEY_ALPHABET, &v("alpha", 2));

        // The same name as primary namespace, secondary namespace and key, in different
        // places, names different values. (LDK asks callers not to give a key the name of a
        // namespace in the same namespace, so those pairs are not exercised.)
        let places = [
            ("dup", "", "other"),
            ("dup", "dup", "dup"),
            ("dup", "x", "dup"),
            ("x", "dup", "dup"),
            ("other", "", "y"),
            ("other", "dup", "x"),
            ("", "", "y"),
        ];
        for (i, (p, s, k)) in places.iter().enumerate() {
            o.write(p, s, k, v(&format!("place{i}"), i)).unwrap();
        }
        for (i, (p, s, k)) in places.iter().enumerate() {
            self.reads(p, s, k, &v(&format!("place{i}"), i));
        }
        self.lists("dup", "", &["other"]);
        self.lists("dup", "dup", &["dup"]);
        self.lists("dup", "x", &["dup"]);
        self.lists("x", "dup", &["dup"]);
        self.lists("other", "", &["y"]);
        self.lists("other", "dup", &["x"]);
        self.lists("", "", &["toplevel", "y", &maxk]);
        o.remove("dup", "dup", "dup", false).unwrap();
        self.not_found("dup", "dup", "dup");
        for (i, (p, s, k)) in places.iter().enumerate().filter(|(i, _)| *i != 1) {
            self.reads(p, s, k, &v(&format!("place{i}"), i));
        }
    }
}
