//! The on-disk side: checking that a directory has LDK's `FilesystemStore` layout, and building
//! a new store in a staging directory that is renamed into place only once it is complete.

use std::fs;
use std::path::{Path, PathBuf};

use lightning::util::persist::{KVSTORE_NAMESPACE_KEY_ALPHABET, KVSTORE_NAMESPACE_KEY_MAX_LEN};

use crate::fail::{io, Failure, Kind};

/// Name of the marker file that identifies a staging directory made by this tool. Its `.tmp`
/// extension makes `FilesystemStore` skip it, like its own temporary files.
pub const STAGING_MARKER: &str = "encrypted-kvstore-staging.tmp";

/// What a layout check found.
#[derive(Debug, Default)]
pub struct Layout {
    /// Every key, as `FilesystemStore::list_all_keys` would list it, sorted.
    pub keys: Vec<(String, String, String)>,
    /// Temporary files (`*.tmp`, `*.trash`) left by interrupted `FilesystemStore` writes; the
    /// store ignores them, and so does this tool.
    pub artifacts: Vec<PathBuf>,
    /// Top-level entries left out because they were excluded.
    pub excluded: Vec<PathBuf>,
}

fn is_artifact(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("tmp") | Some("trash")
    )
}

/// Whether `s` is a namespace or key name LDK accepts (1 to 120 of `A-Za-z0-9_-`).
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= KVSTORE_NAMESPACE_KEY_MAX_LEN
        && s.chars()
            .all(|c| KVSTORE_NAMESPACE_KEY_ALPHABET.contains(c))
}

/// What to do with a symbolic link found inside a store directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    /// Refuse the directory, naming every link (LDK never writes links; one can point outside
    /// the node's directory). `encrypt` says how to follow them instead.
    Refuse {
        /// Whether the command offers `--follow-symlinks` (named in the error).
        can_follow: bool,
    },
    /// Treat each link as what it points to (`encrypt --follow-symlinks`).
    Follow,
}

/// Checks that `dir` is a directory laid out as LDK's `FilesystemStore` writes it: files (keys)
/// and up to two levels of directories (namespaces), every name made of `A-Za-z0-9_-` and at
/// most 120 characters, plus temporary files the store ignores. Anything else is refused, so a
/// value can never be silently left out of a copy; so are symbolic links.
pub fn check(dir: &Path) -> Result<Layout, Failure> {
    check_excluding(dir, &[], Symlinks::Refuse { can_follow: false })
}

/// [`check`], leaving out the top-level entries named in `exclude` (neither checked nor listed),
/// with symbolic links handled as `symlinks` says.
pub fn check_excluding(
    dir: &Path,
    exclude: &[String],
    symlinks: Symlinks,
) -> Result<Layout, Failure> {
    let meta = fs::metadata(dir).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Failure::new(
                Kind::NotFilesystemStore,
                format!("{} does not exist", dir.display()),
            )
        } else {
            io("cannot read", dir, &e)
        }
    })?;
    if !meta.is_dir() {
        return Err(Failure::new(
            Kind::NotFilesystemStore,
            format!("{} is not a directory", dir.display()),
        ));
    }
    let mut layout = Layout::default();
    let mut links = Vec::new();
    walk(dir, dir, &[], exclude, symlinks, &mut layout, &mut links)?;
    if let Symlinks::Refuse { can_follow } = symlinks {
        if !links.is_empty() {
            let named: Vec<String> = links
                .iter()
                .take(10)
                .map(|l| describe_link(dir, l))
                .collect();
            let more = links.len().saturating_sub(named.len());
            return Err(Failure::new(
                Kind::NotFilesystemStore,
                format!(
                    "{} holds {} symbolic link(s), which LDK never writes and which can point                      outside the node's directory: {}{}. Refusing to read through them{}",
                    dir.display(),
                    links.len(),
                    named.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() },
                    if can_follow {
                        "; pass --follow-symlinks to copy what they point to"
                    } else {
                        ""
                    }
                ),
            ));
        }
    }
    layout.keys.sort();
    Ok(layout)
}

/// `rel -> target` for a link found under `root`.
fn describe_link(root: &Path, link: &Path) -> String {
    let rel = link
        .strip_prefix(root)
        .unwrap_or(link)
        .display()
        .to_string();
    match fs::read_link(link) {
        Ok(t) => format!("{rel} -> {}", t.display()),
        Err(_) => rel,
    }
}

