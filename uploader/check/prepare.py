"""A file made ready to send: opened, its profile applied (`plan_columns`), a first survey of its
columns (date order, zones, call legs), then every chunk checked on a worker thread while the
previous one is sent, with ids seen across chunks for repeats."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pandas as pd

from uploader.check.mapping import MAX_SIGNALS, SIGNED
from uploader.check.normalize import EXCEL_ZEROED, LOST_EXCEL_DIGITS, LongIds, clean_text
from uploader.check.plan import ColumnPlan, plan_columns
from uploader.check.presign import Presigner
from uploader.check.profiles import load_profile
from uploader.check.reachable import RecordingCheck
from uploader.check.schema import SeenIds, ValidatedChunk, validate
from uploader.check.times import DateOrder, MixedDateOrder, TimeOptions
from uploader.errors import (
    InputError,
    RowError,
)
from uploader.outcome import (
    INVALID,
    RETRY_COLUMNS,
    SKIPPED,
    RowOutcome,
)
from uploader.read.arrowtext import matches
from uploader.read.inputs import Input
from uploader.read.sources import open_table
from uploader.read.table import Chunk, Table
from uploader.settings import Options

if TYPE_CHECKING:  # the client (and aiohttp) loads only when a run sends: validate starts faster
    pass


# Regions whose dates are written month first (the US and its territories, Canada's English usage,
# the Philippines, the Micronesian compact states); the rest of the world writes the day first.
# https://en.wikipedia.org/wiki/Date_format_by_country
MONTH_FIRST_REGIONS = frozenset({"US", "CA", "PH", "FM", "MH", "PW", "PR", "GU", "VI", "AS", "MP"})


@dataclass
class Prepared:
    """An input opened and resolved against its profile, ready to be read chunk by chunk."""

    table: Table
    plan: ColumnPlan
    time_options: TimeOptions
    warnings: list[str]
    zone_less: int = 0  # start times read so far that carry no zone (a warning at the end)
    long_ids: LongIds = field(default_factory=LongIds)  # Excel's damage, decided per column
    recordings: RecordingCheck | None = None  # --check-recordings: each link fetched once
    presigner: Presigner | None = None  # --presign-recordings: S3 locations sent signed

    def rows(self, chunk_size: int) -> Iterator[tuple[Chunk, ValidatedRows]]:
        """Each chunk with its verdicts. The next chunk is checked on a second thread meanwhile
        (Arrow's kernels run without the GIL); what depends on earlier chunks stays in order."""
        seen = SeenIds()
        with ThreadPoolExecutor(1, thread_name_prefix="validate") as pool:
            ahead: deque[tuple[Chunk, Future]] = deque()
            for chunk in self.table.chunks(chunk_size):
                ahead.append((chunk, pool.submit(self._check, chunk.text)))
                if len(ahead) > 1:
                    yield self._settle(*ahead.popleft(), seen)
            while ahead:
                yield self._settle(*ahead.popleft(), seen)

    def _check(self, chunk: pd.DataFrame) -> tuple[dict[int, str], ValidatedChunk]:
        canonical = self.plan.canonical(chunk)
        skipped = {int(row): str(reason) for row, reason in canonical.skips.dropna().items()}
        kept = canonical.rows[~canonical.rows.index.isin(list(skipped))]
        checked = validate(
            kept,
            self.time_options,
            self._columns(),
            recording_by_id=self.plan.recording_by_id,
            presign=self.presigner is not None,
        )
        if self.presigner is not None:
            self._sign(checked)
        if self.recordings is not None:
            self._check_links(checked)
        _name_cells(checked.errors, canonical.origin)
        return skipped, checked

    def _sign(self, checked: ValidatedChunk) -> None:
        """--presign-recordings: the valid rows' S3 locations signed, in a column of their own
        (SIGNED) that only the bodies sent take; a bucket that cannot be signed for makes its
        rows invalid."""
        assert self.presigner is not None
        urls = checked.rows["recording_url"]
        located = urls.str.startswith("s3://").fillna(False).astype(bool)
        fine = located & ~urls.index.isin(list(checked.errors))
        signed, problems = self.presigner.sign(urls[fine])
        checked.rows[SIGNED] = signed.reindex(urls.index)
        for row, reason in problems.items():
            self._refuse_recording(checked, int(row), str(urls[row]), reason)

    def _check_links(self, checked: ValidatedChunk) -> None:
        """--check-recordings: a row whose recording cannot be fetched is invalid, saying why
        (a signed S3 location is fetched by its signed link)."""
        assert self.recordings is not None
        urls = checked.rows["recording_url"]
        if SIGNED in checked.rows:
            urls = checked.rows[SIGNED].where(checked.rows[SIGNED].notna(), urls)
        fine = urls.notna() & ~urls.index.isin(list(checked.errors))
        problems = self.recordings.problems(urls[fine].astype(str).tolist())
        for row, url in urls[fine].items():
            if (reason := problems.get(str(url))) is not None:
                self._refuse_recording(
                    checked, int(row), str(checked.rows.at[row, "recording_url"]), reason
                )

    def _refuse_recording(self, checked: ValidatedChunk, row: int, value: str, reason: str) -> None:
        plan = self.plan
        column = (
            plan.column("recording_url")
            or plan.column("recording")
            or plan.column("recording_filename")
        )
        label = (
            f"recording_url ({column})" if column and column != "recording_url" else "recording_url"
        )
        checked.errors.setdefault(row, []).append(
            RowError(row, label, value, reason, field="recording_url", input_column=column)
        )

    def _settle(self, chunk: Chunk, checking: Future, seen: SeenIds) -> tuple[Chunk, ValidatedRows]:
        skipped, checked = checking.result()
        errors = checked.errors
        for row, problem in chunk.broken.items():
            errors[row] = [RowError(row, "", "", problem, field="row")]
        ids = checked.rows["external_call_unique_id"]  # compared as sent: NFKC, no invisibles
        if self.long_ids.damaged:
            for row in ids.index[matches(ids, EXCEL_ZEROED)]:
                errors.setdefault(int(row), []).append(
                    RowError(
                        int(row),
                        "external_call_unique_id",
                        str(ids[row]),
                        LOST_EXCEL_DIGITS,
                        field="external_call_unique_id",
                        input_column=self.plan.column("external_call_unique_id"),
                    )
                )
        for row, first in seen.repeats(ids).items():
            identifier = str(ids[row])
            if self.plan.profile.legs.same_id:
                errors.pop(row, None)
                skipped[row] = f"another leg of call {identifier} (row {first})"
                continue
            errors.setdefault(row, []).append(
                RowError(
                    row,
                    "external_call_unique_id",
                    identifier,
                    f"is the same external_call_unique_id as row {first}",
                    field="external_call_unique_id",
                    input_column=self.plan.column("external_call_unique_id"),
                )
            )
        valid = checked.rows[~checked.rows.index.isin([*errors, *skipped])]
        zone_less = int(valid["start_time"].str.endswith("M").sum())
        self.zone_less += zone_less
        return chunk, ValidatedRows(valid, errors, skipped, zone_less)

    def _columns(self) -> dict[str, str]:
        plan = self.plan
        named = {f: plan.column(f) for f in plan.fields}
        named.update({f"signal:{n}": c for n, c in plan.signals.items()})
        named.update({f"custom:{n}": c for n, c in plan.custom.items()})
        named.setdefault(
            "calling_phone_number", plan.column("from_number") or "calling_phone_number"
        )
        named.setdefault(
            "destination_phone_number", plan.column("to_number") or "destination_phone_number"
        )
        return named


def _name_cells(errors: dict[int, list[RowError]], origin: dict[str, pd.Series]) -> None:
    """Point each problem at the cell its value came from: after the from/to swap of an outbound
    call, or when a field takes its value from the second column a profile lists."""
    for row, problems in errors.items():
        for at, problem in enumerate(problems):
            source = origin.get(problem.field)
            if source is None or row not in source.index:
                continue
            column = str(source[row])
            label = problem.field if column == problem.field else f"{problem.field} ({column})"
            problems[at] = replace(problem, column=label, input_column=column)


@dataclass
class ValidatedRows:
    valid: pd.DataFrame
    errors: dict[int, list[RowError]]
    skipped: dict[int, str]
    zone_less: int

    def settled(self, ids: pd.Series) -> dict[int, RowOutcome]:
        """Outcomes of the rows that will not be sent: invalid and skipped ones."""
        outcomes: dict[int, RowOutcome] = {}
        for row, problems in self.errors.items():
            identifier = ids.get(row)
            outcomes[row] = RowOutcome(
                row,
                "" if pd.isna(identifier) else str(identifier),
                INVALID,
                error="; ".join(str(p) for p in problems),
            )
        for row, reason in self.skipped.items():
            identifier = ids.get(row)
            outcomes[row] = RowOutcome(
                row, "" if pd.isna(identifier) else str(identifier), SKIPPED, error=reason
            )
        return outcomes


def prepare(source: Input, options: Options) -> Prepared:
    profile = load_profile(options.profile)
    table = open_table(
        source,
        is_header=profile.is_header,
        sheet=options.sheet,
        encoding=options.encoding,
        header_row=options.header_row or profile.header_row,
    )
    plan = plan_columns(
        profile,
        table.headers,
        table.columns,
        campaign_id=options.campaign_id,
        recording_url_template=options.recording_url_template,
        recording_by_id=options.recording_by_id,
        source=source.name,
    )
    warnings = []
    if table.rows_above:
        warnings.append(
            f"{table.rows_above} {'row' if table.rows_above == 1 else 'rows'} above the header "
            "(a report's title?) not read; --header-row names the header row"
        )
    used = plan.used_columns()
    ignored = [
        h
        for h, c in zip(table.headers, table.columns, strict=True)
        if c not in used and h and h not in RETRY_COLUMNS  # a retry file's own: never data
    ]
    if ignored:
        warnings.append(f"columns not sent (kept in the results file): {', '.join(ignored)}")
    if len(plan.signals) > MAX_SIGNALS:
        warnings.append(
            f"{len(plan.signals)} signal columns: Invoca's Signal API takes at most "
            f"{MAX_SIGNALS} per call"
        )
    timezone = options.timezone or profile.timezone
    country = options.country or profile.country or "US"
    order = _default_order(options, profile.dayfirst, country)
    long_ids = LongIds()
    dayfirst = _survey(source, table, options, plan, order, warnings, long_ids)
    time_options = TimeOptions(
        timezone=timezone, dayfirst=dayfirst, epoch1904=table.epoch1904, country=country
    )
    recordings = RecordingCheck() if options.check_recordings else None
    presigner = None
    if options.presign_recordings:
        presigner = Presigner(options.presign_recordings)
        if presigner.warning:
            warnings.append(presigner.warning)
    return Prepared(
        table,
        plan,
        time_options,
        warnings,
        long_ids=long_ids,
        recordings=recordings,
        presigner=presigner,
    )


@dataclass(frozen=True)
class DefaultOrder:
    """The date order used when nothing in a column decides, why, and what would change it."""

    dayfirst: bool
    why: str
    otherwise: str


def _default_order(options: Options, profile_dayfirst: bool, country: str) -> DefaultOrder:
    if options.dayfirst:
        return DefaultOrder(True, "as --dayfirst asks", "leave out --dayfirst")
    if profile_dayfirst:
        return DefaultOrder(True, "as the profile says", "set dayfirst = false in the profile")
    if country in MONTH_FIRST_REGIONS:
        return DefaultOrder(
            False,
            f"the order of region {country}",
            "pass --dayfirst (or --country of a day-first region, such as GB)",
        )
    return DefaultOrder(
        True, f"the order of region {country}", "pass --country US if they are month first"
    )


def _survey(
    source: Input,
    table: Table,
    options: Options,
    plan: ColumnPlan,
    default: DefaultOrder,
    warnings: list[str],
    long_ids: LongIds,
) -> bool:
    """What the whole file decides before any row is sent, in a first pass over the rows (the CSV
    read again, or the loaded Excel sheet walked again): the start time column's date order,
    whether Excel damaged the long ids, and which legs of a multi-leg call hold the customer's
    number."""
    columns = plan.fields.get("start_time", []) if not options.dayfirst else []
    ids = plan.fields.get("external_call_unique_id", [])
    default_dayfirst = default.dayfirst
    if not columns and not ids and not plan.profile.legs.parent:
        return default_dayfirst
    order = DateOrder.empty()
    for chunk in table.rewound().chunks(options.chunk_size):
        for column in columns:
            order.add(chunk.text[column].astype("string").str.strip())
        for column in ids:
            long_ids.add(clean_text(chunk.text[column]))
        plan.survey(chunk.text)
    if not columns:
        return default_dayfirst
    try:
        dayfirst = order.decide(default_dayfirst)
    except MixedDateOrder as error:
        raise InputError(f"{source.name}: {error}") from None
    if order.ambiguous and not order.day_first_count and not order.month_first_count:
        way = "day first (5 March for 05/03)" if dayfirst else "month first (3 May for 05/03)"
        warnings.append(
            f"{order.ambiguous} start times like 05/03/2024 could be read either way: all were "
            f"read {way}, {default.why}; if that is wrong, {default.otherwise}"
        )
    elif order.day_first_count and not default_dayfirst:
        warnings.append(
            "start times read day first: the column holds "
            f"{order.day_first_count} dates only valid "
            f"that way (row {next(iter(order.day_first))}: {next(iter(order.day_first.values()))})"
        )
    return dayfirst


def count_invalid(source: Input, options: Options) -> int:
    prepared = prepare(source, options)
    return sum(len(checked.errors) for _, checked in prepared.rows(options.chunk_size))
