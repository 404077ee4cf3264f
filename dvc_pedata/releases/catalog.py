"""Releases as a reader sees them: the list, one release with its tags, and what changed.

A release is ``releases/<ns>/<semver>.json`` plus two git tags on the commit that first wrote it:
the annotated citation tag ``<ns>/v<version>`` (its message names the release digest, so the tag
itself certifies which document it stands for) and the GTO tag ``<ns>@v<version>`` that DVC's
own tooling lists. Everything here only reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dvc_pedata.errors import NotFoundError
from dvc_pedata.model.companion import registry_reader
from dvc_pedata.model.documents import Release
from dvc_pedata.model.schema_diff import diff_manifests, render_text, summarise
from dvc_pedata.model.semver import Version
from dvc_pedata.model.uri import gto_tag_name, parse_release_ref, tag_name
from dvc_pedata.registry.checkout import registry_root
from dvc_pedata.registry.refs import manifest_for_pin
from dvc_pedata.registry.repo import Registry
from dvc_pedata.registry.tags import TagInfo, read_tag


def tag_message(ns: str, version: str, rel_path: str, digest: str) -> str:
    """The annotated tag message; ``release-digest:`` is what ``verify`` reads back."""
    return (f"pedata release {ns}@{version}\n\nfile: {rel_path}\n"
            f"release-digest: sha256:{digest}\n")


def gto_tag_message(ns: str, version: str) -> str:
    """GTO's own wording for a registration tag, so ``gto show`` reads it like one it made."""
    return f"Registering artifact {ns} version v{version}"





def versions(reg: Registry, ns: str) -> list[Version]:
    """Every release version of ``ns`` in the work tree, oldest first (semver precedence)."""
    out = []
    for p in reg.iter_release_paths(ns):
        try:
            out.append(Version(p.stem))
        except Exception:  # noqa: BLE001 - a misnamed file is verify's business, not the list's
            continue
    return sorted(out)


def previous_of(reg: Registry, ns: str, version: str) -> str | None:
    """The highest release of ``ns`` below ``version`` (what a new release's ``previous`` names)."""
    v = Version(version)
    lower = [x for x in versions(reg, ns) if x < v]
    return lower[-1].text if lower else None


def parse_ref(ref: str) -> tuple[str, str]:
    """A release reference (see :func:`dvc_pedata.model.uri.parse_release_ref`) -> (ns, version)."""
    return parse_release_ref(ref)


@dataclass
class ReleaseInfo:
    """One release with its tags and its change against the previous release."""

    release: Release
    path: str
    tag: TagInfo | None
    gto_tag: TagInfo | None
    changes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        r = self.release
        return {
            "namespace": r.namespace, "version": r.version, "status": r.status, "path": self.path,
            "digest": r.digest, "compat_mode": r.body["compat_mode"], "notice": r.body["notice"],
            "certified_for": r.body["certified_for"], "previous": r.previous, "expires": r.expires,
            "source_channel": r.source_channel,
            "certified_at": r.body.get("certified_at") or (self.tag.tagger_date if self.tag else None),
            "tag": self.tag.name if self.tag else None, "commit": self.tag.commit if self.tag else None,
            "gto_tag": self.gto_tag.name if self.gto_tag else None,
            "artifacts": {n: p["sha256"] for n, p in sorted(r.pins.items())},
            "changes": self.changes,
        }


def info(reg: Registry, ns: str, version: str, *, with_changes: bool = False) -> ReleaseInfo:
    """Load one release with its tags (and, if asked, what changed since ``previous``)."""
    ns = reg.namespace(ns)
    rel = reg.load_release(ns, version)
    out = ReleaseInfo(rel, reg.rel(reg.release_path(ns, version)), read_tag(reg.root, tag_name(ns, version)),
                      read_tag(reg.root, gto_tag_name(ns, version)))
    if with_changes:
        out.changes = changes_since_previous(reg, rel)
    return out


def list_releases(reg: Registry, ns: str | None = None) -> list[ReleaseInfo]:
    """Every release (of ``ns``, or of every namespace), oldest first, with its changes since ``previous``."""
    namespaces = [reg.namespace(ns)] if ns else reg.namespaces
    return [info(reg, n, v.text, with_changes=True) for n in namespaces for v in versions(reg, n)]


def releases_in(registry: str | None = None, ns: str | None = None) -> list[ReleaseInfo]:
    """:func:`list_releases` of ``registry`` (a checkout or git URL; default ``$PEDATA_REGISTRY``, else the current one)."""
    return list_releases(Registry.find(registry_root(registry)), ns)


def show(ref: str, registry: str | None = None) -> ReleaseInfo:
    """Release ``ref`` (``us@1.0.0``, ``us@v1.0.0``, ``us/v1.0.0``) of ``registry``, with what changed since ``previous``."""
    ns, version = parse_ref(ref)
    return info(Registry.find(registry_root(registry)), ns, version, with_changes=True)


