"""A profile applied to a file: `plan_columns` finds which of the file's columns each field reads,
and its `ColumnPlan` turns each chunk of text cells into the canonical fields (from/to and the
direction, value maps, zones, recording templates, skip rules and call legs), keeping where each
value came from so that a problem names the file's own column."""

from __future__ import annotations

import difflib
import string
from dataclasses import dataclass, field
from urllib.parse import quote

import pandas as pd

from uploader.check.fields import CALL_FIELDS, FIELDS
from uploader.check.mapping import NOTE
from uploader.check.normalize import RELAYED, clean_text, is_withheld
from uploader.check.profiles import (
    CUSTOM_PREFIXES,
    NUMBER_FIELDS,
    SIGNAL_PREFIXES,
    STANDS_IN,
    Profile,
    header_key,
)
from uploader.check.times import START_TIME_ZONE
from uploader.errors import ConfigError, InputError
from uploader.read.arrowtext import extracted
from uploader.read.table import HEADER_SEARCH_ROWS


def plan_columns(
    profile: Profile,
    headers: list[str],
    columns: list[str],
    *,
    campaign_id: str | None = None,
    recording_url_template: str | None = None,
    recording_by_id: bool = False,
    source: str = "",
) -> ColumnPlan:
    """Which of the file's columns each field reads under `profile`; refused (InputError) when a
    required field has none."""
    by_key: dict[str, str] = {}
    for header, column in zip(headers, columns, strict=True):
        by_key.setdefault(header_key(header), column)
    fields: dict[str, list[str]] = {}
    for field_name, alternatives in profile.columns.items():
        found = list(dict.fromkeys(by_key[k] for k in map(header_key, alternatives) if k in by_key))
        if found:
            fields[field_name] = found
    signals, custom = _prefixed(headers, columns, source)
    for name, header in profile.signals.items():
        if header_key(header) in by_key:
            signals.setdefault(name, by_key[header_key(header)])
    for name, header in profile.custom.items():
        if header_key(header) in by_key:
            custom.setdefault(name, by_key[header_key(header)])
    constants = dict(profile.constants)
    if campaign_id:
        constants["advertiser_campaign_id_from_network"] = campaign_id  # the run says: it wins
    plan = ColumnPlan(
        profile=profile,
        fields=fields,
        signals=signals,
        custom=custom,
        constants=constants,
        template=recording_url_template
        or profile.recording_url_template
        or profile.templates.get("recording_url"),
        by_key=by_key,
        templates={k: v for k, v in profile.templates.items() if k != "recording_url"},
        recording_by_id=recording_by_id or profile.recording_by_id,
    )
    _check_complete(plan, headers, source)
    return plan


def _prefixed(headers: list[str], columns: list[str], source: str) -> tuple[dict, dict]:
    signals: dict[str, str] = {}
    custom: dict[str, str] = {}
    seen: dict[tuple[str, str], str] = {}
    for header, column in zip(headers, columns, strict=True):
        lowered = header.lower()
        for prefixes, target, kind in (
            (SIGNAL_PREFIXES, signals, "signal"),
            (CUSTOM_PREFIXES, custom, "custom"),
        ):
            prefix = next((p for p in prefixes if lowered.startswith(p)), None)
            if prefix is None:
                continue
            name = header[len(prefix) :].strip()
            if not name:
                raise InputError(f"{source}: column {header!r} names no {kind}")
            if (kind, name.lower()) in seen:
                raise InputError(
                    f"{source}: columns {seen[(kind, name.lower())]!r} and {header!r} "
                    f"name the same {kind}"
                )
            seen[(kind, name.lower())] = header
            target[name] = column
    return signals, custom


@dataclass
class Canonical:
    """A chunk in canonical columns, with the rows the profile skips and, for fields filled from
    more than one input column, the input column each row's value came from."""

    rows: pd.DataFrame
    skips: pd.Series
    origin: dict[str, pd.Series]


