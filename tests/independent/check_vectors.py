#!/usr/bin/env python3
"""A second implementation of encrypted-kvstore's format, written from docs/FORMAT.md alone.

It shares no code with the Rust crate: Argon2id from argon2-cffi, XChaCha20-Poly1305 from
PyNaCl (libsodium), BLAKE2b from hashlib, AES-SIV from `cryptography`. The header, record,
names and anchor are read by check_vectors_v2.py beside it (which also generates the v2
vectors); this file is the one command that checks a directory, and writes stores of its own.
Run from the repository root:

    python3 tests/independent/check_vectors.py tests/vectors         # check every vector
    python3 tests/independent/check_vectors.py tests/independent/written
    python3 tests/independent/check_vectors.py --write DIR           # write stores of its own

Checking prints one line per vector (name, expected, got, and for a failure the step of
"Reading the header" or "Reading a record" where it happened) and exits 0 only if every
vector in the directory gives its expected outcome. Writing makes a few stores with fresh OS
randomness, as "Writing the header" and "Record" say, in the vector file format with
`expect: success`, for the Rust library to open.
"""

import argparse
import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_vectors_v2 as fmt  # noqa: E402  (the format: header, record, names, anchor)

SEED_LABEL = b"encrypted-kvstore v1 storage key from node seed"


def derive_from_seed(seed):
    """ "Raw keys from a node seed": keyed BLAKE2b-256 of a fixed label, for 16 to 64 bytes."""
    if not 16 <= len(seed) <= 64:
        return None
    return hashlib.blake2b(SEED_LABEL, digest_size=32, key=seed).digest()


def parse(path):
    """The `name: value` lines of a file; `anchor` may repeat: a list of them."""
    fields = {}
    for line in path.read_text().splitlines():
        if line.strip():
            name, sep, value = line.partition(":")
            name, value = name.strip(), value.strip()
            if sep and name == "anchor":
                fields.setdefault(name, []).append(value)
            elif not sep or name in fields:
                raise ValueError(f"bad or repeated line {line!r}")
            else:
                fields[name] = value
    return fields


def check_seed_case(f):
    key = derive_from_seed(bytes.fromhex(f["seed"]))
    got = "none" if key is None else key.hex()
    return got == f["raw_key"], got, f"seed of {len(f['seed']) // 2} bytes"


KINDS = {"store": fmt.check_store_case, "seed-derivation": check_seed_case,
         "padme": fmt.check_padme_case}


def check_dir(directory):
    files = sorted(Path(directory).glob("*.txt"))
    failed = 0
    for path in files:
        try:
            f = parse(path)
            check = KINDS.get(f.get("kind", "store"))
            if check is None:
                raise ValueError(f"unknown kind {f['kind']!r}")
            ok, got, note = check(f)
            expected = f.get("expect") or f.get("raw_key") or "every padme(x)"
        except (KeyError, ValueError) as e:
            ok, expected, got, note = False, "?", "unreadable", repr(e)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {path.name}: expected {expected}, got {got} ({note})")
    if not files:
        print(f"FAIL no vector files in {directory}")
    print(f"{len(files) - failed} passed, {failed} failed")
    return bool(files) and failed == 0


