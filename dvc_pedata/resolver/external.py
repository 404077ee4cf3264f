"""External pins: artifacts whose bytes still live on Hugging Face (``hf://``) or at an ``https://`` URL.

A pin (or its manifest) may carry a ``location``, as ``pedata import-bundle`` records it from a
PolicyEngine bundle manifest::

    {"type": "hf", "uri": "hf://<owner>/<repo>/<path>@<rev>", "repo_id": "<owner>/<repo>",
     "repo_type": "dataset" | "model" | null, "revision": "<rev>", "path": "<path>"}
    {"type": "https", "uri": "https://host/file.h5"}
    {"type": "dvc", "md5": "<md5>", "dvcfile": "..."}        (written by ``pedata adopt``)

The guarantees are those of a native pin: the bytes are streamed over HTTPS only (redirects are
followed only to ``https://``), hashed while they are written, and enter the sha256 cache only when
they hash to the pinned sha256. A Hugging Face token (``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN``, or
the ``huggingface-cli login`` token file) is sent to the Hugging Face endpoint only, never to the
CDN it redirects to nor to plain ``https://`` locations. When the recorded repository type does
not answer, the other one is tried, and the one that answered is remembered in
``<cache>/external/hf-repo-types.json``.

An artifact that ``pedata adopt`` copied into the registry's DVC remote has an adoption record
(``adopted/<ns>/<name>/<sha256>.json``); the resolver reads its bytes from DVC first and uses
the external location only when no DVC source has them.

Settings: ``HF_ENDPOINT`` (default ``https://huggingface.co``), ``PEDATA_CA_BUNDLE`` (else
``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, then the system store, which honours
``SSL_CERT_FILE``), ``PEDATA_HTTP_TIMEOUT`` (seconds, default 60).

No DVC import here: only :func:`fetch_pin`'s adopted branch loads :mod:`remote_fetch`.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from dvc_pedata.base import atomic
from dvc_pedata.base.progress import bar
from dvc_pedata.errors import IntegrityError, NotFoundError, PedataError
from dvc_pedata.model.documents import Adoption
from dvc_pedata.resolver import cache
from dvc_pedata.resolver.fetch import Fetched, fetch

if TYPE_CHECKING:
    from dvc_pedata.registry.source import RegistryView
    from dvc_pedata.resolver.fetch import Fetched
    from dvc_pedata.resolver.resolve import Resolution

DEFAULT_ENDPOINT = "https://huggingface.co"
REPO_TYPES = ("dataset", "model")
BLOCK = 1 << 20
_HF_RE = re.compile(r"^hf://(?:(?P<kind>datasets|models)/)?(?P<owner>[^/@]+)/(?P<repo>[^/@]+)/(?P<path>[^@]+)@(?P<rev>[^@]+)\Z")


class HTTPFetchError(PedataError):
    """An external location could not be fetched (network, TLS, HTTP status, redirect policy)."""


# -- locations -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Location:
    type: str  # hf | https | dvc
    uri: str
    repo_id: str | None = None
    repo_type: str | None = None
    revision: str | None = None
    path: str | None = None
    md5: str | None = None

    @property
    def is_remote_http(self) -> bool:
        return self.type in ("hf", "https")

    def describe(self) -> str:
        """What error messages name: repository, revision and path."""
        if self.type == "hf":
            kind = f"{self.repo_type} " if self.repo_type else ""
            return f"{self.uri} ({kind}repository {self.repo_id}, revision {self.revision}, path {self.path})"
        return self.uri

    def to_json(self) -> dict[str, Any]:
        out = {"type": self.type, "uri": self.uri, "repo_id": self.repo_id, "repo_type": self.repo_type,
               "revision": self.revision, "path": self.path, "md5": self.md5}
        return {k: v for k, v in out.items() if v is not None}


def parse_hf_uri(uri: str) -> tuple[str, str | None, str, str]:
    """``hf://[datasets/|models/]<owner>/<repo>/<path>@<rev>`` -> (repo_id, repo_type, path, rev)."""
    m = _HF_RE.match(uri)
    if not m:
        raise PedataError(f"invalid hf:// location {uri!r}: expected hf://<owner>/<repo>/<path>@<revision>")
    kind = {"datasets": "dataset", "models": "model"}.get(m.group("kind") or "")
    return f"{m.group('owner')}/{m.group('repo')}", kind, m.group("path"), m.group("rev")


