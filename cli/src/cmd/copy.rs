//! Copying every value from one store to another and reading both back to compare: the core of
//! `encrypt` and `decrypt`.

use lightning::util::persist::{KVStoreSync, MigratableKVStore};
use zeroize::Zeroizing;

use super::{list_sorted, report, Key, ValueFailure};
use crate::fail::{chain, read_reason, Failure, Kind};
use crate::location::Location;
use crate::progress::Progress;

/// Copies every key from `src` to `dst`. Returns the number of value bytes copied.
pub(super) fn copy_all<S: KVStoreSync, D: KVStoreSync>(
    src: &S,
    dst: &D,
    keys: &[Key],
    label: &str,
) -> Result<u64, Vec<ValueFailure>> {
    let bar = Progress::new(keys.len(), label);
    let mut bytes = 0u64;
    let mut failures = Vec::new();
    for key in keys {
        let (p, s, k) = (&key.0, &key.1, &key.2);
        match KVStoreSync::read(src, p, s, k) {
            Ok(v) => {
                let v = Zeroizing::new(v);
                bytes += v.len() as u64;
                if let Err(e) = KVStoreSync::write(dst, p, s, k, v.to_vec()) {
                    failures.push(ValueFailure {
                        key: key.clone(),
                        kind: Kind::Io,
                        reason: format!("cannot write the copy: {}", chain(&e)),
                    });
                }
            }
            Err(e) => {
                let (kind, reason) = read_reason(&e);
                failures.push(ValueFailure {
                    key: key.clone(),
                    kind,
                    reason: format!("cannot read the source: {reason}"),
                });
            }
        }
        bar.inc();
    }
    if failures.is_empty() {
        Ok(bytes)
    } else {
        Err(failures)
    }
}

/// Reads every value back from both stores and compares. Also checks that neither store's key
/// list (the source's from `relist_src`) differs from `keys`: the source changing during the
/// copy means the node is running.
pub(super) fn compare_all<S, D>(
    src: &S,
    src_dir: &Location,
    relist_src: impl FnOnce() -> Result<Vec<Key>, Failure>,
    copy: &D,
    copy_dir: &Location,
    keys: &[Key],
) -> Result<(), Failure>
where
    S: KVStoreSync,
    D: KVStoreSync + MigratableKVStore,
{
    if relist_src()? != keys {
        return Err(Failure::new(
            Kind::Verification,
            format!(
                "keys were added to or removed from {} while it was being copied: is the node \
                 still running? Stop it and run the command again",
                src_dir.display()
            ),
        ));
    }
    let copied = list_sorted(copy, copy_dir)?;
    if copied != keys {
        let missing = keys.iter().filter(|k| !copied.contains(k)).count();
        let extra = copied.iter().filter(|k| !keys.contains(k)).count();
        return Err(Failure::new(
            Kind::Verification,
            format!(
                "the copy does not hold the same keys as the source ({missing} missing, \
                 {extra} unexpected)"
            ),
        ));
    }
    let bar = Progress::new(keys.len(), "compare");
    let mut failures = Vec::new();
    for key in keys {
        let (p, s, k) = (&key.0, &key.1, &key.2);
        let a = KVStoreSync::read(src, p, s, k).map(Zeroizing::new);
        let b = KVStoreSync::read(copy, p, s, k).map(Zeroizing::new);
        let failure = match (a, b) {
            (Ok(a), Ok(b)) if *a == *b => None,
            (Ok(_), Ok(_)) => Some((
                Kind::Verification,
                "the copy differs from the source (did the node write while the tool ran?)"
                    .to_owned(),
            )),
            (Err(e), _) => {
                let (kind, r) = read_reason(&e);
                Some((kind, format!("cannot read the source again: {r}")))
            }
            (_, Err(e)) => {
                let (kind, r) = read_reason(&e);
                Some((kind, format!("cannot read the copy back: {r}")))
            }
        };
        if let Some((kind, reason)) = failure {
            failures.push(ValueFailure {
                key: key.clone(),
                kind,
                reason,
            });
        }
        bar.inc();
    }
    drop(bar);
    if failures.is_empty() {
        Ok(())
    } else {
        Err(report(
            &failures,
            format!(
                "{} of {} values did not read back identical; nothing was moved into place",
                failures.len(),
                keys.len()
            ),
        ))
    }
}
