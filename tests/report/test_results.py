"""Results and retry files: contract columns, input order, no formulas, a retry file to upload."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import openpyxl
from click.testing import CliRunner

from tests.conftest import HEADER, TOKEN, call_row, upload_args, write_csv, write_xlsx
from uploader.cli import cli
from uploader.report.results import formula_safe

PAYLOADS = [
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\t=1+1",
    '\r=HYPERLINK("http://evil.example","x")',
]


def upload(path: Path, sandbox, *args: str):
    return CliRunner().invoke(
        cli,
        [
            "upload",
            str(path),
            "--base-url",
            sandbox.url,
            "--campaign-id",
            "85",
            "--no-progress",
            *args,
        ],
        env={"INVOCA_OAUTH_TOKEN": TOKEN},
        catch_exceptions=False,
    )


def test_formula_safe_keeps_numbers_and_phones():
    assert formula_safe("+13125550143") == "+13125550143"
    assert formula_safe("-12.5") == "-12.5"
    assert formula_safe("=1+1") == "'=1+1"
    assert formula_safe("@x") == "'@x"
    assert formula_safe("plain") == "plain"


def test_csv_outputs_carry_no_formula_and_the_retry_file_uploads(tmp_path, sandbox):
    rows = [call_row(f"p{i}", **{"custom:note": payload}) for i, payload in enumerate(PAYLOADS)]
    rows.append(call_row("bad", start_time="=NOW()", **{"custom:note": "=1+2"}))
    path = write_csv(tmp_path / "evil.csv", rows)
    result = upload(path, sandbox, "--journal", str(tmp_path / "j.sqlite"))
    assert result.exit_code == 1
    for name in ("evil.results.csv", "evil.retry.csv"):
        with (tmp_path / name).open(encoding="utf-8-sig", newline="") as stream:
            for row in csv.reader(stream):
                for cell in row:
                    assert not cell.startswith(("=", "@", "\t", "\r")) and not (
                        cell.startswith(("+", "-")) and not cell[1:].replace(".", "").isdigit()
                    ), cell
    notes = {c["id"]: c["body"]["custom_data"][0]["value"] for c in sandbox.calls()}
    assert (
        notes["p0"] == PAYLOADS[0] and notes["p4"] == "=1+1"
    )  # sent as the analyst wrote it (trimmed)
    # fix the bad row in the retry file and upload it: the apostrophes come off again
    retry = tmp_path / "evil.retry.csv"
    text = retry.read_text(encoding="utf-8-sig").replace("'=NOW()", "2024-03-05T10:00:00Z")
    retry.write_text(text, encoding="utf-8-sig")
    result = upload(retry, sandbox, "--journal", str(tmp_path / "j.sqlite"))
    assert result.exit_code == 0, result.output
    assert {c["id"]: c["body"]["custom_data"][0]["value"] for c in sandbox.calls()}["bad"] == "=1+2"


def test_xlsx_results_typed_coloured_commented_with_summary(tmp_path, sandbox):
    rows = [
        HEADER + ["custom:note"],
        [
            "x1",
            dt.datetime(2024, 3, 5, 14, 3, 27),
            "3125550143",
            8885551212,
            "inbound",
            "https://r.example.com/1",
            "=1+2",
        ],
        [
            "x2",
            "2024-03-05T14:03:27Z",
            "not a phone",
            "8885551212",
            "inbound",
            "https://r.example.com/2",
            "ok",
        ],
    ]
    path = write_xlsx(tmp_path / "book.xlsx", rows)
    typed = openpyxl.load_workbook(path)  # "=1+2" typed as text (openpyxl wrote a formula)
    typed.active.cell(row=2, column=len(HEADER) + 1).data_type = "s"
    typed.save(path)
    result = upload(path, sandbox, "--journal", str(tmp_path / "j.sqlite"))
    assert result.exit_code == 1
    book = openpyxl.load_workbook(tmp_path / "book.results.xlsx")
    sheet = book["Results"]
    header = [c.value for c in sheet[1]]
    assert header[:7] == [
        "row",
        "external_call_unique_id",
        "status",
        "cuid",
        "http_status",
        "attempts",
        "error",
    ]
    assert header[7:10] == [
        "sent start_time",
        "sent calling_phone_number",
        "sent destination_phone_number",
    ]
    assert sheet["H2"].value == "2024/03/05 02:03:27 PM" and sheet["H3"].value is None
    # the input's own columns follow, one repeating a results column's name marked as the input's
    assert header[10:] == ["external_call_unique_id (input)", *rows[0][1:]]
    own = 10  # columns before the input's own
    # an xlsx input's cells come back as they were typed: a date stays a date, a number a number
    assert sheet.cell(row=2, column=own + 2).value == dt.datetime(2024, 3, 5, 14, 3, 27)
    assert sheet.cell(row=2, column=own + HEADER.index("destination_phone_number") + 1).value == (
        8885551212
    )
    assert sheet.auto_filter.ref and sheet.freeze_panes == "A2"
    assert sheet["C2"].value == "created" and sheet["C2"].fill.fgColor.rgb.endswith("C6EFCE")
    assert sheet["C3"].value == "invalid" and sheet["C3"].fill.fgColor.rgb.endswith("FFC7CE")
    phone = sheet.cell(row=3, column=own + HEADER.index("calling_phone_number") + 1)
    assert (
        phone.value == "not a phone"
        and phone.comment is not None
        and "not a phone number" in phone.comment.text
    )
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
    note = sheet.cell(row=2, column=own + 1 + len(HEADER))
    assert note.value == "=1+2" and note.data_type == "s"  # kept as the text it was
    summary = {r[0].value: r[1].value for r in book["Summary"].iter_rows()}
    assert summary["created"] == 1 and summary["invalid"] == 1
    assert sheet.cell(row=2, column=own + 1 + HEADER.index("start_time")).value == dt.datetime(
        2024, 3, 5, 14, 3, 27
    )
    assert (
        sheet.cell(row=2, column=own + 1 + HEADER.index("destination_phone_number")).value
        == 8885551212
    )
    retry = openpyxl.load_workbook(tmp_path / "book.retry.xlsx").active
    assert [c.value for c in retry[1]] == rows[0] + ["source row", "error"]
    assert retry["C2"].value == "not a phone" and retry.max_row == 2
    assert retry.cell(row=2, column=len(rows[0]) + 1).value == 3  # where it came from


def test_a_csv_run_never_loads_openpyxl(tmp_path):
    """Its import is a tenth of a second of every nightly run's start: only workbooks need it."""
    import subprocess
    import sys

    path = write_csv(tmp_path / "c.csv", [call_row("a")])
    probe = (
        "import sys; from uploader import upload; "
        f"upload({str(path)!r}, dry_run=True, campaign_id='85', progress=False); "
        "print('openpyxl' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False", done.stderr
    assert (tmp_path / "c.results.csv").exists()


def test_a_clean_rerun_removes_its_own_stale_retry_file_and_never_another(tmp_path, sandbox):
    from tests.test_upload import run_cli

    journal = tmp_path / "j.sqlite"
    path = write_csv(tmp_path / "calls.csv", [call_row("r1"), call_row("r2")])
    retry = tmp_path / "calls.retry.csv"
    down = upload_args(path, "http://127.0.0.1:9", journal)
    assert run_cli(*down, "--max-retries", "1", "--rate", "0").exit_code == 3
    assert retry.exists()  # the rows not sent, to send again
    result = run_cli(*upload_args(path, sandbox.url, journal))
    assert result.exit_code == 0 and not retry.exists(), result.output
    assert "retry" in result.output  # said on screen
    retry.write_text("my own notes\n")  # a file of the same name the tool did not write
    assert run_cli(*upload_args(path, sandbox.url, journal)).exit_code == 0
    assert retry.read_text() == "my own notes\n"


def test_a_formula_in_a_header_is_written_as_text_in_every_output(tmp_path, sandbox):
    """Headers are cells too: a column named like a formula comes back in the results, retry and
    errors files (CSV and workbook) as text, never as a formula a spreadsheet would run."""
    evil = '=HYPERLINK("http://evil.example","x")'
    rows = [{**call_row("h1"), evil: "kept"}, {**call_row("h2", start_time="never"), evil: "x"}]
    path = write_csv(tmp_path / "heads.csv", rows)
    result = upload(path, sandbox, "--journal", str(tmp_path / "j.sqlite"))
    assert result.exit_code == 1, result.output
    for name in ("heads.results.csv", "heads.retry.csv"):
        with (tmp_path / name).open(encoding="utf-8-sig", newline="") as stream:
            header = next(csv.reader(stream))
        assert "'" + evil in header and evil not in header, (name, header)
    book_path = write_xlsx(
        tmp_path / "heads.xlsx", [[*HEADER, evil], [*call_row("h3").values(), "k"]]
    )
    typed = openpyxl.load_workbook(book_path)  # the header typed as text (openpyxl wrote a formula)
    typed.active.cell(row=1, column=len(HEADER) + 1).data_type = "s"
    typed.save(book_path)
    result = upload(book_path, sandbox, "--journal", str(tmp_path / "j.sqlite"))
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "heads.results.xlsx")
    cells = [cell for sheet in book.worksheets for row in sheet.iter_rows() for cell in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert any(c.value == evil for c in cells)  # kept, as text


def test_outputs_get_the_permissions_a_new_file_would(tmp_path):
    """Outputs are written to a temporary file and renamed into place; they end with the mode a
    file made by `open` would have under the user's umask (not the temporary file's 0600, not
    world-writable)."""
    import os
    import stat

    from uploader import upload

    for umask, expected in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        folder = tmp_path / f"u{umask:o}"
        folder.mkdir()
        path = write_csv(folder / "c.csv", [call_row("p1"), call_row("p2", start_time="never")])
        previous = os.umask(umask)
        try:
            upload(path, dry_run=True, campaign_id="85", progress=False)
        finally:
            os.umask(previous)
        for name in ("c.results.csv", "c.retry.csv", "c.requests.jsonl"):
            mode = stat.S_IMODE((folder / name).stat().st_mode)
            assert mode == expected, (name, oct(umask), oct(mode))
