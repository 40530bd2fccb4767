import hashlib
import itertools
import random

import orjson
import pytest

from ingestd.core.chunking import (
    ChunkLimits,
    ChunkPlanner,
    ChunkSpan,
    array_checksum,
    canonical_lines,
    checksum,
    records_array,
)


def canonical(record: dict) -> bytes:
    return orjson.dumps(record, option=orjson.OPT_SORT_KEYS)


def plan(records: list[dict], limits: ChunkLimits) -> list[ChunkSpan]:
    planner = ChunkPlanner(limits)
    chunks = [c for r in records if (c := planner.add(canonical(r)))]
    last = planner.finish()
    chunks += [last] if last else []
    assert b"".join(c.lines for c in chunks) == staged(records)  # chunks tile the staged file
    return [c.span for c in chunks]


def staged(records: list[dict]) -> bytes:
    return b"".join(canonical(r) + b"\n" for r in records)


def test_records_array_is_what_orjson_makes_of_the_list():
    """A chunk's bytes are exactly orjson.dumps(records, OPT_SORT_KEYS), the receiver's input."""
    records = [{"b": 1, "a": "x\ny"}, {"z": [1, 2.5], "é": None}, {}]
    assert records_array(staged(records)) == orjson.dumps(records, option=orjson.OPT_SORT_KEYS)
    assert records_array(b"") == b"[]"


def test_checksum_is_sha256_hex_of_the_sorted_array():
    """The checksum is the lowercase hex SHA-256 the earlier receivers compute."""
    records = [{"b": 2, "a": 1}]
    expected = hashlib.sha256(b'[{"a":1,"b":2}]').hexdigest()
    assert checksum(records_array(staged(records))) == expected


@pytest.mark.parametrize("count,limit,sizes", [(10, 3, [3, 3, 3, 1]), (6, 3, [3, 3]), (1, 5, [1])])
def test_chunks_close_at_the_record_limit(count, limit, sizes):
    """A chunk is flushed when it holds chunk_records records."""
    records = [{"i": i} for i in range(count)]
    spans = plan(records, ChunkLimits(records=limit, bytes=1 << 20))
    assert [s.record_count for s in spans] == sizes
    assert [s.number for s in spans] == list(range(len(sizes)))


def test_chunks_close_before_the_byte_limit_is_exceeded():
    """Adding a record must never push a chunk's serialized records past chunk_bytes."""
    records = [{"v": "x" * 40} for _ in range(20)]
    limit = 200
    spans = plan(records, ChunkLimits(records=1000, bytes=limit))
    data = staged(records)
    for span in spans:
        array = records_array(data[span.byte_start : span.byte_end])
        assert len(array) <= limit
        assert array == orjson.dumps(
            records[span.record_offset : span.record_offset + span.record_count]
        )
    assert sum(s.record_count for s in spans) == 20
    assert len(spans) > 1


def test_a_record_larger_than_chunk_bytes_travels_alone():
    """An oversized record gets a chunk of its own; its neighbours are not merged with it."""
    records = [{"a": 1}, {"big": "x" * 5000}, {"c": 3}]
    spans = plan(records, ChunkLimits(records=100, bytes=1024))
    assert [s.record_count for s in spans] == [1, 1, 1]
    assert spans[1].record_offset == 1


def test_no_records_means_no_chunk():
    """An empty array sends no chunk at all, only the completion."""
    assert plan([], ChunkLimits(records=10, bytes=1024)) == []


def test_spans_tile_records_and_bytes_and_carry_their_checksums():
    """Chunk boundaries cover every record and byte exactly once, with matching checksums."""
    records = [{"i": i, "pad": "p" * (i % 7)} for i in range(101)]
    data = staged(records)
    spans = plan(records, ChunkLimits(records=7, bytes=300))
    assert spans[0].record_offset == 0 and spans[0].byte_start == 0
    for before, after in itertools.pairwise(spans):
        assert after.record_offset == before.record_offset + before.record_count
        assert after.byte_start == before.byte_end
    assert spans[-1].byte_end == len(data)
    for span in spans:
        assert span.checksum == checksum(records_array(data[span.byte_start : span.byte_end]))


def test_span_packs_to_a_fixed_size_and_back():
    span = ChunkSpan(3, 1500, 500, 123456, 234567, "ab" * 32)
    packed = span.pack()
    assert len(packed) == ChunkSpan.SIZE
    assert ChunkSpan.unpack(packed) == span


_AWKWARD = [
    "\x00",
    ",\x00,",
    "\\u0000",
    "},{",
    "\n",
    '"',
    "\\",
    "é",
    "\u2028",
    "\U0001f600",
    "\x1f",
    "",
]


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_AWKWARD) for _ in range(rng.randrange(4)))


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.randint(-(2**63), 2**63 - 1)
    if kind == 3:
        return round(rng.uniform(-1e6, 1e6), rng.randrange(4))
    if kind in (4, 5):
        return _text(rng)
    if kind in (6, 7):
        return {
            _text(rng) + rng.choice("abé"): _value(rng, depth + 1) for _ in range(rng.randrange(5))
        }
    return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_canonical_lines_equal_one_serialization_per_value():
    """The receiver's one-call serialization gives each record's canonical form, whatever its
    strings hold: NULs, the marker's own bytes, escapes, separators, any nesting."""
    rng = random.Random(7)
    for _ in range(3000):
        values = [_value(rng) for _ in range(rng.randrange(6))]
        lines = canonical_lines(values)
        assert lines == [orjson.dumps(v, option=orjson.OPT_SORT_KEYS) for v in values]
        assert array_checksum(lines) == checksum(orjson.dumps(values, option=orjson.OPT_SORT_KEYS))


def test_canonical_lines_of_a_value_nested_as_deep_as_orjson_goes():
    """orjson serializes 254 levels and no more: inside the list that one call makes, such a
    value is one level too deep, and each value is then serialized on its own."""
    deep: object = 1
    for _ in range(254):
        deep = {"a": deep}
    lines = canonical_lines([{"b": 1}, deep])
    assert lines == [b'{"b":1}', orjson.dumps(deep, option=orjson.OPT_SORT_KEYS)]


def test_adding_a_batch_cuts_exactly_the_chunks_adding_one_by_one_cuts():
    """ChunkPlanner.add_many (the fast JSON reader's batches) against add, record by record:
    the same chunks, spans and bytes, on random record sizes, limits and batch boundaries,
    oversized records and full chunks included."""
    rng = random.Random(20261207)
    for _ in range(3000):
        limits = ChunkLimits(records=rng.randint(1, 6), bytes=rng.randint(2, 60))
        lines = [b"x" * rng.choice([1, 2, 5, 9, 20, 70]) for _ in range(rng.randint(0, 40))]
        one = ChunkPlanner(limits)
        expected = [c for line in lines if (c := one.add(line))] + [one.finish()]
        many = ChunkPlanner(limits)
        found, start = [], 0
        while start < len(lines):
            size = rng.randint(0, 12)
            found += many.add_many(lines[start : start + size])
            if rng.random() < 0.2 and start + size < len(lines):  # single adds in between
                found += [c for c in [many.add(lines[start + size])] if c]
                size += 1
            start += size
        found.append(many.finish())
        assert found == expected, (limits, [len(line) for line in lines])
