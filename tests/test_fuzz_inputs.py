"""Bad input, fuzzed with hypothesis: URIs, names, every document type.

Every document type starts from a *valid* seed of its own (signed where the type is signed: the
channel ``next``, the certified release, the tombstone and the trust root of a real store built
with the real CLI; the registry's ``pedata.json``, its ``locks/inputs.manifest.json`` and
``locks/deps.lock.yaml`` as ``pedata lock`` wrote them), so mutations reach the type's *own*
fields instead of failing on ``kind`` first. Mutations: a value of the wrong type, huge numbers,
deep nesting, non-UTF-8 bytes, a duplicated key, a removed or an extra key; plus raw garbage and
random JSON (and, for the YAML lock, what YAML can say that JSON cannot).

In process, every input either loads or raises a :class:`PedataError` with a one-line message.
Through the real CLI (a few examples per type: each is a process), the command that reads the
document ends in exactly one ``pedata: error:`` line naming the file whenever the loader refuses
the bytes, a changed signed body or pinned manifest never passes, nothing ever ends in a
traceback, and neither the files nor ``git status`` (nor any ref) change.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from support import stores as store_helpers
from support.commands import assert_one_line_error, run, run_pedata

from dvc_pedata.errors import PedataError
from dvc_pedata.model.documents import Channel, Manifest, Release, Root, Tombstone
from dvc_pedata.model.locks import load_deps_lock, load_inputs_lock
from dvc_pedata.model.names import check_name
from dvc_pedata.model.uri import parse
from dvc_pedata.publish.locks import dump_yaml, environment_diff
from dvc_pedata.registry.config import load_config

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DOCS = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large])
CLI = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
CLI_DOC = settings(max_examples=4, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                          HealthCheck.data_too_large, HealthCheck.filter_too_much])

store_template = store_helpers.store_template  # session fixture: published, promoted, certified

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


# -- seeds ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_store(store_template, tmp_path_factory) -> tuple[Path, dict[str, str], dict[str, str]]:
    """A private copy of the store with every document type in it, all committed: the trust root,
    ``next`` (signed by the promoter), release 1.0.0 (certified, tagged), a tombstone for ``tax``
    (signed by the revoker; the release re-signed as unreproducible), and both locks.

    Returns (registry, env, paths) where ``paths`` maps a document type to its file."""
    template, template_keys = store_template
    base = tmp_path_factory.mktemp("fuzz-store")
    shutil.copytree(template.root.parent, base / "t", symlinks=True)
    for cfg in (base / "t" / "registry" / ".dvc").glob("config*"):  # the remote's path is in config.local
        cfg.write_text(cfg.read_text().replace(str(template.root.parent), str(base / "t")))
    shutil.copytree(template_keys, base / "keys")
    repo = base / "t" / "registry"
    env = {"PEDATA_KEYS_DIR": str(base / "keys"), "PEDATA_CACHE_DIR": str(base / "setup-cache")}
    res = run_pedata("lock", cwd=repo, env=env)
    assert res.ok, res
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "--allow-empty", "-m", "lock"], cwd=repo)  # publish already recorded the locks
    res = run_pedata("revoke", "pedata://us/tax@latest", "--reason", "fuzz", "--authority", "tests", "--sign", "alice",
                     cwd=repo, env=env)
    assert res.ok, res
    latest = json.loads((repo / "channels/us/latest.json").read_text())
    pins = (latest.get("signed") or latest)["artifacts"]
    paths = {
        "manifest": next((repo / "manifests/us/people").glob("*.json")).relative_to(repo).as_posix(),
        "channel": "channels/us/next.json",
        "release": "releases/us/1.0.0.json",
        "tombstone": f"tombstones/{pins['tax']['sha256']}.json",
        "root": "trust/root/1.json",
        "registry": "pedata.json",
        "inputs-lock": "locks/inputs.manifest.json",
        "deps-lock": "locks/deps.lock.yaml",
    }
    assert run(["git", "status", "--porcelain"], cwd=repo).stdout == ""
    for rel in paths.values():
        assert (repo / rel).is_file(), rel
    return repo, env, paths


@pytest.fixture(scope="module")
def seeds(fuzz_store) -> dict[str, bytes]:
    repo, _, paths = fuzz_store
    out = {kind: (repo / rel).read_bytes() for kind, rel in paths.items()}
    # A short environment lock keeps in-process YAML parsing fast (same fields, fewer packages).
    deps = load_deps_lock(out["deps-lock"])
    out["deps-lock-short"] = dump_yaml({**deps, "packages": deps["packages"][:8]})
    return out


ENV = {"kind": "deps-lock", "schema_version": 1, "python": {"version": "3.11.7"},
       "packages": [{"name": "dvc", "version": "3.0", "hash": "sha256:00", "hash_origin": "record"}]}

# type -> the loader every reader of that file goes through (plus what readers then do with it)
LOADERS = {
    "manifest": lambda raw: Manifest.from_bytes(raw, "fuzz.json"),
    "channel": lambda raw: Channel.from_bytes(raw, "fuzz.json"),
    "release": lambda raw: Release.from_bytes(raw, "fuzz.json"),
    "tombstone": lambda raw: Tombstone.from_bytes(raw, "fuzz.json"),
    "root": lambda raw: Root.from_bytes(raw, "fuzz.json"),
    "registry": lambda raw: load_config(raw, "pedata.json"),
    "inputs-lock": lambda raw: {i["path"]: (i["sha256"], i["size"], i.get("md5")) for i in load_inputs_lock(raw)["inputs"]},
    "deps-lock": lambda raw: environment_diff(load_deps_lock(raw), ENV),
}
SIGNED = {"channel", "release", "tombstone", "root"}


def _loads(kind: str, raw: bytes) -> bool:
    """True if the loader accepts ``raw``; a refusal must be a one-line PedataError."""
    try:
        LOADERS[kind](raw)
    except PedataError as exc:
        assert "\n" not in str(exc) and str(exc), repr(exc)
        return False
    return True


def _parse_seed(kind: str, data: bytes) -> dict:
    return load_deps_lock(data) if kind == "deps-lock" else json.loads(data)


# -- mutations --------------------------------------------------------------------------------------
# Placeholders put into the document, then turned into what json.dumps cannot write.
DEEP, NOT_UTF8, DUP = "\x00deep:{}\x00", "\x00not-utf8\x00", "\x00dup\x00"


def _render(doc: object) -> bytes:
    text = json.dumps(doc, indent=2, ensure_ascii=True)
    text = re.sub(r'"\\u0000deep:(\d+)\\u0000"', lambda m: "[" * int(m.group(1)) + "]" * int(m.group(1)), text)
    text = text.replace("\\u0000dup\\u0000", "")  # "key<DUP>" becomes a second "key"
    return text.encode().replace(b'"\\u0000not-utf8\\u0000"', b'"\xff\xfe\xc3\x28 not utf-8"')


def _paths(obj: object, prefix: tuple = ()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:3]):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


bad_values = st.one_of(
    json_values,
    st.sampled_from([2**53, -(2**63), 10**400, -1, 0, 1.5, 1e308, "", [], {}, True, None, "x" * 5000,
                     "../../etc/passwd", "A" * 64, "\u202e\ud7ff\ufeff"]),
    st.integers(65, 3000).map(DEEP.format),
    st.just(NOT_UTF8),
)


def _mutated(seed: dict, own: list[tuple]) -> st.SearchStrategy[bytes]:
    """The seed with one of its own fields replaced, removed, duplicated, or joined by a stranger."""

    def apply(path: tuple, op: str, value: object) -> bytes:
        doc = json.loads(json.dumps(seed))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        if op == "replace":
            parent[key] = value
        elif op == "remove":
            del parent[key]
        elif op == "duplicate" and isinstance(parent, dict):
            parent[f"{key}{DUP}"] = value
        elif isinstance(parent, dict):  # an unknown extra field
            parent[f"x-{key}"] = value
        else:
            parent.append(value)
        return _render(doc)

    return st.builds(apply, st.sampled_from(own), st.sampled_from(["replace", "replace", "remove", "duplicate", "extra"]),
                     bad_values)


def _raw_variants(data: bytes) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=200),
        st.just(b"[" * 100_000 + b"]" * 100_000),
        st.just(b"\xff\xfe" + data),
        st.just(data[: len(data) // 2]),
        st.builds(lambda n: re.sub(rb"\d+", lambda m: m.group(0) + b"0" * n, data, count=1), st.integers(1, 400)),
        st.just(b'{"a": NaN}'), st.just(b'{"a": Infinity}'), st.just(b'{"a": 1e999}'),
        st.builds(lambda d: ("[" * d + "]" * d).encode(), st.integers(60, 2000)),
        json_values.map(lambda v: json.dumps(v).encode()),
    )


YAML_VARIANTS = [  # what YAML can say that JSON cannot, in an otherwise plausible lock
    b"kind: deps-lock\nkind: deps-lock\nschema_version: 1\npython: {version: '3.11'}\npackages: []\n",
    b"kind: deps-lock\nschema_version: 1\npython: &p {version: '3.11'}\npackages: [*p, *p]\n",
    b"kind: deps-lock\nschema_version: 1\npython: {version: 2024-13-45}\npackages: []\n",
    b"kind: deps-lock\nschema_version: 1\npython: {version: 2024-01-02}\npackages: []\n",
    b"kind: deps-lock\nschema_version: 1\npython: {version: !!binary aGVsbG8=}\npackages: []\n",
    b"kind: deps-lock\nschema_version: 1\npython: {version: '3.11'}\npackages: !!set {a, b}\n",
    b"kind: deps-lock\nschema_version: 1\npython: {version: !!python/object:os.system 'true'}\npackages: []\n",
    b"kind: deps-lock\nschema_version: 1\n? [a, b]\n: c\npython: {version: '3.11'}\npackages: []\n",
    b"kind: deps-lock\nschema_version: 1\npython: {version: .nan}\npackages: []\n",
    b"a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nkind: deps-lock\nschema_version: 1\npython: *c\npackages: *c\n",
    b"kind: deps-lock\n\tschema_version: 1\n",
    b"kind: deps-lock\nschema_version: 1\npython: {version: '3.11'}\npackages:\n" + b"- " * 3000 + b"x\n",
]


def _variants(kind: str, seed_bytes: bytes) -> st.SearchStrategy[bytes]:
    seed = _parse_seed(kind, seed_bytes)
    paths = list(_paths(seed))
    # Own fields: for signed types what is under "signed" (and the signatures); "kind" is left alone
    # so the type's own checks are the ones that must catch the mutation.
    own = [p for p in paths if p[-1] != "kind" and (kind not in SIGNED or p[0] in ("signed", "signatures"))]
    out = [_mutated(seed, own), _mutated(seed, own), _raw_variants(seed_bytes)]
    if kind == "deps-lock":
        out += [st.sampled_from(YAML_VARIANTS), _mutated(seed, own).map(_as_yaml)]
    return st.one_of(*out)


def _as_yaml(raw: bytes) -> bytes:
    """The same mutation in block YAML, when JSON can carry it there (else the JSON itself, which
    is YAML too)."""
    try:
        return dump_yaml(json.loads(raw))
    except (ValueError, RecursionError):
        return raw


def _same_as(raw: bytes, seed: object, part: str | None = None) -> bool:
    """Whether ``raw`` parses to the seed's content (or the same ``part`` of it)."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return False
    if part is None:
        return doc == seed
    return isinstance(doc, dict) and doc.get(part) == seed[part]


