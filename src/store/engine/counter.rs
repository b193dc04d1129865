//! Versions and the header: the block reserved at open, handed out one by one, and the
//! read-check-write of every later header change (docs/FORMAT.md, "Versions", "Writing the
//! header").

use super::*;

#[cfg(all(test, feature = "lightning-0-2"))]
mod tests;

/// Versions reserved by a writable open.
pub(crate) const BLOCK: u64 = 1 << 32;

/// The version counter and the header it is persisted in.
pub(crate) struct Counter {
    next: u64,
    /// The end of the block reserved at open.
    limit: u64,
    /// The header last read or written.
    pub(crate) header: HeaderV2,
    /// The key its secrets are sealed under.
    pub(crate) hk: Zeroizing<[u8; 32]>,
    /// Set when the stored header was found changed, or a header write failed: no header is
    /// written again.
    poisoned: bool,
}

impl Counter {
    /// A counter handing out `next..limit`, over `header` sealed with `hk`.
    pub(crate) fn new(next: u64, limit: u64, header: HeaderV2, hk: Zeroizing<[u8; 32]>) -> Self {
        Counter {
            next,
            limit,
            header,
            hk,
            poisoned: false,
        }
    }

    /// The next version this instance would hand out.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// Takes one version; `None` when the block reserved at open is used up.
    pub(crate) fn take(&mut self) -> Option<u64> {
        if self.next >= self.limit {
            return None;
        }
        let v = self.next;
        self.next += 1;
        Some(v)
    }
}

/// The state block of the header written after `h`: `header_seq + 1`, `version_limit` given;
/// `None` when `header_seq` cannot grow.
pub(crate) fn header_state(h: &HeaderV2, version_limit: u64) -> Option<State> {
    Some(State {
        options: h.state.options,
        header_seq: h.state.header_seq.checked_add(1)?,
        version_limit,
        key_ids: h.state.key_ids.clone(),
    })
}

impl Engine {
    /// The read-check-write of a header change made by a caller holding the counter lock
    /// (synchronous inner store): refuses when the stored header is not the one last read or
    /// written, or after a header write failed.
    pub(crate) fn rewrite_header<IO: Io>(
        &self,
        io: &IO,
        c: &mut Counter,
        state: State,
        secrets: &Secrets,
    ) -> Result<(), HeaderError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(HeaderError::Random)?;
        let h = c
            .header
            .with_state(&c.hk, state, nonce, secrets)
            .map_err(|_| HeaderError::SealFailed)?;
        self.replace_header(io, c, h, None)
    }

    /// Writes `h` in place of the header `c` holds (read-check-write), and `hk` with it when
    /// the credential changed.
    pub(crate) fn replace_header<IO: Io>(
        &self,
        io: &IO,
        c: &mut Counter,
        h: HeaderV2,
        hk: Option<Zeroizing<[u8; 32]>>,
    ) -> Result<(), HeaderError> {
        if self.read_only {
            return Err(HeaderError::ReadOnly);
        }
        if c.poisoned {
            return Err(HeaderError::Changed);
        }
        let stored = complete_io(io.read(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
        ))
        .map_err(HeaderError::Io)?;
        if stored != c.header.to_bytes() {
            c.poisoned = true;
            return Err(HeaderError::Changed);
        }
        if let Err(e) = complete_io(io.write(
            RESERVED_PRIMARY_NAMESPACE,
            HEADER_SECONDARY_NAMESPACE,
            HEADER_KEY,
            h.to_bytes(),
        )) {
            // It may have landed: no header is written over it from this instance.
            c.poisoned = true;
            return Err(HeaderError::Io(e));
        }
        c.header = h;
        if let Some(hk) = hk {
            c.hk = hk;
        }
        Ok(())
    }
}
