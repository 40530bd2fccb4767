"""The receiver slows the sender down: hints on its acknowledgements, 413 answers; and every
chunk, once sent, keeps its records through a crash, a resume and a rewind."""

from __future__ import annotations

import hashlib

import httpx
import orjson
import pytest

from ingestd.core.chunking import ChunkLimits
from ingestd.core.journal import Sent, replay
from ingestd.failpoints import Armed, FailpointError, Failpoints
from ingestd.receiver.app import Policy, ReceiverApp
from tests.harness import Harness, deliver, passthrough, status

RECORDS = [{"sku": f"S{i}", "name": "Prodüct", "pad": "x" * (i % 7)} for i in range(23)]


@pytest.fixture
def h(tmp_path):
    harness = Harness(tmp_path, ChunkLimits(10, 1 << 20))
    yield harness
    harness.close()


def with_policy(h: Harness, **policy) -> None:
    h.app.close()
    h.app = ReceiverApp(h.root / "receiver-with-policy", policy=Policy(**policy))


def chunks(h: Harness) -> list[dict]:
    return [b for b in h.sent if b["type"] == "chunk"]


def delivered_once_in_order(h: Harness) -> None:
    """Every record arrived once, in order, and every chunk's checksum is its records'."""
    ingestion = h.sent[0]["ingestion_id"]
    assert h.received(ingestion) == RECORDS
    accepted = {body["chunk_number"]: body for body in chunks(h)}  # the last send of each
    numbers = sorted(accepted)
    assert numbers == list(range(len(numbers)))
    offsets = 0
    for number in numbers:
        body = accepted[number]
        assert body["record_offset"] == offsets
        offsets += len(body["records"])
        canonical = orjson.dumps(body["records"], option=orjson.OPT_SORT_KEYS)
        assert hashlib.sha256(canonical).hexdigest() == body["checksum"]
    completion = h.sent[-1]
    assert completion["type"] == "completion" and completion["chunk_count"] == len(numbers)
    assert completion["chunk_number"] == len(numbers) - 1 and completion["total_records"] == 23


def journal_of(h: Harness):
    (path,) = [p for p in h.finished("done") if p.name.endswith(".journal")]
    return path.read_bytes()


def test_max_records_applies_from_the_next_chunk_on(h):
    with_policy(h, max_records=3)
    assert h.run(h.drop("p.json", RECORDS)) == "done"
    assert [len(c["records"]) for c in chunks(h)] == [10, 3, 3, 3, 1, 3]
    delivered_once_in_order(h)
    sent = [line for line in journal_of(h).splitlines() if b'"type":"sent"' in line]
    assert len(sent) == 3  # chunks 1 to 3 are not the rest of their staged chunk; 4 and 5 are


def test_max_bytes_holds_the_records_array_to_its_size(h):
    limit = 200
    with_policy(h, max_bytes=limit)
    assert h.run(h.drop("p.json", RECORDS)) == "done"
    for body in chunks(h)[1:]:
        size = len(orjson.dumps(body["records"], option=orjson.OPT_SORT_KEYS))
        assert size <= limit
    assert max(len(c["records"]) for c in chunks(h)[1:]) > 1
    delivered_once_in_order(h)


def test_a_record_larger_than_max_bytes_still_goes_alone(h):
    with_policy(h, max_bytes=5)
    assert h.run(h.drop("p.json", RECORDS)) == "done"
    assert {len(c["records"]) for c in chunks(h)[1:]} == {1}
    delivered_once_in_order(h)


def hinting(*hints: dict):
    """A fault that delivers and adds the next of `hints` to the acknowledgement."""
    pending = list(hints)

    def answer(request: httpx.Request, harness: Harness) -> httpx.Response:
        answered = deliver(harness.app, request)
        body = orjson.loads(answered.content)
        if pending:
            body.update(pending.pop(0))
        return httpx.Response(answered.status_code, content=orjson.dumps(body))

    return answer


def test_an_answer_without_hints_keeps_them_and_null_clears_them(h):
    h.faults = [
        hinting({"max_records": 2}),
        hinting({}),
        hinting({}),
        hinting({"max_records": None}),
    ]
    assert h.run(h.drop("p.json", RECORDS)) == "done"
    assert [len(c["records"]) for c in chunks(h)] == [10, 2, 2, 2, 4, 3]
    delivered_once_in_order(h)


def test_the_smaller_of_the_hint_and_the_config_wins(h):
    with_policy(h, max_records=50)
    assert h.run(h.drop("p.json", RECORDS)) == "done"
    assert [len(c["records"]) for c in chunks(h)] == [10, 10, 3]


