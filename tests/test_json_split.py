"""A long JSON array read by two processes: the same records as one reading, or the same
refusal, wherever the cut falls (readers/json_batched.py, design.md "Two JSON readers")."""

from __future__ import annotations

import os
import random
from pathlib import Path

import orjson
import pytest

from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.readers import ReadDetails, json_batched
from ingestd.readers.json import JsonReader
from ingestd.readers.json_batched import BatchedJsonReader
from ingestd.staging import stage
from tests.differential import DECLINED, outcome
from tests.processes import check_abandoned_reading, children
from tests.test_json_batched import document

TAKEN = "read_in_two_processes"


@pytest.fixture
def split_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_batched, "SPLIT_MIN_BYTES", 0)


def _catalog(path: Path, count: int = 3000) -> Path:
    records = [
        {"sku": f"S{i}", "name": "Käse }, {", "price": i * 1.25, "dims": {"w": i}, "tags": ["a"]}
        for i in range(count)
    ]
    path.write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2))
    return path


def test_two_processes_read_what_one_reads(tmp_path, monkeypatch, split_all):
    """Fuzzed documents, half of them mutated, cut at random places with small blocks, so that
    cuts fall inside strings, nested values and mutations."""
    rng = random.Random(5)
    monkeypatch.setattr(json_batched, "cut_target", rng.randrange)
    reader = BatchedJsonReader(block_size=32)
    before = set(children())
    seen = {"same records": 0, "both declined": 0, "taken": 0}
    path = tmp_path / "doc.json"
    for _ in range(400):
        data, _mutated = document(rng)
        path.write_bytes(data)
        single, split = ReadDetails(), ReadDetails()
        expected = outcome(reader, path, single)
        assert outcome(reader, path, split, scratch=tmp_path) == expected, data
        if expected == DECLINED:
            seen["both declined"] += 1
            continue
        seen["same records"] += 1
        seen["taken"] += split.notes.pop(TAKEN, False)
        assert split.notes == single.notes
    assert seen["same records"] > 120 and seen["both declined"] > 120, seen
    assert seen["taken"] > 40, seen
    assert set(children()) <= before, "a process reading a second half outlived its reading"


def test_a_long_file_is_staged_the_same_by_two_processes(tmp_path, monkeypatch):
    path = _catalog(tmp_path / "c.json", count=20000)  # several of the reader's 1 MB blocks
    monkeypatch.setattr(json_batched, "SPLIT_MIN_BYTES", path.stat().st_size)
    split = _stage(path, tmp_path / "split")
    monkeypatch.setattr(json_batched, "SPLIT_MIN_BYTES", path.stat().st_size + 1)
    single = _stage(path, tmp_path / "single")
    assert split.details.notes == {TAKEN: True} and single.details.notes == {}
    assert split.total_records == single.total_records == 20000
    assert split.file_sha256 == single.file_sha256
    for name in ("s", "i"):
        assert (tmp_path / "split" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()


def test_a_cut_inside_a_string_is_not_taken(tmp_path, monkeypatch, split_all):
    """Made to cut at `}, {` inside a string, the other process reads garbage; this one's text
    up to there is no array of its own, so it reads on alone."""
    records = [{"n": i} for i in range(50)] + [{"s": "x}, {y"}] + [{"n": i} for i in range(50)]
    path = tmp_path / "s.json"
    path.write_bytes(orjson.dumps(records))
    inside = path.read_bytes().index(b"}, {y")
    monkeypatch.setattr(
        json_batched, "_find_cut", lambda fd, target, block: (inside + 1, inside + 3)
    )
    details = ReadDetails()
    got = outcome(BatchedJsonReader(block_size=64), path, details, scratch=tmp_path)
    assert got == [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records]
    assert TAKEN not in details.notes


def test_a_cut_behind_what_was_read_is_not_taken(tmp_path, monkeypatch, split_all):
    """The first read ended exactly after a record, past the cut: the bytes since the last piece
    are an array of their own, but taking the other process's records would repeat some."""
    records = [{"n": i} for i in range(100)]
    path = tmp_path / "r.json"
    path.write_bytes(orjson.dumps(records))
    data = path.read_bytes()
    first_read = data.index(b'{"n":10}') - 1  # "[" and the first ten records, up to their "}"
    cut = data.index(b'{"n":3}')
    monkeypatch.setattr(json_batched, "_find_cut", lambda fd, target, block: (cut - 1, cut))
    details = ReadDetails()
    got = outcome(BatchedJsonReader(block_size=first_read), path, details, scratch=tmp_path)
    assert got == [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records]
    assert TAKEN not in details.notes


def test_the_other_process_looks_past_a_cut_inside_a_string(tmp_path):
    records = [{"n": i} for i in range(50)] + [{"s": "x}, {y"}] + [{"n": i} for i in range(50)]
    path = tmp_path / "s.json"
    path.write_bytes(orjson.dumps(records))
    data = path.read_bytes()
    inside = data.index(b"}, {y")
    fd = os.open(path, os.O_RDONLY)
    try:
        close_end, open_at = json_batched._find_cut(fd, inside - 1, 64)
    finally:
        os.close(fd)
    assert data[close_end - 1 : open_at + 1] == b"},{" and close_end > inside + 5


def test_a_bad_record_after_the_cut_gets_the_reference_report(tmp_path, monkeypatch):
    path = _catalog(tmp_path / "bad.json", count=20000)
    data = path.read_bytes()
    late = data.rindex(b'"name"')  # in the last record, well after the middle
    path.write_bytes(data[:late] + b"'name'" + data[late + len(b'"name"') :])
    monkeypatch.setattr(json_batched, "SPLIT_MIN_BYTES", 0)
    details = ReadDetails()
    assert outcome(BatchedJsonReader(), path, details, scratch=tmp_path) == DECLINED
    split = _refusal(path, tmp_path / "split")
    monkeypatch.setattr(json_batched, "SPLIT_MIN_BYTES", 1 << 62)
    single = _refusal(path, tmp_path / "single")
    assert (split.message, split.where) == (single.message, single.where)
    assert "malformed JSON" in split.message


def test_an_abandoned_reading_leaves_no_second_process(tmp_path, split_all):
    check_abandoned_reading(BatchedJsonReader(), _catalog(tmp_path / "c.json", 20000), tmp_path)


def _stage(path: Path, folder: Path):
    folder.mkdir()
    fd = os.open(path, os.O_RDONLY)
    try:
        return stage(fd, JsonReader(), ChunkLimits(100, 1 << 20), folder / "s", folder / "i")
    finally:
        os.close(fd)


def _refusal(path: Path, folder: Path) -> InvalidInput:
    with pytest.raises(InvalidInput) as failure:
        _stage(path, folder)
    return failure.value
