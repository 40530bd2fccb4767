"""Look at a dropped workbook before any XML parser does: what it is, and whether it is a bomb.

An .xlsx is a zip of XML written by whoever dropped it. Before openpyxl opens it, the archive's
directory is checked: formats that are not Office Open XML are named, encrypted and damaged
archives are refused, and so is any member whose declared size or compression ratio is absurd.
The declared sizes are binding (zipfile never returns more than a member declares), so this
bounds what reading the workbook can cost.
"""

from __future__ import annotations

import zipfile
from typing import IO

from ingestd.errors import InvalidInput

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
MAX_MEMBER_BYTES = 2 << 30  # a sheet is streamed, but nothing a person drops is this large
MAX_PARSED_IN_MEMORY_BYTES = 256 << 20  # shared strings, styles: openpyxl holds these whole
MAX_RATIO = 200  # real sheets compress 5-30x; zip bombs 1000x and more
RATIO_APPLIES_ABOVE = 8 << 20
SAVE_AS_XLSX = "Open it in Excel or LibreOffice and save it as 'Excel Workbook (.xlsx)'."
_IN_MEMORY_PARTS = ("xl/sharedStrings.xml", "xl/styles.xml", "xl/workbook.xml")


def open_workbook_zip(f: IO[bytes]) -> zipfile.ZipFile:
    """The archive, checked; InvalidInput says what the file is and what to do otherwise."""
    head = f.read(4096)
    f.seek(0)
    if head.startswith(OLE_MAGIC):
        raise InvalidInput(_ole_message(f))
    if not head.startswith(ZIP_MAGIC):
        raise InvalidInput(_not_a_zip_message(head))
    try:
        archive = zipfile.ZipFile(f)
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise InvalidInput(
            f"the workbook is a damaged zip archive ({exc}). {SAVE_AS_XLSX}"
        ) from exc
    _check_kind({m.filename for m in members}, archive)
    for member in members:
        _check_member(member)
    return archive


def _check_kind(names: set[str], archive: zipfile.ZipFile) -> None:
    if "xl/workbook.bin" in names:
        raise InvalidInput(
            f"this is a binary Excel workbook (.xlsb), which is not read. {SAVE_AS_XLSX}"
        )
    if "mimetype" in names and "content.xml" in names:
        kind = archive.read("mimetype")[:100].decode("ascii", "replace")
        raise InvalidInput(
            f"this is an OpenDocument file ({kind}), not an Excel workbook. {SAVE_AS_XLSX}"
        )
    if "xl/workbook.xml" not in names:
        raise InvalidInput(
            "this is a zip archive but not an Excel workbook (it has no xl/workbook.xml). "
            + SAVE_AS_XLSX
        )


def _check_member(member: zipfile.ZipInfo) -> None:
    name = member.filename
    if member.flag_bits & 0x1:
        raise InvalidInput(f"the archive member {name} is encrypted. {SAVE_AS_XLSX}")
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise InvalidInput(f"the archive member {name} uses an unusual compression. {SAVE_AS_XLSX}")
    limit = MAX_PARSED_IN_MEMORY_BYTES if name in _IN_MEMORY_PARTS else MAX_MEMBER_BYTES
    if member.file_size > limit:
        raise InvalidInput(
            f"the archive member {name} would unpack to {member.file_size} bytes, more than the "
            f"{limit} allowed: refused as a possible zip bomb",
            member=name,
        )
    ratio = member.file_size / max(member.compress_size, 1)
    if member.file_size > RATIO_APPLIES_ABOVE and ratio > MAX_RATIO:
        raise InvalidInput(
            f"the archive member {name} is compressed {ratio:.0f} to 1 (more than {MAX_RATIO}): "
            "refused as a possible zip bomb",
            member=name,
        )


def _ole_message(f: IO[bytes]) -> str:
    directory = f.read(1 << 20)
    f.seek(0)
    if "EncryptedPackage".encode("utf-16-le") in directory:
        return (
            "this is a password-protected (encrypted) Excel workbook, which cannot be read. "
            "Remove the password in Excel (File > Info > Protect Workbook) and save it as .xlsx."
        )
    return f"this is a legacy Excel 97-2003 workbook (.xls), which is not read. {SAVE_AS_XLSX}"


def _not_a_zip_message(head: bytes) -> str:
    sample = head[:4096]
    try:
        text: str | None = sample.decode("utf-8")
    except UnicodeDecodeError as exc:  # a character cut at the sample's end is still text
        text = sample[: exc.start].decode("utf-8") if exc.start > len(sample) - 4 else None
    if text is not None and "\x00" not in text:
        kind = "comma- or tab-separated text (CSV)" if any(c in text for c in ",;\t") else "text"
        return (
            f"this is {kind} with a workbook's name, not an Excel workbook. "
            "Open it in Excel and save it as 'Excel Workbook (.xlsx)', or drop it as JSON."
        )
    return f"this is not an Excel workbook (it does not start like a zip archive). {SAVE_AS_XLSX}"
