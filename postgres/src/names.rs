//! LDK's name rules, and the rule for a table name.

use crate::error::PostgresError;

/// LDK's `KVSTORE_NAMESPACE_KEY_MAX_LEN`: the same in 0.2 and 0.3.
const MAX_LEN: usize = 120;

/// PostgreSQL's identifier limit (NAMEDATALEN - 1): a longer name would be truncated silently.
const MAX_TABLE_LEN: usize = 63;

fn valid_str(s: &str) -> bool {
    s.len() <= MAX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_namespaces(primary: &str, secondary: &str) -> Result<(), PostgresError> {
    if primary.is_empty() && !secondary.is_empty() {
        return Err(PostgresError::InvalidName {
            reason: "a secondary namespace needs a primary namespace",
        });
    }
    if !valid_str(primary) || !valid_str(secondary) {
        return Err(PostgresError::InvalidName {
            reason: "namespaces are at most 120 characters of A-Za-z0-9_-",
        });
    }
    Ok(())
}

/// The names of a read, write or remove.
pub(crate) fn check_key(primary: &str, secondary: &str, key: &str) -> Result<(), PostgresError> {
    if key.is_empty() {
        return Err(PostgresError::InvalidName {
            reason: "the key is empty",
        });
    }
    check_namespaces(primary, secondary)?;
    if !valid_str(key) {
        return Err(PostgresError::InvalidName {
            reason: "keys are at most 120 characters of A-Za-z0-9_-",
        });
    }
    Ok(())
}

/// The namespaces of a listing.
pub(crate) fn check_list(primary: &str, secondary: &str) -> Result<(), PostgresError> {
    check_namespaces(primary, secondary)
}

/// A name read back from the table: the same rules, refused as a bad row rather than bad input.
pub(crate) fn check_stored(primary: &str, secondary: &str, key: &str) -> Result<(), PostgresError> {
    check_key(primary, secondary, key).map_err(|_| PostgresError::InvalidRow {
        reason: "a stored name breaks LDK's name rules",
    })
}

/// A table name: a plain identifier, so it means the same quoted or not.
pub(crate) fn check_table(name: &str) -> Result<(), PostgresError> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if first_ok
        && name.len() <= MAX_TABLE_LEN
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(PostgresError::InvalidTableName {
            name: crate::error::clip(name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldk_rules() {
        let long = "a".repeat(120);
        let too_long = "a".repeat(121);
        assert!(check_key("", "", "k").is_ok());
        assert!(check_key("p", "s", "k-_09AZaz").is_ok());
        assert!(check_key(&long, &long, &long).is_ok());
        assert!(check_key("p", "s", "").is_err());
        assert!(check_key("", "s", "k").is_err());
        assert!(check_key("p", "s", &too_long).is_err());
        assert!(check_key(&too_long, "", "k").is_err());
        assert!(check_key("p", &too_long, "k").is_err());
        for bad in ["a/b", "a.b", "a b", "é", "a\0"] {
            assert!(check_key("p", "s", bad).is_err(), "{bad:?}");
            assert!(check_key(bad, "s", "k").is_err(), "{bad:?}");
            assert!(check_list("p", bad).is_err(), "{bad:?}");
        }
        assert!(check_list("", "").is_ok());
        assert!(check_list("p", "").is_ok());
        assert!(check_list("", "s").is_err());
        assert!(matches!(
            check_stored("p", "s", ""),
            Err(PostgresError::InvalidRow { .. })
        ));
    }

    #[test]
    fn table_names() {
        for good in ["ldk_data", "_t", "T1", &"a".repeat(63)] {
            assert!(check_table(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "1t",
            "a-b",
            "a.b",
            "a\"b",
            "a b",
            &"a".repeat(64),
            "ldk_dätä",
        ] {
            assert!(check_table(bad).is_err(), "{bad:?}");
        }
    }
}
