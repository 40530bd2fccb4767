"""The validation pass runs in a child with limits: a parser that eats memory or crashes costs
the file, never the daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import orjson
import pytest

from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.pipeline.isolation import IsolatedStager
from ingestd.readers.json.reference import JsonReader
from tests.harness import Harness
from tests.integration.conftest import wait_until

LIMITS = ChunkLimits(100, 1 << 20)
DEEP = b'[{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]"


@pytest.fixture
def stager():
    stager = IsolatedStager(memory_limit_mb=512, time_limit_seconds=60)
    yield stager
    stager.close()


def stage(stager: IsolatedStager, tmp_path, content: bytes, checkpoint=lambda: None):
    (tmp_path / "in.json").write_bytes(content)
    return stager(
        tmp_path / "in.json", JsonReader(), LIMITS, tmp_path / "s", tmp_path / "i", checkpoint
    )


def test_a_good_file_is_staged_in_the_child(stager, tmp_path):
    staged = stage(stager, tmp_path, orjson.dumps([{"a": i} for i in range(250)]))
    assert staged.total_records == 250 and staged.chunk_count == 3
    assert (tmp_path / "s").read_bytes().count(b"\n") == 250


def test_invalid_input_comes_back_with_its_location(stager, tmp_path):
    with pytest.raises(InvalidInput, match="record 1 is a number") as failure:
        stage(stager, tmp_path, b'[{"a": 1}, 2]')
    assert failure.value.where["record_index"] == 1


def test_deep_nesting_that_eats_gigabytes_fails_the_file_within_the_memory_limit(stager, tmp_path):
    """100,000 nested brackets (200 kB) make ijson build gigabytes of prefixes: the child hits
    its limit, the file fails, and the same child process is still usable."""
    started = time.monotonic()
    with pytest.raises(InvalidInput, match="memory limit"):
        stage(stager, tmp_path, DEEP)
    assert time.monotonic() - started < 60
    assert stage(stager, tmp_path, b'[{"a": 1}]').total_records == 1


def test_a_child_killed_once_is_replaced_and_the_file_tried_again(stager, tmp_path):
    killed = []

    def kill_the_child_once():
        if not killed:
            (pid,) = stager.pids()
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    big = orjson.dumps([{"i": i, "pad": "x" * 200} for i in range(400_000)])
    staged = stage(stager, tmp_path, big, kill_the_child_once)
    assert killed and staged.total_records == 400_000
    assert stager.pids() and killed[0] not in stager.pids()


def test_a_child_that_dies_twice_fails_the_file(stager, tmp_path):
    def kill_every_child():
        for pid in stager.pids():
            os.kill(pid, signal.SIGSEGV)

    big = orjson.dumps([{"i": i, "pad": "x" * 200} for i in range(400_000)])
    with pytest.raises(InvalidInput, match=r"died on this file twice \(killed by SIGSEGV\)"):
        stage(stager, tmp_path, big, kill_every_child)


def test_the_daemon_path_fails_a_memory_bomb_and_keeps_going(tmp_path):
    h = Harness(tmp_path)
    h.runtime.stager = IsolatedStager(memory_limit_mb=512, time_limit_seconds=60)
    try:
        assert h.run(h.drop("deep.json", DEEP)) == "failed"
        assert "memory limit" in h.report()["error"] and h.sent == []
        assert h.run(h.drop("good.json", [{"a": 1}])) == "done"
    finally:
        h.runtime.stager.close()
        h.close()


def test_stopping_kills_the_child_mid_file(stager, tmp_path):
    stop = threading.Event()
    from ingestd.errors import Interrupted

    def checkpoint():
        if stop.is_set():
            raise Interrupted()

    big = orjson.dumps([{"i": i, "pad": "x" * 200} for i in range(400_000)])
    (tmp_path / "in.json").write_bytes(big)
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(Interrupted):
        stager(
            tmp_path / "in.json", JsonReader(), LIMITS, tmp_path / "s", tmp_path / "i", checkpoint
        )
    wait_until(lambda: not stager.pids(), timeout=5, what="the child to be gone")


def _request(tmp_path, name: str, records: int):
    source = tmp_path / f"{name}.json"
    source.write_bytes(orjson.dumps([{"n": name, "i": i} for i in range(records)]))
    return (source, JsonReader(), LIMITS, tmp_path / f"{name}.s", tmp_path / f"{name}.i")


def test_the_next_file_is_staged_while_the_worker_sends_this_one(stager, tmp_path):
    """After staging a file, the child starts on the one the worker will ask for next; asking
    for it then takes the answer the child already has."""
    first, second = _request(tmp_path, "a", 10), _request(tmp_path, "b", 250)
    upcoming = [second]
    stager.stage_ahead(lambda _: upcoming.pop() if upcoming else None)
    assert stager(*first, lambda: None).total_records == 10
    assert stager._local.child.conn.poll(30)  # the child answered before it was asked
    staged = stager(*second, lambda: None)
    assert staged.total_records == 250 and staged.chunk_count == 3
    assert (tmp_path / "b.s").read_bytes().count(b"\n") == 250


def test_a_file_staged_ahead_for_nothing_is_dropped(stager, tmp_path):
    """The worker asked for another file than the one staged ahead (the one ahead turned out
    unsafe, say): that answer is read and dropped, and the file asked for is staged."""
    first, ahead, other = (_request(tmp_path, n, r) for n, r in (("a", 1), ("b", 5), ("c", 7)))
    upcoming = [ahead]
    stager.stage_ahead(lambda _: upcoming.pop() if upcoming else None)
    stager(*first, lambda: None)
    assert stager(*other, lambda: None).total_records == 7
    assert stager(*first, lambda: None).total_records == 1  # the pipe is in step again


def test_a_child_that_died_while_staging_ahead_is_replaced(stager, tmp_path):
    first, ahead = _request(tmp_path, "a", 1), _request(tmp_path, "b", 5)
    upcoming = [ahead]
    stager.stage_ahead(lambda _: upcoming.pop() if upcoming else None)
    stager(*first, lambda: None)
    pid = next(iter(stager.pids()))
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not stager._local.child.process.is_alive(), what="the child gone")
    assert stager(*ahead, lambda: None).total_records == 5
    assert stager.pids() and pid not in stager.pids()


ORPHAN = """
import sys
from pathlib import Path
from ingestd.core.chunking import ChunkLimits
from ingestd.pipeline.isolation import IsolatedStager
from ingestd.readers.json.reference import JsonReader

