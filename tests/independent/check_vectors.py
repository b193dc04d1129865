#!/usr/bin/env python3
"""A second implementation of encrypted-kvstore's format, written from docs/FORMAT.md alone.

It shares no code with the Rust crate: Argon2id from argon2-cffi, XChaCha20-Poly1305 from
PyNaCl (libsodium), BLAKE2b from hashlib. Format version 2 (headers with version byte 2 and
other version bytes, and `kind: padme`) is checked by check_vectors_v2.py beside it (which
also needs `cryptography`), so one command checks every file. Run from the repository root:

    python3 tests/independent/check_vectors.py tests/vectors         # check every vector
    python3 tests/independent/check_vectors.py tests/independent/written
    python3 tests/independent/check_vectors.py --write DIR           # write stores of its own

Checking prints one line per vector (name, expected, got, and for a failure the step of
"Reading a header" or the record check where it happened) and exits 0 only if every vector
in the directory gives its expected outcome. Writing makes a few stores with fresh OS
randomness, in the vector file format with `expect: success`, for the Rust library to open.
"""

import argparse
import hashlib
import os
import sys
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt as xchacha_open,
    crypto_aead_xchacha20poly1305_ietf_encrypt as xchacha_seal,
)
from nacl.exceptions import CryptoError

MAGIC = b"EKVSTORE"
VERSION = 1
PASSPHRASE, RAW_KEY = 0x01, 0x02
HEADER_LEN = 180
RECORD_OVERHEAD = 1 + 4 + 24 + 16
PASSPHRASE_KEK_LABEL = b"encrypted-kvstore v1 passphrase kek"
RAW_KEY_KEK_LABEL = b"encrypted-kvstore v1 raw-key kek"
CHECKSUM_LABEL = b"encrypted-kvstore v1 header checksum"
SEED_LABEL = b"encrypted-kvstore v1 storage key from node seed"
RECORD_LABEL = b"encrypted-kvstore v1 record"
assert len(RECORD_LABEL) == 27

# "KDF bounds" (KiB, passes, lanes).
MAX_MEMORY, MAX_PASSES, MAX_WORK, MAX_LANES = 1_048_576, 10, 4_194_304, 16


def le32(n):
    return n.to_bytes(4, "little")


def u32_at(b, offset):
    return int.from_bytes(b[offset : offset + 4], "little")


def blake2b_256(message, key=b""):
    return hashlib.blake2b(message, digest_size=32, key=key).digest()


class Failure(Exception):
    """An outcome other than success: `what` is "open failure: X" or "read failure: X"."""

    def __init__(self, what, step, why):
        super().__init__(what)
        self.what, self.step, self.why = what, step, why


def open_fail(error, step, why):
    return Failure(f"open failure: {error}", f"header step {step}", why)


def kdf_within_bounds(m, t, p):
    return (1 <= p <= MAX_LANES and 8 * p <= m <= MAX_MEMORY
            and 1 <= t <= MAX_PASSES and m * t <= MAX_WORK)


def derive_kek(protection, credential, salt, m, t, p):
    if protection == PASSPHRASE:
        return hash_secret_raw(secret=credential, salt=PASSPHRASE_KEK_LABEL + salt, time_cost=t,
                               memory_cost=m, parallelism=p, hash_len=32, type=Type.ID,
                               version=0x13)
    return blake2b_256(RAW_KEY_KEK_LABEL + salt, key=credential)


def header_bytes_0_100(protection, m, t, p, salt, store_id, key_id, wrap_nonce):
    return (MAGIC + bytes([VERSION, protection]) + b"\0\0" + le32(m) + le32(t) + le32(p)
            + salt + store_id + key_id + wrap_nonce)


def checksum(bytes_0_148):
    return blake2b_256(CHECKSUM_LABEL + bytes_0_148)


