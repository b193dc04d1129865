#!/usr/bin/env python3
"""A second implementation of encrypted-kvstore's format, from docs/FORMAT.md alone.

The format (version 2) and its test vectors ("Test vectors"), with Argon2id from argon2-cffi,
XChaCha20-Poly1305 from PyNaCl (libsodium), BLAKE2b from hashlib and `cryptography`'s AESSIV
for names. It shares no code with the Rust crate. The freshness anchor ("Persisted encoding",
"Opening with an anchor") is modelled as its values: a case's `anchor:` lines are what the
anchor holds for the store, and a read is then judged with the entries and the accept mark it
loads ("Freshness", "The rule").

    python3 tests/independent/check_vectors.py tests/vectors           # checks every file
    python3 tests/independent/check_vectors_v2.py --generate DIR       # writes the v2 vectors

`check_vectors.py` (the one command that checks a directory) hands every store case to
`check_store_case` here, and every `kind: padme` file to `check_padme_case`. `--generate`
writes every `v2_*.txt` file from a fixed seed: the same bytes on every run.
"""

import argparse
import base64
import hashlib
import sys
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt as xchacha_open,
    crypto_aead_xchacha20poly1305_ietf_encrypt as xchacha_seal,
)
from nacl.exceptions import CryptoError

MAGIC = b"EKVSTORE"
VERSION = 2
PASSPHRASE, RAW_KEY = 0x01, 0x02
PASSPHRASE_KEK_LABEL = b"encrypted-kvstore v2 passphrase kek"
RAW_KEY_KEK_LABEL = b"encrypted-kvstore v2 raw-key kek"
CHECKSUM_LABEL = b"encrypted-kvstore v2 header checksum"
RECORD_LABEL = b"encrypted-kvstore v2 record"
NAME_LABEL = b"encrypted-kvstore v2 name"
ANCHOR_VALUE_LABEL = b"encrypted-kvstore v2 anchor value"
ANCHOR_ENTRY_LABEL = b"encrypted-kvstore v2 anchor entry"
assert [len(x) for x in (PASSPHRASE_KEK_LABEL, RAW_KEY_KEK_LABEL, CHECKSUM_LABEL,
                         RECORD_LABEL, NAME_LABEL, ANCHOR_VALUE_LABEL,
                         ANCHOR_ENTRY_LABEL)] == [35, 32, 36, 27, 25, 33, 33]

# Options (header byte 144); bits 2 and 4 to 7 are reserved.
NAMES, PADDING, ANCHORED = 1, 2, 8
RESERVED_OPTIONS = 0xF4
MIN_HEADER, MAX_HEADER, MAX_KEYS = 308, 624, 8
RECORD_FORMAT = 0x02
RECORD_OVERHEAD = 1 + 4 + 8 + 24 + 16  # 53
MAX_NAME, MAX_ENCRYPTED_NAME = 120, 74
RESERVED_PRIMARY = "encrypted_kvstore"
HEADER_PLACE = (RESERVED_PRIMARY, "", "header")
U64_MAX = 2**64 - 1
BLOCK = 2**32  # versions reserved by one writable open ("Versions")
NAME_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
FIELD_PRIMARY, FIELD_SECONDARY, FIELD_KEY = 0x01, 0x02, 0x03


def le32(n):
    return n.to_bytes(4, "little")


def le64(n):
    return n.to_bytes(8, "little")


def u32_at(b, offset):
    return int.from_bytes(b[offset : offset + 4], "little")


def u64_at(b, offset):
    return int.from_bytes(b[offset : offset + 8], "little")


def blake2b_256(message, key=b""):
    return hashlib.blake2b(message, digest_size=32, key=key).digest()


def hex_or_none(value):
    return None if value == "none" else bytes.fromhex(value)


# "KDF bounds" (KiB, passes, lanes).
MAX_MEMORY, MAX_PASSES, MAX_WORK, MAX_LANES = 1_048_576, 10, 4_194_304, 16


def kdf_within_bounds(m, t, p):
    return (1 <= p <= MAX_LANES and 8 * p <= m <= MAX_MEMORY
            and 1 <= t <= MAX_PASSES and m * t <= MAX_WORK)


class Failure(Exception):
    """An outcome other than success, e.g. "open failure: CorruptHeader"."""

    def __init__(self, what, step, why):
        super().__init__(what)
        self.what, self.step, self.why = what, step, why


def open_fail(error, step, why):
    return Failure(f"open failure: {error}", f"v2 header step {step}", why)


def auth_fail(step, why):
    return Failure("read failure: AuthenticationFailed", f"v2 record step {step}", why)


# ---------------------------------------------------------------------------------------------
# "Length padding"


def padme(x):
    """Padmé of x >= 8, exactly as the four lines of "Length padding"."""
    if x < 8:
        raise ValueError(f"padme is defined for x >= 8, not {x}")
    e = x.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (x + mask) & ~mask


def pad(value):
    p = le64(len(value)) + value
    return p + bytes(padme(8 + len(value)) - len(p))


def unpad(p):
    """The read-side checks of "Length padding": (value, None), or (None, why it fails)."""
    if len(p) < 8:
        return None, f"{len(p)} bytes, fewer than 8"
    n = u64_at(p, 0)
    if n > len(p) - 8:
        return None, f"length field {n} over {len(p) - 8} bytes"
    if len(p) != padme(8 + n):
        return None, f"{len(p)} bytes, not padme(8 + {n}) = {padme(8 + n)}"
    if any(p[8 + n :]):
        return None, "a padding byte is not zero"
    return p[8 : 8 + n], None


# ---------------------------------------------------------------------------------------------
# Names: LDK's rules and "Encrypted names"


def ldk_name_ok(name):
    return len(name) <= MAX_NAME and all(c in NAME_ALPHABET for c in name)


def check_names(names, options, need_key=True):
    """Step 1 of reading (and of writing, and of list): raises a Failure naming InvalidName."""
    primary, secondary, key = names

    def bad(variant, why):
        return Failure(f"{{op}} failure: {variant}", "names", why)

    for what, name in zip(("primary", "secondary", "key"), names):
        if not ldk_name_ok(name):
            raise bad("InvalidName", f"{what} is not an LDK name")
    if primary.lower() == RESERVED_PRIMARY:
        raise bad("InvalidName", "reserved primary namespace")
    if secondary and not primary:
        raise bad("InvalidName", "secondary namespace without a primary")
    if need_key and not key:
        raise bad("InvalidName", "empty key")
    if options & NAMES:
        for what, name in zip(("primary", "secondary", "key"), names):
            if len(name) > MAX_ENCRYPTED_NAME:
                raise bad("TooLongToEncrypt", f"{what} of {len(name)} bytes")


def lp(name):
    return le32(len(name)) + name


def name_ad(store_id, field, context):
    ad = NAME_LABEL + store_id + bytes([field])
    for name in context:
        ad += lp(name.encode("ascii"))
    return ad


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def stored_name(name_key, store_id, field, context, name):
    """stored(name) of "Encrypted names": "" stays "", else base64url(AES-SIV(key, [ad], name))."""
    if name == "":
        return ""
    siv = AESSIV(name_key).encrypt(name.encode("ascii"), [name_ad(store_id, field, context)])
    return b64url(siv)


def stored_names(store, names):
    """The three stored names of a plaintext triple (the plaintext itself without `names`)."""
    if not store.options & NAMES:
        return tuple(names)
    p, s, k = names
    return (stored_name(store.name_key, store.store_id, FIELD_PRIMARY, (), p),
            stored_name(store.name_key, store.store_id, FIELD_SECONDARY, (p,), s),
            stored_name(store.name_key, store.store_id, FIELD_KEY, (p, s), k))


def decode_stored_name(store, field, context, stored):
    """ "Decoding a stored name", steps 1 to 5; returns the name or the reason it is refused."""
    if stored == "":
        return "", None
    if not all(c in NAME_ALPHABET for c in stored):
        return None, "character outside the base64url alphabet"
    if len(stored) % 4 == 1:
        return None, "length mod 4 is 1"
    data = base64.urlsafe_b64decode(stored + "=" * (-len(stored) % 4))
    if b64url(data) != stored:
        return None, "not canonical base64url (unused low bits set)"
    if len(data) < 17:
        return None, f"decodes to {len(data)} bytes, fewer than 17"
    try:
        name = AESSIV(store.name_key).decrypt(data, [name_ad(store.store_id, field, context)])
    except InvalidTag:
        return None, "AES-SIV does not open with this field and place"
    try:
        name = name.decode("ascii")
    except UnicodeDecodeError:
        return None, "plaintext is not ASCII"
    if not ldk_name_ok(name) or len(name) > MAX_ENCRYPTED_NAME:
        return None, "plaintext is not an LDK name of at most 74 bytes"
    if field == FIELD_PRIMARY and name.lower() == RESERVED_PRIMARY:
        return None, "plaintext is the reserved primary namespace"
    return name, None


# ---------------------------------------------------------------------------------------------
# "Header (308 to 624 bytes)"


def derive_kek(protection, credential, salt, m, t, p):
    if protection == PASSPHRASE:
        return hash_secret_raw(secret=credential, salt=PASSPHRASE_KEK_LABEL + salt,
                               time_cost=t, memory_cost=m, parallelism=p, hash_len=32,
                               type=Type.ID, version=0x13)
    return blake2b_256(RAW_KEY_KEK_LABEL + salt, key=credential)


def header_checksum(before):
    return blake2b_256(CHECKSUM_LABEL + before)


def fix_checksum(h):
    return h[:-32] + header_checksum(h[:-32])


class Store:
    """What an opened header gives: the fields the record and name code needs."""

    def __init__(self, h, hk, secrets):
        self.header = h
        self.options = h[144]
        n = h[145]
        self.store_id = h[56:72]
        self.header_seq, self.version_limit = u64_at(h, 148), u64_at(h, 156)
        self.current_key_id = u32_at(h, 164)
        self.key_ids = [u32_at(h, 168 + 4 * i) for i in range(n)]
        self.data_keys = {kid: secrets[32 * i : 32 * i + 32] for i, kid in enumerate(self.key_ids)}
        self.anchor_key = secrets[32 * n : 32 * n + 32]
        self.name_key = secrets[32 * n + 32 :] if self.options & NAMES else None
        self.hk = hk
        self.fresh = Freshness()


