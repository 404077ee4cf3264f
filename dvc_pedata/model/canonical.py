"""RFC 8785 canonical JSON, document digests, and strict JSON parsing.

Signatures and digests are computed over canonical bytes, never over the pretty-printed file, so
reformatting a document does not change its identity, while any change to its content does.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import re
from typing import Any

import rfc8785

from dvc_pedata.errors import DocumentError

_SCALARS = (str, bool, type(None))
_MAX_DEPTH = 64
_EXACT = 2**53 - 1


def _plain(obj: Any) -> bool:
    """True if ``json.dumps(sort_keys=True)`` already produces RFC 8785 bytes for ``obj``.

    That holds without floats (JCS formats numbers the ECMAScript way) and with keys below
    U+D800 (JCS sorts keys by UTF-16 code units, Python by code points; they only disagree
    beyond the BMP). String escaping is identical: JCS and ``json`` both escape only ``"``, ``\\``
    and control characters, with lowercase ``\\u00xx``. Iterative and by exact type: ``verify``
    canonicalises every channel version, and a recursive call per scalar was most of its time.
    """
    stack = [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        t = type(node)
        if t is not dict and t is not list and isinstance(node, dict) and _plain_mapping(t):
            t = dict  # a typed view such as documents.Pin: the same items, read the same way
        if t is dict or t is list:
            if depth > _MAX_DEPTH:
                return False
            if t is dict:
                for key in node:
                    if type(key) is not str or (key and max(key) >= "\ud800"):
                        return False
                values = node.values()
            else:
                values = node
            for value in values:
                tv = type(value)
                if tv in _SCALARS:
                    continue
                if tv is int:
                    if -_EXACT <= value <= _EXACT:
                        continue
                    return False
                stack.append((value, depth + 1))
        elif t is int:
            if not -_EXACT <= node <= _EXACT:
                return False
        elif t not in _SCALARS:
            return False  # floats, int subclasses: anything json.dumps would spell its own way
    return True


def exact_int(value: Any) -> bool:
    """An int (not a bool) in the range RFC 8785 writes exactly: what the fast paths accept."""
    return type(value) is int and -_EXACT <= value <= _EXACT


_MAPPING_METHODS = ("items", "keys", "values", "__iter__", "__getitem__", "__len__")


_PLAIN_MAPPINGS: dict[type, bool] = {}


def _plain_mapping(t: type) -> bool:
    """A dict subclass that reads like a dict: json and ``rfc8785`` both walk its items, and it
    overrides none of the methods they read it through (``documents.Pin`` adds properties only;
    a release of 100 pins took ``rfc8785``'s pure-Python path for want of this)."""
    known = _PLAIN_MAPPINGS.get(t)
    if known is None:
        known = _PLAIN_MAPPINGS[t] = all(getattr(t, m) is getattr(dict, m) for m in _MAPPING_METHODS)
    return known


def canonical_bytes(obj: Any) -> bytes:
    """The RFC 8785 (JCS) serialisation of ``obj``.

    Float-free documents (channels, releases, roots, most manifests) take a C-speed path that
    is byte-identical to the reference implementation (a hypothesis property checks this);
    everything else goes through ``rfc8785``.
    """
    if _plain(obj):
        try:
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
        except UnicodeEncodeError as exc:
            raise DocumentError(f"cannot canonicalise document: {exc.reason}") from exc
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise DocumentError(f"cannot canonicalise document: {exc}") from exc


def digest(obj: Any) -> str:
    """sha256 (hex) of the canonical JSON of ``obj``: the identity of a document."""
    return hashlib.sha256(canonical_bytes(obj)).hexdigest()


def pretty_bytes(obj: Any) -> bytes:
    """The on-disk form: sorted keys, two-space indent, UTF-8, trailing newline.

    Deterministic, so a rebuilt manifest is byte-identical and a pull request diff is readable.
    Exactly ``json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)``
    (a hypothesis property checks it), written container by container: with ``indent`` the
    standard library builds a list of every token first, 40 MB for the 50,000-entry listing of a
    folder, held while ``dvc push`` runs beside it.
    """
    if not _has_long_container(obj):  # every document but a folder's listing or inputs lock: json.dumps itself
        return (_dumps(obj) + "\n").encode("utf-8")
    buf = io.StringIO()
    _write_pretty(buf, obj, "\n")
    buf.write("\n")
    return buf.getvalue().encode("utf-8")


_LONG = 256  # a container with more items than this is written item by item


def _has_long_container(obj: Any) -> bool:
    stack = [obj]
    while stack:
        node = stack.pop()
        t = type(node)
        if t is dict or t is list or t is tuple:
            if len(node) > _LONG:
                return True
            stack.extend(v for v in (node.values() if t is dict else node) if type(v) in _NESTING)
    return False


_NESTING = (dict, list, tuple)  # what pretty_bytes writes container by container
_NESTING_SET = frozenset(_NESTING)
_STR = frozenset({str})


def _dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)


@functools.lru_cache(maxsize=64)
def _flat_encoder(inner: str) -> json.JSONEncoder:
    """json.dumps's own C encoder, its items separated by a line break at the indent ``inner``."""
    return json.JSONEncoder(sort_keys=True, ensure_ascii=False, allow_nan=False, separators=("," + inner, ": "))


