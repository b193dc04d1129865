//! `verify STORE`: authenticate every value of an encrypted store (a directory or an ldk-node
//! database); exit 0 only if all pass.

use std::path::Path;

use lightning::util::persist::KVStoreSync;
use serde::Serialize;
use zeroize::Zeroizing;

use super::{current_passphrase, key_path, list_sorted, print_json, ValueFailure};
use crate::fail::{read_reason, Failure, Kind};
use crate::progress::Progress;
use crate::store;
use crate::PassOpts;

#[derive(Serialize)]
struct FailedJson<'a> {
    primary_namespace: &'a str,
    secondary_namespace: &'a str,
    key: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct VerifyJson<'a> {
    directory: String,
    ok: bool,
    values: usize,
    verified: usize,
    failed: Vec<FailedJson<'a>>,
}

pub(super) fn run(dir: &Path, pass: &PassOpts, json: bool) -> Result<(), Failure> {
    let (kind, _) = store::check_encrypted(dir)?;
    let pw = current_passphrase(pass, dir)?;
    let store = store::open_encrypted(dir, kind, &pw, false)?;
    let keys = list_sorted(&store, dir)?;
    let bar = Progress::new(keys.len(), "verify");
    let mut failures: Vec<ValueFailure> = Vec::new();
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
    let verified = keys.len() - failures.len();
    if json {
        let out = VerifyJson {
            directory: dir.display().to_string(),
            ok: failures.is_empty(),
            values: keys.len(),
            verified,
            failed: failures
                .iter()
                .map(|f| FailedJson {
                    primary_namespace: &f.key.0,
                    secondary_namespace: &f.key.1,
                    key: &f.key.2,
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
                "verified {} values in {}: all authentic",
                keys.len(),
                dir.display()
            );
        } else {
            println!(
                "{} of {} values in {} FAILED verification",
                failures.len(),
                keys.len(),
                dir.display()
            );
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        let kind = if failures.iter().any(|f| f.kind == Kind::Verification) {
            Kind::Verification
        } else {
            failures.first().map(|f| f.kind).unwrap_or(Kind::Io)
        };
        Err(Failure::new(
            kind,
            format!(
                "{} of {} values failed verification",
                failures.len(),
                keys.len()
            ),
        ))
    }
}
