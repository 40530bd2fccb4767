"""A CSV file's bytes as lines of text, decoded incrementally in `csv_encoding`.

Lines end at "\\n" only (the line end kept, "\\r\\n" intact): the csv module decides what a
quoted line break is, and a form feed or U+2028 inside a value is just a character. Bytes the
encoding cannot decode fail the file with their line and byte offset, and so does a NUL
character, which no text holds.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator

from ingestd.errors import InvalidInput
from ingestd.readers.base import SourceStream

UTF8_BOM = codecs.BOM_UTF8
_BLOCK = 1 << 16


class DecodedLines:
    def __init__(self, stream: SourceStream, encoding: str) -> None:
        self._stream = stream
        self._encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")
        self._read = 0  # bytes read from the stream
        self._newlines = 0  # "\n" decoded so far

    def __iter__(self) -> Iterator[str]:
        pieces: list[str] = []
        for text in self._texts():
            pieces.append(text)
            if "\n" not in text:
                continue  # a long line grows as a list, not by copying
            lines = io.StringIO("".join(pieces), newline="\n").readlines()
            pieces = [] if lines[-1].endswith("\n") else [lines.pop()]
            yield from lines
        if pieces:
            yield "".join(pieces)

    def _texts(self) -> Iterator[str]:
        while True:
            block = self._stream.read(_BLOCK)
            if self._read == 0 and block.startswith(UTF8_BOM):
                block = self._drop_bom(block)
            state = self._decoder.getstate()
            try:
                text = self._decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                raise self._undecodable(exc, state, block) from None
            if "\x00" in text:
                raise self._nul(text)
            self._read += len(block)
            self._newlines += text.count("\n")
            if text:
                yield text
            if not block:
                return

    def _drop_bom(self, block: bytes) -> bytes:
        if self._encoding == "utf-8":
            self._read = len(UTF8_BOM)
            return block[len(UTF8_BOM) :]
        raise InvalidInput(
            f"the file starts with a UTF-8 byte order mark but csv_encoding is "
            f'"{self._encoding}": set csv_encoding = "utf-8" (read as {self._encoding}, '
            "every accented letter would change)",
            line=1,
            byte_offset=0,
        )

    def _nul(self, text: str) -> InvalidInput:
        line = self._newlines + text[: text.index("\x00")].count("\n") + 1
        return InvalidInput(
            f"line {line} holds a NUL character: this is not CSV text (a binary file, a "
            "damaged one, or one written in another encoding: csv_encoding is "
            f'"{self._encoding}")',
            line=line,
        )

    def _undecodable(
        self, exc: UnicodeDecodeError, state: tuple[bytes, int], block: bytes
    ) -> InvalidInput:
        """Where the bad bytes are: the decoder is set back to before the block and decodes
        the part of it before them, to count the lines."""
        held = state[0]  # bytes of an unfinished character, carried from the previous block
        before = max(0, exc.start - len(held))
        self._decoder.setstate(state)
        lines = self._newlines + self._decoder.decode(block[:before]).count("\n") + 1
        offset = self._read - len(held) + exc.start
        bad = (held + block)[exc.start : exc.end]
        return InvalidInput(
            f"line {lines}: the bytes {bad.hex(' ')} at byte offset {offset} are not "
            f"{self._encoding} text ({exc.reason}): set csv_encoding to the encoding the file "
            'was written in: "utf-8", "cp1252" (most files saved by Excel on Windows), '
            '"latin-1" or "utf-16"',
            line=lines,
            byte_offset=offset,
        )
