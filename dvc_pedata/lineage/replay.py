"""``pedata replay``: prove that a release rebuilds from its tagged recipe.

The replay runs in a temporary ``git worktree`` at the release's commit (``dvc repro`` rewrites
``dvc.lock``, and the user's work tree may have moved on — a ``params.yaml`` edited after the tag
must not leak in). In order:

1. inputs are restored from the DVC remote by the inputs lock and every raw input's sha256 is
   checked against it; one mismatch stops the replay before any stage runs;
2. frozen stages never run: their outputs are restored from the remote and md5-checked against
   ``dvc.lock`` at the tag (:mod:`replay_restore`; a mismatch also stops the replay), and every pin
   they produce or feed is ``not-replayable`` (which fails the replay: the frozen step is unproven);
3. ``dvc repro --force`` of the stages behind the pins (without force, DVC's run cache would
   restore the old outputs and prove nothing);
4. the outputs are hashed and compared with the pins: ``strict`` needs identical sha256,
   ``lenient`` accepts equal content within a relative tolerance (:mod:`compare`). A pinned
   folder (a directory artifact) is hashed file by file: strict needs its Merkle digest to be the
   pin; lenient needs the same file set and each changed file equal in content, and reports every
   changed file with its largest drift.

The result goes to ``reports/replay.result.json``; the worktree is always removed.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dvc_pedata.base import atomic, gitio
from dvc_pedata.base.hashing import hash_file
from dvc_pedata.errors import IntegrityError, NotFoundError, PedataError, UsageError
from dvc_pedata.lineage.graph import Scope, build_graph, parse_ref, pinned_paths
from dvc_pedata.lineage.replay_tag import certified_commit
from dvc_pedata.lineage.restore import fetch_pinned, restore_frozen, restore_inputs
from dvc_pedata.model.canonical import pretty_bytes
from dvc_pedata.model.documents import Manifest
from dvc_pedata.model.listing import load_listing
from dvc_pedata.model.locks import load_deps_lock, load_inputs_lock
from dvc_pedata.model.merkle import FileEntry, directory_digest
from dvc_pedata.publish.locks import DEPS_LOCK, INPUTS_LOCK, environment, environment_diff
from dvc_pedata.publish.manifests import detect_format
from dvc_pedata.registry.repo import Registry

REPORT = "reports/replay.result.json"
POLICIES = ("strict", "lenient")
DEFAULT_TOLERANCE = 1e-9


@dataclass
class ReplayReport:
    ref: str
    commit: str
    policy: str
    tolerance: float | None
    ok: bool = False
    error: str | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    stages_run: list[str] = field(default_factory=list)
    not_replayable: list[str] = field(default_factory=list)
    restored: list[dict[str, Any]] = field(default_factory=list)  # outputs of frozen stages, md5-checked
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    environment: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "replay-result", "schema_version": 1, **asdict(self)}


class _Clock:
    def __init__(self, report: ReplayReport) -> None:
        self.report = report
        self.start = time.perf_counter()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self.report.timings[name] = round(self.report.timings.get(name, 0.0) + time.perf_counter() - t, 3)

    def done(self) -> None:
        self.report.timings["total"] = round(time.perf_counter() - self.start, 3)


@contextmanager
def scratch_worktree(reg: Registry, commit: str, clock: _Clock | None = None) -> Iterator[Path]:
    """A detached ``git worktree`` at ``commit`` in a temporary folder, removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="pedata-replay-"))
    wt = tmp / "wt"
    t = time.perf_counter()
    gitio.git(reg.root, "worktree", "add", "--detach", "-q", str(wt), commit)
    if clock is not None:
        clock.report.timings["checkout"] = round(time.perf_counter() - t, 3)
    try:
        yield wt
    finally:
        gitio.git(reg.root, "worktree", "remove", "--force", str(wt), check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        gitio.git(reg.root, "worktree", "prune", check=False)


@dataclass
class _Plan:
    stages: list[Any]  # every stage behind the pins, by target
    producer: dict[str, Any]  # pin name -> the stage writing it (None: no stage does)
    frozen_behind: dict[str, list[str]]  # pin name -> frozen stages its build depends on (producer included)

    @property
    def frozen(self) -> list[Any]:
        """Stages that never run. A frozen ``dvc import`` is not one: its output is a raw input,
        restored and sha256-checked by the inputs lock."""
        return [s for s in self.stages if _never_runs(s)]


def _never_runs(stage: Any) -> bool:
    return bool(stage is not None and stage.frozen and not stage.data_source)


def _plan(reg: Registry, scope: Scope, pins: dict[str, dict[str, Any]]) -> _Plan:
    """The stages behind the pins, each pin's producer and frozen upstream, at the release's commit."""
    from dvc_pedata.dvcio.pipeline import (
        pipeline_stages,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    stages = pipeline_stages(reg.root, rev=scope.commit)
    by_target = {s.target: s for s in stages}
    graph = build_graph(reg, scope.commit, stages)
    frozen_ids = {f"stage:{s.target}" for s in stages if _never_runs(s)}
    ids = []
    producer = {}
    frozen_behind = {}
    for name, p in pins.items():
        nid = f"artifact:{p['path']}"
        if nid not in graph.nodes:
            raise NotFoundError(f"pin {name!r} ({p['path']}) is not an output of any stage at {scope.label}")
        ids.append(nid)
        producer[name] = next((s for s in stages if any(o["path"] == p["path"] for o in s.outs)), None)
        frozen_behind[name] = sorted(n.split(":", 1)[1] for n in graph.upstream_of([nid]).nodes if n in frozen_ids)
    sub = graph.upstream_of(ids)
    behind = [by_target[n.split(":", 1)[1]] for n in sub.nodes if n.startswith("stage:")]
    return _Plan(sorted(behind, key=lambda s: s.target), producer, frozen_behind)


def _check_remote(reg: Registry, remote: str | None, remotes: dict[str, dict[str, Any]]) -> str | None:
    """The remote to restore from; an unknown name is refused before any work is done."""
    chosen = remote or reg.config.get("remote")
    if chosen is None or chosen in remotes:
        return chosen
    known = ", ".join(repr(r) for r in sorted(remotes)) or "none"
    if remote:
        raise UsageError(f"--remote {remote!r} is not a DVC remote of this registry (configured: {known})")
    raise PedataError(f"pedata.json names DVC remote {chosen!r}, which .dvc/config does not define (configured: {known})")


def replay(ref: str, policy: str = "strict", tolerance: float | None = None, root: Path | str = ".", *, remote: str | None = None) -> ReplayReport:
    """Rebuild the release ``ref`` in a scratch worktree and compare with its pins.

    Writes ``reports/replay.result.json`` whatever happens after the worktree exists; raises
    :class:`IntegrityError` for a tampered input or frozen stage output (before any stage ran).
    Bad arguments (a tolerance with ``strict``, an unknown remote) are refused before any work.
    """
    if policy not in POLICIES:
        raise UsageError(f"unknown policy {policy!r} (use strict or lenient)")
    if tolerance is not None and policy != "lenient":
        raise UsageError("--tolerance applies only to --policy lenient (strict needs identical sha256)")
    if tolerance is not None and (tolerance < 0 or tolerance != tolerance):
        raise UsageError("--tolerance must be a non-negative number")
    if policy == "lenient" and tolerance is None:
        tolerance = DEFAULT_TOLERANCE
    reg = Registry.find(root)
    from dvc_pedata.dvcio.pipeline import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        configure_scratch,
    )
    from dvc_pedata.dvcio.repo import (
        DvcRepo,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    with DvcRepo(reg.root) as repo:
        remotes, default_remote = repo.remotes(), repo.default_remote()
    remote = _check_remote(reg, remote, remotes)
    scope = parse_ref(reg, ref)
    if scope.commit is None:
        raise UsageError(f"replay needs a release (NS@VERSION or a pedata://…@vX.Y.Z URI), not {ref!r}")
    report = ReplayReport(ref=scope.label, commit=scope.commit, policy=policy, tolerance=tolerance if policy == "lenient" else None)
    clock = _Clock(report)
    pins = pinned_paths(reg, scope)
    lock_bytes = gitio.show(reg.root, scope.commit, INPUTS_LOCK)
    if lock_bytes is None:
        raise PedataError(f"{scope.label} cannot be replayed: its commit has no {INPUTS_LOCK} (run 'pedata lock' before certifying)")
    lock = load_inputs_lock(lock_bytes, f"{INPUTS_LOCK} at {scope.label}")
    # The environment lock is compared only at the end, but a broken one is refused now, before
    # a scratch worktree or any stage exists (and before a report is written).
    env_bytes = gitio.show(reg.root, scope.commit, DEPS_LOCK)
    env_lock = None if env_bytes is None else load_deps_lock(env_bytes, f"{DEPS_LOCK} at {scope.label}")
    # The tag is followed only once it is proven to be the one certify wrote (replay_tag): a tag
    # moved onto another commit would otherwise run that commit's dvc.yaml commands. The locks
    # above were only parsed (strict readers, nothing run), so their errors may come first.

    if certified_commit(reg, scope.namespace or "", scope.release or "") != scope.commit:
        raise IntegrityError(f"the release tag for {ref!r} does not name the commit its release was certified in; nothing was run")
    plan = _plan(reg, scope, pins)
    try:
        with scratch_worktree(reg, scope.commit, clock) as wt:
            configure_scratch(wt, remotes, default_remote)
            _run(reg, scope, wt, lock, plan, pins, report, clock, remote, env_lock)
    finally:
        clock.done()
        if report.commit:
            atomic.write_bytes(reg.root / REPORT, pretty_bytes(report.to_json()))
    if report.error and any(i["verdict"] != "ok" for i in report.inputs + report.restored):
        raise IntegrityError(report.error)
    return report


def _run(reg: Registry, scope: Scope, wt: Path, lock: dict[str, Any], plan: _Plan,
         pins: dict[str, dict[str, Any]], report: ReplayReport, clock: _Clock, remote: str | None,
         env_lock: dict[str, Any] | None = None) -> None:
    from dvc_pedata.dvcio import (
        pipeline as dvcio,  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
    )

    dvc_outs = {o["path"]: o["md5"] for s in plan.stages if s.data_source for o in s.outs}
    with clock.phase("restore_inputs"):
        report.inputs = restore_inputs(reg, wt, lock, dvc_outs, remote)
    bad = [i for i in report.inputs if i["verdict"] != "ok"]
    if bad:
        first = bad[0]
        report.error = f"input {first['path']} is {first['verdict']}: {first.get('reason', '')}; no stage was run"
        return
    report.not_replayable = [s.target for s in plan.frozen]
    with clock.phase("restore_frozen"):
        report.restored = restore_frozen(reg, wt, plan.frozen, remote)
    bad = [r for r in report.restored if r["verdict"] != "ok"]
    if bad:
        first = bad[0]
        report.error = (f"output {first['path']} of frozen stage {first['stage']} is {first['verdict']}: "
                        f"{first.get('reason', '')}; no stage was run")
        return
    producer = plan.producer
    targets = sorted({st.target for st in producer.values() if st is not None and not _never_runs(st)})
    with clock.phase("repro"):
        ran: set[str] = set()
        if targets:
            # Say what is about to run, before it runs: replay executes the recipe's commands.
            print(f"pedata: replay {scope.label} will now run the commands of dvc.yaml at commit {str(scope.commit)[:12]}"
                  f" (stages: {', '.join(targets)})", file=sys.stderr, flush=True)
            try:
                ran = set(dvcio.reproduce(wt, targets))
            except PedataError as exc:
                report.error = exc.message
                return
        # what DVC reports as reproduced, less the stages that have no command to run
        report.stages_run = [s.target for s in plan.stages if not s.frozen and not s.data_source and s.target in ran]
    scratch = wt.parent / "pinned"
    scratch.mkdir(exist_ok=True)
    for name, p in sorted(pins.items()):
        st = producer[name]
        row: dict[str, Any] = {"name": name, "path": p["path"], "expected_sha256": p["sha256"], "stage": st.target if st else None}
        if plan.frozen_behind[name]:
            row["frozen_upstream"] = plan.frozen_behind[name]
        report.artifacts.append(row)
        if st is None or _never_runs(st):
            row.update(verdict="not-replayable", reason=f"stage {st.target if st else '?'} is frozen: it never runs, so its output proves nothing")
            continue
        if p["manifest"].get("format") == "directory":
            _replay_directory(reg, scope, wt, name, p, row, report, clock, scratch, remote)
            continue
        target = wt / p["path"]
        if not target.is_file():
            row.update(verdict="missing", reason="the stage did not produce it")
            continue
        with clock.phase("hash"):
            fd = hash_file(target)
        row["sha256"] = fd.sha256
        if fd.sha256 == p["sha256"]:
            row["verdict"] = "identical"
            continue
        if report.policy == "strict":
            row.update(verdict="differs", reason="sha256 differs from the pin (strict needs identical bytes)")
            continue
        fmt = (p["manifest"].get("format") or detect_format(target))
        with clock.phase("compare"):
            pinned = scratch / f"{name}{target.suffix}"
            fetch_pinned(reg, p["md5"], p["sha256"], pinned, remote)
            from dvc_pedata.lineage.compare import (  # lazy: numpy; only the paths that compare payloads pay for it
                compare,
            )

            cmp = compare(pinned, target, fmt, float(report.tolerance or 0.0))
        row["max_drift"] = cmp.max_drift
        if cmp.ok:
            row.update(verdict="equivalent", reason=f"bytes differ; {fmt} content equal within tolerance {report.tolerance:g}")
        else:
            row.update(verdict="differs", reason="; ".join(cmp.problems[:5]))
    for row in report.artifacts:
        _downgrade_frozen_upstream(row)
    if env_lock is None:
        report.environment = [{"what": "lock", "change": f"no {DEPS_LOCK} at the release commit"}]
    else:
        report.environment = environment_diff(env_lock, environment())
    report.ok = bool(report.artifacts) and all(a["verdict"] in ("identical", "equivalent") for a in report.artifacts)


def _downgrade_frozen_upstream(row: dict[str, Any]) -> None:
    """A pin built from a frozen stage's output proves only the stages after it: not a pass.

    The frozen output was restored (md5-checked), not rebuilt, so even identical bytes leave
    the frozen stage unproven; the rebuild's own verdict is kept as ``rebuild_verdict``.
    """
    up = row.get("frozen_upstream")
    if not up or row["verdict"] not in ("identical", "equivalent"):
        return
    row.update(
        verdict="not-replayable",
        rebuild_verdict=row["verdict"],
        reason=f"built from the output of frozen stage {', '.join(up)}, which never runs (its output was restored, not rebuilt);"
               f" the rebuild is {row['verdict']} to the pin, which proves only the stages after it",
    )


def _built_listing(wt: Path, path: str) -> list[str]:
    """The rebuilt folder's files as DVC recorded them in the scratch ``dvc.lock`` (``.dvcignore``
    applies, as it did at publish); a plain walk if DVC has no listing."""
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        DvcRepo,
    )

    try:
        with DvcRepo(wt) as repo:
            info = repo.out_info(path)
            if info.is_dir and info.md5:
                return sorted(rel for rel, _ in repo.dir_entries(info.md5))
    except PedataError:
        pass
    folder = wt / path
    return sorted(f.relative_to(folder).as_posix() for f in folder.rglob("*") if f.is_file())


def _replay_directory(reg: Registry, scope: Scope, wt: Path, name: str, p: dict[str, Any], row: dict[str, Any],
                      report: ReplayReport, clock: _Clock, scratch: Path, remote: str | None) -> None:
    """A pinned folder: strict = its rebuilt Merkle digest is the pin; lenient = file by file.

    Both need the same file set. Strict names the files whose bytes changed; lenient compares
    each changed file's content with the pinned file's (fetched from the remote by its own md5,
    sha256-checked) and reports every file's largest drift.
    """
    folder = wt / p["path"]
    if not folder.is_dir():
        row.update(verdict="missing", reason="the stage did not produce the folder")
        return
    with clock.phase("hash"):
        built = {rel: hash_file(folder / rel) for rel in _built_listing(wt, p["path"])}
    row["sha256"] = directory_digest(FileEntry(rel, fd.sha256, fd.size) for rel, fd in built.items())
    row["file_count"] = len(built)
    if row["sha256"] == p["sha256"]:
        row["verdict"] = "identical"
        return
    manifest = Manifest.from_obj(p["manifest"], f"manifest of pin {name}")
    pinned = {e.path: e for e in load_listing(manifest, lambda rel: gitio.show(reg.root, scope.commit, rel))}
    added, removed = sorted(set(built) - set(pinned)), sorted(set(pinned) - set(built))
    changed = [r for r in sorted(set(built) & set(pinned)) if built[r].sha256 != pinned[r].sha256]
    files: dict[str, Any] = {
        "count": len(built), "pinned_count": len(pinned), "added": added, "removed": removed,
        "changed": [{"path": r, "sha256": built[r].sha256, "expected_sha256": pinned[r].sha256} for r in changed],
    }
    row["files"] = files
    listed = [f"+{r}" for r in added] + [f"-{r}" for r in removed] + changed
    named = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
    if report.policy == "strict" or added or removed:
        why = "strict needs identical bytes" if report.policy == "strict" else "lenient needs the same file set"
        row.update(verdict="differs", reason=f"directory digest differs from the pin ({why}): {len(listed)} of {len(pinned)} files differ: {named}")
        return
    from dvc_pedata.dvcio.repo import (  # lazy: imports DVC (~0.4 s); only the commands that touch DVC pay for it
        DvcRepo,
    )
    from dvc_pedata.lineage.compare import (  # lazy: numpy; only the paths that compare payloads pay for it
        compare,
    )

    layouts = manifest.schema.get("layouts") or []
    tol = float(report.tolerance or 0.0)
    worst: dict[str, float] = {}
    bad: list[str] = []
    with clock.phase("compare"), DvcRepo(reg.root) as repo:
        for i, f in enumerate(files["changed"]):
            e = pinned[f["path"]]
            target = folder / e.path
            fmt = (layouts[e.layout]["format"] if e.layout is not None and e.layout < len(layouts) else None) or detect_format(target)
            local = scratch / f"{name}-{i}{target.suffix}"
            try:
                if not e.md5:
                    raise PedataError("the pinned file list records no md5, so its DVC object cannot be located")
                fetch_pinned(reg, e.md5, e.sha256, local, remote, repo)
                cmp = compare(local, target, fmt, tol)
            except PedataError as exc:
                f.update(verdict="differs", drift=None, reason=exc.message)
                bad.append(f"{e.path}: {exc.message}")
                continue
            finally:
                local.unlink(missing_ok=True)
            f["max_drift"] = cmp.max_drift
            f["drift"] = max(cmp.max_drift.values(), default=0.0)
            for k, v in cmp.max_drift.items():
                worst[k] = max(worst.get(k, 0.0), v)
            if cmp.ok:
                f["verdict"] = "equivalent"
            else:
                f.update(verdict="differs", reason="; ".join(cmp.problems[:5]))
                bad.append(f"{e.path}: {cmp.problems[0]}")
    row["max_drift"] = worst
    if bad:
        row.update(verdict="differs", reason=f"{len(bad)} of {len(changed)} changed files differ beyond tolerance {tol:g}: " + "; ".join(bad[:3]))
    else:
        row.update(verdict="equivalent", reason=f"bytes differ in {len(changed)} of {len(pinned)} files; their content is equal within tolerance {tol:g}")


def summary(report: ReplayReport) -> str:
    """Human-readable lines: one per artifact, then environment drift and the verdict."""
    lines = [f"replay {report.ref} (commit {report.commit[:12]}), policy {report.policy}"
             + (f", tolerance {report.tolerance:g}" if report.tolerance is not None else "")]
    for i in report.inputs:
        if i["verdict"] != "ok":
            lines.append(f"  input {i['path']}: {i['verdict'].upper()} ({i.get('reason', '')})")
    for r in report.restored:
        if r["verdict"] != "ok":
            lines.append(f"  output {r['path']} of frozen stage {r['stage']}: {r['verdict'].upper()} ({r.get('reason', '')})")
    for a in report.artifacts:
        line = f"  {a['name']:<24} {a['verdict'].upper():<15} {a['path']}"
        if a.get("reason"):
            line += f"  ({a['reason']})"
        lines.append(line)
        drift = a.get("max_drift") or {}
        worst = sorted(drift.items(), key=lambda kv: -kv[1])[:3]
        if worst and any(v > 0 for _, v in worst):
            lines.append("      largest drift: " + ", ".join(f"{k} {v:.3g}" for k, v in worst))
        files = a.get("files") or {}
        shown = [f"+ {r} (not in the pin)" for r in files.get("added", [])] + [f"- {r} (not rebuilt)" for r in files.get("removed", [])]
        for f in files.get("changed", []):
            text = f"~ {f['path']}" + (f" {f['verdict']}" if f.get("verdict") else "")
            if f.get("drift") is not None:
                text += f", largest drift {f['drift']:.3g}"
            shown.append(text)
        lines.extend(f"      {t}" for t in shown[:10])
        if len(shown) > 10:
            lines.append(f"      ... {len(shown) - 10} more files")
    if report.not_replayable:
        ok = [r["path"] for r in report.restored if r["verdict"] == "ok"]
        lines.append("  not replayable (frozen, never run): " + ", ".join(report.not_replayable)
                     + (f"; outputs restored, md5-checked against dvc.lock: {', '.join(ok)}" if ok else ""))
    if report.environment:
        changes = [e for e in report.environment if e["what"] != "package" or e.get("change") != "hash"]
        rehashed = len(report.environment) - len(changes)
        shown = [_env_text(e) for e in changes[:5]] + ([f"and {len(changes) - 5} more"] if len(changes) > 5 else [])
        text = ", ".join(shown)
        if rehashed:
            text += ("; " if text else "") + f"{rehashed} package(s) re-hashed (same version, other contents)"
        lines.append(f"  environment: {len(report.environment)} difference(s) from {DEPS_LOCK}: {text}")
    t = report.timings
    lines.append("  timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in t.items()))
    if report.error:
        lines.append(f"  error: {report.error}")
    lines.append(f"replay {'PASSED' if report.ok else 'FAILED'}; report in {REPORT}")
    return "\n".join(lines)


def _env_text(e: dict[str, Any]) -> str:
    if e["what"] in ("python", "implementation", "platform"):
        return f"{e['what']} {e['locked']} -> {e['current']}"
    if e["what"] == "package":
        if e.get("change") == "added":
            return f"{e['name']} {e['current']} (not in the lock)"
        if e.get("change") == "removed":
            return f"{e['name']} {e['locked']} (locked, not installed)"
        return f"{e['name']} {e.get('locked')} -> {e.get('current')}"
    return str(e.get("change"))