def _check_path(path: str, where: str) -> str:
    parts = path.split("/")
    if path.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in path:
        raise PedataError(f"{where}: path {path!r} must be relative, without '..' or empty segments")
    return path


def location_of(obj: dict[str, Any] | None) -> Location | None:
    """A :class:`Location` from a pin's or manifest's ``location`` (None when there is none)."""
    if not obj:
        return None
    kind = obj.get("type")
    uri = str(obj.get("uri") or "")
    if kind is None:
        kind = "hf" if uri.startswith("hf://") else "https" if uri.startswith("https://") else None
    if kind == "hf":
        repo_id, rtype, path, rev = obj.get("repo_id"), obj.get("repo_type"), obj.get("path"), obj.get("revision")
        if uri and not (repo_id and path and rev):
            p_repo, p_type, p_path, p_rev = parse_hf_uri(uri)
            repo_id, rtype, path, rev = repo_id or p_repo, rtype or p_type, path or p_path, rev or p_rev
        if not (repo_id and path and rev):
            raise PedataError(f"hf location {obj!r} needs repo_id, path and revision (or an hf:// uri)")
        if rtype not in (None, *REPO_TYPES):
            raise PedataError(f"hf location {uri or repo_id}: unknown repo_type {rtype!r} (dataset or model)")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id):
            raise PedataError(f"hf location: invalid repo_id {repo_id!r} (expected <owner>/<repo>)")
        uri = uri or f"hf://{repo_id}/{path}@{rev}"
        return Location("hf", uri, repo_id, rtype, rev, _check_path(path, uri))
    if kind == "https":
        if urlsplit(uri).scheme != "https":
            raise PedataError(f"external location {uri!r} is not an https:// URL; only HTTPS is allowed")
        parts = urlsplit(uri)
        if not parts.hostname:
            raise PedataError(f"external location {uri!r} has no host")
        if parts.username is not None or parts.password is not None:
            # Pins are committed to git and shown in catalogues: a credential in the URL would leak.
            shown = uri.replace(parts.netloc, parts.netloc.rsplit("@", 1)[-1])
            raise PedataError(f"external location {shown!r} carries credentials in its URL; pins are public (use HF_TOKEN or a netrc for access)")
        return Location("https", uri)
    if kind == "dvc":
        md5 = obj.get("md5")
        if not (isinstance(md5, str) and re.fullmatch(r"[0-9a-f]{32}", md5)):
            raise PedataError(f"dvc location {obj!r} has no valid md5")
        return Location("dvc", f"dvc:{md5}", md5=md5, path=obj.get("dvcfile"))
    raise PedataError(f"unknown external location type {kind!r} in {obj!r} (hf, https or dvc)")


# -- settings ---------------------------------------------------------------------------------------
def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hf_token() -> str | None:
    """``HF_TOKEN``, ``HUGGING_FACE_HUB_TOKEN``, else the token file ``huggingface-cli login`` wrote."""
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    path = os.environ.get("HF_TOKEN_PATH")
    if not path:
        hf_home = os.environ.get("HF_HOME") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
        path = os.path.join(hf_home, "token")
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def ssl_context() -> ssl.SSLContext:
    cafile = next((os.environ[v] for v in ("PEDATA_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE") if os.environ.get(v)), None)
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise PedataError(f"cannot load the CA bundle {cafile}: {exc}") from None


def _timeout() -> float:
    try:
        return float(os.environ.get("PEDATA_HTTP_TIMEOUT") or 60)
    except ValueError:
        raise PedataError("PEDATA_HTTP_TIMEOUT must be a number of seconds") from None


def hf_url(loc: Location, repo_type: str, base: str | None = None) -> str:
    """The resolve URL: ``/{repo}/resolve/{rev}/{path}`` (models), ``/datasets/{repo}/...`` (datasets)."""
    prefix = "/datasets" if repo_type == "dataset" else ""
    assert loc.repo_id and loc.revision and loc.path
    return f"{base or endpoint()}{prefix}/{loc.repo_id}/resolve/{quote(loc.revision, safe='')}/{quote(loc.path, safe='/')}"


# -- remembered repository types ---------------------------------------------------------------------
def _types_file() -> Path:
    return cache.cache_dir() / "external" / "hf-repo-types.json"


def remembered_type(repo_id: str) -> str | None:
    try:
        data = json.loads(_types_file().read_text())
    except (OSError, ValueError):
        return None
    value = data.get(f"{endpoint()} {repo_id}") if isinstance(data, dict) else None
    return value if value in REPO_TYPES else None


