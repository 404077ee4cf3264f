"""The rotating trust root: who may sign what, and how that changes without silent swaps.

``trust/root/<N>.json`` keeps every version. Version N+1 must carry ``version: N+1`` inside its
signed bytes and be signed by a threshold of version N's root keys *and* of its own (TUF-style
rotation), so a consumer who pinned root 1 can walk forward and nobody can roll the root back or
replace it by renaming files. Expiry is judged on the newest version only: an expired root can
still be rotated to a fresh one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dvc_pedata.base import atomic, gitio
from dvc_pedata.base.docfile import read_document
from dvc_pedata.base.timeutil import expires_in, is_expired, utcnow
from dvc_pedata.errors import DocumentError, NotFoundError, PedataError, SignatureError, UsageError
from dvc_pedata.model import layout
from dvc_pedata.model.documents import Root, new_body
from dvc_pedata.model.names import check_namespace
from dvc_pedata.registry.repo import Registry
from dvc_pedata.trust.keys import PublicKey, Signer, find_signer, load_public, load_signer, short
from dvc_pedata.trust.signing import ROLES, check_threshold, root_keys, sign, valid_keyids

DEFAULT_EXPIRES = "365d"
ROOT_DIR = layout.ROOTS


class TrustError(SignatureError):
    """A trust root that is missing, broken, expired, or a change it does not allow."""


# -- registry access ----------------------------------------------------------------------------
def open_registry(start: Path | str = ".") -> Registry:
    """The repository to keep the trust root in: a pedata registry, or any git work tree.

    Trust commands only need ``trust/root/``, so they also work before ``pedata init``.
    """
    return Registry(gitio.toplevel(Path(start)))


def _read_root_file(registry: Registry, rel: str) -> bytes:
    """A listed root file's bytes: a link or folder in its place is refused by name (docfile)."""
    data = read_document(registry.root, rel)
    if data is None:
        raise DocumentError(f"{rel}: vanished while the trust root was read; run the command again")
    return data


def _root_files(registry: Registry, rev: str | None, note: Callable[[str, bytes], None] | None = None) -> list[tuple[str, bytes]]:
    """``(relative path, bytes)`` of every ``trust/root/<N>.json``, ordered by N.

    ``note`` sees every work-tree file read (the resolver's warm-cache memo re-checks them).
    """
    if rev is None:
        out = [(rel, _read_root_file(registry, rel)) for rel in (f"{ROOT_DIR}/{n}.json" for n in registry.root_versions())]
        for rel, data in out:
            if note is not None:
                note(rel, data)
        return out
    commit = gitio.rev_parse(registry.root, rev)
    named = []
    for path in gitio.ls_tree(registry.root, commit, ROOT_DIR):
        stem = path.rsplit("/", 1)[-1].removesuffix(".json")
        if path.endswith(".json") and path.count("/") == 2 and stem.isascii() and stem.isdigit():
            named.append((int(stem), path))
    out = []
    for _, path in sorted(named):
        blob = gitio.show(registry.root, commit, path)
        if blob is not None:
            out.append((path, blob))
    return out


def load_root_docs(
    registry: Registry, rev: str | None = None, note: Callable[[str, bytes], None] | None = None
) -> list[tuple[str, Root]]:
    """Every stored root version, parsed and schema-checked, in file order (not yet trusted)."""
    return [(path, Root.from_bytes(data, path)) for path, data in _root_files(registry, rev, note)]


# -- checking -----------------------------------------------------------------------------------
def check_root_consistency(root: Root, source: str = "trust root") -> list[str]:
    """Problems inside one root: keyids that do not match keys, unknown members, impossible thresholds."""
    problems = []
    for keyid, entry in root.keys.items():
        try:
            actual = PublicKey.from_hex(entry["public"]).keyid
        except PedataError:
            problems.append(f"{source}: key {short(keyid)} has an invalid public key")
            continue
        if actual != keyid:
            problems.append(f"{source}: keyid {short(keyid)} is not the sha256 of its public key ({short(actual)})")
    distrusted = set(root.body.get("distrusted", []))
    for role in ROLES:
        spec = root.roles[role]
        for keyid in spec["keyids"]:
            if keyid not in root.keys:
                problems.append(f"{source}: role {role} lists key {short(keyid)}, which is not in keys")
            if keyid in distrusted:
                problems.append(f"{source}: role {role} lists key {short(keyid)}, which the root distrusts (compromised)")
        if spec["threshold"] > len(spec["keyids"]):
            problems.append(
                f"{source}: role {role} needs {spec['threshold']} signatures but has {_keys(len(spec['keyids']))}"
            )
    return problems


