"""The profile language on exports the tool has no profile for (#32): a report's title and totals
rows, a zone per row, ids and other fields built from columns, the header row named."""

from __future__ import annotations

import csv
import json

from click.testing import CliRunner

from tests.conftest import HEADER, call_row, write_xlsx
from uploader.cli import cli


def dry_bodies(path, *args: str):
    """A dry run through the command line, and the request bodies it would send."""
    result = CliRunner().invoke(
        cli, ["upload", str(path), "--dry-run", "--campaign-id", "85", "--no-progress", *args]
    )
    requests = path.with_name(path.name.split(".")[0] + ".requests.jsonl")
    bodies = (
        [json.loads(line) for line in requests.read_text().splitlines()]
        if requests.exists()
        else []
    )
    return result, bodies


def results_of(path, delimiter: str = ","):
    stem = path.name.split(".")[0]
    with path.with_name(stem + ".results.csv").open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream, delimiter=delimiter))


REPORT = (
    "Inbound call report,,,,,,\n"
    '"Generated 30 Nov 2026, all sites",,,,,,\n'
    ",,,,,,\n"
    + ",".join(HEADER)
    + "\n"
    + "".join(",".join(call_row(f"r{i}").values()) + "\n" for i in range(3))
    + "Subtotal,3,,,,,\n"
    + ",,,,,,\n"
    + "Grand total:,3,,,,,\n"
    + ",,,,12,00:31:07,\n"
)


def test_a_report_with_title_and_totals_rows_reads_as_downloaded(tmp_path):
    path = tmp_path / "report.csv"
    path.write_text(REPORT)
    result, bodies = dry_bodies(path)
    assert result.exit_code == 0, result.output
    assert [b["call"]["external_call_unique_id"] for b in bodies] == ["r0", "r1", "r2"]
    assert "2 rows above the header" in result.output
    rows = results_of(path)
    assert [r["row"] for r in rows] == ["5", "6", "7", "8", "10", "11"]  # the file's own lines
    totals = [r for r in rows if r["status"] == "skipped"]
    assert len(totals) == 3 and all("totals row" in r["error"] for r in totals)


def test_the_same_report_as_a_workbook(tmp_path):
    lines = list(csv.reader(REPORT.splitlines()))
    path = write_xlsx(tmp_path / "report.xlsx", lines)
    result, bodies = dry_bodies(path)
    assert result.exit_code == 0, result.output
    assert [b["call"]["external_call_unique_id"] for b in bodies] == ["r0", "r1", "r2"]
    assert "2 rows above the header" in result.output


def test_the_header_row_can_be_named_and_a_sep_line_is_excels_delimiter(tmp_path):
    path = tmp_path / "named.csv"
    path.write_text(
        "sep=;\n"
        + "\n".join(";".join(r) for r in [["x"], ["y"]])
        + "\n"
        + ";".join(HEADER)
        + "\n"
        + ";".join(call_row("n1").values())
        + "\n"
    )
    result, bodies = dry_bodies(path, "--header-row", "4")
    assert result.exit_code == 0, result.output
    assert [b["call"]["external_call_unique_id"] for b in bodies] == ["n1"]
    assert results_of(path, ";")[0]["row"] == "5"
    missing = CliRunner().invoke(cli, ["validate", str(path), "--header-row", "40"])
    assert missing.exit_code == 2 and "has no row 40" in missing.output


