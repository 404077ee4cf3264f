"""Dask on a real ``distributed.LocalCluster`` (2 worker processes) reading a folder through ``pedata://``.

The workers share one pedata cache (``$PEDATA_CACHE_DIR``, inherited by the worker processes) and
receive the filesystem pickled with its storage options. Each part must be downloaded exactly once
(one cache object per sha256, one ``remote:`` line per sha256 in the access log) however the
scheduler spreads the reads, and a part revoked with ``pedata revoke`` must fail the computation with
the revocation's reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dask.dataframe as dd
import distributed
import pandas as pd
import pytest
from support.commands import run_pedata  # noqa: E402
from support.frames import PARTS, build, manifest  # noqa: E402
from support.resolve import cache_objects  # noqa: E402

from dvc_pedata.dataframes.filesystem import PedataFileSystem  # noqa: E402

pytestmark = pytest.mark.slow
PARTS_URI = "pedata://us/parts@latest"


def access_lines(cache: Path) -> list[dict]:
    return [json.loads(x) for x in (cache / "access.log").read_text().splitlines()]


def test_dask_cluster_reads_each_part_once_and_fails_on_a_revoked_part(tmp_path, monkeypatch):
    reg = build(tmp_path / "reg")
    cache = Path(os.environ["PEDATA_CACHE_DIR"])
    opts = {"registry": str(reg.origin)}
    expected = pd.read_parquet(reg.origin / "parts")  # the folder DVC built, read by pandas
    entries = manifest(reg, "parts")["files"]["entries"]
    shas = sorted(e["sha256"] for e in entries)
    assert len(set(shas)) == PARTS
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        frame = dd.read_parquet(PARTS_URI, storage_options=opts)
        assert frame.npartitions == PARTS
        got = frame.compute().reset_index(drop=True)
        # Dask maps strings to its own string dtype; the values must be the pandas read's, row for row.
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
        assert got.to_dict("list") == expected.to_dict("list")
        pids = client.run(os.getpid)
        assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()

        objects = sorted(p.parent.name + p.name for p in cache_objects(cache))
        assert objects == shas  # one verified object per part, no temp file left
        fetched = [line["sha256"] for line in access_lines(cache) if line["source"].startswith("remote:")]
        assert sorted(fetched) == shas  # each part came from the remote exactly once

        # A long-lived instance (fsspec caches them) remembers info answers; a revocation must show.
        early = PedataFileSystem(**opts)
        assert early.info("us/parts@v1.0.0")["type"] == early.info("us/parts@v1.0.0")["type"] == "directory"

        # Revoke one part (the real CLI, signed by alice): the folder still lists, the part is refused.
        bad = next(e for e in entries if e["path"] == "part-3.parquet")
        res = run_pedata("revoke", bad["sha256"], "--reason", "consent withdrawn for wave 3",
                         "--authority", "Census Bureau", "--sign", "alice", cwd=reg.origin, env=reg.env)
        assert res.ok, res
        fs = PedataFileSystem(**opts)
        assert fs.info("us/parts@latest/part-3.parquet")["sha256"] == bad["sha256"]
        listed = {e["name"]: e for e in fs.ls(PARTS_URI)}
        assert "consent withdrawn for wave 3" in listed["us/parts@latest/part-3.parquet"]["revoked"]
        message = get_error(reg, "pedata://us/parts@latest;path=part-3.parquet", tmp_path)
        with pytest.raises(PermissionError) as exc:
            fs.open("us/parts@latest/part-3.parquet")
        assert str(exc.value) == message and "consent withdrawn for wave 3" in message

        with pytest.raises(Exception, match="consent withdrawn for wave 3"):  # noqa: B017 - raised in a worker
            dd.read_parquet(PARTS_URI, storage_options=opts).compute()

    # The release that pinned the folder is now unreproducible: the folder is refused as a whole,
    # its other files stay readable one by one (as with `pedata get ...;path=`).
    assert fs.ls("pedata://us")[1]["releases"]["1.0.0"]["status"] == "unreproducible"
    with pytest.raises(PermissionError, match="unreproducible"):
        fs.ls("pedata://us/parts@v1.0.0")
    with pytest.raises(PermissionError, match="unreproducible"):
        early.info("us/parts@v1.0.0")
    one = pd.read_parquet("pedata://us/parts@v1.0.0/part-0.parquet", storage_options=opts)
    assert one.equals(pd.read_parquet(reg.origin / "parts/part-0.parquet"))
    with pytest.raises(PermissionError, match="consent withdrawn for wave 3"):
        pd.read_parquet("pedata://us/parts@v1.0.0/part-3.parquet", storage_options=opts)


def get_error(reg, uri: str, tmp_path: Path) -> str:
    res = run_pedata("get", uri, "-o", str(tmp_path / "never"), cwd=reg.origin)
    assert res.returncode != 0, res
    (line,) = [ln for ln in res.stderr.splitlines() if ln.strip()]
    return line.removeprefix("pedata: error: ")
