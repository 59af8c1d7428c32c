"""Start times: every form the exports write (ISO, locale dates in either order, epochs, Excel
serials, compressed stamps), read exactly and vectorised, localised to the zone the file or the
row gives, and formatted as the API's one unambiguous instant."""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from dateutil import parser as dateutil_parser

from uploader.check.normalize import LOST_DIGITS, SCIENTIFIC, Normalized, blank_reasons
from uploader.check.zones import KNOWN, fixed_offset_minutes, resolve_zone
from uploader.read.arrowtext import arrow, flags, matches, text_series
from uploader.textsafe import printable

_CLOCK = (
    r"(?:[T ]+(?P<hour>\d{1,2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?)?"
    r"\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?"
    r"\s*(?P<tz>Z|UTC|GMT|[ECMP][SD]T|[+-]\d{2}:?\d{2})?$"
)
# ASCII digits only: "١٢/٠٣/2024" is not a date these read (pd.to_numeric cannot take its digits).
ISO_LIKE = re.compile(
    r"^(?P<year>\d{4})[-/](?P<month>\d{1,2})[-/](?P<day>\d{1,2})" + _CLOCK, re.ASCII
)
LOCALE_LIKE = re.compile(
    r"^(?P<first>\d{1,2})[/.-](?P<second_>\d{1,2})[/.-](?P<year>\d{4}|\d{2})" + _CLOCK, re.ASCII
)
# What every LOCALE_LIKE value starts with (RE2's \d is ASCII, as LOCALE_LIKE's).
LOCALE_START = r"^\d{1,2}[/.-]\d{1,2}[/.-]"
EPOCH_SECONDS = r"^\d{10}$"
EPOCH_MILLIS = r"^\d{13}$"
COMPRESSED = r"^\d{17}$"
SERIAL = r"^\d{4,5}(?:\.\d+)?$"
# Zone names US call logs write after a time; each names one fixed offset, so reading it is exact.
ZONE_NAMES = {
    "Z": "+0000",
    "UTC": "+0000",
    "GMT": "+0000",
    "EST": "-0500",
    "EDT": "-0400",
    "CST": "-0600",
    "CDT": "-0500",
    "MST": "-0700",
    "MDT": "-0600",
    "PST": "-0800",
    "PDT": "-0700",
}
# The canonical column a profile fills with the zone a start time's own column is written in (a fact
# of the export format, such as Aircall's `datetime (utc)`); it is read, never sent.
START_TIME_ZONE = "start_time_zone"
IMPOSSIBLE_CLOCK = "has an impossible time of day (hours go to 23, minutes and seconds to 59)"
# The years a call's start time can fall in; a time outside them is a typo or a misread cell.
FIRST_YEAR, LAST_YEAR = 1900, 2099
EXCEL_EPOCH_1900 = pd.Timestamp("1899-12-30")
EXCEL_EPOCH_1904 = pd.Timestamp("1904-01-01")


@dataclass
class TimeOptions:
    """How cells are read: the zone of zone-less times, the date order (decided per column from the
    whole column, see `DateOrder`), the 1904 date system, and the region of national numbers."""

    timezone: str | None = None
    dayfirst: bool = False
    epoch1904: bool = False
    country: str = "US"