fn walk(
    root: &Path,
    dir: &Path,
    namespaces: &[&str],
    exclude: &[String],
    symlinks: Symlinks,
    layout: &mut Layout,
    links: &mut Vec<PathBuf>,
) -> Result<(), Failure> {
    let depth = namespaces.len();
    let entries = fs::read_dir(dir).map_err(|e| io("cannot list", dir, &e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("cannot list", dir, &e))?;
        let path = entry.path();
        if depth == 0 && exclude.iter().any(|x| entry.file_name() == x.as_str()) {
            layout.excluded.push(path);
            continue;
        }
        if is_artifact(&path) {
            layout.artifacts.push(path);
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let not_fs = |why: &str| {
            Failure::new(
                Kind::NotFilesystemStore,
                format!(
                    "{} is not an LDK FilesystemStore directory: {rel} {why}",
                    root.display()
                ),
            )
        };
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            return Err(not_fs("has a name that is not UTF-8"));
        };
        if !valid_name(name) {
            return Err(not_fs(
                "has a name LDK never writes (allowed: 1 to 120 of A-Z a-z 0-9 _ -)",
            ));
        }
        let mut meta = fs::symlink_metadata(&path).map_err(|e| io("cannot read", &path, &e))?;
        if meta.file_type().is_symlink() {
            match symlinks {
                Symlinks::Refuse { .. } => {
                    links.push(path);
                    continue;
                }
                Symlinks::Follow => {
                    meta = fs::metadata(&path).map_err(|e| io("cannot follow", &path, &e))?;
                }
            }
        }
        if meta.is_dir() {
            if depth >= 2 {
                return Err(not_fs(
                    "is a directory nested deeper than the two namespace levels LDK uses",
                ));
            }
            let mut inner = namespaces.to_vec();
            inner.push(name);
            walk(root, &path, &inner, exclude, symlinks, layout, links)?;
        } else if meta.is_file() {
            let ns = |i: usize| namespaces.get(i).copied().unwrap_or("").to_owned();
            layout.keys.push((ns(0), ns(1), name.to_owned()));
        } else {
            return Err(not_fs("is neither a file nor a directory"));
        }
    }
    Ok(())
}

/// True when `dir` exists and has no entries.
fn is_empty_dir(dir: &Path) -> Result<bool, Failure> {
    let mut it = fs::read_dir(dir).map_err(|e| io("cannot list", dir, &e))?;
    Ok(it.next().is_none())
}

/// The absolute form of `p`, resolving symlinks in the part that exists.
fn absolute(p: &Path) -> Result<PathBuf, Failure> {
    if let Ok(c) = fs::canonicalize(p) {
        return Ok(c);
    }
    let abs = std::path::absolute(p).map_err(|e| io("cannot resolve", p, &e))?;
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => Ok(absolute(parent)?.join(name)),
        _ => Ok(abs),
    }
}

/// Refuses a destination that is, contains, or lies inside the source.
pub fn refuse_overlap(src: &Path, dst: &Path, staging: &Path) -> Result<(), Failure> {
    let s = absolute(src)?;
    for d in [dst, staging] {
        let d = absolute(d)?;
        if d.starts_with(&s) || s.starts_with(&d) {
            return Err(Failure::new(
                Kind::Usage,
                format!(
                    "source {} and destination {} overlap; choose a destination outside the source",
                    src.display(),
                    d.display()
                ),
            ));
        }
    }
    Ok(())
}

/// A new store being built next to its destination.
pub struct Staging {
    /// The staging directory (`<DEST>.partial`).
    pub path: PathBuf,
    /// Where it goes when complete.
    pub dest: PathBuf,
    done: bool,
}

/// The staging path for `dest`: `<DEST>.partial` in the same parent directory, so the final
/// rename stays on one file system.
pub fn staging_path(dest: &Path) -> Result<PathBuf, Failure> {
    let name = dest.file_name().ok_or_else(|| {
        Failure::new(
            Kind::Usage,
            format!("{} does not name a directory to create", dest.display()),
        )
    })?;
    let mut staged = name.to_os_string();
    staged.push(".partial");
    Ok(dest.with_file_name(staged))
}

