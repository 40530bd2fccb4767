"""CSV and TSV files, read with the standard library's csv module."""

from ingestd.readers.csv.reader import CsvReader

__all__ = ["CsvReader"]
