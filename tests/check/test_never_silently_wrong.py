"""Nothing sent differently from what the file meant, and every refusal named on screen."""

from __future__ import annotations

import json
import re

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import HEADER, call_row, upload_args, write_csv
from tests.test_upload import run_cli
from uploader import validate_file
from uploader.errors import InputError
from uploader.pipeline import upload


def dry_run_bodies(path, *extra: str) -> tuple[object, list[dict]]:
    result = run_cli("upload", str(path), "--dry-run", "--campaign-id", "85", *extra)
    requests = path.with_name(path.stem + ".requests.jsonl")
    bodies = (
        [json.loads(line) for line in requests.read_text().splitlines()]
        if requests.exists()
        else []
    )
    return result, bodies


def both_orders() -> list[dict[str, str]]:
    """A start time column with one date only valid day-first and one only valid month-first."""
    return [
        call_row("a", start_time="31/03/2024 10:15"),
        call_row("b", start_time="03/31/2024 10:15"),
    ]


def test_an_ambiguous_date_follows_the_day_first_date_in_its_column(tmp_path):
    rows = [
        call_row("a", start_time="05/03/2024 14:03"),
        call_row("b", start_time="31/03/2024 10:15"),
    ]
    result, bodies = dry_run_bodies(
        write_csv(tmp_path / "uk.csv", rows), "--timezone", "Europe/London"
    )
    assert result.exit_code == 0, result.output
    starts = {b["call"]["external_call_unique_id"]: b["call"]["start_time"] for b in bodies}
    assert starts == {"a": "2024-03-05T14:03:00+00:00", "b": "2024-03-31T10:15:00+01:00"}
    assert "day first" in result.output


def test_a_column_with_both_orders_is_refused_naming_two_rows(tmp_path):
    result, bodies = dry_run_bodies(write_csv(tmp_path / "mixed.csv", both_orders()))
    assert result.exit_code == 2 and bodies == []
    assert "row 2" in result.output and "row 3" in result.output


def test_an_all_ambiguous_column_is_read_month_first_and_the_summary_says_so(tmp_path):
    rows = [
        call_row("a", start_time="05/03/2024 14:03"),
        call_row("b", start_time="06/04/2024 9:00"),
    ]
    result, bodies = dry_run_bodies(
        write_csv(tmp_path / "amb.csv", rows), "--timezone", "America/Chicago"
    )
    assert bodies[0]["call"]["start_time"].startswith("2024-05-03")
    assert "2 start times like 05/03/2024" in result.output and "month first" in result.output
    result, bodies = dry_run_bodies(write_csv(tmp_path / "amb2.csv", rows), "--dayfirst")
    assert bodies[0]["call"]["start_time"].startswith("2024/03/05")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(st.integers(1, 28), st.integers(1, 12)), min_size=1, max_size=8),
    st.booleans(),
)
def test_a_date_column_is_never_read_in_two_orders(tmp_path_factory, dates, day_first_file):
    tmp = tmp_path_factory.mktemp("dates")
    text = [
        f"{d:02d}/{m:02d}/2024 10:00" if day_first_file else f"{m:02d}/{d:02d}/2024 10:00"
        for d, m in dates
    ]
    path = write_csv(tmp / "d.csv", [call_row(f"id{i}", start_time=t) for i, t in enumerate(text)])
    summary = upload(path, dry_run=True, campaign_id="85", progress=False)
    bodies = [json.loads(line) for line in (tmp / "d.requests.jsonl").read_text().splitlines()]
    read = [
        tuple(int(x) for x in b["call"]["start_time"][5:10].split("/")) for b in bodies
    ]  # (month, day)
    as_written = [(m, d) for d, m in dates]
    swapped = [(d, m) for d, m in dates]
    assert summary.exit_code == 0
    assert read in (as_written, swapped)  # one order for the whole column
    if any(d > 12 for d, _ in dates):
        assert read == as_written  # the unambiguous value decides


