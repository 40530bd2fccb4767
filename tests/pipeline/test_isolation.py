"""The validation pass runs in a child with limits: a parser that eats memory or crashes costs
the file, never the daemon."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson
import pytest

from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.fs.claim import ClaimFolder
from ingestd.pipeline.isolation import ParserProcess
from ingestd.pipeline.staging import Opening, StageRequest
from ingestd.readers.json.reference import JsonReader
from tests.harness import Harness
from tests.integration.conftest import wait_until

LIMITS = ChunkLimits(100, 1 << 20)
DEEP = b'[{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]"


@pytest.fixture
def stager():
    stager = ParserProcess(memory_limit_mb=512, time_limit_seconds=60)
    yield stager
    stager.close()


def request(tmp_path, content: bytes, name: str = "in.json") -> StageRequest:
    (tmp_path / name).write_bytes(content)
    return StageRequest(ClaimFolder(tmp_path, name), JsonReader(), LIMITS)


def stage(stager: ParserProcess, tmp_path, content: bytes, checkpoint=lambda: None):
    return stager.stage(request(tmp_path, content), checkpoint)


def staged_lines(tmp_path, name: str = "in.json") -> int:
    try:
        return (tmp_path / f"{name}.staged").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_a_good_file_is_staged_in_the_child(stager, tmp_path):
    staged = stage(stager, tmp_path, orjson.dumps([{"a": i} for i in range(250)]))
    assert staged.total_records == 250 and staged.chunk_count == 3
    assert staged_lines(tmp_path) == 250


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
            os.kill(stager.pid, signal.SIGKILL)
            killed.append(stager.pid)

    big = orjson.dumps([{"i": i, "pad": "x" * 200} for i in range(400_000)])
    staged = stage(stager, tmp_path, big, kill_the_child_once)
    assert killed and staged.total_records == 400_000
    assert stager.pid is not None and stager.pid != killed[0]


def test_a_child_that_dies_twice_fails_the_file(stager, tmp_path):
    def kill_every_child():
        if stager.pid is not None:
            os.kill(stager.pid, signal.SIGSEGV)

    big = orjson.dumps([{"i": i, "pad": "x" * 200} for i in range(400_000)])
    with pytest.raises(InvalidInput, match=r"died on this file twice \(killed by SIGSEGV\)"):
        stage(stager, tmp_path, big, kill_every_child)


def test_the_daemon_path_fails_a_memory_bomb_and_keeps_going(tmp_path):
    stager = ParserProcess(memory_limit_mb=512, time_limit_seconds=60)
    h = Harness(tmp_path, stager=stager)
    try:
        assert h.run(h.drop("deep.json", DEEP)) == "failed"
        assert "memory limit" in h.report()["error"] and h.sent == []
        assert h.run(h.drop("good.json", [{"a": 1}])) == "done"
    finally:
        stager.close()
        h.close()


def test_stopping_kills_the_child_mid_file(stager, tmp_path):
    stop = threading.Event()
    from ingestd.errors import Interrupted

    def checkpoint():
        if stop.is_set():
            raise Interrupted()

    big = orjson.dumps([{"i": i, "pad": "x" * 200} for i in range(400_000)])
    threading.Timer(0.3, stop.set).start()
    with pytest.raises(Interrupted):
        stage(stager, tmp_path, big, checkpoint)
    assert stager.pid is None  # stopped with the file


def _request(tmp_path, name: str, records: int) -> StageRequest:
    content = orjson.dumps([{"n": name, "i": i} for i in range(records)])
    return request(tmp_path, content, f"{name}.json")


def test_the_next_file_is_staged_while_the_worker_sends_this_one(stager, tmp_path):
    """Sent ahead, the next request is staged while the worker sends this file; asking for it
    then takes the answer the child already has."""
    first, second = _request(tmp_path, "a", 10), _request(tmp_path, "b", 250)
    assert stager.stage(first, lambda: None).total_records == 10
    stager.stage_ahead(second)
    wait_until(lambda: staged_lines(tmp_path, "b.json") == 250, what="b staged ahead")
    staged = stager.stage(second, lambda: None)
    assert staged.total_records == 250 and staged.chunk_count == 3


def test_a_file_staged_ahead_is_begun_by_the_child(stager, tmp_path):
    """With an opening, the child also writes the journal and seals the index, while the worker
    is busy with the file before; asking for the same file (with or without the opening) takes
    that answer, and the begin entry it carries is the journal's."""
    stager.stage(_request(tmp_path, "a", 1), lambda: None)
    ahead = dataclasses.replace(
        _request(tmp_path, "b", 250), opening=Opening("products", "2026-12-07T11:00:00Z")
    )
    stager.stage_ahead(ahead)
    wait_until(ahead.claim.was_sent, what="b begun by the child: its index sealed")
    plain = dataclasses.replace(ahead, opening=None)
    assert stager.holds(plain)  # the worker takes this answer before it looks at the folder
    staged = stager.stage(plain, lambda: None)
    assert not stager.holds(plain)
    assert staged.begin is not None and staged.begin.total_records == 250
    with ahead.claim.open_journal() as journal:
        assert journal.state.begin == staged.begin


