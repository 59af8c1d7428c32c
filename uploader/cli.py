"""The command line: click options over the library; errors become one line and an exit code."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import json
import logging
import signal
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from uploader import pipeline
from uploader.errors import ConfigError, UploaderError
from uploader.sandbox.config import SandboxConfig
from uploader.settings import STDOUT, Options, Setting, read_toml
from uploader.textsafe import printable

CONFIG_FILE = "invoca-upload.toml"
SANDBOX = SandboxConfig()  # the sandbox command's defaults
log = logging.getLogger("uploader")


# ---------------------------------------------------------------- configuration file


class ConfiguredCommand(click.Command):
    """Reads --config (or ./invoca-upload.toml) into click's default_map before parsing.

    Click then applies the contract's precedence: command line, environment, config file, defaults.
    """

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[no-untyped-def]
        try:
            extra.setdefault("default_map", self._config(list(args)))
        except ConfigError as error:
            raise click.UsageError(str(error)) from None
        return super().make_context(info_name, args, parent, **extra)

    def _config(self, args: list[str]) -> dict[str, Any]:
        path = None
        for index, arg in enumerate(args):
            if arg == "--config" and index + 1 < len(args):
                path = Path(args[index + 1])
            elif arg.startswith("--config="):
                path = Path(arg.split("=", 1)[1])
        if path is None:
            if not Path(CONFIG_FILE).is_file():
                return {}
            path = Path(CONFIG_FILE)
        data = read_toml(path, f"--config {path}")
        names = {param.name for param in self.params}
        config = {key.replace("-", "_"): value for key, value in data.items()}
        if "token" in config:
            raise ConfigError(
                f"--config {path}: the token is never read from a config file; "
                "use INVOCA_OAUTH_TOKEN or --token-file"
            )
        unknown = sorted(set(config) - names - {"config"})
        if unknown:
            raise ConfigError(f"--config {path}: unknown option(s) {', '.join(unknown)}")
        return config


def env(name: str) -> str:
    return "INVOCA_" + name.upper()


def option(*decls: str, **attrs: Any) -> Callable:
    name = decls[0].lstrip("-").split("/")[0].replace("-", "_")
    attrs.setdefault("envvar", env(name))
    attrs.setdefault("show_envvar", False)
    return click.option(*decls, **attrs)


def compose(*decorators: Callable) -> Callable:
    def apply(function: Callable) -> Callable:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


def options_of(group: str) -> Callable:
    """The click options of one group, made from `Options`: name, default, range, help and the
    INVOCA_<NAME> variable come from there, so that adding an option is one edit."""
    return compose(
        *(
            option_for(item.name)
            for item in dataclasses.fields(Options)
            if item.metadata["setting"].group == group
        )
    )


def option_for(name: str) -> Callable:
    """The click option of one field of `Options`."""
    item = next(item for item in dataclasses.fields(Options) if item.name == name)
    rule: Setting = item.metadata["setting"]
    kind = typing.get_type_hints(Options)[name]
    kind = next((arg for arg in typing.get_args(kind) if arg is not type(None)), kind)
    attrs: dict[str, Any] = {"help": rule.help}
    decls: tuple[str, ...] = ("--" + name.replace("_", "-"),)
    if kind is bool:
        attrs.update(is_flag=True, default=False)
        if rule.flag:  # a negative flag: --no-progress sets no_progress
            decls = (rule.flag, rule.flag.lstrip("-").replace("-", "_"))
        return option(*decls, **attrs)
    if rule.path:
        attrs["type"] = click.Path(dir_okay=False, exists=rule.must_exist)
    elif rule.minimum is not None or rule.maximum is not None:
        low, high = rule.minimum, rule.maximum
        attrs["type"] = (
            click.IntRange(None if low is None else int(low), None if high is None else int(high))
            if kind is int
            else click.FloatRange(low, high)
        )
    elif kind in (int, float):
        attrs["type"] = kind
    if item.default is not None:
        attrs.update(default=item.default, show_default=True)
    if rule.metavar:
        attrs["metavar"] = rule.metavar
    return option(*decls, **attrs)


input_options = options_of("input")
target_options = compose(
    options_of("target"),
    click.option(
        "--token",
        hidden=True,
        expose_value=False,
        callback=lambda ctx, param, value: _refuse_token(value),
    ),
)
pace_options = options_of("pace")
output_options = options_of("output")
run_options = options_of("run")


def port_option(default: int, what: str) -> Callable:
    return click.option(
        "--port",
        type=click.IntRange(0, 65535),
        default=default,
        show_default=True,
        help=f"{what} (0 picks a free one).",
    )


common_options = compose(
    click.option(
        "--config",
        type=click.Path(dir_okay=False),
        expose_value=False,
        help=f"TOML file of options (long names as keys). Default: ./{CONFIG_FILE} if present.",
    ),
    click.option(
        "-v",
        "--verbose",
        is_flag=True,
        default=False,
        expose_value=False,
        is_eager=True,
        callback=lambda ctx, param, value: _verbose(value),
        help="Show tracebacks.",
    ),
)


def _refuse_token(value: str | None) -> None:
    if value is not None:
        raise click.UsageError(
            "the token is never taken on the command line: "
            "set INVOCA_OAUTH_TOKEN or use --token-file"
        )


VERBOSE = {"on": False}


def _verbose(value: bool) -> None:
    if value:
        VERBOSE["on"] = True
        logging.getLogger("uploader").setLevel(logging.DEBUG)


def _options(kwargs: dict[str, Any]) -> Options:
    kwargs = dict(kwargs)
    kwargs["progress"] = not kwargs.pop("no_progress", False)
    return Options.build(**kwargs)


def library_errors(function: Callable) -> Callable:
    """Domain exceptions become one line on stderr and the contract's exit code."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except UploaderError as error:
            if VERBOSE["on"]:
                log.exception("traceback")
            click.echo(f"invoca-upload: error: {error}", err=True)
            sys.exit(error.exit_code)

    return wrapper