@dataclass
class DateOrder:
    """What a whole start_time column says about its date order (`05/03/2024` vs `31/03/2024`)."""

    day_first: dict[int, str]  # a few example rows only valid day-first
    month_first: dict[int, str]  # and only valid month-first
    day_first_count: int = 0
    month_first_count: int = 0
    ambiguous: int = 0

    @classmethod
    def empty(cls) -> DateOrder:
        return cls({}, {})

    def add(self, text: pd.Series) -> None:
        # Arrow's kernel picks the few values that start like a locale date; pandas' extract, one
        # value at a time in Python, reads only those (an ISO column costs one vectorised pass).
        text = text[matches(text, LOCALE_START)]
        if text.empty:
            return
        parts = text.str.extract(LOCALE_LIKE)[["first", "second_"]].dropna()
        if parts.empty:
            return
        first, second = pd.to_numeric(parts["first"]), pd.to_numeric(parts["second_"])
        day_only = (first > 12) & (second <= 12)
        month_only = (second > 12) & (first <= 12)
        self.day_first_count += int(day_only.sum())
        self.month_first_count += int(month_only.sum())
        self.ambiguous += int(((first <= 12) & (second <= 12)).sum())
        for row in parts.index[day_only][: 2 - len(self.day_first)]:
            self.day_first[int(row)] = str(text[row])
        for row in parts.index[month_only][: 2 - len(self.month_first)]:
            self.month_first[int(row)] = str(text[row])

    def decide(self, default_dayfirst: bool) -> bool:
        """Day-first when the column holds a value only valid day-first, month-first when it holds
        one only valid month-first, the default when every value is ambiguous; both: refused."""
        if self.day_first_count and self.month_first_count:
            (day_row, day), (month_row, month) = (
                next(iter(self.day_first.items())),
                next(iter(self.month_first.items())),
            )
            raise MixedDateOrder(
                f"the start time column mixes date orders: row {day_row} ({day}) is only valid "
                f"day-first and row {month_row} ({month}) only month-first; fix the file"
            )
        if self.day_first_count:
            return True
        if self.month_first_count:
            return False
        return default_dayfirst


class MixedDateOrder(ValueError):
    """A start time column holds dates in both orders."""


# Already in the form sent: ISO 8601 with T, whole seconds and a zone (Z becomes +00:00). Years
# outside 1900-2099 and an offset of -00:00 take the general path, which has its own rules for them.
SENT_ISO = (
    r"^(?:19|20)\d{2}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:Z|\+\d{2}:[0-5]\d|-(?:0[1-9]|1\d):[0-5]\d)$"
)


def normalize_start_times(
    text: pd.Series, options: TimeOptions, zones: pd.Series | None = None
) -> Normalized:
    """Start times to ISO 8601 with offset, or the API's network-zone form when no zone is known.
    `zones`: per row, the zone its column is written in, which no option overrides."""
    sent = matches(text, SENT_ISO)
    if sent.any():  # the right shape; now the right calendar (no 30 February)
        sent[sent] = pd.to_datetime(text[sent], format="ISO8601", utc=True, errors="coerce").notna()
    values = text_series(pc.replace_substring(arrow(text), "Z", "+00:00"), text.index)
    reasons = blank_reasons(text.index)
    if not sent.all():
        general = _normalize_start_times(
            text[~sent], options, None if zones is None else zones[~sent]
        )
        values[~sent] = general.values
        reasons[~sent] = general.reasons
    return Normalized(values, reasons)


def _normalize_start_times(
    text: pd.Series, options: TimeOptions, zones: pd.Series | None = None
) -> Normalized:
    reasons = blank_reasons(text.index)
    wall = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ns]")
    offset = pd.Series(np.nan, index=text.index, dtype="float64")
    pending = text.notna()
    for reader in (_read_plain_iso, _read_iso_like, _read_locale_like, _read_numeric):
        if not pending.any():  # each reader's passes cost ~5 ms even over no rows
            break
        done = reader(text[pending], options, wall, offset, reasons)
        pending &= ~done
    for index, value in text[pending].items():
        _read_rare(index, str(value), wall, offset, reasons)
    if zones is None:
        _localize(wall, offset, options.timezone, reasons, wall.notna())
    else:
        fixed = zones.notna()
        _localize(wall, offset, options.timezone, reasons, ~fixed)
        for zone in zones[fixed].unique():
            rows = (zones == zone).fillna(False)
            resolved = resolve_zone(str(zone))
            if resolved is None:
                unknown = rows & text.notna()
                reasons[unknown] = f"is in time zone {printable(str(zone), 40)!r}, not {KNOWN}"
                wall[unknown] = pd.NaT
            elif (minutes := fixed_offset_minutes(resolved)) is not None:
                offset[rows & wall.notna() & offset.isna()] = float(minutes)
            else:
                _localize(wall, offset, resolved, reasons, rows)
    implausible = wall.notna() & ~wall.dt.year.between(FIRST_YEAR, LAST_YEAR)
    reasons[implausible] = f"is not a call's start time (the year is not {FIRST_YEAR}-{LAST_YEAR})"
    wall[implausible] = pd.NaT
    values = _format(wall, offset)
    unread = text.notna() & values.isna()
    reasons[unread & reasons.isna()] = "is not a date and time this tool can read"
    values[unread] = text[unread]
    return Normalized(values, reasons)


