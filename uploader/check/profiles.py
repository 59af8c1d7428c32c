"""The profile language: how a file's headers map onto the API's call fields.

A profile is a TOML file (built-in ones live in `schemas/`). Here it is parsed and checked
(`load_profile`, `profile_from_dict`), suggested for a file's headers and saved from a mapping;
`plan.plan_columns(profile, headers)` applies it to one file.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from uploader.check.fields import CALL_FIELDS
from uploader.errors import ConfigError
from uploader.read.arrowtext import check_pattern, fullmatches
from uploader.settings import read_toml
from uploader.textsafe import printable

# Columns a profile may name besides the call fields: the originating and receiving numbers (swapped
# on outbound calls so that calling_phone_number is always the customer), a recording that is a
# URL or a storage key depending on its value, and each row's time zone.
PSEUDO_FIELDS = ("from_number", "to_number", "recording", "timezone")
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
    "templates",
    "header_row",
    "recording_by_id",
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
            return pd.Series(fullmatches(values, self.pattern, ignore_case=True), values.index)
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
    templates: dict[str, str] = field(default_factory=dict)  # field -> "{Column}-{Other}"
    header_row: int | None = None
    recording_by_id: bool = False  # Invoca finds the recordings by call id (direct access)
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
        """Whether a row is this profile's header: it has the id and start columns (or, for a
        field the profile builds from a template, the columns the template names)."""
        keys = {header_key(header) for header in headers}

        def found(field_name: str) -> bool:
            if field_name in self.templates:
                named = [n for _, n, _, _ in string.Formatter().parse(self.templates[field_name])]
                return all(header_key(name) in keys for name in named if name)
            aliases = self.columns.get(field_name, [field_name])
            return any(header_key(name) in keys for name in aliases)

        return found("external_call_unique_id") and found("start_time")


# ---------------------------------------------------------------- choosing and saving


def suggest_profile(headers: list[str]) -> str | None:
    """The profile (built-in or saved) the file's headers are evidence for (see `suggestion`)."""
    found = suggestion(headers)
    return found[0] if found else None


# The columns a profile must find in a file before it is suggested for it: every field it names
# for the call's id, start, the two numbers (or from/to) and the direction. A vendor's export has
# them all; another vendor's (or a CRM's) that shares an "id" and a "start_time" does not.
EVIDENCE_FIELDS = (
    "external_call_unique_id",
    "start_time",
    "calling_phone_number",
    "destination_phone_number",
    "from_number",
    "to_number",
    "call_direction",
)


def suggestion(headers: list[str]) -> tuple[str, list[str]] | None:
    """The profile whose required columns are all in the headers, the one that finds most of its
    columns, with the headers that are the evidence (for "has From, To, Direction, StartTime")."""
    best: tuple[str, list[str]] | None = None
    best_score = 0
    for name in [*builtin_profiles(), *saved_profiles()]:
        try:
            profile = load_profile(name)
        except ConfigError:
            continue  # a broken saved profile is reported when it is chosen
        matched = field_matches(profile, headers)
        required = [f for f in EVIDENCE_FIELDS if f in profile.columns]
        if not profile.is_header(headers) or any(matched[f] is None for f in required):
            continue
        evidence = [header for header in matched.values() if header is not None]
        if len(evidence) > best_score:
            best, best_score = (name, evidence), len(evidence)
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


MAX_PATTERN = 1000  # characters of a profile's pattern
PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


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


def profile_file(name_or_path: str | Path) -> Traversable | Path:
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


def profile_text(name_or_path: str | Path) -> str:
    """A profile's TOML as written (built-in, saved or a file), checked to load."""
    load_profile(name_or_path)
    return profile_file(name_or_path).read_text(encoding="utf-8")


def load_profile(name_or_path: str | Path = "invoca") -> Profile:
    """A built-in profile by name, a saved one by name (see `save_profile`), or a TOML file."""
    data = read_toml(profile_file(name_or_path), f"profile {name_or_path}")
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
    templates = data.get("templates", {})
    if not isinstance(templates, dict):
        raise ConfigError(f"profile {source}: [templates] must be a table")
    for field_name, template in templates.items():
        if field_name not in CALL_FIELDS:
            raise ConfigError(f"profile {source}: [templates] {field_name} is not a call field")
        if not isinstance(template, str) or "{" not in template:
            raise ConfigError(
                f"profile {source}: [templates] {field_name} must be text naming columns in "
                'braces, such as "{DID}-{Start Time}"'
            )
        try:
            list(string.Formatter().parse(template))
        except ValueError as error:
            raise ConfigError(f"profile {source}: [templates] {field_name}: {error}") from None
    header_row = data.get("header_row")
    if header_row is not None and (
        not isinstance(header_row, int) or isinstance(header_row, bool) or header_row < 1
    ):
        raise ConfigError(f"profile {source}: header_row must be a row number (1 = the first)")
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
        templates={str(k): str(v) for k, v in templates.items()},
        header_row=header_row,
        recording_by_id=_flag(data.get("recording_by_id", False), "recording_by_id", source),
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
    """A profile's pattern runs in RE2 (linear time: a profile from elsewhere cannot stall a run);
    one RE2 cannot run is refused here, naming the file and key."""
    if not isinstance(pattern, str):
        raise ConfigError(f"{where}: the pattern must be text")
    if len(pattern) > MAX_PATTERN:
        raise ConfigError(f"{where}: the pattern is longer than {MAX_PATTERN} characters")
    try:
        check_pattern(pattern)
        compiled = re.compile(pattern)
    except (ValueError, re.error) as error:
        raise ConfigError(
            f"{where}: {printable(pattern, 80)!r} is not a pattern this tool runs ({error}); "
            "patterns are RE2: no lookarounds or backreferences"
        ) from None
    if groups and compiled.groups != groups:
        raise ConfigError(f"{where}: {pattern!r} must have exactly one (group): the value")


def _zone(zone: object, where: str) -> None:
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(f"{where}: {zone!r} is not a time zone name such as UTC") from error
