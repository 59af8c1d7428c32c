"""Text that is safe where it lands: spreadsheet cells that cannot run as formulas, and server text
that cannot put escape codes on a terminal."""

from __future__ import annotations

import re
from typing import Any

# A cell starting with one of these runs as a formula in a spreadsheet; our CSVs put an apostrophe
# before it (and uploader.check.normalize.clean_text takes that apostrophe off again).
FORMULA_START = r"[=+\-@\t\r]"
FORMULA_RISK = re.compile("^" + FORMULA_START)
PLAIN_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def formula_safe(value: Any) -> Any:
    """A CSV cell that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and FORMULA_RISK.match(value) and not PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def printable(text: str, limit: int = 500) -> str:
    """Text from a server or a file, made safe for a terminal and a log line: no control or
    direction-changing characters, and bounded."""
    cleaned = CONTROL.sub(" ", text)
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
