"""The ``pedata://<ns>/<name>@<ref>[;path=<file>]`` URI: a strict parser with one-line errors.

``ref`` is ``sha256:<64 hex>`` (content), ``v<semver>`` (a release), or a channel name
(``latest``, ``next``, ...). ``pe-data://`` is accepted as an alias. The optional ``path``
qualifier (in the spirit of SWHIDs) names one file inside a directory artifact.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Literal

from dvc_pedata.errors import InvalidNameError, UsageError
from dvc_pedata.model.names import NAME_PATTERN, check_name, check_namespace
from dvc_pedata.model.semver import SEMVER_RE, check_semver

SCHEMES = ("pedata", "pe-data")
_URI_RE = re.compile(r"^(?P<scheme>[a-z-]+)://(?P<ns>[^/@;]*)/(?P<name>[^/@;]*)(?:@(?P<ref>[^;]*))?(?P<quals>(?:;[^;]*)*)\Z")

RefKind = Literal["sha256", "release", "channel"]


class URIError(InvalidNameError):
    """A malformed pedata URI."""


@dataclass(frozen=True)
class PedataURI:
    namespace: str
    name: str
    ref_kind: RefKind
    ref: str  # the sha256 hex, the semver (without 'v'), or the channel name
    path: str | None = None

    def __str__(self) -> str:
        ref = {"sha256": f"sha256:{self.ref}", "release": f"v{self.ref}", "channel": self.ref}[self.ref_kind]
        text = f"pedata://{self.namespace}/{self.name}@{ref}"
        return text + (f";path={self.path}" if self.path else "")


# Segments of ASCII letters, digits, ``_``, ``-`` and ``.`` that do not start with a dot: every
# rule below holds for them (no empty, ``.`` or ``..`` segment, nothing normpath changes, no
# reserved name, which all start with a dot). A folder's 50,000 paths are checked once each.
_PLAIN_INNER = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")


def check_inner_path(path: str) -> str:
    """A relative posix path inside a directory artifact: no '..', no absolute path, no backslash."""
    if type(path) is str and _PLAIN_INNER.fullmatch(path):
        return path
    return _check_inner_path_rules(path)


def _check_inner_path_rules(path: str) -> str:
    if not path or path.startswith("/") or "\\" in path or "\x00" in path:
        raise URIError(f"invalid path qualifier {path!r}: must be a relative path inside the artifact")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts) or posixpath.normpath(path) != path:
        raise URIError(f"invalid path qualifier {path!r}: '..', '.' and empty segments are not allowed")
    for p in parts:
        # Written into a consumer's folder (``get -o . --force``), ``.git/config`` would run code
        # on the next ``git status`` (core.fsmonitor). Case-insensitive file systems (macOS,
        # Windows) and Windows' dropping of trailing dots and spaces make ``.GIT`` and ``.git.``
        # the same folder, so they are compared folded.
        if p.rstrip(". ").casefold() in RESERVED_COMPONENTS:
            raise URIError(f"invalid path qualifier {path!r}: a {p!r} component is not allowed"
                           " (.git, .dvc and .pedata, in any case, hold repository machinery)")
    return path


RESERVED_COMPONENTS = frozenset({".git", ".dvc", ".pedata"})


def parse(text: str, *, default_ref: str | None = None) -> PedataURI:
    """Parse a pedata URI; ``default_ref`` (e.g. ``latest``) is used when ``@ref`` is missing."""
    if not isinstance(text, str):
        raise URIError("a pedata URI must be a string")
    m = _URI_RE.match(text.strip())
    if not m:
        raise URIError(f"invalid pedata URI {text!r}: expected pedata://<namespace>/<name>@<ref>")
    scheme = m.group("scheme")
    if scheme not in SCHEMES:
        raise URIError(f"invalid pedata URI {text!r}: unknown scheme {scheme!r} (use pedata://)")
    ns = check_namespace(m.group("ns"))
    name = check_name(m.group("name"), "artifact name")
    ref = m.group("ref")
    if ref is None:
        if default_ref is None:
            raise URIError(f"invalid pedata URI {text!r}: missing @<ref> (sha256:<hex>, v<semver> or a channel)")
        ref = default_ref
    path = None
    for qual in filter(None, (m.group("quals") or "").split(";")):
        key, sep, value = qual.partition("=")
        if key != "path" or not sep:
            raise URIError(f"invalid pedata URI {text!r}: unknown qualifier {qual!r} (only ;path= is known)")
        if path is not None:
            raise URIError(f"invalid pedata URI {text!r}: path qualifier given twice")
        path = check_inner_path(value)
    if ref.startswith("sha256:"):
        hexd = ref[len("sha256:"):]
        if not re.fullmatch(r"[0-9a-f]{12,64}", hexd):  # a prefix is expanded against the registry (shaprefix.py)
            raise URIError(f"invalid pedata URI {text!r}: sha256 must be 64 lowercase hex digits (or a unique prefix of at least 12)")
        return PedataURI(ns, name, "sha256", hexd, path)
    if re.fullmatch(r"v\d.*", ref):
        if not SEMVER_RE.match(ref[1:]):
            raise URIError(f"invalid pedata URI {text!r}: {ref!r} is not v<semver> (e.g. v1.3.0)")
        return PedataURI(ns, name, "release", ref[1:], path)
    if not re.fullmatch(NAME_PATTERN, ref) or ".." in ref:
        raise URIError(f"invalid pedata URI {text!r}: bad ref {ref!r}")
    return PedataURI(ns, name, "channel", ref, path)


def is_uri(text: str) -> bool:
    return isinstance(text, str) and any(text.startswith(s + "://") for s in SCHEMES)




# -- release references ------------------------------------------------------------------------
# One grammar for "a release" on every command line: ``NS@VERSION``, ``NS@vVERSION``, or the
# release's git tag ``NS/vVERSION`` (``NS/VERSION`` is read the same way). ``pedata://`` URIs
# with a ``@vX.Y.Z`` ref name a release *and* an artifact; :func:`parse` handles those.
_RELEASE_REF_RE = re.compile(rf"({NAME_PATTERN})(?:@|/)v?(.+)")
RELEASE_REF_HELP = "NS@VERSION such as us@1.2.0 (or the release's tag, us/v1.2.0)"


def parse_release_ref(ref: str) -> tuple[str, str]:
    """``us@1.2.0`` / ``us@v1.2.0`` / ``us/v1.2.0`` -> ``("us", "1.2.0")``, or a one-line error."""
    m = _RELEASE_REF_RE.fullmatch(ref) if isinstance(ref, str) else None
    if not m:
        raise UsageError(f"bad reference {ref!r}: expected {RELEASE_REF_HELP}")
    return check_namespace(m.group(1)), check_semver(m.group(2))


def tag_name(ns: str, version: str) -> str:
    """The citation tag of a release: ``<ns>/v<version>``."""
    return f"{ns}/v{check_semver(version)}"


def gto_tag_name(ns: str, version: str) -> str:
    """The GTO-readable tag: ``<ns>@v<version>`` (GTO's ``<artifact>@v<semver>`` convention)."""
    return f"{ns}@v{check_semver(version)}"