def test_every_seed_is_valid_and_signed_where_it_must_be(seeds):
    for kind in LOADERS:
        assert _loads(kind, seeds[kind]), kind
    for kind in SIGNED:
        assert json.loads(seeds[kind])["signatures"], kind


@pytest.mark.parametrize("kind", list(LOADERS))
def test_documents_refuse_garbage_with_a_pedata_error(seeds, kind):
    seed = seeds["deps-lock-short" if kind == "deps-lock" else kind]

    @settings(DOCS, max_examples=30 if kind == "deps-lock" else DOCS.max_examples)  # YAML parsing is pure Python
    @given(raw=_variants(kind, seed))
    def check(raw):
        _loads(kind, raw)

    check()


# -- through the CLI --------------------------------------------------------------------------------
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


# type -> the command that reads that file. A garbage document is met before any byte is fetched.
READERS = {
    "manifest": ["get", "pedata://us/people@latest"],
    "channel": ["get", "pedata://us/people@next"],
    "release": ["get", "pedata://us/people@v1.0.0"],
    "tombstone": ["get", "pedata://us/tax@latest"],
    "root": ["get", "pedata://us/people@next"],
    "registry": ["get", "pedata://us/people@latest"],
    "inputs-lock": ["lineage"],
    "deps-lock": ["replay", "us@1.0.0"],  # read at the release's commit (see _place)
}


