//! Encrypted names (option `names`): each non-empty name becomes
//! `base64url_nopad(AES-256-SIV(name key, [ad], name))`, deterministic and reversible, in LDK's
//! alphabet. See docs/FORMAT.md, "Encrypted names".

use aes_siv::siv::Aes256Siv;
use aes_siv::KeyInit;
use base64ct::{Base64UrlUnpadded, Encoding};
use zeroize::Zeroizing;

use super::{check_str, is_reserved, InvalidName};

/// Longest plaintext name whose stored form fits LDK's 120 characters.
pub(crate) const MAX_PLAIN_NAME_LEN: usize = 74;
const SIV_LEN: usize = 16;
const NAME_AD_LABEL: &[u8] = b"encrypted-kvstore v2 name";

/// Which of the three names, with the plaintext names above it (its context).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Field<'a> {
    Primary,
    Secondary {
        primary: &'a str,
    },
    Key {
        primary: &'a str,
        secondary: &'a str,
    },
}

impl Field<'_> {
    fn what(&self) -> &'static str {
        match self {
            Field::Primary => "primary namespace",
            Field::Secondary { .. } => "secondary namespace",
            Field::Key { .. } => "key",
        }
    }

    fn ad(&self, store_id: &[u8; 16]) -> Vec<u8> {
        let mut ad = Vec::with_capacity(NAME_AD_LABEL.len() + 16 + 1 + 2 * (4 + 120));
        ad.extend_from_slice(NAME_AD_LABEL);
        ad.extend_from_slice(store_id);
        let push = |ad: &mut Vec<u8>, s: &str| {
            // Names are at most 74 bytes here (checked before), so the length fits.
            ad.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
            ad.extend_from_slice(s.as_bytes());
        };
        match self {
            Field::Primary => ad.push(1),
            Field::Secondary { primary } => {
                ad.push(2);
                push(&mut ad, primary);
            }
            Field::Key { primary, secondary } => {
                ad.push(3);
                push(&mut ad, primary);
                push(&mut ad, secondary);
            }
        }
        ad
    }
}

/// Why a stored name did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Undecodable;

/// The name key of a store and its store id.
pub(crate) struct NameCipher {
    key: Zeroizing<[u8; 64]>,
    store_id: [u8; 16],
}

impl NameCipher {
    pub(crate) fn new(key: Zeroizing<[u8; 64]>, store_id: [u8; 16]) -> NameCipher {
        NameCipher { key, store_id }
    }

    fn siv(&self) -> Option<Aes256Siv> {
        Aes256Siv::new_from_slice(&self.key[..]).ok()
    }

    /// The stored form of `name` (a valid LDK name, checked by the caller). `Err` when it is
    /// longer than 74 bytes, or if the cipher ever refused (never a name in clear).
    pub(crate) fn encrypt(&self, field: Field<'_>, name: &str) -> Result<String, InvalidName> {
        if name.is_empty() {
            return Ok(String::new());
        }
        if name.len() > MAX_PLAIN_NAME_LEN {
            return Err(InvalidName::TooLongToEncrypt {
                what: field.what(),
                len: name.len(),
            });
        }
        let ad = field.ad(&self.store_id);
        let ct = self
            .siv()
            .and_then(|mut s| s.encrypt([&ad[..]], name.as_bytes()).ok())
            .ok_or(InvalidName::EncryptionFailed)?;
        Ok(Base64UrlUnpadded::encode_string(&ct))
    }

