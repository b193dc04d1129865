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

use fuzz_fixtures::{authentic_headers, record_fixture, record_fixture_v2, sealed_v2};

fn put(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), bytes)
}

/// `len` bytes of xorshift64 from `seed`.
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
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

    // record_decrypt, selector from 128: through the store with encrypted names and
    // padding (bit 6 clear) the same kinds of seeds; through the record functions (bit 6 set)
    // each sealed record, by reference and raw, flipped in its ciphertext, and a canonical
    // padding as raw bytes (not a record: it reaches `unpad` through `rest`).
    let fx = record_fixture_v2().expect("v2 record fixture");
    let n = fx.records.len();
    for (i, (rec, _)) in fx.records.iter().enumerate() {
        let (s8, f8, i8, next) = (128 + i as u8, 192 + i as u8, i as u8, ((i + 1) % n) as u8);
        put(&dir, &format!("v2_authentic_{i}"), &[s8, i8])?;
        put(
            &dir,
            &format!("v2_authentic_raw_{i}"),
            &[&[s8, 255][..], rec].concat(),
        )?;
        put(&dir, &format!("v2_moved_{i}"), &[128 + next, i8])?;
        let mut flip = vec![s8, i8];
        flip.extend(std::iter::repeat_n(0, 40));
        flip.push(1);
        put(&dir, &format!("v2_flipped_{i}"), &flip)?;
        let sealed = sealed_v2(i).expect("v2 record seals");
        put(&dir, &format!("v2_sealed_{i}"), &[f8, i8])?;
        put(
            &dir,
            &format!("v2_sealed_raw_{i}"),
            &[&[f8, 255][..], &sealed].concat(),
        )?;
        put(
            &dir,
            &format!("v2_sealed_flipped_{i}"),
            &flip
                .iter()
                .enumerate()
                .map(|(j, b)| if j == 0 { f8 } else { *b })
                .collect::<Vec<_>>(),
        )?;
        let padded =
            encrypted_kvstore::__fuzzing::pad_v2(&fuzz_fixtures::fixture_value(i)).expect("pads");
        put(
            &dir,
            &format!("v2_padding_{i}"),
            &[&[f8, 255][..], &padded].concat(),
        )?;
    }

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
        put(&dir, "extended", &vec![0; h.len() + 2])?;
        let mut m = vec![0u8; 13];
        m[12] = 0x10;
        put(&dir, "memory_changed", &[&[0][..], &m].concat())?;
    }

    // header_parse: the headers of the committed v2 vectors that open (other
    // credentials than the fixtures': they must be refused, after every parsing step).
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
    let mut files: Vec<_> = fs::read_dir(&vectors)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("v2_") && n.ends_with("_ok.txt"))
        })
        .collect();
    files.sort();
    for f in files {
        let text = fs::read_to_string(&f)?;
        let Some(hex) = text.lines().find_map(|l| l.strip_prefix("header: ")) else {
            continue;
        };
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
            .collect();
        let stem = f.file_stem().and_then(|n| n.to_str()).unwrap_or("v2");
        put(
            &dir,
            &format!("vector_{stem}"),
            &[&[255][..], &bytes].concat(),
        )?;
    }

    // store_ops: byte strings that decode (through `arbitrary`) to varied operation lists: the
    // options byte (encrypted names, padding, a passphrase, an anchor), then the operations.
    let dir = root.join("store_ops");
    for (i, len) in [16usize, 64, 256, 1024].iter().enumerate() {
        let options = [0u8, 3, 5, 6][i];
        let bytes = pseudo_random(0x5eed_0100 + i as u64, *len);
        put(
            &dir,
            &format!("options_{options}_ops_{len}"),
            &[&[options][..], &bytes].concat(),
        )?;
    }

    // store_ops: scenarios spelled out (name 4 is `p/s/k`, name 5 `p//sk`), each
    // once per combination of names and padding (raw key), once with a passphrase, and with a
    // freshness anchor (8: raw key only, 15: every option), where the attacks after a reopen
    // are refused too. The attacks: an older record put back, a removed record put back (hard
    // and lazy), a record deleted, and the case a new instance without an anchor cannot tell
    // (after a reopen). The inner-store faults: a write and a remove that fail with or without
    // effect, a torn write and a write that does nothing, each followed by reads, a list and a
    // restart. Junk keys beside a written one. `op(k, fields)`: the `keep going` byte, variant
    // `k` of `Op` (10 variants, in declaration order), its fields (a `Write`'s value is a list:
    // its 0 byte ends it at once).
    const VARIANTS: u64 = 10;
    let op = |k: u64, fields: &[u8]| -> Vec<u8> {
        // The smallest u32 that `arbitrary` maps to variant k: (x * 10) >> 32 == k.
        let x = u32::try_from((k << 32).div_ceil(VARIANTS)).expect("k < 10");
        [&[1][..], &x.to_le_bytes(), fields].concat()
    };
    let (write, read) = (op(0, &[4, 0, 0]), op(1, &[4, 0]));
    let write_other = op(0, &[5, 1, 7, 0, 0]);
    let read_other = op(1, &[5, 0]);
    let (hard, lazy) = (op(2, &[4, 0, 0]), op(2, &[4, 1, 0]));
    let (list, list_all, reopen) = (op(3, &[4, 0]), op(4, &[]), op(5, &[]));
    let (put_back, delete) = (op(7, &[4, 0]), op(8, &[4]));
    let junk = op(9, &[4, 3, 1, 7, 0]);
    let fault = |kind: u8| op(6, &[kind]);
    let (failed, lost_ack, torn, lost) = (fault(0), fault(1), fault(2), fault(3));
    let scenarios: [(&str, Vec<&[u8]>); 13] = [
        ("rollback", vec![&write, &write, &put_back, &read]),
        (
            "removed_put_back",
            vec![&write, &hard, &put_back, &read, &list],
        ),
        (
            "lazy_removed_put_back",
            vec![&write, &lazy, &put_back, &read, &list],
        ),
        ("deletion", vec![&write, &delete, &read, &list, &list_all]),
        (
            "after_reopen",
            vec![&write, &write, &reopen, &put_back, &read],
        ),
        (
            "write_lost_ack",
            vec![&write, &lost_ack, &write, &read, &reopen, &read],
        ),
        (
            "write_failed",
            vec![&write, &failed, &write, &read, &put_back, &read],
        ),
        (
            "write_torn",
            vec![&write, &torn, &write, &read, &list, &reopen, &read],
        ),
        (
            "write_lost",
            vec![&write, &lost, &write, &read, &list, &reopen, &read],
        ),
        (
            "remove_lost_ack",
            vec![&write, &lost_ack, &hard, &read, &put_back, &read],
        ),
        (
            "remove_failed",
            vec![&write, &failed, &hard, &read, &list, &reopen, &read],
        ),
        (
            "junk_keys",
            vec![
                &write,
                &junk,
                &list,
                &list_all,
                &write_other,
                &read_other,
                &reopen,
                &list,
            ],
        ),
        (
            "list_failed",
            vec![&write, &failed, &list, &lost_ack, &list_all, &list],
        ),
    ];
    for (what, ops) in scenarios {
        for options in [0u8, 1, 2, 3, 7, 8, 15] {
            let mut bytes = vec![options];
            for o in &ops {
                bytes.extend_from_slice(o);
            }
            put(&dir, &format!("{what}_options_{options}"), &bytes)?;
        }
    }

    // name_decode: byte strings mostly in LDK's alphabet, so that the names `arbitrary`
    // makes of them are often valid, for each field.
    let dir = root.join("name_decode");
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (i, len) in [24usize, 96, 200, 400].iter().enumerate() {
        for field in 0..3u8 {
            let mut bytes: Vec<u8> = pseudo_random(0x4a3e_0000 + i as u64, *len)
                .into_iter()
                .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()])
                .collect();
            bytes[0] = field;
            put(&dir, &format!("field_{field}_len_{len}"), &bytes)?;
        }
    }
    Ok(())
}
