"""Column profiles: how a file's headers map onto the API's call fields.

A profile is a TOML file (built-in ones live in `schemas/`). `Profile.plan(headers)` resolves it
against one file's header into a `ColumnPlan`; `ColumnPlan.canonical(chunk)` turns a chunk of input
text into the canonical columns the schema validates.
"""

from __future__ import annotations

import difflib
import re
import string
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from uploader.check.fields import CALL_FIELDS, FIELDS
from uploader.check.normalize import START_TIME_ZONE, clean_text, is_withheld
from uploader.errors import ConfigError, InputError
from uploader.settings import read_toml

# Columns a profile may name besides the call fields: the originating and receiving numbers (swapped
# on outbound calls so that calling_phone_number is always the customer) and a recording that is a
# URL or a storage key depending on its value.
PSEUDO_FIELDS = ("from_number", "to_number", "recording")
# The profile columns that can fill a call field in place of its own column.
STANDS_IN = {
    "calling_phone_number": ("from_number",),
    "destination_phone_number": ("to_number",),
    "recording_url": ("recording",),
    "recording_filename": ("recording",),
}
SIGNAL_PREFIXES = ("signal:", "signal.", "signals:", "signals.")
CUSTOM_PREFIXES = ("custom:", "custom.", "custom_data:", "custom_data.")
PROFILE_KEYS = {
    "name",
    "description",
    "columns",
    "values",
    "constants",
    "timezone",
    "dayfirst",
    "country",
    "recording_url_template",
    "skip",
    "signals",
    "custom",
    "zones",
    "extract",
    "legs",
    "skip_unrecorded",
    "skip_withheld",
}
NUMBER_FIELDS = ("calling_phone_number", "destination_phone_number", "from_number", "to_number")
# A party that is a browser or app user (Twilio's `client:alice`) or a SIP address, not a phone.
RELAYED_PARTY = r"^\s*(?:client|sips?):"
UNRECORDED = "recording_url or recording_filename"


def header_key(name: str) -> str:
    """Headers match ignoring case, spaces, dots, underscores and hyphens."""
    return re.sub(r"[\s._\-]+", "", name.lstrip("\ufeff")).lower()


@dataclass(frozen=True)
class Condition:
    """One column's test in a skip rule: one of some values (`*`: any), blank, or a pattern."""

    column: str
    values: frozenset[str] = frozenset()
    blank: bool = False
    pattern: str | None = None

    def holds(self, values: pd.Series) -> pd.Series:
        if self.blank:
            return values.isna()
        if self.pattern is not None:
            return values.str.fullmatch(self.pattern, case=False).fillna(False).astype(bool)
        if "*" in self.values:
            return values.notna()
        return values.str.lower().isin(self.values).fillna(False).astype(bool)


@dataclass(frozen=True)
class SkipRule:
    """Rows on which every condition holds are skipped with `reason` ({value}: the first
    condition's cell). A rule naming a column the file lacks does not apply."""

    conditions: tuple[Condition, ...]
    reason: str

    @property
    def columns(self) -> list[str]:
        return [condition.column for condition in self.conditions]

    def reasons(self, first: pd.Series) -> str | pd.Series:
        if "{value}" not in self.reason:
            return self.reason
        before, after = self.reason.split("{value}", 1)
        return before + first.fillna("").astype(str) + after


@dataclass(frozen=True)
class Legs:
    """How a format writes one call as several rows.

    `parent`: the column a child leg names its parent in (Twilio's ParentCallSid). A call goes up
    once, from the leg that holds the customer's phone number: the parent leg, unless a party of the
    parent is a browser or SIP user (a Voice SDK or SIP-domain call), when its child legs are.
    `same_id`: rows sharing one id are legs of one call (Zoom's call_id): the first is uploaded and
    the others are skipped as legs of it, where other formats refuse a repeated id.
    """

    parent: str | None = None
    same_id: bool = False


