"""The validation pass: every record checked and staged before anything is sent."""

import contextlib
from pathlib import Path

import orjson
import pytest

from ingestd.core.chunking import ChunkLimits, ChunkSpan, checksum, records_array
from ingestd.errors import InvalidInput
from ingestd.fs.claim import ClaimFolder
from ingestd.pipeline.staging import Opening, StageRequest, begin_of, stage
from ingestd.readers import CanonicalBatch
from ingestd.readers.json.reference import JsonReader

LIMITS = ChunkLimits(records=3, bytes=1 << 20)


def run_stage(tmp_path: Path, content: bytes, path: str = "item", limits: ChunkLimits = LIMITS):
    (tmp_path / "in.json").write_bytes(content)
    return stage(StageRequest(ClaimFolder(tmp_path, "in.json"), JsonReader(path), limits))


def staged(tmp_path: Path) -> Path:
    return tmp_path / "in.json.staged"


def spans(tmp_path: Path, count: int) -> list[ChunkSpan]:
    index = (tmp_path / "in.json.index").read_bytes()
    size = ChunkSpan.SIZE
    return [ChunkSpan.unpack(index[n * size : (n + 1) * size]) for n in range(count)]


def test_stages_one_canonical_record_per_line(tmp_path):
    """The staged file is the records in order, canonical (sorted keys), one per line."""
    records = [{"b": i, "a": "ü\n", "f": 1.25, "n": None, "t": True} for i in range(7)]
    result = run_stage(tmp_path, orjson.dumps(records))
    lines = staged(tmp_path).read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == records
    assert lines[0] == orjson.dumps(records[0], option=orjson.OPT_SORT_KEYS)
    assert result.total_records == 7 and result.chunk_count == 3
    assert result.staged_size == staged(tmp_path).stat().st_size


def test_file_digest_and_size_cover_the_whole_file(tmp_path):
    import hashlib

    content = b'  [{"a": 1}]  \n'
    result = run_stage(tmp_path, content)
    assert result.file_sha256 == hashlib.sha256(content).hexdigest()
    assert result.file_size == len(content)


def test_index_spans_rebuild_each_chunk_and_its_checksum(tmp_path):
    """The index lets a chunk be cut from the staged file by byte range, checksum included."""
    records = [{"i": i} for i in range(8)]
    result = run_stage(tmp_path, orjson.dumps(records))
    data = staged(tmp_path).read_bytes()
    for span in spans(tmp_path, result.chunk_count):
        array = records_array(data[span.byte_start : span.byte_end])
        expected = records[span.record_offset : span.record_offset + span.record_count]
        assert array == orjson.dumps(expected, option=orjson.OPT_SORT_KEYS)
        assert span.checksum == checksum(array)


def test_numbers_are_parsed_as_the_receiver_sees_them(tmp_path):
    """Decimals become floats (not Decimal) and integers stay integers."""
    run_stage(tmp_path, b'[{"p": 19.99, "q": 3, "big": 9223372036854775807, "e": 1e3}]')
    (line,) = staged(tmp_path).read_bytes().splitlines()
    assert orjson.loads(line) == {"p": 19.99, "q": 3, "big": 9223372036854775807, "e": 1000.0}


def test_nested_items_path(tmp_path):
    result = run_stage(
        tmp_path, b'{"meta": {"n": 2}, "products": [{"a": 1}, {"a": 2}]}', "products.item"
    )
    assert result.total_records == 2


@pytest.mark.parametrize("path", ["item", "products.item"])
def test_a_utf8_byte_order_mark_is_skipped(tmp_path, path):
    """A BOM before the JSON text is ignored, as RFC 8259 allows."""
    body = b'[{"a": 1}]' if path == "item" else b'{"products": [{"a": 1}]}'
    result = run_stage(tmp_path, b"\xef\xbb\xbf" + body, path)
    assert result.total_records == 1
    assert result.file_size == len(body) + 3


def test_an_empty_array_is_zero_records(tmp_path):
    result = run_stage(tmp_path, b"[ ]")
    assert result.total_records == 0 and result.chunk_count == 0


@pytest.mark.parametrize(
    "content,path,message",
    [
        (b"", "item", "empty"),
        (b"   \n", "item", "not an array"),
        (b'{"products": [{"a": 1}]}', "item", "not an array"),
        (b'{"item": {"a": 1}}', "item", "not an array"),
        (b'{"other": []}', "products.item", "no array at 'products'"),
        (b'{"products": {"a": 1}}', "products.item", "no array at 'products'"),
        (b'[{"a": 1}, {"b": 2}', "item", "malformed JSON"),
        (b'[{"a": 1}] trailing', "item", "malformed JSON"),
        (b'[{"a": NaN}]', "item", "malformed JSON"),
        (b'[{"a": Infinity}]', "item", "malformed JSON"),
        (b'[{"a": 1e400}]', "item", "record 0: the number 1E.400 in a is beyond the range of a"),
        (b'[{"a": 18446744073709551616}]', "item", "the number 18446744073709551616 in a is"),
        (b'[{"a": "\xff"}]', "item", "malformed JSON"),
        (b'[{"a": 1}, 2]', "item", "record 1 is a number, not an object"),
        (b'[{"a": 1}, "x"]', "item", "record 1 is a string, not an object"),
        (b"[null]", "item", "record 0 is null, not an object"),
        (b"[[1]]", "item", "record 0 is an array, not an object"),
        (b"\xef\xbb\xbf\xef\xbb\xbf[]", "item", "not an array"),
    ],
)
def test_malformed_input_is_refused_with_a_location(tmp_path, content, path, message):
    """Malformed files fail in the validation pass, before any chunk could leave."""
    with pytest.raises(InvalidInput, match=message) as failure:
        run_stage(tmp_path, content, path)
    assert failure.value.message