PLAIN_ISO = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})?$"


def _read_plain_iso(text, options, wall, offset, reasons) -> pd.Series:
    """The common case, fully vectorised: 2024-03-05T14:03:27(.123)(Z|+hh:mm)."""
    plain = pd.Series(matches(text, PLAIN_ISO), index=text.index)
    values = text[plain]
    if values.empty:
        return plain
    zulu = flags(pc.ends_with(arrow(values), "Z"))
    numeric = matches(values, r"[+-]\d{2}:\d{2}$")
    minutes = pd.Series(np.where(zulu, 0.0, np.nan), index=values.index)
    local = values
    if numeric.any():
        tails = values[numeric].str[-6:]
        sign = np.where(tails.str[0] == "-", -1.0, 1.0)
        minutes[numeric] = sign * (tails.str[1:3].astype(float) * 60 + tails.str[4:6].astype(float))
    if zulu.any() or numeric.any():
        local = text_series(
            pc.replace_substring_regex(arrow(values), r"(?:Z|[+-]\d{2}:\d{2})$", ""), values.index
        )
    wall[values.index] = _nanoseconds(pd.to_datetime(local, format="ISO8601", errors="coerce"))
    offset[values.index] = minutes
    return plain


def _nanoseconds(stamps: pd.Series) -> pd.Series:
    """pandas reads a year past 2262 at a coarser unit, which cannot join the chunk's times: such a
    time is left unread (NaT); others outside FIRST_YEAR-LAST_YEAR are refused as implausible."""
    if stamps.dtype == "datetime64[ns]":
        return stamps
    inside = (stamps >= pd.Timestamp.min) & (stamps <= pd.Timestamp.max)
    return stamps.where(inside).astype("datetime64[ns]")


def _read_iso_like(text, options, wall, offset, reasons) -> pd.Series:
    parts = text.str.extract(ISO_LIKE)
    matched = parts["year"].notna()
    _assemble(parts[matched], parts[matched]["month"], parts[matched]["day"], wall, offset, reasons)
    return matched.reindex(wall.index, fill_value=False)


def _read_locale_like(text, options, wall, offset, reasons) -> pd.Series:
    parts = text.str.extract(LOCALE_LIKE)
    matched = parts["year"].notna()
    parts = parts[matched].copy()
    first = pd.to_numeric(parts["first"])
    second = pd.to_numeric(parts["second_"])
    month, day = (second, first) if options.dayfirst else (first, second)
    wrong_order = month > 12
    hint = (
        "is day-first, but the column was read month-first (--dayfirst is not set and no other "
        "value decides)"
        if not options.dayfirst
        else "is month-first, but the column is read day-first (--dayfirst or the profile)"
    )
    reasons[wrong_order[wrong_order].index] = hint
    year = pd.to_numeric(parts["year"])
    parts["year"] = year.where(parts["year"].str.len() == 4, year + 2000)  # 3/5/24: 2024
    _assemble(parts[~wrong_order], month[~wrong_order], day[~wrong_order], wall, offset, reasons)
    return matched.reindex(wall.index, fill_value=False)


