"""The one exception type for errors a user can cause, and how messages quote user data.

A message names the file, row, key or field at fault; whatever it quotes from the user's data
(a column name, a label, a row, a request field) goes through :func:`quoted` or :func:`listed`
so a 5 MB line cannot become a 5 MB message. :func:`bounded` is the backstop for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

QUOTE_CHARS = 200  # the most characters of one user value a message quotes
LIST_ITEMS = 20  # the most items of a user list (columns, fields) a message names
MESSAGE_CHARS = 2000  # the most characters of a whole message (head and tail kept)


def clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, ending in '…' when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def quoted(value: object, limit: int = QUOTE_CHARS) -> str:
    """repr() of a user-supplied value, cut to about ``limit`` characters ('…' marks a cut)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value):,} characters)"
    return clip(repr(value), limit)


def listed(items: Iterable[object], limit: int = QUOTE_CHARS, max_items: int = LIST_ITEMS) -> str:
    """Comma-separated user items (column or field names), each clipped, at most ``max_items``."""
    items = list(items)
    shown = [clip(str(x), limit) for x in items[:max_items]]
    more = f", … ({len(items) - max_items} more)" if len(items) > max_items else ""
    return ", ".join(shown) + more


def bounded(message: str, limit: int = MESSAGE_CHARS) -> str:
    """``message`` with its middle cut out when longer than ``limit`` (the backstop)."""
    if len(message) <= limit:
        return message
    keep = limit // 2
    return f"{message[:keep]} […{len(message) - 2 * keep:,} characters cut…] {message[-keep:]}"


class MlopsError(Exception):
    """A user-facing error: the message names the file, row, key or field at fault.

    The CLI prints it without a traceback and exits with ``exit_code``.
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None):
        super().__init__(bounded(message))
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(MlopsError):
    """A config file or a --set override that does not fit the schema."""


class DataError(MlopsError):
    """A data source that is missing, malformed or empty."""


class RegistryError(MlopsError):
    """A bad model reference, a missing or tampered registry version."""
