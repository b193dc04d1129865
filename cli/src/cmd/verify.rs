//! `verify STORE`: authenticate every value of an encrypted store (a directory or an ldk-node
//! database); exit 0 only if all pass. With `--anchor` the freshness anchor is checked too:
//! the header against the anchor's record of it when the store is opened, and every value read
//! against the anchor's record of its version.

use std::path::Path;

use lightning::util::persist::KVStoreSync;
use serde::Serialize;
use zeroize::Zeroizing;

use super::{current_passphrase, key_path, list_sorted, print_json, worst_kind, ValueFailure};
use crate::fail::{read_reason, Failure, Kind};
use crate::location::Location;
use crate::progress::Progress;
use crate::store::{self, AnchorDir};
use crate::PassOpts;

#[derive(Serialize)]
struct FailedJson<'a> {
    primary_namespace: &'a str,
    secondary_namespace: &'a str,
    key: &'a str,
    /// `freshness` (rolled back, deleted or resurrected), `authentication` or `other`.
    failure: &'static str,
    reason: &'a str,
}

/// What was checked against the freshness anchor (present only with `--anchor`).
#[derive(Serialize)]
struct FreshnessJson {
    anchor: String,
    /// The header's sequence number, not older than the anchor's record of it.
    header_seq: u64,
    /// Values that failed a freshness check.
    failed: usize,
}

#[derive(Serialize)]
struct VerifyJson<'a> {
    directory: String,
    ok: bool,
    values: usize,
    verified: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    freshness: Option<FreshnessJson>,
    failed: Vec<FailedJson<'a>>,
}

fn failure_name(k: Kind) -> &'static str {
    match k {
        Kind::Freshness => "freshness",
        Kind::Verification => "authentication",
        _ => "other",
    }
}

pub(super) fn run(
    dir: &Location,
    pass: &PassOpts,
    anchor: Option<&Path>,
    json: bool,
) -> Result<(), Failure> {
    let (kind, _) = store::check_encrypted(dir)?;
    if let Some(a) = anchor {
        store::check_anchor(a, &[dir], AnchorDir::Existing)?;
    }
    let pw = current_passphrase(pass, dir)?;
    // Opening with the anchor checks the header against it (a rolled-back header fails here).
    let store = store::open_encrypted(dir, kind, &pw, false, anchor)?;
    let header_seq = store.info().header_seq;
    // The listing is refused (exit 13, naming the namespace and the smallest missing key) if
    // it lacks a key the store or its anchor holds live: a value, or a whole namespace,
    // deleted behind the store's back.
    let keys = list_sorted(&store, dir)?;
    let mut failures = Vec::new();
    let bar = Progress::new(keys.len(), "verify");
    for key in &keys {
        // The plaintext is only authenticated, never shown; wipe it as soon as it is read.
        if let Err(e) = KVStoreSync::read(&store, &key.0, &key.1, &key.2).map(Zeroizing::new) {
            let (kind, reason) = read_reason(&e);
            failures.push(ValueFailure {
                key: key.clone(),
                kind,
                reason,
            });
        }
        bar.inc();
    }
    drop(bar);
    let total = keys.len();
    let verified = total - failures.len();
    let stale = failures
        .iter()
        .filter(|f| f.kind == Kind::Freshness)
        .count();
    if json {
        let out = VerifyJson {
            directory: dir.display().to_string(),
            ok: failures.is_empty(),
            values: total,
            verified,
            freshness: anchor.map(|a| FreshnessJson {
                anchor: a.display().to_string(),
                header_seq,
                failed: stale,
            }),
            failed: failures
                .iter()
                .map(|f| FailedJson {
                    primary_namespace: &f.key.0,
                    secondary_namespace: &f.key.1,
                    key: &f.key.2,
                    failure: failure_name(f.kind),
                    reason: &f.reason,
                })
                .collect(),
        };
        print_json(&out)?;
    } else {
        for f in &failures {
            println!(
                "FAILED {} (primary namespace \"{}\", secondary namespace \"{}\", key \"{}\"): {}",
                key_path(&f.key),
                f.key.0,
                f.key.1,
                f.key.2,
                f.reason
            );
        }
        if failures.is_empty() {
            println!(
                "verified {total} values in {}: all authentic",
                dir.display()
            );
        } else {
            println!(
                "{} of {total} values in {} FAILED verification",
                failures.len(),
                dir.display()
            );
        }
        if let Some(a) = anchor {
            println!(
                "freshness: checked against the anchor in {}: header seq {header_seq} is not \
                 older than the anchor's record",
                a.display()
            );
            if stale == 0 {
                println!(
                    "freshness: every value read passed the freshness checks (none rolled back, \
                     deleted or resurrected)"
                );
            } else {
                println!(
                    "freshness: {stale} of {total} values FAILED the freshness checks (rolled \
                     back, deleted or resurrected)"
                );
            }
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    let what = if stale > 0 {
        format!(
            "FRESHNESS CHECK FAILED: {stale} of {total} values were rolled back, deleted or \
             resurrected ({} of {total} failed verification in all)",
            failures.len()
        )
    } else {
        format!("{} of {total} values failed verification", failures.len())
    };
    Err(Failure::new(worst_kind(&failures), what))
}
