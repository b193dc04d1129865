//! `rotate STORE`: a new data key, every value re-encrypted under it, then the old keys
//! retired (docs/FORMAT.md, "Data-key rotation").

use std::path::Path;

use encrypted_kvstore::{EncryptedStore, ReencryptProgress, RotateError};

use super::{current_passphrase, pause_point};
use crate::fail::{rotate_error, Failure};
use crate::location::Location;
use crate::progress::Progress;
use crate::store::{self, AnchorDir, AnyStore};
use crate::PassOpts;

/// The most data keys a header holds (docs/FORMAT.md, "Data-key rotation").
const MAX_KEYS: usize = 8;

pub(super) fn run(
    dir: &Location,
    pass: &PassOpts,
    no_retire: bool,
    resume: bool,
    anchor: Option<&Path>,
) -> Result<(), Failure> {
    let (kind, info) = store::check_encrypted(dir)?;
    if let Some(a) = anchor {
        store::check_anchor(a, &[dir], AnchorDir::Existing)?;
    }
    // The library refuses a full keyring too, but only after the writable open has written
    // the header once (reserving record versions): refuse from the public header instead, so
    // a refused rotation writes nothing.
    if !resume && info.key_ids.len() >= MAX_KEYS {
        return Err(rotate_error(dir, RotateError::KeyringFull));
    }
    let pw = current_passphrase(pass, dir)?;
    let store = store::open_encrypted(dir, kind, &pw, true, anchor)?;
    let new_key = if resume {
        None
    } else {
        let id = store.rotate_data_key().map_err(|e| rotate_error(dir, e))?;
        pause_point("rotate-rotated");
        Some(id)
    };
    let p = reencrypt_and_retire(&store, dir, !no_retire)?;
    let info = store.info();
    store.into_inner().close()?;
    let ids: Vec<String> = info.key_ids.iter().map(u32::to_string).collect();
    let head = match new_key {
        Some(id) => format!("rotated the data key of {}: new key {id}", dir.display()),
        None => format!(
            "resumed the rotation of {}: current key {}",
            dir.display(),
            info.key_id
        ),
    };
    println!(
        "{head}; re-encrypted {} of {} values ({} were already under key {})",
        p.rewritten,
        p.total,
        p.total - p.rewritten,
        info.key_id
    );
    if no_retire {
        println!(
            "kept the old keys (key ids: {}); retire them with `encrypted-kvstore rotate \
             --resume {}`",
            ids.join(", "),
            dir.display()
        );
    } else {
        println!(
            "retired the old keys: key ids now {} (old backups of values no longer open with \
             this header)",
            ids.join(", ")
        );
    }
    Ok(())
}

/// Re-encrypts every value not yet under the current key (with a progress bar), then, if
/// `retire`, removes every other key from the header.
pub(super) fn reencrypt_and_retire(
    store: &EncryptedStore<AnyStore>,
    dir: &Location,
    retire: bool,
) -> Result<ReencryptProgress, Failure> {
    let mut bar: Option<Progress> = None;
    let p = store
        .reencrypt(|p| {
            bar.get_or_insert_with(|| Progress::new(p.total, "reencrypt"))
                .inc();
            if p.done == 1 {
                pause_point("reencrypt-first");
            }
        })
        .map_err(|e| rotate_error(dir, e))?;
    drop(bar);
    if retire {
        pause_point("rotate-reencrypted");
        store.retire_old_keys().map_err(|e| rotate_error(dir, e))?;
    }
    Ok(p)
}
