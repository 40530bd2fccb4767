"""Deterministic product-catalog data: the same seed gives the same bytes on every machine."""

from __future__ import annotations

import csv
import random
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import orjson

from ingestd.readers.excel.streaming import column_letter

NAMES = [
    "Stuhl",
    "Tisch",
    "Lampe",
    "Sofa",
    "Regal",
    "Kommode",
    "Fauteuil",
    "Étagère",
    "Säule",
    "Ñandú",
]
COLOURS = ["weiß", "schwarz", "grün", "rouge", "azul", "żółty", None]


def product(i: int, rng: random.Random) -> dict[str, Any]:
    """About 20 fields: non-ASCII text, integers, 2-decimal prices, booleans, nulls, nesting."""
    return {
        "sku": f"SKU-{i:08d}",
        "ean": 4000000000000 + i,
        "name": f"{rng.choice(NAMES)} {rng.choice(NAMES)} Nr. {i}",
        "description": "Ein schönes Möbelstück – très élégant, muy cómodo. " * rng.randint(1, 3),
        "price": round(rng.uniform(1, 2000), 2),
        "list_price": round(rng.uniform(1, 2500), 2),
        "currency": "EUR",
        "stock": rng.randint(0, 5000),
        "active": rng.random() < 0.9,
        "discontinued": rng.random() < 0.05,
        "colour": rng.choice(COLOURS),
        "weight_kg": round(rng.uniform(0.1, 80), 3),
        "category": f"Möbel/{rng.choice(NAMES)}",
        "brand": rng.choice(["Nordholz", "Casa Ñ", "Åkerlund", "Lumière"]),
        "supplier_id": rng.randint(1, 400),
        "rating": None if rng.random() < 0.3 else round(rng.uniform(1, 5), 1),
        "created": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "dimensions": {
            "w": rng.randint(10, 300),
            "h": rng.randint(10, 300),
            "d": rng.randint(10, 300),
        },
        "tags": rng.sample(["neu", "sale", "öko", "bestseller", "design", "outdoor"], k=2),
        "note": None,
    }


def products(count: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(count):
        yield product(i, rng)


def flat(record: dict[str, Any]) -> dict[str, Any]:
    """The record as one sheet row: nested values spread over their own columns."""
    row = {k: v for k, v in record.items() if k not in ("dimensions", "tags")}
    row.update({f"dim_{k}": v for k, v in record["dimensions"].items()})
    row["tags"] = ",".join(record["tags"])
    return row


def write_json(path: Path, count: int, seed: int = 1) -> Path:
    with open(path, "wb") as out:
        out.write(b"[")
        for n, record in enumerate(products(count, seed)):
            out.write((b",\n" if n else b"\n") + orjson.dumps(record))
        out.write(b"\n]\n")
    return path


def write_json_sized(path: Path, target_bytes: int, seed: int = 1) -> Path:
    """A catalog of about `target_bytes` (records average about 530 bytes)."""
    return write_json(path, max(1, target_bytes // 530), seed)


def write_csv(path: Path, count: int, seed: int = 1, delimiter: str = ",") -> Path:
    """The flat rows, every value as text (null as an empty field), as a shop system writes."""
    header = list(flat(product(0, random.Random(seed))))
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=delimiter)
        writer.writerow(header)
        for record in products(count, seed):
            row = flat(record)
            writer.writerow(["" if row[k] is None else _text(row[k]) for k in header])
    return path


def write_ndjson(path: Path, count: int, seed: int = 1) -> Path:
    with open(path, "wb") as out:
        for record in products(count, seed):
            out.write(orjson.dumps(record) + b"\n")
    return path


def write_xml(path: Path, count: int, seed: int = 1) -> Path:
    """<catalog><product>...</product>...</catalog>: nested values as child elements, lists as
    repeated elements, null as an empty element; records at /catalog/product."""
    with open(path, "w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<catalog>\n')
        for record in products(count, seed):
            out.write(f'<product sku="{record["sku"]}">{_elements(record)}</product>\n')
        out.write("</catalog>\n")
    return path


def write_format(path: Path, count: int, seed: int = 1) -> Path:
    """A catalog of `count` products in the format the suffix of `path` names."""
    writers = {
        ".json": write_json,
        ".xlsx": write_xlsx,
        ".csv": write_csv,
        ".ndjson": write_ndjson,
        ".jsonl": write_ndjson,
        ".xml": write_xml,
    }
    return writers[path.suffix](path, count, seed)


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _elements(record: dict[str, Any]) -> str:
    parts = []
    for key, value in record.items():
        if key == "sku":
            continue
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                parts.append(f"<{key}/>")
            elif isinstance(item, dict):
                parts.append(f"<{key}>{_elements(item)}</{key}>")
            else:
                parts.append(f"<{key}>{escape(_text(item))}</{key}>")
    return "".join(parts)


def write_xlsx(path: Path, count: int, seed: int = 1, sheet: str = "Products") -> Path:
    rows = (flat(r) for r in products(count, seed))
    first = flat(product(0, random.Random(seed)))
    return write_sheet(path, list(first), ([r[k] for k in first] for r in rows), sheet, count)


def write_sheet(
    path: Path, header: list[str], rows: Any, sheet: str = "Products", count: int | None = None
) -> Path:
    """A one-sheet workbook written straight as XML (inline strings, no styles): seconds, not
    minutes. Its <dimension> is written as Excel writes it when the number of data rows is known
    (`rows` is a list, or `count` says)."""
    ns = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    pkg = "http://schemas.openxmlformats.org/package/2006"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            (
                f'<Types xmlns="{pkg}/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                "</Types>"
            ),
        )
        z.writestr(
            "_rels/.rels",
            (
                f'<Relationships xmlns="{pkg}/relationships">'
                f'<Relationship Id="rId1" Type="{rel}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
            ),
        )
        z.writestr(
            "xl/workbook.xml",
            (
                f'<workbook xmlns="{ns}" xmlns:r="{rel}"><sheets>'
                f'<sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ),
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            (
                f'<Relationships xmlns="{pkg}/relationships">'
                f'<Relationship Id="rId1" Type="{rel}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
            ),
        )
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out:
            if count is None and isinstance(rows, list):
                count = len(rows)
            last = f"{column_letter(max(len(header), 1) - 1)}{(count or 0) + 1}"
            dimension = "" if count is None else f'<dimension ref="A1:{last}"/>'
            out.write(f'<worksheet xmlns="{ns}">{dimension}<sheetData>'.encode())
            for number, row in enumerate([header, *rows], start=1):
                cells = "".join(_cell(c, number, v) for c, v in enumerate(row) if v is not None)
                out.write(f'<row r="{number}">{cells}</row>'.encode())
            out.write(b"</sheetData></worksheet>")
    return path


def _cell(index: int, row: int, value: Any) -> str:
    ref = f"{column_letter(index)}{row}"
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value!r}</v></c>'
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'
