"""One file's life against the real receiver logic, with faults injected at the HTTP seam."""

import os
import stat

import httpx
import orjson
import pytest

from ingestd.core.journal import replay
from ingestd.errors import Interrupted
from ingestd.failpoints import Armed, FailpointError, Failpoints
from ingestd.fs.claim import CHUNKS, INDEX, JOURNAL, REPORT, STAGED
from ingestd.receiver.app import ReceiverApp
from tests.harness import Harness, lose_answer, passthrough, raises, status, then_stop
from tests.legacy_receiver import LegacyState


def beside(claim, suffix: str):
    """A file of the claim folder, by the names fs/claim.py documents."""
    return claim.folder / (claim.name + suffix)


RECORDS = [{"sku": f"S{i}", "price": i + 0.99, "name": "Prodüct"} for i in range(7)]


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path)
    yield harness
    harness.close()


def ingestion_id(h: Harness) -> str:
    return h.sent[0]["ingestion_id"]


def stopped_after_two_chunks(h: Harness):
    """Run until two chunks are acknowledged, then stop as a SIGTERM would."""
    claim = h.drop("products.json", RECORDS)
    h.faults = [passthrough, then_stop]
    with pytest.raises(Interrupted):
        h.run(claim)
    return claim


def journal_of(h: Harness, outcome: str = "done"):
    (path,) = [p for p in h.finished(outcome) if p.name.endswith(".journal")]
    return replay(path.read_bytes())


def test_a_file_is_delivered_in_order_then_completed_and_moved_to_done(h):
    """Every record exactly once, in order, then the completion, then done/ with its journal."""
    claim = h.drop("products.json", RECORDS)
    assert h.run(claim) == "done"
    assert h.chunk_numbers() == [0, 1, 2, 3, "completion"]
    assert h.received(ingestion_id(h)) == RECORDS
    assert [b["record_offset"] for b in h.sent[:4]] == [0, 2, 4, 6]
    assert [b["is_last"] for b in h.sent[:4]] == [False, False, False, True]
    assert h.sent[4]["total_records"] == 7 and h.sent[4]["chunk_count"] == 4
    names = [p.name for p in h.finished("done")]
    assert names == ["products.json", "products.json.journal"]
    assert journal_of(h).completed
    assert not any(h.layout.work.iterdir())


def test_an_empty_array_sends_only_the_completion(h):
    assert h.run(h.drop("empty.json", b"[]")) == "done"
    assert h.chunk_numbers() == ["completion"]
    assert h.sent[0]["chunk_number"] == -1 and h.sent[0]["total_records"] == 0


@pytest.mark.parametrize("content", [b"", b"[{}, 1]", b'[{"a": 1}', b'{"a": 1}'])
def test_an_invalid_file_fails_before_anything_is_sent(h, content):
    """A malformed file never reaches the receiver half-sent."""
    assert h.run(h.drop("bad.json", content)) == "failed"
    assert h.sent == []
    report = h.report()
    assert report["reason"] == "invalid_input"
    assert report["chunks_acknowledged"] == 0
    assert report["file"] == "bad.json" and report["what_to_do"]
    assert sorted(p.name for p in h.finished("failed")) == ["bad.json", "bad.json.error.json"]


def test_resume_after_a_stop_sends_no_acknowledged_chunk_again(h):
    """After an interruption the same ingestion continues from the next unacknowledged chunk."""
    claim = stopped_after_two_chunks(h)
    h.stop.clear()
    assert h.run(claim) == "done"
    assert h.chunk_numbers() == [0, 1, 2, 3, "completion"]
    assert len({b["ingestion_id"] for b in h.sent}) == 1
    assert h.received(ingestion_id(h)) == RECORDS


