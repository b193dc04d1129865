//! `passwd STORE`: change the passphrase (the header only, in one write).

use std::path::Path;

use super::{current_passphrase, kdf_params, new_passphrase};
use crate::fail::{open_error, Failure};
use crate::pass::NEW_PASSPHRASE_ENV;
use crate::store;
use crate::{KdfOpts, PassOpts};

pub(super) fn run(
    dir: &Path,
    pass: &PassOpts,
    new_file: Option<&Path>,
    kdf: &KdfOpts,
) -> Result<(), Failure> {
    let params = kdf_params(kdf)?;
    let (kind, _) = store::check_encrypted(dir)?;
    let old = current_passphrase(pass, dir)?;
    let store = store::open_encrypted(dir, kind, &old, true)?;
    let new = new_passphrase(new_file, "--new-passphrase-file", NEW_PASSPHRASE_ENV, dir)?;
    store
        .change_passphrase(&new, params)
        .map_err(|e| open_error(dir, e))?;
    drop(store);
    // Prove the new header opens with the new passphrase before saying so.
    store::open_encrypted(dir, kind, &new, false)?;
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
