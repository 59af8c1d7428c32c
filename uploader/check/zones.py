"""Time zones as call logs write them in a column of their own: IANA names (`America/Chicago`,
`US/Pacific`), offsets (`UTC-05:00`, `GMT+1`, `+0530`), Windows names (`Eastern Standard Time`)
and the US abbreviations (`EST`, `PDT`, `CT`). Each is read as exactly what it says, or not at
all: `EST` is UTC-05:00 all year (as written), `ET` is New York's zone with its summer time."""

from __future__ import annotations

import functools
import re
import zoneinfo

# Windows time zone ids -> IANA, the "001" (territory-neutral) mappings of Unicode CLDR's
# common/supplemental/windowsZones.xml (github.com/unicode-org/cldr), for the zones North American,
# British, Irish, Spanish and other exports carry most.
WINDOWS = {
    "dateline standard time": "Etc/GMT+12",
    "hawaiian standard time": "Pacific/Honolulu",
    "alaskan standard time": "America/Anchorage",
    "pacific standard time": "America/Los_Angeles",
    "us mountain standard time": "America/Phoenix",
    "mountain standard time": "America/Denver",
    "central standard time": "America/Chicago",
    "canada central standard time": "America/Regina",
    "central america standard time": "America/Guatemala",
    "central standard time (mexico)": "America/Mexico_City",
    "eastern standard time": "America/New_York",
    "us eastern standard time": "America/Indianapolis",
    "atlantic standard time": "America/Halifax",
    "newfoundland standard time": "America/St_Johns",
    "sa pacific standard time": "America/Bogota",
    "e. south america standard time": "America/Sao_Paulo",
    "argentina standard time": "America/Buenos_Aires",
    "utc": "UTC",
    "coordinated universal time": "UTC",
    "gmt standard time": "Europe/London",
    "greenwich standard time": "Atlantic/Reykjavik",
    "w. europe standard time": "Europe/Berlin",
    "romance standard time": "Europe/Paris",
    "central europe standard time": "Europe/Budapest",
    "central european standard time": "Europe/Warsaw",
    "e. europe standard time": "Europe/Chisinau",
    "gtb standard time": "Europe/Bucharest",
    "fle standard time": "Europe/Kiev",
    "south africa standard time": "Africa/Johannesburg",
    "israel standard time": "Asia/Jerusalem",
    "russian standard time": "Europe/Moscow",
    "arabian standard time": "Asia/Dubai",
    "india standard time": "Asia/Calcutta",
    "singapore standard time": "Asia/Singapore",
    "china standard time": "Asia/Shanghai",
    "tokyo standard time": "Asia/Tokyo",
    "aus eastern standard time": "Australia/Sydney",
    "e. australia standard time": "Australia/Brisbane",
    "w. australia standard time": "Australia/Perth",
    "new zealand standard time": "Pacific/Auckland",
}
# The abbreviations US systems print: a standard or daylight one is that fixed offset, as written
# (an "EST" stamp in July means UTC-05:00, which is what the file says); a generic one ("ET") is
# the zone, summer time included.
ABBREVIATIONS = {
    "est": "-05:00",
    "edt": "-04:00",
    "cst": "-06:00",
    "cdt": "-05:00",
    "mst": "-07:00",
    "mdt": "-06:00",
    "pst": "-08:00",
    "pdt": "-07:00",
    "akst": "-09:00",
    "akdt": "-08:00",
    "hst": "-10:00",
    "et": "America/New_York",
    "ct": "America/Chicago",
    "mt": "America/Denver",
    "pt": "America/Los_Angeles",
    "utc": "UTC",
    "gmt": "UTC",
    "z": "UTC",
}
OFFSET = re.compile(r"(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?", re.IGNORECASE)
KNOWN = "an IANA name (America/Chicago), an offset (UTC-05:00), a Windows name or EST/ET"


@functools.cache
def _iana_by_key() -> dict[str, str]:
    return {name.casefold(): name for name in zoneinfo.available_timezones()}


@functools.cache
def resolve_zone(text: str) -> str | None:
    """The zone a cell names: an IANA name, or a fixed offset as `+hh:mm`; None if it names none."""
    written = " ".join(text.split())
    key = written.casefold()
    if key in ABBREVIATIONS:
        return ABBREVIATIONS[key]
    if key in WINDOWS:
        return WINDOWS[key]
    if (name := _iana_by_key().get(key)) is not None:
        return name
    if found := OFFSET.fullmatch(written):
        sign, hours, minutes = found.group(1), int(found.group(2)), int(found.group(3) or 0)
        if hours > 14 or minutes > 59:
            return None
        return f"{sign}{hours:02d}:{minutes:02d}"
    return None


def fixed_offset_minutes(zone: str) -> int | None:
    """Minutes east of UTC of a zone `resolve_zone` gave as an offset; None for an IANA name."""
    if not re.fullmatch(r"[+-]\d{2}:\d{2}", zone):
        return None
    minutes = int(zone[1:3]) * 60 + int(zone[4:6])
    return -minutes if zone[0] == "-" else minutes