def test_withheld_numbers_are_invalid_with_their_reason(tmp_path):
    """Twilio's keypad spelling of ANONYMOUS has the shape of E.164: it must not go out as a number.
    In the template it is invalid with its reason; a vendor profile skips it (test_profiles)."""
    rows = [
        call_row("t", calling_phone_number="+266696687"),
        call_row("a", calling_phone_number="Anonymous"),
    ]
    summary = validate_file(write_csv(tmp_path / "w.csv", rows), campaign_id="85", progress=False)
    assert summary.counts["invalid"] == 2
    reasons = [p["reason"] for p in summary.problems["first"]]
    assert reasons == ["the caller's number was withheld"] * 2


def test_national_numbers_follow_the_country(tmp_path):
    rows = [call_row("uk", calling_phone_number="020 7183 8750")]
    result, bodies = dry_run_bodies(write_csv(tmp_path / "uk.csv", rows))
    assert result.exit_code == 1 and "--country" in result.output
    result, bodies = dry_run_bodies(write_csv(tmp_path / "uk2.csv", rows), "--country", "GB")
    assert result.exit_code == 0 and bodies[0]["call"]["calling_phone_number"] == "+442071838750"


def test_a_missing_recording_names_both_columns_and_marks_both_cells(tmp_path):
    import openpyxl

    rows = [{**call_row("n1"), "recording_url": ""}]
    header = [*HEADER, "recording_filename"]
    book = openpyxl.Workbook()
    book.active.append(header)
    book.active.append([rows[0].get(h, "") or None for h in header])
    path = tmp_path / "t.xlsx"
    book.save(path)
    result = run_cli("upload", str(path), "--dry-run", "--campaign-id", "85")
    assert "recording_url or recording_filename" in result.output and "row 2" in result.output
    sheet = openpyxl.load_workbook(tmp_path / "t.results.xlsx")["Results"]
    marked = [cell.column_letter for cell in sheet[2] if cell.fill.fgColor.rgb.endswith("FFC7CE")]
    columns = {sheet.cell(1, openpyxl.utils.column_index_from_string(c)).value for c in marked}
    assert {"recording_url", "recording_filename"} <= columns


def test_validate_prints_the_first_problems_and_how_many_more(tmp_path):
    rows = [call_row(f"b{i}", calling_phone_number="12") for i in range(14)]
    result = run_cli("validate", str(write_csv(tmp_path / "bad.csv", rows)), "--campaign-id", "85")
    assert result.exit_code == 1
    assert "row 2, calling_phone_number: '12' is too short" in result.output
    assert "and 4 more in" in result.output and "bad.errors.csv" in result.output


def test_a_wrong_campaign_is_named_on_screen(tmp_path, sandbox, calls):
    # the last --campaign-id on the line wins, as click reads options
    args = upload_args(calls(2), sandbox.url, tmp_path / "j.sqlite")
    result = run_cli(*args, "--campaign-id", "999")
    assert result.exit_code == 1
    assert "UnauthorizedAdvertiser" in result.output and "campaign 999" in result.output
    assert "row 2: 'call-0' rejected: UnauthorizedAdvertiser" in result.output  # each row named
    assert re.search(r"rejected\s+2\n", result.output)


def test_help_examples_carry_the_options_they_need():
    for command in ("upload", "validate"):
        result = run_cli(command, "--help")
        examples = result.output.split("Examples:")[1].split("\n\n")[0]
        for line in examples.splitlines():
            if f"invoca-upload {command} " in line and "--dry-run" not in line:
                assert "--campaign-id" in line or "\\" in line, line


def test_mixed_orders_raise_for_library_callers(tmp_path):
    with pytest.raises(InputError, match="mixes date orders"):
        validate_file(
            write_csv(tmp_path / "m.csv", both_orders()), campaign_id="85", progress=False
        )


def test_a_date_in_other_digits_is_invalid_not_a_crash(tmp_path):
    rows = [call_row("ar", start_time="١٢/٠٣/2024 10:00"), call_row("ok")]
    summary = validate_file(write_csv(tmp_path / "ar.csv", rows), campaign_id="85", progress=False)
    assert summary.counts == {"valid": 1, "invalid": 1, "skipped": 0}
    assert summary.problems["first"][0]["column"] == "start_time"


