"""``pedata fsck``: prove what every store holds.

For each pinned, unrevoked artifact (channels and releases in the work tree) and each store, the
DVC object must exist with the pinned size, or with ``--deep`` hash to the pinned sha256 (DVC's
own ``verify`` is off for S3 and GCS, so a flipped byte would otherwise be pulled silently). For
each tombstone, the object must be gone: bytes still present are reported so a purge can finish.
Every finding names the artifact's URI and the object's URL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import PedataError
from .pinset import declared_stores, pinned
from .registry import Registry


@dataclass
class Finding:
    problem: str  # missing | corrupt | revoked-present | unreachable
    uri: str
    remote: str
    url: str
    detail: str

    def __str__(self) -> str:
        return f"{self.problem}: {self.uri} in remote {self.remote} ({self.url}): {self.detail}"


@dataclass
class FsckReport:
    remotes: list[str]
    deep: bool
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "remotes": self.remotes, "deep": self.deep, "checked": self.checked,
                "findings": [asdict(f) for f in self.findings]}


def fsck(root: Path | str = ".", remote: str | None = None, *, deep: bool = False, namespace: str | None = None) -> FsckReport:
    """Check the stores (``remote``, or pedata.json's remote and mirrors); every finding is reported."""
    from .dvcio import StoreRepo

    reg = Registry.find(root)
    pins = pinned(reg, namespace)
    revoked = []
    for path in reg.iter_tombstone_paths():
        from .documents import Tombstone

        ts = Tombstone.load(path, reg.rel(path))
        for m in reg.find_manifests(ts.artifact_sha256):
            if namespace is None or m.namespace == namespace:
                revoked.append((ts, m))
    with StoreRepo(reg.root) as repo:
        configured = repo.remote_names()
        if remote is not None:
            repo.remote_url(remote)  # a one-line error for an unknown remote
            stores = [remote]
        else:
            stores = [s for s in declared_stores(reg) if s in configured] or configured
        report = FsckReport(stores, deep)
        for store in stores:
            for p in pins:
                if p.revoked is not None:
                    continue
                report.checked += 1
                assert p.md5 is not None
                url = repo.object_url(p.md5, store)
                try:
                    size = repo.remote_object_size(p.md5, store)
                except PedataError as exc:
                    report.findings.append(Finding("unreachable", p.uri, store, url, exc.message))
                    continue
                except Exception as exc:  # network errors from DVC's filesystems
                    report.findings.append(Finding("unreachable", p.uri, store, url, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
                    continue
                if size is None:
                    report.findings.append(Finding("missing", p.uri, store, url, f"object {p.md5} is not there ({', '.join(p.pinned_by)})"))
                elif size != p.size:
                    report.findings.append(Finding("corrupt", p.uri, store, url, f"size {size} bytes, the pin says {p.size}"))
                elif deep:
                    actual = repo.hash_remote_object(p.md5, store)
                    if actual != p.sha256:
                        report.findings.append(Finding("corrupt", p.uri, store, url, f"bytes hash to sha256 {actual}"))
            for ts, m in revoked:
                if not m.md5:
                    continue
                report.checked += 1
                try:
                    size = repo.remote_object_size(m.md5, store)
                except Exception:
                    continue
                if size is not None:
                    uri = f"pedata://{m.namespace}/{m.name}@sha256:{m.sha256}"
                    report.findings.append(Finding(
                        "revoked-present", uri, store, repo.object_url(m.md5, store),
                        f"revoked on {ts.date} by {ts.authority} ({ts.reason}) but still stored: run 'pedata revoke sha256:{m.sha256} --purge'",
                    ))
    return report
