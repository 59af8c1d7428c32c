"""`sandbox`, `demo` and `ui`: the commands that start a server on this machine."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click

from uploader.cli.options import (
    SANDBOX,
    ConfiguredCommand,
    _options,
    common_options,
    library_errors,
    option_for,
    pace_options,
    port_option,
    target_options,
)
from uploader.sandbox.config import SandboxConfig


@click.command()
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
    "--direct-access",
    is_flag=True,
    default=SANDBOX.direct_access,
    help="Accept calls without a recording, as a network with direct access to its recording "
    "store does (the recording found by the call's id).",
)
@click.option(
    "--replay-conflict",
    is_flag=True,
    default=SANDBOX.replay_conflict,
    help="Answer 409 (not 202) when a stored call is posted again unchanged, as the real API "
    "may after a lost answer.",
)
@click.option(
    "--reset-seconds",
    type=click.FloatRange(min=0),
    default=SANDBOX.reset_seconds,
    help="Reset every connection, unanswered and unstored, for this many seconds from the first "
    "request (a network outage).",
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
    type=click.Choice(["split", "cut", "html", "no-cuid"]),
    help="Damage 201 answers: split across packets, cut mid-body, an HTML page, or no cuid.",
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


@click.command()
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


@click.command(cls=ConfiguredCommand)
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