def test_a_torn_last_journal_line_resends_only_the_chunk_in_flight(h):
    """A crash that tore the last ACK entry costs one resend, which the receiver deduplicates."""
    claim = stopped_after_two_chunks(h)
    data = beside(claim, JOURNAL).read_bytes()
    beside(claim, JOURNAL).write_bytes(data[: data.rstrip(b"\n").rfind(b"\n") + 1 + 20])
    h.stop.clear()
    assert h.run(claim) == "done"
    assert h.chunk_numbers() == [0, 1, 1, 2, 3, "completion"]
    assert h.received(ingestion_id(h)) == RECORDS
    assert h.app.store.summary()[0]["duplicates"] == 1


def test_a_lost_answer_is_retried_and_deduplicated_by_the_receiver(h):
    h.faults = [passthrough, lose_answer]
    assert h.run(h.drop("products.json", RECORDS)) == "done"
    assert h.chunk_numbers() == [0, 1, 1, 2, 3, "completion"]
    assert h.received(ingestion_id(h)) == RECORDS


@pytest.mark.parametrize(
    "fault",
    [
        status(503),
        status(500, b"oops"),
        status(502),
        status(408),
        status(425),
        status(429),
        status(200, b"<html><body>Bad gateway</body></html>"),
        status(200, b'{"ack": true, "chunk_number": 99}'),
        raises(httpx.ConnectError),
        raises(httpx.ReadTimeout),
        raises(httpx.RemoteProtocolError),
    ],
)
def test_transient_answers_are_retried_with_backoff_and_never_fail_the_file(h, fault):
    """Outages, timeouts and proxy pages keep the file in work/ and retry the same chunk."""
    h.faults = [passthrough, fault, fault, fault]
    assert h.run(h.drop("products.json", RECORDS)) == "done"
    assert h.chunk_numbers() == [0, 1, 1, 1, 1, 2, 3, "completion"]
    assert h.clock.waits == [0.25, 0.5, 1.0]  # rand 0.5 of 0.5, 1, 2
    assert h.received(ingestion_id(h)) == RECORDS


def test_retry_after_is_honoured(h):
    h.faults = [
        status(429, b"", **{"Retry-After": "7"}),
        status(503, b"", **{"Retry-After": "300"}),
    ]
    assert h.run(h.drop("products.json", RECORDS)) == "done"
    assert h.clock.waits == [7.0, 60.0]


def test_checksum_mismatch_is_resent_a_few_times(h):
    mismatch = status(200, b'{"ack": false, "error": "Checksum mismatch"}')
    h.faults = [mismatch, mismatch, mismatch]
    assert h.run(h.drop("products.json", RECORDS)) == "done"
    assert h.chunk_numbers()[:4] == [0, 0, 0, 0]


def test_persistent_checksum_mismatch_fails_the_file(h):
    h.faults = [status(200, b'{"ack": false, "error": "Checksum mismatch"}')] * 4
    assert h.run(h.drop("products.json", RECORDS)) == "failed"
    report = h.report()
    assert report["reason"] == "receiver_rejected" and "Checksum mismatch" in report["error"]


def test_a_receiver_that_lost_its_state_gets_everything_again(h, tmp_path):
    """'Out-of-order chunk' with expected_chunk rewinds to that chunk; nothing is lost."""

    def lose_state(request, harness):
        harness.app.close()
        harness.app = ReceiverApp(tmp_path / "fresh-receiver")
        return

    h.faults = [passthrough, passthrough, lose_state]
    assert h.run(h.drop("products.json", RECORDS)) == "done"
    assert h.chunk_numbers() == [0, 1, 2, 0, 1, 2, 3, "completion"]
    assert h.received(ingestion_id(h)) == RECORDS
    journal = journal_of(h)
    assert journal.completed
    done_journal = next(p for p in h.finished("done") if p.name.endswith(".journal"))
    assert b'"type":"rewind"' in done_journal.read_bytes()


