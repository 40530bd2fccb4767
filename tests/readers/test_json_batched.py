"""The batched JSON reader against the reference (ijson) reader, on a fuzzed corpus.

The property: whenever the batched reader finishes a file, the reference reader accepts it too
and yields the same records (compared in canonical form, so -0.0 and 0 stay apart). Anything
else must end in Declined, so that the reference reader decides. Small block sizes put cuts
everywhere: inside strings, escapes, numbers, nested values and the UTF-8 of one character.
A declined file that ijson accepts is allowed only for mutated input (yajl, for one, takes a
form feed as whitespace); valid JSON as exporters write it must take the fast path.
"""

from __future__ import annotations

import os
import random

import orjson
import pytest

from ingestd.core import numbers
from ingestd.core.chunking import ChunkLimits
from ingestd.errors import InvalidInput
from ingestd.readers import CanonicalBatch, ReadDetails, SourceStream
from ingestd.readers.json.batched import BatchedJsonReader
from ingestd.readers.json.reference import JsonReader
from tests.differential import DECLINED, REJECTED, outcome
from tests.harness import stage_bytes

STRINGS = [
    "",
    "plain",
    "},{",
    '}, {"x": 1}',
    "]",
    "\\",
    '"',
    "Zürich \u2013 東京 😀",
    "line\nbreak\ttab",
    "\u0000\u001f",
    "{[,:]}",
    "1234567890123456789012",
]
NUMBERS = [
    "0",
    "-0",
    "-0.0",
    "1.25",
    "1e2",
    "1E-2",
    "-12.5e+3",
    "123456789012345678",
    "0.1e-400",
    # the rest only through mutations: 19 digits or more are declined, and ijson refuses these
    "9223372036854775807",
    "12345678901234567890.5",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "1e400",
    "01",
    "1.",
    ".5",
    "+1",
    "NaN",
    "Infinity",
]
MUTATIONS = [
    "truncate",
    "flip",
    "insert",
    "delete",
    "double_comma",
    "trailing_comma",
    "lone_surrogate",
    "garbage_after",
    "non_object",
    "deep",
]