# ---------------------------------------------------------------- commands


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="invoca-upload", prog_name="invoca-upload")
def cli() -> None:
    """Upload a spreadsheet of phone calls (CSV or Excel) to Invoca's Call Ingestion API.

    \b
    Start with a template, check it, rehearse against the local sandbox, then upload:
      invoca-upload template calls.xlsx --signal sale --custom channel
      invoca-upload validate calls.xlsx --campaign-id 85
      invoca-upload upload calls.xlsx --campaign-id 85
    """


@cli.command(cls=ConfiguredCommand)
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


@cli.command(cls=ConfiguredCommand)
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

    \b
    Exit codes: 0 every row valid; 1 some rows invalid; 2 the file cannot be read.
    """
    summary = pipeline.validate_file(file, _options(kwargs), report=report)
    _print_summary(summary.as_dict())
    sys.exit(summary.exit_code)


@cli.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--signal",
    "signals",
    multiple=True,
    metavar="NAME",
    help="Add a signal:NAME column (repeatable).",
)
@click.option(
    "--custom",
    "custom",
    multiple=True,
    metavar="NAME",
    help="Add a custom:NAME column (repeatable).",
)
@click.option(
    "--profile",
    default="invoca",
    show_default=True,
    metavar="NAME|PATH",
    help="Name the columns as this profile's system does (see `invoca-upload profiles`).",
)
@library_errors
def template(out: Path, signals: tuple[str, ...], custom: tuple[str, ...], profile: str) -> None:
    """Write an Excel (or CSV) template for analysts to fill in.

    \b
    Examples:
      invoca-upload template calls.xlsx
      invoca-upload template calls.xlsx --signal sale --signal appointment --custom channel
      invoca-upload template calls.csv --signal sale
      invoca-upload template five9.xlsx --profile five9   # paste a Five9 export into it
    """
    from uploader.template import write_template

    write_template(out, signals=list(signals), custom=list(custom), profile=profile)
    click.echo(f"wrote {out}")


@cli.command()
def profiles() -> None:
    """List the built-in column profiles and those saved from the web page (use one with
    --profile NAME).

    \b
    Example:
      invoca-upload profiles
      invoca-upload upload calls.csv --profile twilio --campaign-id 85
    """
    from uploader.check.profiles import builtin_profiles, load_profile, saved_profiles

    for name in builtin_profiles():
        click.echo(f"{name:<16}{load_profile(name).description}")
    for name, path in saved_profiles().items():
        click.echo(f"{name:<16}saved: {path}")


@cli.command("journal")
@click.option(
    "--journal",
    "path",
    type=click.Path(dir_okay=False),
    envvar="INVOCA_JOURNAL",
    help="Journal file. Default: the one uploads use.",
)
@click.option(
    "--export", type=click.Path(dir_okay=False), help="Write every journal entry to this CSV file."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@library_errors
def journal_command(path: str | None, export: str | None, as_json: bool) -> None:
    """Show what a journal holds: calls per status and the last runs.

    \b
    Examples:
      invoca-upload journal
      invoca-upload journal --journal nightly.sqlite --export delivered.csv
    """
    from uploader.report.recover import export_journal
    from uploader.send.journal import default_journal_path, journal_report

    path = path or str(default_journal_path())
    report = journal_report(path)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"journal {report['journal']}")
        for status, count in report["calls"].items():
            click.echo(f"  {status:<18}{count:>10,}")
        for run in report["runs"]:
            counts = (run["summary"] or {}).get("counts", {})
            shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            click.echo(
                f"  run {run['id']} {run['started']} {run['input']}: {shown or 'unfinished'}"
            )
    if export:
        count = export_journal(path, export)
        click.echo(f"exported {count:,} entries to {export}")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@port_option(8765, "Port")
@click.option(
    "--token", default=SANDBOX.token, show_default=True, help="The token the sandbox accepts."
)
@click.option(
    "--campaign",
    "campaigns",
    multiple=True,
    default=SANDBOX.campaigns,
    show_default=True,
    help="ExternalOnly campaign ids the token may use (repeatable).",
)
@click.option(
    "--signal",
    "signals",
    multiple=True,
    help="Configured signal names (repeatable; none = any name).",
)
@click.option(
    "--custom",
    "custom",
    multiple=True,
    help="Configured custom data names (repeatable; none = any name).",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    help="Requests per second before it answers 429.",
)
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=SANDBOX.fail_rate,
    help="Share of answers that are 500 or 503.",
)
@click.option(
    "--unavailable-rate",
    type=click.FloatRange(0, 1),
    default=SANDBOX.unavailable_rate,
    help="Share of answers that are 503 with Retry-After (--retry-after seconds).",
)
@click.option(
    "--drop-rate",
    type=click.FloatRange(0, 1),
    default=SANDBOX.drop_rate,
    help="Share of calls stored whose answer is lost.",
)
@click.option(
    "--latency-ms",
    type=click.IntRange(min=0),
    default=SANDBOX.latency_ms,
    help="Random delay up to MS per request.",
)
@click.option("--seed", type=int, help="Seed for the fault switches.")
@click.option(
    "--retry-after",
    type=click.IntRange(min=0),
    default=SANDBOX.retry_after,
    show_default=True,
    help="Seconds a 429 (or an --unavailable-rate 503) asks the client to wait.",
)
@click.option(
    "--retry-after-date", is_flag=True, help="Send Retry-After as an HTTP date instead of seconds."
)
@click.option(
    "--ingestion-disabled", is_flag=True, help="Answer 403 UnauthorizedOperation to every call."
)
@click.option(
    "--max-body",
    type=click.IntRange(min=1),
    default=SANDBOX.max_body,
    show_default=True,
    help="Bodies over this many bytes answer 413.",
)
@click.option(
    "--answer-fault",
    type=click.Choice(["split", "html", "no-cuid"]),
    help="Damage 201 answers: split across packets, an HTML page, or no cuid.",
)
@click.option(
    "--answer-fault-rate",
    type=click.FloatRange(0, 1),
    default=SANDBOX.answer_fault_rate,
    show_default=True,
    help="Share of 201 answers that --answer-fault damages.",
)
def sandbox(host: str, port: int, token: str, campaigns, signals, custom, **faults: Any) -> None:
    """Run a local emulator of the Call Ingestion API, for rehearsals and tests.

    It follows the API notes: the same route, token header, validation, status codes and bodies.
    GET /_sandbox/calls lists what it stored; DELETE /_sandbox/calls clears it;
    GET /_sandbox/requests lists every request as it arrived (headers, body, answer).

    \b
    Examples:
      invoca-upload sandbox --port 8765
      invoca-upload sandbox --signal sale --custom channel --rate-limit 20 --fail-rate 0.05
      INVOCA_OAUTH_TOKEN=sandbox-token invoca-upload upload calls.xlsx --base-url http://127.0.0.1:8765
    """
    from uploader.sandbox import serve

    config = SandboxConfig(
        token=token,
        campaigns=tuple(campaigns),
        signals=tuple(signals),
        custom=tuple(custom),
        **faults,
    )

    def announce(url: str) -> None:
        click.echo(url)
        click.echo(f"  token:     {token}   (export INVOCA_OAUTH_TOKEN={token})")
        click.echo(f"  campaigns: {', '.join(campaigns)}")
        click.echo(f"  signals:   {', '.join(signals) if signals else 'any name'}")
        click.echo(f"  custom:    {', '.join(custom) if custom else 'any name'}")
        click.echo(
            f"  try:       INVOCA_OAUTH_TOKEN={token} invoca-upload upload calls.xlsx "
            f"--campaign-id {campaigns[0] if campaigns else 85} --base-url {url}"
        )
        sys.stdout.flush()

    try:
        asyncio.run(serve(config, host, port, announce))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        click.echo(
            f"invoca-upload: error: cannot listen on {host}:{port} ({error.strerror})", err=True
        )
        sys.exit(2)


@cli.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default="invoca-upload-demo",
    show_default=True,
    help="Folder the demo writes its workbook, results and summary into.",
)
@library_errors
def demo(out: Path) -> None:
    """Rehearse a whole upload: start the sandbox, upload a sample workbook, show the results.

    Nothing leaves this machine; the files land under --out.

    \b
    Examples:
      invoca-upload demo
      invoca-upload demo --out /tmp/rehearsal
    """
    from uploader.demo import run_demo

    sys.exit(run_demo(out, echo=click.echo))


@cli.command(cls=ConfiguredCommand)
@port_option(0, "Port on 127.0.0.1")
@click.option("--no-browser", is_flag=True, default=False, help="Do not open a browser.")
@click.option(
    "--max-upload-mb",
    type=click.IntRange(1, 10_000),
    default=200,
    show_default=True,
    help="Largest file the page takes.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the files given to the page and their results. "
    "Default: ui/ in the user's data folder.",
)
@target_options
@pace_options
@option_for("journal")
@common_options
@library_errors
def ui(
    port: int, no_browser: bool, max_upload_mb: int, work_dir: Path | None, **kwargs: Any
) -> None:
    """Open the analyst's workbench: a local web page from file to results.

    The same checks, journal and sender as the command line: drop a CSV or workbook, choose
    the settings, fix the rows with problems in the page, upload with live progress, download
    the results. It listens on 127.0.0.1 only; the address it prints carries a key for this
    launch. The API token typed into the page stays in this process's memory.

    \b
    Examples:
      invoca-upload ui
      invoca-upload ui --port 8800 --no-browser
      invoca-upload ui --base-url http://127.0.0.1:8765   # rehearse against the sandbox
    """
    import asyncio
    import webbrowser

    import platformdirs

    from uploader.ui.server import Workbench, serve

    options = _options(kwargs)
    folder = work_dir or Path(platformdirs.user_data_dir("invoca-upload")) / "ui"
    folder.mkdir(parents=True, exist_ok=True)
    bench = Workbench(options=options, work_dir=folder, max_upload=max_upload_mb * 1024**2)

    def announce(address: str) -> None:
        click.echo(f"invoca-upload ui: open {address}  (Ctrl-C to stop)")
        sys.stdout.flush()
        if not no_browser:
            webbrowser.open(address)

    try:
        asyncio.run(serve(bench, announce=announce, port=port))
    except KeyboardInterrupt:
        pass
    except OSError as error:
        click.echo(f"invoca-upload: error: cannot listen on 127.0.0.1:{port} ({error})", err=True)
        sys.exit(2)


# ---------------------------------------------------------------- output


def _print_summary(summary: dict, aside: bool = False) -> None:
    """The run's summary for people; `aside`: all of it on standard error."""
    echo = functools.partial(click.echo, err=aside)
    counts = {status: count for status, count in summary["counts"].items() if count}
    echo(f"{summary['input']}: {summary['rows']:,} rows ({summary['command']})")
    for status, count in counts.items():
        echo(f"  {status:<18}{count:>10,}")
    if summary["blank_rows"]:
        echo(f"  {'blank rows skipped':<18}{summary['blank_rows']:>10,}")
    speed = f", {summary['rows_per_second']:,} rows/s" if summary["rows_per_second"] else ""
    echo(f"  took {summary['elapsed_seconds']:.1f} s{speed}")
    for name, path in summary["files"].items():
        echo(f"  {name + ':':<10}{path}")
    _print_problems(summary, echo)
    for warning in summary["warnings"]:
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
            _print_summary(item, aside)
    counts = {status: count for status, count in batch["counts"].items() if count}
    echo(
        f"All {len(batch['inputs'])} inputs: {batch['rows']:,} rows "
        f"({batch['unreadable']} not read, {batch['not_started']} not started)"
    )
    for status, count in counts.items():
        echo(f"  {status:<18}{count:>10,}")
    echo(f"  took {batch['elapsed_seconds']:.1f} s")
    for problem in batch["output_problems"]:
        click.echo(f"output problem: {problem}", err=True)


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


