"""From a valid, normalised row to the request body of the Call Ingestion API. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

CALL_KEYS = (
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
MAX_SIGNALS = 10


def request_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """The API's body for one row: blank fields left out, signals as booleans, no token."""
    call = {key: str(row[key]) for key in CALL_KEYS if _present(row.get(key))}
    body: dict[str, Any] = {"call": call}
    signals = [
        {"name": key[len("signal:") :], "value": bool(value)}
        for key, value in row.items()
        if key.startswith("signal:") and _present(value)
    ]
    custom = [
        {"name": key[len("custom:") :], "value": str(value)}
        for key, value in row.items()
        if key.startswith("custom:") and _present(value)
    ]
    if signals:
        body["signals"] = signals
    if custom:
        body["custom_data"] = custom
    return body


def _present(value: Any) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and pd.isna(value))
        and value is not pd.NA
    )


@dataclass(frozen=True)
class CallRequest:
    """One row ready to send: its row number, id, encoded body and the body's fingerprint."""

    row: int
    external_call_unique_id: str
    payload: bytes
    payload_hash: str


def encode(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode(
        "utf-8"
    )


def call_requests(rows: pd.DataFrame) -> Iterator[CallRequest]:
    """Requests for a chunk of valid rows, in row order."""
    columns = {
        name: rows[name].astype(object).where(rows[name].notna(), None).tolist()
        for name in rows.columns
    }
    records = (
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    )
    for row_number, record in zip(rows.index.tolist(), records, strict=True):
        payload = encode(request_body(record))
        yield CallRequest(
            row=int(row_number),
            external_call_unique_id=str(record["external_call_unique_id"]),
            payload=payload,
            payload_hash=hashlib.sha256(payload).hexdigest(),
        )
