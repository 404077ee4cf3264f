"""Typed registry documents: manifest, channel, release, tombstone, root, adoption record.

Each is a thin typed view over its JSON body, validated against the JSON Schema shipped in
``dvc_pedata/model/schemas/`` on every load and before every save. Signed kinds are stored as
``{"signed": {...}, "signatures": [...]}``; their digest is over the canonical ``signed`` part only,
so adding a signature never changes a document's identity.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from dvc_pedata.base import atomic
from dvc_pedata.base.timeutil import parse_time
from dvc_pedata.errors import DocumentError, NotFoundError
from dvc_pedata.model.canonical import digest, loads_strict, pretty_bytes

SCHEMA_VERSION = 1

D = TypeVar("D", bound="Document")


def _schema_path(kind: str) -> Path:
    """The shipped schema file (a plain path: importlib.resources costs ~10 ms on a cache hit)."""
    return Path(__file__).with_name("schemas") / f"{kind}.schema.json"


@cache
def _schema_json(kind: str) -> dict[str, Any]:
    return json.loads(_schema_path(kind).read_text())


def _fullmatch_patterns(node: Any) -> Any:
    r"""The schema with every ``pattern`` anchored at the very end of the string.

    JSON Schema patterns are ECMA-262, where ``$`` (no multiline flag) matches only at the end;
    Python's ``re`` (which jsonschema and fastjsonschema use) also lets ``$`` match before a final
    newline, so ``"2030-01-01T00:00:00Z\n"`` would pass ``^…Z$``. Rewriting a final unescaped
    ``$`` to ``\Z`` gives Python the ECMA meaning (fullmatch), while the shipped files stay
    portable for other tools (:func:`schema_of` returns them as written).
    """
    if isinstance(node, dict):
        out = {k: _fullmatch_patterns(v) for k, v in node.items()}
        pat = node.get("pattern")
        if isinstance(pat, str) and pat.endswith("$") and not pat.endswith("\\$"):
            out["pattern"] = pat[:-1] + "\\Z"
        return out
    if isinstance(node, list):
        return [_fullmatch_patterns(v) for v in node]
    return node


@cache
def _py_schema(kind: str) -> dict[str, Any]:
    return _fullmatch_patterns(_schema_json(kind))


@cache
def _validator(kind: str) -> Any:
    """jsonschema's validator: imported (~0.15 s) only to phrase a rejected document's error."""
    import jsonschema

    schema = _py_schema(kind)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


@cache
def _schema_bytes_digest(kind: str) -> bytes:
    data = _schema_path(kind).read_bytes()
    return hashlib.sha256(data).digest()


def _memo_key(kind: str, data: bytes) -> str:
    """Which bytes passed which schema: (kind, the shipped schema's bytes, the document's bytes)."""
    h = hashlib.sha256(b"pedata-validated-v2\0" + kind.encode() + b"\0" + _schema_bytes_digest(kind))
    h.update(data)
    return h.hexdigest()


def schema_of(kind: str) -> dict[str, Any]:
    """The JSON Schema shipped for ``kind`` (for docs and for other tools)."""
    return dict(_schema_json(kind))


@cache
def _fast_check(kind: str) -> Any:
    """A compiled validator (fastjsonschema, ~30x jsonschema) used only to say "valid"."""
    import fastjsonschema

    return fastjsonschema.compile(_py_schema(kind))


def validate(kind: str, obj: Any, source: str = "document") -> None:
    """Raise a one-line :class:`DocumentError` naming the first schema violation, if any.

    The compiled check answers the common case (a valid document) in microseconds, which keeps
    ``verify`` linear and fast over 100,000 manifests; jsonschema still judges and phrases every
    document the fast check rejects, so messages never depend on the fast path.
    """
    import fastjsonschema

    try:
        _fast_check(kind)(obj)
    except fastjsonschema.JsonSchemaException:
        pass
    else:
        _check_times(obj, source)
        return
    errors = sorted(_validator(kind).iter_errors(obj), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        msg = err.message if len(err.message) < 200 else err.message[:200] + "..."
        raise DocumentError(f"{source}: fails the {kind} schema at {where}: {msg}")


# Times a signed body may carry: the schema checks their form, this checks they name a real
# instant (``2030-02-30T00:00:00Z`` and year 0 have the form but no date).
_TIME_FIELDS = ("expires", "certified_at", "date")


def _check_times(obj: Any, source: str) -> None:
    body = obj.get("signed") if isinstance(obj, dict) and "signed" in obj else obj
    if not isinstance(body, dict):
        return
    from datetime import date


    for key in _TIME_FIELDS:
        value = body.get(key)
        if isinstance(value, str):
            try:
                parse_time(value, key)
            except DocumentError as exc:
                raise DocumentError(f"{source}: {exc.message}") from None
    notice = body.get("notice")
    day = notice.get("date") if isinstance(notice, dict) else None
    if isinstance(day, str):
        try:
            date.fromisoformat(day[:10])
        except ValueError as exc:
            raise DocumentError(f"{source}: invalid notice date {day!r}: {exc}") from None


def _refuse_link(path: Path, source: str) -> None:
    """A document is a regular file: a symbolic link (committed in a registry, it can point
    anywhere) is refused by name instead of being followed."""
    if path.is_symlink():
        import os

        raise DocumentError(f"{source}: is a symbolic link (to {os.readlink(path)!r}); registry documents must be"
                            " regular files, never links")


_PASSED: set[str] = set()  # _memo_key of the signed documents' bytes that passed validate() in this process


class Document:
    """Base class. ``body`` is the content (for signed kinds, the ``signed`` part)."""

    kind: ClassVar[str]
    signed_kind: ClassVar[bool] = True

    def __init__(self, body: dict[str, Any], signatures: list[dict[str, str]] | None = None) -> None:
        self.body = body
        self.signatures: list[dict[str, str]] = list(signatures or [])

    # -- serialisation -------------------------------------------------------------------------
    def to_obj(self) -> dict[str, Any]:
        if self.signed_kind:
            return {"signed": self.body, "signatures": self.signatures}
        return self.body

    def to_bytes(self) -> bytes:
        self.validate()
        return pretty_bytes(self.to_obj())

    def validate(self, source: str | None = None) -> None:
        validate(self.kind, self.to_obj(), source or f"{self.kind} document")

    def is_file_form(self, data: bytes) -> bool:
        """Whether ``data`` is exactly the file pedata writes for this document.

        Signatures cover canonical bytes, so whitespace or key order edited by hand leaves them
        valid; ``verify`` still refuses such a file, so that no byte of a signed file can change
        unnoticed (and a reviewer's diff always shows the document as pedata wrote it).
        """
        return data == pretty_bytes(self.to_obj())

    @classmethod
    def from_obj(cls: type[D], obj: Any, source: str = "document") -> D:
        validate(cls.kind, obj, source)
        return cls._from_valid(obj)

    @classmethod
    def _from_valid(cls: type[D], obj: Any) -> D:
        """The document of ``obj``, which has passed :func:`validate`."""
        if cls.signed_kind:
            return cls(obj["signed"], obj["signatures"])
        return cls(obj)

    @classmethod
    def from_bytes(cls: type[D], data: bytes, source: str = "document") -> D:
        obj = loads_strict(data, source=source)
        if not cls.signed_kind:
            return cls.from_obj(obj, source)
        # The signed kinds recur: verify reads a release or channel at its tag, in the work tree
        # and in every commit of its history, mostly the same bytes. Bytes that passed the schema
        # once in this process pass again (the check is a function of the bytes alone); the parse
        # runs every time, so each caller gets a document of its own.
        key = _memo_key(cls.kind, data)
        if key not in _PASSED:
            validate(cls.kind, obj, source)
            _PASSED.add(key)
        return cls._from_valid(obj)

    @classmethod
    def from_bytes_memo(cls: type[D], data: bytes, source: str, memo_dir: Path) -> D:
        """:meth:`from_bytes`, remembering in ``memo_dir`` which exact bytes already passed the schema.

        For the resolver's warm path: importing jsonschema alone costs ~0.3 s, ten times a cache
        hit's other work. The memo key is the sha256 of (kind, the shipped schema's bytes, the
        document's bytes), so a changed document or a changed schema is validated again; the
        strict JSON parse (duplicate keys, NaN, non-UTF-8) runs every time. A memo entry is an
        empty file; losing the folder only costs a validation.
        """
        obj = loads_strict(data, source=source)
        key = _memo_key(cls.kind, data)
        marker = Path(memo_dir) / key[:2] / key[2:]
        if not marker.exists():
            validate(cls.kind, obj, source)
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError:
                pass  # a read-only cache only loses the memo
        return cls._from_valid(obj)

    @classmethod
    def load(cls: type[D], path: Path, source: str | None = None) -> D:
        path = Path(path)
        _refuse_link(path, source or str(path))
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"no {cls.kind} document at {path}") from None
        except IsADirectoryError:
            raise DocumentError(f"{path}: is a folder, not a {cls.kind} document") from None
        return cls.from_bytes(data, source or str(path))

    def save(self, path: Path) -> bool:
        """Atomically write the document; returns False if the file already had these bytes."""
        return atomic.write_if_changed(Path(path), self.to_bytes())

    # -- identity ------------------------------------------------------------------------------
    @property
    def digest(self) -> str:
        """sha256 of the canonical JSON of the body (signatures excluded)."""
        return digest(self.body)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Document) and other.kind == self.kind and other.body == self.body

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.digest[:12]}>"


class Pin(dict[str, Any]):
    """One artifact a channel or release pins: ``{sha256, manifest_sha256, size[, location]}``.

    A ``dict`` subclass so the document's bytes are exactly the JSON it was read from (unknown
    fields are kept, key order is the file's) while code reads typed attributes.
    """

    @property
    def sha256(self) -> str:
        return str(self["sha256"])

    @property
    def manifest_sha256(self) -> str:
        return str(self["manifest_sha256"])

    @property
    def size(self) -> int | None:
        value = self.get("size")
        return int(value) if value is not None else None

    @property
    def location(self) -> dict[str, Any] | None:
        return self.get("location")


def _pins(body: dict[str, Any], key: str) -> None:
    """Wrap a pin table's entries as :class:`Pin` in place (same bytes, typed access)."""
    table = body.get(key)
    if isinstance(table, dict):
        for name, value in table.items():
            if isinstance(value, dict) and not isinstance(value, Pin):
                table[name] = Pin(value)


@dataclass(frozen=True)
class RoleSpec:
    """Who may sign for a role: its keyids, how many must sign, and (optionally) which namespaces."""

    keyids: tuple[str, ...]
    threshold: int
    namespaces: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> RoleSpec:
        ns = obj.get("namespaces")
        return cls(tuple(obj.get("keyids", ())), int(obj.get("threshold", 1)), tuple(ns) if ns is not None else None)

    def covers(self, namespace: str | None) -> bool:
        return self.namespaces is None or namespace is None or namespace in self.namespaces


@dataclass(frozen=True)
class Notice:
    """What a release's status change tells its readers: ``release``, ``correction`` or ``withdrawal``."""

    kind: str
    summary: str
    date: str | None = None

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Notice:
        return cls(str(obj.get("kind", "")), str(obj.get("summary", "")), obj.get("date"))


# Release statuses in lifecycle order: a release's status only moves forward in this list.
STATUSES = ("provisional", "certified", "retired", "unreproducible")
STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}