def test_a_call_that_merely_looks_numeric_is_never_a_totals_row(tmp_path):
    """Only a totals word, or a line with neither id nor start of only counts, is a totals row: a
    call with an id is read (and invalid if it must be), never skipped as sums."""
    rows = [
        call_row("1"),
        call_row("Total-7"),
        call_row("", start_time="", calling_phone_number="3125550100"),
        # no id, and a start that happens to look like a duration: a call with a start, not sums
        {name: "" for name in HEADER} | {"start_time": "12:30"},
    ]
    path = tmp_path / "numeric.csv"
    with path.open("w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    result, bodies = dry_bodies(path)
    statuses = [r["status"] for r in results_of(path)]
    assert statuses == ["not_sent", "not_sent", "invalid", "invalid"], statuses


SITES_PROFILE = """
name = "sites"
[columns]
external_call_unique_id = ["Call ID"]
start_time = ["Started"]
calling_phone_number = ["Caller"]
destination_phone_number = ["Line"]
timezone = ["Time Zone", "timezone"]
recording_url = ["Recording"]
[constants]
call_direction = "inbound"
"""
SITES = [  # each row's zone as multi-site exports write it, and the instant it means
    ("America/Chicago", "2024-07-05T10:00:00-05:00"),
    ("Eastern Standard Time", "2024-07-05T10:00:00-04:00"),  # Windows' name of New York's zone
    ("UTC+05:30", "2024-07-05T10:00:00+05:30"),
    ("PST", "2024-07-05T10:00:00-08:00"),  # as written: standard time, even in July
    ("ET", "2024-07-05T10:00:00-04:00"),  # the zone, summer time included
    ("US/Pacific", "2024-07-05T10:00:00-07:00"),
    ("", "2024-07-05T10:00:00+01:00"),  # none: --timezone Europe/London
]


def test_a_zone_per_row_wins_over_the_option_and_an_unknown_one_is_refused(tmp_path, sandbox):
    from tests.conftest import library_upload

    profile = tmp_path / "sites.toml"
    profile.write_text(SITES_PROFILE)
    lines = ["Call ID,Started,Caller,Line,Time Zone,Recording"]
    for index, (zone, _) in enumerate(SITES):
        lines.append(
            f"z{index},2024-07-05 10:00,312555010{index},8885551212,{zone},https://r.example.com/{index}.wav"
        )
    lines.append(
        "zx,2024-07-05 10:00,3125550199,8885551212,Mars/Olympus,https://r.example.com/x.wav"
    )
    path = tmp_path / "sites.csv"
    path.write_text("\n".join(lines) + "\n")
    summary = library_upload(
        path, sandbox.url, tmp_path / "j.sqlite", profile=str(profile), timezone="Europe/London"
    )
    sent = {c["id"]: c["body"]["call"]["start_time"] for c in sandbox.calls()}
    assert sent == {f"z{index}": instant for index, (_, instant) in enumerate(SITES)}
    refused = {r["external_call_unique_id"]: r for r in results_of(path)}["zx"]
    assert refused["status"] == "invalid" and "'Mars/Olympus'" in refused["error"]
    assert summary.exit_code == 1


CDR_PROFILE = """
name = "pbx-cdr"
[columns]
start_time = ["Start Time"]
calling_phone_number = ["CLI"]
destination_phone_number = ["DID"]
[templates]
external_call_unique_id = "pbx1-{DID}-{Start Time}"
recording_url = "https://rec.example.com/{DID}/{Start Time}.wav"
[constants]
call_direction = "inbound"
"""


def test_an_id_and_a_recording_built_from_columns(tmp_path):
    """A CDR with no call id: the profile builds one from DID and start (with a prefix that keeps
    two sources apart); the recording URL the same way, URL-quoted; a blank part leaves it blank."""
    profile = tmp_path / "cdr.toml"
    profile.write_text(CDR_PROFILE)
    path = tmp_path / "cdr.csv"
    path.write_text(
        "Start Time,CLI,DID\n2024-03-05 10:00:00,3125550100,8885551212\n,3125550101,8885551212\n"
    )
    result, bodies = dry_bodies(path, "--profile", str(profile), "--timezone", "UTC")
    assert [b["call"]["external_call_unique_id"] for b in bodies] == [
        "pbx1-8885551212-2024-03-05 10:00:00"
    ]
    assert bodies[0]["call"]["recording_url"] == (
        "https://rec.example.com/8885551212/2024-03-05%2010%3A00%3A00.wav"
    )
    assert result.exit_code == 1  # the row without a start has no id either: invalid, said so
    bad = profile.read_text().replace("{DID}-{Start", "{Trunk}-{Start")
    profile.write_text(bad)
    refused = CliRunner().invoke(
        cli, ["validate", str(path), "--profile", str(profile), "--campaign-id", "85"]
    )
    assert refused.exit_code == 2
    assert "external_call_unique_id template uses {Trunk}" in refused.output
    assert refused.output.count("\n") == 1


TEAMS = (
    "UsageId,Call ID,Caller Number,Callee Number,Call Type,Start time,Duration,Time Zone\n"
    "u1,c1,+13125550100,+18885551212,user_in,2024-03-05 10:00:00,180,America/Chicago\n"
    "u2,c1,+18885551212,+13125550101,user_out,2024-03-05 11:00:00,60,America/Chicago\n"
)


def test_a_starter_profile_for_an_unknown_export_loads_and_says_what_to_check(tmp_path):
    """`profiles new` on an export no profile knows: each guess commented with an example, the
    directions it writes mapped, a repeated id called out; the file loads and, finished with a
    recording template, describes the export (the customer of the outbound call swapped in)."""
    path = tmp_path / "teams.csv"
    path.write_text(TEAMS)
    runner = CliRunner()
    made = runner.invoke(cli, ["profiles", "new", str(path)])
    assert made.exit_code == 0, made.output
    text = (tmp_path / "teams.toml").read_text()
    assert 'from_number = ["Caller Number"]' in text and 'timezone = ["Time Zone"]' in text
    assert '"user_out" = "outbound"' in text and "REPEATS" in text
    again = runner.invoke(cli, ["profiles", "new", str(path)])
    assert again.exit_code == 2 and "--force" in again.output  # never overwritten silently
    (tmp_path / "teams.toml").write_text(
        text.replace(
            'external_call_unique_id = ["Call ID"]', 'external_call_unique_id = ["UsageId"]'
        )
    )
    result, bodies = dry_bodies(
        path,
        "--profile",
        str(tmp_path / "teams.toml"),
        "--recording-url-template",
        "https://rec.example.com/{UsageId}.wav",
    )
    assert result.exit_code == 0, result.output
    calls = {b["call"]["external_call_unique_id"]: b["call"] for b in bodies}
    assert calls["u2"]["call_direction"] == "outbound"
    assert calls["u2"]["calling_phone_number"] == "+13125550101"  # the customer
    assert calls["u1"]["start_time"] == "2024-03-05T10:00:00-06:00"  # its row's zone


def test_profiles_show_prints_a_profile_that_loads_back(tmp_path):
    import tomllib

    from uploader.check.profiles import builtin_profiles, profile_from_dict

    for name in builtin_profiles():
        shown = CliRunner().invoke(cli, ["profiles", "--show", name])
        assert shown.exit_code == 0
        assert profile_from_dict(tomllib.loads(shown.output), name).name == name
    missing = CliRunner().invoke(cli, ["profiles", "--show", "no-such"])
    assert missing.exit_code == 2 and "no-such" in missing.output


def test_the_worked_example_in_docs_profiles_does_what_it_says(tmp_path):
    """docs/profiles.md's worked example, its export and its TOML taken from the page itself, so
    that the documentation cannot drift from the code."""
    import re
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "profiles.md").read_text()
    example = doc[doc.index("## Worked example") :]
    export = re.search(r"```\n(Call detail records.*?)```", example, re.DOTALL).group(1)
    templates = re.search(r"```toml\n(.*?)```", example, re.DOTALL).group(1)
    path = tmp_path / "cdr.csv"
    path.write_text(export)
    made = CliRunner().invoke(cli, ["profiles", "new", str(path)])
    assert made.exit_code == 0, made.output
    profile = tmp_path / "cdr.toml"
    text = profile.read_text()
    for line in (
        'start_time = ["Start Time"]',
        'from_number = ["CLI"]',
        'to_number = ["DID"]',
        'timezone = ["Site TZ"]',
        'call_direction = ["Direction"]',
        '"IN" = "inbound"',
        '"OUT" = "outbound"',
    ):
        assert line in text, line
    dedented = "\n".join(line.strip() for line in templates.splitlines())
    head, _, values = text.partition("\n[values.call_direction]\n")
    profile.write_text(
        "dayfirst = true\n" + head + "\n" + dedented + "\n[values.call_direction]\n" + values
    )
    result, bodies = dry_bodies(path, "--profile", str(profile))
    assert result.exit_code == 0, result.output
    assert "1 row above the header" in result.output
    second = bodies[1]["call"]
    assert second["call_direction"] == "outbound"
    assert second["calling_phone_number"] == "+13125550101"
    assert second["start_time"] == "2024-03-05T10:05:00-05:00"
    assert bodies[0]["call"]["start_time"] == "2024-03-05T10:00:00-06:00"
    assert second["external_call_unique_id"] == "pbx1-3125550101-05/03/2024 10:05:00"
    assert [r["status"] for r in results_of(path)][-1] == "skipped"  # the totals line


def test_a_header_below_the_search_and_a_broken_template_are_one_line_errors(tmp_path):
    """A header further down than the search says how to name it; a template with an unclosed
    brace is refused when the profile loads, naming the file and key (never an internal error)."""
    path = tmp_path / "deep.csv"
    path.write_text(
        "x,y\n" * 24 + ",".join(HEADER) + "\n" + ",".join(call_row("d1").values()) + "\n"
    )
    deep = CliRunner().invoke(cli, ["validate", str(path), "--campaign-id", "85"])
    assert deep.exit_code == 2 and "--header-row N names it" in deep.output
    named = CliRunner().invoke(
        cli, ["validate", str(path), "--campaign-id", "85", "--header-row", "25"]
    )
    assert named.exit_code == 0, named.output
    profile = tmp_path / "bad.toml"
    profile.write_text(CDR_PROFILE.replace("{DID}-{Start Time}", "{DID-{Start Time}"))
    broken = CliRunner().invoke(cli, ["validate", str(path), "--profile", str(profile)])
    assert (
        broken.exit_code == 2 and "bad.toml: [templates] external_call_unique_id" in broken.output
    )
    assert "internal error" not in broken.output
