"""upload end to end against the sandbox: results, exit codes, resume, faults, interruption,
locks."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import (
    TOKEN,
    Lines,
    call_row,
    kill_when,
    library_upload,
    upload_args,
    wait_for,
    write_csv,
)
from uploader.cli import cli


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


def run_cli(*args: str, env: dict | None = None):
    runner = CliRunner()
    return runner.invoke(
        cli, list(args), env={"INVOCA_OAUTH_TOKEN": TOKEN, **(env or {})}, catch_exceptions=False
    )


def test_upload_creates_every_call_and_writes_results(calls, sandbox, tmp_path):
    path = calls(5)
    result = run_cli(
        *upload_args(path, sandbox.url, tmp_path / "j.sqlite"),
        "--summary-json",
        str(tmp_path / "s.json"),
    )
    assert result.exit_code == 0, result.output
    rows = read_results(tmp_path / "calls.results.csv")
    assert [r["status"] for r in rows] == ["created"] * 5
    assert [r["row"] for r in rows] == ["2", "3", "4", "5", "6"]
    stored = {c["id"]: c for c in sandbox.calls()}
    assert {r["cuid"] for r in rows} == {c["cuid"] for c in stored.values()}
    body = stored["call-0"]["body"]
    assert body == {
        "call": {
            "external_call_unique_id": "call-0",
            "start_time": "2024-03-05T14:03:27+00:00",
            "calling_phone_number": "+13125550143",
            "destination_phone_number": "+18885551212",
            "advertiser_campaign_id_from_network": "85",
            "call_direction": "inbound",
            "recording_url": "https://rec.example.com/call-0.wav",
        }
    }
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["counts"]["created"] == 5 and summary["exit_code"] == 0
    assert not (tmp_path / "calls.retry.csv").exists()
    assert "created" in result.output and "results" in result.output


def test_invalid_rows_are_reported_and_valid_ones_still_go(tmp_path, sandbox):
    rows = [
        call_row("a"),
        call_row("b", calling_phone_number="3.13E+09"),
        call_row("c"),
        call_row("a"),
    ]
    path = write_csv(tmp_path / "mixed.csv", rows)
    result = run_cli(
        *upload_args(path, sandbox.url, tmp_path / "j.sqlite"),
    )
    assert result.exit_code == 1
    results = read_results(tmp_path / "mixed.results.csv")
    assert [r["status"] for r in results] == ["created", "invalid", "created", "invalid"]
    assert "calling_phone_number" in results[1]["error"] and "scientific" in results[1]["error"]
    assert "same external_call_unique_id as row 2" in results[3]["error"]
    retry = read_results(tmp_path / "mixed.retry.csv")
    assert [r["external_call_unique_id"] for r in retry] == ["b", "a"]
    assert list(retry[0])[-1] == "error" and retry[0]["calling_phone_number"] == "3.13E+09"
    assert sorted(c["id"] for c in sandbox.calls()) == ["a", "c"]


def test_strict_sends_nothing_when_a_row_is_invalid(tmp_path, sandbox):
    path = write_csv(tmp_path / "s.csv", [call_row("a"), call_row("b", start_time="nonsense")])
    result = run_cli(
        *upload_args(path, sandbox.url, tmp_path / "j.sqlite"),
        "--strict",
    )
    assert result.exit_code == 1
    assert sandbox.calls() == []
    assert [r["status"] for r in read_results(tmp_path / "s.results.csv")] == [
        "not_sent",
        "invalid",
    ]


def test_dry_run_writes_request_bodies_and_needs_no_token(calls, tmp_path):
    path = calls(3)
    result = CliRunner().invoke(cli, ["upload", str(path), "--dry-run", "--campaign-id", "85"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "calls.requests.jsonl").read_text().splitlines()
    assert [json.loads(line)["call"]["external_call_unique_id"] for line in lines] == [
        "call-0",
        "call-1",
        "call-2",
    ]
    assert {r["status"] for r in read_results(tmp_path / "calls.results.csv")} == {"not_sent"}


def test_missing_token_exits_2_before_reading_the_file(tmp_path):
    result = CliRunner().invoke(cli, ["upload", str(tmp_path / "does-not-exist.csv")])
    assert result.exit_code == 2
    assert "INVOCA_OAUTH_TOKEN" in result.output


def test_token_on_the_command_line_is_a_usage_error(calls):
    result = CliRunner().invoke(cli, ["upload", str(calls(1)), "--token", "secret"])
    assert result.exit_code == 2 and "never taken on the command line" in result.output


def test_plain_http_to_a_remote_host_is_refused(calls):
    result = run_cli("upload", str(calls(1)), "--base-url", "http://invoca.example.com")
    assert result.exit_code == 2 and "HTTPS is required" in result.output


def test_a_base_url_under_a_gateways_path_is_kept_as_given():
    """A site behind a gateway's path prefix is a site; only the API's own path is refused."""
    from uploader.settings import Options, check_target

    for url in ("https://gw.example.com/invoca", "https://gw.example.com/b", "https://x.io/apis"):
        options = Options.build(base_url=url)
        check_target(options)
        assert options.endpoint == f"{url}/api/2022-03-01/calls.json"


@pytest.mark.parametrize("url", ["ftp://invoca.net", "invoca.net", "https://"])
def test_a_base_url_that_is_not_an_http_address_is_refused(calls, url):
    result = run_cli("upload", str(calls(1)), "--base-url", url, "--campaign-id", "85")
    assert result.exit_code == 2, result.output
    assert "not an http(s) URL" in result.output


@pytest.mark.parametrize(
    "url", ["https://invoca.net/api/2022-03-01/calls.json", "https://invoca.net/api/"]
)
def test_a_base_url_with_the_api_path_is_refused_with_the_site_to_give(calls, url):
    result = run_cli("upload", str(calls(1)), "--base-url", url, "--campaign-id", "85")
    assert result.exit_code == 2, result.output
    assert "give the site alone (https://invoca.net)" in result.output


def test_wrong_token_stops_with_exit_3(calls, sandbox, tmp_path):
    result = run_cli(
        *upload_args(calls(30), sandbox.url, tmp_path / "j.sqlite"),
        env={"INVOCA_OAUTH_TOKEN": "wrong"},
    )
    assert result.exit_code == 3
    statuses = [r["status"] for r in read_results(tmp_path / "calls.results.csv")]
    assert len(statuses) == 30 and statuses.count("not_sent") >= 20
    assert "401" in result.output


def test_an_api_that_never_answers_is_an_alarm_exit_3_naming_the_host(calls, tmp_path):
    result = run_cli(
        "upload",
        str(calls(3)),
        "--base-url",
        "http://127.0.0.1:9",
        "--campaign-id",
        "85",
        "--max-retries",
        "1",
        "--journal",
        str(tmp_path / "j.sqlite"),
        "--rate",
        "0",
        "--summary-json",
        str(tmp_path / "s.json"),
    )
    assert result.exit_code == 3, result.output  # operations' alarm, not "some rows need a look"
    assert "no answer from the API" in result.output and "127.0.0.1" in result.output
    assert {r["status"] for r in read_results(tmp_path / "calls.results.csv")} == {"failed"}
    assert json.loads((tmp_path / "s.json").read_text())["exit_code"] == 3


def test_rerun_and_overlapping_export_send_only_new_calls(tmp_path, sandbox):
    journal = str(tmp_path / "j.sqlite")
    first = write_csv(tmp_path / "monday.csv", [call_row(f"c{i}") for i in range(0, 6)])
    second = write_csv(tmp_path / "tuesday.csv", [call_row(f"c{i}") for i in range(3, 9)])
    common = ["--base-url", sandbox.url, "--campaign-id", "85", "--journal", journal]
    assert run_cli("upload", str(first), *common).exit_code == 0
    result = run_cli("upload", str(second), *common)
    assert result.exit_code == 0
    statuses = [r["status"] for r in read_results(tmp_path / "tuesday.results.csv")]
    assert statuses == ["already_uploaded"] * 3 + ["created"] * 3
    assert len(sandbox.calls()) == 9
    assert len(sandbox.stats()["requests"]) == 9


def test_library_call_returns_the_summary(calls, sandbox, tmp_path):
    summary = library_upload(calls(2), sandbox.url, tmp_path / "j.sqlite")
    assert summary.counts["created"] == 2 and summary.exit_code == 0


def test_config_file_and_environment_precedence(calls, sandbox, tmp_path):
    path = calls(2)
    (tmp_path / "invoca-upload.toml").write_text(
        f'base_url = "{sandbox.url}"\ncampaign_id = "99"\nrate = 100\n'
        f'journal = "{tmp_path / "j.sqlite"}"\n'
    )
    result = run_cli("upload", str(path), env={"INVOCA_CAMPAIGN_ID": "85"})
    assert result.exit_code == 0, (
        result.output
    )  # the environment (85) beats the file's campaign (99)
    assert {c["body"]["call"]["advertiser_campaign_id_from_network"] for c in sandbox.calls()} == {
        "85"
    }
    result = run_cli(
        "upload",
        str(path),
        "--campaign-id",
        "86",
        "--results",
        str(tmp_path / "r2.csv"),
        env={"INVOCA_CAMPAIGN_ID": "85"},
    )
    assert result.exit_code == 0  # all already uploaded, but the option parsed
    (tmp_path / "bad.toml").write_text('token = "x"\n')
    result = run_cli("upload", str(path), "--config", str(tmp_path / "bad.toml"))
    assert result.exit_code == 2 and "never read from a config file" in result.output


# ---------------------------------------------------------------- exactly once under faults


def subprocess_upload(path: Path, url: str, journal: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "INVOCA_OAUTH_TOKEN": TOKEN}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uploader",
            *upload_args(path, url, journal),
            "--no-progress",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )


TRANSIENT = {None, 429, 500, 503}  # answers after which a call may be posted again


def assert_exactly_once(sandbox, ids, resent_after_answer: int = 0, replays_409: bool = False):
    """Every id stored, and posted again only after an answer that was lost or transient; at most
    `resent_after_answer` ids (requests in flight at a kill -9) posted after a final answer. A 409
    only where the sandbox answers replays so (`replays_409`), and then only on a replay."""
    stored = sandbox.calls()
    assert sorted(c["id"] for c in stored) == sorted(ids)
    answers: dict[str, list] = {}
    for seen in sandbox.requests():
        answers.setdefault(seen.get("id"), []).append(seen["status"])
    for statuses in answers.values():
        assert 409 not in statuses[:1], statuses  # a first post is never a conflict
        assert replays_409 or 409 not in statuses
    resent = [
        i for i, statuses in answers.items() if any(s not in TRANSIENT for s in statuses[:-1])
    ]
    assert len(resent) <= resent_after_answer, {i: answers[i] for i in resent}


def test_faults_deliver_every_call_exactly_once(tmp_path, make_sandbox):
    box = make_sandbox(fail_rate=0.1, drop_rate=0.05, rate_limit=60, seed=11)
    ids = [f"f{i}" for i in range(300)]
    path = write_csv(tmp_path / "faults.csv", [call_row(i) for i in ids])
    result = run_cli(
        "upload",
        str(path),
        "--base-url",
        box.url,
        "--campaign-id",
        "85",
        "--rate",
        "0",
        "--concurrency",
        "16",
        "--max-retries",
        "12",
        "--journal",
        str(tmp_path / "j.sqlite"),
    )
    results = read_results(tmp_path / "faults.results.csv")
    assert result.exit_code == 0, [
        r for r in results if r["status"] not in ("created", "already_received")
    ][:3]
    assert {r["status"] for r in results} <= {"created", "already_received"}
    assert_exactly_once(box, ids)
    statuses = {r["status"] for r in box.stats()["requests"]}
    assert {500, 503, 429, None} <= statuses


def test_a_409_answering_a_replay_is_already_received_never_a_conflict(tmp_path, make_sandbox):
    """The real API may answer a replay with 409 (spec: 'if this uploader already sent this very
    row'). After a lost answer the row was maybe stored: its 409 means delivered (seen failing
    with the client reading every 409 as a conflict)."""
    box = make_sandbox(replay_conflict=True, seed=5, drop_rate=0.3)
    ids = [f"r{i}" for i in range(60)]
    path = write_csv(tmp_path / "replays.csv", [call_row(i) for i in ids])
    result = run_cli(
        *upload_args(path, box.url, tmp_path / "j.sqlite"), "--rate", "0", "--max-retries", "12"
    )
    results = read_results(tmp_path / "replays.results.csv")
    assert result.exit_code == 0, [r for r in results if r["status"] != "created"][:3]
    assert {r["status"] for r in results} <= {"created", "already_received"}
    assert_exactly_once(box, ids, replays_409=True)
    assert "already_received" in {r["status"] for r in results}  # the 409s were met


def test_kill_9_then_rerun_delivers_exactly_once(tmp_path, make_sandbox):
    box = make_sandbox(latency_ms=20, drop_rate=0.05, seed=5)
    ids = [f"k{i}" for i in range(200)]
    path = write_csv(tmp_path / "kill.csv", [call_row(i) for i in ids])
    journal = tmp_path / "j.sqlite"
    # at 50 rows/s the 200 rows take 4 s: the kill lands mid-run, on a loaded machine too
    process = subprocess_upload(path, box.url, journal, "--rate", "50", "--concurrency", "8")
    killed = kill_when(process, lambda: len(box.calls()) >= random.Random(3).randint(20, 60))
    assert killed == -signal.SIGKILL  # killed, not finished first
    rerun = subprocess_upload(path, box.url, journal, "--rate", "0")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert_exactly_once(box, ids, resent_after_answer=8)  # --concurrency 8 in flight at the kill
    results = read_results(tmp_path / "kill.results.csv")
    assert {r["status"] for r in results} <= {"created", "already_received", "already_uploaded"}


def test_sigterm_exits_4_and_a_rerun_completes(tmp_path, make_sandbox):
    box = make_sandbox(latency_ms=10)
    ids = [f"t{i}" for i in range(150)]
    path = write_csv(tmp_path / "term.csv", [call_row(i) for i in ids])
    journal = tmp_path / "j.sqlite"
    process = subprocess_upload(
        path, box.url, journal, "--rate", "40", "--summary-json", str(tmp_path / "s.json")
    )
    wait_for(lambda: len(box.calls()) >= 10)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 4, err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["interrupted"] and summary["counts"]["not_sent"] > 0
    results = read_results(tmp_path / "term.results.csv")
    assert len(results) == 150
    sent = {r["external_call_unique_id"] for r in results if r["status"] == "created"}
    assert sent == {c["id"] for c in box.calls()}
    rerun = subprocess_upload(path, box.url, journal, "--rate", "0")
    rerun.communicate(timeout=60)
    assert rerun.returncode == 0
    assert_exactly_once(box, ids)


def test_a_second_run_on_the_same_journal_refuses_to_start(tmp_path, make_sandbox):
    box = make_sandbox(latency_ms=50)
    path = write_csv(tmp_path / "slow.csv", [call_row(f"s{i}") for i in range(100)])
    journal = tmp_path / "j.sqlite"
    first = subprocess_upload(path, box.url, journal, "--rate", "2")  # 50 s: still running
    wait_for(lambda: box.calls())
    second = subprocess_upload(path, box.url, journal)
    out, err = second.communicate(timeout=60)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=60)
    assert second.returncode == 2
    assert "in use by pid" in err and "Traceback" not in err


def test_a_stale_lock_from_a_killed_run_does_not_block(tmp_path, sandbox, calls):
    journal = tmp_path / "j.sqlite"
    (tmp_path / "j.sqlite.lock").write_text("pid 999999 (invoca-upload upload)")
    result = run_cli(
        *upload_args(calls(2), sandbox.url, journal),
    )
    assert result.exit_code == 0


def test_journal_command_reports_and_exports(calls, sandbox, tmp_path):
    journal = str(tmp_path / "j.sqlite")
    run_cli(
        *upload_args(calls(3), sandbox.url, journal),
    )
    result = CliRunner().invoke(
        cli, ["journal", "--journal", journal, "--export", str(tmp_path / "j.csv")]
    )
    assert result.exit_code == 0 and "created" in result.output
    exported = read_results(tmp_path / "j.csv")
    assert [r["status"] for r in exported] == ["created"] * 3


def test_the_default_journal_is_the_users_own_and_the_journal_command_reads_it(
    calls, sandbox, tmp_path
):
    """Without --journal the upload and the journal command share the user's data folder; the
    report names each run's id, times, input and endpoint, newest first."""
    path = calls(2)
    args = [a for a in upload_args(path, sandbox.url, "x") if a not in ("--journal", "x")]
    assert run_cli(*args).exit_code == 0
    assert run_cli(*args).exit_code == 0  # nothing sent twice: the same journal was found
    assert len(sandbox.calls()) == 2
    assert (tmp_path / "xdg-data" / "invoca-upload" / "journal.sqlite").is_file()
    result = CliRunner().invoke(cli, ["journal", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["calls"] == {"created": 2}
    second, first = report["runs"]
    assert (second["id"], first["id"]) == (2, 1)
    assert first["input"] == second["input"] == str(path)
    assert first["endpoint"].endswith("/api/2022-03-01/calls.json")
    assert first["started"] <= first["finished"] <= second["started"]
    assert second["summary"]["counts"]["already_uploaded"] == 2


def test_the_token_is_written_nowhere(calls, sandbox, tmp_path):
    path = calls(3)
    log = tmp_path / "run.log"
    result = run_cli(
        *upload_args(path, sandbox.url, tmp_path / "j.sqlite"),
        "--log-file",
        str(log),
        "--summary-json",
        str(tmp_path / "s.json"),
    )
    run_cli("upload", str(path), "--dry-run")
    assert result.exit_code == 0
    assert TOKEN not in result.output
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "calls.csv"]
    assert len(written) >= 5
    for file in written:
        assert TOKEN.encode() not in file.read_bytes(), file
    assert len(log.read_text().splitlines()) == 4


def test_a_second_interrupt_stops_at_once_and_a_rerun_completes(tmp_path, make_sandbox):
    box = make_sandbox(latency_ms=300)
    ids = [f"i{i}" for i in range(80)]
    path = write_csv(tmp_path / "int.csv", [call_row(i) for i in ids])
    journal = tmp_path / "j.sqlite"
    process = subprocess_upload(
        path,
        box.url,
        journal,
        "--rate",
        "0",
        "--concurrency",
        "8",
        "--summary-json",
        str(tmp_path / "s.json"),
    )
    wait_for(lambda: len(box.calls()) >= 5)
    errors = Lines(process.stderr)
    process.send_signal(signal.SIGINT)
    # the first Ctrl-C is taken (the requests in flight take 300 ms): the second stops at once
    errors.wait_for(lambda line: "press Ctrl-C again" in line)
    process.send_signal(signal.SIGINT)
    err = errors.rest()
    assert process.wait(30) == 4, err
    assert "Traceback" not in err
    assert json.loads((tmp_path / "s.json").read_text())["interrupted"]
    rerun = subprocess_upload(path, box.url, journal, "--rate", "0")
    rerun.communicate(timeout=60)
    assert rerun.returncode == 0
    assert_exactly_once(box, ids, resent_after_answer=8)  # in flight at the second Ctrl-C


@pytest.mark.parametrize("inputs", [1, 2])
def test_summary_json_dash_is_one_line_on_stdout_for_schedulers(tmp_path, sandbox, inputs):
    paths = [
        str(write_csv(tmp_path / f"in{n}.csv", [call_row(f"s{n}-{i}") for i in range(3)]))
        for n in range(inputs)
    ]
    done = subprocess.run(
        [sys.executable, "-m", "uploader", "upload", *paths, "--base-url", sandbox.url]
        + ["--campaign-id", "85", "--journal", str(tmp_path / "j.sqlite"), "--no-progress"]
        + ["--summary-json", "-"],
        capture_output=True,
        text=True,
        env={**os.environ, "INVOCA_OAUTH_TOKEN": TOKEN},
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)  # all of standard output: one JSON line (Airflow's XCom)
    assert done.stdout.count("\n") == 1 and document["exit_code"] == 0
    assert document["counts"]["created"] == 3 * inputs and len(sandbox.calls()) == 3 * inputs
    assert "created" in done.stderr and not (tmp_path / "-").exists()


def test_the_librarys_summary_json_states_its_exit_code_and_a_failing_one_is_exit_5(
    tmp_path, sandbox
):
    """`upload(summary_json=...)` from Python: the file holds the exit code the run returns; one
    that cannot be written makes the run's exit code 5 (the calls went in: the journal and the
    results say so), named in output_problems, never an exception or a silent success."""
    from tests.conftest import library_upload

    path = write_csv(tmp_path / "lib.csv", [call_row(f"l{i}") for i in range(3)])
    good = tmp_path / "night.json"
    summary = library_upload(path, sandbox.url, tmp_path / "j.sqlite", summary_json=str(good))
    assert summary.exit_code == 0 and json.loads(good.read_text())["exit_code"] == 0
    (tmp_path / "a-file").write_text("in the way")
    again = write_csv(tmp_path / "lib2.csv", [call_row(f"m{i}") for i in range(3)])
    bad = tmp_path / "a-file" / "night.json"
    summary = library_upload(again, sandbox.url, tmp_path / "j.sqlite", summary_json=str(bad))
    assert summary.exit_code == 5
    assert any(str(bad) in problem for problem in summary.output_problems)
    assert len(sandbox.calls()) == 6
    assert {r["status"] for r in read_results(tmp_path / "lib2.results.csv")} == {"created"}


def test_the_results_show_what_was_sent_after_the_first_seven_columns(tmp_path, sandbox):
    """spec/cli.md: `sent start_time`, `sent calling_phone_number`, `sent destination_phone_number`
    follow the first seven columns, exactly as the request carried them."""
    rows = [
        call_row("s1", start_time="3/5/2024 2:03 PM", calling_phone_number="+44 20 7183 8750"),
        call_row("s2", calling_phone_number="12"),
    ]
    path = write_csv(tmp_path / "c.csv", rows)
    result = run_cli(*upload_args(path, sandbox.url, tmp_path / "j.sqlite"), "--timezone", "UTC")
    assert result.exit_code == 1, result.output
    with (tmp_path / "c.results.csv").open(encoding="utf-8-sig", newline="") as stream:
        header = next(csv.reader(stream))
    assert header[:10] == [
        "row", "external_call_unique_id", "status", "cuid", "http_status", "attempts", "error",
        "sent start_time", "sent calling_phone_number", "sent destination_phone_number",
    ]  # fmt: skip
    sent, invalid = read_results(tmp_path / "c.results.csv")
    body = next(c["body"]["call"] for c in sandbox.calls() if c["id"] == "s1")
    assert sent["sent start_time"] == body["start_time"] == "2024-03-05T14:03:00+00:00"
    assert sent["sent calling_phone_number"] == body["calling_phone_number"] == "+442071838750"
    assert sent["sent destination_phone_number"] == body["destination_phone_number"]
    assert invalid["status"] == "invalid" and invalid["sent start_time"] == ""
    assert sent["calling_phone_number"] == "'+44 20 7183 8750"  # the input's own, formula-safe