if __name__ == "__main__":
    work = Path(sys.argv[1])
    stager = IsolatedStager(memory_limit_mb=1024, time_limit_seconds=600)
    stager(work / "big.json", JsonReader(), ChunkLimits(1000, 1 << 20), work / "s", work / "i",
           lambda: None)
"""


def test_a_parser_child_stops_when_the_daemon_is_killed(tmp_path):
    """A child left staging after the daemon was killed could still write a claim's staged
    file while the restarted daemon stages it again. It stops at its next checkpoint."""
    records = 600_000
    (tmp_path / "big.json").write_bytes(
        orjson.dumps([{"sku": i, "name": "x" * 20} for i in range(records)])
    )
    (tmp_path / "daemon.py").write_text(ORPHAN)
    daemon = subprocess.Popen([sys.executable, str(tmp_path / "daemon.py"), str(tmp_path)])
    try:
        wait_until(lambda: _size(tmp_path / "s") > 0, timeout=60, what="staging under way")
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait()
        wait_until(
            lambda: _size(tmp_path / "s") == _size_after(tmp_path / "s"), what="staging stopped"
        )
    finally:
        if daemon.poll() is None:
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait()
    assert (tmp_path / "s").read_bytes().count(b"\n") < records


def _size(path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _size_after(path, seconds: float = 0.5) -> int:
    time.sleep(seconds)  # a file that has stopped growing, checked twice half a second apart
    return _size(path)
