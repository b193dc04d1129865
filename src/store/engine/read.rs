//! The read path: a read issued (its ticket taken, the inner read made, and for a read-only
//! instance the header read beside it), then what it found opened and judged by the freshness
//! rule (docs/FORMAT.md, "Reading a record", "The rule").

use super::*;
use crate::names::Triple;

impl Engine {
    /// Reading steps 4 to 9 of a record: the version, the value, and the id of the data key
    /// that sealed it, or `None`.
    fn open(&self, p: &str, s: &str, k: &str, rec: Vec<u8>) -> Option<Opened> {
        let ring = self.ring();
        let (key_id, version) = f2::record_prefix(&rec)?;
        if version == 0 {
            return None;
        }
        let ad = f2::RecordAd::new(&self.store_id, key_id, version, p, s, k)?;
        let value = f2::open_record(ring.cipher(key_id)?, &ad, rec, self.padding).ok()?;
        Some((version, value, key_id))
    }

    /// Judges a read that returned `r` (issued with ticket `t`): the value, or the error.
    fn finish_read(
        &self,
        t: ReadTicket,
        r: Result<Vec<u8>, io::Error>,
    ) -> Result<ReadValue, io::Error> {
        let key = t.key();
        let (p, s, k) = key.names();
        let (opened, not_found) = match r {
            Ok(rec) => match self.open(p, s, k, rec) {
                Some(o) => (Some(o), None),
                // Anchored, a key that is absent (held at neither moment, nothing in flight) is
                // absent whatever lingers there: a record under a retired key, or junk.
                None if self.absent(&t)? => {
                    return Err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "not found: the key is absent for this store",
                    ))
                }
                None => {
                    return Err(ReadError::AuthenticationFailed {
                        primary_namespace: p.to_owned(),
                        secondary_namespace: s.to_owned(),
                        key: k.to_owned(),
                    }
                    .into())
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => (None, Some(e)),
            Err(e) => return Err(e),
        };
        let found = opened.as_ref().map(|o| o.0);
        let mut verdict = self.fresh().read_done(&t, found);
        if verdict != Verdict::Serve {
            if self.reload(key)? {
                // Judged again against both moments, with the entry the writer holds now: a
                // record the writer replaced since this read was issued is not a rollback, nor
                // a gap between its remove and its write a deletion.
                verdict = self.fresh().read_done(&t, found);
            }
        } else if let Some(v) = found.filter(|_| self.read_only) {
            // A read-only anchored instance re-reads the entry of a record it would serve: the
            // writer removes a key's entry before the key, so without one the key is absent (a
            // record put back after the writer's remove is not served).
            if !self.held_before_serving(key, v)? {
                verdict = Verdict::Absent;
            }
        }
        let refused = match verdict {
            Verdict::Serve => {
                return match (opened, not_found) {
                    (Some((version, value, key_id)), _) => Ok((value, key_id, version)),
                    (None, Some(e)) => Err(e),
                    (None, None) => Err(io::Error::from(io::ErrorKind::NotFound)),
                }
            }
            Verdict::Absent => match (found, not_found) {
                (Some(found), _) => ReadError::Removed {
                    primary_namespace: p.to_owned(),
                    secondary_namespace: s.to_owned(),
                    key: k.to_owned(),
                    found,
                },
                (None, Some(e)) => return Err(e),
                (None, None) => return Err(io::Error::from(io::ErrorKind::NotFound)),
            },
            Verdict::Rollback { expected_at_least } => ReadError::Rollback {
                primary_namespace: p.to_owned(),
                secondary_namespace: s.to_owned(),
                key: k.to_owned(),
                found: found.unwrap_or(0),
                expected_at_least,
            },
            Verdict::Missing { expected_version } => ReadError::Missing {
                primary_namespace: p.to_owned(),
                secondary_namespace: s.to_owned(),
                key: k.to_owned(),
                expected_version,
            },
        };
        if let Some((_, mut value, _)) = opened {
            value.zeroize();
        }
        Err(refused.into())
    }

    /// `read`: the inner read is made now; the future judges and opens what it returns.
    pub(super) fn read_keyed<IO: Io>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
    ) -> impl Future<Output = Result<ReadValue, io::Error>> + Send + 'static {
        let issued = (|| {
            names::check_key(p, s, k).map_err(ReadError::InvalidName)?;
            let [sp, ss, sk] = self.stored_names(p, s, k).map_err(ReadError::InvalidName)?;
            let ticket = self.fresh().read_issued((p, s, k));
            let record = io.read(&sp, &ss, &sk);
            // A read-only instance also reads the header: the writer may have rotated its data
            // key since this instance opened (docs/FORMAT.md, "Two instances").
            let header = self.read_only.then(|| {
                io.read(
                    RESERVED_PRIMARY_NAMESPACE,
                    HEADER_SECONDARY_NAMESPACE,
                    HEADER_KEY,
                )
            });
            Ok::<_, ReadError>((ticket, record, header))
        })();
        let this = Arc::clone(self);
        async move {
            let (ticket, record, header) = issued?;
            let r = record.await;
            if let (Some(header), Ok(rec)) = (header, &r) {
                let unknown =
                    f2::record_prefix(rec).is_some_and(|(id, _)| this.ring().cipher(id).is_none());
                if unknown {
                    if let Ok(bytes) = header.await {
                        this.refresh_keyring(&bytes);
                    }
                }
            }
            this.finish_read(ticket, r)
        }
    }

    /// Anchored: whether `key` was absent when the read `t` was issued and is now (not in M,
    /// nothing in flight). A read-only instance asks the anchor first (the writer may have
    /// written the key since); if that anchor read fails, so does this, with its error.
    fn absent(&self, t: &ReadTicket) -> Result<bool, io::Error> {
        let key = t.key();
        if !self.fresh().is_anchored() || t.held().is_some() || t.was_in_flight() {
            return Ok(false);
        }
        self.reload(key)?;
        Ok(self.fresh().seen_now(key) == crate::freshness::Seen::default())
    }

    /// A read-only instance found a record under a key it does not hold: if the header the
    /// writer wrote since opens with this instance's header key (a rotation or retirement, not
    /// a credential change) and is of the same store, its keyring replaces this one.
    fn refresh_keyring(&self, bytes: &[u8]) {
        let mut c = self.counter();
        let Ok(h) = HeaderV2::parse(bytes) else {
            return;
        };
        if h.store_id != c.header.store_id
            || h.state.options != c.header.state.options
            || h.state.header_seq <= c.header.state.header_seq
        {
            return;
        }
        let Some(secrets) = h.open_secrets(&c.hk) else {
            return;
        };
        if let Ok(ring) = Ring::new(&h.state, secrets) {
            *self.ring_mut() = ring;
            c.header = h;
        }
    }

    /// Reads a key through the read path, with its key id and version, to its end (synchronous
    /// inner store).
    pub(crate) fn read_value<IO: Io>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
    ) -> Result<ReadValue, io::Error> {
        complete_io(self.read_keyed(io, p, s, k))
    }

    /// `read`: the value only.
    pub(crate) fn read<IO: Io>(
        self: &Arc<Self>,
        io: &IO,
        p: &str,
        s: &str,
        k: &str,
    ) -> impl Future<Output = Result<Vec<u8>, io::Error>> + Send + 'static {
        let fut = self.read_keyed(io, p, s, k);
        async move { fut.await.map(|(v, _, _)| v) }
    }
}
