//! LDK's rules for namespaces and keys, checked before anything reaches the inner store.

use core::fmt;

pub(crate) mod encrypted;

/// LDK's longest namespace or key (`KVSTORE_NAMESPACE_KEY_MAX_LEN`, the same in every supported
/// LDK version; each adapter's tests pin it).
pub(crate) const KVSTORE_NAMESPACE_KEY_MAX_LEN: usize = 120;

/// The primary namespace that holds the store header. User data can never be read, written,
/// removed or listed there (paginated listings included), in any letter case
/// (`ENCRYPTED_KVSTORE` is the same directory on a case-insensitive file system); `list_all_keys`
/// of the migration traits leaves it out.
pub const RESERVED_PRIMARY_NAMESPACE: &str = "encrypted_kvstore";
/// The secondary namespace of the store header.
pub const HEADER_SECONDARY_NAMESPACE: &str = "";
/// The key of the store header.
pub const HEADER_KEY: &str = "header";

/// A namespace or key that LDK's store contract does not allow, or that is reserved.
///
/// Returned (inside an [`io::Error`](bitcoin::io::Error) of kind `InvalidInput`) before
/// anything reaches the inner store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidName {
    /// The key is empty.
    EmptyKey,
    /// The primary namespace is empty but the secondary namespace is not.
    SecondaryWithoutPrimary,
    /// A name is longer than LDK's limit of 120 characters.
    TooLong {
        /// Which name: "primary namespace", "secondary namespace" or "key".
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A name holds a character outside LDK's alphabet (`A-Z a-z 0-9 _ -`).
    BadCharacter {
        /// Which name: "primary namespace", "secondary namespace" or "key".
        what: &'static str,
    },
    /// The primary namespace is the one this crate reserves for its header.
    Reserved,
    /// The store encrypts names, and this name is longer than the 74 bytes whose encrypted
    /// form fits LDK's 120 characters. Nothing was written or read.
    TooLongToEncrypt {
        /// Which name: "primary namespace", "secondary namespace" or "key".
        what: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The name cipher refused to encrypt a name (it never does for a valid name; never a
    /// name in clear instead).
    EncryptionFailed,
}

impl fmt::Display for InvalidName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidName::EmptyKey => f.write_str("the key may not be empty"),
            InvalidName::SecondaryWithoutPrimary => f.write_str(
                "the primary namespace may not be empty when the secondary namespace is not",
            ),
            InvalidName::TooLong { what, len } => write!(
                f,
                "the {what} is {len} characters long, more than the {KVSTORE_NAMESPACE_KEY_MAX_LEN} allowed"
            ),
            InvalidName::BadCharacter { what } => write!(
                f,
                "the {what} holds a character outside [A-Za-z0-9_-]"
            ),
            InvalidName::TooLongToEncrypt { what, len } => write!(
                f,
                "the {what} is {len} characters long, more than the {} allowed in a store that encrypts names",
                encrypted::MAX_PLAIN_NAME_LEN
            ),
            InvalidName::EncryptionFailed => f.write_str("the name could not be encrypted"),
            InvalidName::Reserved => write!(
                f,
                "the primary namespace \"{RESERVED_PRIMARY_NAMESPACE}\" is reserved for the encrypted store's header"
            ),
        }
    }
}

impl std::error::Error for InvalidName {}

fn check_str(what: &'static str, s: &str) -> Result<(), InvalidName> {
    if s.len() > KVSTORE_NAMESPACE_KEY_MAX_LEN {
        return Err(InvalidName::TooLong { what, len: s.len() });
    }
    // Byte test for LDK's alphabet (`A-Z a-z 0-9 _ -`, all ASCII): every byte of a non-ASCII
    // character is >= 0x80 and fails it. No early exit, so the loop runs on whole vectors.
    if !s.bytes().fold(true, |ok, b| ok & in_alphabet(b)) {
        return Err(InvalidName::BadCharacter { what });
    }
    Ok(())
}

/// Whether `b` is in LDK's `KVSTORE_NAMESPACE_KEY_ALPHABET` (`b | 0x20` folds `A-Z` onto
/// `a-z` and moves no other byte into it).
fn in_alphabet(b: u8) -> bool {
    ((b | 0x20).wrapping_sub(b'a') < 26) | (b.wrapping_sub(b'0') < 10) | (b == b'_') | (b == b'-')
}

/// A key's three names (primary namespace, secondary namespace, key), owned or borrowed: maps
/// keyed by owned names are looked up by borrowed ones (no copy of them per lookup). As a
/// `dyn Triple` they are ordered as the tuple of `String`s is, name by name ([`cmp_name`]).
pub(crate) trait Triple {
    fn names(&self) -> (&str, &str, &str);
}

impl Triple for (String, String, String) {
    fn names(&self) -> (&str, &str, &str) {
        (&self.0, &self.1, &self.2)
    }
}

impl Triple for (&str, &str, &str) {
    fn names(&self) -> (&str, &str, &str) {
        *self
    }
}

impl<T: Triple + ?Sized> Triple for &T {
    fn names(&self) -> (&str, &str, &str) {
        (**self).names()
    }
}

impl<'a> core::borrow::Borrow<dyn Triple + 'a> for (String, String, String) {
    fn borrow(&self) -> &(dyn Triple + 'a) {
        self
    }
}

impl Ord for dyn Triple + '_ {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        let ((ap, as_, ak), (bp, bs, bk)) = (self.names(), other.names());
        cmp_name(ap, bp)
            .then_with(|| cmp_name(as_, bs))
            .then_with(|| cmp_name(ak, bk))
    }
}

