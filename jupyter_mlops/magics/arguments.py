"""The one way every magic parses its line: shell-like words (quotes removed, ``-m "a b"``),
then the magic's ``@magic_arguments`` parser; every problem becomes one ``UsageError`` line."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError


def parse(magic: Callable[..., Any], line: str) -> Any:
    """``magic``'s arguments from ``line``; an unbalanced quote or a bad flag is a ``UsageError``
    naming the magic (``%%track: ...``)."""
    name = _display_name(magic)
    try:
        words = shlex.split(line, posix=True)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise UsageError(f"{name}: cannot parse {line.strip()[:80]!r}: {exc}") from None
    try:
        return magic.parser.parse_args(words)  # type: ignore[attr-defined]
    except UsageError as exc:
        raise UsageError(f"{name}: {_one_line(str(exc))}") from None
    except SystemExit:  # argparse exits on some errors despite IPython's parser subclass
        raise UsageError(f"{name}: invalid arguments {line.strip()[:80]!r}") from None


def pairs(values: list[str] | None, flag: str, valid: Callable[[str], bool]) -> dict[str, str]:
    """``KEY=VALUE`` words of a repeatable flag as a dict; a missing ``=`` or a name ``valid``
    refuses is a ``UsageError``."""
    found = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{flag} expects KEY=VALUE, got {item!r}")
        if not valid(key):
            raise UsageError(f"{flag}: MLflow does not accept the name {key[:80]!r}")
        found[key] = value
    return found


def _display_name(magic: Callable[..., Any]) -> str:
    name = getattr(magic, "__name__", "magic")
    return f"%%{name}" if name == "track" else f"%{name}"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
