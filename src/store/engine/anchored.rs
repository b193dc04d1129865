//! The freshness anchor of an open store: attaching the loaded anchor, keeping it in step
//! with the store, listings judged against M, and accepting the current state into it
//! (docs/FORMAT.md, "The freshness anchor", "Updates", "Accepting the current state").

use super::*;
use crate::anchor;

/// How far `accept_current_state` moves the counter past the highest version it can see
/// (docs/FORMAT.md, "Accepting the current state").
const ACCEPT_JUMP: u64 = 1 << 40;

fn fill<const N: usize>(rng: &dyn crate::rng::RandomSource) -> Result<[u8; N], OpenError> {
    let mut b = [0u8; N];
    rng.fill(&mut b).map_err(OpenError::Random)?;
    Ok(b)
}

impl Engine {
    /// The anchor key of this store, for `anchor`.
    pub(crate) fn anchor_key(&self) -> AnchorKey {
        AnchorKey::new(
            &self.ring().secrets.anchor_key,
            self.store_id,
            Arc::clone(&self.rng),
        )
    }

    /// Attaches an anchor whose `meta` and entries were loaded ("Opening with an anchor",
    /// step 4). Before the store is shared.
    pub(crate) fn attach_anchor(
        &mut self,
        anchor: Arc<dyn FreshnessAnchor>,
        meta: Meta,
        entries: Vec<(Key, u64)>,
    ) {
        let fresh = self.fresh.get_mut().unwrap_or_else(|p| p.into_inner());
        fresh.load(entries, meta.accept_mark);
        let key = self.anchor_key();
        self.anchor_attached = true;
        *self.anchor.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(AnchorState {
            anchor,
            key,
            ns: crate::anchor::store_hex(&self.store_id),
            meta,
            meta_pending: false,
            pending: HashMap::new(),
        });
    }

    /// Stops using the anchor (after the header's `anchored` bit was cleared).
    pub(crate) fn drop_anchor(&self) {
        let mut a = lock(&self.anchor);
        *a = None;
        self.fresh().unanchor();
    }

    /// Whether the store is anchored.
    pub(crate) fn anchored(&self) -> bool {
        lock(&self.anchor).is_some()
    }

    /// After a header write: the anchor's `meta` gets the new `header_seq` (and limit). If that
    /// write fails the change is pending: every later write and remove retries it first.
    pub(crate) fn header_written(&self) -> Result<(), io::Error> {
        let mut a = lock(&self.anchor);
        let Some(st) = a.as_mut() else {
            return Ok(());
        };
        {
            let c = self.counter();
            st.meta.header_seq = c.header.state.header_seq;
            st.meta.version_limit = st.meta.version_limit.max(c.header.state.version_limit);
        }
        st.meta_pending = true;
        st.flush()
    }

    /// A read-only anchored instance, before an alarm: `M[k]` replaced by what the anchor holds
    /// now. `false` when there is nothing to re-read.
    pub(super) fn reload(&self, key: &impl names::Triple) -> Result<bool, io::Error> {
        let Some(entry) = self.reread_entry(key)? else {
            return Ok(false);
        };
        self.fresh().reload(key, entry);
        Ok(true)
    }

    /// Before serving the record of version `v` of `key`: a read-only anchored instance
    /// re-reads the key's entry; `false` if there is none (the key is absent).
    pub(super) fn held_before_serving(
        &self,
        key: &impl names::Triple,
        v: u64,
    ) -> Result<bool, io::Error> {
        let Some(entry) = self.reread_entry(key)? else {
            return Ok(true);
        };
        Ok(self.fresh().reread_before_serving(key, entry, v))
    }

    /// A read-only anchored instance: the key's entry in the anchor now (`Some(None)`: there is
    /// none). `None` for any other instance (nothing to re-read).
    fn reread_entry(&self, key: &impl names::Triple) -> Result<Option<Option<u64>>, io::Error> {
        if !self.read_only {
            return Ok(None);
        }
        let a = lock(&self.anchor);
        let Some(st) = a.as_ref() else {
            return Ok(None);
        };
        st.read_entry(&owned_key(key)).map(Some)
    }

