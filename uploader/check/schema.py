"""The canonical call row: normalise each field, then validate the whole chunk with one pandera
schema.

Normalisers (uploader.check.normalize) turn readable values into the API's forms and leave
unreadable ones as they were, so the schema's format checks catch them; the normaliser's reason,
when it has one, becomes the message, otherwise the failing check's own wording does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from uploader.check.fields import FIELDS, MAX_TEXT, PHONE_FIELDS, CallField
from uploader.check.mapping import NOTE
from uploader.check.normalize import (
    ID_CLEANED,
    NOT_YES_OR_NO,
    Normalized,
    normalize_booleans,
    normalize_choice,
    normalize_ids,
    normalize_phones,
)
from uploader.check.presign import recording_locations
from uploader.check.recordings import recording_expiry
from uploader.check.times import START_TIME_ZONE, TimeOptions, normalize_start_times
from uploader.errors import RowError
from uploader.read.arrowtext import lengths, matches, one_of


def _text(*checks: pa.Check, required: bool = False) -> pa.Column:
    return pa.Column(None, checks=list(checks), nullable=not required, required=False)


def _matches(pattern: str, error: str) -> pa.Check:
    return pa.Check(lambda s: pd.Series(matches(s, pattern), index=s.index), error=error)


def _not_matching(pattern: str, error: str) -> pa.Check:
    return pa.Check(lambda s: pd.Series(~matches(s, pattern), index=s.index), error=error)


def _at_most(length: int) -> pa.Check:
    return pa.Check(
        lambda s: pd.Series(lengths(s) <= length, index=s.index),
        error=f"is longer than {length} characters",
    )


def _one_of(choices: tuple[str, ...], error: str) -> pa.Check:
    return pa.Check(lambda s: pd.Series(one_of(s, choices), index=s.index), error=error)


def _yes_or_no(error: str) -> pa.Check:
    return pa.Check(lambda s: s.astype(object).isin((True, False)), error=error)


CROSS_FIELD = "needs recording_url or recording_filename"


def choice_message(choices: tuple[str, ...]) -> str:
    """`must be inbound or outbound`; `must be one of en-US, en-GB, ...`."""
    if len(choices) == 2:
        return f"must be {choices[0]} or {choices[1]}"
    return "must be one of " + ", ".join(choices)


def _column(field: CallField) -> pa.Column:
    """A call field's checks, from the catalogue: its rules, its choices, its length."""
    checks = [
        (_not_matching if rule.refuse else _matches)(rule.pattern, rule.message)
        for rule in field.rules
    ]
    if field.choices:
        named = " or ".join(field.choices) if len(field.choices) == 2 else ", ".join(field.choices)
        checks.append(
            _one_of(field.choices, f"must be {'' if len(field.choices) == 2 else 'one of '}{named}")
        )
    if field.max_length:
        checks.append(_at_most(field.max_length))
    return _text(*checks, required=field.required)


CALL_SCHEMA = pa.DataFrameSchema(
    {
        **{field.name: _column(field) for field in FIELDS},
        r"^signal:.+$": pa.Column(
            None,
            checks=[_yes_or_no(NOT_YES_OR_NO)],
            nullable=True,
            regex=True,
            required=False,
        ),
        r"^custom:.+$": pa.Column(
            None, checks=[_at_most(MAX_TEXT)], nullable=True, regex=True, required=False
        ),
    },
    checks=[
        pa.Check(
            lambda df: df["recording_url"].notna() | df["recording_filename"].notna(),
            error=CROSS_FIELD,
        )
    ],
    strict=False,
    coerce=False,
)

NULL_MESSAGE = "is required"


@dataclass
class ValidatedChunk:
    """Normalised rows (all rows of the chunk, valid or not) and the problems found, per row."""

    rows: pd.DataFrame
    errors: dict[int, list[RowError]]

    @property
    def valid(self) -> pd.DataFrame:
        return self.rows[~self.rows.index.isin(list(self.errors))]


def normalise(
    canonical: pd.DataFrame, options: TimeOptions, *, presign: bool = False
) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """The canonical text columns in the API's forms, and why any value could not be read;
    `presign`: S3 locations are recordings, sent as signed links."""
    rows = canonical.copy()
    reasons: dict[str, pd.Series] = {}
    results: dict[str, Normalized] = {
        "start_time": normalize_start_times(
            canonical["start_time"], options, canonical.get(START_TIME_ZONE)
        ),
    }
    for field in FIELDS:
        if field.choices:
            results[field.name] = normalize_choice(canonical[field.name], field.choices)
    for name in PHONE_FIELDS:
        results[name] = normalize_phones(canonical[name], options.country)
    urls, filenames = recording_locations(
        canonical["recording_url"], canonical["recording_filename"], presign
    )
    expiring = recording_expiry(urls.values)
    results["recording_url"] = Normalized(urls.values, urls.reasons.fillna(expiring.reasons))
    results["recording_filename"] = filenames
    for name in canonical.columns:
        if name.startswith("signal:"):
            results[name] = normalize_booleans(canonical[name])
    identifiers, cleaned = normalize_ids(canonical["external_call_unique_id"])
    rows["external_call_unique_id"] = identifiers.astype("string")
    rows[NOTE] = _notes(canonical.get(NOTE), cleaned)
    for name, result in results.items():
        if name.startswith("signal:"):
            rows[name] = result.values.astype(object).where(result.values.notna(), None)
        else:
            rows[name] = result.values.astype("string")
        reasons[name] = result.reasons
    return rows, reasons