def test_invalid_hints_are_ignored(h):
    h.faults = [hinting({"max_records": 0, "max_bytes": "100"}), hinting({"max_records": True})]
    assert h.run(h.drop("p.json", RECORDS)) == "done"
    assert [len(c["records"]) for c in chunks(h)] == [10, 10, 3]


def test_a_413_halves_the_same_chunk_number_until_it_passes(h):
    h.faults = [passthrough, status(413, b"Payload too large"), status(413, b"Payload too large")]
    assert h.run(h.drop("p.json", RECORDS)) == "done"
    assert [(c["chunk_number"], len(c["records"])) for c in chunks(h)][:4] == [
        (0, 10),
        (1, 10),
        (1, 5),
        (1, 2),
    ]
    assert all(len(c["records"]) <= 2 for c in chunks(h)[3:])  # the limit it found, kept
    delivered_once_in_order(h)


def test_a_single_record_refused_with_413_fails_the_file_naming_it(h):
    h.faults = [passthrough] + [status(413, b"Payload too large")] * 5
    assert h.run(h.drop("p.json", RECORDS)) == "failed"
    report = h.report()
    assert report["reason"] == "record_too_large"
    assert report["where"]["record_index"] == 10
    size = len(orjson.dumps(RECORDS[10], option=orjson.OPT_SORT_KEYS))
    assert report["where"]["record_bytes"] == size and f"{size} bytes" in report["error"]
    assert "post_max_size" in report["what_to_do"]
    assert [len(c["records"]) for c in chunks(h)] == [10, 10, 5, 2, 1]


def test_a_chunk_sent_smaller_is_resent_alike_after_a_crash(h):
    """Killed after the receiver stored a hinted chunk but before the journal said so: the
    restart sends exactly that chunk again (the receiver recognises it), then goes on."""
    with_policy(h, max_records=4)
    claim = h.drop("p.json", RECORDS)
    crash = Failpoints(Armed.parse("chunk_acknowledged:2:raise"))  # stands in for the kill
    with pytest.raises(FailpointError), h.ingestion(claim, crash) as ingestion:
        ingestion.run()
    first = chunks(h)
    assert [len(c["records"]) for c in first] == [10, 4]
    with h.ingestion(claim) as ingestion:
        assert ingestion.run() == "done"
    again = chunks(h)[2]
    assert again["chunk_number"] == 1 and again["checksum"] == first[1]["checksum"]
    assert again["records"] == first[1]["records"]
    delivered_once_in_order(h)
    assert h.app.store.summary()[0]["duplicates"] == 1


def test_a_rewind_sends_exactly_the_chunks_the_receiver_saw(h):
    """A receiver that lost everything gets every chunk again with the boundaries it saw
    before, although its hints have changed since."""
    h.faults = [hinting({"max_records": 4}), passthrough, passthrough]
    claim = h.drop("p.json", RECORDS)

    def forget(request: httpx.Request, harness: Harness) -> httpx.Response:
        harness.app.close()
        harness.app = ReceiverApp(harness.root / "forgetful", policy=Policy(max_records=2))
        return deliver(harness.app, request)

    h.faults += [forget]
    assert h.run(claim) == "done"
    first = {}
    for body in chunks(h):
        key = body["chunk_number"]
        if key in first:
            assert (body["record_offset"], body["checksum"]) == first[key]
        else:
            first[key] = (body["record_offset"], body["checksum"])
    assert [c["chunk_number"] for c in chunks(h)][:5] == [0, 1, 2, 3, 0]
    state = replay(journal_of(h))
    assert state.rewinds == 1 and state.completed
    ingestion = h.sent[0]["ingestion_id"]
    assert h.received(ingestion) == RECORDS


def test_a_413_for_a_chunk_once_acknowledged_fails_the_file(h):
    """Its records cannot change under its chunk number: the receiver has it."""
    h.faults = [
        passthrough,
        status(200, b'{"ack": false, "error": "Out-of-order chunk", "expected_chunk": 0}'),
        status(413, b"too large now"),
    ]
    assert h.run(h.drop("p.json", RECORDS)) == "failed"
    report = h.report()
    assert (
        report["reason"] == "receiver_rejected" and "after it had acknowledged" in report["error"]
    )


def test_sent_lines_name_their_chunk(h):
    with_policy(h, max_records=4)
    assert h.run(h.drop("p.json", RECORDS)) == "done"
    lines = [orjson.loads(line) for line in journal_of(h).splitlines()]
    sent = [
        Sent(**{k: v for k, v in line.items() if k != "type"})
        for line in lines
        if line["type"] == "sent"
    ]
    assert [(s.chunk_number, s.record_offset, s.record_count) for s in sent] == [
        (1, 10, 4),
        (2, 14, 4),
    ]  # chunk 3 is records 18 and 19, the rest of its staged chunk: not journaled before