/// Refuses a destination that exists and is not an empty directory.
pub fn check_destination(dest: &Path) -> Result<(), Failure> {
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot read", dest, &e)),
        Ok(m) if !m.is_dir() => {
            return Err(Failure::new(
                Kind::DestinationNotEmpty,
                format!("{} exists and is not a directory", dest.display()),
            ))
        }
        Ok(_) => {
            if !is_empty_dir(dest)? {
                return Err(Failure::new(
                    Kind::DestinationNotEmpty,
                    format!(
                        "destination {} exists and is not empty; refusing to touch it \
                         (if an earlier run finished, check it with `verify`)",
                        dest.display()
                    ),
                ));
            }
        }
    }
    let parent = parent_of(dest);
    if !parent.is_dir() {
        return Err(Failure::new(
            Kind::Usage,
            format!(
                "the parent directory {} of the destination does not exist",
                parent.display()
            ),
        ));
    }
    Ok(())
}

/// Refuses a destination file (an ldk-node database to create) that exists in any form.
pub fn check_destination_file(dest: &Path) -> Result<(), Failure> {
    match fs::symlink_metadata(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot read", dest, &e)),
        Ok(_) => {
            return Err(Failure::new(
                Kind::DestinationNotEmpty,
                format!(
                    "destination {} exists; refusing to touch it (if an earlier run finished, \
                     check it with `verify`)",
                    dest.display()
                ),
            ))
        }
    }
    let parent = parent_of(dest);
    if !parent.is_dir() {
        return Err(Failure::new(
            Kind::Usage,
            format!(
                "the parent directory {} of the destination does not exist",
                parent.display()
            ),
        ));
    }
    Ok(())
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(q) if !q.as_os_str().is_empty() => q.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates a directory readable only by its owner (on Unix).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut b = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(path)
}

/// Flushes a directory's entries to disk (no-op where directories cannot be opened).
fn sync_dir(dir: &Path) -> Result<(), Failure> {
    #[cfg(unix)]
    {
        fs::File::open(dir)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("cannot sync", dir, &e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl Staging {
    /// Makes a fresh staging directory for `dest`. A staging directory left by an interrupted
    /// run (it holds the marker file) is removed first, with a note on stderr; one without the
    /// marker is not ours and is refused.
    pub fn begin(dest: &Path) -> Result<Staging, Failure> {
        let path = staging_path(dest)?;
        match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("cannot read", &path, &e)),
            Ok(m) => {
                if m.is_dir() && path.join(STAGING_MARKER).is_file() {
                    eprintln!(
                        "note: removing {} left by an interrupted earlier run, and starting over",
                        path.display()
                    );
                    fs::remove_dir_all(&path).map_err(|e| io("cannot remove", &path, &e))?;
                } else {
                    return Err(Failure::new(
                        Kind::DestinationNotEmpty,
                        format!(
                            "{} exists but was not made by this tool; move it out of the way",
                            path.display()
                        ),
                    ));
                }
            }
        }
        create_private_dir(&path).map_err(|e| io("cannot create", &path, &e))?;
        let marker = path.join(STAGING_MARKER);
        fs::write(
            &marker,
            b"Incomplete copy made by encrypted-kvstore; safe to delete. \
              It is renamed into place only after every value was read back and compared.\n",
        )
        .map_err(|e| io("cannot write", &marker, &e))?;
        sync_dir(&path)?;
        sync_dir(&parent_of(&path))?;
        Ok(Staging {
            path,
            dest: dest.to_path_buf(),
            done: false,
        })
    }

    /// Moves the complete store into place: one rename of the staging directory over the
    /// (absent or empty) destination, then the marker file is removed.
    pub fn commit(mut self) -> Result<(), Failure> {
        sync_dir(&self.path)?;
        if self.dest.is_dir() {
            // Empty (checked before we started); rename(2) could replace it on Unix, but not
            // everywhere.
            fs::remove_dir(&self.dest).map_err(|e| io("cannot replace", &self.dest, &e))?;
        }
        fs::rename(&self.path, &self.dest).map_err(|e| io("cannot rename", &self.path, &e))?;
        self.done = true;
        sync_dir(&parent_of(&self.dest))?;
        let marker = self.dest.join(STAGING_MARKER);
        fs::remove_file(&marker).map_err(|e| io("cannot remove", &marker, &e))?;
        sync_dir(&self.dest)
    }
}

impl Staging {
    /// Puts the file `name` built inside the staging directory in place as the destination
    /// file: a hard link, which fails rather than replace a destination that appeared
    /// meanwhile, then the staging directory (marker and all) is removed.
    pub fn commit_file(mut self, name: &std::ffi::OsStr) -> Result<(), Failure> {
        let built = self.path.join(name);
        fs::File::open(&built)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("cannot sync", &built, &e))?;
        fs::hard_link(&built, &self.dest).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Failure::new(
                    Kind::DestinationNotEmpty,
                    format!(
                        "destination {} appeared while the tool ran; nothing was put in place",
                        self.dest.display()
                    ),
                )
            } else {
                io("cannot link into place", &built, &e)
            }
        })?;
        self.done = true;
        sync_dir(&parent_of(&self.dest))?;
        fs::remove_dir_all(&self.path).map_err(|e| io("cannot remove", &self.path, &e))?;
        sync_dir(&parent_of(&self.dest))
    }
}