def status_rank(status: str) -> int:
    """The status's place in the lifecycle order (unknown statuses never come first)."""
    return STATUS_RANK.get(status, len(STATUSES))


class Manifest(Document):
    """Schema sidecar of one artifact version: identity, schema, inputs, producer, licence."""

    kind = "manifest"
    signed_kind = False

    @property
    def namespace(self) -> str:
        return str(self.body["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["name"])

    @property
    def size(self) -> int | None:
        """None only for an external artifact whose source does not state its size."""
        value = self.body["size"]
        return int(value) if value is not None else None

    @property
    def format(self) -> str:
        return str(self.body["format"])

    @property
    def schema(self) -> dict[str, Any]:
        return self.body["schema"]

    @property
    def inputs(self) -> dict[str, Any]:
        return self.body["inputs"]

    @property
    def producer(self) -> dict[str, Any]:
        return self.body["producer"]

    @property
    def licence(self) -> str | None:
        return self.body["licence"]

    @property
    def sha256(self) -> str:
        return str(self.body["digest"]["sha256"])

    @property
    def md5(self) -> str | None:
        return self.body["digest"].get("md5")

    @property
    def location(self) -> dict[str, Any] | None:
        return self.body.get("location")


class Channel(Document):
    """Pointer document: artifact name -> pin, with a strictly rising version and a prev chain."""

    kind = "channel"

    def __init__(self, body: dict[str, Any], signatures: list[dict[str, str]] | None = None) -> None:
        super().__init__(body, signatures)
        _pins(self.body, "artifacts")

    @property
    def namespace(self) -> str:
        return str(self.body["namespace"])

    @property
    def channel(self) -> str:
        return str(self.body["channel"])

    @property
    def version(self) -> int:
        return int(self.body["version"])

    @property
    def prev(self) -> str | None:
        return self.body["prev"]

    @property
    def expires(self) -> str | None:
        return self.body["expires"]

    @property
    def artifacts(self) -> dict[str, Pin]:
        return self.body["artifacts"]


class Release(Document):
    """Signed certification pin: a versioned, citable set of artifacts with a lifecycle status."""

    kind = "release"

    def __init__(self, body: dict[str, Any], signatures: list[dict[str, str]] | None = None) -> None:
        super().__init__(body, signatures)
        _pins(self.body, "pins")

    @property
    def namespace(self) -> str:
        return str(self.body["namespace"])

    @property
    def version(self) -> str:
        return str(self.body["version"])

    @property
    def status(self) -> str:
        return str(self.body["status"])

    @property
    def status_rank(self) -> int:
        return status_rank(self.status)

    @property
    def pins(self) -> dict[str, Pin]:
        return self.body["pins"]

    @property
    def source_channel(self) -> dict[str, Any]:
        return self.body["source_channel"]

    @property
    def previous(self) -> str | None:
        return self.body["previous"]

    @property
    def expires(self) -> str | None:
        return self.body["expires"]

    @property
    def notice(self) -> Notice | None:
        obj = self.body.get("notice")
        return Notice.from_json(obj) if isinstance(obj, dict) else None


class Tombstone(Document):
    """Signed revocation of an artifact's bytes; its manifest and history stay."""

    kind = "tombstone"

    @property
    def artifact_sha256(self) -> str:
        return str(self.body["artifact_sha256"])

    @property
    def reason(self) -> str:
        return str(self.body["reason"])

    @property
    def authority(self) -> str:
        return str(self.body["authority"])

    @property
    def date(self) -> str:
        return str(self.body["date"])


class Root(Document):
    """Trust root: keys, roles with thresholds and namespace scopes, version, expiry."""

    kind = "root"

    @property
    def version(self) -> int:
        return int(self.body["version"])

    @property
    def expires(self) -> str | None:
        return self.body["expires"]

    @property
    def keys(self) -> dict[str, Any]:
        return self.body["keys"]

    @property
    def roles(self) -> dict[str, Any]:
        return self.body["roles"]

    def role(self, name: str) -> RoleSpec | None:
        """The role's spec, or None when this root does not define it."""
        spec = self.roles.get(name)
        return RoleSpec.from_json(spec) if isinstance(spec, dict) else None


KINDS: dict[str, type[Document]] = {c.kind: c for c in (Manifest, Channel, Release, Tombstone, Root)}


def load_any(path: Path) -> Document:
    """Load a document whose kind is read from the file itself."""
    path = Path(path)
    _refuse_link(path, str(path))
    try:
        obj = loads_strict(path.read_bytes(), source=str(path))
    except FileNotFoundError:
        raise NotFoundError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise DocumentError(f"{path}: is a folder, not a document") from None
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind is None and isinstance(obj, dict) and isinstance(obj.get("signed"), dict):
        kind = obj["signed"].get("kind")
    if kind not in KINDS:
        raise DocumentError(f"{path}: not a pedata document (unknown kind {kind!r})")
    return KINDS[kind].from_obj(obj, str(path))


def new_body(kind: str, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "schema_version": SCHEMA_VERSION, **fields}


class Adoption(Document):
    """The record ``pedata adopt`` writes; unsigned (bytes are still checked against the pin)."""

    kind = "adoption"
    signed_kind = False

    @property
    def namespace(self) -> str:
        return str(self.body["namespace"])

    @property
    def name(self) -> str:
        return str(self.body["name"])

    @property
    def sha256(self) -> str:
        return str(self.body["sha256"])

    @property
    def size(self) -> int:
        return int(self.body["size"])

    @property
    def md5(self) -> str:
        return str(self.body["md5"])

    @property
    def path(self) -> str:
        return str(self.body["path"])

    @property
    def dvcfile(self) -> str:
        return str(self.body["dvcfile"])
