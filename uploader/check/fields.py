"""The API's call fields, once (spec/invoca-call-ingestion.md): what each one requires, the values
it takes, how it is checked, and what the template tells an analyst about it. The pandera schema,
the request bodies, the template and the profiles' completeness check are all built from here:
adding a field is one entry below (and its tests)."""

from __future__ import annotations

from dataclasses import dataclass

from uploader.check.normalize import LANGUAGE_CODES, LOST_DIGITS, SCIENTIFIC

MAX_TEXT = 255
E164 = r"^\+[1-9]\d{6,14}$"
# The two forms a start time is sent in (see normalize.py): an exact instant with its offset, or
# the API's own zone-less form, read in the network's zone.
SENT_TIME = (
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?[+-]\d{2}:\d{2}$"
    r"|^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{3})? [AP]M$"
)
TEXT = "@"  # the template's text cells (an id or a phone number must not become a number)
DATETIME = "yyyy-mm-dd hh:mm:ss"
RECORDING_PAIR = ("recording_url", "recording_filename")


@dataclass(frozen=True)
class Rule:
    """A value must (or, with `refuse`, must not) match `pattern`; else `message`."""

    pattern: str
    message: str
    refuse: bool = False


@dataclass(frozen=True)
class CallField:
    name: str
    help: str  # the template's header comment and Instructions line
    required: bool = False
    fallback: str = ""  # the option that can stand in for the column (--campaign-id)
    one_of: tuple[str, ...] = ()  # a group of which each row needs one field
    choices: tuple[str, ...] = ()  # the values the API takes (the template's drop-down)
    rules: tuple[Rule, ...] = ()
    max_length: int | None = MAX_TEXT
    example: str = ""
    cell: str = TEXT  # the template's number format
    width: int = 18

    @property
    def missing(self) -> str:
        """How a file without the column is told (the one-of group for the pair)."""
        name = " or ".join(self.one_of) if self.one_of else self.name
        return f"{name} (or {self.fallback})" if self.fallback else name


FIELDS = (
    CallField(
        "external_call_unique_id",
        "The call's id in your own system. Unique: a repeated id is refused.",
        required=True,
        rules=(Rule(SCIENTIFIC, LOST_DIGITS, refuse=True),),
        example="CALL-000123",
        width=26,
    ),
    CallField(
        "start_time",
        "When the call started. A date cell, or text like 2024-03-05 14:03:27 "
        "(add an offset such as -05:00, or use --timezone).",
        required=True,
        rules=(Rule(SENT_TIME, "is not a date and time this tool can read"),),
        max_length=None,
        example="2024-03-05 14:03:27",
        cell=DATETIME,
        width=21,
    ),
    CallField(
        "calling_phone_number",
        "The customer's number, whatever the direction: "
        "(312) 555-0143, 3125550143 or +13125550143.",
        required=True,
        rules=(Rule(E164, "is not a phone number"),),
        max_length=None,
        example="(312) 555-0143",
        width=21,
    ),
    CallField(
        "destination_phone_number",
        "Your business or agent number, whatever the direction.",
        required=True,
        rules=(Rule(E164, "is not a phone number"),),
        max_length=None,
        example="888-555-1212",
        width=24,
    ),
    CallField(
        "call_direction",
        "inbound or outbound.",
        required=True,
        choices=("inbound", "outbound"),
        max_length=None,
        example="inbound",
        width=15,
    ),
    CallField(
        "advertiser_campaign_id_from_network",
        "Your network's id of the ExternalOnly campaign. Leave blank to use --campaign-id.",
        required=True,
        fallback="--campaign-id",
        example="85",
        width=22,
    ),
    CallField(
        "recording_url",
        "A URL Invoca can download (public, or presigned for more than 24 h).",
        one_of=RECORDING_PAIR,
        fallback="--recording-url-template, or --recording-by-id with direct access",
        # An S3 location (its key may hold spaces) passes here only under --presign-recordings:
        # without it, presign.recording_locations refuses it, saying so.
        rules=(
            Rule(r"^(?:https?://[^\s\v\pZ]+|s3://[^\x00-\x1f\x7f]+)$", "is not an http(s) URL"),
        ),
        max_length=4096,
        example="https://rec.example.com/000123.wav",
        width=40,
    ),
    CallField(
        "recording_filename",
        "A path in your configured S3/Azure/SFTP store, instead of a URL.",
        one_of=RECORDING_PAIR,
        fallback="--recording-url-template, or --recording-by-id with direct access",
        max_length=1024,
        width=24,
    ),
    CallField(
        "language_code",
        "Optional: " + ", ".join(LANGUAGE_CODES) + ".",
        choices=LANGUAGE_CODES,
        max_length=None,
        width=14,
    ),
    CallField(
        "recording_auth_config_id",
        "Optional: the id of a recording-auth configuration Invoca support set up for your "
        "recording store.",
    ),
)

CALL_FIELDS = tuple(field.name for field in FIELDS)
BY_NAME = {field.name: field for field in FIELDS}
PHONE_FIELDS = ("calling_phone_number", "destination_phone_number")
