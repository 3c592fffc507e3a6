"""The one parser for a number that comes from outside: a CLI ref, a UI form or query string,
an HTTP header, a v2 shape or length.

Only ASCII digits ('²', '١' and full-width digits are refused, though ``str.isdigit`` and
``int()`` take some of them), no sign, no leading zero except for ``0`` itself, no white space
or newline around it, and at most ``max_digits`` digits (a few more than any real value, so a
5,000-digit string never reaches ``int()``). JSON numbers go through :func:`check_count`.
"""

from __future__ import annotations

from mlops_dl.errors import MlopsError, quoted

DIGITS = frozenset("0123456789")
MAX_DIGITS = 12  # default bound: above any version, length or count we read


class NumberError(MlopsError):
    """A number from outside that is not plain digits within bounds (names the field)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_count(text: object, field: str, *, max_digits: int = MAX_DIGITS,
                minimum: int = 0) -> int:
    """``text`` as a non-negative int, else NumberError naming ``field``."""
    if not isinstance(text, str) or not text:
        raise NumberError(field, f"expected a number in digits 0-9, got {quoted(text)}")
    if not set(text) <= DIGITS:
        raise NumberError(field, f"{quoted(text)} is not a number: use the digits 0-9 only "
                          "(no sign, spaces, newline or other scripts' digits)")
    if len(text) > max_digits:
        raise NumberError(field, f"{quoted(text, 40)} has {len(text):,} digits: at most "
                          f"{max_digits}")
    if len(text) > 1 and text[0] == "0":
        raise NumberError(field, f"{quoted(text)} has a leading zero: write {int(text)}")
    value = int(text)
    if value < minimum:
        raise NumberError(field, f"{value} is below the smallest allowed value {minimum}")
    return value


def check_count(value: object, field: str, *, maximum: int = 10 ** MAX_DIGITS - 1) -> int:
    """A JSON number that must be a non-negative integer up to ``maximum`` (not a bool; a
    float only when integral, 3.0, as JSON Schema counts it); else NumberError naming ``field``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise NumberError(field, f"expected a non-negative integer, got {type(value).__name__}")
    if value < 0 or value > maximum:
        shown = str(value) if abs(value) < 10 ** 40 else "an integer of over 40 digits"
        raise NumberError(field, f"{shown} is outside 0..{maximum}")
    return value
