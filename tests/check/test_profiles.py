"""Each built-in profile uploads its sample export to the sandbox; every request body is checked."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import TOKEN, call_row, upload_args, write_csv
from uploader.check.profiles import builtin_profiles, load_profile, profile_from_dict
from uploader.cli import cli
from uploader.errors import ConfigError
from uploader.pipeline import validate_file

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = ROOT / "tests" / "expected"
# Each sample in sample_data/ is one vendor layout (`<profile>[-<layout>].csv`), written from the
# vendor's header line and value forms (sources in each profile's TOML). Its expected file names
# every row's status and reason and the exact body sent. --timezone is passed where the format's
# own UTC columns must not move.
OPTIONS = {
    "twilio": [
        "--recording-url-template",
        "https://api.twilio.com/2010-04-01/Accounts/AC123/Recordings/{RecordingSid}.mp3",
    ],
    "five9": [
        "--timezone",
        "America/Chicago",
        "--recording-url-template",
        "https://rec.example.com/five9/{CALL ID}.wav",
    ],
    "amazon_connect": ["--timezone", "America/New_York"],
    "aircall": ["--timezone", "America/Chicago"],
    "zoom": ["--recording-url-template", "https://zoom.example.com/rec/{call_id}"],
    "zoom-call-logs": ["--recording-url-template", "https://zoom.example.com/rec/{recording_id}"],
}
SAMPLES = sorted(path.stem for path in (ROOT / "sample_data").glob("*.csv"))


def test_every_builtin_profile_has_a_sample_and_a_test():
    assert set(builtin_profiles()) == {stem.split("-")[0] for stem in SAMPLES} | {"invoca"}
    assert {path.stem for path in EXPECTED.glob("*.jsonl")} == set(SAMPLES)


@pytest.mark.parametrize("sample", SAMPLES)
def test_profile_sample_uploads_exactly_the_expected_calls(sample, tmp_path, sandbox):
    path = shutil.copy(ROOT / "sample_data" / f"{sample}.csv", tmp_path / f"{sample}.csv")
    result = CliRunner().invoke(
        cli,
        [
            *upload_args(path, sandbox.url, tmp_path / "j.sqlite"),
            "--profile",
            sample.split("-")[0],
            "--no-progress",
            *OPTIONS.get(sample, []),
        ],
        env={"INVOCA_OAUTH_TOKEN": TOKEN},
    )
    assert result.exit_code in (0, 1), result.output
    with open(tmp_path / f"{sample}.results.csv", encoding="utf-8-sig", newline="") as results:
        rows = list(csv.DictReader(results))
    stored = {call["id"]: call["body"] for call in sandbox.calls()}
    got = [
        {
            "row": int(row["row"]),
            "status": row["status"],
            "error": "" if row["status"] == "created" else row["error"],
            "body": stored.get(row["external_call_unique_id"])
            if row["status"] == "created"
            else None,
        }
        for row in rows
    ]
    expected = [
        json.loads(line) for line in (EXPECTED / f"{sample}.jsonl").read_text().splitlines()
    ]
    assert got == expected
    assert len(stored) == sum(row["status"] == "created" for row in expected)


def test_user_profile_file_and_its_mistakes(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'description = "ours"\n[columns]\nexternal_call_unique_id = "Call"\nstart_time = ["When"]\n'
    )
    assert load_profile(str(path)).columns["external_call_unique_id"] == ["Call"]
    for bad, message in [
        ({"colums": {}}, "unknown key"),
        ({"columns": {"phone": ["x"]}}, "not a call field"),
        ({"columns": {"start_time": 3}}, "header or a list"),
        ({"skip": [{"column": "x"}]}, "[[skip]]"),
        ({"skip": [{"column": "x", "values": ["a"]}]}, "needs a reason"),
        (
            {"skip": [{"reason": "r", "column": "x", "blank": True, "values": ["a"]}]},
            "one of values",
        ),
        (
            {"skip": [{"reason": "r", "when": [{"column": "x", "pattern": "("}]}]},
            "not a pattern this tool runs",
        ),
        ({"zones": {"When": "Mars/Base"}}, "not a time zone"),
        ({"extract": {"start_time": "no group"}}, "exactly one"),
        ({"legs": {"parents": "x"}}, "[legs] takes"),
    ]:
        with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
            profile_from_dict(bad, "mine.toml")
    with pytest.raises(ConfigError, match="neither a built-in profile"):
        load_profile("no-such-profile")
    (tmp_path / "broken.toml").write_text("[columns\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profile(str(tmp_path / "broken.toml"))


def test_headers_match_ignoring_case_spaces_dots_and_underscores(tmp_path):
    path = tmp_path / "rc.csv"
    path.write_text(
        "ID,Start Time,From Phone Number,TO_PHONENUMBER,Direction,Recording Content Uri\n"
        "a1,2021-11-05T08:33:26Z,+12125550101,+18885551212,Inbound,https://r.example.com/1\n"
    )
    result = CliRunner().invoke(
        cli, ["validate", str(path), "--profile", "ringcentral", "--campaign-id", "85"]
    )
    assert result.exit_code == 0, result.output


def test_template_placeholder_must_name_a_column(tmp_path):
    sample = shutil.copy(ROOT / "sample_data" / "twilio.csv", tmp_path / "t.csv")
    result = CliRunner().invoke(
        cli,
        [
            "validate",
            str(sample),
            "--profile",
            "twilio",
            "--campaign-id",
            "85",
            "--recording-url-template",
            "https://x.example.com/{Nope}.mp3",
        ],
    )
    assert result.exit_code == 2 and "{Nope}" in result.output


def test_profiles_command_lists_them_all():
    result = CliRunner().invoke(cli, ["profiles"])
    assert result.exit_code == 0
    assert all(name in result.output for name in builtin_profiles())


def test_the_readme_profile_example_works(tmp_path):
    readme = (ROOT / "README.md").read_text()
    block = readme.split('```toml\nname = "my-pbx"', 1)[1].split("```", 1)[0]
    profile = tmp_path / "my-pbx.toml"
    profile.write_text('name = "my-pbx"' + block)
    export = tmp_path / "pbx.csv"
    export.write_text(
        "Started,Caller,Dialled,Dir,Site TZ,Type\n"
        "2024-03-05 14:03:27,+442071838750,+18885551212,IN,,External\n"
        "2024-03-05 15:00:00,+18885551212,+442071838751,OUT,America/New_York,External\n"
        "2024-03-05 16:00:00,+18885551212,+18885551213,IN,,Internal\n"
    )
    result = CliRunner().invoke(
        cli, ["upload", str(export), "--profile", str(profile), "--dry-run", "--campaign-id", "85"]
    )
    assert result.exit_code == 0, result.output
    bodies = [
        json.loads(line) for line in (tmp_path / "pbx.requests.jsonl").read_text().splitlines()
    ]
    first, second = (body["call"] for body in bodies)
    assert first["external_call_unique_id"] == "pbx1-+18885551212-2024-03-05 14:03:27"
    assert first["start_time"] == "2024-03-05T14:03:27+00:00"  # the profile's zone
    assert first["recording_url"] == (
        "https://pbx.example.com/rec/%2B18885551212/2024-03-05%2014%3A03%3A27.wav"
    )
    assert second["start_time"] == "2024-03-05T15:00:00-05:00"  # the row's own zone
    assert second["calling_phone_number"] == "+442071838751"  # outbound: the customer is Dialled
    assert second["call_direction"] == "outbound"
    assert len(bodies) == 2  # the internal call skipped


def test_five9_recordings_is_a_count_not_a_file(tmp_path):
    """tap-five9's call_log schema: RECORDINGS counts recordings; the URL comes from a template."""
    path = tmp_path / "five9.csv"
    path.write_text(
        "CALL ID,TIMESTAMP,CALL TYPE,ANI,DNIS,RECORDINGS\n"
        '300000000009,"Mon, 06 Jan 2025 10:22:31",Inbound,3125550143,8885551212,1\n'
    )
    from uploader import upload

    upload(
        path,
        profile="five9",
        dry_run=True,
        campaign_id="85",
        timezone="America/Chicago",
        recording_url_template="https://rec.example.com/{CALL ID}.wav",
        progress=False,
    )
    body = json.loads((tmp_path / "five9.requests.jsonl").read_text())
    assert body["call"]["recording_url"] == "https://rec.example.com/300000000009.wav"
    assert "recording_filename" not in body["call"]
    assert body["call"]["start_time"] == "2025-01-06T10:22:31-06:00"