def _assemble(parts: pd.DataFrame, month, day, wall, offset, reasons) -> None:
    if parts.empty:
        return
    no_clock = parts["hour"].isna()
    reasons[no_clock[no_clock].index] = "has a date but no time of day"
    parts = parts[~no_clock]
    month, day = month[~no_clock], day[~no_clock]
    hour = pd.to_numeric(parts["hour"])
    minute = pd.to_numeric(parts["minute"])
    second = pd.to_numeric(parts["second"].fillna("0"))
    ampm = parts["ampm"].fillna("").str.upper().str.replace(".", "", regex=False)
    # A clock past its range is a typo, never rolled into the next minute, hour or day.
    impossible = (hour > 23) | (minute > 59) | (second > 59)
    reasons[impossible[impossible].index] = IMPOSSIBLE_CLOCK
    bad_clock = impossible | ((ampm != "") & ((hour == 0) & (ampm == "PM")))
    hour = hour.where(~((ampm == "PM") & (hour < 12)), hour + 12)
    hour = hour.where(~((ampm == "AM") & (hour == 12)), 0)
    frac = parts["frac"].fillna("0").str.ljust(9, "0").str[:9]
    stamp = _nanoseconds(
        pd.to_datetime(
            pd.DataFrame(
                {
                    "year": pd.to_numeric(parts["year"]),
                    "month": pd.to_numeric(month),
                    "day": pd.to_numeric(day),
                    "hour": hour,
                    "minute": minute,
                    "second": second,
                }
            ),
            errors="coerce",
        )
    ) + pd.to_timedelta(pd.to_numeric(frac) // 1000 * 1000, unit="ns")
    stamp[bad_clock] = pd.NaT
    wall[stamp.index] = stamp
    offset[parts.index] = _offset_minutes(parts["tz"])


def _offset_minutes(tz: pd.Series) -> pd.Series:
    present = tz.notna()
    digits = tz.astype("string").fillna("+0000").replace(ZONE_NAMES)
    digits = digits.str.replace(":", "", regex=False)
    sign = np.where((digits.str[0] == "-").to_numpy(dtype=bool, na_value=False), -1.0, 1.0)
    hours = pd.to_numeric(digits.str[1:3]).to_numpy(dtype=float)
    minutes = pd.to_numeric(digits.str[3:5]).to_numpy(dtype=float)
    return pd.Series(sign * (hours * 60 + minutes), index=tz.index).where(present, np.nan)


def _read_numeric(text, options, wall, offset, reasons) -> pd.Series:
    done = pd.Series(False, index=wall.index)
    seconds = text.str.match(EPOCH_SECONDS).fillna(False)
    millis = text.str.match(EPOCH_MILLIS).fillna(False)
    compressed = text.str.match(COMPRESSED).fillna(False)
    serial = text.str.match(SERIAL).fillna(False) & ~seconds
    for mask, convert in (
        (seconds, lambda s: pd.to_datetime(pd.to_numeric(s), unit="s", errors="coerce")),
        (millis, lambda s: pd.to_datetime(pd.to_numeric(s), unit="ms", errors="coerce")),
        (compressed, lambda s: pd.to_datetime(s, format="%Y%m%d%H%M%S%f", errors="coerce")),
    ):
        index = mask[mask].index
        wall[index] = _nanoseconds(convert(text[index]))
        offset[index] = 0.0
        done[index] = True
    index = serial[serial].index
    if len(index):
        epoch = EXCEL_EPOCH_1904 if options.epoch1904 else EXCEL_EPOCH_1900
        days = pd.to_numeric(text[index])
        plausible = (days > 20000) & (days < 80000)
        stamp = epoch + pd.to_timedelta((days * 86_400_000).round(), unit="ms")
        wall[index] = stamp.where(plausible, pd.NaT).dt.round("s")
        done[index] = True
    return done


def _read_rare(index, value: str, wall, offset, reasons) -> None:
    """RFC 2822 and dates with month names; anything else stays unread."""
    if re.match(SCIENTIFIC, value):
        reasons[index] = LOST_DIGITS
        return
    stamp: datetime | None = None
    try:
        stamp = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        if re.search(r"[A-Za-z]{3}", value) and re.search(r"\d{1,2}:\d{2}", value):
            try:
                stamp = dateutil_parser.parse(value)
            except (ValueError, OverflowError):
                stamp = None
    if stamp is None or not pd.Timestamp.min.year < stamp.year < pd.Timestamp.max.year:
        return
    written = re.search(r"\b(\d{4})\b", value)
    if written and int(written.group(1)) != stamp.year:  # "0001" taken for 2001 as if two digits
        reasons[index] = f"is not a call's start time (the year is not {FIRST_YEAR}-{LAST_YEAR})"
        return
    wall[index] = pd.Timestamp(stamp.replace(tzinfo=None))
    if stamp.tzinfo is not None and stamp.utcoffset() is not None:
        offset[index] = stamp.utcoffset().total_seconds() / 60  # type: ignore[union-attr]


def _localize(wall, offset, timezone: str | None, reasons, rows: pd.Series) -> None:
    """Read the zone-less times among `rows` in `timezone`."""
    naive = rows & wall.notna() & offset.isna()
    if not timezone or not naive.any():
        return
    local = wall[naive].dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    failed = local.isna()
    for index in failed[failed].index:
        reasons[index] = _dst_reason(wall[index], timezone)
        wall[index] = pd.NaT
    local = local[~failed]
    utc = local.dt.tz_convert("UTC").dt.tz_localize(None)
    offset[local.index] = (local.dt.tz_localize(None) - utc).dt.total_seconds() / 60


def _dst_reason(stamp: pd.Timestamp, timezone: str) -> str:
    zone = ZoneInfo(timezone)
    local = stamp.to_pydatetime().replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        return f"does not exist in {timezone} (clocks went forward): add the offset"
    return f"is ambiguous in {timezone} (clocks went back): add the offset"


def _format(wall: pd.Series, offset: pd.Series) -> pd.Series:
    values = pd.Series(pd.NA, index=wall.index, dtype="string")
    known = wall.notna() & offset.notna()
    if known.any():
        minutes = offset[known].round().astype(int).to_numpy()
        zones, which = np.unique(minutes, return_inverse=True)
        suffixes = np.array(
            [f"{'-' if m < 0 else '+'}{abs(m) // 60:02d}:{abs(m) % 60:02d}" for m in zones]
        )
        joined = pc.binary_join_element_wise(_iso_text(wall[known]), pa.array(suffixes[which]), "")
        values[known] = text_series(joined, wall.index[known])
    naive = wall.notna() & offset.isna()
    if naive.any():
        values[naive] = network_zone_form(wall[naive])
    return values


def _iso_text(stamps: pd.Series) -> pa.Array:
    """YYYY-MM-DDTHH:MM:SS, with .fff only where the time has milliseconds."""
    fraction = bool((stamps.dt.microsecond != 0).any())
    unit = "datetime64[ms]" if fraction else "datetime64[s]"
    text = pc.cast(pa.array(stamps.to_numpy().astype(unit)), pa.string())  # "YYYY-MM-DD HH:MM:SS"
    text = pc.replace_substring(text, " ", "T")
    return pc.replace_substring_regex(text, r"\.000$", "") if fraction else text


HOURS_12 = pa.array(["12", *(f"{hour:02d}" for hour in range(1, 12))])
MERIDIEMS = pa.array(["AM", "PM"])


def network_zone_form(stamps: pd.Series) -> pd.Series:
    """The API's "Excel compatible" form, which Invoca reads in the network's own zone."""
    iso = _iso_text(stamps)
    hour = stamps.dt.hour.to_numpy()
    joined = pc.binary_join_element_wise(
        pc.replace_substring(pc.utf8_slice_codeunits(iso, 0, 10), "-", "/"),
        " ",
        pc.take(HOURS_12, pa.array(hour % 12)),
        pc.utf8_slice_codeunits(iso, 13),
        " ",
        pc.take(MERIDIEMS, pa.array(hour // 12)),
        "",
    )
    return text_series(joined, stamps.index)
