//! `anchor accept STORE --anchor DIR` and `anchor detach STORE --anchor DIR`: attach a
//! freshness anchor to a store (or accept the store's current state again after the anchor was
//! lost), and stop watching a store with its anchor (docs/FORMAT.md, "The freshness anchor").

use std::path::Path;

use encrypted_kvstore::{Credential, OpenOptions, RESERVED_PRIMARY_NAMESPACE};

use super::{current_passphrase, list_sorted};
use crate::fail::{open_error_anchored, rotate_error_anchored, Failure};
use crate::location::Location;
use crate::store::{self, AnchorDir, AnyStore};
use crate::PassOpts;

pub(super) fn accept(dir: &Location, anchor: &Path, pass: &PassOpts) -> Result<(), Failure> {
    let (kind, info) = store::check_encrypted(dir)?;
    store::check_anchor(anchor, &[dir], AnchorDir::MayBeMissing)?;
    let pw = current_passphrase(pass, dir)?;
    eprintln!(
        "accepting the current state of {} as fresh: every value must authenticate; whatever \
         the store holds now is trusted from here on (an older copy put back before now is not \
         detected)",
        dir.display()
    );
    store::create_anchor_dir(anchor)?;
    let inner = AnyStore::open(dir, kind, true, crate::fail::Kind::NotEncrypted)?;
    // Both kinds of store list every key (the SQLite one through its table), so every value
    // is read and entered in the anchor: none waits for its next write to be watched.
    let enc = store::with_anchor(OpenOptions::new(), Some(anchor))
        .accept_current_state(inner, Credential::passphrase(&pw))
        .map_err(|e| open_error_anchored(dir, Some(anchor), e))?;
    let values = list_sorted(&enc, dir)?
        .iter()
        .filter(|k| k.0 != RESERVED_PRIMARY_NAMESPACE)
        .count();
    let header_seq = enc.info().header_seq;
    enc.into_inner().close()?;
    let was = if info.anchored {
        "re-accepted (the anchor's earlier records of it were replaced)"
    } else {
        "attached"
    };
    println!(
        "accepted the current state of {} as fresh: {values} values authenticated and entered \
         in the anchor in {} (header seq {header_seq}); store {was}. From now on open it with \
         --anchor {}",
        dir.display(),
        anchor.display(),
        anchor.display()
    );
    Ok(())
}

pub(super) fn detach(dir: &Location, anchor: &Path, pass: &PassOpts) -> Result<(), Failure> {
    let (kind, _) = store::check_encrypted(dir)?;
    store::check_anchor(anchor, &[dir], AnchorDir::Existing)?;
    let pw = current_passphrase(pass, dir)?;
    // Opened with its anchor, so a rolled-back store is refused before anything is written.
    let enc = store::open_encrypted(dir, kind, &pw, true, Some(anchor))?;
    enc.detach_anchor()
        .map_err(|e| rotate_error_anchored(dir, Some(anchor), e))?;
    enc.into_inner().close()?;
    println!(
        "detached {} from its freshness anchor: it opens without --anchor again, and a rollback \
         of the store across restarts is no longer detected; the anchor's records of it are left \
         in {}",
        dir.display(),
        anchor.display()
    );
    Ok(())
}
