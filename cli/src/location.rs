//! Where a store is: a path (a `FilesystemStore` directory or an ldk-node SQLite database file)
//! or a table in a PostgreSQL database, named by a connection URL. A URL may hold a password:
//! it is kept out of every message, `Debug` output and JSON field ([`redact`]).

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// The table a PostgreSQL store is kept in unless `--pg-table` names another (ldk-node's).
pub const DEFAULT_PG_TABLE: &str = "ldk_data";

/// The prefixes of a PostgreSQL connection URL.
const URL_PREFIXES: [&str; 2] = ["postgresql://", "postgres://"];

/// The environment variable a password is taken from for a URL that holds none (libpq's), so
/// that it need not appear on the command line, where other local users can see it.
pub const PASSWORD_ENV: &str = "PGPASSWORD";

/// A store as given on the command line: a path, or a PostgreSQL connection URL (the table
/// comes from `--pg-table`; see [`StoreArg::resolve`]).
#[derive(Clone)]
pub enum StoreArg {
    /// A directory or database file.
    Path(PathBuf),
    /// A `postgresql://` or `postgres://` URL.
    Url(Zeroizing<String>),
}

impl From<OsString> for StoreArg {
    fn from(s: OsString) -> StoreArg {
        match s.to_str() {
            Some(u) if URL_PREFIXES.iter().any(|p| u.starts_with(p)) => {
                StoreArg::Url(Zeroizing::new(u.to_owned()))
            }
            _ => StoreArg::Path(PathBuf::from(s)),
        }
    }
}

impl fmt::Debug for StoreArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreArg::Path(p) => f.debug_tuple("Path").field(p).finish(),
            StoreArg::Url(u) => f.debug_tuple("Url").field(&redact(u)).finish(),
        }
    }
}

impl StoreArg {
    /// The store this argument names, a PostgreSQL one in `table`. A URL that holds no
    /// password gets the one in the environment variable [`PASSWORD_ENV`], if it is set.
    pub fn resolve(self, table: &str) -> Location {
        match self {
            StoreArg::Path(p) => Location::Path(p),
            StoreArg::Url(url) => {
                let env = std::env::var(PASSWORD_ENV).ok().map(Zeroizing::new);
                Location::Postgres(PgLocation {
                    url: with_password(url, env.as_ref().map(|p| p.as_str())),
                    table: table.to_owned(),
                })
            }
        }
    }
}

/// `url` with `password` added as its `password` parameter, unless `password` is empty or
/// the URL already holds a password (as credentials or as a parameter).
fn with_password(url: Zeroizing<String>, password: Option<&str>) -> Zeroizing<String> {
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return url;
    };
    let (creds, params) = split(&url);
    let has_password = creds.is_some_and(|c| c.contains(':'))
        || params.is_some_and(|p| {
            p.split('&')
                .any(|kv| kv.split_once('=').is_some_and(|(k, _)| is_password_key(k)))
        });
    if has_password {
        return url;
    }
    let mut out = Zeroizing::new(String::with_capacity(url.len() + 10 + 3 * password.len()));
    out.push_str(&url);
    out.push(if params.is_some() { '&' } else { '?' });
    out.push_str("password=");
    for b in password.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The credentials (before the first `@`, if any) and the parameters (after the first `?`
/// that follows them, if any) of a PostgreSQL URL, split as the driver splits them.
fn split(url: &str) -> (Option<&str>, Option<&str>) {
    let rest = URL_PREFIXES
        .iter()
        .find_map(|p| url.strip_prefix(p))
        .unwrap_or(url);
    let (creds, rest) = match rest.split_once('@') {
        Some((c, r)) => (Some(c), r),
        None => (None, rest),
    };
    (creds, rest.split_once('?').map(|(_, p)| p))
}

/// A table in a PostgreSQL database.
#[derive(Clone)]
pub struct PgLocation {
    /// The connection URL, password and all: passed to the driver, never shown.
    url: Zeroizing<String>,
    /// The table name (checked by the PostgreSQL store when it connects).
    pub table: String,
}

impl PgLocation {
    /// The connection URL, password included: only for connecting.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The same database, another table.
    pub fn with_table(&self, table: &str) -> PgLocation {
        PgLocation {
            url: self.url.clone(),
            table: table.to_owned(),
        }
    }

    /// Whether `other` names the same table of the same database (as written: two spellings
    /// of one server are not recognized).
    pub fn same_table(&self, other: &PgLocation) -> bool {
        *self.url == *other.url && self.table == other.table
    }
}

impl fmt::Display for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (table {})", redact(&self.url), self.table)
    }
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where a store is.
#[derive(Clone, Debug)]
pub enum Location {
    /// A directory or database file.
    Path(PathBuf),
    /// A table in a PostgreSQL database.
    Postgres(PgLocation),
}