def test_amazon_connect_reads_every_documented_initiation_method(tmp_path):
    from uploader import upload

    methods = [
        "INBOUND",
        "OUTBOUND",
        "TRANSFER",
        "QUEUE_TRANSFER",
        "CALLBACK",
        "API",
        "DISCONNECT",
        "WEBRTC_API",
        "EXTERNAL_OUTBOUND",
        "MONITOR",
        "AGENT_REPLY",
        "FLOW",
    ]
    lines = [
        "ContactId,Channel,InitiationMethod,InitiationTimestamp,CustomerEndpoint.Address,"
        "SystemEndpoint.Address,Recording.Location"
    ]
    for index, method in enumerate(methods):
        lines.append(
            f"c-{index},VOICE,{method},2022-01-05T17:12:59Z,+13125550143,+18885551212,rec/{index}.wav"
        )
    path = tmp_path / "connect.csv"
    path.write_text("\n".join(lines) + "\n")
    summary = upload(path, profile="amazon_connect", dry_run=True, campaign_id="85", progress=False)
    assert summary.counts["invalid"] == 0
    assert summary.counts["skipped"] == 4 and summary.counts["not_sent"] == 8


def test_a_problem_names_the_cell_its_value_came_from(tmp_path):
    """Five9 writes the customer in DNIS on outbound calls: a bad one is reported there, and the
    results workbook marks that cell, not ANI's."""
    from openpyxl import load_workbook

    from tests.conftest import write_xlsx
    from uploader import upload

    path = write_xlsx(
        tmp_path / "five9.xlsx",
        [
            ["CALL ID", "TIMESTAMP", "CALL TYPE", "ANI", "DNIS", "RECORDINGS"],
            ["1", "2024-03-05 14:30:12", "Outbound", "8885551212", "312555", "1"],
            ["2", "2024-03-05 14:30:12", "Inbound", "312555", "8885551212", "1"],
        ],
    )
    summary = upload(
        path,
        profile="five9",
        dry_run=True,
        campaign_id="85",
        progress=False,
        timezone="America/Chicago",
        recording_url_template="https://r.example.com/{CALL ID}",
    )
    assert summary.counts["invalid"] == 2
    sheet = load_workbook(tmp_path / "five9.results.xlsx")["Results"]
    header = [cell.value for cell in sheet[1]]
    outbound, inbound = (
        {header[c.column - 1]: c for c in row} for row in sheet.iter_rows(min_row=2)
    )
    assert outbound["error"].value.startswith('calling_phone_number (DNIS): "312555"')
    assert inbound["error"].value.startswith('calling_phone_number (ANI): "312555"')
    assert outbound["DNIS"].fill.fgColor.rgb.endswith("FFC7CE")
    assert not outbound["ANI"].fill.fgColor.rgb.endswith("FFC7CE")
    assert inbound["ANI"].fill.fgColor.rgb.endswith("FFC7CE")


