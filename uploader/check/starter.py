"""A starter profile for an export the tool has never seen: the file's headers matched to the call
fields by the built-in profiles' names for them and by the words headers use, each guess written
with a comment saying why and what the column holds, for the user to check and finish."""

from __future__ import annotations

import re

import pandas as pd

from uploader.check.profiles import builtin_profiles, header_key, load_profile
from uploader.textsafe import printable

# Words a header holds when it is the field (checked after the built-in profiles' exact names).
CLUES: dict[str, tuple[str, ...]] = {
    "external_call_unique_id": ("callid", "callsid", "uniqueid", "uuid", "sessionid", "contactid"),
    "start_time": ("start", "began", "datetime", "timestamp", "calldate", "date"),
    "from_number": ("from", "caller", "ani", "cli", "origin"),
    "to_number": ("to", "callee", "dnis", "did", "dialed", "destination", "tracking"),
    "call_direction": ("direction", "calltype", "inout", "inbound", "type"),
    "recording": ("recording", "record", "audio", "media"),
    "timezone": ("timezone", "tz", "zone"),
}
EXPLAINED = {
    "external_call_unique_id": "the call's own id in this system (unique per call)",
    "start_time": "when the call started",
    "from_number": "who placed the call (on outbound calls the business: the tool swaps)",
    "to_number": "who was called (on outbound calls the customer)",
    "call_direction": "inbound or outbound; map other spellings in [values.call_direction]",
    "recording": "a recording URL (sent as recording_url) or a storage key (recording_filename)",
    "timezone": "each row's time zone; without one, --timezone or the profile's timezone",
}
REQUIRED = ("external_call_unique_id", "start_time", "from_number", "to_number", "call_direction")


def guess_columns(headers: list[str]) -> dict[str, str]:
    """Each field and the header that most likely holds it (a header is used once)."""
    aliases: dict[str, set[str]] = {field: {header_key(field)} for field in CLUES}
    aliases["from_number"] |= {header_key("calling_phone_number")}
    aliases["to_number"] |= {header_key("destination_phone_number")}
    for name in builtin_profiles():
        profile = load_profile(name)
        for field, names in profile.columns.items():
            target = {"calling_phone_number": "from_number"}.get(field, field)
            target = {"destination_phone_number": "to_number"}.get(target, target)
            if target in aliases:
                aliases[target] |= {header_key(alias) for alias in names}
    taken: set[str] = set()
    found: dict[str, str] = {}
    for field in CLUES:  # exact names first, then clue words, each header used once
        exact = [h for h in headers if header_key(h) in aliases[field] and h not in taken]
        worded = [
            h
            for h in headers
            if h not in taken and any(_has_word(h, clue) for clue in CLUES[field])
        ]
        choice = next(iter(exact or worded), None)
        if choice is not None:
            found[field] = choice
            taken.add(choice)
    return found


def _has_word(header: str, clue: str) -> bool:
    compact = header_key(header)
    if len(clue) <= 3:  # short clues only as a whole word: "to" in "To", not in "Total"
        words = [header_key(w) for w in re.split(r"[\s._\-/()]+", header) if w]
        return clue in words
    return clue in compact


def starter_profile(
    name: str, headers: list[str], samples: pd.DataFrame | None, source: str
) -> str:
    """The TOML of a starter profile, a comment on every line."""
    found = guess_columns(headers)
    source = printable(source, 200)
    lines = [
        f"# A starter profile for {source}, written by `invoca-upload profiles new`.",
        "# Every guess below is the tool's: check each against your file, then try it with",
        f"#   invoca-upload validate {source} --profile {name}.toml --campaign-id ID",
        "# The profile language is described in docs/profiles.md.",
        f'name = "{name}"',
        f'description = "Calls exported from {_quoted(source)}"',
        "",
        "[columns]",
    ]
    for field, explained in EXPLAINED.items():
        header = found.get(field)
        if header is None:
            need = "required: " if field in REQUIRED else ""
            lines.append(f'# {field} = ["..."]  # {need}{explained}: no column looked like it')
            continue
        sample = _sample(samples, header)
        if field == "external_call_unique_id" and _repeats(samples, header):
            sample += " (REPEATS in the first rows: not unique per call? build one in [templates])"
        lines.append(f'{field} = ["{_quoted(header)}"]  # {explained}{sample}')
    if "external_call_unique_id" not in found:
        lines += [
            "",
            "# No id column: build one from columns that together are unique per call, e.g.",
            "# [templates]",
            '# external_call_unique_id = "pbx1-{DID}-{Start Time}"',
        ]
    if "recording" not in found:
        lines += [
            "",
            "# No recording column: Invoca needs one per call. Pass --recording-url-template or:",
            "# [templates]",
            '# recording_url = "https://recordings.example.com/{Call ID}.wav"',
        ]
    direction = found.get("call_direction")
    if direction is not None and samples is not None and direction in samples:
        values = sorted({str(v) for v in samples[direction].dropna().unique()})[:8]
        lines += ["", "# The directions this file writes, each read as what it means:"]
        lines.append("[values.call_direction]")
        for value in values:
            meaning = "outbound" if re.search(r"out", value, re.IGNORECASE) else "inbound"
            lines.append(f'"{_quoted(value)}" = "{meaning}"  # guessed from the word: check it')
    lines += [
        "",
        "# Other keys: [constants] (a value for every row), [signals] / [custom] (Signal AI",
        "# and custom data columns), [[skip]] (rows to leave out, each with its reason),",
        "# timezone, dayfirst, country, header_row. See docs/profiles.md.",
    ]
    return "\n".join(lines) + "\n"


def _repeats(samples: pd.DataFrame | None, header: str) -> bool:
    if samples is None or header not in samples:
        return False
    values = samples[header].dropna()
    return bool(values.duplicated().any())


def _sample(samples: pd.DataFrame | None, header: str) -> str:
    """A comment's example values: one line, bounded (a cell's line break would end the comment
    and write TOML of its own)."""
    if samples is None or header not in samples:
        return ""
    values = [printable(str(v), 40) for v in samples[header].dropna().head(2) if str(v).strip()]
    return f"; e.g. {', '.join(values)}" if values else ""


def _quoted(text: str) -> str:
    """Text inside a TOML basic string: escaped as TOML escapes it."""
    import tomlkit

    return tomlkit.string(text).as_string()[1:-1]
