"""The sandbox's reading of a request body, written from the API notes alone.

It does not share code with the uploader's normalisers on purpose: the sandbox exists to catch the
uploader sending something the API would refuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

REQUIRED = (
    "external_call_unique_id",
    "start_time",
    "destination_phone_number",
    "calling_phone_number",
    "advertiser_campaign_id_from_network",
    "call_direction",
)
OPTIONAL = (
    "recording_url",
    "recording_filename",
    "recording_filepath",
    "language_code",
    "recording_auth_config_id",
)
LANGUAGES = ("en-US", "en-GB", "es-ES", "fr-FR")
TOP_LEVEL = ("call", "signals", "custom_data", "oauth_token")
SUPPORTED_COUNTRY = re.compile(r"^\+(?:1[2-9]\d{2}[2-9]\d{6}|44\d{9,10}|34\d{9})$")
BARE_NANP = re.compile(r"^1?[2-9]\d{2}[2-9]\d{6}$")
SIGNAL_TRUE = {"true", "1", "yes"}
SIGNAL_FALSE = {"false", "0", "no"}

_CLOCK = r"(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})(?:\.(?P<ms>\d{1,3}))?"
TIME_FORMS = (
    re.compile(
        r"^(?P<y>\d{4})[/-](?P<mo>\d{2})[/-](?P<d>\d{2})T" + _CLOCK + r"(?P<tz>Z|[+-]\d{2}:?\d{2})$"
    ),
    re.compile(r"^(?P<y>\d{4})[/-](?P<mo>\d{2})[/-](?P<d>\d{2}) " + _CLOCK + r" (?P<ampm>AM|PM)$"),
    re.compile(
        r"^(?P<y>\d{4})[/-](?P<mo>\d{2})[/-](?P<d>\d{2}) " + _CLOCK + r" (?P<tz>[+-]\d{4})$"
    ),
    re.compile(r"^(?P<y>\d{4})[/-](?P<mo>\d{2})[/-](?P<d>\d{2}) " + _CLOCK + r"$"),
)


@dataclass
class Problems:
    invalid: list[str] = field(default_factory=list)
    unauthorized_advertiser: bool = False

    def add(self, message: str) -> None:
        self.invalid.append(message)


def check_body(
    body: Any,
    *,
    campaigns: set[str],
    signals: set[str],
    custom: set[str],
    direct_access: bool = False,
) -> Problems:
    """Every problem of the request, in the order the fields are listed in the API notes."""
    problems = Problems()
    if not isinstance(body, dict):
        problems.add("body must be a JSON object")
        return problems
    for key in body:
        if key not in TOP_LEVEL:
            problems.add(f"{key} is not a known field")
    call = body.get("call")
    if not isinstance(call, dict):
        problems.add("call must be an object")
    else:
        _check_call(call, campaigns, problems, direct_access)
    _check_list(body.get("signals"), "signals", signals, problems, value_required=False)
    _check_list(body.get("custom_data"), "custom_data", custom, problems, value_required=True)
    return problems


def _check_call(
    call: dict, campaigns: set[str], problems: Problems, direct_access: bool = False
) -> None:
    for key in call:
        if key not in REQUIRED + OPTIONAL:
            problems.add(f"call.{key} is not a known field")
    for key in REQUIRED:
        if call.get(key) in (None, ""):
            problems.add(f"call.{key} can't be blank")
    identifier = call.get("external_call_unique_id")
    if identifier not in (None, "") and not _scalar(identifier):
        problems.add("call.external_call_unique_id must be a string")
    for key in ("calling_phone_number", "destination_phone_number"):
        value = call.get(key)
        if value not in (None, "") and not _phone(value):
            problems.add(f"call.{key} is not a supported phone number")
    start = call.get("start_time")
    if start not in (None, "") and parse_start_time(start) is None:
        problems.add("call.start_time is not a supported time format")
    direction = call.get("call_direction")
    if direction not in (None, "") and direction not in ("inbound", "outbound"):
        problems.add("call.call_direction must be inbound or outbound")
    url = call.get("recording_url")
    filename = call.get("recording_filename") or call.get("recording_filepath")
    # With direct access to the network's store the filename may be left out when it equals the
    # call's id (spec/invoca-call-ingestion.md): the network's configuration, a sandbox switch.
    if url in (None, "") and filename in (None, "") and not direct_access:
        problems.add("call.recording_url or call.recording_filename must be present")
    if url not in (None, "") and not (isinstance(url, str) and re.match(r"^https?://\S+$", url)):
        problems.add("call.recording_url is not a URL")
    if filename not in (None, "") and not isinstance(filename, str):
        problems.add("call.recording_filename must be a string")
    language = call.get("language_code")
    if language is not None and language not in LANGUAGES:
        problems.add("call.language_code is not supported")
    campaign = call.get("advertiser_campaign_id_from_network")
    if campaign not in (None, ""):
        if not _scalar(campaign):
            problems.add("call.advertiser_campaign_id_from_network must be a string")
        elif str(campaign) not in campaigns:
            problems.unauthorized_advertiser = True


def _check_list(
    items: Any, name: str, known: set[str], problems: Problems, *, value_required: bool
) -> None:
    if items is None:
        return
    if not isinstance(items, list):
        problems.add(f"{name} must be a list")
        return
    seen: set[str] = set()
    for position, item in enumerate(items):
        where = f"{name}[{position}]"
        if not isinstance(item, dict):
            problems.add(f"{where} must be an object")
            continue
        for key in item:
            if key not in ("name", "value"):
                problems.add(f"{where}.{key} is not a known field")
        item_name = item.get("name")
        if not isinstance(item_name, str) or not item_name:
            problems.add(f"{where}.name can't be blank")
            continue
        if known and item_name.lower() not in known:
            problems.add(f"{where}.name {item_name} is not configured for this network")
        if item_name.lower() in seen:
            problems.add(f"{where}.name {item_name} is given twice")
        seen.add(item_name.lower())
        if "value" not in item:
            if value_required:
                problems.add(f"{where}.value can't be blank")
            continue
        value = item["value"]
        if name == "signals" and not _signal_value(value):
            problems.add(f"{where}.value must be true or false")
        if name == "custom_data" and (value in (None, "") or not _scalar(value)):
            problems.add(f"{where}.value can't be blank")


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int) and not isinstance(value, bool)


def _phone(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return False
    text = str(value)
    return bool(SUPPORTED_COUNTRY.match(text) or BARE_NANP.match(text))


def _signal_value(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return value in (0, 1)
    return isinstance(value, str) and value.lower() in SIGNAL_TRUE | SIGNAL_FALSE


def parse_start_time(value: Any) -> datetime | None:
    """The wall-clock instant a documented start_time form names (zone ignored), or None."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value)
    try:
        if re.fullmatch(r"\d{10}", text):
            return datetime.utcfromtimestamp(int(text))  # noqa: DTZ004
        if re.fullmatch(r"\d{13}", text):
            return datetime.utcfromtimestamp(int(text) / 1000)  # noqa: DTZ004
        if re.fullmatch(r"\d{17}", text):
            return datetime.strptime(text, "%Y%m%d%H%M%S%f")
        for form in TIME_FORMS:
            match = form.match(text)
            if match:
                return _wall_clock(match.groupdict())
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _wall_clock(parts: dict[str, str | None]) -> datetime | None:
    hour = int(parts["h"] or 0)
    ampm = parts.get("ampm")
    if ampm == "PM" and hour < 12:
        hour += 12
    elif ampm == "AM" and hour == 12:
        hour = 0
    millis = int((parts.get("ms") or "0").ljust(3, "0"))
    return datetime(
        int(parts["y"] or 0),
        int(parts["mo"] or 0),
        int(parts["d"] or 0),
        hour,
        int(parts["mi"] or 0),
        int(parts["s"] or 0),
        millis * 1000,
    )
