//! Writes the seed corpus under `fuzz/seeds/<target>/` from the same deterministic fixtures the
//! targets use, so the seeds are authentic records and headers of the targets' stores:
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_seeds -- fuzz/seeds
//! ```
//!
//! Seeds are named by their content's role, and rewritten identically on every run.

use std::fs;
use std::path::Path;

use fuzz_fixtures::{authentic_headers, record_fixture};

fn put(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), bytes)
}

fn main() -> std::io::Result<()> {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/seeds".into());
    let root = Path::new(&root);

    // record_decrypt: selector byte, then the record. Each authentic record under its own
    // triple, under the next triple (must fail), truncated by one, and empty.
    let fx = record_fixture().expect("record fixture");
    let dir = root.join("record_decrypt");
    let n = fx.records.len();
    for (i, (rec, _)) in fx.records.iter().enumerate() {
        let own = [&[i as u8][..], rec].concat();
        put(&dir, &format!("authentic_{i}"), &own)?;
        let other = [&[((i + 1) % n) as u8][..], rec].concat();
        put(&dir, &format!("moved_{i}"), &other)?;
        put(&dir, &format!("truncated_{i}"), &own[..own.len() - 1])?;
    }
    put(&dir, "empty_record", &[0])?;

    // header_parse: every authentic header, and one of them truncated and extended.
    let headers = authentic_headers().expect("header fixture");
    let dir = root.join("header_parse");
    for (i, (h, u)) in headers.iter().enumerate() {
        put(&dir, &format!("authentic_{i}_{u:?}").to_lowercase(), h)?;
    }
    if let Some((h, _)) = headers.first() {
        put(&dir, "truncated", &h[..h.len() - 1])?;
        put(&dir, "extended", &[&h[..], &[0]].concat())?;
    }

    // store_ops: byte strings that decode (through `arbitrary`) to varied operation lists.
    let dir = root.join("store_ops");
    for (i, len) in [16usize, 64, 256, 1024].iter().enumerate() {
        let mut x: u64 = 0x5eed_0000 + i as u64;
        let bytes: Vec<u8> = (0..*len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        put(&dir, &format!("ops_{len}"), &bytes)?;
    }
    Ok(())
}
