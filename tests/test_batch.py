"""A night of exports in one command: several files (compressed, zipped, in a bucket), one journal,
one results file per input, one summary and one exit code; every call stored exactly once."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import TOKEN, call_row, kill_when, upload_args, wait_for, write_csv
from tests.test_upload import assert_exactly_once, read_results, run_cli


def night_args(url: str, journal, first, *more) -> list[str]:
    """Several inputs after the usual upload arguments (click takes them between options too)."""
    return [*upload_args(first, url, journal), *map(str, more), "--rate", "0"]


def test_several_inputs_one_journal_one_summary_and_a_broken_file_reported(tmp_path, sandbox):
    a = write_csv(tmp_path / "a.csv", [call_row(f"a{i}") for i in range(3)])
    b = tmp_path / "b.csv.gz"
    b.write_bytes(gzip.compress(write_csv(tmp_path / "b-plain.csv", [call_row("b0")]).read_bytes()))
    (tmp_path / "broken.csv").write_bytes(b"\x00\x01binary")
    summary_path = tmp_path / "night.json"
    result = run_cli(
        *night_args(sandbox.url, tmp_path / "j.sqlite", a, tmp_path / "broken.csv", b),
        "--summary-json",
        str(summary_path),
    )
    assert result.exit_code == 1, result.output
    assert sorted(c["id"] for c in sandbox.calls()) == ["a0", "a1", "a2", "b0"]
    assert [r["status"] for r in read_results(tmp_path / "a.results.csv")] == ["created"] * 3
    assert [r["status"] for r in read_results(tmp_path / "b.results.csv")] == ["created"]
    summary = json.loads(summary_path.read_text())
    assert summary["exit_code"] == 1
    assert summary["counts"]["created"] == 4 and summary["unreadable"] == 1
    assert [item["input"] for item in summary["inputs"]] == [
        str(a),
        str(b),
        str(tmp_path / "broken.csv"),
    ]
    assert "NUL bytes" in summary["inputs"][2]["error"]
    assert "broken.csv: not read" in result.output and "All 3 inputs: 4 rows" in result.output


def test_fail_fast_stops_at_the_first_input_that_cannot_be_read(tmp_path, sandbox):
    a = write_csv(tmp_path / "a.csv", [call_row("a0")])
    c = write_csv(tmp_path / "c.csv", [call_row("c0")])
    result = run_cli(
        *night_args(sandbox.url, tmp_path / "j.sqlite", a, tmp_path / "missing.csv", c),
        "--fail-fast",
        "--summary-json",
        str(tmp_path / "s.json"),
    )
    assert result.exit_code == 1, result.output
    assert [c["id"] for c in sandbox.calls()] == ["a0"]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["not_started"] == 1 and summary["inputs"][-1] == {
        "input": str(c),
        "not_started": True,
    }
    assert not (tmp_path / "c.results.csv").exists()


def test_only_unreadable_inputs_cannot_start(tmp_path, sandbox):
    result = run_cli(
        *night_args(sandbox.url, tmp_path / "j.sqlite", tmp_path / "x.csv", tmp_path / "y.csv")
    )
    assert result.exit_code == 2, result.output
    assert sandbox.requests() == []


def test_overlapping_exports_store_each_call_once(tmp_path, sandbox):
    monday = write_csv(tmp_path / "monday.csv", [call_row(f"m{i}") for i in range(5)])
    tuesday = write_csv(tmp_path / "tuesday.csv", [call_row(f"m{i}") for i in range(3, 8)])
    with zipfile.ZipFile(tmp_path / "night.zip", "w") as archive:
        archive.write(monday, "monday.csv")
        archive.write(tuesday, "tuesday.csv")
    result = run_cli(*night_args(sandbox.url, tmp_path / "j.sqlite", tmp_path / "night.zip"))
    assert result.exit_code == 0, result.output
    assert_exactly_once(sandbox, [f"m{i}" for i in range(8)])
    second = read_results(tmp_path / "night.tuesday.results.csv")
    assert [r["status"] for r in second] == ["already_uploaded"] * 2 + ["created"] * 3


def test_results_and_retry_file_name_one_file_so_several_inputs_use_out_dir(tmp_path, sandbox):
    a = write_csv(tmp_path / "a.csv", [call_row("a0")])
    b = write_csv(tmp_path / "b.csv", [call_row("b0")])
    refused = run_cli(*night_args(sandbox.url, tmp_path / "j.sqlite", a, b), "--results", "r.csv")
    assert refused.exit_code == 2 and "--out-dir" in refused.output
    out = tmp_path / "out" / "night"
    result = run_cli(*night_args(sandbox.url, tmp_path / "j.sqlite", a, b), "--out-dir", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.results.csv", "b.results.csv"]


def test_two_inputs_that_would_write_one_results_file_are_refused(tmp_path, sandbox):
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        write_csv(tmp_path / folder / "calls.csv", [call_row(folder)])
    result = run_cli(
        *night_args(sandbox.url, tmp_path / "j.sqlite", tmp_path / "x", tmp_path / "y"),
        "--out-dir",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 2 and "would both write" in result.output
    assert sandbox.requests() == []


def test_kill_9_in_the_second_file_then_the_same_command_sends_only_the_rest(
    tmp_path, make_sandbox
):
    box = make_sandbox(latency_ms=5)
    first = write_csv(tmp_path / "first.csv", [call_row(f"f{i}") for i in range(50)])
    second = write_csv(tmp_path / "second.csv", [call_row(f"s{i}") for i in range(300)])
    args = [
        *night_args(box.url, tmp_path / "j.sqlite", first, second),
        "--rate",
        "100",
        "--concurrency",
        "4",
        "--no-progress",
    ]
    env = {**os.environ, "INVOCA_OAUTH_TOKEN": TOKEN}
    command = [sys.executable, "-m", "uploader", *args]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    kill_when(process, lambda: sum(r.get("id", "").startswith("s") for r in box.requests()) >= 40)
    assert len(box.calls()) < 350
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert_exactly_once(box, [f"f{i}" for i in range(50)] + [f"s{i}" for i in range(300)], 4)
    firsts = read_results(tmp_path / "first.results.csv")
    assert {r["status"] for r in firsts} == {"already_uploaded"}


# ---------------------------------------------------------------- object storage


@pytest.fixture
def bucket(s3_server, monkeypatch, request):
    """A new bucket; credentials and endpoint from the environment, as the AWS chain reads them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "night-job")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "night-job-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem()
    name = "night-" + request.node.name.lower().replace("_", "-")[:40].strip("-")
    fs.mkdir(name)
    return fs, name


