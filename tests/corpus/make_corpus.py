"""Writes the hostile-input corpus into tests/corpus/files/ with expected.json beside it.

    python -m tests.corpus.make_corpus

XML files are read with xml_record_path = "/catalog/product" (tests/harness.py's INBOX).
Each file's expected outcome is one of: delivered (with its record count), failed (with the
report's reason and a phrase of its error), or ignored (never claimed). The files are committed;
this script documents how each was made and can make them again.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import openpyxl

from tests import workbooks

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"


def delivered(records: int) -> dict[str, Any]:
    return {"outcome": "delivered", "records": records}


def failed(phrase: str, reason: str = "invalid_input") -> dict[str, Any]:
    return {"outcome": "failed", "reason": reason, "error": phrase}


IGNORED = {"outcome": "ignored"}
GZIP = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(64)  # a gzip header and zeros

JSON: dict[str, tuple[bytes, dict[str, Any]]] = {
    "valid.json": (
        b'[{"sku": "A", "price": 9.99}, {"sku": "B", "price": 19.5}, {"sku": "C"}]',
        delivered(3),
    ),
    "empty-array.json": (b"[]", delivered(0)),
    "zero-bytes.json": (b"", failed("empty")),
    "whitespace-only.json": (b" \n\t \n", failed("not an array")),
    "truncated.json": (b'[{"sku": "A"}, {"sku": "B", "na', failed("malformed JSON")),
    "unclosed-array.json": (b'[{"sku": "A"},', failed("malformed JSON")),
    "trailing-garbage.json": (b'[{"sku": "A"}] {"sku": "B"}', failed("malformed JSON")),
    "two-documents.json": (b'[{"a": 1}]\n[{"b": 2}]', failed("malformed JSON")),
    "root-object.json": (b'{"products": [{"sku": "A"}]}', failed("not an array")),
    "root-item-key.json": (b'{"item": {"sku": "A"}}', failed("not an array")),
    "root-string.json": (b'"products"', failed("not an array")),
    "root-number.json": (b"42", failed("not an array")),
    "root-null.json": (b"null", failed("not an array")),
    "array-of-numbers.json": (b"[1, 2, 3]", failed("record 0 is a number")),
    "array-of-strings.json": (b'["a", "b"]', failed("record 0 is a string")),
    "array-of-arrays.json": (b"[[1], [2]]", failed("record 0 is an array")),
    "array-of-nulls.json": (b"[null]", failed("record 0 is null")),
    "mixed-records.json": (b'[{"a": 1}, {"b": 2}, true]', failed("record 2 is a boolean")),
    "nan.json": (b'[{"price": NaN}]', failed("malformed JSON")),
    "infinity.json": (b'[{"price": Infinity}]', failed("malformed JSON")),
    "minus-infinity.json": (b'[{"price": -Infinity}]', failed("malformed JSON")),
    "huge-float.json": (b'[{"price": 1e400}]', failed("beyond the range of a double")),
    "int-over-64-bits.json": (
        b'[{"ean": 18446744073709551616}]',
        failed("the number 18446744073709551616 in ean is beyond the signed 64-bit"),
    ),
    "int-below-64-bits.json": (
        b'[{"ean": -9223372036854775809}]',
        failed("the number -9223372036854775809 in ean is beyond the signed 64-bit"),
    ),
    "int-just-over-63-bits.json": (
        b'[{"a": 1}, {"ean": 9223372036854775808}]',
        failed("record 1: the number 9223372036854775808 in ean is beyond the signed 64-bit"),
    ),
    "int64-edges.json": (
        b'[{"max": 9223372036854775807, "min": -9223372036854775807}]',
        delivered(1),
    ),
    "int64-min.json": (b'[{"min": -9223372036854775808}]', delivered(1)),
    "bom-only.json": (b"\xef\xbb\xbf", failed("only a UTF-8 byte order mark")),
    "number-edges.json": (
        b'[{"z": -0.0, "tiny": 5e-324, "big": 1.7976931348623157e308}]',
        delivered(1),
    ),
    "invalid-utf8.json": (b'[{"name": "caf\xe9"}]', failed("malformed JSON")),
    "overlong-utf8.json": (b'[{"name": "\xc0\xaf"}]', failed("malformed JSON")),
    "lone-surrogate.json": (b'[{"name": "x\\ud800y"}]', failed("lone UTF-16 surrogate")),
    "surrogate-pair.json": (b'[{"name": "smile \\ud83d\\ude00"}]', delivered(1)),
    "utf8-bom.json": (b'\xef\xbb\xbf[{"sku": "A"}]', delivered(1)),
    "double-bom.json": (b'\xef\xbb\xbf\xef\xbb\xbf[{"sku": "A"}]', failed("not an array")),
    "utf16-with-bom.json": ('[{"sku": "A"}]'.encode("utf-16"), failed("not an array")),
    "duplicate-keys.json": (b'[{"sku": "A", "sku": "B"}]', delivered(1)),
    "raw-control-char.json": (b'[{"name": "a\tb"}]', failed("malformed JSON")),
    "comments.json": (b'[// a comment\n{"sku": "A"}]', failed("malformed JSON")),
    "single-quotes.json": (b"[{'sku': 'A'}]", failed("malformed JSON")),
    "trailing-comma.json": (b'[{"sku": "A"},]', failed("malformed JSON")),
    "nul-bytes.json": (b"\x00" * 4096, failed("not an array")),
    "binary-garbage.json": (bytes(range(256)) * 16, failed("not an array")),
    "gzip-renamed.json": (GZIP, failed("not an array")),
    "deep-nesting-100k.json": (
        b'[{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]",
        failed("memory limit"),
    ),
    "deep-nesting-300.json": (
        b'[{"a": ' + b"[" * 300 + b"]" * 300 + b"}]",
        failed("cannot be sent as JSON"),
    ),
    "huge-single-record.json": (
        b'[{"a": 1}, {"blob": "' + b"x" * 1_500_000 + b'"}, {"c": 3}]',
        delivered(3),
    ),
    "long-key.json": (b'[{"' + b"k" * 100_000 + b'": 1}]', delivered(1)),
    ".hidden.json": (b'[{"a": 1}]', IGNORED),
    "upload.json.part": (b'[{"a": 1}]', IGNORED),
    "upload.json.filepart": (b'[{"a": 1}]', IGNORED),
    "upload.json.tmp": (b'[{"a": 1}]', IGNORED),
    "backup.json~": (b'[{"a": 1}]', IGNORED),
    "notes.txt": (b"not for ingestion", IGNORED),
}


CSV: dict[str, tuple[bytes, dict[str, Any]]] = {
    "valid.csv": (b'sku,name,price\r\nA,Anvil,9.99\r\nB,"Bolt, 10 mm",0.10\r\n', delivered(2)),
    "semicolons.csv": (b"sku;name\nA;Anvil\n", delivered(1)),  # one field named "sku;name"
    "valid.tsv": (b"sku\tname\nA\tAnvil\n", delivered(1)),
    "header-only.csv": (b"sku,name\n", delivered(0)),
    "blank-lines-only.csv": (b"\n\r\n\n", failed("is blank")),
    "bom-only.csv": (b"\xef\xbb\xbf", failed("ends before line 1")),
    "cp1252-bytes.csv": ("sku,name\nA,Café\n".encode("cp1252"), failed("not utf-8 text")),
    "utf16-with-bom.csv": ("sku,name\nA,b\n".encode("utf-16"), failed("not utf-8 text")),
    "ragged-row.csv": (b"sku,name\nA,b\nC,d,e\n", failed("has 3 fields where the header has 2")),
    "unclosed-quote.csv": (b'sku,name\nA,"open\nB,c\n', failed("not closed")),
    "stray-quote.csv": (b'sku,name\nA,"x"y\n', failed("not valid CSV")),
    "duplicate-headers.csv": (b"sku,sku\nA,B\n", failed("both have the header")),
    "value-under-empty-header.csv": (b"sku,\nA,lost?\n", failed("empty header")),
    "nul-bytes.csv": (b"\x00" * 4096, failed("NUL character")),
    "binary-garbage.csv": (bytes(range(256)) * 16, failed("not utf-8 text")),
    "gzip-renamed.csv": (GZIP, failed("not utf-8 text")),
}

NDJSON: dict[str, tuple[bytes, dict[str, Any]]] = {
    "valid.ndjson": (b'{"sku": "A"}\n{"sku": "B", "price": 1.5}\n', delivered(2)),
    "valid.jsonl": (b'{"sku": "A"}\r\n\r\n{"sku": "B"}', delivered(2)),
    "utf8-bom.ndjson": (b'\xef\xbb\xbf{"sku": "A"}\n', delivered(1)),
    "blank-lines-only.ndjson": (b"\n \n\r\n", failed("only blank lines")),
    "json-array.ndjson": (b'[{"sku": "A"}, {"sku": "B"}]\n', failed("record 0 is an array")),
    "pretty-printed.ndjson": (b'{\n  "sku": "A"\n}\n', failed("line 1: malformed JSON")),
    "bad-line.ndjson": (b'{"sku": "A"}\n{"sku": B}\n', failed("line 2: malformed JSON")),
    "int-over-64-bits.ndjson": (
        b'{"ean": 18446744073709551616}\n',
        failed("beyond the signed 64-bit"),
    ),
    "nan.ndjson": (b'{"price": NaN}\n', failed("malformed JSON")),
    "lone-surrogate.jsonl": (b'{"name": "x\\ud800"}\n', failed("lone UTF-16 surrogate")),
    "utf16.ndjson": ('{"sku": "A"}\n'.encode("utf-16"), failed("line 1: malformed JSON")),
    "scalar-lines.ndjson": (b"1\n2\n", failed("record 0 is a number")),
}

XML: dict[str, tuple[bytes, dict[str, Any]]] = {
    "valid.xml": (
        b'<?xml version="1.0"?><catalog><product id="1"><sku>A</sku></product>'
        b"<product><sku>B</sku></product></catalog>",
        delivered(2),
    ),
    "external-dtd.xml": (
        b'<!DOCTYPE catalog SYSTEM "catalog.dtd"><catalog><product><sku>A</sku></product></catalog>',
        delivered(1),
    ),
    "utf16.xml": (
        '<?xml version="1.0" encoding="utf-16"?><catalog><product><n>é</n></product></catalog>'.encode(
            "utf-16"
        ),
        delivered(1),
    ),
    "billion-laughs.xml": (workbooks.BILLION_LAUGHS, failed("declares the entity")),
    "external-entity.xml": (
        b'<!DOCTYPE catalog [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<catalog><product><n>&x;</n></product></catalog>",
        failed("declares the entity 'x'"),
    ),
    "undeclared-entity.xml": (
        b'<!DOCTYPE catalog SYSTEM "c.dtd"><catalog><product><n>&nbsp;</n></product></catalog>',
        failed("declared nowhere"),
    ),
    "no-records.xml": (b"<shop><item><sku>A</sku></item></shop>", failed("/shop/item")),
    "empty-root.xml": (b"<catalog/>", failed("no element at /catalog/product")),
    "deep-nesting.xml": (
        b"<catalog><product>" + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</product></catalog>",
        failed("nested more than"),
    ),
    "truncated.xml": (b"<catalog><product><sku>A</sku></product><prod", failed("malformed XML")),
    "text-record.xml": (b"<catalog><product>A</product></catalog>", failed("is a string")),
    "empty-record.xml": (b"<catalog><product/></catalog>", failed("record 0 is null")),
    "json-renamed.xml": (b'[{"sku": "A"}]', failed("malformed XML")),
    "zero-bytes.xml": (b"", failed("empty")),
}


def excel() -> dict[str, tuple[bytes, dict[str, Any]]]:
    scratch = HERE / "scratch"
    scratch.mkdir(exist_ok=True)
    sheet = {"Products": [["sku", "price"], ["A", 9.99], ["B", 19.5]]}
    valid = workbooks.write(scratch / "valid.xlsx", sheet).read_bytes()
    bomb = workbooks.edit(
        workbooks.write(scratch / "bomb.xlsx", sheet),
        "xl/worksheets/sheet1.xml",
        lambda xml: xml + b" " * (64 << 20),
    ).read_bytes()
    xml_bomb = _with_shared_strings(scratch / "xmlbomb.xlsx", sheet, workbooks.BILLION_LAUGHS)
    xxe = workbooks.edit(
        workbooks.write(scratch / "xxe.xlsx", sheet),
        "xl/worksheets/sheet1.xml",
        lambda xml: b'<!DOCTYPE w [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + xml,
    ).read_bytes()
    encrypted = workbooks.encrypted(scratch / "valid.xlsx", scratch / "locked.xlsx").read_bytes()
    legacy = workbooks.legacy_xls(scratch / "old.xls").read_bytes()
    duplicate = workbooks.write(
        scratch / "dup.xlsx", {"S": [["sku", "sku"], ["A", "B"]]}
    ).read_bytes()
    empty = workbooks.write(scratch / "empty.xlsx", {"S": []}).read_bytes()
    under_empty = workbooks.write(
        scratch / "under.xlsx", {"S": [["sku", None], ["A", "lost?"]]}
    ).read_bytes()
    ods = _zip(
        {"mimetype": b"application/vnd.oasis.opendocument.spreadsheet", "content.xml": b"<x/>"}
    )
    docx = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})
    xlsb = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.bin": b"\x00\x01"})
    for path in scratch.iterdir():
        path.unlink()
    scratch.rmdir()
    return {
        "valid.xlsx": (valid, delivered(2)),
        "zip-bomb.xlsx": (bomb, failed("zip bomb")),
        "xml-bomb.xlsx": (xml_bomb, failed("entities or a DTD")),
        "external-entity.xlsx": (xxe, failed("entities or a DTD")),
        "password-protected.xlsx": (encrypted, failed("password-protected")),
        "legacy-97-2003.xlsx": (legacy, failed("legacy Excel 97-2003")),
        "csv-renamed.xlsx": (b"sku;price\nA;9,99\n", failed("CSV")),
        "truncated.xlsx": (valid[: len(valid) // 2], failed("damaged zip")),
        "empty-sheet.xlsx": (empty, failed("empty")),
        "duplicate-headers.xlsx": (duplicate, failed("both have the header")),
        "value-under-empty-header.xlsx": (under_empty, failed("empty header")),
        "ods-renamed.xlsx": (ods, failed("OpenDocument")),
        "docx-renamed.xlsx": (docx, failed("not an Excel workbook")),
        "xlsb-renamed.xlsx": (xlsb, failed(".xlsb")),
        "garbage.xlsx": (bytes(range(256)) * 8, failed("not an Excel workbook")),
        "~$lock.xlsx": (b"\x00" * 165, IGNORED),
    }


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def _with_shared_strings(path: Path, sheets: dict[str, list[list[Any]]], strings: bytes) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.title = "S"
    workbook.active.append(["x"])
    workbook.save(path)
    with zipfile.ZipFile(path) as z:
        members = {i.filename: z.read(i) for i in z.infolist()}
    workbooks.add_shared_strings(members, strings)
    return _zip(members)


def main() -> None:
    FILES.mkdir(exist_ok=True)
    for old in FILES.iterdir():
        old.unlink()
    expected = {}
    for name, (content, outcome) in {**JSON, **CSV, **NDJSON, **XML, **excel()}.items():
        (FILES / name).write_bytes(content)
        expected[name] = outcome
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"{len(expected)} files in {FILES}")


if __name__ == "__main__":
    main()
