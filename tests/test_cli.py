"""The command line as users meet it: help, the sandbox process, tokens, logs, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
from click.testing import CliRunner

from tests.conftest import TOKEN, Lines, call_row, upload_args, write_csv
from uploader.cli import cli
from uploader.report.runlog import redact

COMMANDS = ["upload", "validate", "template", "profiles", "journal", "sandbox", "demo", "ui"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_examples(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and len(result.output.splitlines()) > 5


def test_the_sandbox_command_serves_on_the_port_it_prints(tmp_path):
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uploader",
            "sandbox",
            "--port",
            "0",
            "--token",
            "T",
            "--campaign",
            "85",
            "--signal",
            "sale",
            "--custom",
            "channel",
            "--rate-limit",
            "20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = Lines(process.stdout).wait_for(lambda line: line.strip(), seconds=30).strip()
        assert url.startswith("http://127.0.0.1:")
        body = {
            "call": {
                "external_call_unique_id": "x1",
                "start_time": "2016/04/11T20:00:00Z",
                "calling_phone_number": "+13125550143",
                "destination_phone_number": "8885551212",
                "advertiser_campaign_id_from_network": 85,
                "call_direction": "inbound",
                "recording_url": "https://r.example.com/1.wav",
            },
            "signals": [{"name": "SALE", "value": "yes"}],
            "custom_data": [{"name": "channel", "value": "web"}],
        }
        request = urllib.request.Request(
            url + "/api/2022-03-01/calls.json",
            data=json.dumps(body).encode(),
            headers={"Authorization": "T", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201 and "cuid" in json.loads(response.read())
    finally:
        process.terminate()
        process.wait(10)


def test_token_file_is_read_and_a_loose_one_is_warned_about(tmp_path, sandbox, caplog):
    path = write_csv(tmp_path / "c.csv", [call_row("a")])
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    for mode, warned in ((0o600, False), (0o604, True), (0o640, True)):
        os.chmod(token_file, mode)
        caplog.clear()
        result = CliRunner().invoke(
            cli,
            [
                *upload_args(path, sandbox.url, tmp_path / f"j{mode:o}.sqlite"),
                "--token-file",
                str(token_file),
            ],
        )
        assert result.exit_code == 0, result.output
        assert ("chmod 600" in caplog.text) is warned, oct(mode)
    missing = CliRunner().invoke(cli, ["upload", str(path), "--token-file", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "cannot be read" in missing.output


def test_log_file_has_a_line_per_row_and_per_run_without_signatures(tmp_path, sandbox):
    """A signed URL reaches the log only in a row's reason (an invalid row quotes its value):
    both a row that is sent and one refused for its URL are logged without the signature."""
    url = "https://bucket.s3.amazonaws.com/rec/a.wav?X-Amz-Signature=abcdef0123&X-Amz-Expires=90000"
    refused = "ftp://bucket.s3.amazonaws.com/rec/c.wav?X-Amz-Signature=fedcba9876&X-Amz-Expires=1"
    rows = [
        call_row("a", recording_url=url),
        call_row("b", start_time="never"),
        call_row("c", recording_url=refused),
    ]
    path = write_csv(tmp_path / "c.csv", rows)
    log = tmp_path / "log.jsonl"
    result = CliRunner().invoke(
        cli,
        [
            *upload_args(path, sandbox.url, tmp_path / "j.sqlite"),
            "--log-file",
            str(log),
        ],
        env={"INVOCA_OAUTH_TOKEN": TOKEN},
    )
    assert result.exit_code == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["event"] for r in records] == ["row", "row", "row", "run"]
    assert records[0]["status"] == "created" and records[1]["status"] == "invalid"
    assert "ftp://bucket.s3.amazonaws.com/rec/c.wav?[redacted]" in records[2]["error"]
    assert records[3]["exit_code"] == 1
    assert "abcdef0123" not in log.read_text() and "fedcba9876" not in log.read_text()
    assert (
        redact(f"failed for {url}")
        == "failed for https://bucket.s3.amazonaws.com/rec/a.wav?[redacted]"
    )


def test_errors_are_one_line_and_tracebacks_need_verbose(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\x00\x01garbage")
    quiet = subprocess.run(
        [sys.executable, "-m", "uploader", "validate", str(path)], capture_output=True, text=True
    )
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    assert quiet.stderr.strip().count("\n") == 0 and str(path) in quiet.stderr
    loud = subprocess.run(
        [sys.executable, "-m", "uploader", "validate", str(path), "-v"],
        capture_output=True,
        text=True,
    )
    assert loud.returncode == 2 and "Traceback" in loud.stderr


def test_bad_options_are_usage_errors(tmp_path):
    path = write_csv(tmp_path / "c.csv", [call_row("a")])
    for args in (
        ["--timezone", "Mars/Olympus"],
        ["--rate", "-1"],
        ["--concurrency", "0"],
        ["--profile", "nope"],
    ):
        result = CliRunner().invoke(
            cli,
            ["validate", str(path), *args]
            if args[0] in ("--timezone", "--profile")
            else ["upload", str(path), "--dry-run", *args],
        )
        assert result.exit_code == 2, (args, result.output)


def test_progress_lines_when_stderr_is_not_a_terminal(caplog, monkeypatch):
    import logging

    from uploader.outcome import RowOutcome
    from uploader.report import progress as progress_module
    from uploader.report.progress import Progress

    monkeypatch.setattr(progress_module, "LOG_EVERY", 0.0)
    caplog.set_level(logging.INFO, logger="uploader")
    with open(os.devnull, "w") as not_a_terminal:
        bar = Progress(10, enabled=True, stream=not_a_terminal)
        bar.outcome(RowOutcome(2, "a", "created"))
        bar.outcome(RowOutcome(3, "b", "failed"))
    assert (
        "2/10 rows" in caplog.text
        and "1 delivered, 1 failed" in caplog.text
        and "ETA" in caplog.text
    )
    caplog.clear()
    heard = []  # a quiet progress (the web page's runs) prints nothing, its listener still hears
    quiet = Progress(10, enabled=False, listener=lambda progress: heard.append(progress.done))
    quiet.advance(5)
    assert heard == [5] and caplog.text == ""