@dataclass
class Profile:
    name: str
    description: str
    columns: dict[str, list[str]]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    constants: dict[str, str] = field(default_factory=dict)
    timezone: str | None = None
    dayfirst: bool = False
    country: str | None = None
    recording_url_template: str | None = None
    skip: list[SkipRule] = field(default_factory=list)
    signals: dict[str, str] = field(default_factory=dict)
    custom: dict[str, str] = field(default_factory=dict)
    zones: dict[str, str] = field(
        default_factory=dict
    )  # header -> the zone the format writes it in
    extract: dict[str, str] = field(
        default_factory=dict
    )  # field -> pattern whose group is the value
    legs: Legs = field(default_factory=Legs)
    skip_unrecorded: str | None = None  # skip (with this reason) rows left with no recording
    skip_withheld: str | None = (
        None  # skip (with this reason) calls whose caller withheld the number
    )

    def is_header(self, headers: list[str]) -> bool:
        keys = {header_key(header) for header in headers}
        wanted = ("external_call_unique_id", "start_time")
        return all(
            any(header_key(name) in keys for name in self.columns.get(field_name, [field_name]))
            for field_name in wanted
        )

    def plan(
        self,
        headers: list[str],
        columns: list[str],
        *,
        campaign_id: str | None = None,
        recording_url_template: str | None = None,
        source: str = "",
    ) -> ColumnPlan:
        by_key: dict[str, str] = {}
        for header, column in zip(headers, columns, strict=True):
            by_key.setdefault(header_key(header), column)
        fields: dict[str, list[str]] = {}
        for field_name, alternatives in self.columns.items():
            found = list(
                dict.fromkeys(by_key[k] for k in map(header_key, alternatives) if k in by_key)
            )
            if found:
                fields[field_name] = found
        signals, custom = _prefixed(headers, columns, source)
        for name, header in self.signals.items():
            if header_key(header) in by_key:
                signals.setdefault(name, by_key[header_key(header)])
        for name, header in self.custom.items():
            if header_key(header) in by_key:
                custom.setdefault(name, by_key[header_key(header)])
        constants = dict(self.constants)
        if campaign_id:
            constants.setdefault("advertiser_campaign_id_from_network", campaign_id)
        plan = ColumnPlan(
            profile=self,
            fields=fields,
            signals=signals,
            custom=custom,
            constants=constants,
            template=recording_url_template or self.recording_url_template,
            by_key=by_key,
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
    legs: CallLegs | None = None  # set by __post_init__ when the profile names a parent column

    def __post_init__(self) -> None:
        parent = self.profile.legs.parent
        if parent and "external_call_unique_id" in self.fields:
            column = self.input_column(parent)
            if column is not None:
                numbers = [c for name in NUMBER_FIELDS for c in self.fields.get(name, [])]
                self.legs = CallLegs(column, self.column("external_call_unique_id"), numbers)

    def provides(self, field_name: str) -> bool:
        return field_name in self.fields or field_name in self.constants

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
        return recording_placeholders(self.template) if self.template else []

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
                found = out[field_name].str.extract(pattern, expand=False)
                out[field_name] = found.where(found.notna(), out[field_name]).astype("string")
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
                out.loc[blank, "recording_url"] = fill_recording_template(
                    self.template, chunk[blank], self.by_key
                )

    def _zones(self, out: pd.DataFrame, origin: dict[str, pd.Series]) -> None:
        """The zone a start time is written in when that is a fact of its column (`datetime (utc)`):
        no option shifts it. Others are read in --timezone (or the profile's account zone)."""
        zones = {self.input_column(h): zone for h, zone in self.profile.zones.items()}
        zones.pop(None, None)
        if not zones or "start_time" not in out:
            return
        source = origin.get("start_time", pd.Series(self.column("start_time"), index=out.index))
        out[START_TIME_ZONE] = source.map(zones).astype("string")

    def _skips(self, chunk: pd.DataFrame, out: pd.DataFrame) -> pd.Series:
        """Why the profile skips a row, in order: legs, rules, a withheld caller, no recording."""
        reasons = pd.Series(pd.NA, index=chunk.index, dtype="object")

        def skip(hit: pd.Series, reason: str | pd.Series) -> None:
            nonlocal reasons
            reasons = reasons.where(~(hit & reasons.isna()), reason)

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

    def survey(self, chunk: pd.DataFrame) -> None:
        """First pass over the file: note the parent legs whose customer is on a child leg."""
        parents = clean_text(chunk[self.parent]).isna()
        ids = clean_text(chunk[self.ids])
        self.relayed.update(ids[parents & self._relayed_row(chunk)].dropna().tolist())

    def skips(self, chunk: pd.DataFrame, calling: pd.Series) -> list[tuple[pd.Series, object]]:
        """The legs not uploaded, each with why, in order."""
        parents = clean_text(chunk[self.parent])
        child = parents.notna() & ~parents.isin(self.relayed).fillna(False).astype(bool)
        return [
            (
                parents.isna() & self._relayed_row(chunk),
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


def _relayed(values: pd.Series) -> pd.Series:
    return values.str.match(RELAYED_PARTY, case=False).fillna(False).astype(bool)


def recording_placeholders(template: str) -> list[str]:
    """The columns a recording URL template names: `{Sid}` in https://rec.example.com/{Sid}.wav."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as error:
        raise ConfigError(f"recording URL template {template!r}: {error}") from error


def fill_recording_template(template: str, rows: pd.DataFrame, by_key: dict[str, str]) -> pd.Series:
    """Each row's recording URL: the template with the row's values, URL-quoted."""
    url = pd.Series("", index=rows.index, dtype="string")
    for literal, name, _, _ in string.Formatter().parse(template):
        url = url + literal
        if name:
            values = clean_text(rows[by_key[header_key(name)]])
            url = url + values.map(lambda v: quote(str(v), safe=""), na_action="ignore")
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
        if call_field.one_of and plan.template:
            found = True  # --recording-url-template makes the recording of every row
        needs[call_field.missing] = needs.get(call_field.missing, False) or found
    missing = [name for name, ok in needs.items() if not ok]
    if missing:
        raise InputError(
            f"{source}: missing column "
            + "; ".join(_with_hint(m, plan.profile, headers) for m in missing)
        )
    for placeholder in plan.placeholders():
        if header_key(placeholder) not in plan.by_key:
            raise ConfigError(
                f"recording URL template uses {{{placeholder}}} but {source} has no such column"
            )


def _with_hint(missing: str, profile: Profile, headers: list[str]) -> str:
    alternatives = profile.columns.get(missing.split(" ")[0], [missing.split(" ")[0]])
    keyed = {header_key(header): header for header in headers if header}
    for alternative in alternatives:
        close = difflib.get_close_matches(header_key(alternative), list(keyed), n=1, cutoff=0.7)
        if close:
            return f"{missing} (closest header found: {keyed[close[0]]!r})"
    return missing


# ---------------------------------------------------------------- choosing and saving


def suggest_profile(headers: list[str]) -> str | None:
    """The profile (built-in or saved) that recognises these headers and matches most fields."""
    keys = {header_key(header) for header in headers}
    best, best_score = None, 0
    for name in [*builtin_profiles(), *saved_profiles()]:
        try:
            profile = load_profile(name)
        except ConfigError:
            continue  # a broken saved profile is reported when it is chosen
        if not profile.is_header(headers):
            continue
        score = sum(
            any(header_key(alias) in keys for alias in aliases)
            for aliases in profile.columns.values()
        )
        if score > best_score:
            best, best_score = name, score
    return best


def field_matches(profile: Profile, headers: list[str]) -> dict[str, str | None]:
    """Each column field of the profile and the header it reads (None when the file has none)."""
    by_key = {header_key(header): header for header in reversed(headers) if header}
    return {
        field_name: next(
            (by_key[header_key(alias)] for alias in aliases if header_key(alias) in by_key), None
        )
        for field_name, aliases in profile.columns.items()
    }


PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def mapped_profile(name: str, base: str, mapping: dict[str, str]) -> str:
    """The TOML of a copy of the profile `base` (its rules, comments and citations kept) in which
    each field of `mapping` reads the given header first, named `name`; it is checked to load."""
    import tomlkit

    if not PROFILE_NAME.fullmatch(name) or name in builtin_profiles():
        raise ConfigError(
            f"profile name {name!r}: use letters, digits, - and _ (not a built-in profile's name)"
        )
    document = tomlkit.parse(_profile_file(base).read_text(encoding="utf-8"))
    document["name"] = name
    document["description"] = f"{base}, with columns mapped on the web page"
    columns = document.setdefault("columns", tomlkit.table())
    for field_name, header in mapping.items():
        if field_name not in CALL_FIELDS and field_name not in PSEUDO_FIELDS:
            raise ConfigError(f"{field_name} is not a call field")
        if not header.strip():
            continue
        before = [alias for alias in columns.get(field_name, []) if alias != header]
        columns[field_name] = [header, *before]
    text = tomlkit.dumps(document)
    profile_from_dict(tomllib.loads(text), name)  # what is saved must load
    return text


# ---------------------------------------------------------------- loading


def builtin_profiles() -> dict[str, Traversable]:
    """The profiles shipped inside the package (the repository's schemas/, see pyproject.toml)."""
    shipped = resources.files("uploader.schemas")
    found = {
        entry.name.removesuffix(".toml"): entry
        for entry in shipped.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    }
    return dict(sorted(found.items()))


def user_profiles_dir() -> Path:
    """Where profiles saved from the web page live (one TOML file each, usable by name)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("invoca-upload")) / "profiles"


def saved_profiles() -> dict[str, Path]:
    folder = user_profiles_dir()
    if not folder.is_dir():
        return {}
    return {path.stem: path for path in sorted(folder.glob("*.toml")) if path.is_file()}


def _profile_file(name_or_path: str | Path) -> Traversable | Path:
    builtin = builtin_profiles()
    path: Traversable | Path = (
        builtin.get(str(name_or_path))
        or saved_profiles().get(str(name_or_path))
        or Path(name_or_path)
    )
    if not path.is_file():
        raise ConfigError(
            f"profile {str(name_or_path)!r} is neither a built-in profile "
            f"({', '.join(builtin)}), a saved one, nor a file"
        )
    return path


def load_profile(name_or_path: str | Path = "invoca") -> Profile:
    """A built-in profile by name, a saved one by name (see `save_profile`), or a TOML file."""
    data = read_toml(_profile_file(name_or_path), f"profile {name_or_path}")
    return profile_from_dict(data, str(name_or_path))


def _flag(value: object, key: str, source: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"profile {source}: {key} must be true or false")
    return value


def _country(value: object, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2}", value):
        raise ConfigError(f"profile {source}: country must be a two-letter region code such as GB")
    return value.upper()


def profile_from_dict(data: dict, source: str) -> Profile:
    unknown = set(data) - PROFILE_KEYS
    if unknown:
        raise ConfigError(f"profile {source}: unknown key(s) {', '.join(sorted(unknown))}")
    known_fields = set(CALL_FIELDS) | set(PSEUDO_FIELDS)
    columns = data.get("columns", {})
    for key in ("columns", "values", "constants", "signals", "custom"):
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(f"profile {source}: [{key}] must be a table")
    for field_name, names in columns.items():
        if field_name not in known_fields:
            raise ConfigError(f"profile {source}: [columns] {field_name} is not a call field")
        if isinstance(names, str):
            columns[field_name] = [names]
        elif not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise ConfigError(
                f"profile {source}: [columns] {field_name} must be a header or a list of them"
            )
    for field_name in list(data.get("values", {})) + list(data.get("constants", {})):
        if field_name not in known_fields:
            raise ConfigError(f"profile {source}: {field_name} is not a call field")
    skips = [_skip_rule(rule, source) for rule in data.get("skip", [])]
    for key in ("zones", "extract", "legs"):
        if not isinstance(data.get(key, {}), dict):
            raise ConfigError(f"profile {source}: [{key}] must be a table")
    for header, zone in data.get("zones", {}).items():
        _zone(zone, f"profile {source}: [zones] {header}")
    for field_name, pattern in data.get("extract", {}).items():
        if field_name not in known_fields:
            raise ConfigError(f"profile {source}: [extract] {field_name} is not a call field")
        _pattern(pattern, f"profile {source}: [extract] {field_name}", groups=1)
    legs = data.get("legs", {})
    if set(legs) - {"parent", "same_id"}:
        raise ConfigError(f"profile {source}: [legs] takes parent and same_id")
    return Profile(
        name=str(data.get("name", Path(source).stem)),
        description=str(data.get("description", "")),
        columns={name: list(names) for name, names in columns.items()},
        values={
            k: {str(a): str(b) for a, b in v.items()} for k, v in data.get("values", {}).items()
        },
        constants={k: str(v) for k, v in data.get("constants", {}).items()},
        timezone=data.get("timezone"),
        dayfirst=_flag(data.get("dayfirst", False), "dayfirst", source),
        country=_country(data.get("country"), source),
        recording_url_template=data.get("recording_url_template"),
        skip=skips,
        signals={str(k): str(v) for k, v in data.get("signals", {}).items()},
        custom={str(k): str(v) for k, v in data.get("custom", {}).items()},
        zones={str(k): str(v) for k, v in data.get("zones", {}).items()},
        extract={str(k): str(v) for k, v in data.get("extract", {}).items()},
        legs=Legs(
            parent=str(legs["parent"]) if "parent" in legs else None,
            same_id=_flag(legs.get("same_id", False), "[legs] same_id", source),
        ),
        skip_unrecorded=_reason(data, "skip_unrecorded", source),
        skip_withheld=_reason(data, "skip_withheld", source),
    )


def _reason(data: dict, key: str, source: str) -> str | None:
    value = data.get(key)
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise ConfigError(f"profile {source}: {key} is the reason shown for the rows it skips")
    return value


CONDITION_KEYS = {"column", "values", "blank", "pattern"}


def _skip_rule(rule: object, source: str) -> SkipRule:
    """`[[skip]]`: a reason and either one condition (column with values, blank or pattern) or
    `when = [{...}, {...}]`, conditions that must all hold."""
    where = f"profile {source}: [[skip]]"
    if not isinstance(rule, dict) or "reason" not in rule:
        raise ConfigError(f"{where} needs a reason and a condition")
    when = rule.get("when", [{k: v for k, v in rule.items() if k in CONDITION_KEYS}])
    if set(rule) - CONDITION_KEYS - {"reason", "when"} or not isinstance(when, list) or not when:
        raise ConfigError(f"{where} takes reason with column and values, blank or pattern, or when")
    return SkipRule(tuple(_condition(c, where) for c in when), str(rule["reason"]))


def _condition(condition: object, where: str) -> Condition:
    if (
        not isinstance(condition, dict)
        or set(condition) - CONDITION_KEYS
        or "column" not in condition
    ):
        raise ConfigError(f"{where}: a condition is a column with values, blank or pattern")
    tests = [key for key in ("values", "blank", "pattern") if key in condition]
    if condition.get("blank", True) is not True:
        raise ConfigError(f"{where}: blank takes only true")
    if len(tests) != 1:
        raise ConfigError(
            f"{where}: column {condition['column']!r} needs one of values, blank or pattern"
        )
    values = condition.get("values", [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where}: values must be a list of text")
    pattern = condition.get("pattern")
    if pattern is not None:
        _pattern(pattern, where, groups=0)
    return Condition(
        column=str(condition["column"]),
        values=frozenset(v.lower() for v in values),
        blank=condition.get("blank") is True,
        pattern=pattern,
    )


def _pattern(pattern: object, where: str, *, groups: int) -> None:
    if not isinstance(pattern, str):
        raise ConfigError(f"{where}: the pattern must be text")
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ConfigError(f"{where}: {pattern!r} is not a regular expression ({error})") from error
    if groups and compiled.groups != groups:
        raise ConfigError(f"{where}: {pattern!r} must have exactly one (group): the value")


def _zone(zone: object, where: str) -> None:
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(f"{where}: {zone!r} is not a time zone name such as UTC") from error
