//! Data-key rotation, re-encryption and retirement, and detaching the anchor: the header
//! changes an open store makes (docs/FORMAT.md, "Data-key rotation").

use super::*;

/// The state block of the next header, with the same version limit.
pub(crate) fn next_state(c: &Counter) -> Result<State, RotateError> {
    header_state(&c.header, c.header.state.version_limit)
        .ok_or(RotateError::Header(HeaderError::CounterExhausted))
}

/// How long `retire_old_keys` waits for writes sealed under an old key.
const RETIRE_WAIT: Duration = Duration::from_secs(30);

impl Engine {
    /// Clears the header's `anchored` bit (one header write) and stops using the anchor; its
    /// values are left where they are.
    pub(crate) fn detach<IO: Io>(&self, io: &IO) -> Result<(), RotateError> {
        if self.read_only {
            return Err(RotateError::ReadOnly);
        }
        if !self.anchored() {
            return Ok(());
        }
        {
            let mut c = self.counter();
            let mut state = next_state(&c)?;
            state.options &= !f2::OPT_ANCHORED;
            let ring = self.ring();
            self.rewrite_header(io, &mut c, state, &ring.secrets)
                .map_err(RotateError::Header)?;
        }
        self.drop_anchor();
        Ok(())
    }

    /// The secrets and state of a rotation: a new random data key appended and made current.
    pub(crate) fn rotated(&self, c: &Counter) -> Result<(State, Secrets, u32), RotateError> {
        let old = &c.header.state;
        let current = old.current_key_id().ok_or(RotateError::KeyringFull)?;
        if old.key_ids.len() >= f2::MAX_KEYS {
            return Err(RotateError::KeyringFull);
        }
        let new_id = current.checked_add(1).ok_or(RotateError::KeyringFull)?;
        let mut key = Zeroizing::new([0u8; DATA_KEY_LEN]);
        self.rng
            .fill(&mut key[..])
            .map_err(|e| RotateError::Header(HeaderError::Random(e)))?;
        let mut state = next_state(c)?;
        state.key_ids.push(new_id);
        let ring = self.ring();
        let mut data_keys = ring.secrets.data_keys.clone();
        data_keys.push(key);
        let secrets = Secrets {
            data_keys,
            anchor_key: ring.secrets.anchor_key.clone(),
            name_key: ring.secrets.name_key.clone(),
        };
        Ok((state, secrets, new_id))
    }

    /// New records are sealed under the key `new_id` of `secrets` from now on (after the header
    /// holding it was written).
    pub(crate) fn use_keyring(&self, secrets: Secrets, new_id: u32) {
        let mut ring = self.ring_mut();
        if let Some(k) = secrets.data_keys.last() {
            ring.keys.push((new_id, Cipher::new(k)));
        }
        ring.current = new_id;
        ring.secrets = secrets;
    }

    /// Adds a new data key to the keyring and makes it current, in one header write.
    pub(crate) fn rotate<IO: Io>(&self, io: &IO) -> Result<u32, RotateError> {
        if self.read_only {
            return Err(RotateError::ReadOnly);
        }
        let mut c = self.counter();
        let (state, secrets, new_id) = self.rotated(&c)?;
        self.rewrite_header(io, &mut c, state, &secrets)
            .map_err(RotateError::Header)?;
        self.use_keyring(secrets, new_id);
        drop(c);
        self.header_written()
            .map_err(|e| RotateError::Header(HeaderError::Anchor(e)))?;
        Ok(new_id)
    }

    /// Rewrites every record not sealed under the current key (a new version, the current
    /// key, a fresh nonce), never over a write or remove of the key made during the pass.
    pub(crate) fn reencrypt<IO: Io>(
        self: &Arc<Self>,
        io: &IO,
        all: Vec<(String, String, String)>,
        progress: &mut dyn FnMut(ReencryptProgress),
    ) -> Result<ReencryptProgress, RotateError> {
        if self.read_only {
            return Err(RotateError::ReadOnly);
        }
        let names = self
            .decode_all(all)
            .map_err(|e| RotateError::List(e.into()))?;
        let mut done = ReencryptProgress {
            total: names.len(),
            done: 0,
            rewritten: 0,
        };
        for key in names {
            {
                // Synchronous writes of the key wait; asynchronous ones are checked below.
                let _key = self.stripe(&key.0, &key.1, &key.2);
                let quiet = self.fresh().reencrypt_read(&key);
                match complete_io(self.read_keyed(io, &key.0, &key.1, &key.2)) {
                    // Removed since the listing: nothing to re-encrypt.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(RotateError::Read(e)),
                    Ok((mut value, key_id, _)) => {
                        if key_id == self.ring().current {
                            value.zeroize();
                        } else if let Some(fut) = self.write_back(io, &key, quiet, value) {
                            complete_io(fut).map_err(RotateError::Write)?;
                            done.rewritten += 1;
                        }
                    }
                }
            }
            done.done += 1;
            progress(done);
        }
        Ok(done)
    }

