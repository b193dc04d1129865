//! `cat STORE PRIMARY SECONDARY KEY`: one decrypted value, raw, to stdout (not a terminal).

use std::io::{IsTerminal, Write};
use std::path::Path;

use lightning::util::persist::KVStoreSync;
use zeroize::Zeroizing;

use super::{current_passphrase, path_of};
use crate::fail::{self, read_reason, Failure, Kind};
use crate::location::Location;
use crate::store::{self, AnchorDir};
use crate::PassOpts;

pub(super) fn run(
    dir: &Location,
    (p, s, k): (&str, &str, &str),
    force: bool,
    pass: &PassOpts,
    anchor: Option<&Path>,
) -> Result<(), Failure> {
    if std::io::stdout().is_terminal() && !force {
        return Err(Failure::new(
            Kind::Usage,
            "refusing to write raw value bytes to a terminal: redirect stdout to a file or a \
             pipe, or pass --force",
        ));
    }
    let (kind, _) = store::check_encrypted(dir)?;
    if let Some(a) = anchor {
        store::check_anchor(a, &[dir], AnchorDir::Existing)?;
    }
    let pw = current_passphrase(pass, dir)?;
    let store = store::open_encrypted(dir, kind, &pw, false, anchor)?;
    let value = KVStoreSync::read(&store, p, s, k)
        .map(Zeroizing::new)
        .map_err(|e| {
            let (kind, reason) = read_reason(&e);
            let reason = if kind == Kind::KeyNotFound {
                "not found".to_owned()
            } else {
                reason
            };
            Failure::new(kind, format!("{}: {reason}", path_of((p, s, k))))
        })?;
    let mut out = std::io::stdout().lock();
    out.write_all(&value)
        .and_then(|()| out.flush())
        .map_err(|e| fail::io("cannot write", Path::new("stdout"), &e))
}