def test_a_utc_column_is_not_shifted_by_timezone_and_a_local_one_is(tmp_path):
    from uploader import upload

    def sent(text: str) -> dict:
        path = tmp_path / "aircall.csv"
        path.write_text(text)
        upload(
            path,
            profile="aircall",
            dry_run=True,
            campaign_id="85",
            progress=False,
            timezone="America/Chicago",
        )
        return json.loads((tmp_path / "aircall.requests.jsonl").read_text())["call"]

    dashboard = sent(
        "call id (internal),datetime (utc),customer number,aircall number,direction,answered,"
        "recording\n"
        "1,2024-07-05 14:03:27,+13125550143,Line (+1 888-555-1212),inbound,Yes,https://r.example.com/1\n"
    )
    assert dashboard["start_time"] == "2024-07-05T14:03:27+00:00"
    assert dashboard["destination_phone_number"] == "+18885551212"
    # the API layout's column is not a UTC fact of the format: a zone-less value takes --timezone
    api = sent(
        "id,started_at,raw_digits,number.digits,direction,recording\n"
        "1,2024-07-05 14:03:27,+13125550143,+18885551212,inbound,https://r.example.com/1\n"
    )
    assert api["start_time"] == "2024-07-05T14:03:27-05:00"


def test_skip_rules_all_conditions_and_the_cell_in_the_reason(tmp_path):
    from uploader import upload

    profile = tmp_path / "p.toml"
    profile.write_text("""
skip_unrecorded = "no recording"
skip_withheld = "withheld caller"
[columns]
external_call_unique_id = "id"
start_time = "t"
from_number = "a"
to_number = "b"
call_direction = "d"
recording = "r"
[[skip]]
reason = "internal"
when = [{ column = "a", pattern = '\\d{3}' }, { column = "b", pattern = '\\d{3}' }]
[[skip]]
column = "kind"
values = ["SMS"]
reason = "not a call ({value})"
""")
    path = tmp_path / "x.csv"
    path.write_text(
        "id,t,a,b,d,r,kind\n"
        "1,2024-03-05T14:03:27Z,101,102,inbound,https://r/1,Voice\n"
        "2,2024-03-05T14:03:27Z,101,+18885551212,inbound,https://r/2,Voice\n"
        "3,2024-03-05T14:03:27Z,+13125550143,+18885551212,inbound,https://r/3,sms\n"
        "4,2024-03-05T14:03:27Z,+13125550143,+18885551212,inbound,,Voice\n"
        "5,2024-03-05T14:03:27Z,Anonymous,+18885551212,inbound,https://r/5,Voice\n"
        "6,2024-03-05T14:03:27Z,+13125550143,+18885551212,inbound,https://r/6,Voice\n"
    )
    summary = upload(path, profile=str(profile), dry_run=True, campaign_id="85", progress=False)
    with open(tmp_path / "x.results.csv", encoding="utf-8-sig", newline="") as results:
        rows = [(r["status"], r["error"]) for r in csv.DictReader(results)]
    assert rows[0] == ("skipped", "internal")
    assert rows[1][0] == "invalid" and "calling_phone_number (a)" in rows[1][1]
    assert rows[2] == ("skipped", "not a call (sms)")
    assert rows[3] == ("skipped", "no recording")
    assert rows[4] == ("skipped", "withheld caller")
    assert rows[5] == ("not_sent", "")
    assert summary.exit_code == 1


