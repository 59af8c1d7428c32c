"""Several inputs in one run, as a nightly job brings them: files, folders, globs, zip archives,
compressed files and object-storage URLs (see uploader.read.inputs), read one after the other
under one journal and its lock, each with its own results and retry file, with one summary and
one exit code.

An input that cannot be read is reported and the others still run (`fail_fast` stops instead); a
stop by the API (a wrong token, an error limit) or an interrupt ends the whole batch, since the
next input would meet the same answer.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from uploader.errors import ConfigError, ExitCode, InputError, OutputError
from uploader.outcome import STATUSES
from uploader.pipeline import Run, RunSummary, open_journal, restored_signals
from uploader.read.expand import expand
from uploader.read.inputs import Input, Unreadable
from uploader.report.paths import output_paths
from uploader.report.results import write_summary_json
from uploader.send.journal import Journal
from uploader.settings import Options, target_token

log = logging.getLogger("uploader")


@dataclass
class BatchSummary:
    """What a run over several inputs did: each input's summary and the totals. `as_dict()` is the
    --summary-json document; for a single input it is that input's own summary."""

    command: str
    runs: list[RunSummary] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    interrupted: bool = False  # between two runs, or while the next one opened its input
    exit_code: int = 0
    output_problems: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        totals: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for run in self.runs:
            for status, count in run.counts.items():
                totals[status] = totals.get(status, 0) + count
        return totals

    @property
    def single(self) -> bool:
        return len(self.runs) == 1 and not (self.unreadable or self.not_started or self.interrupted)

    def as_dict(self) -> dict[str, Any]:
        if self.single:
            document = self.runs[0].as_dict()
            document["exit_code"] = int(self.exit_code)
            document["output_problems"] = [*document["output_problems"], *self.output_problems]
            return document
        inputs: list[dict[str, Any]] = [run.as_dict() for run in self.runs]
        inputs += [
            {"input": item.name, "error": item.problem, "exit_code": int(ExitCode.CANNOT_START)}
            for item in self.unreadable
        ]
        inputs += [{"input": name, "not_started": True} for name in self.not_started]
        totals = RunSummary(  # the totals in a single run's form, so schedulers read both alike
            input="",
            command=self.command,
            counts=self.counts,
            blank_rows=sum(run.blank_rows for run in self.runs),
            changed_since_delivered=sum(run.changed_since_delivered for run in self.runs),
            elapsed_seconds=self.elapsed_seconds,
            stopped=next((run.stopped for run in self.runs if run.stopped), None),
            interrupted=self.interrupted or any(run.interrupted for run in self.runs),
            output_problems=self.output_problems,
            exit_code=self.exit_code,
        )
        return {
            **totals.as_dict(),
            "input": [item["input"] for item in inputs],
            "unreadable": len(self.unreadable),
            "not_started": len(self.not_started),
            "inputs": inputs,
        }


def upload_all(
    specs: list[str | Path] | tuple[str | Path, ...],
    options: Options | None = None,
    *,
    handle_signals: bool = False,
    **overrides: object,
) -> BatchSummary:
    """Upload every spreadsheet the specs name (paths, folders, globs, archives, URLs), in order,
    under one journal. With one spreadsheet, a problem opening it raises as `upload()` does."""
    options = Options.build(options, **overrides)
    started = time.monotonic()
    token = target_token(options)  # before any input is listed or read
    items = expand([str(spec) for spec in specs])
    sources = [item for item in items if isinstance(item, Input)]
    if len(items) == 1 and isinstance(items[0], Unreadable):
        raise InputError(items[0].problem)
    if len(items) > 1 and (options.results or options.retry_file):
        raise ConfigError(
            "--results and --retry-file name one file: with several inputs use --out-dir"
        )
    _check_distinct(sources, options)
    batch = BatchSummary(command="dry-run" if options.dry_run else "upload")
    with restored_signals(handle_signals), contextlib.ExitStack() as stack:
        journal = None
        if not options.dry_run:
            journal = open_journal(options, token)
            stack.callback(journal.close)
        _run_each(batch, items, options, token, journal, handle_signals)
    batch.elapsed_seconds = time.monotonic() - started
    batch.exit_code = batch_exit_code(batch)
    if options.summary_json:
        try:
            write_summary_json(Path(options.summary_json), batch.as_dict())
        except OutputError as error:
            batch.output_problems.append(str(error))
            batch.exit_code = batch_exit_code(batch)
    return batch


def _run_each(
    batch: BatchSummary,
    items: list[Input | Unreadable],
    options: Options,
    token: str | None,
    journal: Journal | None,
    handle_signals: bool,
) -> None:
    """The inputs in order. Between two runs (and while the next one opens its input, before it
    takes over the signals) SIGINT/SIGTERM stop the batch at once: nothing of that input is sent,
    and the summary says interrupted."""
    for index, item in enumerate(items):
        if isinstance(item, Input):
            run = Run(
                item,
                options,
                token,
                handle_signals=handle_signals,
                journal=journal,
                writes_summary=False,  # the batch writes the one summary
            )
            try:
                with _stopping_between_runs(handle_signals):
                    batch.runs.append(run.perform())
            except KeyboardInterrupt:
                batch.interrupted = True
                batch.not_started = [later.name for later in items[index:]]
                return
            except InputError as error:
                if len(items) == 1:
                    raise
                item = Unreadable(item.name, str(error))
            else:
                if run.interrupts or run.stopped_by_run:
                    batch.not_started = [later.name for later in items[index + 1 :]]
                    return
                continue
        log.error("%s", item.problem)
        batch.unreadable.append(item)
        if options.fail_fast:
            batch.not_started = [later.name for later in items[index + 1 :]]
            return


@contextlib.contextmanager
def _stopping_between_runs(handle_signals: bool) -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt until the run installs its own handling."""
    if handle_signals and threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _interrupted)
    yield


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def batch_exit_code(batch: BatchSummary) -> ExitCode:
    """The one exit code of several runs: the most urgent of theirs (interrupted, stopped, an
    output lost, row problems); an input that could not be read counts as row problems, or as
    "could not start" when no input could be read at all."""
    codes = {ExitCode(run.exit_code) for run in batch.runs}
    if batch.interrupted:
        codes.add(ExitCode.INTERRUPTED)
    if batch.output_problems:
        codes.add(ExitCode.OUTPUT_FAILED)
    for urgent in (ExitCode.INTERRUPTED, ExitCode.STOPPED, ExitCode.OUTPUT_FAILED):
        if urgent in codes:
            return urgent
    if batch.unreadable and not batch.runs:
        return ExitCode.CANNOT_START
    if batch.unreadable or batch.not_started or ExitCode.ROW_PROBLEMS in codes:
        return ExitCode.ROW_PROBLEMS
    return ExitCode.OK


def _check_distinct(sources: list[Input], options: Options) -> None:
    """Two inputs must not write the same results file (same names in two folders, --out-dir)."""
    seen: dict[str, str] = {}
    for source in sources:
        results, _ = output_paths(source, options)
        other = seen.setdefault(str(results), source.name)
        if other != source.name:
            raise ConfigError(
                f"{other} and {source.name} would both write {results}; "
                "upload them in separate runs (or into separate --out-dir folders)"
            )
