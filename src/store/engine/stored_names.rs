//! Stored names: the names a store hands to its inner store (encrypted with the `names`
//! option) and their decoding (docs/FORMAT.md, "Encrypted names"). Each operation encrypts
//! each of its names once, under one take of the name cipher. `list` decodes each key it has
//! not decoded before (the name cipher remembers the others); `list_all_keys` decodes each key
//! once and each stored namespace once per run of keys under it.

use std::borrow::Cow;

use super::*;
use crate::names::encrypted::Names;

/// The stored forms of a (primary, secondary) pair.
fn encrypt_pair(nc: &mut Names<'_>, p: &str, s: &str) -> Result<(String, String), InvalidName> {
    Ok((
        nc.encrypt(Field::Primary, p)?,
        nc.encrypt(Field::Secondary { primary: p }, s)?,
    ))
}

/// The plaintext names of a stored pair (`None`: not made by this store).
fn decrypt_pair(nc: &mut Names<'_>, sp: &str, ss: &str) -> Option<(String, String)> {
    let p = nc.decrypt(Field::Primary, sp).ok()?;
    let s = nc.decrypt(Field::Secondary { primary: &p }, ss).ok()?;
    Some((p, s))
}

impl Engine {
    /// The names `(p, s, k)` are stored under: themselves (borrowed) with names in clear.
    pub(super) fn stored_names<'a>(
        &self,
        p: &'a str,
        s: &'a str,
        k: &'a str,
    ) -> Result<[Cow<'a, str>; 3], InvalidName> {
        let Some(nc) = &self.names else {
            return Ok([Cow::Borrowed(p), Cow::Borrowed(s), Cow::Borrowed(k)]);
        };
        let mut nc = nc.lock();
        let (sp, ss) = encrypt_pair(&mut nc, p, s)?;
        let sk = nc.encrypt(
            Field::Key {
                primary: p,
                secondary: s,
            },
            k,
        )?;
        Ok([Cow::Owned(sp), Cow::Owned(ss), Cow::Owned(sk)])
    }

    /// The stored names of a (primary, secondary) pair, for a listing.
    pub(crate) fn stored_namespace(&self, p: &str, s: &str) -> Result<(String, String), ListError> {
        names::check_namespace(p, s).map_err(ListError::InvalidName)?;
        match &self.names {
            None => Ok((p.to_owned(), s.to_owned())),
            Some(nc) => encrypt_pair(&mut nc.lock(), p, s).map_err(ListError::InvalidName),
        }
    }

    /// Decodes the stored keys listed under the plaintext pair `(p, s)` (stored `(sp, ss)`).
    pub(crate) fn decode_keys(
        &self,
        p: &str,
        s: &str,
        sp: &str,
        ss: &str,
        keys: Vec<String>,
    ) -> Result<Vec<String>, ListError> {
        let Some(nc) = &self.names else {
            return Ok(keys);
        };
        nc.decode_keys(p, s, keys)
            .map_err(|stored_key| ListError::UndecodableName {
                stored_primary_namespace: sp.to_owned(),
                stored_secondary_namespace: ss.to_owned(),
                stored_key,
            })
    }

    /// Decodes every stored triple of `list_all_keys` (the reserved namespace left out). A
    /// stored pair is decoded once for the run of triples that share it (an inner store lists
    /// a namespace's keys together).
    pub(crate) fn decode_all(
        &self,
        mut all: Vec<(String, String, String)>,
    ) -> Result<Vec<(String, String, String)>, ListError> {
        all.retain(|(p, _, _)| !names::is_reserved(p));
        let Some(nc) = &self.names else {
            return Ok(all);
        };
        // The last stored pair decoded, and its plaintext.
        let mut last: Option<(String, String, String, String)> = None;
        all.into_iter()
            .map(|(sp, ss, sk)| {
                let mut nc = nc.lock();
                let same = matches!(&last, Some((lsp, lss, _, _)) if *lsp == sp && *lss == ss);
                if !same {
                    last = decrypt_pair(&mut nc, &sp, &ss)
                        .map(|(p, s)| (sp.clone(), ss.clone(), p, s));
                }
                let triple = last.as_ref().and_then(|(_, _, p, s)| {
                    let k = nc
                        .decrypt(
                            Field::Key {
                                primary: p,
                                secondary: s,
                            },
                            &sk,
                        )
                        .ok()?;
                    Some((p.clone(), s.clone(), k))
                });
                triple.ok_or(ListError::UndecodableName {
                    stored_primary_namespace: sp,
                    stored_secondary_namespace: ss,
                    stored_key: sk,
                })
            })
            .collect()
    }
}