impl Location {
    /// The path, for a store on the file system.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Location::Path(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// Something to put in a message: the path, or the URL without its password and the
    /// table.
    pub fn display(&self) -> &Location {
        self
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Path(p) => write!(f, "{}", p.display()),
            Location::Postgres(pg) => fmt::Display::fmt(pg, f),
        }
    }
}

/// `url` with every password replaced by `***`: the one between the user name and the `@`, and
/// the value of a `password` parameter. The URL is split as the PostgreSQL driver splits it
/// (tokio-postgres, after libpq): the credentials end at the first `@`, the user name at the
/// first `:` in them, and the parameters start at the first `?` after the credentials. Not a
/// PostgreSQL URL: returned with everything after the scheme separator hidden.
pub fn redact(url: &str) -> String {
    let Some((prefix, rest)) = URL_PREFIXES
        .iter()
        .find_map(|p| url.strip_prefix(p).map(|r| (*p, r)))
    else {
        return match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".to_owned(),
        };
    };
    let mut out = String::from(prefix);
    let rest = match rest.split_once('@') {
        Some((creds, after)) => {
            match creds.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push_str(":***@");
                }
                None => {
                    out.push_str(creds);
                    out.push('@');
                }
            }
            after
        }
        None => rest,
    };
    let (hostpath, params) = match rest.split_once('?') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    out.push_str(hostpath);
    if let Some(params) = params {
        out.push('?');
        let parts: Vec<String> = params
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if is_password_key(k) => format!("{k}=***"),
                _ => kv.to_owned(),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
}

/// `text` with every PostgreSQL URL given on the command line replaced by its [`redact`]ed
/// form, and every password (in those URLs, or in [`PASSWORD_ENV`]) by `***`: for text the
/// tool does not compose itself (a command-line parse error repeats the argument it refused)
/// and as a last guard on every error message.
pub fn scrub(text: &str) -> String {
    let urls: Vec<String> = std::env::args_os()
        .filter_map(|a| a.to_str().map(str::to_owned))
        .filter(|a| URL_PREFIXES.iter().any(|p| a.starts_with(p)))
        .collect();
    let mut out = text.to_owned();
    for url in &urls {
        out = out.replace(url.as_str(), &redact(url));
    }
    let mut passwords: Vec<String> = urls.iter().flat_map(|u| passwords_in(u)).collect();
    passwords.extend(std::env::var(PASSWORD_ENV).ok());
    for p in passwords.iter().filter(|p| !p.is_empty()) {
        out = out.replace(p.as_str(), "***");
    }
    out
}

/// The passwords a PostgreSQL URL holds, as written in it: after the user name, and as
/// `password` parameters.
fn passwords_in(url: &str) -> Vec<String> {
    let (creds, params) = split(url);
    let mut out: Vec<String> = creds
        .and_then(|c| c.split_once(':'))
        .map(|(_, p)| p.to_owned())
        .into_iter()
        .collect();
    for kv in params.into_iter().flat_map(|p| p.split('&')) {
        if let Some((k, v)) = kv.split_once('=') {
            if is_password_key(k) {
                out.push(v.to_owned());
            }
        }
    }
    out
}