def remember_type(repo_id: str, repo_type: str) -> None:
    path = _types_file()
    try:
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    key = f"{endpoint()} {repo_id}"
    if data.get(key) == repo_type:
        return
    data[key] = repo_type
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_if_changed(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())


# -- HTTP --------------------------------------------------------------------------------------------
class _InsecureRedirect(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to https; carry the token only back to the host it was meant for."""

    def __init__(self, auth_netloc: str | None, token: str | None) -> None:
        self.auth_netloc = auth_netloc
        self.token = token

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        if urlsplit(newurl).scheme != "https":
            raise _InsecureRedirect(newurl)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and self.token and urlsplit(newurl).netloc == self.auth_netloc:
            new.add_unredirected_header("Authorization", f"Bearer {self.token}")
        return new


@dataclass
class _Response:
    status: int
    headers: Any
    body: Any  # the open response (a file-like object) on success
    url: str


def _open(url: str, token: str | None) -> _Response:
    """GET ``url``; an HTTP error status comes back as a response, anything else raises."""
    if urlsplit(url).scheme != "https":
        raise HTTPFetchError(f"refusing {url}: only https:// URLs are fetched")
    netloc = urlsplit(url).netloc
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ssl_context()), _Redirects(netloc, token))
    req = urllib.request.Request(url, headers={"User-Agent": "dvc-pedata", "Accept-Encoding": "identity"})
    if token:
        req.add_unredirected_header("Authorization", f"Bearer {token}")
    try:
        resp = opener.open(req, timeout=_timeout())
    except urllib.error.HTTPError as exc:
        with exc:
            return _Response(exc.code, exc.headers, None, exc.geturl() or url)
    except _InsecureRedirect as exc:
        raise HTTPFetchError(f"refused a redirect to {exc.url}: redirects are followed only to https://") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError):
            raise HTTPFetchError(f"TLS failure talking to {netloc}: {reason} (set PEDATA_CA_BUNDLE to a CA bundle that trusts it)") from None
        raise HTTPFetchError(f"cannot connect to {netloc}: {reason}") from None
    except (TimeoutError, ssl.SSLError, OSError) as exc:
        raise HTTPFetchError(f"cannot fetch from {netloc}: {exc}") from None
    return _Response(resp.status, resp.headers, resp, resp.geturl())


def _chunks(resp: _Response, size: int | None, what: str) -> Iterator[bytes]:
    total = 0
    try:
        while True:
            try:
                chunk = resp.body.read(BLOCK)
            except (OSError, ssl.SSLError) as exc:
                raise HTTPFetchError(f"{what}: transfer failed after {total} bytes: {exc}") from None
            if not chunk:
                break
            total += len(chunk)
            if size is not None and total > size:
                raise IntegrityError(f"{what}: served more than the pinned {size} bytes; nothing was cached")
            yield chunk
    finally:
        resp.body.close()


def _status_problem(resp: _Response, token: str | None, hf: bool) -> str:
    code = resp.status
    err = (resp.headers.get("X-Error-Code") if resp.headers else None) or ""
    if hf and code in (401, 403):
        if token is None:
            return f"HTTP {code}: the repository is gated or private; set HF_TOKEN (or HUGGING_FACE_HUB_TOKEN) to a token with access"
        return f"HTTP {code}: the token in HF_TOKEN has no access to this gated or private repository"
    if code == 404:
        return f"HTTP 404 not found{' (' + err + ')' if err else ''}"
    return f"HTTP {code}{' (' + err + ')' if err else ''}"


def _not_found(resp: _Response) -> bool:
    err = (resp.headers.get("X-Error-Code") if resp.headers else None) or ""
    return resp.status == 404 or (resp.status == 401 and err == "RepoNotFound")


def _open_hf(loc: Location, token: str | None) -> tuple[_Response, str]:
    """Open the file on Hugging Face, trying the recorded (or remembered) repo type, then the other."""
    assert loc.repo_id is not None
    first = remembered_type(loc.repo_id) or loc.repo_type or "model"
    order = [first] + [t for t in REPO_TYPES if t != first]
    tried: list[str] = []
    for rtype in order:
        url = hf_url(loc, rtype)
        try:
            resp = _open(url, token)
        except HTTPFetchError as exc:
            raise HTTPFetchError(f"{loc.describe()}: {exc.message}") from None
        if 200 <= resp.status < 300:
            if rtype != remembered_type(loc.repo_id):
                remember_type(loc.repo_id, rtype)
            return resp, rtype
        tried.append(f"{rtype} {url}: {_status_problem(resp, token, True)}")
        if not _not_found(resp):
            raise HTTPFetchError(f"{loc.describe()}: {_status_problem(resp, token, True)}")
    hint = "" if token else "; if the repository is private or gated, set HF_TOKEN"
    raise NotFoundError(f"{loc.describe()}: not found as a dataset or a model repository ({'; '.join(tried)}){hint}")


def fetch_location(loc: Location, *, sha256: str, size: int | None, label: str) -> tuple[cache.Stored, str]:
    """Stream ``loc`` into the sha256 cache, verified; returns the stored object and a source label."""
    if loc.type == "hf":
        token = hf_token()
        resp, rtype = _open_hf(loc, token)
        source = f"external:hf:{rtype}"
        what = Location(loc.type, loc.uri, loc.repo_id, rtype, loc.revision, loc.path).describe()
    elif loc.type == "https":
        try:
            resp = _open(loc.uri, None)
        except HTTPFetchError as exc:
            raise HTTPFetchError(f"{loc.uri}: {exc.message}") from None
        if not 200 <= resp.status < 300:
            raise HTTPFetchError(f"{loc.uri}: {_status_problem(resp, None, False)}")
        source, what = "external:https", loc.uri
    else:
        raise PedataError(f"{loc.uri}: not an HTTP location")
    length = resp.headers.get("Content-Length")
    if size is not None and length is not None and length.isdigit() and int(length) != size:
        resp.body.close()
        raise IntegrityError(f"{what}: wrong bytes: the server offers {length} bytes, the pin says {size} bytes; nothing was cached")
    try:
        with bar(f"get {label}", size) as advance:
            stored = cache.store_stream(sha256, _chunks(resp, size, what), progress=advance, label=label)
    except cache.DigestMismatch as exc:
        raise IntegrityError(f"{what}: wrong bytes: expected sha256 {sha256}, got {exc.actual}; nothing was cached") from None
    return stored, source


# -- adoption records ------------------------------------------------------------------------------
def adoption_path(ns: str, name: str, sha256: str) -> str:
    return f"adopted/{ns}/{name}/{sha256}.json"


def adopted_md5(view: RegistryView, ns: str, name: str, sha256: str) -> str | None:
    """The DVC md5 ``pedata adopt`` recorded for these bytes, if they were adopted."""
    data = view.read(adoption_path(ns, name, sha256))
    if data is None:
        return None

    rec = Adoption.from_bytes(data, view.where(adoption_path(ns, name, sha256)))
    if rec.sha256 != sha256 or (rec.namespace, rec.name) != (ns, name):
        raise IntegrityError(f"{adoption_path(ns, name, sha256)}: describes {rec.namespace}/{rec.name} sha256 {rec.sha256}")
    return rec.md5


# -- the resolver hook -----------------------------------------------------------------------------
def fetch_pin(view: RegistryView, res: Resolution) -> Fetched:
    """Bring an external (or adopted) pin's bytes into the cache: DVC first if adopted, else HTTPS."""
    loc = location_of(res.location)
    md5 = adopted_md5(view, res.namespace, res.name, res.sha256)
    if md5 is None and loc is not None and loc.type == "dvc":
        md5 = loc.md5
    if md5 is None and loc is None:
        md5 = res.md5
    problems = ""
    if md5 is not None:
        if loc is None or not loc.is_remote_http:
            return fetch(view, uri=res.uri, sha256=res.sha256, md5=md5, size=res.size)
        try:
            return fetch(view, uri=res.uri, sha256=res.sha256, md5=md5, size=res.size)
        except PedataError as exc:  # the adopted copy is missing: its origin still serves the same bytes
            problems = f" (adopted copy unavailable: {exc.message})"
    if loc is None or not loc.is_remote_http:
        raise PedataError(f"{res.uri}: the manifest records no md5 and the pin no external location, so its bytes cannot be located")
    with cache.object_lock(res.sha256):
        cache.clean_stale_temps(res.sha256)
        hit = cache.lookup(res.sha256, res.size)
        if hit is not None:
            return Fetched(hit, "cache", False)
        try:
            stored, source = fetch_location(loc, sha256=res.sha256, size=res.size, label=res.uri)
        except PedataError as exc:
            raise type(exc)(f"{res.uri}: {exc.message}{problems}") from None
    return Fetched(stored.path, source, stored.created)