def test_an_excel_column_is_decided_from_its_text_dates_too(tmp_path):
    """The first pass walks the loaded sheet again, from the first data row."""
    import openpyxl

    header = list(call_row("x"))
    book = openpyxl.Workbook()
    book.active.append(["Calls exported 2024-04-01"])  # a title row before the header
    book.active.append(header)
    book.active.append(list(call_row("b", start_time="31/03/2024 10:15").values()))
    book.active.append(list(call_row("a", start_time="05/03/2024 14:03").values()))
    path = tmp_path / "uk.xlsx"
    book.save(path)
    result, bodies = dry_run_bodies(path, "--timezone", "Europe/London")
    assert result.exit_code == 0, result.output
    starts = {b["call"]["external_call_unique_id"]: b["call"]["start_time"] for b in bodies}
    assert starts == {"a": "2024-03-05T14:03:00+00:00", "b": "2024-03-31T10:15:00+01:00"}


# ---------------------------------------------------------------- the seams (#29)


def test_a_day_first_region_reads_an_all_ambiguous_column_day_first_across_chunks(tmp_path):
    """A Spanish export (`;`, cp1252, --country ES) whose dates are all ambiguous: 2 June, not
    6 February, in every chunk; the screen names the order used, how many rows, and why."""
    rows = [call_row(f"es{i}", start_time=f"02/06/2025 1{i}:00") for i in range(5)]
    rows[0]["destination_phone_number"] = "912 345 678"
    rows[0]["calling_phone_number"] = "600 123 456"
    path = write_csv(tmp_path / "llamadas.csv", rows, delimiter=";", encoding="cp1252")
    result, bodies = dry_run_bodies(path, "--country", "ES", "--timezone", "Europe/Madrid")
    assert result.exit_code == 0, result.output
    assert [b["call"]["start_time"][:10] for b in bodies] == ["2025-06-02"] * 5
    assert bodies[0]["call"]["calling_phone_number"] == "+34600123456"
    warning = next(line for line in result.output.splitlines() if "read day first" in line)
    assert re.search(r"5 start times .*region ES", warning) and "--dayfirst" not in warning
    summary = upload(
        path, dry_run=True, chunk_size=2, country="ES", timezone="Europe/Madrid", campaign_id="85"
    )
    requests = path.with_name("llamadas.requests.jsonl").read_text().splitlines()
    assert summary.exit_code == 0 and len(requests) == 5  # chunks of 2: one decision for all
    assert all('"start_time":"2025-06-02' in line for line in requests)


def test_the_date_order_hint_never_asks_for_an_option_already_given(tmp_path):
    rows = [call_row(f"d{i}", start_time=f"02/06/2025 1{i}:00") for i in range(3)]
    path = write_csv(tmp_path / "c.csv", rows)
    result, bodies = dry_run_bodies(path, "--dayfirst")
    assert [b["call"]["start_time"][:10] for b in bodies] == ["2025/06/02"] * 3
    assert "pass --dayfirst" not in result.output
    result, bodies = dry_run_bodies(path)  # the default region, US: month first, said so
    assert [b["call"]["start_time"][:10] for b in bodies] == ["2025/02/06"] * 3
    assert re.search(r"3 start times .* read month first .*region US.*--dayfirst", result.output)


