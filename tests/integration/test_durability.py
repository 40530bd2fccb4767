"""The order of durable operations, checked the way the ALICE study (Pillai et al., OSDI 2014)
checks applications: record the real system calls (strace), then assert that nothing is sent
to the receiver before the step it depends on is durable, and that every creation and rename is
followed by an fsync of its folder before anything relies on it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import Spool, inbox_config, wait_until

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")

CALLS = "mkdir,rename,renameat,renameat2,fsync,fdatasync,write,sendto,unlink"
LINE = re.compile(
    r"^(\d+)\s+(?:<\.\.\. )?(\w+)(?: resumed>)?\(?(.*?)\)?\s*(?:<unfinished \.\.\.>)?(?:= (-?\d+).*)?$"
)
QUOTED = re.compile(r'"([^"]*)"')
FD_PATH = re.compile(r"^\d+<(/[^>]*)>")
ON_DESCRIPTORS = ("fsync", "fdatasync", "write", "sendto")


@dataclass
class Call:
    name: str
    paths: list[str]
    text: str
    thread: str = ""

    def tells_another(self) -> bool:
        """Sends to the receiver, or answers over a socket (a parser process to its worker)."""
        return self.name == "sendto" or (self.name == "write" and "<socket:" in self.text)


def parse(trace: Path) -> list[Call]:
    """System calls in the order they completed; a call split across threads is placed where it
    finished, since only then is it done."""
    pending: dict[str, Call] = {}
    calls = []
    for line in trace.read_text(errors="replace").splitlines():
        match = LINE.match(line)
        if not match or line.endswith("+++") or "---" in line:
            continue
        pid, name, args = match.group(1), match.group(2), match.group(3)
        paths = FD_PATH.findall(args.strip()) if name in ON_DESCRIPTORS else QUOTED.findall(args)
        if "<unfinished ...>" in line:
            pending[pid] = Call(name, paths, line, pid)
            continue
        call = pending.pop(pid, None) if "resumed>" in line else None
        call = call or Call(name, paths, line, pid)
        if " = -1 " in line:
            continue
        calls.append(call)
    return calls


def posts(calls: list[Call]) -> list[int]:
    return [i for i, c in enumerate(calls) if c.name == "sendto" and "POST /callback" in c.text]


def first(calls: list[Call], predicate, start: int = 0, end: int | None = None) -> int | None:
    for i in range(start, len(calls) if end is None else end):
        if predicate(calls[i]):
            return i
    return None


def fsync_of(path: str):
    return lambda c: c.name in ("fsync", "fdatasync") and c.paths[:1] == [path]


@pytest.fixture
def traced(tmp_path, receiver):
    spool = Spool(tmp_path / "spool")
    config = tmp_path / "config.toml"
    settings = inbox_config(spool.root, receiver, chunk_records=2, settle_seconds=0.05)
    config.write_text("[[inbox]]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in settings.items()))
    trace = tmp_path / "trace.txt"
    log = open(tmp_path / "daemon.log", "wb")  # noqa: SIM115
    strace = subprocess.Popen(
        [
            "strace",
            "-f",
            "-y",
            "-s",
            "160",
            "-o",
            str(trace),
            "-e",
            f"trace={CALLS}",
            sys.executable,
            "-m",
            "ingestd",
            "run",
            "--config",
            str(config),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "INGESTD_LOG_FORMAT": "json"},
    )
    try:
        wait_until(lambda: b'"started"' in (tmp_path / "daemon.log").read_bytes(), what="start")
        yield spool, trace, strace
    finally:
        daemon_pid = _child_of(strace.pid)
        if daemon_pid:
            os.kill(daemon_pid, signal.SIGTERM)
        try:
            strace.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(strace.pid, signal.SIGKILL)
            strace.wait()
        log.close()


def _child_of(pid: int) -> int | None:
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children = task.read_text().split()
        if children:
            return int(children[0])
    return None


def _toml(value) -> str:
    import orjson

    return orjson.dumps(value).decode() if not isinstance(value, bool) else str(value).lower()


def test_nothing_is_sent_before_the_step_it_depends_on_is_durable(traced):
    spool, trace, strace = traced
    spool.drop("p.json", [{"n": i} for i in range(5)])  # 3 chunks of 2, then the completion
    wait_until(lambda: spool.data_files("done"), what="the file in done/")
    os.kill(_child_of(strace.pid), signal.SIGTERM)
    strace.wait(timeout=30)
    calls = parse(trace)
    sends = posts(calls)
    assert len(sends) == 4, "three chunks and a completion"
    (claim,) = [c for c in calls if c.name == "renameat2" and c.paths[0].endswith("/inbox/p.json")]
    claim_at = calls.index(claim)
    folder = os.path.dirname(claim.paths[1])
    work, inbox = os.path.dirname(folder), os.path.dirname(claim.paths[0])

    # the claim folder is created and made durable before the file is renamed into it
    mkdir_at = first(calls, lambda c: c.name == "mkdir" and c.paths == [folder])
    assert mkdir_at is not None and first(calls, fsync_of(work), mkdir_at, claim_at) is not None
    # the claim rename is durable (its folder, work/ and inbox/ fsynced) before the first send
    for directory in (folder, work, inbox):
        assert first(calls, fsync_of(directory), claim_at, sends[0]) is not None, directory
    # staged file and index are fsynced, then the journal is written, fsynced, renamed into
    # place and its folder fsynced, all before the first send
    journal = os.path.join(folder, "p.json.journal")
    staged = first(calls, fsync_of(journal.replace(".journal", ".staged")), claim_at, sends[0])
    index = first(calls, fsync_of(journal.replace(".journal", ".index")), claim_at, sends[0])
    tmp_synced = first(calls, fsync_of(journal + ".tmp"), claim_at, sends[0])
    renamed = first(
        calls,
        lambda c: c.name == "rename" and c.paths == [journal + ".tmp", journal],
        claim_at,
        sends[0],
    )
    assert None not in (staged, index, tmp_synced, renamed)
    assert staged < renamed and index < renamed and tmp_synced < renamed
    # the staged file's and the index's names are durable before the journal vouches for them
    assert first(calls, fsync_of(folder), max(staged, index), renamed) is not None
    assert first(calls, fsync_of(folder), renamed, sends[0]) is not None
    # every acknowledgement is appended and fsynced before the next chunk is sent
    for before, after in zip(sends, [*sends[1:], len(calls)], strict=True):
        written = first(
            calls, lambda c: c.name == "write" and c.paths[:1] == [journal], before, after
        )
        assert written is not None, "an ack was not recorded before the next send"
        assert first(calls, fsync_of(journal), written, after) is not None
    # the finishing rename is followed by fsyncs of both folders
    (finish,) = [c for c in calls if c.name == "renameat2" and c.paths[0] == folder]
    finish_at = calls.index(finish)
    assert finish_at > sends[-1]
    done_day = os.path.dirname(finish.paths[1])
    assert first(calls, fsync_of(done_day), finish_at) is not None
    assert first(calls, fsync_of(work), finish_at) is not None


def test_every_rename_and_creation_is_followed_by_an_fsync_of_its_folder(traced):
    """By the thread that made it, before that thread sends anything or answers its worker (a
    parser process begins the files after the first, and the worker goes by its answer)."""
    spool, trace, strace = traced
    for n in range(3):
        spool.drop(f"p{n}.json", [{"n": i} for i in range(3)])
    wait_until(lambda: len(spool.data_files("done")) == 3, what="three files in done/")
    os.kill(_child_of(strace.pid), signal.SIGTERM)
    strace.wait(timeout=30)
    calls = parse(trace)
    checked = 0
    for at, call in enumerate(calls):
        if call.name in ("rename", "renameat2"):
            target = call.paths[1]
        elif call.name == "mkdir":
            target = call.paths[0]
        else:
            continue
        if str(spool.root) not in target or target.endswith(".retry.json"):
            continue  # the retry note is advisory and never relied upon
        parent = os.path.dirname(target)
        mine = call.thread

        def told(c: Call, mine: str = mine) -> bool:
            return c.thread == mine and c.tells_another()

        def synced_by_me(c: Call, mine: str = mine, parent: str = parent) -> bool:
            return c.thread == mine and fsync_of(parent)(c)

        synced = first(calls, synced_by_me, at + 1, first(calls, told, at + 1))
        assert synced is not None, f"{call.text} is not followed by an fsync of {parent}"
        checked += 1
    assert checked >= 3 * 4  # per file: claim folder, claim rename, journal rename, finish rename
