"""One dataset entry of a PolicyEngine bundle manifest -> a checked external location.

An entry names its bytes by Hugging Face repository fields (``repo_id``, ``revision``, ``path``
and optionally ``repo_type``), by a ``uri`` (``hf://[datasets/|models/]<owner>/<repo>/<path>@<rev>``
or a plain ``https://`` URL), or by both, which must then agree. The location is checked by
:func:`dvc_pedata.external.location_of` (a relative path without ``..``, a valid repository id,
a known repository type, HTTPS only, a host) before ``pedata import-bundle`` writes anything.

Messages here do not name the dataset: the caller prefixes ``<bundle>: dataset '<name>': ``.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from dvc_pedata.errors import DocumentError
from dvc_pedata.resolver.external import location_of, parse_hf_uri

HF_FIELDS = ("repo_id", "revision", "path")


def _text(entry: dict[str, Any], key: str) -> str | None:
    """The entry's ``key`` as a non-empty string, or None when it is absent (or null)."""
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise DocumentError(f"{key} must be a non-empty string, not {value!r}")
    return value


def _hf(repo_id: str, repo_type: str, revision: str, path: str) -> dict[str, Any]:
    prefix = "datasets/" if repo_type == "dataset" else ""
    return {"type": "hf", "uri": f"hf://{prefix}{repo_id}/{path}@{revision}", "repo_id": repo_id,
            "repo_type": repo_type, "revision": revision, "path": path}


def _from_hf_uri(uri: str, entry: dict[str, Any], default_repo_type: str | None) -> dict[str, Any]:
    repo_id, kind, path, revision = parse_hf_uri(uri)
    for key, value in (("repo_id", repo_id), ("revision", revision), ("path", path)):
        stated = _text(entry, key)
        if stated is not None and stated != value:
            raise DocumentError(f"{key} {stated!r} and uri {uri} disagree (the uri says {value!r})")
    stated_type = _text(entry, "repo_type")
    if kind is not None and stated_type is not None and stated_type != kind:
        raise DocumentError(f"repo_type {stated_type!r} and uri {uri} disagree (the uri names a {kind} repository)")
    return _hf(repo_id, kind or stated_type or default_repo_type or "model", revision, path)


def _from_https(uri: str, entry: dict[str, Any]) -> dict[str, Any]:
    for key in ("repo_id", "revision", "repo_type"):
        if entry.get(key) is not None:
            raise DocumentError(f"uri {uri} is not a Hugging Face location, but the entry also states {key} {entry[key]!r}")
    path = _text(entry, "path")
    url_path = unquote(urlsplit(uri).path)
    if path is not None and url_path != path and not url_path.endswith("/" + path):
        raise DocumentError(f"path {path!r} and uri {uri} disagree (the uri's path is {url_path!r})")
    return {"type": "https", "uri": uri}


def _from_fields(entry: dict[str, Any], default_repo_type: str | None) -> dict[str, Any]:
    values: dict[str, str] = {}
    for key in HF_FIELDS:
        value = _text(entry, key)
        if value is None:
            raise DocumentError(f"entry lacks {key!r} (and has no uri)")
        values[key] = value
    repo_type = _text(entry, "repo_type") or default_repo_type or "model"
    return _hf(values["repo_id"], repo_type, values["revision"], values["path"])


def entry_location(entry: Any, default_repo_type: str | None) -> tuple[dict[str, Any], str]:
    """(location as pins record it, the manifest's ``path``) for one bundle dataset entry.

    ``default_repo_type`` is ``data_package.repo_type``: the repository type of entries (and
    ``hf://`` URIs without a ``datasets/``/``models/`` prefix) that do not state one.
    """
    if not isinstance(entry, dict):
        raise DocumentError(f"entry is not an object: {entry!r}")
    uri = _text(entry, "uri")
    if uri is None:
        loc = _from_fields(entry, default_repo_type)
    elif uri.startswith("hf://"):
        loc = _from_hf_uri(uri, entry, default_repo_type)
    elif urlsplit(uri).scheme.lower() in ("https", "http"):
        loc = _from_https(uri, entry)  # plain http is refused by location_of below
    else:
        raise DocumentError(f"uri {uri!r} must be hf:// or https://")
    checked = location_of(loc)
    assert checked is not None
    if checked.type == "hf":
        assert checked.path is not None
        return loc, checked.path
    name = PurePosixPath(unquote(urlsplit(uri or "").path)).name
    return loc, _text(entry, "path") or name or (urlsplit(uri or "").hostname or "download")
