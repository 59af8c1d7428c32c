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

import pandas as pd

from uploader.errors import ConfigError, InputError
from uploader.normalize import clean_text

CALL_FIELDS = (
    "external_call_unique_id",
    "start_time",
    "calling_phone_number",
    "destination_phone_number",
    "advertiser_campaign_id_from_network",
    "call_direction",
    "recording_url",
    "recording_filename",
    "language_code",
    "recording_auth_config_id",
)
# Columns a profile may name besides the call fields: the originating and receiving numbers (swapped
# on outbound calls so that calling_phone_number is always the customer) and a recording that is a
# URL or a storage key depending on its value.
PSEUDO_FIELDS = ("from_number", "to_number", "recording")
SIGNAL_PREFIXES = ("signal:", "signal.", "signals:", "signals.")
CUSTOM_PREFIXES = ("custom:", "custom.", "custom_data:", "custom_data.")
PROFILE_KEYS = {
    "name", "description", "columns", "values", "constants", "timezone", "dayfirst", "country",
    "recording_url_template", "skip", "signals", "custom",
}  # fmt: skip


def header_key(name: str) -> str:
    """Headers match ignoring case, spaces, dots, underscores and hyphens."""
    return re.sub(r"[\s._\-]+", "", name.lstrip("\ufeff")).lower()


@dataclass(frozen=True)
class SkipRule:
    column: str
    values: frozenset[str]
    reason: str


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
        fields: dict[str, str] = {}
        for field_name, alternatives in self.columns.items():
            found = next((by_key[k] for k in map(header_key, alternatives) if k in by_key), None)
            if found is not None:
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
        plan.check_complete(headers, source)
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
                    f"{source}: columns {seen[(kind, name.lower())]!r} and {header!r} name the same {kind}"
                )
            seen[(kind, name.lower())] = header
            target[name] = column
    return signals, custom


@dataclass
class ColumnPlan:
    """A profile resolved against one file's header."""

    profile: Profile
    fields: dict[str, str]
    signals: dict[str, str]
    custom: dict[str, str]
    constants: dict[str, str]
    template: str | None
    by_key: dict[str, str]

    def provides(self, field_name: str) -> bool:
        return field_name in self.fields or field_name in self.constants

    def check_complete(self, headers: list[str], source: str) -> None:
        needs = {
            "external_call_unique_id": self.provides("external_call_unique_id"),
            "start_time": self.provides("start_time"),
            "call_direction": self.provides("call_direction"),
            "calling_phone_number": self.provides("calling_phone_number")
            or self.provides("from_number"),
            "destination_phone_number": self.provides("destination_phone_number")
            or self.provides("to_number"),
            "advertiser_campaign_id_from_network (or --campaign-id)": self.provides(
                "advertiser_campaign_id_from_network"
            ),
            "recording_url or recording_filename (or --recording-url-template)": bool(self.template)
            or any(
                self.provides(name) for name in ("recording_url", "recording_filename", "recording")
            ),
        }
        missing = [name for name, ok in needs.items() if not ok]
        if missing:
            raise InputError(
                f"{source}: missing column {'; '.join(_with_hint(m, self.profile, headers) for m in missing)}"
            )
        for placeholder in self.placeholders():
            if header_key(placeholder) not in self.by_key:
                raise ConfigError(
                    f"recording URL template uses {{{placeholder}}} but {source} has no such column"
                )

    def placeholders(self) -> list[str]:
        if not self.template:
            return []
        try:
            return [name for _, name, _, _ in string.Formatter().parse(self.template) if name]
        except ValueError as error:
            raise ConfigError(f"recording URL template {self.template!r}: {error}") from error

    def canonical(self, chunk: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        """The chunk in canonical columns (trimmed text, NA for blank) and the profile's skip reasons."""
        out = pd.DataFrame(index=chunk.index)
        for field_name, column in self.fields.items():
            out[field_name] = clean_text(chunk[column])
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
        self._numbers(out)
        self._recording(out, chunk)
        for name, column in self.signals.items():
            out[f"signal:{name}"] = clean_text(chunk[column])
        for name, column in self.custom.items():
            out[f"custom:{name}"] = clean_text(chunk[column])
        for field_name in CALL_FIELDS:
            if field_name not in out:
                out[field_name] = pd.Series(pd.NA, index=chunk.index, dtype="string")
        return out, self._skips(chunk)

    def _numbers(self, out: pd.DataFrame) -> None:
        if "from_number" not in out and "to_number" not in out:
            return
        origin = out.pop("from_number") if "from_number" in out else pd.NA
        target = out.pop("to_number") if "to_number" in out else pd.NA
        outbound = out["call_direction"].str.lower().eq("outbound").fillna(False)
        if "calling_phone_number" not in out:
            out["calling_phone_number"] = pd.Series(origin, index=out.index).where(
                ~outbound, target
            )
        if "destination_phone_number" not in out:
            out["destination_phone_number"] = pd.Series(target, index=out.index).where(
                ~outbound, origin
            )

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
                out.loc[blank, "recording_url"] = self._fill_template(chunk[blank])

    def _fill_template(self, rows: pd.DataFrame) -> pd.Series:
        assert self.template is not None
        url = pd.Series("", index=rows.index, dtype="string")
        for literal, name, _, _ in string.Formatter().parse(self.template):
            url = url + literal
            if name:
                values = clean_text(rows[self.by_key[header_key(name)]])
                url = url + values.map(lambda v: quote(str(v), safe=""), na_action="ignore")
        return url

    def _skips(self, chunk: pd.DataFrame) -> pd.Series:
        reasons = pd.Series(pd.NA, index=chunk.index, dtype="object")
        for rule in self.profile.skip:
            column = self.by_key.get(header_key(rule.column))
            if column is None:
                continue
            values = clean_text(chunk[column])
            hit = (
                values.notna()
                if "*" in rule.values
                else values.str.lower().isin(rule.values).fillna(False)
            )
            reasons = reasons.where(~(hit & reasons.isna()), rule.reason)
        return reasons


def _with_hint(missing: str, profile: Profile, headers: list[str]) -> str:
    alternatives = profile.columns.get(missing.split(" ")[0], [missing.split(" ")[0]])
    keyed = {header_key(header): header for header in headers if header}
    for alternative in alternatives:
        close = difflib.get_close_matches(header_key(alternative), list(keyed), n=1, cutoff=0.7)
        if close:
            return f"{missing} (closest header found: {keyed[close[0]]!r})"
    return missing


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


def load_profile(name_or_path: str | Path = "invoca") -> Profile:
    """A built-in profile by name, or a user's TOML file by path."""
    builtin = builtin_profiles()
    path: Traversable | Path = builtin.get(str(name_or_path)) or Path(name_or_path)
    if not path.is_file():
        raise ConfigError(
            f"profile {str(name_or_path)!r} is neither a built-in profile ({', '.join(builtin)}) nor a file"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"profile {name_or_path}: cannot be read ({error.strerror})") from error
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"profile {name_or_path}: not valid TOML ({error})") from error
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
    skips = []
    for rule in data.get("skip", []):
        if not isinstance(rule, dict) or {"column", "values", "reason"} - set(rule):
            raise ConfigError(f"profile {source}: each [[skip]] needs column, values and reason")
        skips.append(
            SkipRule(rule["column"], frozenset(v.lower() for v in rule["values"]), rule["reason"])
        )
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
    )
