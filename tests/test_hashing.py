"""The hash memo on many files: a folder's thousands of small files, hashed in a child process.

What a user would notice: the digests are hashlib's, a second pass reads nothing, an edited file
is read again, a file that cannot be read is the same error as without the child, and a caller's
stop (publish refusing during its checks) ends the pass instead of waiting for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import dvc_pedata
from dvc_pedata.base.hashing import (
    BLOCK,
    CHILD_MIN_FILES,
    HashState,
    Stop,
    Stopped,
    hash_in_child,
    hash_stream,
)

FILES = CHILD_MIN_FILES + 44  # enough for the child process


def _folder(tmp_path, n=FILES):
    folder = tmp_path / "areas"
    rels = []
    for i in range(n):
        rel = f"r{i % 7}/part {i:04d}\n.bin" if i == 5 else f"r{i % 7}/part{i:04d}.bin"  # one name with a newline
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(os.urandom(100 + i))
        rels.append(rel)
    return folder, sorted(rels)


def test_many_files_hash_in_a_child_to_hashlibs_digests_and_the_memo_answers_the_next_pass(tmp_path):
    folder, rels = _folder(tmp_path)
    with HashState(tmp_path / "memo.db") as state:
        out, read = state.hash_many(folder, rels, md5=True)
    assert sorted(read) == rels
    for rel in rels:
        data = (folder / rel).read_bytes()
        assert (out[rel].sha256, out[rel].size, out[rel].md5) == (
            hashlib.sha256(data).hexdigest(), len(data), hashlib.md5(data).hexdigest())
    # a new connection (the next command): nothing read; one edited file read again
    (folder / rels[3]).write_bytes(b"edited")
    with HashState(tmp_path / "memo.db") as state:
        again, read = state.hash_many(folder, rels, md5=True)
    assert read == [rels[3]]
    assert again[rels[3]].sha256 == hashlib.sha256(b"edited").hexdigest()
    assert {r: again[r] for r in rels if r != rels[3]} == {r: out[r] for r in rels if r != rels[3]}


def test_the_child_gives_up_on_a_missing_file_and_the_caller_reports_it_itself(tmp_path):
    folder, rels = _folder(tmp_path)
    assert hash_in_child(str(folder), [*rels, "r0/gone.bin"], False, None) is None
    with HashState(tmp_path / "memo.db") as state, pytest.raises(FileNotFoundError):
        state.hash_many(folder, [*rels, "r0/gone.bin"])


def test_a_stop_ends_the_pass_in_the_child(tmp_path):
    folder, rels = _folder(tmp_path)
    os.mkfifo(folder / "r0/aaa-fifo")  # first in the pass: the child blocks opening it, as on a stalled disk
    rels = sorted([*rels, "r0/aaa-fifo"])
    stop = Stop()
    stopped: list[BaseException] = []

    def run():
        with HashState(tmp_path / "memo.db") as state:
            try:
                state.hash_many(folder, rels, md5=True, stop=stop)
            except Stopped as exc:
                stopped.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.5)
    stop.set()
    worker.join(30)
    if worker.is_alive():  # not stopped: unblock it so the suite does not hang, then fail
        with open(folder / "r0/aaa-fifo", "wb"):
            pass
        worker.join(30)
    assert len(stopped) == 1
    stop_before = Stop()
    stop_before.set()
    with HashState(tmp_path / "memo2.db") as state, pytest.raises(Stopped):
        state.hash_many(folder, rels, stop=stop_before)


def test_md5_beside_sha256_gives_both_digests_for_any_chunking():
    # large chunks take their md5 on a second thread; small ones in line; any mix, same digests
    rnd = random.Random(7)
    data = rnd.randbytes(5 * BLOCK + 12345)
    for sizes in ([BLOCK] * 6, [7, BLOCK, 3, BLOCK // 4, BLOCK // 4 - 1, 2 * BLOCK], [len(data)], [1] * 50 + [len(data)]):
        chunks, at = [], 0
        for n in sizes:
            chunks.append(data[at:at + n])
            at += n
        chunks.append(data[at:])
        got = hash_stream(iter(chunks), md5=True)
        assert (got.sha256, got.md5, got.size) == (hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data))


def test_the_child_writes_its_lines_in_blocks_even_under_pythonunbuffered(tmp_path):
    """PYTHONUNBUFFERED (set in many CI images) made the child write each file's line on its own:
    the caller's thread then woke once per file and took the GIL from the push beside it. The
    child's own count of write calls (Linux's /proc/self/io) says how it wrote."""
    folder, rels = _folder(tmp_path)
    root = str(Path(dvc_pedata.__file__).resolve().parents[1])
    code = (f"import sys; sys.path.insert(0, {root!r}); from dvc_pedata.base.hashing import _child; _child();"
            " sys.stderr.write(open('/proc/self/io').read())")
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps({"base": str(folder), "rels": rels, "md5": True}),
                          capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=True)
    assert len(proc.stdout.splitlines()) == len(rels)
    writes = int(next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("syscw:")))
    assert writes < len(rels) // 10, writes  # one write per file before (300 here)