    /// Before the inner `list_all_keys`: what M holds, for [`list_all_done`](Self::list_all_done).
    pub(crate) fn list_all_issued(&self) -> ListTicket {
        self.fresh().list_issued(None)
    }

    /// `list_all_keys` returned `all`: decodes it, checks that no key M held when the listing
    /// was issued is missing from it, and, anchored, leaves out keys that are absent.
    pub(crate) fn list_all_done(
        &self,
        t: ListTicket,
        all: Vec<(String, String, String)>,
    ) -> Result<Vec<(String, String, String)>, io::Error> {
        let all = self.decode_all(all)?;
        self.checked(&t, None, all, true)
    }

    /// The freshness of a listing (`listed`, plaintext names, of the pair `scope` or, `None`,
    /// of every pair): `ListError::Missing` for a key held when it was issued and still held
    /// with the same version that is not in it (when `check`), and, anchored, only the keys
    /// that are not absent.
    pub(super) fn checked(
        &self,
        t: &ListTicket,
        scope: Option<(&str, &str)>,
        mut listed: Vec<Key>,
        check: bool,
    ) -> Result<Vec<Key>, io::Error> {
        if check {
            self.check_missing(t, scope, &Listed::Keys(&listed))?;
        }
        let mut kept = Vec::with_capacity(listed.len());
        for key in listed.drain(..) {
            let keep = self.fresh().keep_listed(t, &key);
            if keep || (self.reload(&key)? && self.fresh().get(&key).is_some()) {
                kept.push(key);
            }
        }
        Ok(kept)
    }

    /// `ListError::Missing` for the first key of the pair `scope` (`None`: of every pair) held
    /// when the listing `t` was issued, and still held with the same version, that the
    /// listing (`listed`) does not hold.
    pub(super) fn check_missing(
        &self,
        t: &ListTicket,
        scope: Option<(&str, &str)>,
        listed: &Listed<'_>,
    ) -> Result<(), io::Error> {
        // A read-only instance without an anchor cannot tell the writer's remove from a
        // deletion: a key it read that is gone is absent, as on `read`.
        if !self.anchored() && self.read_only {
            return Ok(());
        }
        loop {
            let missing = self.fresh().list_missing(t, scope, listed);
            let Some((key, v)) = missing else {
                return Ok(());
            };
            // A read-only instance asks the anchor again first: the writer removes an entry
            // before it removes the key.
            if self.reload(&key)? && self.fresh().get(&key) != Some(v) {
                continue;
            }
            return Err(ListError::Missing {
                primary_namespace: key.0,
                secondary_namespace: key.1,
                key: key.2,
                expected_version: v,
            }
            .into());
        }
    }

    /// The keys of one page of `list_paginated`, decoded and, anchored, without absent keys.
    #[cfg(feature = "lightning-0-3")]
    pub(crate) fn page_keys(
        &self,
        p: &str,
        s: &str,
        sp: &str,
        ss: &str,
        keys: Vec<String>,
    ) -> Result<Vec<String>, io::Error> {
        let keys = self.decode_keys(p, s, sp, ss, keys)?;
        let t = self.fresh().list_issued(Some((p, s)));
        let triples = keys.into_iter().map(|k| key_of(p, s, &k)).collect();
        Ok(self
            .checked(&t, Some((p, s)), triples, false)?
            .into_iter()
            .map(|(_, _, k)| k)
            .collect())
    }

    /// Anchored: writes the pending anchor changes (refusing the operation if that fails).
    pub(super) fn flush(st: &mut Option<AnchorState>) -> Result<(), io::Error> {
        match st.as_mut() {
            Some(st) => st.flush(),
            None => Ok(()),
        }
    }