def test_a_profile_is_suggested_only_on_evidence_of_all_its_required_columns():
    """A Microsoft Teams PSTN usage report shares "Call ID" and "Start time" with other vendors'
    exports (learn.microsoft.com, "PSTN usage report": Call ID is not unique per call): no
    vendor profile is suggested for it; a real export is, with the headers that show it."""
    from uploader.check.profiles import suggestion

    teams = [
        "UsageId",
        "Call ID",
        "Conference ID",
        "User Location",
        "UPN",
        "User Display Name",
        "Caller Number",
        "Callee Number",
        "Call Type",
        "Start time",
        "End time",
        "Duration (seconds)",
        "Success",
        "Charge",
        "Currency",
        "Destination",
    ]
    assert suggestion(teams) is None
    twilio = ["Sid", "ParentCallSid", "StartTime", "From", "To", "Direction", "Status"]
    name, evidence = suggestion(twilio)
    assert name == "twilio" and {"From", "To", "Direction", "StartTime", "Sid"} <= set(evidence)


def test_a_mapping_saved_as_a_profile_keeps_the_base_rules_and_loads_by_name(tmp_path):
    from uploader.check.profiles import (
        field_matches,
        load_profile,
        saved_profiles,
        suggest_profile,
    )
    from uploader.ui.mapping import save_profile

    headers = ["Call SID", "Start", "Caller", "Business line", "Way", "Audio"]
    assert suggest_profile(headers) is None
    mapping = {
        "external_call_unique_id": "Call SID",
        "start_time": "Start",
        "from_number": "Caller",
        "to_number": "Business line",
        "call_direction": "Way",
    }
    path = save_profile("night-export", {"base": "twilio", "columns": mapping})
    assert saved_profiles() == {"night-export": path}
    saved, twilio = load_profile("night-export"), load_profile("twilio")
    assert saved.columns["from_number"][0] == "Caller"
    assert saved.columns["from_number"][1:] == twilio.columns["from_number"]
    assert saved.legs == twilio.legs and saved.values == twilio.values  # the rules are kept
    assert "twilio.com" in path.read_text()  # and so are the base profile's citations
    assert field_matches(saved, headers)["from_number"] == "Caller"
    assert suggest_profile(headers) == "night-export"
    with pytest.raises(ConfigError, match="built-in"):
        save_profile("twilio", {"base": "invoca"})
    with pytest.raises(ConfigError, match="not a call field"):
        save_profile("other", {"base": "invoca", "columns": {"favourite_colour": "Caller"}})