def read_header(h, credential):
    """The nine steps of "Reading a header", in order. Returns (data key, store id, key id)."""
    if h is None:
        raise open_fail("NotInitialized", 1, "no value at the reserved place")
    if len(h) < 8 or h[:8] != MAGIC:
        raise open_fail("CorruptHeader", 2, f"{len(h)} bytes, magic {h[:8].hex()}")
    if len(h) == 8:
        raise open_fail("CorruptHeader", 3, "version byte missing")
    if h[8] != VERSION:
        raise open_fail("UnsupportedVersion", 3, f"version {h[8]}")
    if len(h) != HEADER_LEN:
        raise open_fail("CorruptHeader", 4, f"length {len(h)}")
    if h[148:180] != checksum(h[:148]):
        raise open_fail("CorruptHeader", 5, "checksum mismatch")
    if h[10:12] != b"\0\0":
        raise open_fail("CorruptHeader", 6, f"reserved bytes {h[10:12].hex()}")
    protection, m, t, p = h[9], u32_at(h, 12), u32_at(h, 16), u32_at(h, 20)
    if protection == PASSPHRASE:
        if not kdf_within_bounds(m, t, p):
            raise open_fail("KdfParamsOutOfBounds", 7, f"m={m} t={t} p={p}")
    elif protection == RAW_KEY:
        if (m, t, p) != (0, 0, 0):
            raise open_fail("CorruptHeader", 7, f"raw-key header with m={m} t={t} p={p}")
    else:
        raise open_fail("CorruptHeader", 7, f"protection {protection:#04x}")
    salt, store_id, key_id, wrap_nonce = h[24:56], h[56:72], h[72:76], h[76:100]
    kind, secret = credential
    if protection == PASSPHRASE and kind != "passphrase":
        raise open_fail("PassphraseRequired", 8, "passphrase header, raw key given")
    if protection == RAW_KEY and kind != "key":
        raise open_fail("RawKeyRequired", 8, "raw-key header, passphrase given")
    kek = derive_kek(protection, secret, salt, m, t, p)
    try:
        data_key = xchacha_open(h[100:148], h[0:100], wrap_nonce, kek)
    except CryptoError:
        error = "WrongPassphrase" if protection == PASSPHRASE else "WrongKey"
        raise open_fail(error, 9, "key wrap failed")
    return data_key, store_id, key_id


def record_ad(key_id, store_id, primary, secondary, key):
    ad = RECORD_LABEL + bytes([VERSION]) + key_id + store_id
    for name in (primary, secondary, key):
        ad += le32(len(name)) + name
    return ad


def open_record(record, data_key, store_id, key_id, names):
    def auth_fail(why):
        return Failure("read failure: AuthenticationFailed", "record", why)

    if record is None:
        raise Failure("read failure: NotFound", "record", "no value")
    if len(record) < RECORD_OVERHEAD:
        raise auth_fail(f"{len(record)} bytes, shorter than {RECORD_OVERHEAD}")
    if record[0] != VERSION:
        raise auth_fail(f"version {record[0]}")
    if record[1:5] != key_id:
        raise auth_fail(f"key id {u32_at(record, 1)}, header has {u32_at(key_id, 0)}")
    try:
        ad = record_ad(key_id, store_id, *names)
        return xchacha_open(record[29:], ad, record[5:29], data_key)
    except CryptoError:
        raise auth_fail("tag does not verify")


def derive_from_seed(seed):
    if not 16 <= len(seed) <= 64:
        return None
    return blake2b_256(SEED_LABEL, key=seed)


def parse(path):
    """The `name: value` lines of a file; `anchor` (version 2) may repeat: a list of them."""
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


def hex_or_none(value):
    return None if value == "none" else bytes.fromhex(value)


def is_version_1_store_case(f):
    """ "Which part applies": the header's version byte (offset 8). A header that stops before
    it, or has another magic, fails the same way in both parts (steps 1 to 3 are shared)."""
    h = hex_or_none(f["header"])
    return h is None or len(h) < 9 or h[:8] != MAGIC or h[8] == VERSION


def check_any_store_case(f):
    """Version 1 headers by this file (part 1), every other version byte by check_vectors_v2
    (part 2: 0x02 is read, anything else is UnsupportedVersion)."""
    if is_version_1_store_case(f):
        return check_store_case(f)
    return v2().check_store_case(f)


