//! `decrypt --from STORE --to DEST`: an encrypted store into a new PLAINTEXT store of the same
//! kind (or into a PostgreSQL table for a URL, and into a directory from a table), with the
//! same staging, read-back comparison and rerun behaviour as `encrypt`.

use std::path::Path;

use super::copy::{compare_all, copy_all};
use super::{current_passphrase, list_sorted, pause_point, report};
use crate::fail::Failure;
use crate::location::Location;
use crate::store::{self, AnchorDir, NewStore};
use crate::PassOpts;

pub(super) fn run(
    from: &Location,
    to: &Location,
    pass: &PassOpts,
    anchor: Option<&Path>,
) -> Result<(), Failure> {
    let (kind, _) = store::check_encrypted(from)?;
    if let Some(a) = anchor {
        store::check_anchor(a, &[from, to], AnchorDir::Existing)?;
    }
    store::refuse_overlap(from, to)?;
    let to_kind = store::destination_kind(kind, to);
    store::check_destination(to, to_kind)?;
    let pw = current_passphrase(pass, from)?;
    let enc = store::open_encrypted(from, kind, &pw, false, anchor)?;
    let keys = list_sorted(&enc, from)?;
    eprintln!(
        "warning: {} will hold the node's data UNENCRYPTED; protect it and delete it when done",
        to.display()
    );
    // An interrupted earlier run's plaintext `.partial` is removed here, before anything else.
    let (new, out) = NewStore::begin(to, to_kind)?;
    let bytes = copy_all(&enc, &out, &keys, "decrypt").map_err(|f| {
        report(
            &f,
            format!(
                "{} values could not be decrypted or copied; nothing was moved into place",
                f.len()
            ),
        )
    })?;
    out.close()?;
    pause_point("decrypt-copied");
    let out = new.reopen()?;
    compare_all(
        &enc,
        from,
        || list_sorted(&enc, from),
        &out,
        &new.location,
        &keys,
    )?;
    drop(out);
    new.commit()?;
    println!(
        "decrypted {} values ({bytes} bytes) from {} into {} (PLAINTEXT); every value was read \
         back and matched",
        keys.len(),
        from.display(),
        to.display()
    );
    Ok(())
}