def test_a_night_in_a_bucket_uploads_and_writes_results_back(tmp_path, sandbox, bucket):
    """Compressed and zipped exports that overlap, one of them cut short, in one folder."""
    fs, name = bucket
    a = write_csv(tmp_path / "a.csv", [call_row(f"a{i}") for i in range(3)])
    fs.pipe(f"{name}/2026-11-25/a.csv.gz", gzip.compress(a.read_bytes()))
    with zipfile.ZipFile(tmp_path / "b.zip", "w") as archive:
        b = write_csv(tmp_path / "b.csv", [call_row("a2"), call_row("b0")])  # a2 overlaps a
        archive.writestr("b.csv", b.read_bytes())
    fs.put_file(str(tmp_path / "b.zip"), f"{name}/2026-11-25/b.zip")
    cut = gzip.compress(write_csv(tmp_path / "c.csv", [call_row("c0")] * 500).read_bytes())
    fs.pipe(f"{name}/2026-11-25/c.csv.gz", cut[: len(cut) // 2])
    fs.pipe(f"{name}/2026-11-25/a.results.csv", b"yesterday's, not an input")
    result = run_cli(
        *night_args(sandbox.url, tmp_path / "j.sqlite", f"s3://{name}/2026-11-25/"),
        "--summary-json",
        str(tmp_path / "s.json"),
    )
    assert result.exit_code == 1, result.output
    assert_exactly_once(sandbox, ["a0", "a1", "a2", "b0"])
    fs.invalidate_cache()
    written = fs.cat(f"{name}/2026-11-25/a.results.csv").decode("utf-8-sig").splitlines()
    assert written[0].startswith("row,external_call_unique_id,status,cuid")
    assert [line.split(",")[2] for line in written[1:]] == ["created"] * 3
    from_zip = fs.cat(f"{name}/2026-11-25/b.results.csv").decode("utf-8-sig").splitlines()
    assert [line.split(",")[2] for line in from_zip[1:]] == ["already_uploaded", "created"]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["inputs"][0]["files"]["results"] == f"s3://{name}/2026-11-25/a.results.csv"
    assert summary["unreadable"] == 1 and "cut short" in summary["inputs"][2]["error"]
    assert summary["counts"]["created"] == 4 and summary["counts"]["already_uploaded"] == 1


def test_a_missing_object_is_reported_and_the_rest_still_goes(tmp_path, sandbox, bucket):
    fs, name = bucket
    fs.pipe(f"{name}/c.csv", write_csv(tmp_path / "c.csv", [call_row("c0")]).read_bytes())
    result = run_cli(
        *night_args(
            sandbox.url, tmp_path / "j.sqlite", f"s3://{name}/gone.csv", f"s3://{name}/c.csv"
        ),
        "--out-dir",
        str(tmp_path / "results"),
    )
    assert result.exit_code == 1, result.output
    assert f"s3://{name}/gone.csv: no such object" in result.output
    assert [c["id"] for c in sandbox.calls()] == ["c0"]
    assert (tmp_path / "results" / "c.results.csv").exists()


def test_wrong_credentials_are_a_clear_message_not_a_traceback(tmp_path, sandbox):
    """A server that checks credentials (moto, IAM enforced) asked with keys it never issued."""
    pytest.importorskip("s3fs")
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from moto.server import ThreadedMotoServer; import time;"
            "s = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False); s.start();"
            "print(s.get_host_and_port()[1], flush=True); time.sleep(120)",
        ],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        port = int(server.stdout.readline())
        env = {
            **os.environ,
            "INVOCA_OAUTH_TOKEN": TOKEN,
            "AWS_ACCESS_KEY_ID": "AKIANOTISSUEDBYTHEM",
            "AWS_SECRET_ACCESS_KEY": "wrong",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}",
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "uploader",
                *night_args(sandbox.url, tmp_path / "j", "s3://night/a.csv"),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.kill()
        server.wait(10)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "s3://night/a.csv" in done.stderr, done.stderr
    assert "wrong" not in done.stderr  # the secret is never shown


def test_ctrl_c_in_the_second_file_stops_the_night_and_says_so(tmp_path, make_sandbox):
    import signal

    box = make_sandbox(latency_ms=5)
    files = [
        write_csv(tmp_path / f"{name}.csv", [call_row(f"{name}{i}") for i in range(count)])
        for name, count in (("a", 5), ("b", 400), ("c", 5))
    ]
    args = [*night_args(box.url, tmp_path / "j.sqlite", *files), "--rate", "50", "--no-progress"]
    summary = tmp_path / "s.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "uploader", *args, "--summary-json", str(summary)],
        env={**os.environ, "INVOCA_OAUTH_TOKEN": TOKEN},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: sum(r.get("id", "").startswith("b") for r in box.requests()) >= 20)
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 4
    document = json.loads(summary.read_text())
    assert document["exit_code"] == 4 and document["interrupted"]
    assert document["inputs"][-1] == {"input": str(files[2]), "not_started": True}
    assert not any(call["id"].startswith("c") for call in box.calls())
    b_results = read_results(tmp_path / "b.results.csv")
    assert len(b_results) == 400 and "not_sent" in {r["status"] for r in b_results}


def test_a_nights_warnings_are_said_once_with_the_inputs_they_apply_to(tmp_path, sandbox):
    inputs = []
    for name in ("n1", "n2", "n3"):
        rows = [{**call_row(f"{name}-0"), "agent notes": "x"}]
        inputs.append(write_csv(tmp_path / f"{name}.csv", rows))
    result = run_cli(*night_args(sandbox.url, tmp_path / "j.sqlite", *inputs))
    assert result.exit_code == 0, result.output
    said = [line for line in result.output.splitlines() if "columns not sent" in line]
    assert said == [
        "warning: columns not sent (kept in the results file): agent notes "
        "(3 inputs: n1.csv, n2.csv, n3.csv)"
    ]


def test_a_stopped_runs_rate_counts_the_rows_it_dealt_with_not_those_left():
    from uploader.summary import RunSummary

    summary = RunSummary(input="x.csv", command="upload", elapsed_seconds=2.0)
    summary.counts.update(created=34, not_sent=66)
    assert summary.as_dict()["rows_per_second"] == 17.0  # 34 in 2 s, not 100 in 2 s
    summary.sending = False  # a dry run deals with every row
    assert summary.as_dict()["rows_per_second"] == 50.0
