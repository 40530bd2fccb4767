"""The numbers a record may hold: integers of signed 64 bits, and finite doubles.

Signed 64-bit is what a PHP or Java receiver holds; a larger integer would change under their
JSON parsers and break the checksum. Readers hand integers over exactly (Python ints) and
decimals either as floats or as `Decimal` (the reference JSON reader, which reads the text
exactly); the canonical form writes every decimal as the double nearest to it.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
_DIGITS_AS_ZERO = bytes(ord("0") if 0x30 <= i <= 0x39 else i for i in range(256))
_NINETEEN_DIGITS = b"0" * 19


class NumberOutOfRange(ValueError):
    """A number no receiver can hold as written: `path` says where in the record."""

    def __init__(self, text: str, path: str, what: str) -> None:
        super().__init__(f"the number {text}{f' in {path}' if path else ''} is {what}")
        self.text = text
        self.path = path


def as_double(value: object) -> float:
    """orjson's `default` for the reference reader's decimals: the nearest double, if finite."""
    if type(value) is Decimal:
        number = float(value)
        if math.isfinite(number):
            return number
        raise NumberOutOfRange(str(value), "", "beyond the range of a double")
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def may_hold_long_integer(canonical: bytes) -> bool:
    """Whether canonical JSON text has a run of 19 digits, as any integer beyond 64 bits has;
    one translate and one search, so that records without one cost almost nothing."""
    return _NINETEEN_DIGITS in canonical.translate(_DIGITS_AS_ZERO)


def out_of_range(value: Any, path: str = "") -> NumberOutOfRange | None:
    """The first number in `value` that is not a signed 64-bit integer or a finite double."""
    kind = type(value)
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
            return None
        return NumberOutOfRange(str(value), path, "beyond the signed 64-bit integer range")
    if kind is float or kind is Decimal:
        if math.isfinite(float(value)):
            return None
        return NumberOutOfRange(str(value), path, "beyond the range of a double")
    if kind is dict:
        for key, item in value.items():
            found = out_of_range(item, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
    elif kind is list:
        for number, item in enumerate(value):
            found = out_of_range(item, f"{path}[{number}]")
            if found is not None:
                return found
    return None