def _notes(earlier: pd.Series | None, cleaned: pd.Series) -> pd.Series:
    """A row's notes: the profile's (a leg sent re-sided) and the cleaning of its id."""
    note = pd.Series(ID_CLEANED, index=cleaned.index, dtype="string").where(cleaned)
    if earlier is None:
        return note
    both = earlier.notna() & note.notna()
    return earlier.where(~both, earlier + "; " + note).fillna(note).astype("string")


def validate(
    canonical: pd.DataFrame,
    options: TimeOptions,
    columns: dict[str, str] | None = None,
    *,
    recording_by_id: bool = False,
    presign: bool = False,
) -> ValidatedChunk:
    """Normalise and validate one chunk; `columns` names the input column behind each field;
    `recording_by_id`: Invoca finds recordings by call id, so a row may have none; `presign`: S3
    locations are sent as signed links."""
    rows, reasons = normalise(canonical, options, presign=presign)
    errors: dict[int, list[RowError]] = {}
    try:
        CALL_SCHEMA.validate(rows, lazy=True, inplace=True)
    except SchemaErrors as failure:
        cases = failure.failure_cases
        if recording_by_id:  # direct access: no recording is needed, per the API's rule
            cases = cases[cases["check"].astype(str) != CROSS_FIELD]
        _collect(cases, canonical, reasons, columns or {}, errors)
    _unread(canonical, reasons, columns or {}, errors)
    return ValidatedChunk(rows, errors)


def _unread(canonical, reasons, columns, errors) -> None:
    """A value the normaliser could not read is invalid even when its text happens to pass the
    schema's pattern (`+266696687` has the shape of E.164 but is no number)."""
    for column, found in reasons.items():
        for row, reason in found.dropna().items():
            row = int(row)
            if any(error.field == column for error in errors.get(row, [])):
                continue
            raw = canonical.at[row, column]
            errors.setdefault(row, []).append(
                RowError(
                    row,
                    _label(column, columns),
                    "" if pd.isna(raw) else str(raw),
                    str(reason),
                    field=column,
                    input_column=columns.get(column, column),
                )
            )


def _label(column: str, columns: dict[str, str]) -> str:
    return column if columns.get(column, column) == column else f"{column} ({columns[column]})"


def _collect(cases: pd.DataFrame, canonical, reasons, columns, errors) -> None:
    seen: set[tuple[int, str]] = set()
    for case in cases.itertuples(index=False):
        if pd.isna(case.index):
            continue
        row = int(case.index)
        column = (
            ""
            if case.column is None or case.schema_context == "DataFrameSchema"
            else str(case.column)
        )
        if (row, column) in seen:
            continue
        seen.add((row, column))
        raw = canonical.at[row, column] if column in canonical else None
        reason = reasons[column].get(row) if column in reasons else None
        if pd.notna(reason):
            message = str(reason)
        elif case.check == "not_nullable":
            message = NULL_MESSAGE
        else:
            message = str(case.check)
        if not column and message == CROSS_FIELD:
            _recording_pair(row, columns, errors)
            continue
        errors.setdefault(row, []).append(
            RowError(
                row,
                _label(column, columns),
                "" if raw is None or pd.isna(raw) else str(raw),
                message,
                field=column,
                input_column=columns.get(column, column) if column else "",
            )
        )


def _recording_pair(row: int, columns: dict[str, str], errors) -> None:
    """The cross-field rule names both columns, so that the results workbook marks both cells."""
    named = [columns.get(f, f) for f in ("recording_url", "recording_filename")]
    errors.setdefault(row, []).append(
        RowError(
            row,
            " or ".join(named),
            "",
            f"one of {' or '.join(named)} is required (or pass --recording-url-template; or "
            "--recording-by-id when Invoca reads your recording store by call id)",
            field="recording_url",
            input_column=named[0],
            also=tuple(named[1:]),
        )
    )


class SeenIds:
    """external_call_unique_ids already met in this file, as sorted 64-bit hashes (12 bytes an id
    with its row number).

    Within a chunk ids are compared exactly; across chunks by hash, where two different ids of a
    million-row file share one with a chance of about one in ten million. The hashes are kept in
    sorted runs of at most RUN ids, so adding a chunk copies at most one run, never the whole set:
    memory grows by the 12 bytes an id and no more.
    """

    RUN = 250_000

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted hashes, their rows)

    def repeats(self, ids: pd.Series) -> dict[int, int]:
        """Map each row whose id appeared on an earlier row to that row; remember the rest."""
        present = ids.dropna()
        repeated: dict[int, int] = {}
        again = present.duplicated(keep="first")
        fresh = present[~again]
        if again.any():
            first_row = pd.Series(fresh.index, index=fresh.to_numpy())
            for row, value in present[again].items():
                repeated[int(row)] = int(first_row[value])
        hashes = pd.util.hash_pandas_object(fresh, index=False).to_numpy()
        order = np.argsort(hashes)
        hashes, rows = hashes[order], fresh.index.to_numpy(dtype=np.int32)[order]
        for run_hashes, run_rows in self._runs:
            positions = np.searchsorted(run_hashes, hashes)  # sorted keys: a merge-like walk
            hit = positions < len(run_hashes)
            hit[hit] = run_hashes[positions[hit]] == hashes[hit]
            for row, earlier in zip(rows[hit], run_rows[positions[hit]], strict=True):
                repeated[int(row)] = int(earlier)
            hashes, rows = hashes[~hit], rows[~hit]
        if self._runs and len(self._runs[-1][0]) + len(hashes) <= self.RUN:
            run_hashes, run_rows = self._runs.pop()
            positions = np.searchsorted(run_hashes, hashes)
            hashes = np.insert(run_hashes, positions, hashes)
            rows = np.insert(run_rows, positions, rows)
        self._runs.append((hashes, rows))
        return repeated
