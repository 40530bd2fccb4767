"""One XML document as expat reads it: where each element is, which are records, and the
refusals that keep a hostile file from costing memory.

An element's local name and namespace are resolved from the `xmlns` attributes in scope
(expat's namespace processing is off, so that names keep the prefixes the file gives them, as
xmltodict's defaults do). Refused, each failing the file with its line: an entity declaration
(billion laughs, external entities), a reference to an entity declared nowhere in the file
(it would be in the external DTD, which is never read), elements nested deeper than
MAX_DEPTH, and a record element longer than MAX_RECORD_BYTES.
"""

from __future__ import annotations

import pyexpat
from collections.abc import Callable
from typing import Any

from ingestd.errors import InvalidInput
from ingestd.readers.xml.paths import RecordPath, split_name

MAX_DEPTH = 128
MAX_RECORD_BYTES = 32 << 20
SAMPLE_DEPTH = 4  # the levels of paths listed when the record path matches nothing
SAMPLE_PATHS = 40

Handler = Callable[..., Any]


class Document:
    def __init__(self, path: RecordPath) -> None:
        self.path = path
        self.parser = pyexpat.ParserCreate()
        self.parser.ordered_attributes = True
        self.parser.EntityDeclHandler = self._entity_declared
        self.parser.SkippedEntityHandler = self._entity_skipped
        self.depth = 0
        self.in_record = False  # inside an element at the record path
        self.records = 0
        self.record_text: list[str] = []  # the record element's own text, beside its children
        self.record_started_at: tuple[int, int, int] | None = None  # line, column, byte
        self.paths: dict[str, None] = {}  # the first few levels, in document order
        self._fed = 0
        self._record_depth = path.depth
        self._tracked = max(path.depth, SAMPLE_DEPTH)  # the deepest element whose name is kept
        self._names: list[str] = []
        self._matched: list[bool] = [True]
        self._scopes: list[dict[str, str]] = [{}]

    def handle(
        self,
        start: Handler | None = None,
        end: Handler | None = None,
        text: Handler | None = None,
    ) -> None:
        """Install element handlers, which this document calls after (start) or before (end)
        keeping track; `text` only sees character data inside elements at the record depth
        or below: what lies between records is never kept."""
        depth = self.path.depth

        def started(name: str, attributes: list[str]) -> None:
            self._enter(name, attributes)
            if start is not None:
                start(name, attributes)

        def ended(name: str) -> None:
            if end is not None:
                end(name)
            self._leave()

        def characters(data: str) -> None:
            if self.depth == depth and self.in_record:
                self.record_text.append(data)
            if self.depth >= depth and text is not None:
                text(data)

        self.parser.StartElementHandler = started
        self.parser.EndElementHandler = ended
        self.parser.CharacterDataHandler = characters

    def feed(self, block: bytes, final: bool) -> None:
        try:
            self.parser.Parse(block, final)
        except pyexpat.ExpatError as exc:
            raise InvalidInput(
                f"malformed XML at line {exc.lineno}, column {exc.offset + 1}: "
                f"{pyexpat.errors.messages[exc.code]}",
                line=exc.lineno,
                column=exc.offset + 1,
                byte_offset=self.parser.ErrorByteIndex,
            ) from None
        self._fed += len(block)
        if self.record_started_at is not None and self.in_record:
            line, _, at = self.record_started_at
            if self._fed - at > MAX_RECORD_BYTES:
                raise InvalidInput(
                    f"record {self.records} (line {line}) is longer than {MAX_RECORD_BYTES} "
                    "bytes of XML: a record path that names a whole catalog, or a broken file?",
                    record_index=self.records,
                    line=line,
                )

    def _enter(self, name: str, attributes: list[str]) -> None:
        self.depth += 1
        if self.depth > self._tracked:  # inside a record: only the depth matters
            if self.depth > MAX_DEPTH:
                raise self._refusal(f"elements are nested more than {MAX_DEPTH} deep")
            return
        scope = self._scope(attributes) if attributes else self._scopes[-1]
        local, namespace = split_name(name, scope)
        self._names.append(name)
        if self.depth <= SAMPLE_DEPTH and len(self.paths) < SAMPLE_PATHS:
            self.paths.setdefault("/" + "/".join(self._names), None)
        matched = (
            self._matched[-1]
            and self.depth <= self._record_depth
            and self.path.steps[self.depth - 1].matches(local, namespace)
        )
        self._matched.append(matched)
        self._scopes.append(scope)
        if self.depth == self._record_depth:
            self.in_record = matched
            self.record_text.clear()
            if matched:
                self._tracked = self._record_depth  # the paths are only listed if none matches
                parser = self.parser
                self.record_started_at = (
                    parser.CurrentLineNumber,
                    parser.CurrentColumnNumber + 1,
                    parser.CurrentByteIndex,
                )

    def _leave(self) -> None:
        if self.depth == self._record_depth and self.in_record:
            self.records += 1
            self.in_record = False
        if self.depth <= self._tracked:
            self._names.pop()
            self._matched.pop()
            self._scopes.pop()
        self.depth -= 1

    def _scope(self, attributes: list[str]) -> dict[str, str]:
        scope = self._scopes[-1]
        declared = {
            attributes[i].partition(":")[2]: attributes[i + 1]
            for i in range(0, len(attributes), 2)
            if attributes[i] == "xmlns" or attributes[i].startswith("xmlns:")
        }
        return {**scope, **declared} if declared else scope

    def _entity_declared(self, name: str, *_: Any) -> None:
        raise self._refusal(
            f"the file declares the entity {name!r}: XML entity declarations are refused, as "
            "entity expansion (billion laughs) and external entities are attacks; write the "
            "text itself"
        )

    def _entity_skipped(self, name: str, *_: Any) -> None:
        raise self._refusal(
            f"the entity &{name}; is declared nowhere in the file (an external DTD is never "
            "read): write the character itself, or a character reference like &#160;"
        )

    def _refusal(self, what: str) -> InvalidInput:
        line = self.parser.CurrentLineNumber
        return InvalidInput(
            f"line {line}: {what}",
            line=line,
            column=self.parser.CurrentColumnNumber + 1,
            byte_offset=self.parser.CurrentByteIndex,
        )
