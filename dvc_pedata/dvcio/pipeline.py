"""DVC for the pipeline: stages of ``dvc.yaml``/``dvc.lock`` as plain facts, ``dvc repro`` in a
scratch worktree, and that worktree's remotes (lineage, locks, replay, publish)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvc.exceptions import DvcException

from dvc_pedata.dvcio.repo import DvcRepo
from dvc_pedata.errors import DvcError


# -- the stage graph (lineage, locks, replay) -----------------------------------------------------
@dataclass
class StageInfo:
    """One DVC stage as lineage sees it: paths are repo-relative posix, hashes come from the lock.

    ``deps``/``outs`` entries are ``{"path", "md5", "size", "is_dir"}``; ``params`` maps a params
    file to the values recorded in ``dvc.lock`` (or declared, when the stage never ran).
    """

    name: str  # "generate" for dvc.yaml stages, the .dvc file path for data sources
    target: str  # what `dvc repro` accepts: "dvc.yaml:generate" or "data/raw.csv.dvc"
    dvcfile: str
    cmd: str | None
    frozen: bool
    data_source: bool  # a `dvc add`-ed file: no command, its outs are raw inputs
    import_url: str | None  # `dvc import-url` / `dvc import` source, if any
    deps: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    outs: list[dict[str, Any]] = field(default_factory=list)
    upstream: list[str] = field(default_factory=list)  # targets of the stages it depends on


def _entry(repo: Any, item: Any) -> dict[str, Any]:
    hi = item.hash_info
    return {
        "path": Path(repo.fs.relpath(item.fs_path, repo.root_dir)).as_posix(),
        "md5": hi.value if hi and hi.value else None,
        "size": item.meta.size if getattr(item, "meta", None) else None,
        "is_dir": bool(hi and hi.isdir),
        "hash": hi.name if hi and hi.value else None,  # "md5" (DVC 3) or legacy "md5-dos2unix"
    }


def _stage_target(stage: Any) -> tuple[str, str, str]:
    """(dvcfile, name, target) of a DVC stage: ``dvc.yaml:generate``, or the ``.dvc`` file."""
    dvcfile = Path(stage.path_in_repo).as_posix()
    pipeline = bool(getattr(stage, "name", None)) and dvcfile.endswith((".yaml", ".yml"))
    name = stage.name if pipeline else dvcfile
    return dvcfile, name, f"{dvcfile}:{name}" if pipeline else dvcfile


def _stage_info(repo: Any, stage: Any) -> StageInfo:
    dvcfile, name, target = _stage_target(stage)
    deps, params = [], {}
    for dep in stage.deps:
        if dep.__class__.__name__ == "ParamsDependency":
            rel = Path(repo.fs.relpath(dep.fs_path, repo.root_dir)).as_posix()
            recorded = dict(dep.hash_info.value or {}) if dep.hash_info else {}
            params[rel] = recorded or {k: None for k in (dep.params or [])}
            continue
        if stage.is_import:
            continue
        deps.append(_entry(repo, dep))
    import_url = None
    if stage.is_import and stage.deps:
        dep = stage.deps[0]
        repo_info = getattr(dep, "def_repo", None) or {}
        import_url = f"{repo_info.get('url')}@{repo_info.get('rev_lock') or repo_info.get('rev') or 'HEAD'}:{dep.def_path}" if repo_info else str(dep.def_path)
    return StageInfo(
        name=name,
        target=target,
        dvcfile=dvcfile,
        cmd=stage.cmd or None,
        frozen=bool(stage.frozen),
        data_source=bool(stage.is_data_source),
        import_url=import_url,
        deps=sorted(deps, key=lambda d: d["path"]),
        params={k: dict(sorted(v.items())) for k, v in sorted(params.items())},
        outs=sorted((_entry(repo, o) for o in stage.outs), key=lambda d: d["path"]),
    )


def pipeline_stages(root: Path | str, rev: str | None = None, *, repo: DvcRepo | None = None,
                    upstream: bool = True) -> list[StageInfo]:
    """Every stage of the project at ``root`` (at git ``rev`` if given), with upstream links.

    Upstream links come from DVC's own ``repo.index.graph`` (edges consumer -> producer), so
    lineage agrees with what ``dvc repro`` would run. ``upstream=False`` (publish's locks need
    the stages, not their order) skips the graph, and networkx with it (12 MB); ``repo``: an
    already open repository at ``root`` (publish has one; a second costs its own index).
    """
    if repo is not None:
        return _stages(repo.repo, upstream)
    with DvcRepo(root, rev=rev) as dr:
        return _stages(dr.repo, upstream)


def _stages(repo: Any, upstream: bool) -> list[StageInfo]:
    try:
        graph = repo.index.graph if upstream else None
        stages = list(graph.nodes) if graph is not None else list(repo.index.stages)
    except DvcException as exc:
        raise DvcError(f"cannot read the pipeline: {exc}") from exc
    infos = {stage: _stage_info(repo, stage) for stage in stages}
    for consumer, producer in graph.edges if graph is not None else ():
        infos[consumer].upstream.append(infos[producer].target)
    out = sorted(infos.values(), key=lambda s: s.target)
    for s in out:
        s.upstream.sort()
    return out


def reproduce(root: Path | str, targets: list[str]) -> list[str]:
    """``dvc repro --force`` of ``targets`` and their upstream stages.

    Force is required: without it DVC skips an unchanged stage whose outputs are present (e.g.
    committed to git with ``cache: false``) and restores missing ones from its run cache without
    running the command, which would prove nothing. Run this only in a scratch worktree: it
    rewrites ``dvc.lock``. Returns the targets (``dvc.yaml:name``) DVC reports as reproduced;
    with force that includes frozen and ``dvc add`` stages, whose commands did not run.
    """
    import os
    import sys

    with DvcRepo(root) as dr:
        # Targets are resolved against the current folder by DVC: make them absolute.
        absolute = [str(dr.root / t) for t in targets]
        # Stage commands inherit stdout; pedata's stdout is for its report (--json), so the
        # commands' output goes to stderr, where a user still sees it.
        # DVC also resolves some paths against the current folder: run from the project.
        sys.stdout.flush()
        saved, cwd = os.dup(1), os.getcwd()
        os.dup2(2, 1)
        try:
            os.chdir(dr.root)
            ran = dr.repo.reproduce(absolute, force=True)
        except DvcException as exc:
            cause = exc.__cause__ or exc
            raise DvcError(f"dvc repro failed: {' '.join(str(cause).split())[:300]}") from exc
        finally:
            os.chdir(cwd)
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        return [_stage_target(s)[2] for s in ran or []]


def configure_scratch(root: Path | str, remotes: dict[str, dict[str, Any]], default: str | None) -> None:
    """Point a scratch worktree at the original repository's remotes.

    Remote URLs in ``.dvc/config`` may be relative to the config file (the example registry's
    are), which breaks in a worktree elsewhere; DVC has already resolved them to absolute paths
    in ``remotes``. Written to ``.dvc/config.local``, like credentials.
    """
    with DvcRepo(root) as dr, dr.repo.config.edit("local") as conf:
        for name, opts in remotes.items():
            conf["remote"].setdefault(name, {})
            for key, value in opts.items():
                if isinstance(value, str):
                    conf["remote"][name][key] = value
        if default:
            conf["core"]["remote"] = default
