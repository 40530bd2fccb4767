"""Excel workbooks: a reference reader (openpyxl) and a streaming one for the sheet's XML."""

from ingestd.readers.excel.reference import ExcelReader

__all__ = ["ExcelReader"]