def read_header(h, credential, anchor=None, read_only=True):
    """ "Reading the header", steps 1 to 14, then (`read_only` False) the writable open's one
    reservation ("Versions"). `anchor`: None when the store is opened without one, else the
    values the anchor holds for this store ({name: bytes})."""
    if h is None:
        raise open_fail("NotInitialized", 1, "no value at the reserved place")
    if len(h) < 8 or h[:8] != MAGIC:
        raise open_fail("CorruptHeader", 2, f"{len(h)} bytes, magic {h[:8].hex()}")
    if len(h) == 8:
        raise open_fail("CorruptHeader", 3, "version byte missing")
    if h[8] != VERSION:
        raise open_fail("UnsupportedVersion", 3, f"version {h[8]}")
    if not MIN_HEADER <= len(h) <= MAX_HEADER:
        raise open_fail("CorruptHeader", 4, f"length {len(h)}, not within 308..624")
    if h[-32:] != header_checksum(h[:-32]):
        raise open_fail("CorruptHeader", 5, "checksum mismatch")
    options = h[144]
    if h[10:12] != b"\0\0" or h[146:148] != b"\0\0":
        raise open_fail("CorruptHeader", 6, f"reserved bytes {h[10:12].hex()} {h[146:148].hex()}")
    if options & RESERVED_OPTIONS:
        raise open_fail("CorruptHeader", 6, f"options {options:#04x}: bit 2 or 4 to 7 set")
    n = h[145]
    if not 1 <= n <= MAX_KEYS:
        raise open_fail("CorruptHeader", 7, f"key_count {n}")
    big_n = 1 if options & NAMES else 0
    if len(h) != 272 + 36 * n + 64 * big_n:
        raise open_fail("CorruptHeader", 7,
                        f"length {len(h)} for {n} keys and names={big_n}: "
                        f"{272 + 36 * n + 64 * big_n} expected")
    key_ids = [u32_at(h, 168 + 4 * i) for i in range(n)]
    if any(a >= b for a, b in zip(key_ids, key_ids[1:])):
        raise open_fail("CorruptHeader", 8, f"key ids {key_ids} not strictly ascending")
    if u32_at(h, 164) != key_ids[-1]:
        raise open_fail("CorruptHeader", 8, f"current key id {u32_at(h, 164)}, last {key_ids[-1]}")
    if u64_at(h, 148) == 0:
        raise open_fail("CorruptHeader", 8, "header_seq 0")
    if u64_at(h, 156) == 0:
        raise open_fail("CorruptHeader", 8, "version_limit 0")
    protection, m, t, p = h[9], u32_at(h, 12), u32_at(h, 16), u32_at(h, 20)
    if protection == PASSPHRASE:
        if not kdf_within_bounds(m, t, p):
            raise open_fail("KdfParamsOutOfBounds", 9, f"m={m} t={t} p={p}")
    elif protection == RAW_KEY:
        if (m, t, p) != (0, 0, 0):
            raise open_fail("CorruptHeader", 9, f"raw-key header with m={m} t={t} p={p}")
    else:
        raise open_fail("CorruptHeader", 9, f"protection {protection:#04x}")
    kind, secret = credential
    if protection == PASSPHRASE and kind != "passphrase":
        raise open_fail("PassphraseRequired", 10, "passphrase header, raw key given")
    if protection == RAW_KEY and kind != "key":
        raise open_fail("RawKeyRequired", 10, "raw-key header, passphrase given")
    kek = derive_kek(protection, secret, h[24:56], m, t, p)
    try:
        hk = xchacha_open(h[96:144], h[0:96], h[72:96], kek)
    except CryptoError:
        error = "WrongPassphrase" if protection == PASSPHRASE else "WrongKey"
        raise open_fail(error, 11, "wrapped_hk does not open")
    nonce_at = 168 + 4 * n
    try:
        secrets = xchacha_open(h[nonce_at + 24 : -32], h[: nonce_at + 24], h[nonce_at : nonce_at + 24], hk)
    except CryptoError:
        raise open_fail("HeaderAuthenticationFailed", 12, "sealed_secrets do not open")
    store = Store(h, hk, secrets)
    store.fresh = open_with_anchor(store, anchor)
    if read_only:
        store.fresh.session_start = U64_MAX
    else:
        # "Writable open: one reservation": start = max(L, L_a); the header and `meta` writes
        # themselves are not part of a case's outcome.
        start = max(store.version_limit, store.fresh.meta_version_limit)
        if start + BLOCK > U64_MAX:
            raise open_fail("CounterExhausted", "reservation",
                            f"start {start} + 2^32 exceeds 2^64 - 1")
        store.fresh.session_start = start
    return store


def build_header(*, protection, secret, kdf=(0, 0, 0), salt, store_id, wrap_nonce, hk,
                 options=0, key_ids=(0,), data_keys, anchor_key, name_key=None, header_seq=1,
                 version_limit=1, secrets_nonce, current_key_id=None, key_count=None,
                 version=VERSION, reserved10=b"\0\0", reserved146=b"\0\0"):
    """A header as "Writing the header" makes it; every field can be set on purpose
    (a wrong one too), and the wrap, the seal and the checksum are always computed over the
    bytes as set, so a refused header fails only the check it is meant for."""
    m, t, p = kdf
    credential_block = (MAGIC + bytes([version, protection]) + reserved10 + le32(m) + le32(t)
                        + le32(p) + salt + store_id + wrap_nonce)
    assert len(credential_block) == 96
    kek = derive_kek(protection, secret, salt, m, t, p)
    h = credential_block + xchacha_seal(hk, credential_block, wrap_nonce, kek)
    assert len(h) == 144
    current = key_ids[-1] if current_key_id is None else current_key_id
    count = len(key_ids) if key_count is None else key_count
    h += bytes([options, count]) + reserved146 + le64(header_seq) + le64(version_limit)
    h += le32(current) + b"".join(le32(k) for k in key_ids) + secrets_nonce
    assert len(h) == 192 + 4 * len(key_ids)
    secrets = b"".join(data_keys) + anchor_key + (name_key or b"")
    h += xchacha_seal(secrets, h, secrets_nonce, hk)
    return h + header_checksum(h)


# ---------------------------------------------------------------------------------------------
# "Record"


def record_ad(fmt, key_id, version, store_id, names):
    ad = RECORD_LABEL + bytes([fmt]) + le32(key_id) + le64(version) + store_id
    for name in names:
        ad += lp(name.encode("ascii"))
    return ad


def seal_record(data_key, key_id, version, nonce, store_id, names, sealed_plaintext, fmt=RECORD_FORMAT):
    ad = record_ad(fmt, key_id, version, store_id, names)
    return (bytes([fmt]) + le32(key_id) + le64(version) + nonce
            + xchacha_seal(sealed_plaintext, ad, nonce, data_key))


def open_record(store, record, names):
    """ "Reading a record", steps 4 to 9 (step 10 is `judge`). Returns (version, value)."""
    if len(record) < RECORD_OVERHEAD:
        raise auth_fail(4, f"{len(record)} bytes, shorter than 53")
    if record[0] != RECORD_FORMAT:
        raise auth_fail(5, f"format byte {record[0]:#04x}")
    key_id, version = u32_at(record, 1), u64_at(record, 5)
    if key_id not in store.data_keys:
        raise auth_fail(6, f"key id {key_id} not in the keyring {store.key_ids}")
    if version == 0:
        raise auth_fail(7, "version 0")
    ad = record_ad(RECORD_FORMAT, key_id, version, store.store_id, names)
    try:
        sealed = xchacha_open(record[37:], ad, record[13:37], store.data_keys[key_id])
    except CryptoError:
        raise auth_fail(8, "tag does not verify")
    if store.options & PADDING:
        value, why = unpad(sealed)
        if value is None:
            raise auth_fail(9, f"padding: {why}")
        return version, value
    return version, sealed


# ---------------------------------------------------------------------------------------------
# "The freshness anchor": "Persisted encoding" and "Opening with an anchor"

META = "meta"
META_PLAINTEXT_LEN = 32  # epoch, header_seq, version_limit, accept_mark
ANCHOR_NONCE_LEN, TAG_LEN = 24, 16
META_LEN = ANCHOR_NONCE_LEN + META_PLAINTEXT_LEN + TAG_LEN
assert META_LEN == 72
LOWER_HEX = frozenset("0123456789abcdef")


def corrupt(step, why):
    return open_fail("AnchorCorrupt", f"{step} of opening with an anchor", why)


def anchor_value_ad(store_id, name):
    return ANCHOR_VALUE_LABEL + store_id + name.encode("ascii")


def seal_anchor_value(anchor_key, store_id, name, plaintext, nonce):
    """value = nonce || XChaCha20-Poly1305(ak, nonce, AD = label || store_id || name, plaintext)."""
    assert len(nonce) == ANCHOR_NONCE_LEN
    return nonce + xchacha_seal(plaintext, anchor_value_ad(store_id, name), nonce, anchor_key)


def open_anchor_value(store, name, value):
    """The plaintext of an anchor value, or None if it does not open under this store's
    anchor key, store id and name."""
    if len(value) < ANCHOR_NONCE_LEN + TAG_LEN:
        return None
    try:
        return xchacha_open(value[ANCHOR_NONCE_LEN:], anchor_value_ad(store.store_id, name),
                            value[:ANCHOR_NONCE_LEN], store.anchor_key)
    except CryptoError:
        return None


def meta_plaintext(epoch, header_seq, version_limit, accept_mark):
    return le64(epoch) + le64(header_seq) + le64(version_limit) + le64(accept_mark)


class Meta:
    def __init__(self, plaintext):
        self.epoch, self.header_seq = u64_at(plaintext, 0), u64_at(plaintext, 8)
        self.version_limit, self.accept_mark = u64_at(plaintext, 16), u64_at(plaintext, 24)


def parse_meta(store, value):
    """A present `meta` value: (Meta, None) when it is valid ("72 bytes, opens, and
    accept_mark <= version_limit"), else (None, why it is not)."""
    if len(value) != META_LEN:
        return None, f"meta of {len(value)} bytes, not 72"
    plaintext = open_anchor_value(store, META, value)
    if plaintext is None:
        return None, "meta does not open under this store's anchor key and store id"
    meta = Meta(plaintext)
    if meta.accept_mark > meta.version_limit:
        return None, f"meta accept_mark {meta.accept_mark} above version_limit {meta.version_limit}"
    return meta, None


def entry_name(anchor_key, epoch, names):
    """`k` + 64 lowercase hex of the keyed BLAKE2b-256 of an entry's epoch and plaintext names
    (lengths of 4 bytes in the hash input)."""
    message = ANCHOR_ENTRY_LABEL + le64(epoch) + b"".join(lp(n.encode("ascii")) for n in names)
    return "k" + blake2b_256(message, key=anchor_key).hex()


def len1(name):
    """A name in an entry: one length byte."""
    b = name.encode("ascii")
    return bytes([len(b)]) + b


def entry_plaintext(epoch, version, names):
    return le64(epoch) + le64(version) + b"".join(map(len1, names))


def entry_shaped_name(name):
    return len(name) == 65 and name[0] == "k" and all(c in LOWER_HEX for c in name[1:])


def names_in(value, at, count):
    """`count` names with one length byte each from `at`, ending the value exactly."""
    out = []
    for _ in range(count):
        if at >= len(value):
            return None, "the plaintext ends before a name's length"
        n, at = value[at], at + 1
        if at + n > len(value):
            return None, "a name runs past the end of the plaintext"
        try:
            out.append(value[at : at + n].decode("ascii"))
        except UnicodeDecodeError:
            return None, "a name is not ASCII"
        at += n
    if at != len(value):
        return None, f"{len(value) - at} bytes after the names"
    return tuple(out), None


def parse_entry(store, meta, name, value):
    """A listed value other than `meta` (step 3): (epoch, plaintext names, version) when it is
    a valid entry, else a Failure (AnchorCorrupt). Validity does not depend on the epoch, but
    for the version's bounds, which apply to the meta's epoch only."""
    if not entry_shaped_name(name):
        raise corrupt(3, f"a value under {name!r}: not meta or k + 64 lowercase hex")
    plaintext = open_anchor_value(store, name, value)
    if plaintext is None:
        raise corrupt(3, f"entry {name}: does not open under this store's anchor key and name")
    if len(plaintext) < 16:
        raise corrupt(3, f"entry {name}: {len(plaintext)} bytes, no epoch and version")
    epoch, version = u64_at(plaintext, 0), u64_at(plaintext, 8)
    names, why = names_in(plaintext, 16, 3)
    if names is None:
        raise corrupt(3, f"entry {name}: {why}")
    primary, secondary, key = names
    if not all(ldk_name_ok(n) for n in names):
        raise corrupt(3, f"entry {name}: a name is not an LDK name")
    if not key:
        raise corrupt(3, f"entry {name}: an empty key")
    if secondary and not primary:
        raise corrupt(3, f"entry {name}: a secondary namespace without a primary")
    if primary.lower() == RESERVED_PRIMARY:
        raise corrupt(3, f"entry {name}: the reserved primary namespace")
    if name != entry_name(store.anchor_key, epoch, names):
        raise corrupt(3, f"entry {name}: not the keyed hash of its epoch and names")
    if epoch == meta.epoch and not 1 <= version < meta.version_limit:
        raise corrupt(3, f"entry {name}: version {version} not within 1..{meta.version_limit}")
    return epoch, names, version


