"""Writes the checksum's test vectors, ingestd/contract/protocol-vectors.json and its copy
docs/protocol-vectors.json, from the cases below and the sender's own canonical form.

    python -m tests.contract.make_vectors

Each case is a `records` array as JSON text (as a receiver gets it: keys in any order, escapes
as a sender may write them), its canonical bytes (orjson.dumps(records, option=OPT_SORT_KEYS)),
as text and as base64, and their SHA-256, the chunk's `checksum`. The cases are chosen where
implementations differ.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[2]
TARGETS = (
    ROOT / "ingestd" / "contract" / "protocol-vectors.json",
    ROOT / "docs" / "protocol-vectors.json",
)

Case = tuple[str, str, Any]  # name, why, records (or the JSON text itself)

FLOATS = [
    0.1,
    1e-7,
    1e16,
    1e22,
    123456789.123,
    -0.0,
    5e-324,
    1.7976931348623157e308,
    2.5,
    100.0,
    1e21,
    1e-6,
    1e15,
    9007199254740992.0,
    0.30000000000000004,
    1 / 3,
    -1.5,
    2.2250738585072014e-308,
    4.35,
    1e100,
]
INTEGERS = [
    0,
    1,
    -1,
    2**53 - 1,
    2**53,
    2**53 + 1,
    -(2**53 - 1),
    -(2**53),
    -(2**53 + 1),
    2**63 - 1,
    -(2**63),
    2**63 - 2,
    -(2**63) + 1,
    10**18,
    4006381333931,
]


def cases() -> list[Case]:
    out: list[Case] = []
    for value in FLOATS:
        out.append(
            (f"float {value!r}", "shortest round-trip form; exponent spelling", [{"v": value}])
        )
    for value in INTEGERS:
        out.append(
            (
                f"integer {value}",
                "beyond 2^53 a double loses it; signed 64-bit edges",
                [{"v": value}],
            )
        )
    out += [
        (
            "float 1.0 written as 1.0 and 1",
            "a decimal point keeps a float a float",
            '[{"a": 1.0, "b": 1, "c": 1E2, "d": 1.50}]',
        ),
        (
            "control characters",
            "orjson writes \\b \\t \\n \\f \\r and \\u00XX for the rest",
            [{"s": "".join(chr(i) for i in range(32))}],
        ),
        ("quote and backslash", "the two characters always escaped", [{"s": 'say "hi" \\ bye'}]),
        ("DEL", "U+007F is not escaped", [{"s": "a\x7fb"}]),
        (
            "slash",
            "'/' is not escaped (PHP escapes it unless JSON_UNESCAPED_SLASHES)",
            [{"url": "https://example.com/a/b"}],
        ),
        (
            "U+2028 and U+2029",
            "written raw (PHP escapes them unless JSON_UNESCAPED_LINE_TERMINATORS)",
            [{"s": "a\u2028b\u2029c"}],
        ),
        (
            "non-BMP characters",
            "raw UTF-8, never a surrogate pair escape",
            [{"s": "smile \U0001f600 \U00010348"}],
        ),
        (
            "non-BMP written as an escaped pair",
            "the input may say \\ud83d\\ude00; the canonical form is raw UTF-8",
            '[{"s": "\\ud83d\\ude00"}]',
        ),
        (
            "combining mark",
            "no Unicode normalization: e + U+0301 stays two code points",
            [{"s": "e\u0301", "t": "\u00e9"}],
        ),
        (
            "escaped non-ASCII input",
            "\\u00e9 in the input is é in the canonical form",
            '[{"name": "caf\\u00e9 \\u6771\\u4eac"}]',
        ),
        ("empty string", "", [{"s": ""}]),
        ("long text", "no wrapping, no limit", [{"s": "Lorem ipsum " * 40}]),
        (
            "keys: upper before lower",
            "sorted by code point: 'A' < 'B' < 'a' < 'b'",
            '[{"b": 1, "a": 2, "B": 3, "A": 4}]',
        ),
        (
            "keys: non-ASCII",
            "code point order: 'z' < 'Ä' < 'ä' < 'é'",
            '[{"é": 1, "z": 2, "ä": 3, "Ä": 4}]',
        ),
        (
            "keys: a prefix of another",
            "'a' < 'a b' < 'a_' < 'ab'",
            '[{"ab": 1, "a_": 2, "a": 3, "a b": 4}]',
        ),
        (
            "keys: numeric-looking",
            "strings, not numbers: '-1' < '1' < '1.5' < '10' < '9'",
            '[{"10": "x", "9": "y", "1": "z", "-1": "w", "1.5": "v"}]',
        ),
        (
            "keys: beyond the BMP",
            "code point order (UTF-8 byte order), not UTF-16 order: U+FF5E sorts before U+1F600",
            [{"\U0001f600": 1, "\uff5e": 2}],
        ),
        ("keys: empty key", "'' sorts first", '[{"b": 1, "": 2, "a": 3}]'),
        (
            "keys: combining mark",
            "'e\\u0301' (two code points) sorts before 'é' (one)",
            [{"\u00e9": 1, "e\u0301": 2}],
        ),
        (
            "nested objects",
            "keys sorted at every level",
            '[{"z": {"y": {"b": 1, "a": 2}, "x": [ {"d": 1, "c": 2} ]}, "a": 0}]',
        ),
        ("arrays keep their order", "only object keys are sorted", [{"list": [3, 1, 2, "b", "a"]}]),
        (
            "empty object and empty list",
            "'{}' and '[]', no spaces",
            [{"o": {}, "l": [], "lo": [{}], "ol": {"l": []}}],
        ),
        ("null, true, false", "literals", [{"n": None, "t": True, "f": False}]),
        (
            "mixed array",
            "every kind of value in one array",
            [{"m": [None, True, 0, -0.0, 1.5, "s", [], {}]}],
        ),
        (
            "deep nesting",
            "ten levels",
            [{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": 1}}}}}}}}}}],
        ),
        (
            "whitespace in the input",
            "the canonical form has none between tokens",
            '[ { "b" : [ 1 , 2 ] ,\n  "a" : { } } ]',
        ),
        ("no records", "a chunk of no records: '[]'", []),
        ("empty record", "an object with no keys", [{}]),
        (
            "several records",
            "records are separated by a comma, no space",
            [{"sku": "A-1", "price": 9.99}, {"sku": "A-2", "price": 19.5}, {"sku": "A-3"}],
        ),
        (
            "a product record",
            "what a real chunk holds",
            [
                {
                    "sku": "SKU-00000001",
                    "ean": 4000000000001,
                    "name": "Étagère Säule Nr. 1",
                    "price": 129.0,
                    "active": True,
                    "colour": None,
                    "dimensions": {"w": 40, "h": 180, "d": 35},
                    "tags": ["öko", "design"],
                }
            ],
        ),
        (
            "a BMEcat product as XML records are",
            "XML values are strings; @ and # keys sort first",
            [
                {
                    "SUPPLIER_PID": "ACME-1002",
                    "@mode": "new",
                    "PRODUCT_DETAILS": {"DESCRIPTION_SHORT": {"@lang": "deu", "#text": "Bit-Set"}},
                }
            ],
        ),
        (
            "duplicate keys in the input",
            "a JSON parser keeps the last; the canonical form holds it once",
            '[{"sku": "A", "sku": "B"}]',
        ),
    ]
    return out


def vector(name: str, why: str, records: Any) -> dict[str, Any]:
    text = records if isinstance(records, str) else json.dumps(records, ensure_ascii=False)
    canonical = orjson.dumps(json.loads(text), option=orjson.OPT_SORT_KEYS)
    return {
        "name": name,
        "why": why,
        "records": text,
        "canonical": canonical.decode("utf-8"),
        "canonical_base64": base64.b64encode(canonical).decode("ascii"),
        "sha256": hashlib.sha256(canonical).hexdigest(),
    }


def main() -> None:
    vectors = [vector(*case) for case in cases()]
    document = {
        "description": (
            "Test vectors for the chunk checksum of ingestd's protocol: canonical is "
            "orjson.dumps(records, option=OPT_SORT_KEYS) (UTF-8, keys sorted by code point at "
            "every level, no whitespace, shortest round-trip floats), sha256 its hex SHA-256."
        ),
        "protocol": 1,
        "vectors": vectors,
    }
    text = json.dumps(document, ensure_ascii=False, indent=1) + "\n"
    for target in TARGETS:
        target.write_text(text, encoding="utf-8")
    print(f"{len(vectors)} vectors written to {', '.join(str(t) for t in TARGETS)}")


if __name__ == "__main__":
    main()