/// Whether a URL parameter name is `password`, percent-encoded or not, in any case.
fn is_password_key(k: &str) -> bool {
    let mut decoded = Vec::with_capacity(k.len());
    let b = k.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let hex = |j: usize| {
            b.get(j)
                .and_then(|c| char::from(*c).to_digit(16))
                .and_then(|d| u8::try_from(d).ok())
        };
        match (b.get(i), hex(i + 1), hex(i + 2)) {
            (Some(b'%'), Some(h), Some(l)) => {
                decoded.push(h * 16 + l);
                i += 3;
            }
            (Some(c), _, _) => {
                decoded.push(*c);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    decoded.eq_ignore_ascii_case(b"password")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_wherever_the_driver_finds_them() {
        assert_eq!(
            redact("postgresql://ldk:s3cret@127.0.0.1:5432/node"),
            "postgresql://ldk:***@127.0.0.1:5432/node"
        );
        assert_eq!(
            redact("postgres://ldk@db.example/node?sslmode=disable"),
            "postgres://ldk@db.example/node?sslmode=disable"
        );
        // A ':' in the password, and '/' and '?' before the first '@': all credentials.
        assert_eq!(
            redact("postgresql://u:a:b/c?d@host/db"),
            "postgresql://u:***@host/db"
        );
        assert_eq!(
            redact("postgresql://host/db?user=u&password=s3cret&sslmode=disable"),
            "postgresql://host/db?user=u&password=***&sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://host/db?%70assword=s3cret"),
            "postgresql://host/db?%70assword=***"
        );
        assert_eq!(redact("postgresql://host"), "postgresql://host");
        assert_eq!(redact("mysql://u:p@h"), "mysql://***");
        for u in [
            "postgresql://ldk:s3cret@127.0.0.1:5432/node",
            "postgresql://u:xs3cret:y@h/db",
            "postgresql://h/db?PASSWORD=s3cret",
        ] {
            assert!(!redact(u).contains("s3cret"), "{u}");
        }
    }

    #[test]
    fn every_password_of_a_url_is_found() {
        assert_eq!(passwords_in("postgresql://u:s3cret@h/db"), ["s3cret"]);
        assert_eq!(
            passwords_in("postgres://u:a:b@h/db?password=c&sslmode=disable"),
            ["a:b", "c"]
        );
        assert!(passwords_in("postgresql://u@h/db?user=x").is_empty());
    }

    #[test]
    fn a_password_from_the_environment_goes_into_a_url_that_has_none() {
        let add =
            |u: &str, p: Option<&str>| with_password(Zeroizing::new(u.to_owned()), p).to_string();
        assert_eq!(
            add("postgresql://ldk@h/db", Some("s3cret")),
            "postgresql://ldk@h/db?password=s3cret"
        );
        assert_eq!(
            add("postgresql://ldk@h/db?sslmode=disable", Some("a b&c=%@")),
            "postgresql://ldk@h/db?sslmode=disable&password=a%20b%26c%3D%25%40"
        );
        // A password in the URL wins; an empty or missing one adds nothing.
        assert_eq!(
            add("postgresql://ldk:x@h/db", Some("s3cret")),
            "postgresql://ldk:x@h/db"
        );
        assert_eq!(
            add("postgresql://h/db?password=x", Some("s3cret")),
            "postgresql://h/db?password=x"
        );
        assert_eq!(add("postgresql://h/db", Some("")), "postgresql://h/db");
        assert_eq!(add("postgresql://h/db", None), "postgresql://h/db");
        assert_eq!(
            redact(&add("postgresql://ldk@h/db", Some("s3cret"))),
            "postgresql://ldk@h/db?password=***"
        );
    }

    #[test]
    fn a_url_argument_is_a_postgres_location_and_never_shown_in_full() {
        let a = StoreArg::from(OsString::from("postgresql://u:s3cret@h/db"));
        assert!(!format!("{a:?}").contains("s3cret"));
        let loc = a.resolve("node_a");
        let shown = loc.to_string();
        assert_eq!(shown, "postgresql://u:***@h/db (table node_a)");
        assert!(!format!("{loc:?}").contains("s3cret"));
        let Location::Postgres(pg) = &loc else {
            panic!("not a PostgreSQL location")
        };
        assert_eq!(pg.url(), "postgresql://u:s3cret@h/db");
        assert!(loc.path().is_none());
        match StoreArg::from(OsString::from("./postgresql")).resolve(DEFAULT_PG_TABLE) {
            Location::Path(p) => assert_eq!(p, PathBuf::from("./postgresql")),
            Location::Postgres(_) => panic!("a path read as a URL"),
        }
    }
}