def value(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(8 if depth < 3 else 4)
    if kind == 0:
        return rng.choice(NUMBERS[:9])
    if kind == 1:
        return orjson.dumps(rng.choice(STRINGS)).decode()
    if kind == 2:
        return rng.choice(["true", "false", "null"])
    if kind == 3:
        return orjson.dumps(rng.choice(STRINGS), option=orjson.OPT_APPEND_NEWLINE).decode()[:-1]
    if kind in (4, 5):
        return obj(rng, depth + 1)
    items = [value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return "[" + space(rng) + ("," + space(rng)).join(items) + "]"


def obj(rng: random.Random, depth: int = 0) -> str:
    keys = [orjson.dumps(rng.choice([*STRINGS, "sku", "a", "b"])).decode() for _ in range(4)]
    fields = [f"{k}{space(rng)}:{space(rng)}{value(rng, depth)}" for k in keys[: rng.randrange(5)]]
    return "{" + space(rng) + ("," + space(rng)).join(fields) + space(rng) + "}"


def space(rng: random.Random) -> str:
    return rng.choice(["", "", " ", "\n", "\r\n  ", "\t"])


def document(rng: random.Random) -> tuple[bytes, bool]:
    """A document, and whether it was mutated (an unmutated one is valid JSON)."""
    records = [obj(rng) for _ in range(rng.randrange(1, 30))]
    text = "[" + space(rng) + ("," + space(rng)).join(records) + space(rng) + "]" + space(rng)
    if rng.random() < 0.1:
        text = "\ufeff" + text
    data = text.encode()
    return (mutate(rng, data), True) if rng.random() < 0.5 else (data, False)


def mutate(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    match rng.choice(MUTATIONS):
        case "truncate":
            return data[:at]
        case "flip":
            return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
        case "insert":
            token = rng.choice(
                [b",", b"}", b"]", b"{", b'"', b"\\", b":", *map(str.encode, NUMBERS)]
            )
            return data[:at] + token + data[at:]
        case "delete":
            return data[:at] + data[at + rng.randrange(1, 4) :]
        case "double_comma":
            return data.replace(b"},", b"},,", 1)
        case "trailing_comma":
            return data.rstrip().removesuffix(b"]") + b",]"
        case "lone_surrogate":
            return data.replace(b'"plain"', b'"\\ud800"', 1).replace(b'"a"', b'"\\udc00x"', 1)
        case "garbage_after":
            return data + rng.choice([b"x", b"]", b",{}", b"\x00"])
        case "non_object":
            return data.replace(b"[{", b"[1,{", 1)
        case _:
            return data.replace(b"{", b'{"d":' + b"[" * 300 + b"]" * 300 + b",", 1)


@pytest.mark.parametrize("block", [2, 64, 4096])
def test_batched_reader_never_differs_from_ijson(tmp_path, block):
    rng = random.Random(block)
    fast, reference = BatchedJsonReader(block_size=block), JsonReader()
    path = tmp_path / "doc.json"
    seen = {"agreed": 0, "rejected by both": 0}
    for _ in range(500):
        data, mutated = document(rng)
        path.write_bytes(data)
        expected, got = outcome(reference, path), outcome(fast, path)
        if got == DECLINED:
            assert mutated, f"declined valid JSON: {data!r}"
            seen["rejected by both"] += expected == REJECTED
            continue
        assert got == expected, data
        seen["agreed"] += 1
    assert seen["agreed"] > 150 and seen["rejected by both"] > 150, seen


def stage_file(tmp_path, data: bytes, name: str = "n.json", records: int = 10):
    return stage_bytes(tmp_path, name, data, JsonReader(), ChunkLimits(records, 1 << 20))


@pytest.mark.parametrize(
    "number", [b"18446744073709551616", b"-9223372036854775809", b"9223372036854775808"]
)
def test_integers_beyond_signed_64_bits_are_declined_then_refused(tmp_path, number):
    """orjson would turn some into floats or read unsigned ones: the fast reader declines any
    integer of 19 digits or more, and staging refuses those outside the signed 64-bit range."""
    (tmp_path / "n.json").write_bytes(b'[{"a": 1}, {"n": ' + number + b"}]")
    assert outcome(BatchedJsonReader(), tmp_path / "n.json") == DECLINED
    with pytest.raises(InvalidInput) as failure:
        stage_file(tmp_path, b'[{"a": 1}, {"n": ' + number + b"}]")
    assert failure.value.where["record_index"] == 1 and failure.value.where["field"] == "n"
    assert failure.value.where["value"] == number.decode()
    assert failure.value.where["byte_offset"] == len(b'[{"a": 1}, ')


@pytest.mark.parametrize("number", [-(2**63), 2**63 - 1, -(2**63) + 1, 2**53 + 1, -(2**53) - 1])
def test_every_signed_64_bit_integer_is_staged_exactly(tmp_path, number):
    """-2**63 included, which yajl's own integer parser refuses."""
    stage_file(tmp_path, b'[{"n": %d}]' % number)
    assert (tmp_path / "n.json.staged").read_bytes() == b'{"n":%d}\n' % number


@pytest.mark.parametrize(
    "number",
    [
        b"123456789012345678",
        b"-123456789012345678",
        b"123456789012345678.0",
        b"999999999999999999e3",
        b"1e300",
        b"-1.7976931348623157e308",
        b"5e-324",
        b"0.000000000000000001",
    ],
)
def test_what_the_fast_reader_hands_over_holds_no_integer_staging_would_check(tmp_path, number):
    """Staging does not look for integers beyond 64 bits in the fast reader's batches
    (readers/base.py, CanonicalBatch): what the reader does not decline comes out canonical
    with no run of 19 digits, floats of every size included."""
    (tmp_path / "f.json").write_bytes(b'[{"n": ' + number + b"}]")
    lines = outcome(BatchedJsonReader(), tmp_path / "f.json")
    assert lines != DECLINED and len(lines) == 1
    assert not numbers.may_hold_long_integer(lines[0]), lines[0]


def test_long_digit_strings_cost_only_speed(tmp_path):
    """A GTIN-like string of 20 digits matches the cheap scan but not the exact pattern."""
    (tmp_path / "g.json").write_bytes(b'[{"gtin": "12345678901234567890"}]')
    assert outcome(BatchedJsonReader(), tmp_path / "g.json") == [b'{"gtin":"12345678901234567890"}']


def test_valid_catalog_is_read_by_the_fast_path(tmp_path):
    """Cut after cut on a realistic file: nothing declined, every record equal."""
    rng = random.Random(3)
    records = [
        {"sku": f"S{i}", "name": "Käse }, {", "price": round(rng.random() * 100, 2),
         "dims": {"w": i, "h": None}, "tags": ["a", "b"], "variants": [{"x": 1}, {"y": 2}]}
        for i in range(3000)
    ]  # fmt: skip
    (tmp_path / "c.json").write_bytes(orjson.dumps(records, option=orjson.OPT_INDENT_2))
    got = outcome(BatchedJsonReader(block_size=10_000), tmp_path / "c.json")
    assert got == [orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in records]


def test_records_are_handed_over_in_canonical_form(tmp_path):
    """Staging takes them as they are, a batch at a time, without serializing each again."""
    (tmp_path / "c.json").write_bytes(b'[{"b": 1, "a": [2.5, null]}, {"z": {"y": "\\u00e9"}}]')
    fd = os.open(tmp_path / "c.json", os.O_RDONLY)
    try:
        records = list(BatchedJsonReader().records(SourceStream(fd), ReadDetails()))
    finally:
        os.close(fd)
    assert records == [[b'{"a":[2.5,null],"b":1}', '{"z":{"y":"é"}}'.encode()]]
    assert all(type(r) is CanonicalBatch for r in records)


def test_a_record_that_is_not_an_object_is_reported_by_the_reference_reader(tmp_path):
    (tmp_path / "mixed.json").write_bytes(b'[{"a": 1}, [2], {"b": 3}]')
    assert outcome(BatchedJsonReader(), tmp_path / "mixed.json") == DECLINED
    with pytest.raises(InvalidInput) as failure:
        stage_file(tmp_path, b'[{"a": 1}, [2], {"b": 3}]', "mixed.json")
    assert str(failure.value).startswith("record 1 is an array, not an object")
    assert failure.value.where["record_index"] == 1


def test_staging_falls_back_to_the_reference_report(tmp_path):
    """A bad file is reported by ijson's words and places, whichever reader saw it first."""
    with pytest.raises(InvalidInput) as failure:
        stage_file(tmp_path, b'[{"a": 1}, {"b": 2}, {"c": 3,}]', "bad.json", records=2)
    assert "malformed JSON" in str(failure.value)
    assert failure.value.where["records_before_error"] == 2


def test_a_good_file_the_fast_reader_declined_says_why_it_was_read_twice(tmp_path):
    staged = stage_file(tmp_path, b'[{"id": 9223372036854775807}]')
    assert staged.total_records == 1
    assert staged.details.notes == {"read_twice": "an integer of 19 or more digits"}
    assert (tmp_path / "n.json.staged").read_bytes() == b'{"id":9223372036854775807}\n'
