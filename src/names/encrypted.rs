//! Encrypted names (option `names`): each non-empty name becomes
//! `base64url_nopad(AES-256-SIV(name key, [ad], name))`, deterministic and reversible, in LDK's
//! alphabet. See docs/FORMAT.md, "Encrypted names".
//!
//! The cipher is built once per store (the CMAC key schedule and its subkeys); the crate's
//! `Siv` encrypts with `&mut self`, so a store keeps it behind a lock, taken once per
//! operation for the names it encrypts and once per key a listing decodes. The crate itself expands
//! the CTR key on every message (`Siv::xor_with_keystream`); nothing else is rebuilt per name.
//! Names are encrypted and decoded in buffers on the stack: the stored name (or the decoded
//! name) is the one allocation.

use std::sync::{Mutex, MutexGuard};

use aes_siv::siv::Aes256Siv;
use aes_siv::{KeyInit, Tag};
use base64ct::{Base64UrlUnpadded, Encoding};
use zeroize::Zeroizing;

use super::{check_str, is_reserved, InvalidName, KVSTORE_NAMESPACE_KEY_MAX_LEN};

/// Longest plaintext name whose stored form fits LDK's 120 characters.
pub(crate) const MAX_PLAIN_NAME_LEN: usize = 74;
const SIV_LEN: usize = 16;
/// Longest decoded stored name: 120 base64url characters.
const MAX_SEALED_LEN: usize = KVSTORE_NAMESPACE_KEY_MAX_LEN / 4 * 3;
const NAME_AD_LABEL: &[u8] = b"encrypted-kvstore v2 name";
/// Longest associated data: label, store id, field byte, and two names of at most 74 bytes
/// with their lengths.
const AD_MAX: usize = NAME_AD_LABEL.len() + 16 + 1 + 2 * (4 + MAX_PLAIN_NAME_LEN);

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

/// The associated data of one name, built on the stack.
struct Ad {
    buf: [u8; AD_MAX],
    len: usize,
}

impl Ad {
    fn push(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.len.checked_add(bytes.len())?;
        self.buf.get_mut(self.len..end)?.copy_from_slice(bytes);
        self.len = end;
        Some(())
    }

    /// A context name: refused above 74 bytes whatever room is left, so that which contexts
    /// seal does not depend on the other context name's length.
    fn push_name(&mut self, name: &str) -> Option<()> {
        if name.len() > MAX_PLAIN_NAME_LEN {
            return None;
        }
        self.push(&u32::try_from(name.len()).ok()?.to_le_bytes())?;
        self.push(name.as_bytes())
    }

    fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl Field<'_> {
    fn what(&self) -> &'static str {
        match self {
            Field::Primary => "primary namespace",
            Field::Secondary { .. } => "secondary namespace",
            Field::Key { .. } => "key",
        }
    }

    /// `None` when a context name is longer than 74 bytes (a store encrypts and decodes only
    /// names within that length, so the context of a field always fits).
    fn ad(&self, store_id: &[u8; 16]) -> Option<Ad> {
        let mut ad = Ad {
            buf: [0u8; AD_MAX],
            len: 0,
        };
        ad.push(NAME_AD_LABEL)?;
        ad.push(store_id)?;
        match self {
            Field::Primary => ad.push(&[1])?,
            Field::Secondary { primary } => {
                ad.push(&[2])?;
                ad.push_name(primary)?;
            }
            Field::Key { primary, secondary } => {
                ad.push(&[3])?;
                ad.push_name(primary)?;
                ad.push_name(secondary)?;
            }
        }
        Some(ad)
    }
}

/// Why a stored name did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Undecodable;

/// The name cipher of a store (AES-256-SIV under its name key, built once) and its store id.
/// The key material is zeroized when the store is dropped (the `zeroize` features of
/// `aes-siv`, `aes` and `cmac`).
pub(crate) struct NameCipher {
    siv: Mutex<Aes256Siv>,
    store_id: [u8; 16],
}

/// The name cipher, taken for the names of one operation.
pub(crate) struct Names<'a> {
    siv: MutexGuard<'a, Aes256Siv>,
    store_id: &'a [u8; 16],
}