def test_the_error_says_how_far_reading_got(tmp_path):
    good = b",".join(b'{"i": %d}' % i for i in range(50))
    with pytest.raises(InvalidInput) as failure:
        run_stage(tmp_path, b"[" + good + b", {oops}]")
    assert failure.value.where["record_index"] == 50
    assert failure.value.where["byte_offset"] > 0


def test_a_huge_single_record_is_accepted_alone(tmp_path):
    records = [{"a": 1}, {"blob": "x" * 300_000}, {"c": 1}]
    result = run_stage(tmp_path, orjson.dumps(records), limits=ChunkLimits(100, 4096))
    assert [s.record_count for s in spans(tmp_path, result.chunk_count)] == [1, 1, 1]


SURROGATES = [
    (b'[{"n": "x\\ud800y"}]', False),
    (b'[{"n": "smile \\ud83d\\ude00"}]', True),
    (b'[{"n": "\\\\ud800"}]', True),
    (b'[{"n": "\\ude00"}]', False),
    (b'[{"n": "\\ud83d\\u0041"}]', False),
    (b'[{"n": "\\ud83d"}]', False),
    (b'[{"n": "\\ude00\\ud83d"}]', False),
    (b'[{"n": "\\\\\\ud83d\\ude00"}]', True),
] + [
    (b'[{"p": "' + b"x" * pad + tail + b'"}]', ok)
    for pad in (65536 - 11, 65536 - 8, 65536 - 4, 65536, 65536 + 2)
    for tail, ok in ((b"\\ud83d\\ude00", True), (b"\\ud83dz", False), (b"\\ude00", False))
]


@pytest.mark.parametrize(("content", "valid"), SURROGATES)
def test_lone_surrogate_escapes_are_refused_and_pairs_kept(tmp_path, content, valid):
    """ijson's C backend would turn a lone surrogate into "?"; such a file fails instead, wherever
    the escape falls relative to the reader's block boundaries."""
    if valid:
        result = run_stage(tmp_path, content)
        (line,) = staged(tmp_path).read_bytes().splitlines()
        assert orjson.loads(line) == orjson.loads(content)[0]
        assert result.total_records == 1
    else:
        with pytest.raises(InvalidInput, match="lone UTF-16 surrogate"):
            run_stage(tmp_path, content)


@pytest.mark.parametrize("content", [b'[{"a": 1}]', b"[1]"])
def test_the_garbage_collector_is_running_again_after_staging(tmp_path, content):
    """Staging pauses the cyclic collector for speed; success or failure, it comes back."""
    import gc

    assert gc.isenabled()
    with contextlib.suppress(InvalidInput):
        run_stage(tmp_path, content)
    assert gc.isenabled()


def test_a_request_with_an_opening_also_begins_the_ingestion(tmp_path):
    """A file staged ahead is begun where it is staged: its journal holds the begin entry the
    worker would have written, and its index is sealed. Without an opening, neither."""
    (tmp_path / "in.json").write_bytes(orjson.dumps([{"a": i} for i in range(7)]))
    claim = ClaimFolder(tmp_path, "in.json")
    plain = stage(StageRequest(claim, JsonReader(), LIMITS))
    assert plain.begin is None and not claim.has_journal() and not claim.was_sent()
    opening = Opening("products", "2026-12-07T11:00:00Z")
    begun = stage(StageRequest(claim, JsonReader(), LIMITS, opening))
    assert begun.begin == begin_of(StageRequest(claim, JsonReader(), LIMITS), plain, opening)
    assert begun.begin.inbox == "products" and begun.begin.total_records == 7
    with claim.open_journal() as journal:
        assert journal.state.begin == begun.begin and journal.state.next_chunk == 0
    assert claim.was_sent() and not (tmp_path / "in.json.index").exists()


class _Mixed:
    """A reader that hands over one record alone, then a batch already canonical: the first
    chunk holds both, and closes while the batch is cut."""

    file_type = "json"
    fast = None

    def __init__(self, single: dict) -> None:
        self._single = single

    def records(self, stream, details):
        yield self._single
        yield CanonicalBatch([b'{"b":%d}' % n for n in range(4)])

    def where(self, fd, index):
        return {"record_index": index}


def test_a_chunk_mixing_a_lone_record_and_a_batch_is_searched_for_long_integers(tmp_path):
    """A batch's lines are taken as they are (CanonicalBatch), but a chunk that also holds a
    record handed over alone is searched: orjson writes up to unsigned 64 bits, the protocol
    takes signed 64."""
    (tmp_path / "in.json").write_bytes(b"[]")
    claim = ClaimFolder(tmp_path, "in.json")
    staged = stage(StageRequest(claim, _Mixed({"a": (1 << 63) - 1}), LIMITS))
    assert staged.total_records == 5 and staged.chunk_count == 2
    with pytest.raises(InvalidInput, match="record 0: the number 9223372036854775808"):
        stage(StageRequest(claim, _Mixed({"a": 1 << 63}), LIMITS))