class Freshness:
    """What an open store judges reads with ("State"): M by plaintext names, F, whether it is
    anchored, S, and (anchored) the anchor's values, for a read-only instance's re-read."""

    def __init__(self, anchored=False, entries=None, accept_mark=0, meta=None, anchor=None):
        self.anchored, self.entries, self.accept_mark = anchored, entries or {}, accept_mark
        self.meta, self.anchor = meta, anchor
        self.meta_version_limit = meta.version_limit if meta else 0
        self.session_start = U64_MAX


def open_with_anchor(store, anchor):
    """Step 13 of "Reading the header" and "Opening with an anchor" (step 14), for a
    header that passed steps 1 to 12: the freshness state the open starts with."""
    anchored = bool(store.options & ANCHORED)
    if anchor is None:
        if anchored:
            raise open_fail("AnchorRequired", 13, "anchored header opened without an anchor")
        return Freshness()
    raw_meta = anchor.get(META)
    if not anchored:
        # Not valid: AnchorCorrupt; valid with a header_seq greater than the header's:
        # HeaderRolledBack; otherwise (absent, or not greater): AnchorNotAttached.
        if raw_meta is not None:
            meta, why = parse_meta(store, raw_meta)
            if meta is None:
                raise open_fail("AnchorCorrupt", 14, why)
            if meta.header_seq > store.header_seq:
                raise open_fail("HeaderRolledBack", 14,
                                f"unanchored header_seq {store.header_seq}, meta {meta.header_seq}")
        raise open_fail("AnchorNotAttached", 14, "an anchor given for an unanchored header")
    if raw_meta is None:
        raise open_fail("AnchorEmpty", "1 of opening with an anchor", "no meta")
    meta, why = parse_meta(store, raw_meta)
    if meta is None:
        raise corrupt(1, why)
    if meta.header_seq > store.header_seq:
        raise open_fail("HeaderRolledBack", "2 of opening with an anchor",
                        f"header_seq {store.header_seq}, meta {meta.header_seq}")
    entries = {}
    for name in sorted(anchor):
        if name == META:
            continue
        epoch, names, version = parse_entry(store, meta, name, anchor[name])
        if epoch == meta.epoch:
            entries[names] = version
    return Freshness(True, entries, meta.accept_mark, meta, anchor)


def served_anchored(entry, version, accept_mark):
    """The anchored rows of "The rule" (no write in flight in a case): None when served, else
    the failure."""
    if entry is None:
        return "absent"
    if version is None:
        return "Missing"
    if version == entry or (version > entry and version >= accept_mark):
        return None
    return "Rollback"


def reread_entry(store, names):
    """ "Read-only, anchored": a read-only instance reads the key's entry (the meta's epoch)
    again: its version, or None when there is none."""
    fresh = store.fresh
    name = entry_name(store.anchor_key, fresh.meta.epoch, names)
    value = fresh.anchor.get(name)
    if value is None:
        return None
    epoch, _, entry = parse_entry(store, fresh.meta, name, value)
    assert epoch == fresh.meta.epoch
    return entry


def absent_whatever_lingers(store, names):
    """Step 8 of "Reading a record": anchored, a key that is absent (not in M, nothing in
    flight; a read-only instance re-reads its entry first) is absent whatever lies at its
    stored names, so a record that does not open there is the inner `NotFound`, not
    `AuthenticationFailed`."""
    fresh = store.fresh
    names = tuple(names)
    if not fresh.anchored or names in fresh.entries:
        return False
    return fresh.session_start != U64_MAX or reread_entry(store, names) is None


def judge(store, names, version):
    """ "The rule" for a read of `names` that found a record of `version` (None: nothing),
    just after the open: no write or remove in flight, M as the open loaded it."""
    fresh = store.fresh
    names = tuple(names)
    if fresh.anchored:
        entry = fresh.entries.get(names)
        outcome = served_anchored(entry, version, fresh.accept_mark)
        if fresh.session_start == U64_MAX:
            # "Read-only, anchored": re-read the key's entry and judge again; before serving,
            # without an entry the key is absent.
            reread = reread_entry(store, names)
            if outcome is not None:
                entry = reread
                outcome = served_anchored(entry, version, fresh.accept_mark)
            elif reread is None:
                entry = reread
                outcome = "absent"
        why = f"entry {entry}, F {fresh.accept_mark}, record {version}"
    else:
        # Not anchored, k not in M (M starts empty): served iff v < S.
        outcome = None if version is not None and version < fresh.session_start else "absent"
        why = f"not anchored, no entry, S {fresh.session_start}, record {version}"
    if outcome is None:
        return
    if outcome == "absent":
        outcome = "NotFound" if version is None else "Removed"
    raise Failure(f"read failure: {outcome}", "the rule", why)


# ---------------------------------------------------------------------------------------------
# Checking a case ("To check a case")


def operation(expect):
    for op in ("read", "list", "write"):
        if expect.startswith(f"{op} failure:"):
            return op
    return "read"


def check_store_case(f):
    """Put the header and the record in an empty store (and the `anchor:` values in an empty
    anchor), open, then read, list or write. A read or list is checked after a read-only and
    after a writable open: a case whose outcome depends on which is not pinned, and fails."""
    anchor = anchor_values(f)
    kind, _, secret = f["credential"].partition(" ")
    if kind not in ("passphrase", "key"):
        raise ValueError(f"unknown credential kind {kind!r}")
    credential = (kind, bytes.fromhex(secret))
    names = (f["primary"], f["secondary"], f["key"])
    stored_at = tuple(f.get(f"stored_{n}", plain)
                      for n, plain in zip(("primary", "secondary", "key"), names))
    inner = {HEADER_PLACE: hex_or_none(f["header"])}
    record = hex_or_none(f["record"])
    if record is not None:
        inner[stored_at] = record
    inner = {place: value for place, value in inner.items() if value is not None}
    op = operation(f["expect"])
    modes = (False,) if op == "write" else (True, False)
    results = [run_case(inner, credential, anchor, names, op, read_only) for read_only in modes]
    if len({r[:3] for r in results}) > 1:
        got = "; ".join(f"{'read-only' if ro else 'writable'}: {r[0]}"
                        for ro, r in zip(modes, results))
        return False, got, "the outcome depends on how the store is opened"
    got, version, value, note = results[-1]
    if f["expect"] != got:
        return False, got, note
    if got != "success":
        return True, got, note
    if str(version) != f.get("version"):
        return False, f"success with version {version}", f"version {f.get('version')} expected"
    if value.hex() != f["plaintext"]:
        return False, "success with another plaintext", value.hex()
    return True, "success", f"version {version}, plaintext {len(value)} bytes"


def run_case(inner, credential, anchor, names, op, read_only):
    """One open (read-only or writable) and the case's operation: (outcome, version, value,
    note)."""
    try:
        store = read_header(inner.get(HEADER_PLACE), credential, anchor, read_only)
        try:
            check_names(names, store.options, need_key=(op != "list"))
        except Failure as e:
            e.what = e.what.format(op=op)
            raise
        if op == "list":
            try:
                listed = list_pair(store, inner, names[0], names[1])
            except Failure as e:
                # `Missing` names a key: the case's `key:` line.
                if getattr(e, "key", names[2]) != names[2]:
                    e.what = f"{e.what} of {e.key!r}, not of {names[2]!r}"
                raise
            return "success", None, None, f"listed {listed}"
        if op == "write":
            return "success", None, None, "the write was accepted"
        where = stored_names(store, names)
        if where not in inner:
            judge(store, names, None)
            raise AssertionError("the rule served a read that found nothing")
        try:
            version, value = open_record(store, inner[where], names)
        except Failure as e:
            if absent_whatever_lingers(store, names):
                raise Failure("read failure: NotFound", f"{e.step}, then step 8's exception",
                              f"{e.why}; anchored and the key absent: absent whatever lingers")
            raise
        judge(store, names, version)
    except Failure as e:
        return e.what, None, None, f"{e.step}: {e.why}"
    return "success", version, value, f"version {version}"


def anchor_values(f):
    """A case's `anchor:` lines: None without any, {} for `anchor: none`, else {name: bytes}."""
    lines = f.get("anchor")
    if lines is None:
        return None
    if lines == ["none"]:
        return {}
    values = {}
    for line in lines:
        name, _, value = line.partition(" ")
        if not value or name in values or name == "none":
            raise ValueError(f"bad anchor line {line!r}")
        values[name] = bytes.fromhex(value)
    return values


def list_pair(store, inner, primary, secondary):
    """`list(primary, secondary)` just after the open: every stored key decoded ("Decoding a
    stored name"), then ("Updates") every key of M in the pair must be listed, else
    `ListError::Missing` naming the smallest such key in byte order (a read-only anchored
    instance re-reads its entry first); anchored, keys not in M are left out."""
    sp, ss, _ = stored_names(store, (primary, secondary, ""))
    keys = sorted(k for (p, s, k) in inner if (p, s) == (sp, ss))
    out = []
    for k in keys:
        if not store.options & NAMES:
            out.append(k)
            continue
        name, why = decode_stored_name(store, FIELD_KEY, (primary, secondary), k)
        if name is None:
            raise Failure("list failure: UndecodableName", "decoding a stored name", f"{k!r}: {why}")
        out.append(name)
    fresh = store.fresh
    held = sorted((names, v) for names, v in fresh.entries.items()
                  if names[:2] == (primary, secondary))
    for names, version in held:
        if names[2] in out:
            continue
        if fresh.anchored and fresh.session_start == U64_MAX and reread_entry(store, names) != version:
            continue
        missing = Failure("list failure: Missing", "list (Updates)",
                          f"{names[2]!r} held at version {version}, not listed")
        missing.key = names[2]
        raise missing
    if fresh.anchored:
        out = [k for k in out if (primary, secondary, k) in fresh.entries]
    return sorted(out)


def check_padme_case(f):
    rows = {k: v for k, v in f.items() if k.isdigit()}
    wrong = [x for x, y in rows.items() if padme(int(x)) != int(y)]
    got = f"{len(rows)} values, {len(wrong)} wrong" + (f" (first x = {wrong[0]})" if wrong else "")
    return not wrong and len(rows) > 0, got, "padme(x) for every x listed"


# ---------------------------------------------------------------------------------------------
# Generating the vectors ("Test vectors")


class Rng:
    """Every "random" byte of the vectors: SHA-256 in counter mode over a fixed seed and a
    label, so that each store and each case draws from a stream of its own."""

    SEED = b"encrypted-kvstore v2 test vectors, seed 1"

    def __init__(self, label):
        self.label, self.counter, self.buf = label.encode(), 0, b""

    def __call__(self, n):
        while len(self.buf) < n:
            block = self.SEED + b"\0" + self.label + b"\0" + le64(self.counter)
            self.buf += hashlib.sha256(block).digest()
            self.counter += 1
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


PASSPHRASE_BYTES = b"correct horse battery staple"
FAST_KDF = (64, 1, 1)
MONITOR = ("monitors", "", "0123abcd_1")
VALUE = b"a channel monitor, in plaintext"
TXID = "8d2c9f0e5b7a4136c1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8"
assert len(TXID) == 64