# ---------------------------------------------------------------- profiles from elsewhere (#30)


def _profile(tmp_path, body: str) -> Path:
    """The canonical columns (as the invoca profile), with `body` added: a shared profile."""
    canonical = (Path(__file__).resolve().parents[2] / "schemas" / "invoca.toml").read_text()
    path = tmp_path / "shared.toml"
    path.write_text(canonical.replace('name = "invoca"', 'name = "shared"') + "\n" + body)
    return path


def test_a_backtracking_pattern_runs_in_linear_time(tmp_path):
    """`(\\d+\\s?)+x` (a skip rule; pandas hands `\\s` to Python's re) and `(\\d+)+y` (an extract)
    backtrack in Python's re for minutes on 32 digits, doubling per digit; RE2 runs them at once
    (the suite's timeout fails this test if they backtrack)."""
    profile = _profile(
        tmp_path,
        "[[skip]]\nwhen = [{ column = \"custom:note\", pattern = '(\\d+\\s?)+x' }]\n"
        'reason = "odd"\n'
        "[extract]\nrecording_url = '(\\d+)+y'\n",
    )
    digits = "3" * 32
    url = f"https://rec.example.com/{digits}.wav"
    rows = [call_row(f"b{i}", recording_url=url, **{"custom:note": digits}) for i in range(2)]
    rows[1]["custom:note"] = digits + "x"
    path = write_csv(tmp_path / "c.csv", rows)
    summary = validate_file(path, campaign_id="85", profile=str(profile))
    assert summary.counts["skipped"] == 1 and summary.counts["valid"] == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('[[skip]]\nwhen = [{ column = "Id", pattern = \'(?=x)\' }]\nreason = "r"\n', "RE2"),
        ('[[skip]]\nwhen = [{ column = "Id", pattern = \'(a)\\1\' }]\nreason = "r"\n', "RE2"),
        (
            '[[skip]]\nwhen = [{ column = "Id", pattern = \'(?:a{1000}){1000}\' }]\nreason = "r"\n',
            "RE2",
        ),
        ("[extract]\nstart_time = '(?<=T)(\\d+)'\n", "RE2"),
        ("[extract]\nstart_time = '(\\d+)T(\\d+)'\n", "exactly one (group)"),
        (
            '[[skip]]\nwhen = [{ column = "Id", pattern = \''
            + "a" * 1001
            + '\' }]\nreason = "r"\n',
            "longer than 1000 characters",
        ),
        ("nested = " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ('[constants]\nnot_a_field = "x"\n', "not_a_field is not a call field"),
        ('[values.mood]\nhappy = "yes"\n', "mood is not a call field"),
        ('[templates]\nexternal_call_unique_id = "no braces"\n', "naming columns in braces"),
        ("[templates]\nexternal_call_unique_id = 7\n", "naming columns in braces"),
    ],
)
def test_a_hostile_or_broken_profile_is_one_line_exit_2_naming_the_file(tmp_path, body, problem):
    profile = _profile(tmp_path, body)
    path = write_csv(tmp_path / "c.csv", [call_row("a")])
    result = CliRunner().invoke(
        cli, ["validate", str(path), "--profile", str(profile), "--campaign-id", "85"]
    )
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert "shared" in line and problem in line and "internal error" not in line


