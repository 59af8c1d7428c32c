"""`upload` and `validate`: the commands that read files, and the summaries they print."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from uploader import pipeline
from uploader.cli.options import (
    ConfiguredCommand,
    _options,
    common_options,
    input_options,
    library_errors,
    option,
    option_for,
    output_options,
    pace_options,
    run_options,
    target_options,
)
from uploader.settings import STDOUT
from uploader.textsafe import printable


@click.command(cls=ConfiguredCommand)
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@input_options
@target_options
@pace_options
@output_options
@run_options
@common_options
@library_errors
def upload(files: tuple[str, ...], **kwargs: Any) -> None:
    """Validate each FILE, post every valid row to Invoca and write its results file.

    A FILE is a .csv/.tsv/.txt/.xlsx/.xlsm file, compressed (.gz, .bz2, .xz, .zst) or in a .zip,
    a folder or a glob of them, or an fsspec URL (s3://bucket/key; `pip install
    'invoca-upload[s3]'`). Several inputs share one journal and give one summary and exit code;
    one that cannot be read is reported and the others still run (--fail-fast stops instead).

    Rows already delivered (the journal remembers them) are not sent again, so running the same
    command after a stop, or on tomorrow's overlapping export, sends only what is missing.

    \b
    Examples:
      export INVOCA_OAUTH_TOKEN=...            # never on the command line
      invoca-upload upload calls.xlsx --campaign-id 85
      invoca-upload upload twilio.csv --profile twilio --campaign-id 85 \\
          --recording-url-template 'https://rec.example.com/{Sid}.wav'
      invoca-upload upload calls.csv --dry-run  # check and show the request bodies
      invoca-upload upload calls.csv --campaign-id 85 --base-url http://127.0.0.1:8765  # sandbox
      invoca-upload upload 'exports/2026-11-25/*.csv.gz' --profile five9 --campaign-id 85 \\
          --summary-json night.json      # several files: one journal, one summary
      invoca-upload upload s3://call-logs/2026-11-25/ --profile twilio --campaign-id 85 \\
          --out-dir s3://call-logs/results/   # needs pip install 'invoca-upload[s3]'
      invoca-upload upload ctr.csv --profile amazon_connect --campaign-id 85 \\
          --presign-recordings   # S3 locations sent as links signed for 7 days

    \b
    Every option can also be set as INVOCA_<OPTION> (INVOCA_BASE_URL, INVOCA_RATE, ...) or in
    ./invoca-upload.toml; the command line wins, then the environment, then the file.

    \b
    Exit codes: 0 all delivered; 1 some rows invalid, rejected, conflict or failed;
    2 could not start; 3 stopped by the API, an error limit, an outage or a journal
    that cannot be written; 4 interrupted; 5 every answer is in the journal but an output
    could not be written.
    """
    from uploader.batch import upload_all

    options = _options(kwargs)
    batch = upload_all(files, options, handle_signals=True)
    aside = options.summary_json == STDOUT  # standard output holds the JSON line alone
    if batch.single:
        _print_summary(batch.as_dict(), aside)
    else:
        _print_batch(batch.as_dict(), aside)
    sys.exit(batch.exit_code)


@click.command(cls=ConfiguredCommand)
@click.argument("file")
@input_options
@option(
    "--report",
    type=click.Path(dir_okay=False),
    help="Errors file. Default: <input stem>.errors.csv beside the input.",
)
@option_for("progress")
@common_options
@library_errors
def validate(file: str, report: str | None, **kwargs: Any) -> None:
    """Check every row of FILE without sending anything (no token needed).

    Writes one line per problem (row, column, value, error) to the errors file.

    \b
    Examples:
      invoca-upload validate calls.xlsx --campaign-id 85
      invoca-upload validate five9.csv --profile five9 --timezone America/Chicago --campaign-id 85
      invoca-upload validate export.csv --campaign-id 85 --country GB --report problems.csv
      invoca-upload validate ctr.csv --profile amazon_connect --campaign-id 85 \\
          --presign-recordings --check-recordings   # is every S3 recording there?

    \b
    Exit codes: 0 every row valid; 1 some rows invalid; 2 the file cannot be read.
    """
    summary = pipeline.validate_file(file, _options(kwargs), report=report)
    _print_summary(summary.as_dict())
    sys.exit(summary.exit_code)


def _print_summary(summary: dict, aside: bool = False, warnings: bool = True) -> None:
    """The run's summary for people; `aside`: all of it on standard error; `warnings`: False
    when several inputs' warnings are said once at the end."""
    echo = functools.partial(click.echo, err=aside)
    counts = {status: count for status, count in summary["counts"].items() if count}
    echo(f"{summary['input']}: {summary['rows']:,} rows ({summary['command']})")
    for status, count in counts.items():
        echo(f"  {status:<18}{count:>10,}")
    if summary.get("changed_since_delivered"):
        echo(
            f"  {summary['changed_since_delivered']:,} of the already uploaded rows changed since "
            "they were delivered (Invoca keeps the first version)"
        )
    if summary["blank_rows"]:
        echo(f"  {'blank rows skipped':<18} {summary['blank_rows']:>9,}")
    speed = f", {summary['rows_per_second']:,} rows/s" if summary["rows_per_second"] else ""
    echo(f"  took {summary['elapsed_seconds']:.1f} s{speed}")
    for name, path in summary["files"].items():
        echo(f"  {name + ':':<10}{path}")
    _print_problems(summary, echo)
    for note in summary.get("notes", []):
        echo(f"  {note}")
    for warning in summary["warnings"] if warnings else []:
        click.echo(f"warning: {warning}", err=True)
    if summary["stopped"]:
        click.echo(f"stopped: {summary['stopped']}", err=True)
    for problem in summary["output_problems"]:
        click.echo(f"output problem: {problem}", err=True)
    if summary["interrupted"]:
        click.echo("interrupted: run the same command again to send the rest", err=True)


def _print_batch(batch: dict, aside: bool = False) -> None:
    """Each input's summary, then the totals."""
    echo = functools.partial(click.echo, err=aside)
    for item in batch["inputs"]:
        if "error" in item:
            echo(f"{item['input']}: not read: {item['error']}")
        elif item.get("not_started"):
            echo(f"{item['input']}: not started")
        else:
            _print_summary(item, aside, warnings=False)
    counts = {status: count for status, count in batch["counts"].items() if count}
    echo(
        f"All {len(batch['inputs'])} inputs: {batch['rows']:,} rows "
        f"({batch['unreadable']} not read, {batch['not_started']} not started)"
    )
    for status, count in counts.items():
        echo(f"  {status:<18}{count:>10,}")
    echo(f"  took {batch['elapsed_seconds']:.1f} s")
    _print_warnings_once(batch["inputs"])
    for problem in batch["output_problems"]:
        click.echo(f"output problem: {problem}", err=True)


def _print_warnings_once(inputs: list[dict]) -> None:
    """A night's warnings, each once, with the inputs it applies to (not once per input)."""
    said: dict[str, list[str]] = {}
    for item in inputs:
        for warning in item.get("warnings", []):
            said.setdefault(warning, []).append(Path(str(item["input"])).name)
    for warning, names in said.items():
        which = names[0] if len(names) == 1 else f"{len(names)} inputs: {', '.join(names[:5])}"
        more = ", ..." if len(names) > 5 else ""
        click.echo(f"warning: {warning} ({which}{more})", err=True)


def _print_problems(summary: dict, echo: Callable[[str], None] = click.echo) -> None:
    """The first problems in full (row, column, value, reason), the API's most frequent reasons."""
    problems = summary.get("problems") or {}
    if not problems.get("count"):
        return
    echo("Problems:")
    for problem in problems["first"]:
        where = f"row {problem['row']}" + (f", {problem['column']}" if problem["column"] else "")
        value = f" {printable(str(problem['value']), 80)!r}" if problem["value"] else ""
        echo(f"  {where}:{value} {printable(problem['reason'], 300)}")
    more = problems["count"] - len(problems["first"])
    if more > 0:
        where = summary["files"].get("errors") or summary["files"].get("results") or "the results"
        echo(f"  and {more:,} more in {where}")
    if problems.get("top_reasons"):
        echo("Most frequent answers from the API:")
        for reason, count in problems["top_reasons"]:
            echo(f"  {count:>8,}  {printable(reason, 300)}")