    /// Retirement: waits for writes sealed under other keys than the current one, checks that
    /// every record is under the current key, then reduces the keyring to it in one header
    /// write.
    pub(crate) fn retire<IO: Io>(
        self: &Arc<Self>,
        io: &IO,
        list_all: &dyn Fn() -> Result<Vec<(String, String, String)>, io::Error>,
    ) -> Result<(), RotateError> {
        if self.read_only {
            return Err(RotateError::ReadOnly);
        }
        let current = self.ring().current;
        let started = Instant::now();
        loop {
            let old = self.fresh().sealed_under_other(current);
            if !old {
                break;
            }
            if started.elapsed() > RETIRE_WAIT {
                return Err(RotateError::WritesInFlight);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let all = list_all().map_err(RotateError::List)?;
        let names = self
            .decode_all(all)
            .map_err(|e| RotateError::List(e.into()))?;
        for (p, s, k) in names {
            match complete_io(self.read_keyed(io, &p, &s, &k)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(RotateError::Read(e)),
                Ok((mut value, key_id, _)) => {
                    value.zeroize();
                    if key_id != current {
                        return Err(RotateError::NotReencrypted {
                            primary_namespace: p,
                            secondary_namespace: s,
                            key: k,
                            key_id,
                        });
                    }
                }
            }
        }
        let mut c = self.counter();
        let (secrets, mut state) = {
            let ring = self.ring();
            if ring.current != current {
                // Rotated during the pass: its records may be under the previous key.
                return Err(RotateError::Header(HeaderError::Changed));
            }
            let at = c
                .header
                .state
                .key_ids
                .iter()
                .position(|id| *id == current)
                .ok_or(RotateError::Header(HeaderError::SealFailed))?;
            let key = ring
                .secrets
                .data_keys
                .get(at)
                .ok_or(RotateError::Header(HeaderError::SealFailed))?
                .clone();
            let secrets = Secrets {
                data_keys: vec![key],
                anchor_key: ring.secrets.anchor_key.clone(),
                name_key: ring.secrets.name_key.clone(),
            };
            let state = next_state(&c)?;
            (secrets, state)
        };
        state.key_ids = vec![current];
        self.rewrite_header(io, &mut c, state, &secrets)
            .map_err(RotateError::Header)?;
        {
            let mut ring = self.ring_mut();
            ring.keys.retain(|(id, _)| *id == current);
            ring.secrets = secrets;
        }
        drop(c);
        self.header_written()
            .map_err(|e| RotateError::Header(HeaderError::Anchor(e)))
    }

    /// The write back of a re-encryption, if the key was not touched since the pass read it.
    pub(super) fn write_back<IO: Io>(
        self: &Arc<Self>,
        io: &IO,
        key: &Key,
        quiet: bool,
        value: Vec<u8>,
    ) -> Option<impl Future<Output = Result<(), io::Error>> + Send + 'static> {
        let issued = (|| {
            let [sp, ss, sk] = self
                .stored_names(&key.0, &key.1, &key.2)
                .map_err(WriteError::InvalidName)?;
            let Some((guard, rec)) =
                self.issue_write((&key.0, &key.1, &key.2), value, Some(quiet))?
            else {
                return Ok(None);
            };
            Ok::<_, WriteError>(Some((guard, io.write(&sp, &ss, &sk, rec))))
        })();
        match issued {
            Ok(None) => None,
            Ok(Some(issued)) => Some(Self::complete_write(Ok(issued))),
            Err(e) => Some(Self::complete_write(Err(e))),
        }
    }
}
