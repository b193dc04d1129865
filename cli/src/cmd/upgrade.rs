//! `upgrade STORE`: a format version 1 store becomes a version 2 store (one header write,
//! docs/FORMAT.md "Upgrading a version 1 store"); with `--reencrypt` every value is then
//! rewritten as a version 2 record and the upgrade finished.

use encrypted_kvstore::{EncryptedStore, OpenError};

use super::current_passphrase;
use super::rotate::reencrypt_and_retire;
use crate::fail::{open_error, Failure, Kind};
use crate::location::Location;
use crate::store::{self, AnyStore};
use crate::PassOpts;

pub(super) fn run(dir: &Location, pass: &PassOpts, reencrypt: bool) -> Result<(), Failure> {
    let (kind, info) = store::check_encrypted(dir)?;
    // Said before the passphrase is asked for, and nothing is written.
    if info.format_version >= 2 {
        return Err(open_error(dir, OpenError::AlreadyVersion2));
    }
    let pw = current_passphrase(pass, dir)?;
    let inner = AnyStore::open(dir, kind, true, Kind::NotEncrypted)?;
    let store = EncryptedStore::upgrade_to_v2(inner, &pw).map_err(|e| open_error(dir, e))?;
    println!(
        "upgraded {} to format version 2 (data key {}; a tool or library that knows only \
         format version 1 no longer opens it)",
        dir.display(),
        store.info().key_id
    );
    if reencrypt {
        let p = reencrypt_and_retire(&store, dir, true)?;
        println!(
            "re-encrypted {} of {} values as format version 2 records; the upgrade is finished",
            p.rewritten, p.total
        );
    } else {
        println!(
            "its values stay format version 1 records until re-encrypted: run \
             `encrypted-kvstore rotate {d}` (new data key) or `encrypted-kvstore rotate --resume \
             {d}` (same key) to finish the upgrade",
            d = dir.display()
        );
    }
    store.into_inner().close()
}