    /// "Accepting the current state", steps 2 to 7 (docs/FORMAT.md), over a header unlocked
    /// from `bytes` and the stored names `stored` (every key of the store): the store, open
    /// and anchored.
    pub(crate) fn accept<IO: Io>(
        io: &IO,
        bytes: &[u8],
        (header, hk, secrets): (HeaderV2, Zeroizing<[u8; 32]>, Secrets),
        a: Arc<dyn FreshnessAnchor>,
        rng: SharedRandom,
        mut stored: Vec<(String, String, String)>,
        max_kdf_memory_kib: u32,
    ) -> Result<Arc<Engine>, OpenError> {
        let store_id = header.store_id;
        let ns = anchor::store_hex(&store_id);
        let key = AnchorKey::new(&secrets.anchor_key, store_id, Arc::clone(&rng));
        // Step 2: every value, through the read path of a fresh read-only instance (nothing
        // held: every authentic record is served).
        let limit = header.state.version_limit;
        let reader = Arc::new(Engine::new(
            header.clone(),
            hk.clone(),
            secrets.clone(),
            Arc::clone(&rng),
            true,
            limit,
            limit,
        )?);
        crate::store::without_reserved(&mut stored);
        let plain = reader
            .decode_all(stored)
            .map_err(|e| OpenError::Io(e.into()))?;
        let mut found = Vec::with_capacity(plain.len());
        let mut top = 0u64;
        for (p, s, k) in plain {
            match reader.read_value(io, &p, &s, &k) {
                Ok((mut value, _, version)) => {
                    zeroize::Zeroize::zeroize(&mut value);
                    top = top.max(version);
                    found.push(((p, s, k), version));
                }
                // Removed since the listing: nothing to accept.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(OpenError::Io(e)),
            }
        }
        // Step 3: the accept mark above every version the abandoned timeline could have used,
        // and a new epoch.
        let old = anchor::read_meta(&*a, &ns, &key).ok().flatten();
        let mark = limit
            .max(old.map_or(0, |m| m.version_limit))
            .max(top.saturating_add(1))
            .checked_add(ACCEPT_JUMP)
            .ok_or(OpenError::CounterExhausted)?;
        let new_limit = mark.checked_add(BLOCK).ok_or(OpenError::CounterExhausted)?;
        let mut epoch = u64::from_le_bytes(fill::<8>(&*rng)?);
        if old.is_some_and(|m| m.epoch == epoch) {
            epoch = epoch.wrapping_add(1);
        }
        let before = a.list(&ns).map_err(OpenError::AnchorIo)?;
        // Step 4: one entry per key read.
        for (k, version) in &found {
            let (name, value) = key
                .seal_entry(epoch, k, *version)
                .map_err(OpenError::AnchorIo)?;
            a.write(&ns, &name, &value).map_err(OpenError::AnchorIo)?;
        }
        // Step 5: the header (anchored, its limit above the mark), read-check-write.
        let mut state = header_state(&header, new_limit).ok_or(OpenError::CounterExhausted)?;
        state.options |= f2::OPT_ANCHORED;
        let nonce = fill::<NONCE_LEN>(&*rng)?;
        let h = header
            .with_state(&hk, state, nonce, &secrets)
            .map_err(|_| OpenError::KeyWrapFailed)?;
        if crate::io::complete(crate::io::read_header(io))?.as_deref() != Some(bytes) {
            return Err(OpenError::HeaderChanged);
        }
        crate::io::complete(crate::io::write_header(io, h.to_bytes()))?;
        // Step 6, the commit point.
        let meta = Meta {
            epoch,
            header_seq: h.state.header_seq,
            version_limit: new_limit,
            accept_mark: mark,
        };
        let sealed = key.seal_meta(&meta).map_err(OpenError::AnchorIo)?;
        a.write(&ns, AnchorState::meta_name(), &sealed)
            .map_err(OpenError::AnchorIo)?;
        // Step 7, best effort: values of other epochs are ignored when loading.
        for name in before.iter().filter(|n| *n != AnchorState::meta_name()) {
            let _ = a.remove(&ns, name);
        }
        let mut v2 = Engine::new(h, hk, secrets, Arc::clone(&rng), false, mark, new_limit)?;
        v2.max_kdf_memory_kib = max_kdf_memory_kib;
        v2.attach_anchor(a, meta, found);
        Ok(Arc::new(v2))
    }
}