def _git_state(repo: Path) -> tuple[str, str]:
    return (run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=repo).stdout,
            run(["git", "for-each-ref", "--format=%(refname) %(objectname)"], cwd=repo).stdout)


def _place(repo: Path, rel: str, raw: bytes, kind: str, seeds: dict[str, bytes]) -> Callable[[], object]:
    """Put ``raw`` where the reader finds it; return how to undo that."""
    if kind != "deps-lock":
        old = (repo / rel).read_bytes()
        (repo / rel).write_bytes(raw)
        return lambda: (repo / rel).write_bytes(old)
    # replay reads the locks at the release's tagged commit: a commit like it holding the inputs
    # lock and ``raw`` as the environment lock (git plumbing: the work tree is not touched), in the
    # release tag's place.
    tag = "refs/tags/us/v1.0.0"
    old_tag = run(["git", "rev-parse", tag], cwd=repo).stdout.strip()
    commit = run(["git", "rev-parse", f"{tag}^{{commit}}"], cwd=repo).stdout.strip()
    genv = {"GIT_INDEX_FILE": str(repo.parent / "fuzz.index")}
    run(["git", "read-tree", commit], cwd=repo, env=genv)
    for path, data in ((rel, raw), ("locks/inputs.manifest.json", seeds["inputs-lock"])):
        blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=data, capture_output=True,
                              check=True).stdout.decode().strip()
        run(["git", "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}"], cwd=repo, env=genv)
    tree = run(["git", "write-tree"], cwd=repo, env=genv).stdout.strip()
    new = run(["git", "commit-tree", tree, "-p", commit, "-m", "fuzzed environment lock"], cwd=repo).stdout.strip()
    run(["git", "update-ref", tag, new], cwd=repo)
    return lambda: run(["git", "update-ref", tag, old_tag], cwd=repo)


