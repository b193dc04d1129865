//! `encrypt --from SOURCE --to DEST`: a plaintext store (a `FilesystemStore` directory, an
//! ldk-node SQLite database or a PostgreSQL table) into a new encrypted store of the same kind,
//! or into a PostgreSQL table when DEST is a URL. The source is only read; the copy is built
//! in a staging directory (or staging table), read back and compared, and only then put in
//! place.

use encrypted_kvstore::{Credential, EncryptedStore, OpenError, RESERVED_PRIMARY_NAMESPACE};

use super::copy::{compare_all, copy_all};
use super::{
    create_options, describe_format, kdf_params, list_sorted, new_passphrase, note_artifacts,
    pause_point, report, Key, NewOpts,
};
use crate::fail::{self, open_error_anchored, Failure, Kind};
use crate::layout::{self, Symlinks};
use crate::location::Location;
use crate::pass::PASSPHRASE_ENV;
use crate::store::{self, AnchorDir, AnyStore, NewStore, StoreKind};

pub(super) fn run(
    from: &Location,
    to: &Location,
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
    let (src, keys, layout) = match (kind, from) {
        (StoreKind::Directory, Location::Path(from_dir)) => {
            let layout = layout::check_excluding(from_dir, exclude, symlinks)?;
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
        _ => {
            if !exclude.is_empty() {
                return Err(Failure::new(
                    Kind::Usage,
                    "--exclude applies to a FilesystemStore directory, not to an ldk-node \
                     SQLite database or a PostgreSQL table",
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
        Err(OpenError::Io(e)) => return Err(fail::io_at("cannot read", from, &e)),
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
    store::refuse_overlap(from, to)?;
    let to_kind = store::destination_kind(kind, to);
    store::check_destination(to, to_kind)?;
    if let Some(a) = anchor {
        let staging = store::staging_path(to)?.map(Location::Path);
        let mut stores = vec![from, to];
        stores.extend(staging.as_ref());
        store::check_anchor(a, &stores, AnchorDir::MayBeMissing)?;
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
    if let (Some(l), Some(from_dir)) = (&layout, from.path()) {
        note_artifacts(from_dir, l);
    }
    let pw = new_passphrase(
        pass.passphrase_file.as_deref(),
        "--passphrase-file",
        PASSPHRASE_ENV,
        to,
    )?;

    let (new, inner) = NewStore::begin(to, to_kind)?;
    if let Some(a) = anchor {
        store::create_anchor_dir(a)?;
    }
    let enc = create_options(format, anchor)
        .create(inner, Credential::passphrase_with(&pw, params))
        .map_err(|e| open_error_anchored(&new.location, anchor, e))?;
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
    let enc = store::open_inner(new.reopen()?, &new.location, &pw, false, anchor)?;
    let relist = || match from {
        Location::Path(from_dir) if kind == StoreKind::Directory => {
            Ok(layout::check_excluding(from_dir, exclude, symlinks)?.keys)
        }
        _ => list_sorted(&src, from),
    };
    compare_all(&src, from, relist, &enc, &new.location, &keys)?;
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
fn refuse_invalid_names(from: &Location, keys: &[Key]) -> Result<(), Failure> {
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

fn refuse_names_too_long_to_encrypt(from: &Location, keys: &[Key]) -> Result<(), Failure> {
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