class Legacy:
    """A receiver written like the earlier service's: state in memory, no expected_chunk."""

    def __init__(self) -> None:
        self.state = LegacyState()
        self.instances = 1

    def answer(self, request: httpx.Request, harness: Harness) -> httpx.Response:
        status_code, body = self.state.answer(orjson.loads(request.content))
        return httpx.Response(status_code, content=orjson.dumps(body))

    def restart_then_answer(self, request: httpx.Request, harness: Harness) -> httpx.Response:
        self.state = LegacyState()
        self.instances += 1
        return self.answer(request, harness)


def test_a_legacy_receiver_restarted_mid_file_gets_the_same_ingestion_again_from_chunk_0(h):
    """Out-of-order chunk without expected_chunk: a rewind to chunk 0 of the same ingestion, with
    the same boundaries and checksums, so the new instance holds every record once, in order."""
    legacy = Legacy()
    h.faults = [legacy.answer] * 3 + [legacy.restart_then_answer] + [legacy.answer] * 10
    assert h.run(h.drop("products.json", RECORDS)) == "done"
    assert h.chunk_numbers() == [0, 1, 2, 3, 0, 1, 2, 3, "completion"]
    assert len({b["ingestion_id"] for b in h.sent}) == 1
    first, again = h.sent[:4], h.sent[4:8]
    assert [b["checksum"] for b in first] == [b["checksum"] for b in again]
    assert [b["record_offset"] for b in first] == [b["record_offset"] for b in again]
    assert legacy.state.records[ingestion_id(h)] == RECORDS
    journal = journal_of(h)
    assert journal.completed and journal.rewinds == 1
    receipt = next(p for p in h.finished("done") if p.name.endswith(".journal"))
    (line,) = [orjson.loads(x) for x in receipt.read_bytes().splitlines() if b"rewind" in x]
    assert line["to_chunk"] == 0 and "lost its state" in line["reason"]


def test_a_legacy_receiver_restarted_several_times_with_progress_in_between_gets_everything(h):
    """Each restart costs resends; as long as the receiver gets further each time, it ends. The
    second restart refuses the completion, which rewinds to chunk 0 as well."""
    legacy = Legacy()
    restart, answer = legacy.restart_then_answer, legacy.answer
    h.faults = [answer, answer, restart, answer, answer, answer, answer, restart] + [answer] * 10
    assert h.run(h.drop("products.json", RECORDS)) == "done"
    assert h.chunk_numbers() == [0, 1, 2, 0, 1, 2, 3, "completion", 0, 1, 2, 3, "completion"]
    assert legacy.state.records[ingestion_id(h)] == RECORDS
    assert journal_of(h).rewinds == 2


def test_a_receiver_that_keeps_losing_its_state_fails_the_file_after_three_rewinds(h):
    """Three rewinds without anything acknowledged beyond the high-water mark, then the report."""
    legacy = Legacy()
    answer, restart = legacy.answer, legacy.restart_then_answer
    h.faults = [answer, answer] + [restart, answer, answer] * 4
    assert h.run(h.drop("products.json", RECORDS)) == "failed"
    assert h.chunk_numbers() == [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2]
    report = h.report()
    assert report["reason"] == "receiver_lost_state"
    assert "lost its state 4 times in a row" in report["error"]
    assert "durably" in report["what_to_do"]
    assert report["rewinds"] == 3 and report["chunks_acknowledged"] == 2


def test_chunk_0_refused_as_out_of_order_fails_the_file_at_once(h):
    """There is nothing before chunk 0 to send again: the receiver cannot be satisfied."""
    h.faults = [status(200, b'{"ack": false, "error": "Out-of-order chunk"}')]
    assert h.run(h.drop("products.json", RECORDS)) == "failed"
    assert h.chunk_numbers() == [0]
    report = h.report()
    assert report["reason"] == "receiver_lost_state"
    assert report["where"]["chunk_number"] == 0


