"""The exception tree: drawn whole in errors.py, and every foreign exception translated where it
is met into the most specific class, with the metrics label and report reason it implies."""

from __future__ import annotations

import errno
import inspect
import os
import pickle
import re

import httpx
import pytest

from ingestd import errors
from ingestd.core import protocol
from ingestd.errors import (
    Declined,
    FileFailed,
    InternalError,
    Interrupted,
    InvalidInput,
    JournalCorrupt,
    ParserUnavailable,
    ReadAgain,
    ReceiverLostState,
    ReceiverRejected,
    ReceiverUnavailable,
    Reread,
    SpoolIOError,
    Transient,
    UnsafeFile,
    WorkDamaged,
)
from ingestd.fs.claim import ClaimFolder
from ingestd.fs.durable import Disk, open_regular
from ingestd.fs.journal import JournalFile
from ingestd.fs.spool import Layout, Spool
from ingestd.pipeline.sender import Sender

CLASSES = [
    value
    for value in vars(errors).values()
    if inspect.isclass(value) and issubclass(value, errors.IngestdError)
]


def test_the_docstring_draws_every_class_of_the_tree():
    """Each class is a node of the drawing, under its parent's branch."""
    drawn = re.findall(r"^ {4}[│ ]*(?:[├└]── )?([A-Z]\w+)", errors.__doc__ or "", re.M)
    assert sorted(drawn) == sorted(kind.__name__ for kind in CLASSES)


@pytest.mark.parametrize(
    "kind,parent",
    [
        (ReceiverUnavailable, Transient),
        (SpoolIOError, Transient),
        (ParserUnavailable, Transient),
        (ReceiverLostState, ReceiverRejected),
        (Declined, ReadAgain),
        (Reread, ReadAgain),
        (Interrupted, errors.IngestdError),
    ],
)
def test_the_tree_is_as_drawn(kind, parent):
    assert issubclass(kind, parent)


def test_every_file_failure_has_its_own_reason_and_advice():
    failures = [k for k in CLASSES if issubclass(k, FileFailed) and k is not FileFailed]
    kinds = [k.kind for k in failures]
    assert len(set(kinds)) == len(kinds) == 9
    assert all(k.advice != FileFailed.advice for k in failures)


@pytest.mark.parametrize(
    "failure",
    [
        InvalidInput("bad", record_index=3, byte_offset=17, line=2),
        UnsafeFile("a link"),
        InternalError("a bug", exception="KeyError", traceback="..."),
    ],
)
def test_a_failure_crosses_from_the_parser_process_whole(failure):
    """The parser process sends the exception itself: class, message and where survive."""
    again = pickle.loads(pickle.dumps(failure))
    assert type(again) is type(failure)
    assert (again.message, again.where) == (failure.message, failure.where)


def test_a_transient_error_crosses_with_its_label():
    again = pickle.loads(pickle.dumps(SpoolIOError("disk full", "local_io")))
    assert type(again) is SpoolIOError and (again.reason, again.label) == ("disk full", "local_io")


def sender_raising(exc: Exception) -> Sender:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return Sender("http://127.0.0.1:9/cb", 1, httpx.MockTransport(handler))


@pytest.mark.parametrize(
    "foreign,label",
    [
        (httpx.ConnectError("refused"), "connection"),
        (httpx.ReadError("reset"), "connection"),
        (httpx.RemoteProtocolError("garbled"), "connection"),
        (httpx.ConnectTimeout("slow"), "timeout"),
        (httpx.ReadTimeout("slow"), "timeout"),
        (httpx.PoolTimeout("busy"), "timeout"),
    ],
)
def test_httpx_errors_become_receiver_unavailable(foreign, label):
    sender = sender_raising(foreign)
    with pytest.raises(ReceiverUnavailable) as caught:
        sender.post(b"{}", "k")
    assert caught.value.label == label and caught.value.__cause__ is foreign


@pytest.mark.parametrize(
    "status,body,label",
    [
        (503, b"", "http_503"),
        (429, b"", "http_429"),
        (200, b"<html>proxy</html>", "not_json"),
        (200, b'{"ack": true, "chunk_number": 99}', "wrong_answer"),
        (200, b'{"ack": false, "error": "Checksum mismatch"}', "checksum_mismatch"),
    ],
)
def test_answers_to_try_again_carry_a_bounded_metrics_label(status, body, label):
    decision = protocol.classify(
        status, {}, body, sent_ingestion_id="a" * 64, sent_chunk_number=1, now=0.0
    )
    assert isinstance(decision, (protocol.RetryLater, protocol.ResendChecksum))
    assert decision.label == label


def failing(code: int):  # type: ignore[no-untyped-def]
    def fault(site: str) -> None:
        raise OSError(code, os.strerror(code))

    return fault


def test_local_io_errors_become_spool_io_errors(tmp_path):
    """Disk full while claiming, sealing, reporting or appending: try again later."""
    layout = Layout(tmp_path / "spool")
    layout.create(Disk())
    (layout.inbox / "a.json").write_bytes(b"[]")
    full = Disk(failing(errno.ENOSPC))
    with pytest.raises(SpoolIOError):
        Spool(layout, ["*.json"], disk=full).claim("a.json", 0.0)
    claim = Spool(layout, ["*.json"]).claim("a.json", 0.0)
    assert claim is not None
    broken = ClaimFolder(claim.folder, claim.name, full, claim.parents)
    for step in (broken.make_durable, lambda: broken.write_report({"a": 1})):
        with pytest.raises(SpoolIOError):
            step()
    journal_path = claim.folder / "a.json.journal"
    journal_path.write_bytes(b"")
    with pytest.raises(JournalCorrupt):
        JournalFile.open(journal_path, full)


def test_an_entry_that_is_not_a_plain_file_is_unsafe(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "a").write_bytes(b"[]")
    os.link(tmp_path / "a", tmp_path / "b")
    os.symlink(tmp_path / "a", tmp_path / "link")
    for name in ("fifo", "b", "link", "missing"):
        with pytest.raises(UnsafeFile):
            open_regular(tmp_path / name)


def test_a_damaged_index_is_work_damaged(tmp_path):
    claim = ClaimFolder(tmp_path, "x.json")
    (tmp_path / "x.json.chunks").write_bytes(b"short")
    (tmp_path / "x.json.staged").write_bytes(b"")
    with claim.chunks() as chunks, pytest.raises(WorkDamaged):
        chunks.span(0)
