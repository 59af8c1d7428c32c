"""The command line: click options over the library; errors become one line and an exit code.

Each command lives with its kind (`runs`: upload and validate; `tools`: template, profiles and
journal; `services`: sandbox, demo and ui) over the options `options` makes from `Options`."""

from __future__ import annotations

import gc
import logging
import signal
import sys

import click

from uploader.cli.options import VERBOSE
from uploader.cli.runs import upload, validate
from uploader.cli.services import demo, sandbox, ui
from uploader.cli.tools import journal_command, profiles, template
from uploader.errors import UploaderError


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


for command in (upload, validate, template, profiles, journal_command, sandbox, demo, ui):
    cli.add_command(command)


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
