//! `encrypt --from SOURCE --to DEST`: a plaintext store (a `FilesystemStore` directory or an
//! ldk-node SQLite database) into a new encrypted store of the same kind. The source is only
//! read; the copy is built in a staging directory, read back and compared, and only then put in
//! place.

use std::path::Path;

use encrypted_kvstore::{EncryptedStore, OpenError, RESERVED_PRIMARY_NAMESPACE};

use super::copy::{compare_all, copy_all};
use super::{
    create_options, describe_format, kdf_params, list_sorted, new_passphrase, note_artifacts,
    pause_point, report, Key, NewOpts,
};
use crate::fail::{self, open_error_anchored, Failure, Kind};
use crate::layout::{self, Symlinks};
use crate::pass::PASSPHRASE_ENV;
use crate::store::{self, AnchorDir, AnyStore, NewStore, StoreKind};

pub(super) fn run(
    from: &Path,
    to: &Path,
    exclude: &[String],
    follow_symlinks: bool,
    new_opts: &NewOpts<'_>,
) -> Result<(), Failure> {
    let NewOpts {
        pass,
        kdf,
        format,
        anchor,
    } = *new_opts;
    let params = kdf_params(kdf)?;
    if let Some(x) = exclude
        .iter()
        .find(|x| x.is_empty() || x.contains(['/', '\\']) || *x == "." || *x == "..")
    {
        return Err(Failure::new(
            Kind::Usage,
            format!("--exclude takes the name of an entry directly in --from, not \"{x}\""),
        ));
    }
    let symlinks = if follow_symlinks {
        Symlinks::Follow
    } else {
        Symlinks::Refuse { can_follow: true }
    };
    let kind = store::kind_of(from)?.ok_or_else(|| {
        Failure::new(
            Kind::NotFilesystemStore,
            format!("{} does not exist", from.display()),
        )
    })?;
    let (src, keys, layout) = match kind {
        StoreKind::Directory => {
            let layout = layout::check_excluding(from, exclude, symlinks)?;
            for x in exclude {
                if !layout
                    .excluded
                    .iter()
                    .any(|p| p.file_name() == Some(x.as_ref()))
                {
                    eprintln!("note: --exclude {x}: there is no {x} in {}", from.display());
                }
            }
            let src = AnyStore::open(from, kind, false, Kind::NotFilesystemStore)?;
            (src, layout.keys.clone(), Some(layout))
        }
        StoreKind::Sqlite => {
            if !exclude.is_empty() {
                return Err(Failure::new(
                    Kind::Usage,
                    "--exclude applies to a FilesystemStore directory, not to an ldk-node \
                     SQLite database",
                ));
            }
            let src = AnyStore::open(from, kind, false, Kind::NotFilesystemStore)?;
            let keys = list_sorted(&src, from)?;
            refuse_invalid_names(from, &keys)?;
            (src, keys, None)
        }
    };
    match EncryptedStore::inspect(&src) {
        Err(OpenError::NotInitialized) => {}
        Err(OpenError::Io(e)) => return Err(fail::io("cannot read", from, &e)),
        _ => {
            return Err(Failure::new(
                Kind::NotFilesystemStore,
                format!(
                    "{} is already an encrypted store (it has an encrypted-kvstore header), \
                     not a plaintext one",
                    from.display()
                ),
            ))
        }
    }
    let staging_path = layout::staging_path(to)?;
    layout::refuse_overlap(from, to, &staging_path)?;
    store::check_destination(to, kind)?;
    if let Some(a) = anchor {
        store::check_anchor(a, &[from, to, &staging_path], AnchorDir::MayBeMissing)?;
    }
    // The layout walk mirrors FilesystemStore::list_all_keys (which cannot list through
    // symbolic links); never copy on a disagreement.
    if kind == StoreKind::Directory
        && exclude.is_empty()
        && !follow_symlinks
        && list_sorted(&src, from)? != keys
    {
        return Err(Failure::new(
            Kind::Io,
            format!(
                "the keys of {} changed while it was being listed: is the node still running?",
                from.display()
            ),
        ));
    }
    if keys.iter().any(|k| k.0 == RESERVED_PRIMARY_NAMESPACE) {
        return Err(Failure::new(
            Kind::NotFilesystemStore,
            format!(
                "{} holds values in the primary namespace \"{RESERVED_PRIMARY_NAMESPACE}\", which \
                 an encrypted store reserves for its header",
                from.display()
            ),
        ));
    }
    if format.encrypt_names {
        refuse_names_too_long_to_encrypt(from, &keys)?;
    }
    if let Some(l) = &layout {
        note_artifacts(from, l);
    }
    let pw = new_passphrase(
        pass.passphrase_file.as_deref(),
        "--passphrase-file",
        PASSPHRASE_ENV,
        to,
    )?;

    let (new, inner) = NewStore::begin(to, kind)?;
    if let Some(a) = anchor {
        store::create_anchor_dir(a)?;
    }
    let enc = create_options(format, anchor)
        .create(inner, &pw, params)
        .map_err(|e| open_error_anchored(&new.path, anchor, e))?;
    let bytes = copy_all(&src, &enc, &keys, "encrypt").map_err(|f| {
        report(
            &f,
            format!(
                "{} values could not be copied; nothing was moved into place",
                f.len()
            ),
        )
    })?;
    enc.into_inner().close()?;
    pause_point("encrypt-copied");
    // Read back through a freshly opened store: proves the header opens with the passphrase and
    // that every record authenticates and decrypts to the source's bytes.
    // Read-only: the read-back never writes the copy, not even its header.
    // With the anchor: the read-back also checks every value's freshness.
    let enc = store::open_inner(new.reopen()?, &new.path, &pw, false, anchor)?;
    let relist = || match kind {
        StoreKind::Directory => Ok(layout::check_excluding(from, exclude, symlinks)?.keys),
        StoreKind::Sqlite => list_sorted(&src, from),
    };
    compare_all(&src, from, relist, &enc, &new.path, &keys)?;
    drop(enc);
    new.commit()?;
    println!(
        "encrypted {} values ({bytes} bytes) from {} into {} ({}); every value was read back \
         and matched the source",
        keys.len(),
        from.display(),
        to.display(),
        describe_format(format, anchor)
    );
    if let Some(l) = &layout {
        for x in &l.excluded {
            println!("left out (--exclude): {}", x.display());
        }
    }
    Ok(())
}