def test_a_config_file_nested_thousands_deep_is_one_line_exit_2(tmp_path):
    config = tmp_path / "deep.toml"
    config.write_text("rate = " + "[" * 5000 + "]" * 5000 + "\n")
    path = write_csv(tmp_path / "c.csv", [call_row("a")])
    result = CliRunner().invoke(cli, ["validate", str(path), "--config", str(config)])
    assert result.exit_code == 2 and "nested too deeply" in result.output, result.output


@pytest.mark.parametrize("name", sorted(builtin_profiles()))
def test_a_mapping_saved_from_any_profile_reads_back_the_same(name):
    """The page saves the base profile with one header read first, whatever the base's key style:
    every other field and rule reads back as it was."""
    from uploader.check.compose import mapped_profile

    base = load_profile(name)
    for field_name, aliases in base.columns.items():
        text = mapped_profile("saved", name, {field_name: "Begin"})
        saved = profile_from_dict(__import__("tomllib").loads(text), "saved")
        assert saved.columns[field_name] == ["Begin", *[a for a in aliases if a != "Begin"]]
        others = {k: v for k, v in saved.columns.items() if k != field_name}
        assert others == {k: v for k, v in base.columns.items() if k != field_name}
        assert replace(saved, name=name, description="", columns={}) == replace(
            base, description="", columns={}
        )  # every rule kept


def test_a_profile_writing_a_column_as_one_string_is_saved_as_a_list(tmp_path):
    """`start_time = "Started"` (the README's style): mapping "Begin" used to save the letters of
    "Started" as seven headers."""
    from uploader.check.compose import mapped_profile

    base = _profile(tmp_path, "")
    base.write_text(
        base.read_text().replace('start_time = ["start_time"]', 'start_time = "Started"')
    )
    text = mapped_profile("saved", str(base), {"start_time": "Begin"})
    saved = profile_from_dict(__import__("tomllib").loads(text), "saved")
    assert saved.columns["start_time"] == ["Begin", "Started"]


def test_a_mapping_over_a_base_that_is_not_toml_is_a_config_error(tmp_path):
    from uploader.check.compose import mapped_profile
    from uploader.errors import ConfigError

    base = tmp_path / "notes.toml"
    base.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="notes.toml"):
        mapped_profile("saved", str(base), {"start_time": "Begin"})


