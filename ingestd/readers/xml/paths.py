"""`xml_record_path`: which elements of an XML file are records.

A slash-separated path of element names from the root to the repeated record element. A step
written `prefix:name` matches an element named `name` in the namespace `xml_namespaces[prefix]`
(whatever prefix the file itself uses for it); a bare `name` matches an element of that local
name in any namespace, or in none. Pure: the reader tells it each element's local name and
namespace.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = re.compile(r"^[A-Za-z_][\w.\-]*$")


@dataclass(frozen=True)
class Step:
    local: str
    namespace: str | None  # None: any namespace

    def matches(self, local: str, namespace: str) -> bool:
        return local == self.local and self.namespace in (None, namespace)


@dataclass(frozen=True)
class RecordPath:
    text: str
    steps: tuple[Step, ...]

    @classmethod
    def parse(cls, text: str, namespaces: Mapping[str, str] | None = None) -> RecordPath:
        """Raise ValueError saying what is wrong with `text`."""
        namespaces = namespaces or {}
        if not text.startswith("/") or text == "/":
            raise ValueError(
                "must be a path from the root element, like '/products/product' or "
                "'/BMECAT/T_NEW_CATALOG/PRODUCT'"
            )
        steps = []
        for part in text[1:].split("/"):
            prefix, _, local = part.rpartition(":")
            if not _NAME.match(local) or (prefix and not _NAME.match(prefix)):
                raise ValueError(f"{part!r} is not an element name")
            if prefix and prefix not in namespaces:
                raise ValueError(f"the prefix {prefix!r} is not in xml_namespaces")
            steps.append(Step(local, namespaces[prefix] if prefix else None))
        return cls(text, tuple(steps))

    @property
    def depth(self) -> int:
        return len(self.steps)


def split_name(name: str, in_scope: Mapping[str, str]) -> tuple[str, str]:
    """An element's name as written (`p:local` or `local`) to its local name and namespace URI,
    by the `xmlns` declarations in scope ("" for none)."""
    prefix, _, local = name.rpartition(":")
    return local, in_scope.get(prefix, "")
