import pytest

from ingestd.core.journal import Ack, Begin, Completed, Rewind, Sent, encode, replay
from ingestd.errors import JournalCorrupt

BEGIN = Begin(
    ingestion_id="f" * 64,
    inbox="products",
    file_name="p.json",
    file_type="json",
    file_size=100,
    file_sha256="a" * 64,
    claim_token="t",
    claimed_at="2026-11-26T00:00:00Z",
    chunk_records=2,
    chunk_bytes=1024,
    protocol=1,
    staged_size=90,
    index_sha256="b" * 64,
    chunk_count=3,
    total_records=5,
)


def ack(n: int) -> Ack:
    """Chunk n of the staged chunks: records 2n and 2n+1 (the last holds record 4 alone)."""
    return Ack(n, n * 2, min(2, 5 - n * 2), "c" * 64, "2026-11-26T00:00:01Z")


def journal(*entries) -> bytes:
    return b"".join(encode(e) for e in (BEGIN, *entries))


def test_replay_resumes_after_the_last_acknowledged_chunk():
    """Resume starts at the first chunk after the last recorded ACK."""
    state = replay(journal(ack(0), ack(1)))
    assert state.begin == BEGIN
    assert state.next_chunk == 2 and not state.completed


def test_completion_is_recorded():
    state = replay(journal(ack(0), ack(1), ack(2), Completed(3, 5, "2026-11-26T00:00:02Z")))
    assert state.completed


def test_every_prefix_replays_or_reports_missing_begin():
    """A crash can cut the journal at any byte: every prefix replays to a consistent state."""
    data = journal(ack(0), ack(1), ack(2), Completed(3, 5, "x"))
    line_ends = [i + 1 for i, b in enumerate(data) if b == ord("\n")]
    for cut in range(len(data) + 1):
        prefix = data[:cut]
        if cut < line_ends[0]:
            with pytest.raises(JournalCorrupt):
                replay(prefix)
            continue
        state = replay(prefix)
        complete_lines = sum(1 for end in line_ends if end <= cut)
        assert state.valid_length == max(end for end in line_ends if end <= cut)
        assert state.torn_tail == (cut != state.valid_length)
        assert state.next_chunk == min(complete_lines - 1, 3)
        assert state.completed == (complete_lines == 5)


def test_damage_before_the_last_line_is_reported():
    """Only the last line may be torn; a damaged earlier line is never guessed around."""
    lines = journal(ack(0), ack(1)).split(b"\n")
    lines[1] = lines[1][:10]
    with pytest.raises(JournalCorrupt, match="line 2"):
        replay(b"\n".join(lines))


def test_ack_out_of_sequence_is_corruption():
    with pytest.raises(JournalCorrupt, match="chunk 1 was next"):
        replay(journal(ack(0), ack(2)))


def test_rewind_moves_the_resume_point_back():
    """A receiver-requested rewind is recorded, and acks continue from there."""
    state = replay(journal(ack(0), ack(1), Rewind(0, "lost state", "x"), ack(0)))
    assert state.next_chunk == 1


def rewind() -> Rewind:
    return Rewind(0, "lost state", "x")


def test_rewinds_without_progress_are_counted_until_a_chunk_beyond_the_high_water_mark():
    """Resending what the receiver had before is not progress; a chunk past it is."""
    state = replay(journal(ack(0), ack(1), rewind(), ack(0), ack(1), rewind(), ack(0)))
    assert state.high_water == 2 and state.rewinds == 2
    assert state.rewinds_without_progress == 2 and state.rewind_refused() is None
    state = replay(journal(ack(0), ack(1), rewind(), ack(0), ack(1), ack(2)))
    assert state.high_water == 3 and state.rewinds == 1 and state.rewinds_without_progress == 0


def test_a_fourth_rewind_in_a_row_without_progress_is_refused():
    """Three chances for a receiver that keeps losing its state, then the file fails."""
    state = replay(journal(ack(0), rewind(), ack(0), rewind(), ack(0), rewind()))
    refusal = state.rewind_refused()
    assert refusal is not None and "4 times in a row" in refusal and "chunks 0 to 0" in refusal