def test_a_relayed_parent_whose_child_leg_is_not_in_the_file_is_not_dropped(tmp_path):
    """A Voice SDK or SIP parent is skipped only when its call is uploaded from a child leg of
    the same file; without one it is the only record of the call: it is read like any row (sent,
    or invalid naming why), never skipped as "uploaded from its child leg"."""
    from uploader.pipeline import upload

    sample = (ROOT / "sample_data" / "twilio.csv").read_text().splitlines()
    child = "CA5f1e2d3c4b5a69788796a5b4c3d2e1f5"  # the child of the client:alice parent CA4...
    path = tmp_path / "split.csv"
    lines = [line for line in sample if not line.startswith(child)]
    lines = [  # the parent recorded, so that nothing but its leg could leave it out
        line + "RE" + "4" * 32 if line.startswith("CA4f1e") else line for line in lines
    ]
    path.write_text("\n".join(lines) + "\n")
    template = "https://api.twilio.com/2010-04-01/Accounts/AC123/Recordings/{RecordingSid}.mp3"
    upload(path, profile="twilio", campaign_id="85", recording_url_template=template, dry_run=True)
    with (tmp_path / "split.results.csv").open(encoding="utf-8-sig", newline="") as stream:
        rows = {r["external_call_unique_id"]: r for r in csv.DictReader(stream)}
    parent = rows["CA4f1e2d3c4b5a69788796a5b4c3d2e1f4"]
    assert parent["status"] != "skipped", parent["error"]
    assert "child leg" not in parent["error"]
    kept = rows["CAcf1e2d3c4b5a69788796a5b4c3d2e1fc"]  # a relayed parent whose child is here
    assert kept["status"] == "skipped" and "child leg" in kept["error"]


def test_a_lone_sip_parent_is_sent_with_the_customer_on_its_other_side(tmp_path, sandbox):
    """A SIP user's parent leg with no child leg in the file is the only record of its call: sent
    outbound from the business (the SIP address's number) to the customer (its To), said so;
    a browser user's leg has no business number: invalid naming why, never sent reversed."""
    from tests.conftest import library_upload

    header = "Sid,ParentCallSid,StartTime,From,To,Direction,Status,RecordingSid"
    rows = [
        "CA01,,2024-03-06 11:30:00,sip:+18885551213@acme.sip.twilio.com,+16175550123,inbound,"
        "completed,RE01",
        "CA02,,2024-03-06 11:40:00,client:alice,+16175550124,inbound,completed,RE02",
        "CA03,,2024-03-06 11:50:00,+16175550125,+18885551213,inbound,completed,RE03",
    ]
    path = tmp_path / "lone.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    template = "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/{RecordingSid}.mp3"
    library_upload(
        path,
        sandbox.url,
        tmp_path / "j.sqlite",
        profile="twilio",
        recording_url_template=template,
        timezone="UTC",
    )
    with (tmp_path / "lone.results.csv").open(encoding="utf-8-sig", newline="") as stream:
        results = {r["external_call_unique_id"]: r for r in csv.DictReader(stream)}
    sent = {
        c["body"]["call"]["external_call_unique_id"]: c["body"]["call"] for c in sandbox.calls()
    }
    assert sent["CA01"]["calling_phone_number"] == "+16175550123"
    assert sent["CA01"]["destination_phone_number"] == "+18885551213"
    assert sent["CA01"]["call_direction"] == "outbound"
    assert "other side" in results["CA01"]["error"]
    assert "CA02" not in sent and results["CA02"]["status"] == "invalid"
    assert "browser or SIP user" in results["CA02"]["error"]
    assert sent["CA03"]["calling_phone_number"] == "+16175550125"  # an ordinary row, as it was
    assert sent["CA03"]["call_direction"] == "inbound" and not results["CA03"]["error"]


def test_a_pattern_of_the_longest_length_allowed_is_taken(tmp_path):
    from uploader.check.profiles import MAX_PATTERN, load_profile

    pattern = "a" * MAX_PATTERN
    body = f'[[skip]]\nwhen = [{{ column = "Id", pattern = \'{pattern}\' }}]\nreason = "r"\n'
    assert load_profile(str(_profile(tmp_path, body))).skip[0].conditions[0].pattern == pattern