@pytest.mark.parametrize(
    "fault,needle",
    [
        (status(422, b'{"detail": "unknown attribute colour"}'), "unknown attribute colour"),
        (status(200, b'{"ack": false, "error": "Unknown product class"}'), "Unknown product class"),
        (status(200, b'{"ack": "true"}'), '"ack": "true"'),
    ],
)
def test_a_permanent_refusal_fails_the_file_with_the_answer_in_the_report(h, fault, needle):
    h.faults = [passthrough, fault]
    assert h.run(h.drop("products.json", RECORDS)) == "failed"
    report = h.report()
    assert report["reason"] == "receiver_rejected"
    assert needle in report["where"]["receiver_answer"]
    assert report["where"]["chunk_number"] == 1
    assert report["chunks_acknowledged"] == 1 and report["records_acknowledged"] == 2
    assert report["ingestion_id"] == ingestion_id(h)
    names = sorted(p.name for p in h.finished("failed"))
    assert names == ["products.json", "products.json.error.json", "products.json.journal"]


def test_stopping_during_a_retry_wait_leaves_the_file_in_work(h):
    def outage_then_stop(request, harness):
        harness.stop.set()
        return httpx.Response(503)

    claim = h.drop("products.json", RECORDS)
    h.faults = [outage_then_stop]
    with pytest.raises(Interrupted):
        h.run(claim)
    assert claim.data.exists() and beside(claim, JOURNAL).exists()
    assert replay(beside(claim, JOURNAL).read_bytes()).next_chunk == 0


def test_a_damaged_journal_fails_the_file_instead_of_resending_from_zero(h):
    claim = stopped_after_two_chunks(h)
    lines = beside(claim, JOURNAL).read_bytes().split(b"\n")
    lines[1] = b"{garbage"
    beside(claim, JOURNAL).write_bytes(b"\n".join(lines))
    h.stop.clear()
    sent_before = len(h.sent)
    assert h.run(claim) == "failed"
    assert len(h.sent) == sent_before
    assert h.report()["reason"] == "journal_corrupt"


@pytest.mark.parametrize("victim", ["data", "staged", "chunks"])
def test_work_files_changed_behind_the_daemons_back_are_detected(h, victim):
    claim = stopped_after_two_chunks(h)
    path = beside(claim, {"data": "", "staged": STAGED, "chunks": CHUNKS}[victim])
    os.truncate(path, path.stat().st_size - 1)
    h.stop.clear()
    assert h.run(claim) == "failed"
    report = h.report()
    assert report["reason"] == "work_damaged" and report["chunks_acknowledged"] == 2


def test_staged_bytes_that_no_longer_match_their_checksum_are_never_sent(h):
    claim = stopped_after_two_chunks(h)
    data = bytearray(beside(claim, STAGED).read_bytes())
    data[-5] = ord("X")
    beside(claim, STAGED).write_bytes(bytes(data))
    h.stop.clear()
    assert h.run(claim) == "failed"
    assert h.report()["reason"] == "work_damaged"
    assert h.chunk_numbers() == [0, 1, 2]  # chunk 3 holds the damaged byte and never leaves


@pytest.mark.parametrize("make_entry", [os.link, os.symlink], ids=["hard link", "symlink"])
def test_a_linked_file_is_refused_unread(h, tmp_path, make_entry):
    """A hard link or a symlink swapped in before the claim is never read: O_NOFOLLOW plus a
    single-link check on the opened descriptor keep data outside the spool out."""
    outside = tmp_path / "secret.json"
    outside.write_bytes(orjson.dumps([{"secret": 1}]))
    make_entry(outside, h.layout.inbox / "linked.json")
    claim = h.spool.claim("linked.json", h.clock.now())
    assert h.run(claim) == "failed"
    assert h.sent == []
    assert h.report()["reason"] == "unsafe_file"
    assert outside.read_bytes() == orjson.dumps([{"secret": 1}])


def test_a_completed_journal_only_needs_the_move(h):
    """Crash after the completion was recorded: restart moves the file to done/ and sends nothing."""
    claim = h.drop("products.json", RECORDS)
    crash = Failpoints(Armed.parse("completion_recorded:1:raise"))  # stands in for the kill
    with h.ingestion(claim, crash) as ingestion, pytest.raises(FailpointError):
        ingestion.run()
    sent = len(h.sent)
    assert h.run(claim) == "done"
    assert len(h.sent) == sent
    assert journal_of(h).completed


