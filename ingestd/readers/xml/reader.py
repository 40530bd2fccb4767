"""XML files: the elements at `xml_record_path` are the records, streamed.

Each record element becomes an object by xmltodict's default convention (attributes as
"@name", text as the value of a plain element or as "#text", repeated children as a list, an
empty element as null, every leaf a string). xmltodict's streaming mode (`item_depth`) calls
back with each element at the record depth; it sets its handlers on the expat parser it is
given, and here that parser is one whose feeding this reader keeps (a `Document`), so that
records come out of a generator between blocks of the file, and the document's refusals and
record matching wrap xmltodict's handlers. A record element's own text beside its children
(mixed content) is added under "#text" as xmltodict's whole-document mode does, which its
streaming mode leaves out.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Mapping
from typing import Any

import xmltodict

from ingestd.errors import InvalidInput
from ingestd.readers.base import ReadDetails, Reader, Record, SourceStream
from ingestd.readers.xml.document import Document
from ingestd.readers.xml.paths import RecordPath

_BLOCK = 1 << 16


class XmlReader:
    file_type = "xml"
    fast: Reader | None = None

    def __init__(self, record_path: str | None, namespaces: Mapping[str, str] | None = None):
        self._path = RecordPath.parse(record_path, namespaces) if record_path else None

    def records(self, stream: SourceStream, details: ReadDetails) -> Iterator[Record]:
        document = self._document()
        found: list[Any] = []

        def keep(_: Any, item: Any) -> bool:
            if document.in_record:
                found.append(_with_own_text(item, document.record_text))
            return True

        _with_xmltodict(document, keep)
        while True:
            block = stream.read(_BLOCK)
            document.feed(block, final=not block)
            yield from found
            found.clear()
            if not block:
                break
        if document.records == 0:
            raise _no_records(document)

    def where(self, fd: int, index: int) -> dict[str, Any]:
        """The line and column where record `index` starts, from a reading of elements only."""
        document = self._document()
        place: dict[str, Any] = {"record_index": index}

        def start(*_: Any) -> None:
            if document.in_record and document.records == index and len(place) == 1:
                line, column, at = document.record_started_at or (0, 0, 0)
                place.update(line=line, column=column, byte_offset=at)

        document.handle(start=start)
        stream = SourceStream(fd)
        while len(place) == 1 and (block := stream.read(_BLOCK)):
            document.feed(block, final=False)
        return place

    def _document(self) -> Document:
        if self._path is None:
            raise InvalidInput("xml_record_path is not set for this inbox: it must name records")
        return Document(self._path)


class _Recorder:
    """Stands in for the expat module and parser when xmltodict sets up: what it configures
    is kept, to be applied to the document's real parser; it is given nothing to parse."""

    def __init__(self) -> None:
        self.settings: dict[str, Any] = {}

    def ParserCreate(self, *_: Any) -> _Recorder:
        return self

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "settings":
            object.__setattr__(self, name, value)
        else:
            self.settings[name] = value

    def Parse(self, *_: Any) -> None:
        return None

    def ParseFile(self, *_: Any) -> None:
        return None


def _with_xmltodict(document: Document, item: Any) -> None:
    """xmltodict's element handlers, in streaming mode at the record depth, on the document."""
    recorder = _Recorder()
    xmltodict.parse(
        _nothing(),
        expat=recorder,
        item_depth=document.path.depth,
        item_callback=item,
    )
    settings = recorder.settings
    document.handle(
        start=settings.pop("StartElementHandler"),
        end=settings.pop("EndElementHandler"),
        text=settings.pop("CharacterDataHandler"),
    )
    settings.pop("EntityDeclHandler", None)  # the document refuses entities itself
    for name, value in settings.items():
        setattr(document.parser, name, value)


def _with_own_text(item: Any, text: list[str]) -> Any:
    """xmltodict's streaming mode drops the text of an item element that also has attributes
    or children; its whole-document mode keeps it under "#text", stripped: so do we."""
    own = "".join(text).strip()
    if own and isinstance(item, dict):
        item["#text"] = own
    return item


def _nothing() -> Generator[bytes, None, None]:
    yield from ()


def _no_records(document: Document) -> InvalidInput:
    found = ", ".join(document.paths) or "no elements"
    return InvalidInput(
        f"no element at {document.path.text} (xml_record_path): an XML file without records "
        f"is not an empty catalog. The file's first levels: {found}",
        paths=list(document.paths),
    )
