"""Each built-in profile uploads its sample export to the sandbox; every request body is checked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import TOKEN, upload_args
from uploader.cli import cli
from uploader.errors import ConfigError
from uploader.profiles import builtin_profiles, load_profile, profile_from_dict

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = Path(__file__).resolve().parent / "expected"
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
}
STATUSES = {
    "twilio": ["created", "created", "skipped", "created", "created"],
    "ringcentral": ["created", "created", "skipped", "created"],
    "five9": ["created", "created", "skipped", "invalid", "created"],
    "callrail": ["created"] * 3,
    "aircall": ["created"] * 3,
    "amazon_connect": ["created", "created", "skipped", "skipped"],
    "zoom": ["created", "created", "invalid"],
}


def test_every_builtin_profile_has_a_sample_and_a_test():
    assert set(builtin_profiles()) == set(STATUSES) | {"invoca"}


@pytest.mark.parametrize("profile", sorted(STATUSES))
def test_profile_sample_uploads_exactly_the_expected_calls(profile, tmp_path, sandbox):
    sample = shutil.copy(ROOT / "sample_data" / f"{profile}.csv", tmp_path / f"{profile}.csv")
    result = CliRunner().invoke(
        cli,
        [
            *upload_args(sample, sandbox.url, tmp_path / "j.sqlite"),
            "--profile",
            profile,
            "--no-progress",
            *OPTIONS.get(profile, []),
        ],
        env={"INVOCA_OAUTH_TOKEN": TOKEN},
    )
    assert result.exit_code in (0, 1), result.output
    results = (tmp_path / f"{profile}.results.csv").read_text(encoding="utf-8-sig").splitlines()[1:]
    assert [line.split(",")[2] for line in results] == STATUSES[profile]
    expected = [
        json.loads(line) for line in (EXPECTED / f"{profile}.jsonl").read_text().splitlines()
    ]
    stored = {call["id"]: call["body"] for call in sandbox.calls()}
    assert stored == {body["call"]["external_call_unique_id"]: body for body in expected}


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
        "Call Ref,Started,Caller,Dialled,Dir,Recording,Sold?,Agent,Type\n"
        "R1,2024-03-05 14:03:27,+442071838750,+18885551212,IN,,yes,Ann,External\n"
        "R2,2024-03-05 15:00:00,+18885551212,+442071838751,OUT,s3-key/r2.wav,no,Bob,External\n"
        "R3,2024-03-05 16:00:00,+18885551212,+18885551213,IN,,,,Internal\n"
    )
    result = CliRunner().invoke(
        cli, ["upload", str(export), "--profile", str(profile), "--dry-run", "--campaign-id", "85"]
    )
    assert result.exit_code == 0, result.output
    bodies = [
        json.loads(line) for line in (tmp_path / "pbx.requests.jsonl").read_text().splitlines()
    ]
    assert bodies[0]["call"]["start_time"] == "2024-03-05T14:03:27+00:00"
    assert bodies[0]["call"]["recording_url"] == "https://pbx.example.com/rec/R1.wav"
    assert bodies[0]["call"]["language_code"] == "en-GB"
    assert bodies[0]["signals"] == [{"name": "sale", "value": True}]
    assert bodies[0]["custom_data"] == [{"name": "agent", "value": "Ann"}]
    assert bodies[1]["call"]["calling_phone_number"] == "+442071838751"
    assert bodies[1]["call"]["recording_filename"] == "s3-key/r2.wav"
    assert len(bodies) == 2


def test_five9_recordings_is_a_count_not_a_file(tmp_path):
    """tap-five9's call_log schema: RECORDINGS counts recordings; the URL comes from the template."""
    path = tmp_path / "five9.csv"
    path.write_text(
        "CALL ID,TIMESTAMP,CALL TYPE,ANI,DNIS,RECORDINGS\n"
        '300000000009,"Mon, 06 Jan 2025 10:22:31",Inbound,3125550143,8885551212,1\n'
    )
    from uploader import upload

    upload(path, profile="five9", dry_run=True, campaign_id="85", timezone="America/Chicago",
           recording_url_template="https://rec.example.com/{CALL ID}.wav", progress=False)  # fmt: skip
    body = json.loads((tmp_path / "five9.requests.jsonl").read_text())
    assert body["call"]["recording_url"] == "https://rec.example.com/300000000009.wav"
    assert "recording_filename" not in body["call"]
    assert body["call"]["start_time"] == "2025-01-06T10:22:31-06:00"


def test_amazon_connect_reads_every_documented_initiation_method(tmp_path):
    from uploader import upload

    methods = ["INBOUND", "OUTBOUND", "TRANSFER", "QUEUE_TRANSFER", "CALLBACK", "API", "DISCONNECT",
               "WEBRTC_API", "EXTERNAL_OUTBOUND", "MONITOR", "AGENT_REPLY", "FLOW"]  # fmt: skip
    lines = ["ContactId,Channel,InitiationMethod,InitiationTimestamp,CustomerEndpoint.Address,"
             "SystemEndpoint.Address,Recording.Location"]  # fmt: skip
    for index, method in enumerate(methods):
        lines.append(
            f"c-{index},VOICE,{method},2022-01-05T17:12:59Z,+13125550143,+18885551212,rec/{index}.wav"
        )
    path = tmp_path / "connect.csv"
    path.write_text("\n".join(lines) + "\n")
    summary = upload(path, profile="amazon_connect", dry_run=True, campaign_id="85", progress=False)
    assert summary.counts["invalid"] == 0
    assert summary.counts["skipped"] == 4 and summary.counts["not_sent"] == 8