def main() -> None:
    # Our own INFO lines; other libraries' (botocore's "Found credentials ...") from WARNING up.
    logging.basicConfig(
        format="invoca-upload: %(message)s", level=logging.WARNING, stream=sys.stderr
    )
    logging.getLogger("uploader").setLevel(logging.INFO)
    code = _run_cli()
    # Everything is written and the exit code chosen: a late Ctrl-C must not turn it into a signal.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    # The interpreter's last garbage collection walks every object pandas, pyarrow and aiohttp
    # made at import: ~0.2 s of a nightly run's wall time for nothing, since the process ends here.
    # Frozen objects are left out of it; atexit handlers, flushes and finalizers still run.
    gc.freeze()
    sys.exit(code)


def _run_cli() -> int:
    """Run the command; every way it can end becomes one of the contract's exit codes."""
    try:
        status = cli.main(standalone_mode=False)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else 0
    except (click.exceptions.Abort, KeyboardInterrupt):
        # Ctrl-C outside a run's own handling (while starting, or while printing the summary).
        click.echo("invoca-upload: interrupted", err=True)
        return 4
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except UploaderError as error:
        click.echo(f"invoca-upload: error: {error}", err=True)
        return error.exit_code
    except Exception as error:  # the last line of defence: one line, the traceback only with -v
        if VERBOSE["on"]:
            raise
        click.echo(
            f"invoca-upload: internal error: {type(error).__name__}: {error} "
            "(run with -v for details)",
            err=True,
        )
        return 2
    return status if isinstance(status, int) else 0


if __name__ == "__main__":
    main()
