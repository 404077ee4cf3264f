"""Bad input, fuzzed with hypothesis: URIs, names, every document type.

In process, every input either parses or raises a :class:`PedataError` (which the CLI prints as
one line); through the real CLI, a bounded number of examples end in exactly one
``pedata: error:`` line, never a traceback, and nothing in the registry changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import assert_one_line_error, run, run_pedata
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dvc_pedata.documents import Channel, Manifest, Release, Root, Tombstone
from dvc_pedata.errors import PedataError
from dvc_pedata.names import check_name
from dvc_pedata.uri import parse

KINDS = [Manifest, Channel, Release, Tombstone, Root]
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLI = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                           max_leaves=20)

uri_like = st.one_of(
    st.text(max_size=80),
    st.builds(lambda s, ns, n, r: f"{s}://{ns}/{n}@{r}", st.sampled_from(["pedata", "pe-data", "PEDATA", "http", ""]),
              st.text(max_size=12), st.text(max_size=12), st.text(max_size=70)),
    st.builds(lambda ns, n, h: f"pedata://{ns}/{n}@sha256:{h}", st.from_regex(r"[a-z0-9._/-]{0,12}", fullmatch=True),
              st.from_regex(r"[a-zA-Z0-9._%/-]{0,12}", fullmatch=True), st.from_regex(r"[0-9a-fA-F]{0,66}", fullmatch=True)),
)


@FAST
@given(uri_like)
def test_uri_parse_never_raises_anything_but_a_pedata_error(text):
    try:
        uri = parse(text)
    except PedataError as exc:
        assert "\n" not in str(exc)
        return
    assert check_name(uri.namespace) == uri.namespace and check_name(uri.name) == uri.name
    assert ".." not in str(uri) and parse(str(uri)) == uri


@FAST
@given(st.one_of(st.text(max_size=70), st.from_regex(r"[a-z0-9._-]{0,70}", fullmatch=True)))
def test_names_are_checked_without_surprises(text):
    try:
        name = check_name(text)
    except PedataError as exc:
        assert "\n" not in str(exc)
        return
    assert name == text and name == name.lower() and "/" not in name and name not in (".", "..")


def _mutations(valid: dict) -> st.SearchStrategy:
    """Valid documents with one value replaced by something of the wrong type or size."""
    def paths(obj, prefix=()):
        yield prefix
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield from paths(v, (*prefix, k))
    all_paths = [p for p in paths(valid) if p]
    bad = st.one_of(json_values, st.just(2**53), st.just(-(2**63)), st.just(10**400), st.just(1e308 * 10),
                    st.just("x" * 5000))

    def apply(path, value):
        doc = json.loads(json.dumps(valid))
        cur = doc
        for k in path[:-1]:
            cur = cur[k]
        cur[path[-1]] = value
        return doc
    return st.builds(apply, st.sampled_from(all_paths), bad)


def _raw_variants(data: bytes) -> st.SearchStrategy:
    return st.one_of(
        st.binary(max_size=200),
        st.just(b"[" * 100_000 + b"]" * 100_000),
        st.just(b'{"kind": "channel", "kind": "manifest"}'),
        st.just(b"\xff\xfe" + data),
        st.just(data[: len(data) // 2]),
        st.builds(lambda n: data.replace(b"1", b"1" + b"0" * n, 1), st.integers(1, 400)),
        st.just(b'{"a": NaN}'), st.just(b'{"a": Infinity}'), st.just(b'{"a": 1e999}'),
        st.builds(lambda d: ("[" * d + "]" * d).encode(), st.integers(60, 2000)),
    )


@pytest.fixture(scope="module")
def valid_docs() -> dict[str, bytes]:
    root = Path(__file__).resolve().parents[1]
    out = {"manifest": next((root / "manifests").rglob("*.json")).read_bytes(),
           "channel": (root / "channels/us/latest.json").read_bytes()}
    return out


@FAST
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_documents_refuse_garbage_with_a_pedata_error(valid_docs, data, kind):
    seed = valid_docs["manifest" if kind is Manifest else "channel"]
    raw = data.draw(st.one_of(_raw_variants(seed),
                              _mutations(json.loads(seed)).map(lambda d: json.dumps(d).encode()),
                              json_values.map(lambda v: json.dumps(v).encode())))
    try:
        kind.from_bytes(raw, "fuzz.json")
    except PedataError as exc:
        assert "\n" not in str(exc)


def _snapshot(repo: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, files in os.walk(repo):
        dirnames[:] = [d for d in dirnames if d not in (".git", "tmp")]
        for f in files:
            st_ = os.stat(os.path.join(dirpath, f))
            out[os.path.relpath(os.path.join(dirpath, f), repo)] = (st_.st_size, st_.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def small_registry(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("fuzz") / "repo"
    repo.mkdir()
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    assert run_pedata("init", "-n", "us", cwd=repo, env={"PEDATA_STORAGE_DIR": str(repo.parent / "storage")}).ok
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "init"], cwd=repo)
    return repo


@CLI
@given(raw=st.one_of(st.binary(max_size=100), st.just(b"[" * 50_000), st.just(b'{"kind": "manifest", "kind": 1}'),
                     json_values.map(lambda v: json.dumps(v).encode())))
def test_cli_schema_of_a_garbage_document_is_one_line_and_writes_nothing(small_registry, raw):
    doc = small_registry.parent / "doc.json"
    doc.write_bytes(raw)
    before = _snapshot(small_registry)
    res = run_pedata("schema", str(doc), cwd=small_registry)
    assert_one_line_error(res)
    assert _snapshot(small_registry) == before


@CLI
@given(uri_like)
def test_cli_get_of_a_bad_uri_is_one_line_and_writes_nothing(small_registry, tmp_path_factory, text):
    if text.startswith("-") or "\x00" in text:
        text = "x" + text.replace("\x00", "")
    cache = tmp_path_factory.mktemp("fuzz-cache")
    before = _snapshot(small_registry)
    res = run_pedata("get", text, cwd=small_registry, env={"PEDATA_CACHE_DIR": str(cache)})
    assert_one_line_error(res)
    assert _snapshot(small_registry) == before
    assert not (cache / "sha256").exists()
