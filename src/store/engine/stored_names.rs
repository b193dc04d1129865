//! Stored names: the names a store hands to its inner store (encrypted with the `names`
//! option) and their decoding (docs/FORMAT.md, "Encrypted names").

use super::*;

impl Engine {
    pub(super) fn stored_pair(&self, p: &str, s: &str) -> Result<(String, String), InvalidName> {
        match &self.names {
            None => Ok((p.to_owned(), s.to_owned())),
            Some(nc) => Ok((
                nc.encrypt(Field::Primary, p)?,
                nc.encrypt(Field::Secondary { primary: p }, s)?,
            )),
        }
    }

    pub(super) fn stored_names(
        &self,
        p: &str,
        s: &str,
        k: &str,
    ) -> Result<[String; 3], InvalidName> {
        let (sp, ss) = self.stored_pair(p, s)?;
        let sk = match &self.names {
            None => k.to_owned(),
            Some(nc) => nc.encrypt(
                Field::Key {
                    primary: p,
                    secondary: s,
                },
                k,
            )?,
        };
        Ok([sp, ss, sk])
    }

    /// The stored names of a (primary, secondary) pair, for a paginated listing.
    pub(crate) fn stored_namespace(&self, p: &str, s: &str) -> Result<(String, String), ListError> {
        names::check_namespace(p, s).map_err(ListError::InvalidName)?;
        self.stored_pair(p, s).map_err(ListError::InvalidName)
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
        keys.into_iter()
            .map(|sk| {
                nc.decrypt(
                    Field::Key {
                        primary: p,
                        secondary: s,
                    },
                    &sk,
                )
                .map_err(|_| ListError::UndecodableName {
                    stored_primary_namespace: sp.to_owned(),
                    stored_secondary_namespace: ss.to_owned(),
                    stored_key: sk.clone(),
                })
            })
            .collect()
    }

    /// Decodes every stored triple of `list_all_keys` (the reserved namespace left out).
    pub(crate) fn decode_all(
        &self,
        mut all: Vec<(String, String, String)>,
    ) -> Result<Vec<(String, String, String)>, ListError> {
        all.retain(|(p, _, _)| !names::is_reserved(p));
        if self.names.is_none() {
            return Ok(all);
        }
        all.into_iter()
            .map(|(sp, ss, sk)| {
                self.decode_triple(&sp, &ss, &sk)
                    .ok_or(ListError::UndecodableName {
                        stored_primary_namespace: sp,
                        stored_secondary_namespace: ss,
                        stored_key: sk,
                    })
            })
            .collect()
    }

    /// The plaintext names of a stored pair (`None`: not made by this store).
    pub(super) fn decode_pair(&self, sp: &str, ss: &str) -> Option<(String, String)> {
        let Some(nc) = &self.names else {
            return Some((sp.to_owned(), ss.to_owned()));
        };
        let p = nc.decrypt(Field::Primary, sp).ok()?;
        let s = nc.decrypt(Field::Secondary { primary: &p }, ss).ok()?;
        Some((p, s))
    }

    /// The plaintext names of stored names (`None`: not made by this store).
    pub(super) fn decode_triple(
        &self,
        sp: &str,
        ss: &str,
        sk: &str,
    ) -> Option<(String, String, String)> {
        let (p, s) = self.decode_pair(sp, ss)?;
        let k = match &self.names {
            None => sk.to_owned(),
            Some(nc) => nc
                .decrypt(
                    Field::Key {
                        primary: &p,
                        secondary: &s,
                    },
                    sk,
                )
                .ok()?,
        };
        Some((p, s, k))
    }
}