def test_a_file_staged_ahead_for_nothing_is_dropped(stager, tmp_path):
    """The worker asked for another file than the one staged ahead (the one ahead turned out
    unsafe, say): that answer is read and dropped, and the file asked for is staged."""
    first, ahead, other = (_request(tmp_path, n, r) for n, r in (("a", 1), ("b", 5), ("c", 7)))
    stager.stage(first, lambda: None)
    stager.stage_ahead(ahead)
    assert stager.stage(other, lambda: None).total_records == 7
    assert stager.stage(first, lambda: None).total_records == 1  # the pipe is in step again


def test_a_child_that_died_while_staging_ahead_is_replaced(stager, tmp_path):
    first, ahead = _request(tmp_path, "a", 1), _request(tmp_path, "b", 5)
    stager.stage(first, lambda: None)
    stager.stage_ahead(ahead)
    pid = stager.pid
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid), what="the child gone")
    assert stager.stage(ahead, lambda: None).total_records == 5
    assert stager.pid is not None and stager.pid != pid


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


ORPHAN = """
import sys
from pathlib import Path
from ingestd.core.chunking import ChunkLimits
from ingestd.fs.claim import ClaimFolder
from ingestd.pipeline.isolation import ParserProcess
from ingestd.pipeline.staging import Opening, StageRequest
from ingestd.readers.json.reference import JsonReader

if __name__ == "__main__":
    work = Path(sys.argv[1])
    stager = ParserProcess(memory_limit_mb=1024, time_limit_seconds=600)
    request = StageRequest(ClaimFolder(work, "big.json"), JsonReader(), ChunkLimits(1000, 1 << 20))
    stager.stage(request, lambda: None)
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
        staged = tmp_path / "big.json.staged"
        wait_until(lambda: _size(staged) > 0, timeout=60, what="staging under way")
        os.kill(daemon.pid, signal.SIGKILL)
        daemon.wait()
        wait_until(lambda: _size(staged) == _size_after(staged), what="staging stopped")
    finally:
        if daemon.poll() is None:
            os.kill(daemon.pid, signal.SIGKILL)
            daemon.wait()
    assert staged.read_bytes().count(b"\n") < records


def _size(path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _size_after(path, seconds: float = 0.5) -> int:
    time.sleep(seconds)  # a file that has stopped growing, checked twice half a second apart
    return _size(path)


def test_a_parser_gives_a_files_memory_back_once_it_has_answered(stager, tmp_path):
    """A long-lived parser does not keep the largest file's garbage resident until the next
    file (heap.give_back_freed_memory); without the trim it kept about 20 MB after this one."""
    import multiprocessing

    from bench.data import write_json

    def rss_mb(pid: int) -> float:
        return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024

    others = set(multiprocessing.active_children())
    for name, records in (("tiny", 1), ("large", 20_000)):
        folder = tmp_path / name
        folder.mkdir()
        write_json(folder / "in.json", records)
        limits = ChunkLimits(1000, 8 << 20)
        stager.stage(
            StageRequest(ClaimFolder(folder, "in.json"), JsonReader(), limits), lambda: None
        )
        (parser,) = set(multiprocessing.active_children()) - others
        if name == "tiny":
            at_rest = rss_mb(parser.pid)
    wait_until(lambda: rss_mb(parser.pid) < at_rest + 10, 10, "the parser's memory back")
