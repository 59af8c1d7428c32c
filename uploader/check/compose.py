"""A profile composed from a mapping: what the web page's "Map columns..." builds, written as the
same TOML the command line reads (docs/profiles.md), and checked to load before it is kept.

A mapping is a dict of the profile language's parts: `columns` (field -> header), `values`
(field -> {cell -> value}), `templates`, `signals`, `custom`, `constants`, `timezone`, `skip`
(rules of column, values and reason), and `base`, a profile whose rules it starts from (none:
it starts from nothing)."""

from __future__ import annotations

import tomllib
from typing import Any

from uploader.check.fields import CALL_FIELDS
from uploader.check.profiles import (
    PROFILE_NAME,
    PSEUDO_FIELDS,
    builtin_profiles,
    profile_file,
    profile_from_dict,
)
from uploader.errors import ConfigError

SIDES = {  # a mapping names one pair of number columns; the other pair of the base is dropped
    "from_number": ("calling_phone_number", "destination_phone_number"),
    "to_number": ("calling_phone_number", "destination_phone_number"),
    "calling_phone_number": ("from_number", "to_number"),
    "destination_phone_number": ("from_number", "to_number"),
}


def compose_profile(name: str, mapping: dict[str, Any]) -> str:
    """The TOML of the profile `name`: `mapping`'s parts over its base's (each mapped field reads
    the chosen header first, the base's other names after it), checked to load."""
    import tomlkit

    if not PROFILE_NAME.fullmatch(name) or name in builtin_profiles():
        raise ConfigError(
            f"profile name {name!r}: use letters, digits, - and _ (not a built-in profile's name)"
        )
    base = str(mapping.get("base") or "")
    document = _base_document(base) if base else tomlkit.document()
    document["name"] = name
    document["description"] = (
        f"{base}, with columns mapped on the web page" if base else "mapped on the web page"
    )
    columns = document.setdefault("columns", tomlkit.table())
    chosen = {f: h for f, h in _table(mapping, "columns").items() if str(h).strip()}
    for field_name, header in chosen.items():
        if field_name not in CALL_FIELDS and field_name not in PSEUDO_FIELDS:
            raise ConfigError(f"{field_name} is not a call field")
        known = columns.get(field_name, [])
        known = [known] if isinstance(known, str) else list(known)  # a string is one header
        columns[field_name] = [str(header), *(alias for alias in known if alias != header)]
    for field_name in chosen:
        for other in SIDES.get(field_name, ()):
            if other not in chosen and other in columns:
                del columns[other]  # one way of naming the two numbers, never both
    for field_name, pairs in _table(mapping, "values").items():
        if not isinstance(pairs, dict):
            raise ConfigError(f"values.{field_name}: a table of cells and values")
        values = document.setdefault("values", tomlkit.table(is_super_table=True))
        table = values.setdefault(field_name, tomlkit.table())
        for cell, value in pairs.items():  # the page's choices over the base's
            table[str(cell)] = str(value)
    for key in ("templates", "signals", "custom", "constants"):
        parts = {k: str(v) for k, v in _table(mapping, key).items() if str(v).strip()}
        if parts:
            table = document.setdefault(key, tomlkit.table())
            for part, value in parts.items():
                table[part] = value
    if str(mapping.get("timezone") or "").strip():
        document["timezone"] = str(mapping["timezone"]).strip()
    rules = mapping.get("skip") or []
    if not isinstance(rules, list):
        raise ConfigError("skip: a list of rules")
    if rules:
        skips = document.setdefault("skip", tomlkit.aot())
        for rule in rules:
            if not isinstance(rule, dict):
                raise ConfigError("skip: each rule has a column, values and a reason")
            skips.append(
                {
                    "column": str(rule.get("column", "")),
                    "values": [str(v) for v in rule.get("values", [])],
                    "reason": str(rule.get("reason") or "left out ({value})"),
                }
            )
    text = tomlkit.dumps(document)
    profile_from_dict(tomllib.loads(text), name)  # what is saved must load
    return text


def mapped_profile(name: str, base: str, columns: dict[str, str]) -> str:
    """A copy of the profile `base` whose fields read the given headers first."""
    return compose_profile(name, {"base": base, "columns": columns})


def _base_document(base: str):  # type: ignore[no-untyped-def]
    import tomlkit

    try:
        return tomlkit.parse(profile_file(base).read_text(encoding="utf-8"))
    except (tomlkit.exceptions.ParseError, UnicodeDecodeError, OSError) as error:
        raise ConfigError(f"profile {base}: cannot be read as TOML ({error})") from None


def _table(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    part = mapping.get(key) or {}
    if not isinstance(part, dict):
        raise ConfigError(f"{key}: a table of names and values")
    return part
