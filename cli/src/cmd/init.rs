//! `init DIR`: a new, empty encrypted store (a `FilesystemStore` directory).

use std::path::Path;

use encrypted_kvstore::EncryptedStore;
use lightning_persister::fs_store::FilesystemStore;

use super::{create_options, describe_format, kdf_params, new_passphrase};
use crate::fail::{self, open_error, Failure, Kind};
use crate::layout;
use crate::pass::PASSPHRASE_ENV;
use crate::{FormatOpts, KdfOpts, PassOpts};

pub(super) fn run(
    dir: &Path,
    pass: &PassOpts,
    kdf: &KdfOpts,
    format: &FormatOpts,
) -> Result<(), Failure> {
    let params = kdf_params(kdf)?;
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
        dir,
    )?;
    if !exists {
        layout::create_private_dir(dir).map_err(|e| fail::io("cannot create", dir, &e))?;
    }
    match create_options(format).create(FilesystemStore::new(dir.to_path_buf()), &pw, params) {
        Ok(_) => {
            println!(
                "created an empty encrypted store in {} ({}; Argon2id: {} KiB, {} passes, {} \
                 lanes)",
                dir.display(),
                describe_format(format),
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
            Err(open_error(dir, e))
        }
    }
}
