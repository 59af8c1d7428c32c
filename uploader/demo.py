"""`invoca-upload demo` (and `make demo`): start the sandbox, upload the sample workbook to it, show
what happened. Works from an installed package: it writes only under the folder it names."""

from __future__ import annotations

import sys
import tempfile
from importlib import resources
from pathlib import Path

import openpyxl

from uploader import upload
from uploader.outcome import DELIVERED
from uploader.sandbox import SandboxConfig
from uploader.sandbox.background import running_sandbox

DEFAULT_OUT = Path("invoca-upload-demo")
TOKEN = "demo-token"  # noqa: S105 - the sandbox's own token, not a secret


def sample_workbook() -> bytes:
    """The sample workbook shipped in the package (the repository's sample_data/calls.xlsx)."""
    return resources.files("uploader.samples").joinpath("calls.xlsx").read_bytes()


def run_demo(out: Path = DEFAULT_OUT, echo=print) -> int:  # type: ignore[no-untyped-def]
    out.mkdir(parents=True, exist_ok=True)
    workbook = out / "calls.xlsx"
    workbook.write_bytes(sample_workbook())
    summary_path = out / "calls.summary.json"
    config = SandboxConfig(
        token=TOKEN, signals=("sale", "appointment"), custom=("channel", "agent")
    )
    echo("invoca-upload demo")
    echo(f"  input:    {workbook} (50 calls, written the way analysts fill the template)")
    with running_sandbox(config) as sandbox, tempfile.TemporaryDirectory() as scratch:
        echo(f"  sandbox:  {sandbox.url} (a local emulator of Invoca's Call Ingestion API)")
        echo(
            f"  command:  INVOCA_OAUTH_TOKEN={TOKEN} invoca-upload upload {workbook} "
            f"--campaign-id 85 --timezone America/Chicago --base-url {sandbox.url}\n"
        )
        summary = upload(
            workbook,
            base_url=sandbox.url,
            token=TOKEN,
            campaign_id="85",
            timezone="America/Chicago",
            rate=50,
            progress=False,
            journal=str(Path(scratch) / "journal.sqlite"),
            summary_json=str(summary_path),
        )
        stored = len(sandbox.calls())
    echo("What happened:")
    for status, count in summary.counts.items():
        if count:
            echo(f"  {status:<10} {count:>4}")
    echo(f"  the sandbox now holds {stored} calls; took {summary.elapsed_seconds:.1f} s\n")
    echo("Rows that need a look (from the results workbook):")
    sheet = openpyxl.load_workbook(summary.files["results"], read_only=True)["Results"]
    for row in sheet.iter_rows(min_row=2, values_only=True):
        if row[2] not in DELIVERED:
            echo(f"  row {row[0]} {row[1]}: {row[2]}: {row[6]}")
    for warning in summary.warnings:  # what `upload` prints, on screen too
        echo(f"warning: {warning}")
    echo("\nFiles:")
    for name, path in summary.files.items():
        echo(f"  {name:<8} {path}")
    echo(f"  summary  {summary_path}")
    echo(
        "\nThe sandbox above has stopped with the demo. To run the command yourself, start one with"
        f" `invoca-upload sandbox --token {TOKEN}` (it prints its address) and give that address"
        " as --base-url."
    )
    echo(
        "\nOpen the results workbook to see every row's Invoca call id (cuid); fix the rows in the"
    )
    echo("retry workbook and upload it again. `invoca-upload --help` lists every command.")
    return 0 if summary.exit_code in (0, 1) else summary.exit_code


if __name__ == "__main__":
    sys.exit(run_demo(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT))
