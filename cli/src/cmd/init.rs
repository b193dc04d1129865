//! `init STORE`: a new, empty encrypted store (a `FilesystemStore` directory, or a table in
//! PostgreSQL).

use std::path::Path;

use encrypted_kvstore::{Credential, EncryptedStore, KdfParams};
use lightning_persister::fs_store::FilesystemStore;

use super::{create_options, describe_format, kdf_params, new_passphrase, NewOpts};
use crate::fail::{self, open_error_anchored, Failure, Kind};
use crate::layout;
use crate::location::{Location, PgLocation};
use crate::pass::PASSPHRASE_ENV;
use crate::pg;
use crate::store::{self, AnchorDir, AnyStore, StoreKind};

pub(super) fn run(loc: &Location, new: &NewOpts<'_>) -> Result<(), Failure> {
    let params = kdf_params(new.kdf)?;
    if let Some(a) = new.anchor {
        store::check_anchor(a, &[loc], AnchorDir::MayBeMissing)?;
    }
    match loc {
        Location::Path(dir) => in_directory(dir, loc, new, params),
        Location::Postgres(pg) => in_table(pg, loc, new, params),
    }
}

/// A new store in a PostgreSQL table, which is created if it does not exist and must hold no
/// row (held by this tool while it works, as for any writer).
fn in_table(
    pg: &PgLocation,
    loc: &Location,
    new: &NewOpts<'_>,
    params: KdfParams,
) -> Result<(), Failure> {
    pg::check_destination(pg)?;
    let pw = new_passphrase(
        new.pass.passphrase_file.as_deref(),
        "--passphrase-file",
        PASSPHRASE_ENV,
        loc,
    )?;
    let inner = AnyStore::open(loc, StoreKind::Postgres, true, Kind::Io)?;
    if let Some(a) = new.anchor {
        store::create_anchor_dir(a)?;
    }
    create_options(new.format, new.anchor)
        .create(inner, Credential::passphrase_with(&pw, params))
        .map_err(|e| open_error_anchored(loc, new.anchor, e))?;
    created(loc, new, params);
    Ok(())
}

fn created(loc: &Location, new: &NewOpts<'_>, params: KdfParams) {
    println!(
        "created an empty encrypted store in {loc} ({}; Argon2id: {} KiB, {} passes, {} lanes)",
        describe_format(new.format, new.anchor),
        params.memory_kib(),
        params.iterations(),
        params.parallelism()
    );
}

/// A new store in a directory, created if it does not exist (an existing one must be empty).
fn in_directory(
    dir: &Path,
    loc: &Location,
    new: &NewOpts<'_>,
    params: KdfParams,
) -> Result<(), Failure> {
    let NewOpts {
        pass,
        format,
        anchor,
        ..
    } = *new;
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
        loc,
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
        Credential::passphrase_with(&pw, params),
    ) {
        Ok(_) => {
            created(loc, new, params);
            Ok(())
        }
        Err(e) => {
            if !exists {
                let _ = std::fs::remove_dir_all(dir);
            }
            Err(open_error_anchored(loc, anchor, e))
        }
    }
}
