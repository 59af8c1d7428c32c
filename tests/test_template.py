"""The template: formats, validations, comments; filled like an analyst would, it uploads."""

from __future__ import annotations

import datetime as dt

import openpyxl
from click.testing import CliRunner

from tests.conftest import TOKEN, upload_args
from uploader.cli import cli


def make(tmp_path, *args):
    out = tmp_path / "template.xlsx"
    result = CliRunner().invoke(cli, ["template", str(out), *args])
    assert result.exit_code == 0, result.output
    return out


def test_template_columns_formats_validations_and_comments(tmp_path):
    book = openpyxl.load_workbook(
        make(tmp_path, "--signal", "sale", "--signal", "appointment", "--custom", "channel")
    )
    sheet = book["Calls"]
    header = [c.value for c in sheet[1]]
    assert header[:5] == [
        "external_call_unique_id",
        "start_time",
        "calling_phone_number",
        "destination_phone_number",
        "call_direction",
    ]
    assert header[-3:] == ["signal:sale", "signal:appointment", "custom:channel"]
    letter = {name: openpyxl.utils.get_column_letter(i + 1) for i, name in enumerate(header)}
    for name in (
        "external_call_unique_id",
        "calling_phone_number",
        "destination_phone_number",
        "advertiser_campaign_id_from_network",
    ):
        assert sheet.column_dimensions[letter[name]].number_format == "@", name
    assert "yy" in sheet.column_dimensions[letter["start_time"]].number_format
    lists = {
        str(v.sqref).split(":")[0].rstrip("0123456789"): v.formula1
        for v in sheet.data_validations.dataValidation
    }
    assert lists[letter["call_direction"]] == '"inbound,outbound"'
    assert "en-US" in lists[letter["language_code"]]
    assert lists[letter["signal:sale"]] == '"Yes,No,Y,N"'
    assert all(cell.comment is not None for cell in sheet[1])
    # the recording pair: neither is required alone, one of them is; header, comment, Instructions
    for name in ("recording_url", "recording_filename"):
        cell = sheet[f"{letter[name]}1"]
        assert cell.fill.fgColor.rgb.endswith("C65911"), name
        assert cell.comment.text.startswith(
            "One of recording_url or recording_filename is required"
        )
    assert sheet[f"{letter['call_direction']}1"].fill.fgColor.rgb.endswith("C00000")
    instructions = {row[0]: row[1] for row in book["Instructions"].iter_rows(values_only=True)}
    assert instructions["recording_filename"].startswith(
        "One of recording_url or recording_filename"
    )
    assert sheet.freeze_panes == "A2"
    assert "Accepted start_time forms" in [c.value for c in book["Instructions"]["A"]]


def test_filled_template_uploads_with_only_campaign_and_token(tmp_path, sandbox):
    path = make(tmp_path, "--signal", "sale", "--custom", "channel")
    book = openpyxl.load_workbook(path)
    sheet = book["Calls"]
    phones = ["(312) 555-0143", "312-555-0143", "3125550143", "+1 312 555 0143", "1 (312) 555-0143"]
    for i, phone in enumerate(phones):
        sheet.append(
            [
                f"T-{i:04d}",
                dt.datetime(2024, 3, 5, 9 + i, 30),
                phone,
                "888.555.1212",
                "Outbound" if i % 2 else "inbound",
                None,
                f"https://rec.example.com/{i}.wav",
                None,
                None,
                "rac-7" if i == 4 else None,
                "Yes" if i % 2 else "no",
                "web",
            ]
        )
    book.save(path)
    result = CliRunner().invoke(cli, ["validate", str(path), "--campaign-id", "85"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        cli,
        upload_args(path, sandbox.url, tmp_path / "j.sqlite"),
        env={"INVOCA_OAUTH_TOKEN": TOKEN},
    )
    assert result.exit_code == 0, result.output
    stored = sorted(sandbox.calls(), key=lambda c: c["id"])
    assert [c["id"] for c in stored] == [f"T-{i:04d}" for i in range(5)]
    assert {c["body"]["call"]["calling_phone_number"] for c in stored} == {"+13125550143"}
    assert stored[1]["body"]["signals"] == [{"name": "sale", "value": True}]
    assert stored[0]["body"]["custom_data"] == [{"name": "channel", "value": "web"}]
    assert stored[0]["body"]["call"]["start_time"] == "2024/03/05 09:30:00 AM"
    assert stored[4]["body"]["call"]["recording_auth_config_id"] == "rac-7"


def test_csv_template_and_bad_names(tmp_path):
    out = tmp_path / "t.csv"
    assert CliRunner().invoke(cli, ["template", str(out), "--signal", "sale"]).exit_code == 0
    assert out.read_text(encoding="utf-8-sig").strip().endswith("signal:sale")
    result = CliRunner().invoke(
        cli, ["template", str(tmp_path / "t.xlsx"), "--signal", "a", "--signal", "A"]
    )
    assert result.exit_code == 2 and "repeat" in result.output
    result = CliRunner().invoke(cli, ["template", str(tmp_path / "t.ods")])
    assert result.exit_code == 2


def test_template_in_another_systems_layout_validates_with_that_profile(tmp_path):
    out = tmp_path / "five9.xlsx"
    assert CliRunner().invoke(cli, ["template", str(out), "--profile", "five9"]).exit_code == 0
    book = openpyxl.load_workbook(out)
    sheet = book["Calls"]
    header = [c.value for c in sheet[1]]
    assert header[:5] == ["CALL ID", "TIMESTAMP", "ANI", "DNIS", "CALL TYPE"]
    assert sheet.column_dimensions["C"].number_format == "@"
    sheet.append(
        [
            "300000000009",
            dt.datetime(2024, 3, 5, 9, 30),
            "3125550143",
            "8885551212",
            "Inbound",
        ]
    )
    book.save(out)
    result = CliRunner().invoke(
        cli,
        [
            "validate",
            str(out),
            "--profile",
            "five9",
            "--campaign-id",
            "85",
            "--timezone",
            "America/Chicago",
            "--recording-url-template",
            "https://rec.example.com/{CALL ID}.wav",
        ],
    )
    assert result.exit_code == 0, result.output


def test_a_filled_template_is_never_overwritten_without_force(tmp_path):
    out = tmp_path / "filled.xlsx"
    assert CliRunner().invoke(cli, ["template", str(out)]).exit_code == 0
    out.write_bytes(b"the analyst's work")
    refused = CliRunner().invoke(cli, ["template", str(out)])
    assert refused.exit_code == 2 and "--force" in refused.output
    assert out.read_bytes() == b"the analyst's work"
    assert CliRunner().invoke(cli, ["template", str(out), "--force"]).exit_code == 0
    assert out.read_bytes() != b"the analyst's work"