def v2():
    # check_vectors_v2 imports this file as `check_vectors`: make that this very module even
    # when it runs as __main__.
    sys.modules.setdefault("check_vectors", sys.modules[__name__])
    import check_vectors_v2
    return check_vectors_v2


def check_padme_case(f):
    return v2().check_padme_case(f)


def check_store_case(f):
    """Put header and record in an empty store, open with the credential, read: the outcome."""
    if "anchor" in f:
        raise ValueError("anchor lines for a version 1 store: version 1 has no anchor")
    kind, _, secret = f["credential"].partition(" ")
    if kind not in ("passphrase", "key"):
        raise ValueError(f"unknown credential kind {kind!r}")
    names = tuple(f[n].encode("ascii") for n in ("primary", "secondary", "key"))
    try:
        credential = (kind, bytes.fromhex(secret))
        data_key, store_id, key_id = read_header(hex_or_none(f["header"]), credential)
        plaintext = open_record(hex_or_none(f["record"]), data_key, store_id, key_id, names)
    except Failure as e:
        return f["expect"] == e.what, e.what, f"{e.step}: {e.why}"
    if f["expect"] != "success":
        return False, "success", ""
    if plaintext.hex() != f["plaintext"]:
        return False, "success with another plaintext", plaintext.hex()
    return True, "success", f"plaintext {len(plaintext)} bytes"


def check_seed_case(f):
    key = derive_from_seed(bytes.fromhex(f["seed"]))
    got = "none" if key is None else key.hex()
    return got == f["raw_key"], got, f"seed of {len(f['seed']) // 2} bytes"


KINDS = {"store": check_any_store_case, "seed-derivation": check_seed_case,
         "padme": check_padme_case}


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


def write_case(path, description, credential, kdf, names, plaintext):
    """A new store holding one value, made as FORMAT.md says, with fresh OS randomness."""
    kind, secret = credential
    protection, (m, t, p) = (PASSPHRASE, kdf) if kind == "passphrase" else (RAW_KEY, (0, 0, 0))
    data_key, salt, store_id, wrap_nonce = os.urandom(32), os.urandom(32), os.urandom(16), os.urandom(24)
    key_id = le32(0)
    head = header_bytes_0_100(protection, m, t, p, salt, store_id, key_id, wrap_nonce)
    head += xchacha_seal(data_key, head, wrap_nonce, derive_kek(protection, secret, salt, m, t, p))
    header = head + checksum(head)
    nonce = os.urandom(24)
    ad = record_ad(key_id, store_id, *names)
    record = bytes([VERSION]) + key_id + nonce + xchacha_seal(plaintext, ad, nonce, data_key)
    primary, secondary, key = (n.decode("ascii") for n in names)
    path.write_text(
        f"description: {description}\nexpect: success\ncredential: {kind} {secret.hex()}\n"
        f"primary: {primary}\nsecondary: {secondary}\nkey: {key}\n"
        f"header: {header.hex()}\nrecord: {record.hex()}\nplaintext: {plaintext.hex()}\n"
    )


def write_dir(directory):
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    passphrase = ("passphrase", b"written by the independent implementation")
    raw_key = ("key", os.urandom(32))
    monitor = (b"monitors", b"", b"0123abcd_1")
    cases = [
        ("py_passphrase_ok", "Passphrase store (Argon2id m=256 KiB t=2 p=2) written by Python",
         passphrase, (256, 2, 2), monitor, os.urandom(100)),
        ("py_raw_key_ok", "Raw-key store written by Python",
         raw_key, None, monitor, os.urandom(100)),
        ("py_empty_value_ok", "An empty value under the top-level namespace, written by Python",
         passphrase, (64, 1, 1), (b"", b"", b"manager"), b""),
        ("py_max_length_names_ok", "120-byte names and all 256 byte values, written by Python",
         raw_key, None, (b"A" * 120, b"b" * 120, b"c-_9" * 30), bytes(range(256))),
    ]
    for name, description, credential, kdf, names, plaintext in cases:
        write_case(out / f"{name}.txt", description, credential, kdf, names, plaintext)
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
