"""An inbox's readers, built from its settings: which file gets which is readers/base.KINDS."""

from __future__ import annotations

from collections.abc import Callable

from ingestd.readers.base import Reader, chooser
from ingestd.readers.csv import CsvReader
from ingestd.readers.excel import ExcelReader
from ingestd.readers.json import JsonReader
from ingestd.readers.ndjson import NdjsonReader
from ingestd.readers.xml import XmlReader
from ingestd.settings import InboxSettings


def readers_for(settings: InboxSettings) -> Callable[[str], Reader]:
    def csv(delimiter: str) -> CsvReader:
        return CsvReader(
            delimiter,
            settings.csv_quotechar,
            settings.csv_encoding,
            settings.csv_header_row,
            settings.csv_header_conflicts,
        )

    return chooser(
        {
            "json": JsonReader(settings.json_items_path),
            "excel": ExcelReader(
                settings.excel_sheet,
                settings.excel_header_row,
                header_conflicts=settings.excel_header_conflicts,
            ),
            "csv": csv(settings.csv_delimiter),
            "tsv": csv("\t"),
            "ndjson": NdjsonReader(),
            "xml": XmlReader(settings.xml_record_path, settings.xml_namespaces),
        }
    )