impl NameCipher {
    pub(crate) fn new(key: &Zeroizing<[u8; 64]>, store_id: [u8; 16]) -> NameCipher {
        let key: &[u8; 64] = key;
        NameCipher {
            siv: Mutex::new(Aes256Siv::new(key.into())),
            store_id,
        }
    }

    /// Takes the cipher for the names of one operation (a poisoned lock is taken all the same:
    /// the cipher holds no state between messages).
    pub(crate) fn lock(&self) -> Names<'_> {
        Names {
            siv: self.siv.lock().unwrap_or_else(|p| p.into_inner()),
            store_id: &self.store_id,
        }
    }

    /// [`Names::encrypt`] of one name.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn encrypt(&self, field: Field<'_>, name: &str) -> Result<String, InvalidName> {
        self.lock().encrypt(field, name)
    }

    /// [`Names::decrypt`] of one name.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn decrypt(&self, field: Field<'_>, stored: &str) -> Result<String, Undecodable> {
        self.lock().decrypt(field, stored)
    }
}

impl Names<'_> {
    /// The stored form of `name` (a valid LDK name, checked by the caller). `Err` when it is
    /// longer than 74 bytes, or if the cipher ever refused (never a name in clear).
    pub(crate) fn encrypt(&mut self, field: Field<'_>, name: &str) -> Result<String, InvalidName> {
        if name.is_empty() {
            return Ok(String::new());
        }
        if name.len() > MAX_PLAIN_NAME_LEN {
            return Err(InvalidName::TooLongToEncrypt {
                what: field.what(),
                len: name.len(),
            });
        }
        let failed = InvalidName::EncryptionFailed;
        let ad = field.ad(self.store_id).ok_or(failed.clone())?;
        let mut sealed = [0u8; SIV_LEN + MAX_PLAIN_NAME_LEN];
        let sealed = sealed
            .get_mut(..SIV_LEN + name.len())
            .ok_or(failed.clone())?;
        let (tag, body) = sealed.split_at_mut(SIV_LEN);
        body.copy_from_slice(name.as_bytes());
        let t = self
            .siv
            .encrypt_inout_detached([ad.as_bytes()], body.into())
            .map_err(|_| failed.clone())?;
        tag.copy_from_slice(&t);
        let mut out = [0u8; KVSTORE_NAMESPACE_KEY_MAX_LEN];
        let stored = Base64UrlUnpadded::encode(sealed, &mut out).map_err(|_| failed)?;
        Ok(stored.to_owned())
    }

    /// The plaintext of a stored name, with the checks of "Decoding a stored name".
    pub(crate) fn decrypt(
        &mut self,
        field: Field<'_>,
        stored: &str,
    ) -> Result<String, Undecodable> {
        if stored.is_empty() {
            return Ok(String::new());
        }
        if stored.len() > KVSTORE_NAMESPACE_KEY_MAX_LEN {
            return Err(Undecodable);
        }
        let mut buf = [0u8; MAX_SEALED_LEN];
        let len = Base64UrlUnpadded::decode(stored, &mut buf)
            .map_err(|_| Undecodable)?
            .len();
        let sealed = buf.get_mut(..len).ok_or(Undecodable)?;
        // Canonical: exactly one stored name per byte string.
        let mut again = [0u8; KVSTORE_NAMESPACE_KEY_MAX_LEN];
        if Base64UrlUnpadded::encode(sealed, &mut again) != Ok(stored) || len < SIV_LEN + 1 {
            return Err(Undecodable);
        }
        let ad = field.ad(self.store_id).ok_or(Undecodable)?;
        let (tag, body) = sealed.split_at_mut(SIV_LEN);
        let tag = Tag::try_from(&*tag).map_err(|_| Undecodable)?;
        self.siv
            .decrypt_inout_detached([ad.as_bytes()], body.into(), &tag)
            .map_err(|_| Undecodable)?;
        let name = core::str::from_utf8(body).map_err(|_| Undecodable)?;
        if name.len() > MAX_PLAIN_NAME_LEN
            || check_str(field.what(), name).is_err()
            || (matches!(field, Field::Primary) && is_reserved(name))
        {
            return Err(Undecodable);
        }
        Ok(name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn cipher() -> NameCipher {
        NameCipher::new(&Zeroizing::new([3u8; 64]), [4u8; 16])
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
        let other = NameCipher::new(&Zeroizing::new([3u8; 64]), [5u8; 16]);
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
