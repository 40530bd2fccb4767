"""Writes the workbooks in this folder, each by another program: LibreOffice Calc (from a CSV,
as an office suite's user would save one), XlsxWriter and openpyxl's write-only mode. Kept in the
repository, because LibreOffice is not installed everywhere the tests run.

    python -m tests.readers.producers.make      # needs soffice (libreoffice-calc-nogui)
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import subprocess
import tempfile
from pathlib import Path

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
    soffice = shutil.which("soffice")
    if soffice is None:
        raise SystemExit("soffice is missing: apt-get install libreoffice-calc-nogui")
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "products.csv"
        with open(source, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(HEADER)
            for row in rows():
                writer.writerow([
                    v.isoformat(sep=" ") if isinstance(v, dt.datetime) else
                    v.isoformat() if isinstance(v, dt.date) else
                    ("TRUE" if v else "FALSE") if isinstance(v, bool) else
                    "" if v is None else v
                    for v in row
                ])  # fmt: skip
        subprocess.run(
            [soffice, f"-env:UserInstallation=file://{scratch}/profile", "--headless",
             "--convert-to", "xlsx:Calc MS Excel 2007 XML", "--infilter=CSV:44,34,76,1,,1033",
             "--outdir", scratch, str(source)],
            check=True, capture_output=True, timeout=300,
        )  # fmt: skip
        shutil.move(Path(scratch) / "products.xlsx", path)


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
