"""Where every document lives in a registry: the one module that spells the file layout.

::

    pedata.json                                   registry settings
    manifests/<ns>/<name>/<sha256>.json           schema sidecar per artifact version (immutable)
    manifests/<ns>/<name>/<digest>.files.json     a folder's file list (content-addressed companion)
    manifests/<ns>/<name>/<digest>.fields.json    a wide table's field list (companion)
    channels/<ns>/<channel>.json                  pointer documents (latest, next, ...)
    releases/<ns>/<semver>.json                   signed release bundles; git tag <ns>/v<semver>
    tombstones/<sha256>.json                      signed revocations
    trust/root/<N>.json                           trust root versions
    locks/inputs.manifest.json, locks/deps.lock.yaml   the build's inputs and environment

A document's path is part of its meaning (a signed release stored under another version's name
is not that version), so the path builders here validate every segment, and :func:`parse` maps a
path back to what it claims to be, for whoever binds a path to a body. Paths are POSIX, relative
to the registry's top, the same in a work tree and inside a commit.
"""

from __future__ import annotations

from dataclasses import dataclass

from dvc_pedata.model.names import check_name, check_namespace, check_sha256
from dvc_pedata.model.semver import check_semver

CONFIG = "pedata.json"
MANIFESTS = "manifests"
CHANNELS = "channels"
RELEASES = "releases"
TOMBSTONES = "tombstones"
ROOTS = "trust/root"
LOCKS = "locks"
INPUTS_LOCK = f"{LOCKS}/inputs.manifest.json"
DEPS_LOCK = f"{LOCKS}/deps.lock.yaml"

# The folders `pedata init` creates, and the ones holding signed or content-addressed documents.
FOLDERS = (MANIFESTS, CHANNELS, RELEASES, TOMBSTONES, ROOTS, LOCKS)
DOC_DIRS = (CHANNELS, RELEASES, TOMBSTONES, ROOTS, MANIFESTS)


def manifest(ns: str, name: str, sha256: str) -> str:
    return f"{MANIFESTS}/{check_namespace(ns)}/{check_name(name)}/{check_sha256(sha256)}.json"


def manifest_dir(ns: str, name: str) -> str:
    return f"{MANIFESTS}/{check_namespace(ns)}/{check_name(name)}"


def companion(ns: str, name: str, filename: str) -> str:
    """A manifest's companion file (``<digest>.files.json`` / ``.fields.json``) beside it."""
    return f"{manifest_dir(ns, name)}/{filename}"


def channel(ns: str, name: str) -> str:
    return f"{CHANNELS}/{check_namespace(ns)}/{check_name(name, 'channel')}.json"


def release(ns: str, version: str) -> str:
    return f"{RELEASES}/{check_namespace(ns)}/{check_semver(version)}.json"


def tombstone(sha256: str) -> str:
    return f"{TOMBSTONES}/{check_sha256(sha256)}.json"


def root(version: int) -> str:
    return f"{ROOTS}/{int(version)}.json"


@dataclass(frozen=True)
class Place:
    """What a registry path claims to hold: its kind and the names its segments carry."""

    kind: str  # manifest | channel | release | tombstone | root
    namespace: str | None = None
    name: str | None = None  # artifact name, channel name
    key: str | None = None  # manifest/tombstone sha256, release version, root version


def kind_of(path: str) -> str | None:
    """The document kind stored under ``path`` by folder alone (None: not a document folder)."""
    for top, kind in ((MANIFESTS, "manifest"), (CHANNELS, "channel"), (RELEASES, "release"),
                      (TOMBSTONES, "tombstone"), (ROOTS, "root")):
        if path.startswith(top + "/"):
            return kind
    return None


def parse(path: str) -> Place | None:
    """``path`` read back into what it claims to be, or None if it is not a document's place."""
    kind = kind_of(path)
    if kind is None or not path.endswith(".json"):
        return None
    parts = path[:-len(".json")].split("/")
    if kind == "manifest" and len(parts) == 4:
        return Place(kind, parts[1], parts[2], parts[3])
    if kind == "channel" and len(parts) == 3:
        return Place(kind, parts[1], parts[2])
    if kind == "release" and len(parts) == 3:
        return Place(kind, parts[1], None, parts[2])
    if kind == "tombstone" and len(parts) == 2:
        return Place(kind, None, None, parts[1])
    if kind == "root" and len(parts) == 3:
        return Place(kind, None, None, parts[2])
    return None
