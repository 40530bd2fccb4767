"""Writes the workbooks in this folder, each by another program: LibreOffice Calc (from a CSV,
as an office suite's user would save one), XlsxWriter and openpyxl's write-only mode. Kept in the
repository, because LibreOffice is not installed everywhere the tests run.

    python -m tests.readers.producers.make      # needs soffice (libreoffice-calc-nogui)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bench.producers import Unavailable, calc_from_csv

HERE = Path(__file__).parent
HEADER = ["sku", "name", "price", "stock", "active", "released", "updated", "note"]


def rows() -> list[list[object]]:
    found: list[list[object]] = []
    for n in range(1, 301):
        found.append([
            f"P-{n:04d}",
            ["Käse & Brot", "Écrou <M8>", "螺丝", "Nut 😀", 'Bolt "hex"'][n % 5] + f" {n}",
            round(n * 1.25 + 0.01, 2),
            n * 7 - 300,
            n % 3 == 0,
            dt.date(2024, 1, 1) + dt.timedelta(days=n),
            dt.datetime(2024, 5, 1, 8, 30) + dt.timedelta(hours=n, minutes=n),
            None if n % 4 else f"note {n}",
        ])  # fmt: skip
    return found


def libreoffice(path: Path) -> None:
    try:
        calc_from_csv(path, HEADER, [[_csv_text(value) for value in row] for row in rows()])
    except Unavailable as missing:
        raise SystemExit(str(missing)) from None


def _csv_text(value: object) -> object:
    """A value as a Calc user types it: dates as ISO text, booleans as TRUE/FALSE."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return "" if value is None else value


def xlsxwriter(path: Path) -> None:
    import xlsxwriter as writer

    workbook = writer.Workbook(str(path))
    sheet = workbook.add_worksheet("Products")
    dates = workbook.add_format({"num_format": "yyyy-mm-dd"})
    times = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet.write_row(0, 0, HEADER)
    for number, row in enumerate(rows(), start=1):
        for column, value in enumerate(row):
            if isinstance(value, dt.datetime):
                sheet.write_datetime(number, column, value, times)
            elif isinstance(value, dt.date):
                sheet.write_datetime(number, column, value, dates)
            elif value is not None:
                sheet.write(number, column, value)
    workbook.close()


def openpyxl_write_only(path: Path) -> None:
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Products")
    sheet.append(HEADER)
    for row in rows():
        sheet.append(row)
    workbook.save(path)


if __name__ == "__main__":
    libreoffice(HERE / "libreoffice.xlsx")
    xlsxwriter(HERE / "xlsxwriter.xlsx")
    openpyxl_write_only(HERE / "openpyxl-write-only.xlsx")
