//! Encrypted names (option `names`): arbitrary stored names, with arbitrary field
//! and context, through the name cipher under a fixed name key. Never panics; a stored name
//! that decodes is valid (LDK's alphabet, at most 74 bytes, not the reserved primary
//! namespace) and re-encrypts to exactly the same stored name (one stored name per
//! plaintext: base64url decoding is canonical); every valid LDK name of at most 74 bytes
//! encrypts, decrypts back to itself in its own field and context only, and a longer one is
//! refused as too long to encrypt; in a context longer than 74 bytes (one the store never
//! builds: the context names are encrypted first) a name is refused.
//!
//! Input (`arbitrary`): the field (mod 3: primary, secondary, key), the two context
//! namespaces, a plaintext name, and the stored name to decode: arbitrary text, or the
//! plaintext's own stored name with one character replaced (to reach non-canonical encodings
//! of authentic ciphertexts and near-misses without depending on the seeds).

#![no_main]

use arbitrary::Arbitrary;
use encrypted_kvstore::__fuzzing::{name_decrypt, name_encrypt, NAME_MAX_PLAIN_LEN};
use encrypted_kvstore::{InvalidName, RESERVED_PRIMARY_NAMESPACE};
use libfuzzer_sys::fuzz_target;

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[derive(Arbitrary, Debug)]
enum Stored {
    Raw(String),
    /// The plaintext's stored name with character `at` (mod its length) replaced by
    /// `ALPHABET[to % 64]`, or, for `to >= 192`, by the byte `to` itself (not ASCII: the
    /// string stays valid UTF-8 by using `char::from`).
    Tweak {
        at: u8,
        to: u8,
    },
    /// The plaintext's stored name with `extra` appended.
    Extend {
        extra: String,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    field: u8,
    primary: String,
    secondary: String,
    name: String,
    stored: Stored,
}

/// LDK's rules for a name, written here from its documentation (not the library's checker):
/// alphabet `A-Za-z0-9_-`, at most 120 characters; the primary namespace must not be the
/// reserved one in any letter case.
fn valid(field: u8, name: &str) -> bool {
    name.len() <= 120
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !(field.is_multiple_of(3) && name.eq_ignore_ascii_case(RESERVED_PRIMARY_NAMESPACE))
}

fuzz_target!(|input: Input| {
    let Input {
        field,
        primary,
        secondary,
        name,
        stored,
    } = input;
    let (p, s) = (primary.as_str(), secondary.as_str());

    // The names a field is bound to (its context) are names the store encrypts too, so at
    // most 74 bytes each; a name in a longer context is refused, never sealed under a cut one.
    let context_fits = match field % 3 {
        0 => true,
        1 => p.len() <= NAME_MAX_PLAIN_LEN,
        _ => p.len() <= NAME_MAX_PLAIN_LEN && s.len() <= NAME_MAX_PLAIN_LEN,
    };

    // Encrypt -> decrypt, for valid names.
    let enc = name_encrypt(field, p, s, &name);
    if valid(field, &name) {
        if name.len() > NAME_MAX_PLAIN_LEN {
            assert!(
                matches!(enc, Err(InvalidName::TooLongToEncrypt { len, .. }) if len == name.len()),
                "a {}-byte name: {enc:?}",
                name.len()
            );
        } else if !context_fits && !name.is_empty() {
            assert!(
                matches!(enc, Err(InvalidName::EncryptionFailed)),
                "a name in a context of {} and {} bytes: {enc:?}",
                p.len(),
                s.len()
            );
        } else {
            let st = enc
                .as_ref()
                .unwrap_or_else(|e| panic!("a valid name did not encrypt: {e:?}"));
            if name.is_empty() {
                assert_eq!(st, "", "the empty name must stay empty");
            } else {
                assert_eq!(st.len(), (4 * (16 + name.len())).div_ceil(3));
                assert!(st.bytes().all(|b| ALPHABET.contains(&b)), "{st}");
                // Never the name in clear, never the reserved namespace.
                assert_ne!(st, &name);
                assert!(!st.eq_ignore_ascii_case(RESERVED_PRIMARY_NAMESPACE));
                // Another field is another place: it does not decode there.
                assert_eq!(name_decrypt(field % 3 + 1, p, s, st), None);
                // Deterministic.
                assert_eq!(name_encrypt(field, p, s, &name).as_ref(), Ok(st));
            }
            assert_eq!(
                name_decrypt(field, p, s, st).as_deref(),
                Some(name.as_str()),
                "a stored name did not decode to its plaintext"
            );
        }
    }

    // Decode arbitrary stored names.
    let candidate = match stored {
        Stored::Raw(r) => r,
        Stored::Tweak { at, to } => {
            let Ok(st) = &enc else { return };
            let mut chars: Vec<char> = st.chars().collect();
            if chars.is_empty() {
                return;
            }
            let at = usize::from(at) % chars.len();
            chars[at] = if to >= 192 {
                char::from(to)
            } else {
                char::from(ALPHABET[usize::from(to) % ALPHABET.len()])
            };
            chars.into_iter().collect()
        }
        Stored::Extend { extra } => {
            let Ok(st) = &enc else { return };
            format!("{st}{extra}")
        }
    };
    if let Some(plain) = name_decrypt(field, p, s, &candidate) {
        assert!(
            valid(field, &plain) && plain.len() <= NAME_MAX_PLAIN_LEN,
            "decoded to a name the store never writes: {plain:?}"
        );
        assert_eq!(
            name_encrypt(field, p, s, &plain).as_deref(),
            Ok(candidate.as_str()),
            "a stored name decoded to {plain:?}, which encrypts to another stored name (not canonical)"
        );
    }
});