@dataclass
class ColumnPlan:
    """A profile resolved against one file's header."""

    profile: Profile
    fields: dict[str, list[str]]  # field -> the input columns that hold it, in the profile's order
    signals: dict[str, str]
    custom: dict[str, str]
    constants: dict[str, str]
    template: str | None
    by_key: dict[str, str]
    templates: dict[str, str] = field(default_factory=dict)  # field -> "{DID}-{Start Time}"
    recording_by_id: bool = False  # rows need no recording: Invoca finds it by the call's id
    legs: CallLegs | None = None  # set by __post_init__ when the profile names a parent column

    def __post_init__(self) -> None:
        parent = self.profile.legs.parent
        if parent and "external_call_unique_id" in self.fields:
            column = self.input_column(parent)
            if column is not None:
                numbers = [c for name in NUMBER_FIELDS for c in self.fields.get(name, [])]
                self.legs = CallLegs(column, self.column("external_call_unique_id"), numbers)

    def provides(self, field_name: str) -> bool:
        return (
            field_name in self.fields
            or field_name in self.constants
            or (field_name in self.templates)
        )

    def column(self, field_name: str) -> str:
        """The input column named for a field in messages (its first one)."""
        return self.fields[field_name][0] if field_name in self.fields else ""

    def input_column(self, header: str) -> str | None:
        return self.by_key.get(header_key(header))

    def used_columns(self) -> set[str]:
        """The input columns this plan reads; the others are only kept in the results file."""
        used = {column for columns in self.fields.values() for column in columns}
        used |= set(self.signals.values()) | set(self.custom.values())
        named = [*self.placeholders(), *(c for rule in self.profile.skip for c in rule.columns)]
        if self.profile.legs.parent:
            named.append(self.profile.legs.parent)
        used |= {column for column in map(self.input_column, named) if column is not None}
        return used

    def placeholders(self) -> list[str]:
        """The columns the templates name (the recording URL's and the profile's others)."""
        named = recording_placeholders(self.template) if self.template else []
        for template in self.templates.values():
            named += recording_placeholders(template)
        return named

    def survey(self, chunk: pd.DataFrame) -> None:
        """First pass over the file (see CallLegs.survey)."""
        if self.legs is not None:
            self.legs.survey(chunk)

    # ------------------------------------------------------------ rows

    def canonical(self, chunk: pd.DataFrame) -> Canonical:
        """The chunk in canonical columns (trimmed text, NA for blank), its skips and origins."""
        out = pd.DataFrame(index=chunk.index)
        origin: dict[str, pd.Series] = {}
        for field_name, columns in self.fields.items():
            out[field_name], source = _coalesce(chunk, columns)
            if source is not None:
                origin[field_name] = source
            pattern = self.profile.extract.get(field_name)
            if pattern is not None:
                found = extracted(out[field_name], pattern)
                out[field_name] = found.where(found.notna(), out[field_name]).astype("string")
        for field_name, template in self.templates.items():  # where the row has no value
            current = out.get(field_name, pd.Series(pd.NA, index=chunk.index, dtype="string"))
            filled = fill_template(template, chunk, self.by_key, quoted=False)
            out[field_name] = current.fillna(filled).astype("string")
        for field_name, value in self.constants.items():
            current = (
                out[field_name]
                if field_name in out
                else pd.Series(pd.NA, index=chunk.index, dtype="string")
            )
            out[field_name] = current.fillna(value)
        for field_name, mapping in self.profile.values.items():
            if field_name in out:
                lowered = {key.lower(): value for key, value in mapping.items()}
                mapped = out[field_name].str.lower().map(lowered)
                out[field_name] = mapped.where(mapped.notna(), out[field_name]).astype("string")
        _from_to(out, origin, self)
        if self.legs is not None:
            self.legs.reside(chunk, out)
        self._recording(out, chunk)
        self._zones(out, origin)
        for name, column in self.signals.items():
            out[f"signal:{name}"] = clean_text(chunk[column])
        for name, column in self.custom.items():
            out[f"custom:{name}"] = clean_text(chunk[column])
        for field_name in CALL_FIELDS:
            if field_name not in out:
                out[field_name] = pd.Series(pd.NA, index=chunk.index, dtype="string")
        return Canonical(out, self._skips(chunk, out), origin)

    def _recording(self, out: pd.DataFrame, chunk: pd.DataFrame) -> None:
        for name in ("recording_url", "recording_filename"):
            if name not in out:
                out[name] = pd.Series(pd.NA, index=out.index, dtype="string")
        if "recording" in out:
            recording = out.pop("recording")
            is_url = recording.str.match(r"^https?://", case=False).fillna(False)
            out["recording_url"] = out["recording_url"].fillna(recording.where(is_url))
            out["recording_filename"] = out["recording_filename"].fillna(recording.where(~is_url))
        if self.template:
            blank = out["recording_url"].isna() & out["recording_filename"].isna()
            if blank.any():
                out.loc[blank, "recording_url"] = fill_template(
                    self.template, chunk[blank], self.by_key
                )

    def _zones(self, out: pd.DataFrame, origin: dict[str, pd.Series]) -> None:
        """The zone a start time is written in when that is a fact of its row (a `timezone`
        column) or of its column (`datetime (utc)`): no option shifts it. Others are read in
        --timezone (or the profile's account zone)."""
        per_row = out.pop("timezone") if "timezone" in out else None
        zones = {self.input_column(h): zone for h, zone in self.profile.zones.items()}
        zones.pop(None, None)
        if (not zones and per_row is None) or "start_time" not in out:
            return
        source = origin.get("start_time", pd.Series(self.column("start_time"), index=out.index))
        zone = source.map(zones).astype("string")
        if per_row is not None:  # a row's own zone: a multi-site export's column
            zone = per_row.where(per_row.notna(), zone)
        out[START_TIME_ZONE] = zone.astype("string")

    def _skips(self, chunk: pd.DataFrame, out: pd.DataFrame) -> pd.Series:
        """Why the profile skips a row, in order: legs, rules, a withheld caller, no recording."""
        reasons = pd.Series(pd.NA, index=chunk.index, dtype="object")

        def skip(hit: pd.Series, reason: str | pd.Series) -> None:
            nonlocal reasons
            reasons = reasons.where(~(hit & reasons.isna()), reason)

        skip(self._totals(chunk, out), TOTALS_ROW)
        if self.legs is not None:
            for hit, reason in self.legs.skips(chunk, out["calling_phone_number"]):
                skip(hit, reason)
        for rule in self.profile.skip:
            columns = [self.input_column(column) for column in rule.columns]
            if None in columns:
                continue
            cells = [clean_text(chunk[column]) for column in columns]
            hit = pd.Series(True, index=chunk.index)
            for condition, values in zip(rule.conditions, cells, strict=True):
                hit &= condition.holds(values)
            if hit.any():
                skip(hit, rule.reasons(cells[0]))
        if self.profile.skip_withheld:
            withheld = out["calling_phone_number"].map(is_withheld, na_action="ignore")
            skip(withheld.fillna(False).astype(bool), self.profile.skip_withheld)
        if self.profile.skip_unrecorded:
            unrecorded = out["recording_url"].isna() & out["recording_filename"].isna()
            skip(unrecorded, self.profile.skip_unrecorded)
        return reasons

    def _totals(self, chunk: pd.DataFrame, out: pd.DataFrame) -> pd.Series:
        """A report's totals or subtotals line: its first cell says so (`Total`, `Grand total:`,
        `Subtotal`), or it has no id and no start time and only counts, sums and durations."""
        hits = pd.Series(False, index=chunk.index)
        ids = out["external_call_unique_id"]
        worded = ids.str.match(TOTALS_WORD, case=False).fillna(False).astype(bool)
        candidates = chunk[ids.isna() | worded]
        if candidates.empty:
            return hits
        cells = candidates.apply(clean_text)
        first = cells.bfill(axis=1).iloc[:, 0]
        hits[candidates.index] = first.str.match(TOTALS_WORD, case=False).fillna(False)
        filled = cells.notna()
        counts = cells.apply(lambda column: column.str.fullmatch(COUNT_CELL)).fillna(False)
        only_counts = filled.any(axis=1) & (counts | ~filled).all(axis=1)
        blank = ids.isna() & out["start_time"].isna()
        hits[candidates.index] |= blank[candidates.index] & only_counts
        return hits


