//! Not a stable API (feature `test-support`): what the workspace's PostgreSQL tests share.
//!
//! The servers come from `scripts/pg-test-cluster`:
//!
//! ```text
//! eval "$(scripts/pg-test-cluster start /tmp/ekv-pg 54320)"   # EKV_PG_PRIMARY, EKV_PG_STANDBY, EKV_PG_DIR
//! cargo test
//! scripts/pg-test-cluster stop /tmp/ekv-pg
//! ```
//!
//! Without those variables each PostgreSQL test prints one line saying it is skipped and passes;
//! with `EKV_PG_REQUIRED=1` (CI) it fails instead. Tests sharing the server isolate themselves
//! with [`unique_table`]; tests that break a server (kill, failover) start a [`PrivateCluster`].

#![allow(clippy::panic, clippy::expect_used)] // Test support: a test that cannot run must fail.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The shared test servers, from the environment.
#[derive(Debug, Clone)]
pub struct PgEnv {
    /// `EKV_PG_PRIMARY`: the primary's URL.
    pub primary: String,
    /// `EKV_PG_STANDBY`: its streaming standby's URL.
    pub standby: String,
    /// `EKV_PG_DIR`: the cluster's directory (for `scripts/pg-test-cluster wait-standby`).
    pub dir: PathBuf,
}

impl PgEnv {
    /// Blocks until the standby has replayed everything the primary had written.
    pub fn wait_standby(&self) {
        script(&["wait-standby", &self.dir.to_string_lossy()]);
    }
}

/// The shared servers, or `None` (after printing why and how to run) when the variables are
/// unset. Panics instead when `EKV_PG_REQUIRED=1`.
pub fn pg_env(test: &str) -> Option<PgEnv> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    match (
        var("EKV_PG_PRIMARY"),
        var("EKV_PG_STANDBY"),
        var("EKV_PG_DIR"),
    ) {
        (Some(primary), Some(standby), Some(dir)) => Some(PgEnv {
            primary,
            standby,
            dir: PathBuf::from(dir),
        }),
        _ => {
            let why = "EKV_PG_PRIMARY, EKV_PG_STANDBY and EKV_PG_DIR are not all set";
            if std::env::var("EKV_PG_REQUIRED").as_deref() == Ok("1") {
                panic!("{test}: EKV_PG_REQUIRED=1 but {why}");
            }
            eprintln!(
                "skipping PostgreSQL test {test}: {why}; run \
                 eval \"$(scripts/pg-test-cluster start /tmp/ekv-pg 54320)\" first"
            );
            None
        }
    }
}

/// A table name no other test (of any process) uses: `prefix`, the process id, a counter and
/// the time.
pub fn unique_table(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A multi-thread runtime with two workers and every driver on, as the store needs.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The test server script: `EKV_PG_SCRIPT`, else `scripts/pg-test-cluster` of this workspace.
pub fn script_path() -> PathBuf {
    match std::env::var_os("EKV_PG_SCRIPT") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-test-cluster"),
    }
}

/// Runs the script; panics with its output if it fails. Returns its stdout.
pub fn script(args: &[&str]) -> String {
    let out = Command::new(script_path())
        .args(args)
        .output()
        .expect("scripts/pg-test-cluster runs");
    if !out.status.success() {
        panic!(
            "scripts/pg-test-cluster {} failed: {}\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A primary and its streaming standby of this test's own, in a temporary directory, on two
/// free ports; stopped and removed on drop. For tests that kill or fail over a server.
#[derive(Debug)]
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    /// The primary's URL.
    pub primary: String,
    /// The standby's URL.
    pub standby: String,
}

impl PrivateCluster {
    /// Starts a pair, or `None` when PostgreSQL tests are not enabled (see [`pg_env`]).
    pub fn start(test: &str) -> Option<Self> {
        pg_env(test)?;
        let dir = tempfile::Builder::new()
            .prefix("ekv-pg-private-")
            .tempdir()
            .expect("a temp dir");
        let port = free_port_pair();
        let out = script(&["start", &dir.path().to_string_lossy(), &port.to_string()]);
        let export = |name: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}='")))
                .and_then(|v| v.strip_suffix('\''))
                .map(str::to_owned)
                .expect("the script prints the URLs")
        };
        Some(PrivateCluster {
            primary: export("EKV_PG_PRIMARY"),
            standby: export("EKV_PG_STANDBY"),
            dir,
        })
    }

    fn run(&self, command: &str) {
        script(&[command, &self.dir.path().to_string_lossy()]);
    }

    /// `pg_ctl stop -m immediate` on the primary: a crash, no shutdown checkpoint.
    pub fn kill_primary(&self) {
        self.run("kill-primary");
    }
    /// Starts the primary again.
    pub fn start_primary(&self) {
        self.run("start-primary");
    }
    /// Stops the standby and removes its `primary_conninfo`: started again, it streams nothing.
    pub fn cut_standby(&self) {
        self.run("cut-standby");
    }
    /// Starts the standby.
    pub fn start_standby(&self) {
        self.run("start-standby");
    }
    /// Promotes the standby to a primary.
    pub fn promote(&self) {
        self.run("promote");
    }
    /// Blocks until the standby has replayed everything the primary had written.
    pub fn wait_standby(&self) {
        self.run("wait-standby");
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        // Not `script`: a panic while panicking would abort the test binary.
        let _ = Command::new(script_path())
            .args(["stop", &self.dir.path().to_string_lossy()])
            .output();
    }
}

/// A port `p` with `p` and `p + 1` free on 127.0.0.1, from a range the shared cluster (54320)
/// does not use, spread by process id so parallel test binaries rarely collide.
fn free_port_pair() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = 55000 + (std::process::id() % 500) * 8;
    for _ in 0..200 {
        let offset = NEXT.fetch_add(2, Ordering::Relaxed);
        let port = 55000 + (base - 55000 + offset) % 9000;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 1) {
            return port;
        }
    }
    panic!("no two free adjacent ports on 127.0.0.1 from 55000");
}