@pytest.mark.parametrize("kind", list(READERS))
def test_cli_reading_a_fuzzed_document_is_one_line_and_writes_nothing(fuzz_store, seeds, tmp_path_factory, kind):
    repo, env, paths = fuzz_store
    rel = paths[kind]

    @CLI_DOC
    @given(raw=_variants(kind, seeds[kind]))
    def check(raw):
        refused = not _loads(kind, raw)
        if kind in ("deps-lock", "inputs-lock", "registry"):
            assume(refused)  # a valid variant of these is a legitimate setting, not a fault
        seed = _parse_seed(kind, seeds[kind])
        # A signed body or a pinned manifest that changed in any way must never pass.
        must_fail = refused or (kind in SIGNED and not _same_as(raw, seed, "signed")) or (
            kind == "manifest" and not _same_as(raw, seed))
        undo = _place(repo, rel, raw, kind, seeds)
        try:
            before, git_before = _snapshot(repo), _git_state(repo)
            cache = tmp_path_factory.mktemp("fuzz-cache")
            res = run_pedata(*READERS[kind], cwd=repo, env={**env, "PEDATA_CACHE_DIR": str(cache)})
            assert "Traceback" not in res.stderr, res.stderr
            if must_fail:
                assert_one_line_error(res, *([rel] if refused else []))
            elif not res.ok:
                assert_one_line_error(res)
            assert _snapshot(repo) == before and _git_state(repo) == git_before
        finally:
            undo()

    check()