# A report's totals line: "Total", "Totals:", "Grand total", "Subtotal", "Sum" in its first cell;
# or a line of only counts, sums and durations (12, 1,234.50, $99, 01:23:45, 45%) with no id.
TOTALS_WORD = r"^\s*(?:(?:grand\s+|sub-?)?totals?|sum)(?:\s*[:(].*|\s+[^\W\d_][\w ]*)?\s*$"
COUNT_CELL = r"[$€£]?\s*-?[\d.,]{1,9}\s*%?|\d{1,3}(?::\d{2}){1,2}"
TOTALS_ROW = "totals row: a report's sums, not a call"


def _coalesce(chunk: pd.DataFrame, columns: list[str]) -> tuple[pd.Series, pd.Series | None]:
    """Each row's value from the first listed column that has one (Zoom's caller_did_number,
    then caller_number), with the column it came from when there is a choice."""
    values = [clean_text(chunk[column]) for column in columns]
    if len(values) == 1:
        return values[0], None
    out = pd.Series(pd.NA, index=chunk.index, dtype="string")
    source = pd.Series(columns[0], index=chunk.index, dtype=object)
    for column, value in zip(columns, values, strict=True):
        take = out.isna() & value.notna()
        out = out.where(~take, value)
        source[take] = column
    return out, source