    /// The plaintext of a stored name, with the checks of "Decoding a stored name".
    pub(crate) fn decrypt(&self, field: Field<'_>, stored: &str) -> Result<String, Undecodable> {
        if stored.is_empty() {
            return Ok(String::new());
        }
        if stored.len() > 120 {
            return Err(Undecodable);
        }
        let ct = Base64UrlUnpadded::decode_vec(stored).map_err(|_| Undecodable)?;
        // Canonical: exactly one stored name per byte string.
        if Base64UrlUnpadded::encode_string(&ct) != stored || ct.len() < SIV_LEN + 1 {
            return Err(Undecodable);
        }
        let ad = field.ad(&self.store_id);
        let pt = self
            .siv()
            .and_then(|mut s| s.decrypt([&ad[..]], &ct).ok())
            .ok_or(Undecodable)?;
        let name = String::from_utf8(pt).map_err(|_| Undecodable)?;
        if name.len() > MAX_PLAIN_NAME_LEN
            || check_str(field.what(), &name).is_err()
            || (matches!(field, Field::Primary) && is_reserved(&name))
        {
            return Err(Undecodable);
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn cipher() -> NameCipher {
        NameCipher::new(Zeroizing::new([3u8; 64]), [4u8; 16])
    }

    /// RFC 5297, appendix A.1 (AES-SIV-CMAC-256, deterministic), through the crate and call
    /// this module makes.
    #[test]
    fn rfc5297_a1() {
        use aes_siv::siv::Aes128Siv;
        let hex = |s: &str| -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        };
        let key = hex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
        let ad = hex("101112131415161718191a1b1c1d1e1f2021222324252627");
        let pt = hex("112233445566778899aabbccddee");
        let ct = Aes128Siv::new_from_slice(&key)
            .unwrap()
            .encrypt([&ad[..]], &pt)
            .unwrap();
        assert_eq!(
            ct,
            hex("85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c")
        );
    }

    #[test]
    fn round_trip_lengths_and_alphabet() {
        let c = cipher();
        for len in 1..=MAX_PLAIN_NAME_LEN {
            let name = "a".repeat(len);
            let s = c.encrypt(Field::Primary, &name).unwrap();
            assert_eq!(s.len(), (4 * (16 + len)).div_ceil(3));
            assert!(s.len() <= 120);
            assert!(s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            assert_eq!(c.decrypt(Field::Primary, &s).unwrap(), name);
        }
        assert!(matches!(
            c.encrypt(Field::Primary, &"a".repeat(75)),
            Err(InvalidName::TooLongToEncrypt { len: 75, .. })
        ));
        assert_eq!(c.encrypt(Field::Primary, "").unwrap(), "");
        assert_eq!(c.decrypt(Field::Primary, "").unwrap(), "");
    }

    #[test]
    fn fields_and_places_are_separated() {
        let c = cipher();
        let a = c.encrypt(Field::Primary, "monitors").unwrap();
        let b = c
            .encrypt(Field::Secondary { primary: "x" }, "monitors")
            .unwrap();
        let k1 = c
            .encrypt(
                Field::Key {
                    primary: "p",
                    secondary: "",
                },
                "monitors",
            )
            .unwrap();
        let k2 = c
            .encrypt(
                Field::Key {
                    primary: "q",
                    secondary: "",
                },
                "monitors",
            )
            .unwrap();
        assert!(a != b && b != k1 && k1 != k2 && a != k1);
        assert_eq!(c.encrypt(Field::Primary, "monitors").unwrap(), a);
        assert!(c.decrypt(Field::Secondary { primary: "x" }, &a).is_err());
        assert!(c
            .decrypt(
                Field::Key {
                    primary: "q",
                    secondary: ""
                },
                &k1
            )
            .is_err());
        let other = NameCipher::new(Zeroizing::new([3u8; 64]), [5u8; 16]);
        assert!(other.decrypt(Field::Primary, &a).is_err());
    }

    #[test]
    fn forged_and_non_canonical_names_are_refused() {
        let c = cipher();
        let s = c.encrypt(Field::Primary, "monitors").unwrap();
        for bad in ["abc", "a", "AAAAAAAAAAAAAAAAAAAAAAAA", "monitors", "a=b"] {
            assert!(c.decrypt(Field::Primary, bad).is_err(), "{bad}");
        }
        // Changing the unused low bits of the last character keeps the bytes, not the string.
        let mut chars: Vec<char> = s.chars().collect();
        let last = chars.len() - 1;
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let idx = alphabet.find(chars[last]).unwrap();
        chars[last] = alphabet.chars().nth(idx ^ 1).unwrap();
        let tweaked: String = chars.into_iter().collect();
        assert!(c.decrypt(Field::Primary, &tweaked).is_err());
        assert!(c.decrypt(Field::Primary, &"A".repeat(121)).is_err());
    }
}