impl PartialOrd for dyn Triple + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for dyn Triple + '_ {
    fn eq(&self, other: &Self) -> bool {
        let ((ap, as_, ak), (bp, bs, bk)) = (self.names(), other.names());
        same_name(ap, bp) && same_name(as_, bs) && same_name(ak, bk)
    }
}

impl Eq for dyn Triple + '_ {}

/// `a == b`, without calling `memcmp` for two empty names (see [`cmp_name`]).
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// `a.cmp(b)`, without calling `memcmp` when a name is empty: an empty `str` points at a
/// dangling address, and glibc's AVX-512 `memcmp` loads from it under an all-zero mask, which
/// costs a microcode assist of about 75 ns on such CPUs (the empty secondary namespace is LDK's
/// commonest).
pub(crate) fn cmp_name(a: &str, b: &str) -> core::cmp::Ordering {
    if a.is_empty() || b.is_empty() {
        a.len().cmp(&b.len())
    } else {
        a.cmp(b)
    }
}

/// Checks a (primary, secondary) namespace pair as `list` takes it.
pub(crate) fn check_namespace(primary: &str, secondary: &str) -> Result<(), InvalidName> {
    if primary.is_empty() && !secondary.is_empty() {
        return Err(InvalidName::SecondaryWithoutPrimary);
    }
    check_str("primary namespace", primary)?;
    check_str("secondary namespace", secondary)?;
    if is_reserved(primary) {
        return Err(InvalidName::Reserved);
    }
    Ok(())
}

/// Whether `primary` names the reserved namespace in any ASCII letter case: on a
/// case-insensitive file system (macOS, Windows) `ENCRYPTED_KVSTORE/header` is the header's
/// file.
pub(crate) fn is_reserved(primary: &str) -> bool {
    primary.eq_ignore_ascii_case(RESERVED_PRIMARY_NAMESPACE)
}

/// Checks a full (primary, secondary, key) triple as `read`, `write` and `remove` take it.
pub(crate) fn check_key(primary: &str, secondary: &str, key: &str) -> Result<(), InvalidName> {
    if key.is_empty() {
        return Err(InvalidName::EmptyKey);
    }
    check_namespace(primary, secondary)?;
    check_str("key", key)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// LDK's `KVSTORE_NAMESPACE_KEY_ALPHABET` (each adapter's tests pin it to its version's).
    pub(crate) const KVSTORE_NAMESPACE_KEY_ALPHABET: &str =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

    #[test]
    fn byte_test_is_ldk_alphabet() {
        for b in 0..=u8::MAX {
            assert_eq!(
                in_alphabet(b),
                KVSTORE_NAMESPACE_KEY_ALPHABET.contains(char::from(b)),
                "byte {b:#x}"
            );
        }
        for c in ['é', 'ß', '\u{2014}', '\u{1F600}', '\u{FF21}'] {
            let s = format!("ab{c}");
            assert_eq!(
                check_str("key", &s).is_ok(),
                s.chars()
                    .all(|c| KVSTORE_NAMESPACE_KEY_ALPHABET.contains(c))
            );
        }
    }

    /// The message of each refusal names the offending name and the rule.
    #[test]
    fn messages_say_which_name_breaks_which_rule() {
        let message = |p: &str, s: &str, k: &str| check_key(p, s, k).unwrap_err().to_string();
        assert_eq!(
            message("p", "", &"k".repeat(121)),
            "the key is 121 characters long, more than the 120 allowed"
        );
        assert_eq!(
            message("p", "a.b", "k"),
            "the secondary namespace holds a character outside [A-Za-z0-9_-]"
        );
        assert_eq!(message("p", "", ""), "the key may not be empty");
        assert!(message("", "s", "k").contains("primary namespace may not be empty"));
        assert!(message(RESERVED_PRIMARY_NAMESPACE, "", "k").contains("\"encrypted_kvstore\""));
    }

    #[test]
    fn rules() {
        assert_eq!(check_key("", "", "k"), Ok(()));
        assert_eq!(check_key("p", "", "k"), Ok(()));
        assert_eq!(check_key("p", "s", "k"), Ok(()));
        assert_eq!(check_key("", "", ""), Err(InvalidName::EmptyKey));
        assert_eq!(
            check_key("", "s", "k"),
            Err(InvalidName::SecondaryWithoutPrimary)
        );
        assert_eq!(check_key(&"a".repeat(120), "", "k"), Ok(()));
        assert!(matches!(
            check_key(&"a".repeat(121), "", "k"),
            Err(InvalidName::TooLong { len: 121, .. })
        ));
        assert!(matches!(
            check_key("p", "", "a/b"),
            Err(InvalidName::BadCharacter { what: "key" })
        ));
        assert!(matches!(
            check_key("p.", "", "k"),
            Err(InvalidName::BadCharacter { .. })
        ));
        assert!(matches!(
            check_key("p", "", "é"),
            Err(InvalidName::BadCharacter { .. })
        ));
        assert_eq!(
            check_key(RESERVED_PRIMARY_NAMESPACE, "", "x"),
            Err(InvalidName::Reserved)
        );
        assert_eq!(
            check_namespace(RESERVED_PRIMARY_NAMESPACE, ""),
            Err(InvalidName::Reserved)
        );
        assert_eq!(check_namespace("", ""), Ok(()));
        for spelling in [
            "ENCRYPTED_KVSTORE",
            "Encrypted_KVStore",
            "encrypted_kvstorE",
        ] {
            assert_eq!(
                check_key(spelling, "", "header"),
                Err(InvalidName::Reserved)
            );
            assert_eq!(check_namespace(spelling, ""), Err(InvalidName::Reserved));
        }
        assert_eq!(check_namespace("encrypted_kvstore_x", ""), Ok(()));
        assert_eq!(check_namespace("encrypted-kvstore", ""), Ok(()));
    }
}