def changes_since_previous(reg: Registry, rel: Release) -> dict[str, Any]:
    """Artifacts added, removed and changed since ``previous``, with the schema diff of each change."""
    if rel.previous is None:
        return {"previous": None, "added": sorted(rel.pins), "removed": [], "changed": {}, "unchanged": []}
    try:
        prev = reg.load_release(rel.namespace, rel.previous)
    except NotFoundError:
        return {"previous": rel.previous, "error": f"previous release {rel.previous} is missing"}
    a, b = prev.pins, rel.pins
    changed: dict[str, Any] = {}
    for name in sorted(set(a) & set(b)):
        if a[name]["sha256"] == b[name]["sha256"]:
            continue
        try:
            changed[name] = diff_manifests(manifest_for_pin(reg, rel.namespace, name, a[name]),
                                           manifest_for_pin(reg, rel.namespace, name, b[name]), registry_reader(reg.root))
        except Exception as exc:  # noqa: BLE001 - show the release even if one manifest is broken
            changed[name] = {"error": str(exc)}
    return {
        "previous": rel.previous,
        "added": sorted(set(b) - set(a)),
        "removed": sorted(set(a) - set(b)),
        "changed": changed,
        "unchanged": sorted(n for n in set(a) & set(b) if a[n]["sha256"] == b[n]["sha256"]),
    }


def render_show(ri: ReleaseInfo) -> str:
    """The text of ``pedata show``: identity, lifecycle, pins, and the change since ``previous``."""
    r = ri.release
    notice = r.body["notice"]
    lines = [
        f"release {r.namespace}@{r.version}  status: {r.status}",
        f"digest: sha256:{r.digest}",
        f"file: {ri.path}",
        f"tag: {ri.tag.name + ' -> ' + ri.tag.commit if ri.tag else '(missing)'}"
        + (f"  gto: {ri.gto_tag.name}" if ri.gto_tag else ""),
        f"compat: {r.body['compat_mode']}  notice ({notice['type']}, {notice['date']}): {notice['summary']}",
    ]
    cf = r.body["certified_for"]
    if cf:
        lines.append(f"certified for: {cf['package']}=={cf['version']}")
    sc = r.source_channel
    if sc:
        lines.append(f"certified from: channel {sc['name']} version {sc['version']} (sha256:{sc['digest'][:12]}…)")
    if r.expires:
        lines.append(f"expires: {r.expires}")
    lines.append(f"previous: {r.previous or '(none)'}")
    lines.append("")
    lines.append("artifacts:")
    for name, pin in sorted(r.pins.items()):
        size = "size unknown" if pin.get("size") is None else f"{pin['size']} bytes"
        lines.append(f"  {name}  sha256:{pin['sha256']}  {size}")
    if ri.changes:
        lines.append("")
        lines += change_lines(ri.changes, detail=True)
    return "\n".join(lines)


def change_lines(ch: dict[str, Any], *, detail: bool) -> list[str]:
    """What changed since ``previous``: each changed artifact's full diff, or one summary line."""
    if ch.get("previous") is None:
        return ["changes: first release" if detail else "first release"]
    if "error" in ch:
        return [f"changes since {ch['previous']}: {ch['error']}"]
    lines = [f"changes since {ch['previous']}:"]
    lines += [f"  + {n}" for n in ch["added"]]
    lines += [f"  - {n}" for n in ch["removed"]]
    for n, d in ch["changed"].items():
        if "error" in d:
            lines.append(f"  ~ {n}: {d['error']}")
        elif detail:
            lines.append(f"  ~ {n}")
            lines += ["      " + x for x in render_text(d).splitlines()]
        else:
            lines.append(f"  ~ {n}: {summarise(d)}")
    if not (ch["added"] or ch["removed"] or ch["changed"]):
        lines.append("  no artifact changed")
    return lines


def render_list(infos: list[ReleaseInfo]) -> str:
    if not infos:
        return "no releases"
    rows = []
    for ri in infos:
        r = ri.release
        date = r.body.get("certified_at") or (ri.tag.tagger_date if ri.tag else None) or r.body["notice"]["date"]
        rows.append((f"{r.namespace}@{r.version}", r.status, date[:10], str(len(r.pins)),
                     ", ".join(sorted(r.pins))))
    widths = [max(len(x[i]) for x in rows) for i in range(4)]
    out = []
    for ri, x in zip(infos, rows, strict=True):
        out.append("  ".join(c.ljust(w) for c, w in zip(x[:4], widths, strict=True)) + "  " + x[4])
        out += ["    " + line for line in change_lines(ri.changes, detail=False)] if ri.changes else []
    return "\n".join(out)