def _threshold_count(doc: Root, signer_root: Root) -> tuple[int, int]:
    """(distinct valid root-role signatures of ``signer_root`` on ``doc``, its root threshold)."""
    spec = signer_root.roles["root"]
    valid = valid_keyids(doc, root_keys(signer_root)) & set(spec["keyids"])
    return len(valid), int(spec["threshold"])


def verify_root_chain(
    docs: Sequence[Root],
    paths: Sequence[str] | None = None,
    *,
    now: datetime | None = None,
    check_expiry: bool = True,
) -> list[str]:
    """Every problem in a chain of roots (``docs[i]`` expected at ``trust/root/<i+1>.json``).

    Checks that versions run 1, 2, 3... inside the signed bytes, that each version is signed by
    a threshold of the previous version's root keys and of its own, that each root is internally
    consistent, and (on the newest only) that it has not expired. Keeps going after a problem,
    judging each step against the document before it, so ``pedata verify`` can list them all.
    """
    paths = list(paths) if paths is not None else [f"{ROOT_DIR}/{i + 1}.json" for i in range(len(docs))]
    if not docs:
        return ["no trust root (trust/root/1.json is missing; run 'pedata trust init')"]
    problems: list[str] = []
    prev: Root | None = None
    for i, (doc, path) in enumerate(zip(docs, paths, strict=True)):
        expected = 1 if prev is None else prev.version + 1
        stem = Path(path).stem
        if doc.version > expected:
            problems.append(f"{path}: version {doc.version} skips {expected}")
        elif doc.version < expected:
            problems.append(f"{path}: version {doc.version} does not follow {expected - 1} (a rollback or replay)")
        elif stem.isascii() and stem.isdigit() and int(stem) != doc.version:
            problems.append(f"{path}: file name says version {stem} but the signed version is {doc.version}")
        problems += check_root_consistency(doc, path)
        if prev is not None:
            dropped = set(prev.body.get("distrusted", [])) - set(doc.body.get("distrusted", []))
            if dropped:
                problems.append(f"{path}: drops distrusted key {short(min(dropped))} of root {prev.version} (distrust is permanent)")
            n, t = _threshold_count(doc, prev)
            if n < t:
                problems.append(f"{path}: not signed by a threshold of root {prev.version}'s root keys ({n} of {t})")
        n, t = _threshold_count(doc, doc)
        if n < t:
            problems.append(f"{path}: not signed by a threshold of its own root keys ({n} of {t})")
        prev = doc
        if i == len(docs) - 1 and check_expiry and is_expired(doc.expires, now):
            problems.append(f"{path}: trust root {doc.version} expired at {doc.expires}")
    return problems


def _normalise_pin(pin: str) -> str:
    return pin[len("sha256:"):] if pin.startswith("sha256:") else pin


def load_root_chain(
    registry: Registry,
    trusted_root: str | None = None,
    rev: str | None = None,
    *,
    now: datetime | None = None,
    check_expiry: bool = True,
    note: Callable[[str, bytes], None] | None = None,
) -> Root:
    """The newest trust root, reached by walking and verifying every rotation from root 1.

    ``trusted_root`` is the digest (hex, or ``sha256:<hex>``) of root 1 a consumer pinned out of
    band; ``rev`` reads the chain as of a git revision instead of the work tree.
    """
    return load_root_versions(registry, trusted_root, rev, now=now, check_expiry=check_expiry, note=note)[-1]


def load_root_versions(
    registry: Registry,
    trusted_root: str | None = None,
    rev: str | None = None,
    *,
    now: datetime | None = None,
    check_expiry: bool = True,
    note: Callable[[str, bytes], None] | None = None,
) -> list[Root]:
    """Every trust root version, oldest first, once the whole chain verifies (see :func:`load_root_chain`)."""
    entries = load_root_docs(registry, rev, note)
    if not entries:
        where = f" at {rev}" if rev else ""
        raise NotFoundError(f"no trust root in {registry.root}{where} (run 'pedata trust init')")
    first_path, first = entries[0]
    if trusted_root is not None:
        pin = _normalise_pin(trusted_root)
        if first.digest != pin:
            raise TrustError(f"trust root 1 has digest {first.digest}, but the consumer pinned {pin}")
    problems = verify_root_chain(
        [d for _, d in entries], [p for p, _ in entries], now=now, check_expiry=check_expiry
    )
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise TrustError(f"{problems[0]}{more}")
    return [doc for _, doc in entries]