def _from_to(out: pd.DataFrame, origin: dict[str, pd.Series], plan: ColumnPlan) -> None:
    """From/to columns to the API's customer (calling) and business (destination) numbers."""
    if "from_number" not in out and "to_number" not in out:
        return
    blank = pd.Series(pd.NA, index=out.index, dtype="string")
    origin_of = {
        name: origin.pop(name, pd.Series(plan.column(name), index=out.index, dtype=object))
        for name in ("from_number", "to_number")
    }
    start = out.pop("from_number") if "from_number" in out else blank
    end = out.pop("to_number") if "to_number" in out else blank
    outbound = out["call_direction"].str.lower().eq("outbound").fillna(False).astype(bool)
    for target, inbound_side, outbound_side in (
        ("calling_phone_number", "from_number", "to_number"),
        ("destination_phone_number", "to_number", "from_number"),
    ):
        if target in out:
            continue
        sides = {"from_number": start, "to_number": end}
        out[target] = sides[inbound_side].where(~outbound, sides[outbound_side])
        origin[target] = origin_of[inbound_side].where(~outbound, origin_of[outbound_side])


@dataclass
class CallLegs:
    """Which leg of a multi-leg call is uploaded, for exports with one row per leg (Twilio): the
    parent leg, unless its customer is a browser or SIP user relayed on a child leg; then the
    children. `parent` is the input column naming a row's parent leg (blank on parents)."""

    parent: str
    ids: str  # the input column of the call's id
    numbers: list[str]  # the input columns holding phone numbers
    relayed: set[str] = field(default_factory=set)  # parents whose customer is on a child leg
    with_children: set[str] = field(default_factory=set)  # parents with a child leg in the file

    def survey(self, chunk: pd.DataFrame) -> None:
        """First pass over the file: note the parent legs whose customer is on a child leg, and
        which parents have a child leg here at all."""
        parent_of = clean_text(chunk[self.parent])
        ids = clean_text(chunk[self.ids])
        self.relayed.update(ids[parent_of.isna() & self._relayed_row(chunk)].dropna().tolist())
        self.with_children.update(parent_of.dropna().tolist())

    def reside(self, chunk: pd.DataFrame, out: pd.DataFrame) -> None:
        """A browser or SIP user's parent leg with no child leg in the file is the only record of
        its call: its customer is the phone number on its other side, so the two numbers change
        places and the direction turns (the agent in the browser called out, or was called)."""
        calling, destination = out["calling_phone_number"], out["destination_phone_number"]
        lone = (
            clean_text(chunk[self.parent]).isna()
            & ~clean_text(chunk[self.ids]).isin(self.with_children).fillna(False).astype(bool)
            & _relayed(calling.astype("string"))
            & destination.notna()
            & ~_relayed(destination.astype("string"))
        )
        if not lone.any():
            return
        out.loc[lone, ["calling_phone_number", "destination_phone_number"]] = out.loc[
            lone, ["destination_phone_number", "calling_phone_number"]
        ].to_numpy()
        turned = out["call_direction"].str.lower().map(TURNED)
        out.loc[lone, "call_direction"] = turned[lone]
        out[NOTE] = pd.Series(pd.NA, index=out.index, dtype="string").where(~lone, RESIDED)

    def skips(self, chunk: pd.DataFrame, calling: pd.Series) -> list[tuple[pd.Series, object]]:
        """The legs not uploaded, each with why, in order. A relayed parent is skipped only when
        a child leg of it is in the file (else it is the only record of its call)."""
        parents = clean_text(chunk[self.parent])
        child = parents.notna() & ~parents.isin(self.relayed).fillna(False).astype(bool)
        has_child = clean_text(chunk[self.ids]).isin(self.with_children).fillna(False).astype(bool)
        return [
            (
                parents.isna() & self._relayed_row(chunk) & has_child,
                "leg of a browser or SIP user: the call is uploaded "
                "from its child leg, which holds the customer's number",
            ),
            (
                child,
                "child leg of call " + parents.fillna("") + " (the call is uploaded from its "
                "parent leg)",
            ),
            (
                parents.notna() & _relayed(calling.astype("string")),
                "a call between browser or SIP users: no phone number to upload",
            ),
        ]

    def _relayed_row(self, chunk: pd.DataFrame) -> pd.Series:
        """Rows with a browser or SIP party among their numbers."""
        relayed = pd.Series(False, index=chunk.index)
        for column in self.numbers:
            relayed |= _relayed(clean_text(chunk[column]))
        return relayed