def test_a_journal_of_another_version_is_refused():
    other = encode(BEGIN).replace(b'"journal_version":1', b'"journal_version":99')
    with pytest.raises(JournalCorrupt, match="version 99"):
        replay(other)


def test_completion_before_all_chunks_is_corruption():
    with pytest.raises(JournalCorrupt):
        replay(journal(ack(0), Completed(3, 5, "x")))


def test_a_begin_written_before_sheets_and_notes_existed_still_replays():
    """Fields added later have defaults, so an older journal of the same version still reads."""
    line = encode(BEGIN).replace(b',"sheet":null,"notes":{}', b"")
    assert b"sheet" not in line
    assert replay(line).begin == BEGIN


def test_the_line_format_is_the_one_journals_on_disk_have():
    """Journals outlive versions of the daemon: the keys, their order and `type` stay put."""
    assert encode(ack(1)) == (
        b'{"chunk_number":1,"record_offset":2,"record_count":2,"checksum":"' + b"c" * 64 + b'",'
        b'"at":"2026-11-26T00:00:01Z","type":"ack"}\n'
    )
    assert (
        encode(Rewind(0, "why", "t")) == b'{"to_chunk":0,"reason":"why","at":"t","type":"rewind"}\n'
    )
    assert encode(BEGIN).startswith(b'{"ingestion_id":"' + b"f" * 64 + b'","inbox":"products",')
    assert encode(BEGIN).endswith(b',"sheet":null,"notes":{},"journal_version":1,"type":"begin"}\n')


def sent(n: int, offset: int, count: int, checksum: str = "d" * 64) -> Sent:
    return Sent(n, offset, count, checksum, "2026-11-26T00:00:01Z")


def test_chunks_sent_smaller_than_staged_are_recorded_and_resent_alike():
    """The receiver asked for one record a chunk: the journal says what each chunk held."""
    state = replay(journal(sent(0, 0, 1), Ack(0, 0, 1, "d" * 64, "x"), sent(1, 1, 1)))
    assert state.next_chunk == 1 and state.chunks_sent == 2
    assert state.ranges[1].record_offset == 1 and state.next_record == 2
    assert state.records_acknowledged == 1 and not state.all_sent


def test_a_chunk_never_acknowledged_may_be_sent_smaller_after_a_413():
    state = replay(journal(sent(0, 0, 2, "e" * 64), sent(0, 0, 1)))
    assert [r.record_count for r in state.ranges] == [1]


def test_a_chunk_once_acknowledged_never_changes():
    entries = [Ack(0, 0, 2, "e" * 64, "x"), Rewind(0, "lost", "x")]
    with pytest.raises(JournalCorrupt, match="changed after it was acknowledged"):
        replay(journal(*entries, sent(0, 0, 1)))
    with pytest.raises(JournalCorrupt, match="changed after it was acknowledged"):
        replay(journal(*entries, Ack(0, 0, 1, "e" * 64, "x")))
    state = replay(journal(*entries, Ack(0, 0, 2, "e" * 64, "x")))
    assert state.next_chunk == 1 and state.rewinds == 1


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        (sent(1, 2, 1), "chunk 1 recorded where chunk 0 was next"),
        (sent(0, 1, 1), "does not start at record 0"),
        (sent(0, 0, 0), "does not start at record 0"),
        (sent(0, 0, 6), "goes past the last record"),
    ],
)
def test_an_impossible_range_is_corruption(entry, complaint):
    with pytest.raises(JournalCorrupt, match=complaint):
        replay(journal(entry))


def test_the_completion_needs_every_record_in_an_acknowledged_chunk():
    five = [sent(n, n, 1) for n in range(5)]
    acks = [Ack(n, n, 1, "d" * 64, "x") for n in range(5)]
    entries = [e for pair in zip(five, acks, strict=True) for e in pair]
    assert replay(journal(*entries, Completed(5, 5, "x"))).completed
    with pytest.raises(JournalCorrupt, match="before every chunk"):
        replay(journal(*entries[:-2], Completed(4, 5, "x")))
    with pytest.raises(JournalCorrupt, match="before every chunk"):
        replay(journal(*entries, Completed(3, 5, "x")))
