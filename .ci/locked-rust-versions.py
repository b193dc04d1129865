"""Fails when a package in Cargo.lock declares a rust-version newer than the workspace's.

Reads `cargo metadata --format-version 1` on standard input. The workspace's rust-version is
the smallest of its members'; cargo's MSRV-aware resolver (resolver = "3") keeps the lockfile
within it, and this check keeps it that way when the lockfile is edited by hand or by an
older resolver.
"""
import json
import sys


def version(text):
    return tuple(int(part) for part in text.split(".")[:2])


meta = json.load(sys.stdin)
members = [p for p in meta["packages"] if p["id"] in meta["workspace_members"]]
msrv = min(version(p["rust_version"]) for p in members if p.get("rust_version"))
locked = {node["id"] for node in meta["resolve"]["nodes"]}
newer = [
    "{} {} needs {}".format(p["name"], p["version"], p["rust_version"])
    for p in meta["packages"]
    if p["id"] in locked and p.get("rust_version") and version(p["rust_version"]) > msrv
]
if newer:
    sys.exit("locked packages newer than rust-version %d.%d:\n  " % msrv + "\n  ".join(newer))
print("every locked package builds on rust-version %d.%d" % msrv)