TURNED = {"inbound": "outbound", "outbound": "inbound"}
RESIDED = (
    "the leg of a browser or SIP user with no child leg in the file: sent with the customer on "
    "its other side (calling and destination numbers exchanged, direction turned)"
)


def _relayed(values: pd.Series) -> pd.Series:
    return values.str.match(RELAYED, case=False).fillna(False).astype(bool)


def recording_placeholders(template: str) -> list[str]:
    """The columns a recording URL template names: `{Sid}` in https://rec.example.com/{Sid}.wav."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as error:
        raise ConfigError(f"recording URL template {template!r}: {error}") from error


def fill_template(
    template: str, rows: pd.DataFrame, by_key: dict[str, str], *, quoted: bool = True
) -> pd.Series:
    """Each row's value of a template: its `{column}`s replaced by the row's values (URL-quoted
    for a URL); blank where any of them is blank."""
    url = pd.Series("", index=rows.index, dtype="string")
    for literal, name, _, _ in string.Formatter().parse(template):
        url = url + literal
        if name:
            values = clean_text(rows[by_key[header_key(name)]])
            url = url + (
                values.map(lambda v: quote(str(v), safe=""), na_action="ignore")
                if quoted
                else values
            )
    return url


def _check_complete(plan: ColumnPlan, headers: list[str], source: str) -> None:
    """Every field the API requires has a column (or a constant, or a template) in this file."""
    needs: dict[str, bool] = {}
    for call_field in FIELDS:
        if not (call_field.required or call_field.one_of):
            continue
        group = call_field.one_of or (call_field.name,)
        sources = [name for member in group for name in (member, *STANDS_IN.get(member, ()))]
        found = any(plan.provides(name) for name in sources)
        if call_field.one_of and (plan.template or plan.recording_by_id):
            found = True  # a template makes every row's recording; direct access needs none
        needs[call_field.missing] = needs.get(call_field.missing, False) or found
    missing = [name for name, ok in needs.items() if not ok]
    if missing:
        further = (
            f" (is the header below row {HEADER_SEARCH_ROWS}? --header-row N names it)"
            if len(missing) >= 3
            else ""
        )
        raise InputError(
            f"{source}: missing column "
            + "; ".join(_with_hint(m, plan.profile, headers) for m in missing)
            + further
        )
    for what, template in [("recording URL", plan.template), *plan.templates.items()]:
        for placeholder in recording_placeholders(template) if template else []:
            if header_key(placeholder) not in plan.by_key:
                raise ConfigError(
                    f"{what} template uses {{{placeholder}}} but {source} has no such column"
                )


def _with_hint(missing: str, profile: Profile, headers: list[str]) -> str:
    alternatives = profile.columns.get(missing.split(" ")[0], [missing.split(" ")[0]])
    keyed = {header_key(header): header for header in headers if header}
    for alternative in alternatives:
        close = difflib.get_close_matches(header_key(alternative), list(keyed), n=1, cutoff=0.7)
        if close:
            return f"{missing} (closest header found: {keyed[close[0]]!r})"
    return missing