def _write_pretty(buf: io.StringIO, obj: Any, newline: str) -> None:
    """Write ``obj`` pretty at the indent ``newline`` carries (a newline, then the spaces)."""
    t = type(obj)
    # the type checks in C (map over type, set tests): a 50,000-entry inputs lock asks them per entry
    if obj and (t is dict and _flat_dict(obj) or (t is list or t is tuple) and _NESTING_SET.isdisjoint(map(type, obj))):
        # flat (most entries of a listing): with ``indent`` json.dumps takes its pure-Python
        # encoder; the C encoder takes any item separator, and a flat container's pretty form is
        # its items joined by ",<newline>" between an opening and a closing line
        inner = newline + "  "
        body = _flat_encoder(inner).encode(obj)
        buf.write(body[0] + inner + body[1:-1] + newline + body[-1])
    elif t is dict and obj and _STR.issuperset(map(type, obj)):
        inner = newline + "  "
        sep = "{" + inner
        for key in sorted(obj):
            buf.write(sep + json.dumps(key, ensure_ascii=False) + ": ")
            _write_pretty(buf, obj[key], inner)
            sep = "," + inner
        buf.write(newline + "}")
    elif (t is list or t is tuple) and obj and all(type(v) is dict and v and _flat_dict(v) for v in obj):
        buf.write(_flat_dicts(obj, newline))
    elif (t is list or t is tuple) and obj:
        inner = newline + "  "
        sep = "[" + inner
        for value in obj:
            buf.write(sep)
            _write_pretty(buf, value, inner)
            sep = "," + inner
        buf.write(newline + "]")
    else:
        # a leaf, an empty container, a dict with keys json.dumps converts: one call, re-indented
        # (JSON text has no raw newline inside a string, so every newline is a line break)
        buf.write(_dumps(obj).replace("\n", newline))


def _flat_dict(d: dict[str, Any]) -> bool:
    """String keys only and no container among the values."""
    return _STR.issuperset(map(type, d)) and _NESTING_SET.isdisjoint(map(type, d.values()))


def _flat_dicts(items: list[Any] | tuple[Any, ...], newline: str) -> str:
    """The pretty form of a list of non-empty flat dicts (an inputs lock's entries) in one C
    encoder call: a raw control character cannot occur inside JSON text (json escapes them), so
    with ``,\x00`` as the item separator every ``\x00`` is a separator, and ``},\x00{`` (a
    flat dict's value never ends in ``}``) exactly the ones between the list's items."""
    n1 = newline + "  "
    n2 = n1 + "  "
    text = _flat_encoder("\x00").encode(items)  # [{"a": 1,\x00"b": 2},\x00{...}]
    body = text[2:-2].replace("},\x00{", "\x01").replace(",\x00", "," + n2).replace("\x01", n1 + "}," + n1 + "{" + n2)
    return "[" + n1 + "{" + n2 + body + n1 + "}" + newline + "]"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # C speed; only a short dict needs the slow look for which key repeats
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DocumentError(f"duplicate key {key!r}")
            seen.add(key)
    return out


def _no_constant(name: str) -> Any:
    raise DocumentError(f"non-standard JSON constant {name}")


def loads_strict(data: bytes | str, *, source: str = "document") -> Any:
    """Parse JSON, refusing what could make two readers disagree.

    Duplicate keys, NaN/Infinity, invalid UTF-8 and integers beyond I-JSON's exact range
    (|n| > 2**53 - 1) are rejected, because canonicalisation could not represent them identically.
    """
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"{source}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    else:
        text = data
    try:
        obj = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant,
                         parse_int=_exact_int, parse_float=_finite_float)
    except DocumentError as exc:
        raise DocumentError(f"{source}: {exc}") from exc
    except RecursionError as exc:
        raise DocumentError(f"{source}: JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise DocumentError(f"{source}: invalid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    if not _shallow(obj):
        raise DocumentError(f"{source}: JSON nested too deeply (more than {_MAX_DEPTH} levels)")
    # A ``\ud800`` escape parses to a lone surrogate, which is not Unicode text: it could never be
    # encoded as UTF-8, so canonicalising or digesting the document would crash. Only a text that
    # holds such an escape is walked (one C-level substring test otherwise).
    if "\\u" in text and _SURROGATE_ESCAPE_RE.search(text) and _has_lone_surrogate(obj):
        raise DocumentError(f"{source}: a string holds an unpaired surrogate escape (\\ud800-\\udfff), which is not Unicode text")
    return obj


_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _has_lone_surrogate(obj: Any) -> bool:
    stack = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


def _exact_int(text: str) -> int:
    """Numbers are checked as the parser meets them: no second walk over every value."""
    if len(text) > 17:  # beyond 2**53 whatever it says (and int() refuses past 4,300 digits)
        raise DocumentError(f"integer {text[:20]}{'…' if len(text) > 20 else ''} is outside the exact JSON range")
    value = int(text)
    if not -_EXACT <= value <= _EXACT:
        raise DocumentError(f"integer {value} is outside the exact JSON range")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        raise DocumentError("non-finite number")
    return value


_INF = float("inf")


_CONTAINERS = frozenset((dict, list))


def _shallow(obj: Any) -> bool:
    """At most ``_MAX_DEPTH`` levels (containers are walked; a container of scalars costs one
    C-level ``set(map(type, ...))``)."""
    stack = [(obj, 0)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if type(node) is dict else node if type(node) is list else ()
        if not children:
            continue
        if depth >= _MAX_DEPTH:
            return False  # its members would sit at level _MAX_DEPTH + 1
        if _CONTAINERS.isdisjoint(set(map(type, children))):
            continue
        for value in children:
            if type(value) in _CONTAINERS:
                stack.append((value, depth + 1))
    return True