def write_case(path, description, credential, kdf, names, plaintext, options=0):
    """A new store holding one value at version 1, made as FORMAT.md says for `create` and a
    first write (one data key, key id 0, header_seq 1, version_limit 2^32 + 1; `options` as
    asked), with fresh OS randomness. Anchored: the anchor `create` writes (`meta` of a random
    epoch, header_seq 1, version_limit 2^32 + 1, accept mark 1) and the write's entry."""
    kind, secret = credential
    protection = fmt.PASSPHRASE if kind == "passphrase" else fmt.RAW_KEY
    data_key, hk, anchor_key = os.urandom(32), os.urandom(32), os.urandom(32)
    name_key = os.urandom(64) if options & fmt.NAMES else None
    limit = fmt.BLOCK + 1
    header = fmt.build_header(
        protection=protection, secret=secret,
        kdf=kdf if protection == fmt.PASSPHRASE else (0, 0, 0),
        salt=os.urandom(32), store_id=(store_id := os.urandom(16)),
        wrap_nonce=os.urandom(24), hk=hk, options=options, key_ids=(0,), data_keys=[data_key],
        anchor_key=anchor_key, name_key=name_key, header_seq=1, version_limit=limit,
        secrets_nonce=os.urandom(24))
    plain_names = tuple(n.decode("ascii") for n in names)
    sealed = fmt.pad(plaintext) if options & fmt.PADDING else plaintext
    record = fmt.seal_record(data_key, 0, 1, os.urandom(24), store_id, plain_names, sealed)
    store = fmt.Store(header, hk, data_key + anchor_key + (name_key or b""))
    stored = fmt.stored_names(store, plain_names)
    primary, secondary, key = plain_names
    lines = [f"description: {description}", "expect: success", f"credential: {kind} {secret.hex()}",
             f"primary: {primary}", f"secondary: {secondary}", f"key: {key}"]
    if options & fmt.NAMES:
        lines += [f"stored_primary: {stored[0]}", f"stored_secondary: {stored[1]}",
                  f"stored_key: {stored[2]}"]
    lines += [f"header: {header.hex()}", f"record: {record.hex()}"]
    if options & fmt.ANCHORED:
        epoch = int.from_bytes(os.urandom(8), "little")

        def seal(name, value):
            return f"anchor: {name} {fmt.seal_anchor_value(anchor_key, store_id, name, value, os.urandom(24)).hex()}"

        entry = fmt.entry_name(anchor_key, epoch, plain_names)
        lines += [seal(fmt.META, fmt.meta_plaintext(epoch, 1, limit, 1)),
                  seal(entry, fmt.entry_plaintext(epoch, 1, plain_names))]
    lines += ["version: 1", f"plaintext: {plaintext.hex()}"]
    path.write_text("\n".join(lines) + "\n")


def write_dir(directory):
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    passphrase = ("passphrase", b"written by the independent implementation")
    raw_key = ("key", os.urandom(32))
    monitor = (b"monitors", b"", b"0123abcd_1")
    update = (b"monitor_updates", b"0123abcd_1", b"18446744073709551615")
    cases = [
        ("py_passphrase_ok", "Passphrase store (Argon2id m=256 KiB t=2 p=2) written by Python",
         passphrase, (256, 2, 2), monitor, os.urandom(100), 0),
        ("py_raw_key_ok", "Raw-key store written by Python",
         raw_key, None, monitor, os.urandom(100), 0),
        ("py_empty_value_ok", "An empty value under the top-level namespace, written by Python",
         passphrase, (64, 1, 1), (b"", b"", b"manager"), b"", 0),
        ("py_max_length_names_ok", "120-byte names and all 256 byte values, written by Python",
         raw_key, None, (b"A" * 120, b"b" * 120, b"c-_9" * 30), bytes(range(256)), 0),
        ("py_anchored_ok", "An anchored passphrase store and its anchor, written by Python",
         passphrase, (64, 1, 1), monitor, os.urandom(100), fmt.ANCHORED),
        ("py_names_padding_anchored_ok",
         "Encrypted names, padding and an anchor, raw key, written by Python",
         raw_key, None, update, os.urandom(1000), fmt.NAMES | fmt.PADDING | fmt.ANCHORED),
    ]
    for name, description, credential, kdf, names, plaintext, options in cases:
        write_case(out / f"{name}.txt", description, credential, kdf, names, plaintext, options)
    print(f"wrote {len(cases)} stores to {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vectors", nargs="*", help="directories of vector files to check")
    parser.add_argument("--write", metavar="DIR",
                        help="write stores of our own into DIR, then check them")
    args = parser.parse_args()
    if not args.vectors and not args.write:
        parser.error("give a vector directory, --write DIR, or both")
    ok = True
    if args.write:
        write_dir(args.write)
        ok = check_dir(args.write)
    for directory in args.vectors:
        ok = check_dir(directory) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
