"""The analyst's loop in Excel, through openpyxl: template -> filled -> upload -> results ->
retry -> edited -> upload again. Each turn keeps what the first gave: text formats (a long id
stays text), drop-downs, header comments, and row references the analyst can follow."""

from __future__ import annotations

import datetime as dt

import openpyxl
from click.testing import CliRunner

from tests.conftest import TOKEN, upload_args
from uploader.cli import cli

LONG_ID = "6530000000000017"  # 16 digits: as a number Excel would keep 15 of them


def run(path, sandbox, journal):
    return CliRunner().invoke(
        cli, upload_args(path, sandbox.url, journal), env={"INVOCA_OAUTH_TOKEN": TOKEN}
    )


def test_template_to_retry_and_back_keeps_formats_drop_downs_and_row_references(tmp_path, sandbox):
    path = tmp_path / "calls.xlsx"
    made = CliRunner().invoke(cli, ["template", str(path), "--signal", "sale"])
    assert made.exit_code == 0, made.output
    book = openpyxl.load_workbook(path)
    sheet = book["Calls"]
    header = [cell.value for cell in sheet[1]]
    rows = [
        ["C-1", dt.datetime(2024, 3, 5, 9, 30), "3125550143", "8885551212", "inbound"],
        ["C-2", dt.datetime(2024, 3, 5, 9, 40), "312555", "8885551212", "inbound"],  # bad phone
        [LONG_ID, dt.datetime(2024, 3, 5, 9, 50), "3125550144", "8885551212", "outbound"],
        ["C-1", dt.datetime(2024, 3, 5, 10, 0), "3125550145", "8885551212", "inbound"],  # repeat
    ]
    for values in rows:
        cells = dict(zip(header, values + [None] * (len(header) - len(values)), strict=True))
        cells["recording_url"] = f"https://rec.example.com/{values[0]}.wav"
        cells["signal:sale"] = "Y"
        sheet.append([cells[name] for name in header])
    book.save(path)
    journal = tmp_path / "j.sqlite"
    first = run(path, sandbox, journal)
    assert first.exit_code == 1, first.output
    assert {c["id"] for c in sandbox.calls()} == {"C-1", LONG_ID}

    retry_path = tmp_path / "calls.retry.xlsx"
    retry_book = openpyxl.load_workbook(retry_path)
    retry = retry_book.active
    retry_header = [cell.value for cell in retry[1]]
    assert retry_header == [*header, "source row", "error"]
    records = [
        dict(zip(retry_header, (c.value for c in row), strict=True))
        for row in retry.iter_rows(min_row=2)
    ]
    assert [r["source row"] for r in records] == [3, 5]  # where each came from in calls.xlsx
    # "the same id as row 2": row 2 of calls.xlsx (it went in), not row 2 of the retry file
    assert "as row 2 of calls.xlsx" in records[1]["error"], records[1]["error"]
    # the template's help survives: text formats, drop-downs, header comments
    column = {name: index + 1 for index, name in enumerate(retry_header)}
    id_cell = retry.cell(row=2, column=column["external_call_unique_id"])
    assert id_cell.number_format == "@"
    assert retry.cell(row=1, column=column["call_direction"]).comment is not None
    lists = {str(v.sqref): v.formula1 for v in retry.data_validations.dataValidation}
    letter = openpyxl.utils.get_column_letter(column["call_direction"])
    assert any(ref.startswith(f"{letter}2:") for ref in lists), lists
    signal = openpyxl.utils.get_column_letter(column["signal:sale"])
    assert any(ref.startswith(f"{signal}2:") and "Y" in formula for ref, formula in lists.items())

    # the analyst fixes the rows in the retry file (a new id for the repeat) and uploads it
    retry.cell(row=2, column=column["calling_phone_number"]).value = "(312) 555-0146"
    retry.cell(row=3, column=column["external_call_unique_id"]).value = "C-4"
    retry_book.save(retry_path)
    edited = retry_path.read_bytes()
    # ...but first runs the original file again: the edited retry file is never overwritten
    again = run(path, sandbox, journal)
    assert again.exit_code == 1
    assert retry_path.read_bytes() == edited
    assert (tmp_path / "calls.retry-2.xlsx").exists() and "was changed since" in again.output
    fixed = run(retry_path, sandbox, journal)
    assert fixed.exit_code == 0, fixed.output
    assert "columns not sent" not in fixed.output  # the retry file's own columns are not data
    assert {c["id"] for c in sandbox.calls()} == {"C-1", "C-2", LONG_ID, "C-4"}
