"""``pedata review --base REF``: what a pull request changes in the registry, as markdown.

The summary a reviewer reads next to ``pedata verify``'s verdict (the GitHub Action in this
repository's ``action.yml`` appends it to the job summary): channel moves with each moved
artifact's schema and row-count diff, new releases and release status changes, new revocations,
and trust-root rotations (keys and thresholds per role).

It compares the registry documents of commit ``REF`` with the work tree (in CI the checkout of
the pull request), reads only git-tracked JSON (never payloads, no DVC import) and judges nothing:
signatures, thresholds and history are ``verify``'s. A document that does not parse is listed as
such rather than stopping the summary, so the reviewer still sees the rest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import gitio
from dvc_pedata.errors import PedataError, UsageError
from dvc_pedata.model import layout, schema_diff
from dvc_pedata.model.companion import registry_reader
from dvc_pedata.registry.repo import Registry

WATCHED = ("channels", "releases", "tombstones", "trust/root")


@dataclass
class Review:
    base: str
    base_commit: str
    channels: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)
    revocations: list[dict[str, Any]] = field(default_factory=list)
    roots: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"base": self.base, "base_commit": self.base_commit, "channels": self.channels, "releases": self.releases,
                "revocations": self.revocations, "roots": self.roots, "unreadable": self.unreadable}

    @property
    def empty(self) -> bool:
        return not (self.channels or self.releases or self.revocations or self.roots or self.unreadable)


def _signed(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return None
    doc = json.loads(data)
    signed = doc.get("signed") if isinstance(doc, dict) else None
    if not isinstance(signed, dict):
        raise ValueError("no 'signed' object")
    return signed


def _changed(reg: Registry, base: str) -> list[tuple[str, str]]:
    """``(status letter, path)`` of registry documents that differ between ``base`` and the work
    tree, plus untracked new ones (a document not yet added is still part of the change)."""
    out = gitio.git(reg.root, "diff", "--no-renames", "--name-status", base, "--", *WATCHED)
    rows = [(line.split("\t", 1)[0][0], line.split("\t", 1)[1]) for line in out.splitlines() if "\t" in line]
    new = gitio.git(reg.root, "ls-files", "--others", "--exclude-standard", "--", *WATCHED)
    rows += [("A", p) for p in new.splitlines()]
    return sorted({(s, p) for s, p in rows if p.endswith(".json")}, key=lambda r: r[1])


def review(base: str, root: Path | str = ".") -> Review:
    reg = Registry.find(root)
    commit = gitio.git(reg.root, "rev-parse", "--verify", "-q", f"{base}^{{commit}}", check=False)
    if not commit:
        raise UsageError(f"--base {base!r} is not a commit of this repository (fetch it first, e.g. 'git fetch origin {base}')")
    rev = Review(base, commit)
    for status, rel in _changed(reg, commit):
        try:
            before = _signed(gitio.show(reg.root, commit, rel)) if status != "A" else None
            path = reg.root / rel
            after = _signed(path.read_bytes()) if path.is_file() else None
        except (ValueError, OSError) as exc:
            rev.unreadable.append(f"{rel}: {exc}")
            continue
        if rel.startswith(layout.CHANNELS + "/"):
            rev.channels.append(_channel(reg, rel, before, after))
        elif rel.startswith(layout.RELEASES + "/"):
            rev.releases.append(_release(rel, before, after))
        elif rel.startswith(layout.TOMBSTONES + "/") and after is not None:
            rev.revocations.append(_tombstone(rel, before, after))
        elif rel.startswith(layout.ROOTS + "/") and after is not None:
            rev.roots.append(_root(reg, commit, rel, after))
    return rev


def _channel(reg: Registry, rel: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    parts = rel[len(layout.CHANNELS + "/"):-len(".json")].split("/")
    ns, name = (parts[0], "/".join(parts[1:])) if len(parts) > 1 else ("?", parts[0])
    old = (before or {}).get("artifacts") or {}
    new = (after or {}).get("artifacts") or {}
    moves = []
    for art in sorted(set(old) | set(new)):
        a, b = old.get(art), new.get(art)
        if a == b:
            continue
        move: dict[str, Any] = {"name": art, "from": a and a.get("sha256"), "to": b and b.get("sha256"),
                                "summary": None, "markdown": None}
        if a and b and a.get("sha256") != b.get("sha256"):
            try:
                d = schema_diff.diff_manifests(reg.load_manifest(ns, art, a["sha256"]), reg.load_manifest(ns, art, b["sha256"]),
                                   registry_reader(reg.root))
                move["summary"], move["markdown"] = schema_diff.summarise(d), schema_diff.render_markdown(d)
            except PedataError as exc:
                move["summary"] = f"no schema diff: {exc.message}"
        moves.append(move)
    return {"path": rel, "namespace": ns, "channel": name, "from_version": (before or {}).get("version"),
            "to_version": (after or {}).get("version"), "moves": moves}


def _release(rel: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    doc = after or before or {}
    return {
        "path": rel, "namespace": doc.get("namespace"), "version": doc.get("version"),
        "from_status": (before or {}).get("status"), "to_status": (after or {}).get("status"),
        "new": before is None, "removed": after is None,
        "pins": {n: p.get("sha256") for n, p in sorted((doc.get("pins") or {}).items())},
        "source_channel": doc.get("source_channel"), "notice": (doc.get("notice") or {}).get("summary"),
        "compat_mode": doc.get("compat_mode"),
    }


def _tombstone(rel: str, before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    return {"path": rel, "sha256": after.get("artifact_sha256"), "reason": after.get("reason"),
            "authority": after.get("authority"), "date": after.get("date"), "new": before is None,
            "artifacts": [f"{m.get('namespace')}/{m.get('name')}" for m in after.get("manifests") or [] if isinstance(m, dict)],
            "purged": len(after.get("purged") or [])}


def _root(reg: Registry, base: str, rel: str, after: dict[str, Any]) -> dict[str, Any]:
    version = after.get("version")
    prev = None
    if isinstance(version, int) and version > 1:
        try:
            prev = _signed(gitio.show(reg.root, base, layout.root(version - 1))
                           or (reg.root / layout.root(version - 1)).read_bytes())
        except (ValueError, OSError):
            prev = None
    names = {k: (v or {}).get("name") if isinstance(v, dict) else None for k, v in (after.get("keys") or {}).items()}
    roles = []
    for role in sorted(set(after.get("roles") or {}) | set((prev or {}).get("roles") or {})):
        a = ((prev or {}).get("roles") or {}).get(role) or {}
        b = (after.get("roles") or {}).get(role) or {}
        added = sorted(set(b.get("keyids") or []) - set(a.get("keyids") or []))
        removed = sorted(set(a.get("keyids") or []) - set(b.get("keyids") or []))
        if prev is not None and not added and not removed and a.get("threshold") == b.get("threshold"):
            continue
        roles.append({"role": role, "added": added, "removed": removed,
                      "threshold": [a.get("threshold"), b.get("threshold")] if prev is not None else [None, b.get("threshold")]})
    return {"path": rel, "version": version, "expires": after.get("expires"), "roles": roles, "key_names": names,
            "distrusted": sorted(set(after.get("distrusted") or []) - set((prev or {}).get("distrusted") or []))}


def _short(sha: str | None) -> str:
    return f"`{sha[:12]}`" if sha else "—"


def render_markdown(rev: Review) -> str:
    """The pull-request summary (GitHub-flavoured markdown)."""
    lines = [f"## pedata review: `{rev.base}` ({rev.base_commit[:10]}) → this change", ""]
    if rev.empty:
        return "\n".join([*lines, "No channel, release, tombstone or trust-root document changed."]) + "\n"
    if rev.channels:
        lines += ["### Channel moves", ""]
        for ch in rev.channels:
            head = f"#### `{ch['namespace']}/{ch['channel']}`: "
            if ch["from_version"] is None:
                head += f"new, version {ch['to_version']}"
            elif ch["to_version"] is None:
                head += f"deleted (was version {ch['from_version']})"
            else:
                head += f"version {ch['from_version']} → {ch['to_version']}"
            lines += [head, ""]
            if not ch["moves"]:
                lines += ["Same pins (signatures or expiry changed).", ""]
                continue
            lines += ["| artifact | from sha256 | to sha256 | change |", "|---|---|---|---|"]
            for m in ch["moves"]:
                what = m["summary"] or ("added" if m["from"] is None else "dropped" if m["to"] is None else "")
                lines.append(f"| `{m['name']}` | {_short(m['from'])} | {_short(m['to'])} | {what} |")
            lines.append("")
            for m in ch["moves"]:
                if m["markdown"]:
                    lines += [m["markdown"].replace("### ", "##### ", 1), ""]
    new = [r for r in rev.releases if r["new"]]
    moved = [r for r in rev.releases if not r["new"]]
    if new:
        lines += ["### New releases", ""]
        for r in new:
            src = r["source_channel"] or {}
            lines.append(f"- `{r['namespace']}@{r['version']}` — {r['to_status']}, {r['compat_mode']}, from "
                         f"`{src.get('name')}` version {src.get('version')}: {r['notice'] or ''}".rstrip(": "))
            lines += [f"  - `{n}` {_short(s)}" for n, s in r["pins"].items()]
        lines.append("")
    if moved:
        lines += ["### Release status changes", ""]
        for r in moved:
            to = "deleted" if r["removed"] else r["to_status"]
            lines.append(f"- `{r['namespace']}@{r['version']}`: {r['from_status']} → {to}")
        lines.append("")
    if rev.revocations:
        lines += ["### Revocations", ""]
        for t in rev.revocations:
            what = ", ".join(t["artifacts"]) or "?"
            verb = "revoked" if t["new"] else "tombstone updated"
            lines.append(f"- {verb}: `sha256:{t['sha256']}` ({what}) on {t['date']} by {t['authority']}: {t['reason']}"
                         + (f"; {t['purged']} purge record(s)" if t["purged"] else ""))
        lines.append("")
    if rev.roots:
        lines += ["### Trust root", ""]
        for r in rev.roots:
            lines.append(f"- root version {r['version']} (expires {r['expires']})")
            for role in r["roles"]:
                bits = [f"+ {r['key_names'].get(k) or k[:12]}" for k in role["added"]]
                bits += [f"- {k[:12]}" for k in role["removed"]]
                a, b = role["threshold"]
                if a != b:
                    bits.append(f"threshold {a} → {b}" if a is not None else f"threshold {b}")
                lines.append(f"  - {role['role']}: {', '.join(bits)}")
            if r["distrusted"]:
                lines.append(f"  - distrusted (compromised): {', '.join(k[:12] for k in r['distrusted'])}")
        lines.append("")
    if rev.unreadable:
        lines += ["### Unreadable documents", "", *[f"- {u}" for u in rev.unreadable], ""]
    lines.append("`pedata verify` judges signatures, thresholds and history; this summary only shows what changed.")
    return "\n".join(lines) + "\n"