@pytest.mark.parametrize(
    "start",
    [
        "2024-03-05 10:75",
        "3/5/2024 25:10",
        "2024-03-05 24:00",
        "2024-03-05 10:15:60",
        "2024-03-05T10:75:00Z",
        "2024/03/05 23:59:99",
        "05/03/2024 10:61 PM",
        "Tue, 05 Mar 2024 10:75:00 +0000",
    ],
)
def test_an_impossible_clock_time_is_refused_never_rolled_over(tmp_path, start):
    path = write_csv(tmp_path / "c.csv", [call_row("t", start_time=start)])
    result, bodies = dry_run_bodies(path, "--timezone", "UTC")
    assert result.exit_code == 1 and bodies == [], (start, bodies)
    problems = (tmp_path / "c.results.csv").read_text()
    assert "start_time" in problems


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hour=st.integers(0, 99),
    minute=st.integers(0, 99),
    second=st.integers(0, 99),
    form=st.sampled_from(
        [
            "2024-03-05 {h:02d}:{m:02d}:{s:02d}",
            "2024-03-05T{h:02d}:{m:02d}:{s:02d}Z",
            "3/5/2024 {h}:{m:02d}",
            "2024/03/05 {h:02d}:{m:02d}",
            "05.03.2024 {h:02d}:{m:02d}:{s:02d}",
            "2024-03-05 {h:02d}:{m:02d}:{s:02d}.250",
        ]
    ),
)
def test_every_start_time_reader_keeps_the_clock_it_was_given(tmp_path, hour, minute, second, form):
    """Fuzzed over each reader's forms: a time is read with its own hour, minute and second, or
    refused; nothing rolls over into the next minute, hour or day."""
    import pandas as pd

    from uploader.check.times import TimeOptions
    from uploader.check.times import normalize_start_times as read

    text = form.format(h=hour, m=minute, s=second)
    result = read(pd.Series([text], dtype="string"), TimeOptions(timezone="UTC"))
    sent = result.values.iloc[0]
    if pd.isna(result.reasons.iloc[0]) and sent != text:
        shown_second = second if "{s" in form else 0
        assert sent[11:19] == f"{hour:02d}:{minute:02d}:{shown_second:02d}", (text, sent)
    else:
        assert hour > 23 or minute > 59 or ("{s" in form and second > 59), (text, sent)


def test_validate_writes_an_errors_file_only_for_errors_and_reasons_quote_80_characters(tmp_path):
    """spec/cli.md: `<stem>.errors.csv` when there are errors; a reason never repeats a huge
    value whole (the cell is beside it in the file)."""
    path = write_csv(tmp_path / "clean.csv", [call_row("a"), call_row("b")])
    summary = validate_file(path, campaign_id="85")
    assert summary.exit_code == 0 and not (tmp_path / "clean.errors.csv").exists()
    assert "errors" not in summary.files
    rec = "https://rec.example.com/1.wav"
    long = write_csv(tmp_path / "long.csv", [call_row("x" * 10_000, recording_url=rec)])
    result, _ = dry_run_bodies(long)
    import csv

    with (tmp_path / "long.results.csv").open(encoding="utf-8-sig", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    quoted = '"' + "x" * 79 + '…"'
    assert row["error"] == f"external_call_unique_id: {quoted} is longer than 255 characters"


def test_excel_damage_to_long_ids_is_decided_per_column_across_the_file(tmp_path):
    """A vendor's 16-digit ids end in 0 about one time in ten: valid. Excel's damage zeroes every
    long id past the 15th digit: a column whose long ids all end in zeros is refused, whatever
    chunk each row falls in."""
    genuine = [f"81234567890123{i:02d}" for i in range(10, 21)]  # one ends in 0, others not
    rows = [call_row(identifier) for identifier in genuine]
    path = write_csv(tmp_path / "vendor.csv", rows)
    summary = upload(path, dry_run=True, chunk_size=2, campaign_id="85")
    assert summary.counts["invalid"] == 0 and summary.counts["not_sent"] == len(genuine)
    damaged = [call_row(f"81234567890123{i}0") for i in range(4)] + [call_row("CALL-1")]
    path = write_csv(tmp_path / "pasted.csv", damaged)
    summary = upload(path, dry_run=True, chunk_size=2, campaign_id="85")
    assert summary.counts["invalid"] == 4 and summary.counts["not_sent"] == 1
    results = (tmp_path / "pasted.results.csv").read_text(encoding="utf-8-sig")
    assert "lost digits past Excel's 15-digit limit" in results


def test_validate_counts_each_row_once_by_what_became_of_it(tmp_path):
    """Valid, invalid and skipped add up to the rows read: no row in two counts or none."""
    rows = [call_row("v1"), call_row("v2"), call_row("bad", calling_phone_number="12")]
    rows.append(call_row("v3"))
    rows.append({name: "" for name in rows[0]} | {"external_call_unique_id": "Total"})
    summary = validate_file(write_csv(tmp_path / "counted.csv", rows), campaign_id="85")
    assert (summary.counts["valid"], summary.counts["invalid"], summary.counts["skipped"]) == (
        3,
        1,
        1,
    )
