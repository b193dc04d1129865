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
//!
//! Listings decode the same keys again and again, so a store remembers the keys it decoded:
//! by plaintext namespace pair, stored key to plaintext key, for at most [`DECODED_MAX`] keys.
//! The cipher is deterministic and its key never changes while the store is open, so a key
//! found there is exactly what decrypting it again would give; only names that decoded are
//! kept, so a stored name that does not decode is refused every time.

use std::collections::HashMap;
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
    decoded: Mutex<Decoded>,
}

/// How many decoded keys a store remembers (a few MiB at most: a key is at most 74 bytes in
/// clear and 120 stored). Past it, further keys are decoded each time they are listed.
pub(crate) const DECODED_MAX: usize = 16_384;

/// The keys a store decoded: by plaintext pair, stored key to plaintext key.
#[derive(Default)]
struct Decoded {
    pairs: HashMap<(String, String), HashMap<String, String>>,
    len: usize,
}

impl Decoded {
    /// Remembers `stored` as decoding to `plain` under `pair` while there is room.
    fn insert(&mut self, pair: &(String, String), stored: String, plain: String) {
        if self.len >= DECODED_MAX {
            return;
        }
        let keys = match self.pairs.get_mut(pair) {
            Some(keys) => keys,
            None => self.pairs.entry(pair.clone()).or_default(),
        };
        if keys.insert(stored, plain).is_none() {
            self.len += 1;
        }
    }
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
            decoded: Mutex::default(),
        }
    }

    /// The plaintext of the stored keys listed under the plaintext pair `(p, s)`, in their
    /// order: each from the keys this store decoded before, or decrypted (taking the cipher key
    /// by key, so that a long listing does not hold up other operations' names).
    /// `Err(stored key)`: the first that does not decode.
    pub(crate) fn decode_keys(
        &self,
        p: &str,
        s: &str,
        mut keys: Vec<String>,
    ) -> Result<Vec<String>, String> {
        let pair = (p.to_owned(), s.to_owned());
        let mut known = Vec::with_capacity(keys.len());
        {
            let decoded = self.decoded.lock().unwrap_or_else(|e| e.into_inner());
            let pair = decoded.pairs.get(&pair);
            for key in &mut keys {
                let plain = pair.and_then(|pair| pair.get(key.as_str()));
                if let Some(plain) = plain {
                    plain.clone_into(key);
                }
                known.push(plain.is_some());
            }
        }
        let field = Field::Key {
            primary: p,
            secondary: s,
        };
        // (stored, plaintext) of the keys decrypted now.
        let mut fresh = Vec::new();
        for (key, known) in keys.iter_mut().zip(known) {
            if known {
                continue;
            }
            match self.lock().decrypt(field, key) {
                Ok(plain) => fresh.push((core::mem::replace(key, plain), key.clone())),
                Err(Undecodable) => return Err(core::mem::take(key)),
            }
        }
        if !fresh.is_empty() {
            let mut decoded = self.decoded.lock().unwrap_or_else(|e| e.into_inner());
            for (stored, plain) in fresh {
                decoded.insert(&pair, stored, plain);
            }
        }
        Ok(keys)
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

    fn key_field<'a>(p: &'a str, s: &'a str) -> Field<'a> {
        Field::Key {
            primary: p,
            secondary: s,
        }
    }

    fn decoded_len(c: &NameCipher) -> usize {
        c.decoded.lock().unwrap().len
    }

    /// A listing's keys come back in their order whether decrypted or remembered; a key
    /// remembered under one pair is still refused under another, and a stored name that does
    /// not decode is refused every time, the first in order named.
    #[test]
    fn listed_keys_are_decoded_once_and_remembered_by_pair() {
        let c = cipher();
        let plain: Vec<String> = (0..5).map(|i| format!("key{i}")).collect();
        let stored: Vec<String> = plain
            .iter()
            .map(|k| c.encrypt(key_field("p", "s"), k).unwrap())
            .collect();
        assert_eq!(
            c.decode_keys("p", "s", stored[..3].to_vec()).unwrap(),
            plain[..3]
        );
        assert_eq!(decoded_len(&c), 3);
        // Two remembered, two new, in an order of the inner store's choosing.
        let mixed = vec![
            stored[4].clone(),
            stored[0].clone(),
            stored[3].clone(),
            stored[2].clone(),
        ];
        let want = [&plain[4], &plain[0], &plain[3], &plain[2]].map(String::clone);
        assert_eq!(c.decode_keys("p", "s", mixed.clone()).unwrap(), want);
        assert_eq!(decoded_len(&c), 5);
        assert_eq!(c.decode_keys("p", "s", mixed).unwrap(), want);
        assert_eq!(decoded_len(&c), 5);

        // The same stored key under another pair (either name) is another name's context.
        for (p, s) in [("p", "t"), ("q", "s"), ("p/s", ""), ("", "p/s")] {
            assert_eq!(
                c.decode_keys(p, s, vec![stored[0].clone()]).unwrap_err(),
                stored[0],
                "{p:?} {s:?}"
            );
        }
        // A forged name among remembered ones, twice: refused, and named.
        let forged = "A".repeat(24);
        for _ in 0..2 {
            let keys = vec![stored[1].clone(), forged.clone(), "B".repeat(24)];
            assert_eq!(c.decode_keys("p", "s", keys).unwrap_err(), forged);
        }
        assert_eq!(decoded_len(&c), 5);
        assert_eq!(
            c.decode_keys("p", "s", Vec::new()).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(c.decode_keys("p", "s", vec![String::new()]).unwrap(), [""]);
    }

    /// At most `DECODED_MAX` keys are remembered; past it keys still decode, each time.
    #[test]
    fn remembered_keys_are_bounded() {
        let c = cipher();
        let stored = |i: usize| c.encrypt(key_field("p", ""), &format!("k{i}")).unwrap();
        let keys: Vec<String> = (0..DECODED_MAX - 1).map(stored).collect();
        c.decode_keys("p", "", keys).unwrap();
        assert_eq!(decoded_len(&c), DECODED_MAX - 1);
        // Remembered again: not counted twice.
        c.decode_keys("p", "", vec![stored(0)]).unwrap();
        assert_eq!(decoded_len(&c), DECODED_MAX - 1);
        let last = vec![stored(DECODED_MAX - 1), stored(DECODED_MAX)];
        let plain = c.decode_keys("p", "", last.clone()).unwrap();
        assert_eq!(
            plain,
            [format!("k{}", DECODED_MAX - 1), format!("k{DECODED_MAX}")]
        );
        assert_eq!(decoded_len(&c), DECODED_MAX);
        let decoded = c.decoded.lock().unwrap();
        let pair = &decoded.pairs[&("p".to_owned(), String::new())];
        assert!(pair.contains_key(&last[0]) && !pair.contains_key(&last[1]));
        assert_eq!(pair.len(), DECODED_MAX);
        drop(decoded);
        assert_eq!(c.decode_keys("p", "", last).unwrap(), plain);
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
