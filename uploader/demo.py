"""`make demo`: start the sandbox, upload sample_data/calls.xlsx to it, show what happened."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import openpyxl

from uploader import upload
from uploader.sandbox import SandboxConfig
from uploader.sandbox.background import running_sandbox

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "calls.xlsx"
OUT = ROOT / "out"
TOKEN = "demo-token"  # noqa: S105 - the sandbox's own token, not a secret


def main() -> int:
    OUT.mkdir(exist_ok=True)
    workbook = Path(shutil.copy(SAMPLE, OUT / "calls.xlsx"))
    config = SandboxConfig(
        token=TOKEN, signals=("sale", "appointment"), custom=("channel", "agent")
    )
    print("invoca-upload demo")
    print(f"  input:    {workbook.relative_to(ROOT)} (50 calls; two have mistakes on purpose)")
    with running_sandbox(config) as sandbox, tempfile.TemporaryDirectory() as scratch:
        print(f"  sandbox:  {sandbox.url} (a local emulator of Invoca's Call Ingestion API)")
        print(
            f"  command:  invoca-upload upload {workbook.relative_to(ROOT)} --campaign-id 85 "
            f"--timezone America/Chicago --base-url {sandbox.url}\n"
        )
        summary = upload(
            workbook,
            base_url=sandbox.url,
            token=TOKEN,
            campaign_id="85",
            timezone="America/Chicago",
            rate=50,
            journal=str(Path(scratch) / "journal.sqlite"),
            summary_json=str(OUT / "calls.summary.json"),
        )
        stored = len(sandbox.calls())
    counts = {status: count for status, count in summary.counts.items() if count}
    print("What happened:")
    for status, count in counts.items():
        print(f"  {status:<10} {count:>4}")
    print(f"  the sandbox now holds {stored} calls; took {summary.elapsed_seconds:.1f} s\n")
    results = Path(summary.files["results"])
    print("Rows that need a look (from the results workbook):")
    sheet = openpyxl.load_workbook(results, read_only=True)["Results"]
    for row in sheet.iter_rows(min_row=2, values_only=True):
        if row[2] not in ("created", "already_received", "already_uploaded"):
            print(f"  row {row[0]} {row[1]}: {row[2]}: {row[6]}")
    print("\nFiles:")
    for name, path in summary.files.items():
        print(f"  {name:<8} {Path(path).relative_to(ROOT)}")
    print(f"  summary  {(OUT / 'calls.summary.json').relative_to(ROOT)}")
    print(
        "\nOpen the results workbook to see every row's Invoca call id (cuid); fix the rows in the"
    )
    print("retry workbook and upload it again. `invoca-upload --help` lists every command.")
    return 0 if summary.exit_code in (0, 1) else summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
