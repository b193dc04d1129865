//! `init DIR`: a new, empty encrypted store (a `FilesystemStore` directory).

use std::path::Path;

use encrypted_kvstore::EncryptedStore;
use lightning_persister::fs_store::FilesystemStore;

use super::{create_options, describe_format, kdf_params, new_passphrase, NewOpts};
use crate::fail::{self, open_error_anchored, Failure, Kind};
use crate::layout;
use crate::location::Location;
use crate::pass::PASSPHRASE_ENV;
use crate::store::{self, AnchorDir};

pub(super) fn run(dir: &Path, new: &NewOpts<'_>) -> Result<(), Failure> {
    let NewOpts {
        pass,
        kdf,
        format,
        anchor,
    } = *new;
    let params = kdf_params(kdf)?;
    let loc = Location::Path(dir.to_path_buf());
    if let Some(a) = anchor {
        store::check_anchor(a, &[&loc], AnchorDir::MayBeMissing)?;
    }
    let exists = dir.exists();
    if exists {
        if EncryptedStore::inspect(&FilesystemStore::new(dir.to_path_buf())).is_ok() {
            return Err(Failure::new(
                Kind::DestinationNotEmpty,
                format!(
                    "{} already holds an encrypted store; refusing to replace it",
                    dir.display()
                ),
            ));
        }
        layout::check_destination(dir)?;
    } else {
        layout::check_destination(dir)?;
    }
    let pw = new_passphrase(
        pass.passphrase_file.as_deref(),
        "--passphrase-file",
        PASSPHRASE_ENV,
        &loc,
    )?;
    if !exists {
        layout::create_private_dir(dir).map_err(|e| fail::io("cannot create", dir, &e))?;
    }
    if let Some(a) = anchor {
        if let Err(f) = store::create_anchor_dir(a) {
            if !exists {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(f);
        }
    }
    match create_options(format, anchor).create(
        FilesystemStore::new(dir.to_path_buf()),
        &pw,
        params,
    ) {
        Ok(_) => {
            println!(
                "created an empty encrypted store in {} ({}; Argon2id: {} KiB, {} passes, {} \
                 lanes)",
                dir.display(),
                describe_format(format, anchor),
                params.memory_kib(),
                params.iterations(),
                params.parallelism()
            );
            Ok(())
        }
        Err(e) => {
            if !exists {
                let _ = std::fs::remove_dir_all(dir);
            }
            Err(open_error_anchored(&loc, anchor, e))
        }
    }
}