class Spec:
    """A store the generator controls: its secrets and its header fields."""

    def __init__(self, label, *, protection=PASSPHRASE, secret=PASSPHRASE_BYTES, kdf=FAST_KDF,
                 options=0, key_ids=(0,), header_seq=1, version_limit=BLOCK + 1, store_id=None,
                 data_keys=None):
        rng = Rng(f"store {label}")
        self.rng = Rng(f"store {label} records")
        self.anchor_rng = Rng(f"store {label} anchor")
        self.protection, self.secret = protection, secret
        self.kdf = kdf if protection == PASSPHRASE else (0, 0, 0)
        self.salt, self.store_id = rng(32), rng(16)
        if store_id is not None:
            self.store_id = store_id
        self.wrap_nonce, self.hk, self.secrets_nonce = rng(24), rng(32), rng(24)
        self.key_ids = tuple(key_ids)
        self.data_keys = {kid: rng(32) for kid in self.key_ids}
        if data_keys:
            self.data_keys.update(data_keys)
        self.name_key = rng(64) if options & NAMES else None
        # Drawn last: the anchor key moves none of the store's other draws.
        self.anchor_key = rng(32)
        self.options, self.header_seq, self.version_limit = options, header_seq, version_limit

    def credential(self):
        kind = "passphrase" if self.protection == PASSPHRASE else "key"
        return f"{kind} {self.secret.hex()}"

    def header(self, **changes):
        fields = dict(protection=self.protection, secret=self.secret, kdf=self.kdf,
                      salt=self.salt, store_id=self.store_id, wrap_nonce=self.wrap_nonce,
                      hk=self.hk, options=self.options, key_ids=self.key_ids,
                      data_keys=[self.data_keys[k] for k in self.key_ids],
                      anchor_key=self.anchor_key, name_key=self.name_key, header_seq=self.header_seq,
                      version_limit=self.version_limit, secrets_nonce=self.secrets_nonce)
        fields.update(changes)
        return build_header(**fields)

    def record(self, names, value, version=1, key_id=None, sealed=None, fmt=RECORD_FORMAT,
               data_key=None):
        kid = self.key_ids[-1] if key_id is None else key_id
        if sealed is None:
            sealed = pad(value) if self.options & PADDING else value
        key = self.data_keys[kid] if data_key is None else data_key
        return seal_record(key, kid, version, self.rng(24), self.store_id, names, sealed, fmt)

    def stored(self, names):
        s = self.open()
        return stored_names(s, names)

    def open(self):
        return Store(self.header(), self.hk,
                     b"".join(self.data_keys[k] for k in self.key_ids) + self.anchor_key
                     + (self.name_key or b""))

    def meta(self, epoch, header_seq=None, version_limit=None, accept_mark=1, anchor_key=None,
             store_id=None):
        """(`meta`, value) sealed as "Persisted encoding" says; the header's header_seq and
        version_limit unless given."""
        plaintext = meta_plaintext(
            epoch, self.header_seq if header_seq is None else header_seq,
            self.version_limit if version_limit is None else version_limit, accept_mark)
        return META, self.seal(META, plaintext, anchor_key, store_id)

    def entry(self, epoch, names, version, name_of=None, name_epoch=None, anchor_key=None):
        """(name, value) of an entry, under the keyed hash of its own epoch and names unless
        name_of / name_epoch say otherwise, sealed for the name it is put under."""
        name = entry_name(self.anchor_key, epoch if name_epoch is None else name_epoch,
                          names if name_of is None else name_of)
        return name, self.seal(name, entry_plaintext(epoch, version, names), anchor_key)

    def seal(self, name, plaintext, anchor_key=None, store_id=None):
        return seal_anchor_value(self.anchor_key if anchor_key is None else anchor_key,
                                 self.store_id if store_id is None else store_id, name,
                                 plaintext, self.anchor_rng(ANCHOR_NONCE_LEN))


def flip(b, offset, bit=0):
    return b[:offset] + bytes([b[offset] ^ (1 << bit)]) + b[offset + 1 :]


def put(b, offset, new):
    return b[:offset] + new + b[offset + len(new) :]


def case_text(description, expect, credential, names, header, record, stored=None,
              version=None, plaintext=None, anchor=None):
    lines = [f"description: {description}", f"expect: {expect}", f"credential: {credential}",
             f"primary: {names[0]}", f"secondary: {names[1]}", f"key: {names[2]}"]
    if stored is not None:
        lines += [f"stored_primary: {stored[0]}", f"stored_secondary: {stored[1]}",
                  f"stored_key: {stored[2]}"]
    lines += [f"header: {'none' if header is None else header.hex()}",
              f"record: {'none' if record is None else record.hex()}"]
    if anchor is not None:
        # [(name, value)], in the order given; [] is an anchor holding nothing for the store.
        assert len({name for name, _ in anchor}) == len(anchor), "an anchor name twice"
        lines += [f"anchor: {name} {value.hex()}" for name, value in anchor] or ["anchor: none"]
    if version is not None:
        lines.append(f"version: {version}")
    if plaintext is not None:
        lines.append(f"plaintext: {plaintext.hex()}")
    return "\n".join(lines) + "\n"