# -- building -----------------------------------------------------------------------------------
def _parse_assignments(items: Sequence[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        role, sep, value = item.partition("=")
        if not sep or not value:
            raise UsageError(f"{option} {item!r}: expected ROLE=VALUE")
        if role not in ROLES:
            raise UsageError(f"{option} {item!r}: unknown role {role!r} (roles: {', '.join(ROLES)})")
        out[role] = value
    return out


def parse_thresholds(items: Sequence[str]) -> dict[str, int]:
    """``["root=2", ...]`` -> ``{"root": 2}``."""
    out = {}
    for role, value in _parse_assignments(items, "--threshold").items():
        if not value.isdigit() or int(value) < 1:
            raise UsageError(f"--threshold {role}={value}: the threshold must be a whole number of at least 1")
        out[role] = int(value)
    return out


def parse_scopes(items: Sequence[str]) -> dict[str, list[str]]:
    """``["promoter=us,uk"]`` -> ``{"promoter": ["us", "uk"]}``."""
    return {
        role: sorted({check_namespace(ns.strip()) for ns in value.split(",") if ns.strip()})
        for role, value in _parse_assignments(items, "--scope").items()
    }


def _check_buildable(body: dict[str, Any], source: str) -> Root:
    root = Root(body)
    root.validate(source)
    problems = check_root_consistency(root, source)
    if problems:
        raise TrustError(problems[0])
    return root


def build_root(
    role_keys: Mapping[str, Sequence[PublicKey]],
    thresholds: Mapping[str, int] | None = None,
    scopes: Mapping[str, Sequence[str]] | None = None,
    expires: str | None = None,
    version: int = 1,
) -> Root:
    """An unsigned root body from public keys per role (every role must be given)."""
    keys: dict[str, dict[str, str]] = {}
    roles: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        members = list(role_keys.get(role, ()))
        if not members:
            raise UsageError(f"role {role} has no keys")
        ids: list[str] = []
        for pk in members:
            keys.setdefault(pk.keyid, pk.root_entry())
            if pk.keyid not in ids:
                ids.append(pk.keyid)
        spec: dict[str, Any] = {"keyids": sorted(ids), "threshold": (thresholds or {}).get(role, 1)}
        if scopes and role in scopes:
            spec["namespaces"] = list(scopes[role])
        roles[role] = spec
    body = new_body("root", version=version, expires=expires, keys=keys, roles=roles)
    return _check_buildable(body, f"trust root {version}")


@dataclass
class WriteResult:
    """What a trust command wrote: the path (relative to the repository), version and digest."""

    path: str
    version: int
    digest: str
    signed_by: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version, "digest": self.digest, "signed_by": self.signed_by}


def _write_new(registry: Registry, root: Root) -> WriteResult:
    """Create ``trust/root/<version>.json`` (never replacing one) and ``git add`` it."""
    path = registry.root_path(root.version)
    rel = f"{ROOT_DIR}/{root.version}.json"
    if not atomic.create_exclusive(path, root.to_bytes()):
        raise TrustError(f"{rel} already exists; nothing written")
    gitio.add(registry.root, [rel])
    return WriteResult(rel, root.version, root.digest, sorted(s["keyid"] for s in root.signatures))


def init_root(
    registry: Registry,
    root_refs: Sequence[str],
    role_refs: Mapping[str, Sequence[str]] | None = None,
    thresholds: Mapping[str, int] | None = None,
    scopes: Mapping[str, Sequence[str]] | None = None,
    expires: str | None = DEFAULT_EXPIRES,
) -> WriteResult:
    """Write root 1, signed by every root key whose private half is available locally."""
    existing = registry.root_versions()
    if existing:
        raise TrustError(
            f"a trust root already exists (version {existing[-1]}); change it with "
            "'pedata trust add-key', 'remove-key' or 'set-threshold'"
        )
    if not root_refs:
        raise UsageError("give at least one --root key")
    role_keys: dict[str, list[PublicKey]] = {"root": [load_public(r) for r in root_refs]}
    for role in ROLES[1:]:
        refs = (role_refs or {}).get(role) or []
        role_keys[role] = [load_public(r) for r in refs] if refs else list(role_keys["root"])
    root = build_root(role_keys, thresholds, scopes, expires_in(expires), version=1)
    signers = [s for s in (find_signer(r) for r in root_refs) if s is not None]
    for signer in signers:
        sign(root, signer)
    n, t = _threshold_count(root, root)
    if n < t:
        raise TrustError(
            f"trust root 1 would be signed by {n} of {t} required root keys; "
            "the private keys of the --root keys must be in the keys folder; nothing written"
        )
    return _write_new(registry, root)


def _keys(n: int) -> str:
    return f"{n} key" if n == 1 else f"{n} keys"


def _role_spec(body: dict[str, Any], role: str) -> dict[str, Any]:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
    return body["roles"][role]


def _prune_keys(body: dict[str, Any]) -> None:
    used = {k for spec in body["roles"].values() for k in spec["keyids"]}
    body["keys"] = {k: v for k, v in body["keys"].items() if k in used}


def rotate(
    registry: Registry,
    change: str,
    sign_refs: Sequence[str],
    *,
    role: str,
    key: str | None = None,
    threshold: int | None = None,
    expires: str | None = None,
    compromised: bool = False,
) -> WriteResult:
    """Write root N+1 = root N with one change, signed to satisfy both N's and N+1's root role.

    ``change`` is ``add-key``, ``remove-key`` or ``set-threshold``. Nothing is written unless
    the given signers meet both thresholds. ``compromised`` (remove-key only) also lists the key
    under ``distrusted``: from then on none of its signatures counts, not even on documents
    committed while it was trusted, so what it signed alone must be re-signed.
    """
    current = load_root_chain(registry, check_expiry=False)
    body = copy.deepcopy(current.body)
    body["version"] = current.version + 1
    spec = _role_spec(body, role)
    if compromised and change != "remove-key":
        raise UsageError("--compromised goes with remove-key")
    if change == "add-key":
        assert key is not None
        pk = load_public(key, current)
        if pk.keyid in body.get("distrusted", []):
            raise TrustError(f"key {pk.name or short(pk.keyid)} ({short(pk.keyid)}) was removed as compromised in trust "
                             f"root version {_distrusted_since(registry, pk.keyid)}; generate a new key")
        if pk.keyid in spec["keyids"]:
            raise TrustError(f"key {pk.name or short(pk.keyid)} ({short(pk.keyid)}) is already a {role} key")
        body["keys"].setdefault(pk.keyid, pk.root_entry())
        spec["keyids"] = sorted([*spec["keyids"], pk.keyid])
    elif change == "remove-key":
        assert key is not None
        pk = load_public(key, current)
        if pk.keyid not in spec["keyids"]:
            raise TrustError(f"key {short(pk.keyid)} is not a {role} key")
        if len(spec["keyids"]) - 1 < spec["threshold"]:
            raise TrustError(
                f"role {role} would have {_keys(len(spec['keyids']) - 1)} but needs {spec['threshold']} "
                "signatures; lower its threshold or add a key first"
            )
        spec["keyids"] = [k for k in spec["keyids"] if k != pk.keyid]
        if compromised:
            _distrust(body, pk.keyid, role)
        _prune_keys(body)
    elif change == "set-threshold":
        assert threshold is not None
        if threshold < 1:
            raise UsageError("the threshold must be at least 1")
        if threshold > len(spec["keyids"]):
            raise TrustError(f"role {role} has {_keys(len(spec['keyids']))}; a threshold of {threshold} could never be met")
        if threshold == spec["threshold"]:
            raise TrustError(f"role {role} already has threshold {threshold}")
        spec["threshold"] = threshold
    else:  # pragma: no cover - the CLI only offers the three
        raise UsageError(f"unknown trust change {change!r}")
    if expires is not None:
        body["expires"] = expires_in(expires)
    new = _check_buildable(body, f"trust root {body['version']}")
    sign_root(new, current, sign_refs)
    return _write_new(registry, new)


def _distrust(body: dict[str, Any], keyid: str, role: str) -> None:
    """List ``keyid`` as distrusted; it must hold no other role (a compromised key holds none)."""
    others = [r for r in ROLES if keyid in body["roles"][r]["keyids"]]
    if others:
        raise TrustError(f"key {short(keyid)} is also a {others[0]} key; remove it from {', '.join(others)} first "
                         "(a compromised key must hold no role), then remove it from the last role with --compromised")
    body["distrusted"] = sorted({*body.get("distrusted", []), keyid})


def _distrusted_since(registry: Registry, keyid: str) -> int:
    for root in load_root_versions(registry, check_expiry=False):
        if keyid in root.body.get("distrusted", []):
            return int(root.version)
    return 0  # pragma: no cover - only called for a key the newest root distrusts


def sign_root(new: Root, current: Root, sign_refs: Sequence[str]) -> list[Signer]:
    """Sign ``new`` with ``sign_refs``, refusing keys of neither root and unmet thresholds."""
    if not sign_refs:
        raise UsageError("give --sign KEY for the root keys that approve this change")
    signers = [load_signer(ref) for ref in sign_refs]
    allowed = set(current.roles["root"]["keyids"]) | set(new.roles["root"]["keyids"])
    for signer in signers:
        if signer.keyid not in allowed:
            raise TrustError(
                f"key {signer.label()} is not a root key of trust root {current.version} or {new.version}; nothing written"
            )
        sign(new, signer)
    for who, by in ((f"root {current.version}", current), (f"root {new.version}", new)):
        n, t = _threshold_count(new, by)
        if n < t:
            raise TrustError(
                f"trust root {new.version} is signed by {n} of {t} required root keys of {who}; nothing written"
            )
    return signers


# -- showing ------------------------------------------------------------------------------------
def describe(root: Root, now: datetime | None = None) -> dict[str, Any]:
    """A JSON-able summary of a root for ``trust show``."""
    return {
        "version": root.version,
        "digest": root.digest,
        "expires": root.expires,
        "expired": is_expired(root.expires, now or utcnow()),
        "keys": {k: {"name": v.get("name"), "public": v["public"]} for k, v in sorted(root.keys.items())},
        "roles": {
            role: {
                "keyids": list(spec["keyids"]),
                "threshold": spec["threshold"],
                "namespaces": spec.get("namespaces"),
            }
            for role, spec in root.roles.items()
        },
        "signatures": sorted(s["keyid"] for s in root.signatures),
        "distrusted": list(root.body.get("distrusted", [])),
    }


def describe_text(info: Mapping[str, Any]) -> str:
    lines = [
        f"trust root version {info['version']}",
        f"  digest:  sha256:{info['digest']}",
        f"  expires: {info['expires'] or 'never'}{'  (EXPIRED)' if info['expired'] else ''}",
    ]
    for role, spec in sorted(info["roles"].items(), key=lambda kv: ROLES.index(kv[0])):
        scope = f", namespaces {', '.join(spec['namespaces'])}" if spec.get("namespaces") is not None else ""
        lines.append(f"  {role}: {spec['threshold']} of {len(spec['keyids'])}{scope}")
        for keyid in spec["keyids"]:
            name = info["keys"].get(keyid, {}).get("name") or ""
            lines.append(f"    {keyid}  {name}".rstrip())
    lines += [f"  distrusted: {keyid}  (removed as compromised; none of its signatures counts)" for keyid in info.get("distrusted", [])]
    return "\n".join(lines)


def check_document_role(doc: Any, registry: Registry, role: str, namespace: str | None = None) -> list[str]:
    """Convenience for commands: threshold problems of ``doc`` under the registry's verified root."""
    return check_threshold(doc, load_root_chain(registry), role, namespace)



def load_role_signers(reg: Registry, refs: Sequence[str | Signer], role: str) -> tuple[list[Signer], Root]:
    """Load ``--sign`` keys and the current root; refuse, before any work, a key the root does not
    list for ``role`` (the threshold and any namespace scope are the caller's to check)."""
    signers = [k if isinstance(k, Signer) else load_signer(k) for k in refs]
    root = load_root_chain(reg)
    spec = root.role(role)
    members = set(spec.keyids) if spec is not None else set()
    for s in signers:
        if s.keyid not in members:
            raise SignatureError(f"key {s.label()} is not a {role} key in trust root version {root.version}")
    return signers, root