/// A database row whose names LDK would never accept cannot be copied into an encrypted store
/// (which checks names); refuse before anything is written, naming it.
fn refuse_invalid_names(from: &Path, keys: &[Key]) -> Result<(), Failure> {
    let ok = |(p, s, k): &Key| {
        layout::valid_name(k)
            && (p.is_empty() || layout::valid_name(p))
            && (s.is_empty() || (!p.is_empty() && layout::valid_name(s)))
    };
    match keys.iter().find(|k| !ok(k)) {
        None => Ok(()),
        Some((p, s, k)) => Err(Failure::new(
            Kind::NotFilesystemStore,
            format!(
                "{} holds a row whose names LDK never writes (primary namespace {p:?}, \
                 secondary namespace {s:?}, key {k:?})",
                from.display()
            ),
        )),
    }
}

/// The longest name an encrypted name holds (docs/FORMAT.md, "Encrypted names": 16 + b
/// bytes in base64url must fit LDK's 120 characters). The library refuses longer ones at the
/// first write; checking before anything is created names the entry and leaves no staging
/// directory behind.
const MAX_ENCRYPTED_NAME_LEN: usize = 74;

fn refuse_names_too_long_to_encrypt(from: &Path, keys: &[Key]) -> Result<(), Failure> {
    for (p, s, k) in keys {
        for (what, name) in [
            ("primary namespace", p),
            ("secondary namespace", s),
            ("key", k),
        ] {
            if name.len() > MAX_ENCRYPTED_NAME_LEN {
                return Err(Failure::new(
                    Kind::Usage,
                    format!(
                        "--encrypt-names: {} holds the {what} \"{name}\" ({} bytes; in primary \
                         namespace {p:?}, secondary namespace {s:?}, key {k:?}), longer than \
                         the {MAX_ENCRYPTED_NAME_LEN} bytes an encrypted name can hold; nothing \
                         was written",
                        from.display(),
                        name.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}