def generate(directory):
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    files = {}

    def case(name, description, expect, spec, names=MONITOR, header=None, record=None,
             stored=None, version=None, plaintext=None, credential=None, anchor=None):
        assert name not in files, name
        h = spec.header() if header is None else header
        files[name] = case_text(description, expect, credential or spec.credential(), names,
                                h, record, stored, version, plaintext, anchor)

    def ok(name, description, spec, names=MONITOR, value=VALUE, version=1, key_id=None,
           record=None, header=None, stored_lines=None):
        rec = spec.record(names, value, version, key_id) if record is None else record
        stored = stored_lines
        if stored is None and spec.options & NAMES:
            stored = spec.stored(names)
        case(name, description, "success", spec, names, header, rec, stored, version, value)

    def refused(name, description, variant, spec, header, record=None, credential=None):
        case(name, description, f"open failure: {variant}", spec, header=header,
             record=record if record is not None else spec.record(MONITOR, VALUE, 1),
             credential=credential)

    def bad_record(name, description, spec, record, names=MONITOR, stored=None):
        case(name, description, "read failure: AuthenticationFailed", spec, names,
             record=record, stored=stored)

    # Limits as writable opens leave them: create writes 2^32 + 1, each open adds 2^32.
    base = Spec("passphrase", header_seq=2, version_limit=2 * BLOCK + 1)
    raw = Spec("raw key", protection=RAW_KEY, secret=Rng("raw key")(32))

    # --- Headers that open ---------------------------------------------------------------
    ok("v2_passphrase_ok", "A v2 store (Argon2id m=64 KiB t=1 p=1), one key: opens and reads",
       base, version=7)
    ok("v2_raw_key_ok", "A v2 raw-key store, one key: opens and reads", raw, version=3)
    three = Spec("three keys", key_ids=(0, 1, 2), header_seq=5, version_limit=3 * BLOCK + 1)
    ok("v2_three_keys_record_under_old_key",
       "Keyring [0, 1, 2], current 2: a record sealed under key 1 still opens", three,
       version=70_000, key_id=1)
    eight = Spec("eight keys", key_ids=tuple(range(8)), header_seq=12, version_limit=5 * BLOCK + 1)
    ok("v2_eight_keys_ok", "Keyring of 8 keys (0 to 7, the most allowed): a record under key 7",
       eight, version=500_000)
    names = Spec("names", options=NAMES)
    ok("v2_names_ok",
       "Encrypted names: monitor_updates / monitor key / update key at their stored names",
       names, names=("monitor_updates", f"{TXID}_65535", "18446744073709551615"), version=9)
    padding = Spec("padding", options=PADDING)
    ok("v2_padding_ok", "Padding: a 121-byte value is sealed as padme(129) = 144 bytes",
       padding, value=bytes(range(121)), version=4)
    both = Spec("names and padding", options=NAMES | PADDING)
    ok("v2_names_padding_ok",
       "Encrypted names and padding: a 1000-byte payment at its stored names", both,
       names=("payments", "", "ab" * 32), value=Rng("value 1000")(1000), version=2)

    # --- Headers refused ----------------------------------------------------------------
    h = base.header()
    assert len(h) == 308
    refused("v2_header_length_307", "A 308-byte header (the shortest) without its last byte",
            "CorruptHeader", base, h[:307])
    full = Spec("eight keys and names", options=NAMES, key_ids=tuple(range(8)))
    assert len(full.header()) == 624
    refused("v2_header_length_625", "The longest header (8 keys, names: 624 bytes) and one byte more",
            "CorruptHeader", full, full.header() + b"\0", full.record(MONITOR, VALUE))
    refused("v2_header_checksum_flipped", "One bit of the checksum flipped", "CorruptHeader",
            base, flip(h, len(h) - 1))
    refused("v2_header_reserved_10_set", "Reserved byte 10 set (wrap, seal and checksum valid)",
            "CorruptHeader", base, base.header(reserved10=b"\x01\0"))
    refused("v2_header_reserved_146_set", "Reserved byte 146 set (seal and checksum valid)",
            "CorruptHeader", base, base.header(reserved146=b"\x01\0"))
    refused("v2_header_options_bit_4_set", "Options bit 4 set (seal and checksum valid)",
            "CorruptHeader", base, base.header(options=0x10))
    refused("v2_header_key_count_0", "key_count 0 in a 308-byte header, checksum fixed",
            "CorruptHeader", base, fix_checksum(put(h, 145, b"\0")))
    nine = Spec("nine keys", key_ids=tuple(range(9)))
    assert len(nine.header()) == 596
    refused("v2_header_key_count_9",
            "Nine keys (596 bytes, within 308..624; seal and checksum valid): key_count above 8",
            "CorruptHeader", nine, nine.header())
    refused("v2_header_length_not_key_count",
            "key_count 2 over one key id and one data key (308 bytes, 344 expected)",
            "CorruptHeader", base, base.header(key_count=2))
    refused("v2_header_length_not_names",
            "Option names set but no name key (308 bytes, 372 expected)", "CorruptHeader",
            base, base.header(options=NAMES))
    two = Spec("two keys", key_ids=(0, 1))
    refused("v2_header_key_ids_descending", "Key ids [1, 0], current 0 (seal and checksum valid)",
            "CorruptHeader", two, two.header(key_ids=(1, 0), data_keys=[two.data_keys[1], two.data_keys[0]]))
    refused("v2_header_key_ids_duplicate", "Key ids [0, 0], current 0 (seal and checksum valid)",
            "CorruptHeader", two, two.header(key_ids=(0, 0), data_keys=[two.data_keys[0]] * 2))
    refused("v2_header_current_not_largest", "Key ids [0, 1], current 0 (seal and checksum valid)",
            "CorruptHeader", two, two.header(current_key_id=0))
    one = Spec("key 1 only", key_ids=(1,))
    refused("v2_header_options_bit_2_set", "Options bit 2 set, keyring [1] (seal and checksum valid)",
            "CorruptHeader", one, one.header(options=0x04))
    refused("v2_header_seq_0", "header_seq 0 (seal and checksum valid)", "CorruptHeader", base,
            base.header(header_seq=0))
    refused("v2_header_version_limit_0", "version_limit 0 (seal and checksum valid)",
            "CorruptHeader", base, base.header(version_limit=0))
    refused("v2_header_version_3", "Version byte 3 in an otherwise valid v2 header, checksum fixed",
            "UnsupportedVersion", base, fix_checksum(put(h, 8, b"\x03")))
    # Its own store (and random stream), so that no other case's draws move.
    pre = Spec("version 1 header")
    refused("v2_header_version_1",
            "Version byte 1 (a store made by a pre-release of encrypted-kvstore) in an otherwise "
            "valid header, checksum fixed", "UnsupportedVersion", pre,
            fix_checksum(put(pre.header(), 8, b"\x01")))
    t11 = Spec("t=11", kdf=(64, 11, 1))
    refused("v2_header_iterations_11", "Argon2id t = 11, above the bound of 10 (wrap valid)",
            "KdfParamsOutOfBounds", t11, t11.header())
    refused("v2_header_memory_1gib_plus_1", "Argon2id m = 1 GiB + 1 KiB, checksum fixed",
            "KdfParamsOutOfBounds", base, fix_checksum(put(h, 12, le32(1_048_577))))
    refused("v2_header_raw_key_with_kdf_params",
            "A raw-key header with m=64 t=1 p=1 (wrap, seal and checksum valid)", "CorruptHeader",
            raw, raw.header(kdf=FAST_KDF))
    refused("v2_header_unknown_protection", "Protection byte 3, checksum fixed", "CorruptHeader",
            base, fix_checksum(put(h, 9, b"\x03")))
    refused("v2_open_wrong_passphrase", "Another passphrase", "WrongPassphrase", base, h,
            credential=f"passphrase {b'incorrect horse battery staple'.hex()}")
    refused("v2_raw_key_wrong_key", "Another raw key", "WrongKey", raw, raw.header(),
            credential=f"key {Rng('another raw key')(32).hex()}")
    refused("v2_raw_key_given_passphrase", "A raw-key store opened with a passphrase",
            "RawKeyRequired", raw, raw.header(), credential=f"passphrase {PASSPHRASE_BYTES.hex()}")
    refused("v2_passphrase_store_given_key", "A passphrase store opened with a raw key",
            "PassphraseRequired", base, h, credential=f"key {raw.secret.hex()}")
    for field, offset in (("salt", 24), ("store_id", 56), ("wrap_nonce", 72), ("wrapped_hk", 96)):
        refused(f"v2_header_{field}_flipped_checksum_fixed",
                f"One bit of {field} (offset {offset}) flipped, checksum fixed: the unwrap fails",
                "WrongPassphrase", base, fix_checksum(flip(h, offset)))
    ring = Spec("keys 1 and 2", key_ids=(1, 2), header_seq=4, version_limit=131_073)
    assert ring.version_limit ^ (1 << 1) == 131_075
    hr = ring.header()
    n = len(ring.key_ids)
    for field, offset, bit, why in (
            ("options", 144, 1, "bit 1 (padding) set"),
            ("key_id", 168, 0, "key_ids [1, 2] become [0, 2], still ascending"),
            ("header_seq", 148, 1, "4 becomes 6"),
            ("version_limit", 156, 1, "131073 becomes 131075"),
            ("secrets_nonce", 168 + 4 * n, 0, "first byte"),
            ("sealed_secrets", 192 + 4 * n, 0, "first byte")):
        refused(f"v2_header_{field}_flipped_checksum_fixed",
                f"One bit of {field} flipped ({why}), checksum fixed: the seal of the secrets "
                "fails", "HeaderAuthenticationFailed", ring, fix_checksum(flip(hr, offset, bit)),
                ring.record(MONITOR, VALUE, 5))

    # --- Records ------------------------------------------------------------------------
    ok("v2_record_empty_value_ok", "An empty value: a 53-byte record", base, value=b"", version=2)
    ok("v2_record_top_level_key_ok", "A top-level key (primary and secondary empty)", base,
       names=("", "", "manager"), version=3)
    long_names = ("A" * 120, "b" * 120, "c-_9" * 30)
    ok("v2_record_max_length_names_ok", "Names of 120 bytes (names off), all 256 byte values",
       base, names=long_names, value=bytes(range(256)), version=4)
    names74 = ("P" * 74, "s-_" * 24 + "s2", "k" * 73 + "9")
    assert all(len(x) == 74 for x in names74)
    ok("v2_record_names_74_bytes_ok",
       "Encrypted names of 74 bytes each, the longest: stored names of 120 characters", names,
       names=names74, version=5)
    assert all(len(x) == 120 for x in names.stored(names74))
    ok("v2_record_version_1_ok", "Version 1, the first version of a store", base, version=1)
    # The largest version a fresh open serves without an anchor: below S, which is the
    # header's version_limit for a writable open, and a writable open reserves at most up to
    # 2^64 - 1 (start + 2^32 <= 2^64 - 1).
    top_limit = U64_MAX - BLOCK
    top = Spec("largest versions", header_seq=7, version_limit=top_limit)
    ok("v2_record_version_largest_ok",
       f"Version {top_limit - 1} = 2^64 - 2^32 - 2 under version_limit 2^64 - 2^32 - 1, the "
       "largest a writable open reserves from: served read-only (below S = 2^64 - 1) and "
       "writable (below S = the header's version_limit)", top, version=top_limit - 1)
    case("v2_record_version_max",
         "Version 2^64 - 1 opens (steps 4 to 9) but no open ever hands it out (versions are "
         "below start + 2^32 <= 2^64 - 1): not anchored, k not in M and v >= S (2^64 - 1 "
         "read-only, the header's version_limit writable), so absent",
         "read failure: Removed", base, record=base.record(MONITOR, VALUE, U64_MAX))
    good = base.record(MONITOR, VALUE, 5)
    bad_record("v2_record_52_bytes", "52 bytes: shorter than the 53-byte overhead", base,
               base.record(MONITOR, b"", 5)[:52])
    bad_record("v2_record_format_1",
               "A record with format byte 1 (a pre-release record format)", base,
               put(good, 0, b"\x01"))
    bad_record("v2_record_format_3", "Format byte 3 (AD sealed with format 3 too)", base,
               base.record(MONITOR, VALUE, 5, fmt=3))
    bad_record("v2_record_key_id_not_in_keyring", "Key id 7 with keyring [0]", base,
               base.record(MONITOR, VALUE, 5, key_id=7, data_key=Rng("key 7")(32)))
    retired = Spec("keys 0 and 1", key_ids=(0, 1))
    after = Spec("keys 0 and 1", key_ids=(0, 1))
    after_header = after.header(key_ids=(1,), data_keys=[after.data_keys[1]], header_seq=3)
    case("v2_record_retired_key",
         "Keyring [0, 1] retired to [1]: a record sealed under key 0 opens with no key",
         "read failure: AuthenticationFailed", retired, header=after_header,
         record=retired.record(MONITOR, VALUE, 5, key_id=0))
    bad_record("v2_record_version_0", "Version 0, sealed with version 0 in its AD", base,
               base.record(MONITOR, VALUE, 0))
    rec01 = two.record(MONITOR, VALUE, 5, key_id=1)
    bad_record("v2_record_key_id_flipped", "Keyring [0, 1]: key id 1 flipped to 0", two,
               flip(rec01, 1))
    bad_record("v2_record_version_flipped", "Version 5 with bit 63 flipped", base, flip(good, 12, 7))
    bad_record("v2_record_version_changed", "Version 5 changed to 6, the rest kept", base,
               put(good, 5, le64(6)))
    bad_record("v2_record_nonce_flipped", "One nonce bit flipped", base, flip(good, 13))
    bad_record("v2_record_ciphertext_flipped", "One ciphertext bit flipped", base, flip(good, 37))
    bad_record("v2_record_tag_flipped", "One tag bit flipped", base, flip(good, len(good) - 1))
    bad_record("v2_record_moved_key", "Record of (monitors, \"\", 0123abcd_1) read at 0123abcd_2",
               base, good, names=("monitors", "", "0123abcd_2"))
    bad_record("v2_record_moved_primary", "Record copied to primary archived_monitors", base, good,
               names=("archived_monitors", "", "0123abcd_1"))
    bad_record("v2_record_moved_secondary", "Record copied to secondary namespace x", base, good,
               names=("monitors", "x", "0123abcd_1"))
    bad_record("v2_record_moved_boundary",
               "Record of (monitors, \"\", 0123abcd_1) presented as (monitors, 0123abcd, _1)",
               base, good, names=("monitors", "0123abcd", "_1"))
    other = Spec("another store")
    bad_record("v2_record_from_other_store",
               "Record of another v2 store with the same passphrase, key id and version", base,
               other.record(MONITOR, VALUE, 5))
    bad_record("v2_record_padding_length_too_large",
               "Padding: length field 17 over a 24-byte sealed plaintext (8 + 17 > 24)", padding,
               padding.record(MONITOR, None, 5, sealed=le64(17) + bytes(range(16))))
    bad_record("v2_record_padding_nonzero_byte",
               "Padding: a 13-byte value sealed in padme(21) = 22 bytes, its last padding "
               "byte 1", padding,
               padding.record(MONITOR, None, 5, sealed=pad(VALUE[:13])[:-1] + b"\x01"))
    bad_record("v2_record_padding_noncanonical_bucket",
               "Padding: a 10-byte value sealed in 20 bytes, not padme(18) = 18", padding,
               padding.record(MONITOR, None, 5, sealed=le64(10) + VALUE[:10] + bytes(2)))

    # --- Names --------------------------------------------------------------------------
    key_a, key_b = ("monitors", "", f"{TXID}_1"), ("monitors", "", f"{TXID}_2")
    case("v2_names_record_moved_stored_name",
         "Encrypted names: the record of key _1 put at the stored name of key _2, read as _2",
         "read failure: AuthenticationFailed", names, key_b,
         record=names.record(key_a, VALUE, 5), stored=names.stored(key_b))
    ns = names.open()
    sp, ss, good_key = names.stored(key_a)

    def undecodable(name, description, stored_key, plain_key=""):
        case(name, description, "list failure: UndecodableName", names,
             ("monitors", "", plain_key), record=names.record(key_a, VALUE, 5),
             stored=(sp, ss, stored_key))

    last = good_key[-1]
    alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # 16 + 66 = 82 bytes, 110 characters: the last character carries 4 unused low bits.
    assert len(good_key) == 110 and alpha.index(last) & 0xF == 0
    noncanonical = good_key[:-1] + alpha[alpha.index(last) | 1]
    cut = len(good_key) - (len(good_key) - 1) % 4
    undecodable("v2_names_list_noncanonical",
                "list(monitors, \"\") finds a stored key whose last character has an unused low "
                "bit set", noncanonical, key_a[2])
    undecodable("v2_names_list_length_mod_4_is_1",
                f"list(monitors, \"\") finds a stored key cut to {cut} characters (length mod 4 = 1)",
                good_key[:cut], key_a[2])
    undecodable("v2_names_list_16_bytes", "list(monitors, \"\") finds base64url of 16 bytes",
                b64url(Rng("16 bytes")(16)))
    undecodable("v2_names_list_random_bytes",
                "list(monitors, \"\") finds base64url of 86 random bytes", b64url(Rng("86 bytes")(86)))
    undecodable("v2_names_list_other_field",
                "list(monitors, \"\") finds the key encrypted as a secondary namespace under monitors",
                stored_name(ns.name_key, ns.store_id, FIELD_SECONDARY, ("monitors",), key_a[2]),
                key_a[2])
    undecodable("v2_names_list_other_place",
                "list(monitors, \"\") finds the key encrypted for the place (archived_monitors, \"\")",
                stored_name(ns.name_key, ns.store_id, FIELD_KEY, ("archived_monitors", ""),
                            key_a[2]), key_a[2])
    ok("v2_names_empty_secondary_ok",
       "Encrypted names: the empty secondary namespace stays empty; the longest monitor key "
       "(70 bytes, 115 characters)", names, names=("monitors", "", f"{TXID}_65535"), version=6)
    long_key = ("monitors", "", "k" * 75)
    case("v2_names_too_long_to_encrypt", "Encrypted names: a 75-byte key cannot be stored",
         "write failure: TooLongToEncrypt", names, long_key, record=None, plaintext=VALUE)

    table = [
        ("archived_monitors", "archived_monitors", "", "cd" * 32,
         "archived_monitors, and a v2 channel's monitor key (channel id, 64 hex)"),
        ("static_invoices", "static_invoices", "", "ef01" * 16,
         "static_invoices and a static invoice key (sha256 hex)"),
        ("manager", "", "", "manager", "top-level key manager"),
        ("network_graph", "", "", "network_graph", "top-level key network_graph"),
        ("scorer", "", "", "scorer", "top-level key scorer"),
        ("output_sweeper", "", "", "output_sweeper", "top-level key output_sweeper"),
        ("node_metrics", "", "", "node_metrics", "top-level key node_metrics"),
        ("peers", "", "", "peers", "top-level key peers"),
        ("events", "", "", "events", "top-level key events"),
        ("external_pathfinding_scores_cache", "", "", "external_pathfinding_scores_cache",
         "top-level key external_pathfinding_scores_cache"),
        *[(f"bdk_wallet_{k}", "bdk_wallet", "", k, f"bdk_wallet and its key {k}")
          for k in ("descriptor", "change_descriptor", "network", "local_chain", "tx_graph",
                    "indexer")],
        ("lsps2_peer_state", "lightning_liquidity_state", "lsps2_service", "02" + "ab" * 32,
         "lightning_liquidity_state / lsps2_service / an LSPS peer state key (node id, 66 hex)"),
    ]
    for i, (tag, p, s, k, what) in enumerate(table):
        triple = (p, s, k)
        stored = names.stored(triple)
        for plain, st in zip(triple, stored):
            assert len(st) == (0 if not plain else -(-4 * (16 + len(plain)) // 3))
        ok(f"v2_names_ldk_{tag}", f"Encrypted names, stored names of the LDK/ldk-node names: {what}",
           names, names=triple, version=10 + i, value=f"value of {p}/{s}/{k}".encode())

    # --- The freshness anchor -------------------------------------------------------------
    # An anchored store after two writable opens (header_seq 3, version_limit 3 * 2^32 + 1)
    # and the values its anchor holds ("Persisted encoding"): `meta` of a random epoch with
    # the header's header_seq and version_limit and the accept mark 1 that `create` writes,
    # and entries of that epoch unless a case says so. Every value is sealed with a nonce of
    # the store's own anchor stream.
    anchored = Spec("anchored", options=ANCHORED, header_seq=3, version_limit=3 * BLOCK + 1)
    epochs = Rng("anchor epochs")
    epoch, old_epoch, next_epoch = (u64_at(epochs(8), 0) for _ in range(3))
    mon2, mon3 = (("monitors", "", f"0123abcd_{i}") for i in (2, 3))
    update = ("monitor_updates", "0123abcd_1", "5")
    m = anchored.meta(epoch)
    live7 = anchored.entry(epoch, MONITOR, 7)
    others = [anchored.entry(epoch, mon2, 20), anchored.entry(epoch, mon3, 8),
              anchored.entry(epoch, update, 21)]
    corrupt_ = "open failure: AnchorCorrupt"

    def anchored_case(name, description, expect, anchor, version=7, spec=anchored,
                      names=MONITOR, record=None, **kw):
        """A read of `names` (a record of `version`, or none for None) with these anchor
        values; a success reads VALUE at that version."""
        if record is None and version is not None:
            record = spec.record(names, VALUE, version)
        stored = spec.stored(names) if spec.options & NAMES else None
        success = expect == "success"
        case(name, description, expect, spec, names, record=record, stored=stored,
             version=version if success else None, plaintext=VALUE if success else None,
             anchor=anchor, **kw)

    # Opens that succeed, and the read after them ("The rule", anchored, k in M).
    anchored_case("v2_anchor_ok",
                  "Anchored store, meta (header_seq 3 = the header's, accept mark 1), an entry "
                  "of version 7 and a record of version 7; entries of other keys", "success",
                  [m, live7, *others])
    raw_anchored = Spec("anchored raw key", protection=RAW_KEY, secret=Rng("anchored raw key")(32),
                        options=ANCHORED, header_seq=3, version_limit=3 * BLOCK + 1)
    anchored_case("v2_anchor_raw_key_ok",
                  "Anchored raw-key store, an entry of version 7, a record of version 7",
                  "success", [raw_anchored.meta(epoch), raw_anchored.entry(epoch, MONITOR, 7)],
                  spec=raw_anchored)
    anchored_case("v2_anchor_meta_header_seq_below_ok",
                  "meta.header_seq 2 below the header's 3 (a header write whose meta update "
                  "was cut short): opens", "success", [anchored.meta(epoch, header_seq=2), live7])
    anchored_case("v2_anchor_newer_record_ok",
                  "An entry of version 7, a record of version 9 and accept mark 1: v > M[k] and "
                  "v >= F, a write whose entry update did not complete", "success", [m, live7],
                  version=9)
    anchored_case("v2_anchor_meta_accept_mark_at_limit_ok",
                  "meta accept_mark equal to its version_limit (3 * 2^32 + 1): valid; an entry "
                  "of version 7 and a record of version 7", "success",
                  [anchored.meta(epoch, accept_mark=anchored.version_limit), live7])
    anchored_case("v2_anchor_old_epoch_ignored",
                  "An entry of version 7 of the meta's epoch and one of version 100 of another "
                  "epoch (left over from before an accept) for the same key: the other epoch's "
                  "is ignored, a record of version 7 is served", "success",
                  [m, live7, anchored.entry(old_epoch, MONITOR, 100)])
    anchored_case("v2_anchor_next_epoch_ignored",
                  "An entry of version 100 of a new epoch (an accept cut short before its meta) "
                  "beside the meta's epoch's entry of version 7: ignored", "success",
                  [m, live7, anchored.entry(next_epoch, MONITOR, 100)])
    anchored_case("v2_anchor_old_epoch_version_above_limit_ok",
                  "An entry of another epoch with version 2^63, above the meta's version_limit: "
                  "the version bounds apply to the meta's epoch only", "success",
                  [m, live7, anchored.entry(old_epoch, mon3, 2**63)])
    anchored_case("v2_anchor_old_epoch_version_0_ok",
                  "An entry of another epoch with version 0: the version bounds apply to the "
                  "meta's epoch only", "success", [m, live7, anchored.entry(old_epoch, mon2, 0)])

    # The accept mark F: a store whose current state was accepted when its header said
    # version_limit 2 * 2^32 + 1 (F = that + 2^40, "Accepting the current state"), with the
    # entry of version 7 that the accept read.
    mark = 2 * BLOCK + 1 + 2**40
    accepted = Spec("accepted", options=ANCHORED, header_seq=4, version_limit=mark + BLOCK)
    am = accepted.meta(epoch, accept_mark=mark)
    a7 = accepted.entry(epoch, MONITOR, 7)
    anchored_case("v2_anchor_accepted_ok",
                  f"Accept mark F = {mark}: the accepted entry of version 7 and a record of "
                  "version 7 (v = M[k], below F)", "success", [am, a7], spec=accepted)
    anchored_case("v2_anchor_accepted_newer_record_ok",
                  f"Accept mark F = {mark}: an entry of version 7 and a record of version F + 5 "
                  "(v > M[k] and v >= F)", "success", [am, a7], spec=accepted, version=mark + 5)
    anchored_case("v2_anchor_accepted_record_at_mark_ok",
                  f"Accept mark F = {mark}: an entry of version 7 and a record of version F",
                  "success", [am, a7], spec=accepted, version=mark)
    anchored_case("v2_anchor_abandoned_timeline_rollback",
                  f"Accept mark F = {mark}: an entry of version 7 and a record of version F - 1 "
                  "(above M[k], below F: a record of a timeline the accept abandoned)",
                  "read failure: Rollback", [am, a7], spec=accepted, version=mark - 1)

    # Reads refused or absent.
    anchored_case("v2_anchor_rollback", "An entry of version 7 and a record of version 6",
                  "read failure: Rollback", [m, live7, *others], version=6)
    anchored_case("v2_anchor_missing", "An entry of version 7 and no record",
                  "read failure: Missing", [m, live7, *others], version=None)
    anchored_case("v2_anchor_removed",
                  "No entry for the key (entries of other keys) and a record of version 7: "
                  "absent, Removed (kind NotFound)", "read failure: Removed", [m, *others])
    anchored_case("v2_anchor_no_entry_absent",
                  "No entry for the key and no record: absent, the inner NotFound",
                  "read failure: NotFound", [m, *others], version=None)
    anchored_case("v2_anchor_other_epoch_removed",
                  "Only an entry of another epoch (valid) for the key, and a record of its "
                  "version 7: ignored, so absent", "read failure: Removed",
                  [m, anchored.entry(old_epoch, MONITOR, 7)])
    anchored_case("v2_anchor_record_tampered",
                  "An entry of version 7 and a record of version 7 with a ciphertext bit "
                  "flipped: the record is checked first", "read failure: AuthenticationFailed",
                  [m, live7], record=flip(anchored.record(MONITOR, VALUE, 7), 37))

    # Encrypted names: the record is at its stored names; entries hold plaintext names.
    anames = Spec("anchored names", options=NAMES | ANCHORED, header_seq=3,
                  version_limit=3 * BLOCK + 1)
    nm = anames.meta(epoch)
    n9 = anames.entry(epoch, MONITOR, 9)
    nothers = [anames.entry(epoch, mon2, 12)]
    anchored_case("v2_anchor_names_ok",
                  "Encrypted names: an entry of version 9 (plaintext names inside), a record of "
                  "version 9 at the stored names", "success", [nm, n9, *nothers], spec=anames,
                  version=9)
    anchored_case("v2_anchor_names_rollback",
                  "Encrypted names: an entry of version 9, a record of version 8",
                  "read failure: Rollback", [nm, n9, *nothers], spec=anames, version=8)
    anchored_case("v2_anchor_names_missing", "Encrypted names: an entry of version 9, no record",
                  "read failure: Missing", [nm, n9, *nothers], spec=anames, version=None)
    anchored_case("v2_anchor_names_removed",
                  "Encrypted names: no entry for the key, a record of version 9",
                  "read failure: Removed", [nm, *nothers], spec=anames, version=9)
    anchored_case("v2_anchor_names_entry_of_stored_names_removed",
                  "Encrypted names: an entry of version 9 for the key's stored names (valid, "
                  "but an entry of another key: entries hold plaintext names), a record of "
                  "version 9", "read failure: Removed",
                  [nm, anames.entry(epoch, anames.stored(MONITOR), 9)], spec=anames, version=9)

    # Opens refused.
    anchored_case("v2_anchor_required", "Anchored header opened without an anchor",
                  "open failure: AnchorRequired", None)
    anchored_case("v2_anchor_empty", "Anchored header, an anchor holding nothing for the store",
                  "open failure: AnchorEmpty", [])
    anchored_case("v2_anchor_meta_absent_entries_left",
                  "Anchored header, an anchor with entries but no meta", "open failure: AnchorEmpty",
                  [live7, *others])
    anchored_case("v2_anchor_wrong_passphrase",
                  "Anchored header, an empty anchor, another passphrase: the header steps come "
                  "first", "open failure: WrongPassphrase", [],
                  credential=f"passphrase {b'incorrect horse battery staple'.hex()}")
    other_ak = Rng("another anchor key")(32)
    for tag, description, value in (
            ("71_bytes", "meta of 71 bytes (last tag byte cut)", m[1][:71]),
            ("73_bytes", "meta of 73 bytes (a byte appended)", m[1] + b"\0"),
            ("other_anchor_key", "meta sealed under another anchor key",
             anchored.meta(epoch, anchor_key=other_ak)[1]),
            ("other_store", "meta sealed for another store id (the store id is in the "
             "associated data)", anchored.meta(epoch, store_id=Rng("another store id")(16))[1]),
            ("byte_flipped", "meta with one ciphertext byte flipped", flip(m[1], 30)),
            ("accept_mark_above_limit", "meta accept_mark one above its version_limit",
             anchored.meta(epoch, accept_mark=anchored.version_limit + 1)[1])):
        anchored_case(f"v2_anchor_meta_{tag}", f"{description}: AnchorCorrupt", corrupt_,
                      [(META, value), live7])
    anchored_case("v2_anchor_meta_header_seq_above",
                  "meta.header_seq 4 above the header's 3: an older header was put back",
                  "open failure: HeaderRolledBack", [anchored.meta(epoch, header_seq=4), live7])
    anchored_case("v2_anchor_rolled_back_before_values",
                  "meta.header_seq 4 above the header's 3 and an entry sealed under another "
                  "key: step 2 comes before the values are listed", "open failure: HeaderRolledBack",
                  [anchored.meta(epoch, header_seq=4),
                   anchored.entry(epoch, MONITOR, 7, anchor_key=other_ak)])
    unanchored = anchored.header(options=0)
    for tag, description, expect, anchor in (
            ("meta_newer", "a valid meta with header_seq 4, above the header's 3: a header from "
             "before the anchor was attached was put back", "HeaderRolledBack",
             [anchored.meta(epoch, header_seq=4)]),
            ("meta_same", "a valid meta with the header's header_seq 3", "AnchorNotAttached",
             [m, live7]),
            ("meta_older", "a valid meta with header_seq 2", "AnchorNotAttached",
             [anchored.meta(epoch, header_seq=2)]),
            ("empty", "an anchor holding nothing", "AnchorNotAttached", []),
            ("meta_71_bytes", "a meta of 71 bytes (not valid)", "AnchorCorrupt", [(META, m[1][:71])]),
            ("meta_other_store", "a meta sealed for another store id (not valid)", "AnchorCorrupt",
             [anchored.meta(epoch, store_id=bytes(16))])):
        anchored_case(f"v2_anchor_not_attached_{tag}",
                      f"The header's anchored bit clear, an anchor given: {description}",
                      f"open failure: {expect}", anchor, header=unanchored)

    # Values of the anchor that are not valid (an entry of the meta's epoch, or a name that
    # is no entry's), each beside a valid meta: AnchorCorrupt.
    plain7 = entry_plaintext(epoch, 7, MONITOR)

    def sealed_as(name, plaintext=plain7):
        return name, anchored.seal(name, plaintext)

    for tag, description, value in (
            ("name_63_hex", "A value under k + 63 hex (sealed for that name)",
             sealed_as(live7[0][:-1])),
            ("name_uppercase_hex", "A value under k + 64 uppercase hex (sealed for that name)",
             sealed_as("k" + live7[0][1:].upper())),
            ("name_other_letter", "A value under p + 64 hex (sealed for that name)",
             sealed_as("p" + live7[0][1:])),
            ("entry_other_anchor_key", "An entry sealed under another anchor key",
             anchored.entry(epoch, MONITOR, 7, anchor_key=other_ak)),
            ("entry_byte_flipped", "An entry with one ciphertext byte flipped",
             (live7[0], flip(live7[1], 30))),
            ("entry_moved", "The entry of 0123abcd_1 put under the entry name of 0123abcd_2 "
             "(sealed for its own name)", (others[0][0], live7[1])),
            ("entry_wrong_name_hash", "The entry of 0123abcd_1 sealed for, and put under, the "
             "entry name of 0123abcd_2", anchored.entry(epoch, MONITOR, 7, name_of=mon2)),
            ("entry_name_of_other_epoch", "An entry of the meta's epoch under the name hashed "
             "with another epoch (sealed for it)",
             anchored.entry(epoch, MONITOR, 7, name_epoch=old_epoch)),
            ("entry_trailing_byte", "An entry whose plaintext has one byte after the names",
             sealed_as(live7[0], plain7 + b"\0")),
            ("entry_truncated", "An entry whose plaintext lacks its last byte",
             sealed_as(live7[0], plain7[:-1])),
            ("entry_empty_key", "An entry for (monitors, \"\", \"\") under its own name",
             anchored.entry(epoch, ("monitors", "", ""), 7)),
            ("entry_secondary_without_primary", "An entry for (\"\", x, k) under its own name",
             anchored.entry(epoch, ("", "x", "k"), 7)),
            ("entry_name_outside_alphabet", "An entry for key 0123abcd.1 under its own name",
             anchored.entry(epoch, ("monitors", "", "0123abcd.1"), 7)),
            ("entry_key_121_bytes", "An entry for a key of 121 bytes under its own name",
             anchored.entry(epoch, ("monitors", "", "k" * 121), 7)),
            ("entry_reserved_namespace", "An entry for (Encrypted_KVStore, \"\", header) under "
             "its own name: the reserved primary namespace, in any letter case",
             anchored.entry(epoch, ("Encrypted_KVStore", "", "header"), 7)),
            ("entry_version_0", "An entry of the meta's epoch with version 0",
             anchored.entry(epoch, MONITOR, 0)),
            ("entry_version_at_limit", "An entry of the meta's epoch with version 3 * 2^32 + 1, "
             "the meta's version_limit", anchored.entry(epoch, MONITOR, anchored.version_limit))):
        values = [m, value] if value[0] == live7[0] else [m, live7, value]
        anchored_case(f"v2_anchor_{tag}", f"{description}: AnchorCorrupt", corrupt_, values)

    # --- Step 8 of "Reading a record": anchored, a key not in M (removed, or its write never
    # completed) is absent whatever lingers at its stored names, so a record there that does
    # not open (steps 4 to 9) reads as the inner NotFound, not AuthenticationFailed; a key in
    # M with the same bytes is AuthenticationFailed. Added after the cases above, so that no
    # other case's draws move.
    absent = "read failure: NotFound"
    unopenable = "read failure: AuthenticationFailed"
    ameta = m  # `m` is reused below
    no_entry = [ameta, *others]
    good7 = anchored.record(MONITOR, VALUE, 7)
    junk = Rng("junk at an absent key")(80)
    for tag, description, record in (
            ("junk", "80 random bytes", junk),
            ("52_bytes", "a record of 52 bytes (step 4)", good7[:52]),
            ("format_1", "a record with format byte 1 (step 5)", put(good7, 0, b"\x01")),
            ("key_id_not_in_keyring", "a record under key id 7, not in the keyring [0] (step 6)",
             anchored.record(MONITOR, VALUE, 7, key_id=7, data_key=Rng("key 7")(32))),
            ("version_0", "a record of version 0 (step 7)", anchored.record(MONITOR, VALUE, 0)),
            ("ciphertext_flipped", "a record of version 7 with a ciphertext bit flipped (step 8)",
             flip(good7, 37)),
            ("from_other_store", "a record of another store, sealed under its own key (step 8)",
             other.record(MONITOR, VALUE, 7)),
            ("moved_from_other_key", "the record of 0123abcd_2 (whose entry is live, version "
             "20) put at 0123abcd_1: bound to another name (step 8)",
             anchored.record(mon2, VALUE, 20))):
        anchored_case(f"v2_anchor_absent_{tag}",
                      f"No entry for the key (entries of other keys) and {description}: absent "
                      "whatever lingers, the inner NotFound", absent, no_entry, record=record)
    anchored_case("v2_anchor_entry_junk",
                  "An entry of version 7 for the key and 80 random bytes at it: the key is in "
                  "M, so the bytes are judged", unopenable, [m, live7, *others], record=junk)
    anchored_case("v2_anchor_other_epoch_absent_ciphertext_flipped",
                  "Only an entry of another epoch (valid) for the key, and its record of version "
                  "7 with a ciphertext bit flipped: not in M, absent whatever lingers",
                  absent, [m, anchored.entry(old_epoch, MONITOR, 7)], record=flip(good7, 37))
    # A record under a key retired since: keyring [0, 1] reduced to [1] (header_seq 5), its
    # meta updated after that header write.
    aretired = Spec("anchored keys 0 and 1", key_ids=(0, 1), options=ANCHORED, header_seq=5,
                    version_limit=3 * BLOCK + 1)
    retired_header = aretired.header(key_ids=(1,), data_keys=[aretired.data_keys[1]])
    under_0 = aretired.record(MONITOR, VALUE, 7, key_id=0)
    rm = aretired.meta(epoch)
    rothers = [aretired.entry(epoch, mon2, 20)]
    anchored_case("v2_anchor_absent_retired_key",
                  "Keyring [0, 1] retired to [1]; no entry for the key and a record of it under "
                  "the retired key 0: absent whatever lingers, the inner NotFound", absent,
                  [rm, *rothers], spec=aretired, header=retired_header, record=under_0)
    anchored_case("v2_anchor_entry_retired_key",
                  "Keyring [0, 1] retired to [1]; an entry of version 7 for the key and its "
                  "record under the retired key 0: in M, so AuthenticationFailed", unopenable,
                  [rm, aretired.entry(epoch, MONITOR, 7), *rothers], spec=aretired,
                  header=retired_header, record=under_0)
    apadded = Spec("anchored padding", options=ANCHORED | PADDING, header_seq=3,
                   version_limit=3 * BLOCK + 1)
    anchored_case("v2_anchor_absent_padding_nonzero_byte",
                  "Padding: no entry for the key and a record whose last padding byte is 1 "
                  "(step 9): absent whatever lingers, the inner NotFound", absent,
                  [apadded.meta(epoch), apadded.entry(epoch, mon2, 20)], spec=apadded,
                  record=apadded.record(MONITOR, None, 7, sealed=pad(VALUE[:13])[:-1] + b"\x01"))
    anchored_case("v2_anchor_names_absent_moved_stored_name",
                  "Encrypted names: no entry for the key, and the record of 0123abcd_2 (whose "
                  "entry is live) at the key's stored names: absent whatever lingers", absent,
                  [nm, *nothers], spec=anames, record=anames.record(mon2, VALUE, 12))

    # --- Steps 1 to 9 of "Reading the header" once more: the first bytes, and the KDF bounds
    # at and past every limit (the costs put in place with the checksum fixed, so nothing is
    # derived). Added after the cases above, from a store of their own, so that no other
    # case's draws move.
    hs = Spec("header steps")
    hh = hs.header()
    hrec = hs.record(MONITOR, VALUE, 1)

    def steps(name, description, variant, header, credential=None):
        case(name, description, f"open failure: {variant}", hs, header=header, record=hrec,
             credential=credential)

    steps("v2_header_empty", "An empty header value", "CorruptHeader", b"")
    steps("v2_header_7_bytes", "Header of 7 bytes, a prefix of the magic", "CorruptHeader", hh[:7])
    steps("v2_header_bad_magic", "First magic byte changed", "CorruptHeader", flip(hh, 0))
    steps("v2_header_version_missing", "Header of exactly the 8-byte magic: version byte missing",
          "CorruptHeader", hh[:8])
    steps("v2_header_only_magic_and_version", "Header of just the magic and version",
          "CorruptHeader", hh[:9])
    steps("v2_header_memory_huge_checksum_stale",
          "Memory cost 0xffffffff KiB without recomputing the checksum: the checksum is checked "
          "before the bounds", "CorruptHeader", put(hh, 12, le32(0xFFFF_FFFF)))
    steps("v2_header_reserved_10_set_memory_huge",
          "Reserved byte set and memory cost 0xffffffff KiB, checksum fixed: reserved bytes are "
          "checked before the bounds", "CorruptHeader",
          fix_checksum(put(put(hh, 10, b"\x01"), 12, le32(0xFFFF_FFFF))))
    for tag, (m, t, p), why in (
            ("memory_huge", (0xFFFF_FFFF, 1, 1), "memory cost 0xffffffff KiB: refused before "
             "allocating"),
            ("iterations_huge", (64, 1 << 24, 1), "2^24 passes: refused, not a hang"),
            ("iterations_0", (64, 0, 1), "t below 1"),
            ("parallelism_0", (64, 1, 0), "p below 1"),
            ("parallelism_17", (136, 1, 17), "p above 16 (m = 8p)"),
            ("memory_below_8p", (63, 1, 8), "m below 8p"),
            ("work_over_ceiling", (419_431, 10, 1),
             "m and t within bounds, m x t = 4194310 above 4194304")):
        steps(f"v2_header_kdf_{tag}", f"Argon2id m={m} t={t} p={p}, checksum fixed: {why}",
              "KdfParamsOutOfBounds", fix_checksum(put(hh, 12, le32(m) + le32(t) + le32(p))))
    for tag, (m, t, p), why in (
            ("every_ceiling", (1_048_576, 4, 16), "m, p and m x t at their ceilings"),
            ("work_at_ceiling", (524_288, 8, 1), "m x t = 4194304")):
        steps(f"v2_header_kdf_{tag}_given_key",
              f"Argon2id m={m} t={t} p={p} ({why}), checksum fixed, opened with a raw key: "
              "within bounds, so the credential is checked next", "PassphraseRequired",
              fix_checksum(put(hh, 12, le32(m) + le32(t) + le32(p))),
              credential=f"key {raw.secret.hex()}")
    files["v2_open_no_header"] = case_text(
        "A record but no header: never treated as a new store", "open failure: NotInitialized",
        hs.credential(), MONITOR, None, hrec)

    # --- Rules no case above reached: a read of nothing without an anchor, the remaining
    # reserved bytes and option bits, the raw-key and protection checks, and the anchor's
    # validity rules at their other edges. Added last, so that no other case's draws move.
    case("v2_record_none_not_found",
         "No anchor, no record at the key: k not in M (memory starts empty), found nothing: "
         "absent, the inner NotFound", "read failure: NotFound", base, record=None)
    for tag, changes, why in (
            ("reserved_11_set", dict(reserved10=b"\0\x01"), "Reserved byte 11 set"),
            ("reserved_147_set", dict(reserved146=b"\0\x01"), "Reserved byte 147 set"),
            ("options_bit_5_set", dict(options=0x20), "Options bit 5 set"),
            ("options_bit_6_set", dict(options=0x40), "Options bit 6 set"),
            ("options_bit_7_set", dict(options=0x80), "Options bit 7 set")):
        refused(f"v2_header_{tag}", f"{why} (wrap, seal and checksum valid)", "CorruptHeader",
                base, base.header(**changes))
    refused("v2_header_raw_key_with_lanes_only",
            "A raw-key header with m=0 t=0 p=1 (wrap, seal and checksum valid): every cost must "
            "be 0", "CorruptHeader", raw, raw.header(kdf=(0, 0, 1)))
    refused("v2_header_protection_0", "Protection byte 0, checksum fixed", "CorruptHeader", base,
            fix_checksum(put(h, 9, b"\x00")))
    refused("v2_raw_key_salt_flipped_checksum_fixed",
            "A raw-key header with one salt bit flipped, checksum fixed: the unwrap fails",
            "WrongKey", raw, fix_checksum(flip(raw.header(), 24)))

    limit = anchored.version_limit
    anchored_case("v2_anchor_entry_version_below_limit_ok",
                  f"An entry of the meta's epoch with version {limit - 1}, one below the meta's "
                  "version_limit (the largest valid), and a record of that version", "success",
                  [ameta, anchored.entry(epoch, MONITOR, limit - 1)], version=limit - 1)
    for tag, description, value in (
            ("other_epoch_reserved_namespace", "An entry of another epoch for (encrypted_kvstore, "
             "\"\", header) under its own name: validity does not depend on the epoch",
             anchored.entry(old_epoch, (RESERVED_PRIMARY, "", "header"), 7)),
            ("other_epoch_wrong_name_hash", "An entry of another epoch for 0123abcd_1 sealed for, "
             "and put under, the name of 0123abcd_2 in that epoch",
             anchored.entry(old_epoch, MONITOR, 7, name_of=mon2)),
            ("other_epoch_byte_flipped", "An entry of another epoch with one ciphertext byte "
             "flipped", (lambda e: (e[0], flip(e[1], 30)))(anchored.entry(old_epoch, mon2, 7))),
            ("entry_15_bytes", "A value under an entry-shaped name, sealed for it, whose "
             "plaintext is 15 bytes (no room for an epoch and a version)",
             (lambda n: (n, anchored.seal(n, entry_plaintext(epoch, 7, MONITOR)[:15])))(
                 entry_name(anchored.anchor_key, epoch, mon3)))):
        anchored_case(f"v2_anchor_{tag}", f"{description}: AnchorCorrupt", corrupt_,
                      [ameta, live7, value])
    anchored_case("v2_anchor_not_attached_entries_no_meta",
                  "The header's anchored bit clear, an anchor given holding entries and no meta",
                  "open failure: AnchorNotAttached", [live7, *others], header=unanchored)
    anchored_case("v2_anchor_not_attached_entry_corrupt",
                  "The header's anchored bit clear, an anchor given holding a valid meta with the "
                  "header's header_seq and an entry with a byte flipped: entries are not read",
                  "open failure: AnchorNotAttached", [ameta, (live7[0], flip(live7[1], 30))],
                  header=unanchored)

    # Step 1 of "Reading a record": names refused before anything is read (or written).
    for tag, triple, why in (
            ("reserved_namespace", (RESERVED_PRIMARY, "", "header"),
             "the header's own place, the reserved primary namespace"),
            ("reserved_namespace_other_case", ("Encrypted_KVStore", "", "header"),
             "the reserved primary namespace in another letter case"),
            ("empty_key", ("monitors", "", ""), "an empty key"),
            ("secondary_without_primary", ("", "x", "k"), "a secondary namespace without a primary"),
            ("bad_character", ("monitors", "", "0123abcd.1"), "a key with a character outside "
             "LDK's alphabet"),
            ("key_121_bytes", ("monitors", "", "k" * 121), "a key of 121 bytes")):
        case(f"v2_read_invalid_name_{tag}", f"A read of {why}: refused, nothing read",
             "read failure: InvalidName", base, triple)
    case("v2_names_read_too_long_to_encrypt",
         "Encrypted names: a read of a 75-byte key, refused before anything is read",
         "read failure: TooLongToEncrypt", names, long_key)
    case("v2_write_invalid_name_reserved_namespace",
         "A write to (ENCRYPTED_KVSTORE, \"\", header), the reserved primary namespace in capitals: "
         "refused, nothing written", "write failure: InvalidName", base,
         ("ENCRYPTED_KVSTORE", "", "header"), plaintext=VALUE)

    # `list`: a key of M that the listing lacks is Missing (the smallest in byte order), after
    # every listed name is decoded.
    listed3 = anames.record(mon3, VALUE, 8)
    case("v2_anchor_list_missing",
         "list(monitors, \"\") with entries for 0123abcd_1, _2 and _3 (and a key of another pair) "
         "finds only the record of _3: the smallest key missing is named",
         "list failure: Missing", anchored, ("monitors", "", "0123abcd_1"),
         record=anchored.record(mon3, VALUE, 8), stored=mon3, anchor=[ameta, live7, *others])
    nstored3 = anames.stored(mon3)
    case("v2_anchor_names_list_missing",
         "Encrypted names: list(monitors, \"\") with entries for 0123abcd_1 and _3 finds only the "
         "stored name of _3, decoded: _1 is missing", "list failure: Missing", anames,
         ("monitors", "", "0123abcd_1"), record=listed3, stored=nstored3,
         anchor=[nm, n9, anames.entry(epoch, mon3, 8)])
    case("v2_anchor_names_list_undecodable_before_missing",
         "Encrypted names: list(monitors, \"\") with an entry for 0123abcd_1 finds only base64url "
         "of 16 bytes: names are decoded before M is checked", "list failure: UndecodableName",
         anames, ("monitors", "", ""), record=listed3,
         stored=(nstored3[0], nstored3[1], b64url(Rng("16 bytes, anchored")(16))),
         anchor=[nm, n9])

    # The order of the steps where two would refuse the same header, and the last rules of
    # "Opening with an anchor" and "Decoding a stored name" no case above reached.
    steps("v2_header_version_3_short", "The magic and version byte 3 alone (9 bytes): the "
          "version is checked before the length", "UnsupportedVersion", hh[:8] + b"\x03")
    steps("v2_header_seq_0_memory_huge", "header_seq 0 and memory cost 0xffffffff KiB, checksum "
          "fixed: step 8 comes before the bounds", "CorruptHeader",
          fix_checksum(put(put(hh, 148, le64(0)), 12, le32(0xFFFF_FFFF))))
    steps("v2_header_kdf_memory_huge_given_key", "Memory cost 0xffffffff KiB, checksum fixed, "
          "opened with a raw key: the bounds come before the credential",
          "KdfParamsOutOfBounds", fix_checksum(put(hh, 12, le32(0xFFFF_FFFF))),
          credential=f"key {raw.secret.hex()}")
    case("v2_open_empty_passphrase", "An empty passphrase (refused by create, not by open): "
         "the unwrap fails", "open failure: WrongPassphrase", base, credential="passphrase")
    ah = anchored.header()
    case("v2_header_anchored_sealed_secrets_flipped_no_anchor",
         "An anchored header with a sealed-secrets bit flipped (checksum fixed), opened without "
         "an anchor: step 12 comes before step 13", "open failure: HeaderAuthenticationFailed",
         anchored, header=fix_checksum(flip(ah, 192 + 4)), record=good7)
    anchored_case("v2_anchor_meta_sealed_for_other_name",
                  "A meta plaintext sealed for the name of an entry (the name is in the "
                  "associated data), put under meta: AnchorCorrupt", corrupt_,
                  [(META, anchored.seal(live7[0], meta_plaintext(
                      epoch, anchored.header_seq, anchored.version_limit, 1))), live7])
    anchored_case("v2_anchor_meta_absent_entry_corrupt",
                  "No meta and an entry with a byte flipped: step 1 comes before the values "
                  "are listed", "open failure: AnchorEmpty", [(live7[0], flip(live7[1], 30))])
    for tag, plain, why in (
            ("not_ldk_name", "0123abcd.1", "a key with a character outside LDK's alphabet"),
            ("75_bytes", "k" * 75, "a key of 75 bytes, longer than encrypted names allow")):
        undecodable(f"v2_names_list_plaintext_{tag}",
                    f"list(monitors, \"\") finds a valid encryption, for this field and place, "
                    f"of {why}", stored_name(ns.name_key, ns.store_id, FIELD_KEY,
                                             ("monitors", ""), plain))

    # The lower edges of the KDF bounds (m = 8p, t at its ceiling of 10), and a padded
    # plaintext too short to hold its length.
    edges = Spec("kdf edges", kdf=(16, 10, 2))
    ok("v2_kdf_memory_8p_passes_10_ok", "Argon2id m=16 t=10 p=2 (memory at 8p, passes at their "
       "ceiling): within bounds, opens and reads", edges, version=3)
    bad_record("v2_record_padding_7_bytes",
               "Padding: a sealed plaintext of 7 bytes, too short for its 8-byte length", padding,
               padding.record(MONITOR, None, 5, sealed=bytes(7)))

    # --- Padmé --------------------------------------------------------------------------
    xs = list(range(8, 301)) + [1_000, 1_024, 4_096, 65_536, 100_000, 1_048_575, 1_048_576,
                                10_000_000, 2**32]
    files["v2_padme"] = ("description: padme(x) of \"Length padding\" for x = 8 to 300 and larger x\n"
                         "kind: padme\n" + "".join(f"{x}: {padme(x)}\n" for x in xs))

    for name, text in files.items():
        (out / f"{name}.txt").write_text(text)
    print(f"wrote {len(files)} files to {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate", metavar="DIR", required=True,
                        help="write the v2_*.txt vectors into DIR (check_vectors.py checks them)")
    args = parser.parse_args()
    generate(args.generate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