impl Drop for Staging {
    /// A staging directory that was not committed (an error was reported) is removed, so no
    /// partial copy (for `decrypt`, plaintext) stays behind.
    fn drop(&mut self) {
        if !self.done {
            if let Err(e) = fs::remove_dir_all(&self.path) {
                eprintln!(
                    "warning: could not remove the incomplete copy {}: {e}",
                    self.path.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_artifacts_follow_filesystem_store() {
        assert!(valid_name("monitors"));
        assert!(valid_name(&"a".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN)));
        assert!(!valid_name(&"a".repeat(KVSTORE_NAMESPACE_KEY_MAX_LEN + 1)));
        assert!(!valid_name(""));
        assert!(!valid_name("notes.txt"));
        assert!(!valid_name("é"));
        assert!(is_artifact(Path::new("monitors/abc_1.3.tmp")));
        assert!(is_artifact(Path::new("x.trash")));
        assert!(is_artifact(Path::new(STAGING_MARKER)));
        assert!(!is_artifact(Path::new("monitors/abc_1")));
    }

    #[test]
    fn staging_is_a_sibling_of_the_destination() {
        assert_eq!(
            staging_path(Path::new("/data/enc")).unwrap(),
            PathBuf::from("/data/enc.partial")
        );
        assert_eq!(
            staging_path(Path::new("enc/")).unwrap(),
            PathBuf::from("enc.partial")
        );
        assert!(staging_path(Path::new("/")).is_err());
        assert_eq!(parent_of(Path::new("enc")), PathBuf::from("."));
    }

    #[test]
    fn layout_check_refuses_what_ldk_never_writes() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        fs::create_dir_all(root.join("monitor_updates").join("abc")).unwrap();
        fs::write(root.join("manager"), b"m").unwrap();
        fs::write(root.join("monitor_updates").join("abc").join("1"), b"u").unwrap();
        fs::write(root.join("manager.0.tmp"), b"half").unwrap();
        let l = check(root).unwrap();
        assert_eq!(l.artifacts, vec![root.join("manager.0.tmp")]);
        assert_eq!(
            l.keys,
            vec![
                ("".into(), "".into(), "manager".into()),
                ("monitor_updates".into(), "abc".into(), "1".into())
            ]
        );
        let l = check_excluding(
            root,
            &["monitor_updates".into()],
            Symlinks::Refuse { can_follow: false },
        )
        .unwrap();
        assert_eq!(l.keys, vec![("".into(), "".into(), "manager".into())]);
        assert_eq!(l.excluded, vec![root.join("monitor_updates")]);

        fs::create_dir(root.join("monitor_updates").join("abc").join("deeper")).unwrap();
        let e = check(root).unwrap_err();
        assert_eq!(e.kind, Kind::NotFilesystemStore);
        assert!(e.msg.contains("deeper"), "{}", e.msg);

        fs::remove_dir(root.join("monitor_updates").join("abc").join("deeper")).unwrap();
        fs::write(root.join("README.md"), b"x").unwrap();
        assert!(check(root).unwrap_err().msg.contains("README.md"));
        assert_eq!(
            check(&root.join("missing")).unwrap_err().kind,
            Kind::NotFilesystemStore
        );
    }
}
