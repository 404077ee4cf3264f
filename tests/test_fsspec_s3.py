"""``pedata://`` with the bytes in S3 (moto's server on 127.0.0.1, real dvc-s3): every engine reads the
pinned bytes, and a byte flipped in the bucket makes every engine fail with nothing cached."""

from __future__ import annotations

import io
import os
from pathlib import Path

import duckdb
import fsspec  # noqa: E402
import pandas as pd
import polars as pl
import pyarrow.parquet as pq  # noqa: E402
import pytest
from support.commands import run_pedata  # noqa: E402
from support.frames import build, manifest, remote_key  # noqa: E402
from support.resolve import cache_objects  # noqa: E402

import dvc_pedata  # noqa: E402
from dvc_pedata.dataframes.filesystem import PedataFileSystem  # noqa: E402

PEOPLE = "pedata://us/people@v1.0.0"


def readers(reg, fs: PedataFileSystem) -> dict:
    opts = {"registry": str(reg.origin)}
    con = duckdb.connect()
    con.register_filesystem(fs)
    return {
        "pandas": lambda: pd.read_parquet(PEOPLE, storage_options=opts),
        "pyarrow": lambda: pq.read_table("us/people@v1.0.0", filesystem=fs).to_pandas(),
        "duckdb": lambda: con.sql(f"SELECT * FROM read_parquet('{PEOPLE}') ORDER BY person_id").df(),
        "polars": lambda: pl.read_parquet(dvc_pedata.open(PEOPLE, registry=reg.origin)).to_pandas(),
        "polars-path": lambda: pl.read_parquet(dvc_pedata.get_path(PEOPLE, registry=reg.origin)).to_pandas(),
        "fsspec": lambda: pd.read_parquet(io.BytesIO(fsspec.open(PEOPLE, "rb", **opts).open().read())),
        "read_table": lambda: dvc_pedata.read_table(PEOPLE, registry=reg.origin).to_pandas(),
    }


def test_engines_read_s3_bytes_and_refuse_a_flipped_byte(s3_remote, tmp_path, monkeypatch):
    reg = build(tmp_path / "reg", remote=s3_remote)
    cache = Path(os.environ["PEDATA_CACHE_DIR"])
    key = remote_key(manifest(reg, "people")["digest"]["md5"])
    good = s3_remote.read_object(key)

    # 1. A byte flipped in the bucket: every engine raises, nothing enters the cache.
    bad = bytearray(good)
    bad[100] ^= 0x20
    s3_remote.write_object(key, bytes(bad))
    res = run_pedata("get", PEOPLE, "-o", str(tmp_path / "never.parquet"), cwd=reg.origin)
    assert res.returncode == 3 and "corrupted bytes in the remote" in res.stderr, res
    fs = PedataFileSystem(registry=str(reg.origin))
    for name, read in readers(reg, fs).items():
        with pytest.raises(Exception, match="corrupted bytes in the remote") as exc:  # noqa: B017
            read()
        assert "nothing was cached" in str(exc.value), name
    assert cache_objects(cache) == []
    assert not (tmp_path / "never.parquet").exists()

    # 2. The bucket repaired: every engine reads what `pedata get` writes.
    s3_remote.write_object(key, good)
    res = run_pedata("get", PEOPLE, "-o", str(tmp_path / "people.parquet"), cwd=reg.origin)
    assert res.ok, res
    got = (tmp_path / "people.parquet").read_bytes()
    expected = pd.read_parquet(io.BytesIO(got))
    for name, read in readers(reg, fs).items():
        assert read().equals(expected), name
    with fs.open(PEOPLE) as fh:
        assert fh.read() == got
    assert fs.info("pedata://us/parts@v1.0.0/part-0.parquet")["format"] == "parquet"
    member = pd.read_parquet("pedata://us/parts@v1.0.0/part-0.parquet", storage_options={"registry": str(reg.origin)})
    assert member.equals(pd.read_parquet(reg.origin / "parts/part-0.parquet"))
