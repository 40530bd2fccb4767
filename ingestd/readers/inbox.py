"""An inbox's readers, built from its settings: which file gets which is readers/base.KINDS.

Each format's modules are imported with the first file of its kind, not at start: together
they took about 0.03 s of the 0.3 s from start to READY, and most inboxes see one or two
formats."""

from __future__ import annotations

from collections.abc import Callable

from ingestd.readers.base import Reader, chooser
from ingestd.settings import InboxSettings


def readers_for(settings: InboxSettings) -> Callable[[str], Reader]:
    def json() -> Reader:
        from ingestd.readers.json import JsonReader

        return JsonReader(settings.json_items_path)

    def excel() -> Reader:
        from ingestd.readers.excel import ExcelReader

        return ExcelReader(
            settings.excel_sheet,
            settings.excel_header_row,
            header_conflicts=settings.excel_header_conflicts,
        )

    def csv(delimiter: str) -> Reader:
        from ingestd.readers.csv import CsvReader

        return CsvReader(
            delimiter,
            settings.csv_quotechar,
            settings.csv_encoding,
            settings.csv_header_row,
            settings.csv_header_conflicts,
        )

    def ndjson() -> Reader:
        from ingestd.readers.ndjson import NdjsonReader

        return NdjsonReader()

    def xml() -> Reader:
        from ingestd.readers.xml.reader import XmlReader

        return XmlReader(settings.xml_record_path, settings.xml_namespaces)

    return chooser(
        {
            "json": json,
            "excel": excel,
            "csv": lambda: csv(settings.csv_delimiter),
            "tsv": lambda: csv("\t"),
            "ndjson": ndjson,
            "xml": xml,
        }
    )