def test_a_written_report_only_needs_the_move(h):
    """Crash after the failure report was written: restart moves the file to failed/."""
    claim = h.drop("bad.json", b"[1]")
    beside(claim, REPORT).write_bytes(b'{"reason": "invalid_input"}')
    assert h.run(claim) == "failed"
    assert h.sent == []
    assert sorted(p.name for p in h.finished("failed")) == ["bad.json", "bad.json.error.json"]


def test_a_completion_whose_ack_was_lost_is_sent_again_and_acknowledged(h):
    h.faults = [passthrough, passthrough, passthrough, passthrough, lose_answer]
    assert h.run(h.drop("products.json", RECORDS)) == "done"
    assert h.chunk_numbers() == [0, 1, 2, 3, "completion", "completion"]


def test_restaging_an_interrupted_claim_gives_the_same_ingestion_id(h, tmp_path):
    """A crash before the journal existed restages the same claim under the same ingestion_id."""
    claim = h.drop("products.json", RECORDS)
    beside(claim, STAGED).write_bytes(b'{"half":')  # a staging pass cut short
    assert h.run(claim) == "done"
    first_id = ingestion_id(h)
    other = Harness(tmp_path / "other")
    try:
        (other.layout.inbox / "products.json").write_bytes(orjson.dumps(RECORDS))
        os.rename(other.layout.inbox / "products.json", other.layout.work / "x")
        (other.layout.work / claim.token).mkdir()
        os.rename(other.layout.work / "x", other.layout.work / claim.token / "products.json")
        (again,) = other.spool.claims()
        assert other.run(again) == "done"
        assert other.sent[0]["ingestion_id"] == first_id
    finally:
        other.close()


@pytest.mark.parametrize(
    ("dropped", "copies"), [(0o600, 0o600), (0o644, 0o640), (0o660, 0o640), (0o604, 0o600)]
)
def test_copies_of_the_data_are_never_more_readable_than_the_dropped_file(h, dropped, copies):
    """Staged data, index, journal and report never widen who can read the file's contents."""
    claim = h.drop("products.json", RECORDS)
    os.chmod(claim.data, dropped)
    h.faults = [passthrough, then_stop]
    with pytest.raises(Interrupted):
        h.run(claim)
    for path in (beside(claim, STAGED), beside(claim, CHUNKS), beside(claim, JOURNAL)):
        assert stat.S_IMODE(os.stat(path).st_mode) & ~copies == 0, path.name
    bad = h.drop("bad.json", b"[1]")
    os.chmod(bad.data, dropped)
    h.stop.clear()
    assert h.run(bad) == "failed"
    (report,) = [p for p in h.finished("failed") if p.name.endswith(".error.json")]
    assert stat.S_IMODE(os.stat(report).st_mode) & ~copies == 0


def test_a_deleted_journal_is_reported_not_restarted_from_chunk_0(h):
    """Without its journal, a file already being sent fails instead of going out again."""
    claim = stopped_after_two_chunks(h)
    beside(claim, JOURNAL).unlink()
    h.stop.clear()
    sent_before = len(h.sent)
    assert h.run(claim) == "failed"
    assert len(h.sent) == sent_before
    report = h.report()
    assert report["reason"] == "journal_corrupt" and "journal is missing" in report["error"]


def test_a_crash_between_journal_and_index_seal_resumes(h):
    """The index is renamed to .chunks after the journal exists; a crash in between is healed."""
    claim = stopped_after_two_chunks(h)
    os.rename(beside(claim, CHUNKS), beside(claim, INDEX))
    h.stop.clear()
    assert h.run(claim) == "done"
    assert h.received(ingestion_id(h)) == RECORDS
