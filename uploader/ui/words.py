"""The page's own words. Messages are made once, in the command line's terms (its options and
environment variables, which the results files and logs keep); the page says them in terms of
its own controls, and never shows the server's paths. Each option the library names in a message
has its control here; `tests/test_ui.py` fails on a message naming an option this table lacks."""

from __future__ import annotations

import re
from pathlib import Path

# The page's controls for the options messages name (what the person can do on the page).
CONTROLS = {
    "--campaign-id": "the Campaign id box",
    "--timezone": "the Time zone box",
    "--dayfirst": "the “day first” box",
    "--country": "the Country box",
    "--header-row": "the Header row box",
    "--profile": "the Profile box",
    "--sheet": "the Sheet box",
    "--recording-url-template": "a recording built from columns (Map columns…)",
    "--encoding": "saving the file as UTF-8 CSV (or .xlsx)",
    "--recording-by-id": "the “Invoca reads our recordings by call id” box",
    "--check-recordings": "the “Check each recording link” box",
    "--presign-recordings": "the “Recordings are S3 locations” box",
}
PHRASES = [  # whole phrases first: they read better than their options swapped one by one
    (
        r"set INVOCA_OAUTH_TOKEN or pass --token-file \(or use --dry-run\)",
        "type the API token in step 4",
    ),
    (r"check INVOCA_OAUTH_TOKEN or --token-file", "check the API token in step 4"),
    (r"leave out --dayfirst", "untick the “day first” box"),
    (r"pass --dayfirst", "tick the “day first” box"),
    (r"(?:pass|use|try) (--[a-z-]+)", r"use \1"),
    (r"\(or --campaign-id\)", "(or fill in the Campaign id box)"),
]
OPTION = re.compile(r"--[a-z][a-z-]+")


def for_page(text: str, work: Path | None = None) -> str:
    """A message in the page's words: its controls for the options, a file's own name for its
    path in the page's work folder."""
    if work is not None:
        for spelled in {str(work), str(work.resolve())}:
            text = re.sub(re.escape(spelled) + r"/[^/\s]+/", "", text)
    for pattern, replacement in PHRASES:
        text = re.sub(pattern, replacement, text)
    return OPTION.sub(lambda found: CONTROLS.get(found.group(0), found.group(0)), text)


def options_named(text: str) -> list[str]:
    """The command-line options a message still names after `for_page` (for the tests)."""
    return OPTION.findall(text)


# The keys of the page's JSON that hold messages (never cells, headers or values of the file).
MESSAGE_KEYS = {"error", "warnings", "reason", "stopped", "problems", "note"}


def worded(document: object, work: Path | None, key: str = "") -> object:
    """The page's JSON with every message in the page's words."""
    if isinstance(document, dict):
        return {k: worded(v, work, k) for k, v in document.items()}
    if isinstance(document, list):
        return [worded(item, work, key) for item in document]
    if isinstance(document, str) and key in MESSAGE_KEYS:
        return for_page(document, work)
    return document
