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

    // record_decrypt: triple byte, source byte, rest (see the target). Each authentic record
    // under its own triple (by reference and as raw bytes), moved to the next triple, with one
    // bit flipped, and truncated by one byte; and an empty record.
    let fx = record_fixture().expect("record fixture");
    let dir = root.join("record_decrypt");
    let n = fx.records.len();
    for (i, (rec, _)) in fx.records.iter().enumerate() {
        let (i8, next) = (i as u8, ((i + 1) % n) as u8);
        put(&dir, &format!("authentic_{i}"), &[i8, i8])?;
        put(
            &dir,
            &format!("authentic_raw_{i}"),
            &[&[i8, 255][..], rec].concat(),
        )?;
        put(&dir, &format!("moved_{i}"), &[next, i8])?;
        put(&dir, &format!("flipped_{i}"), &[i8, i8, 0, 0, 0, 0, 0, 1])?;
        put(
            &dir,
            &format!("truncated_raw_{i}"),
            &[&[i8, 255][..], &rec[..rec.len() - 1]].concat(),
        )?;
    }
    put(&dir, "empty_record", &[0, 255])?;

    // header_parse: mode byte, rest (see the target). Every authentic header by reference and as
    // raw bytes; the first one truncated and extended; and one with its memory cost changed
    // (the target recomputes the checksum, so this reaches the key unwrap).
    let headers = authentic_headers().expect("header fixture");
    let dir = root.join("header_parse");
    for (i, (h, u)) in headers.iter().enumerate() {
        put(
            &dir,
            &format!("authentic_{i}_{u:?}").to_lowercase(),
            &[i as u8],
        )?;
        put(
            &dir,
            &format!("authentic_raw_{i}_{u:?}").to_lowercase(),
            &[&[255][..], h].concat(),
        )?;
    }
    if let Some((h, _)) = headers.first() {
        put(&dir, "truncated", &[&[255][..], &h[..h.len() - 1]].concat())?;
        put(&dir, "extended", &[0; 182])?;
        let mut m = vec![0u8; 13];
        m[12] = 0x10;
        put(&dir, "memory_changed", &[&[0][..], &m].concat())?;
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
