//! `passwd STORE`: change the passphrase (the header only, in one write).

use encrypted_kvstore::Credential;
use std::path::Path;

use super::{current_passphrase, kdf_params, new_passphrase};
use crate::fail::{rotate_error_anchored, Failure};
use crate::location::Location;
use crate::pass::NEW_PASSPHRASE_ENV;
use crate::store::{self, AnchorDir};
use crate::{KdfOpts, PassOpts};

pub(super) fn run(
    dir: &Location,
    pass: &PassOpts,
    new_file: Option<&Path>,
    kdf: &KdfOpts,
    anchor: Option<&Path>,
) -> Result<(), Failure> {
    let params = kdf_params(kdf)?;
    let (kind, _) = store::check_encrypted(dir)?;
    if let Some(a) = anchor {
        store::check_anchor(a, &[dir], AnchorDir::Existing)?;
    }
    let old = current_passphrase(pass, dir)?;
    let store = store::open_encrypted(dir, kind, &old, true, anchor)?;
    let new = new_passphrase(new_file, "--new-passphrase-file", NEW_PASSPHRASE_ENV, dir)?;
    store
        .change_credential(Credential::passphrase_with(&new, params))
        .map_err(|e| rotate_error_anchored(dir, anchor, e))?;
    drop(store);
    // Prove the new header opens with the new passphrase before saying so.
    store::open_encrypted(dir, kind, &new, false, anchor)?;
    println!(
        "changed the passphrase of {} (Argon2id: {} KiB, {} passes, {} lanes); values were not \
         rewritten, so backups of the old header still open with the old passphrase",
        dir.display(),
        params.memory_kib(),
        params.iterations(),
        params.parallelism()
    );
    Ok(())
}
