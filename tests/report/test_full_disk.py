"""A full disk, the way it comes: no file may grow past a size (RLIMIT_FSIZE, as a disk filling
mid-run) or a device that is always full (/dev/full). Whatever file it hits, the command says so
in plain words with the contract's exit code, counts each row once, and gives no traceback. (The
journal filling up is in test_exactly_once: it stops the run.)"""

from __future__ import annotations

import csv
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from tests.conftest import TOKEN, call_row, upload_args, write_csv


def run_on_a_small_disk(args: list[str], size: int | None, cwd: Path):
    """The command in a child process in which no file may grow past `size` bytes."""

    def small_files() -> None:
        if size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    done = subprocess.run(
        [sys.executable, "-m", "uploader", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "INVOCA_OAUTH_TOKEN": TOKEN},
        preexec_fn=small_files,
        cwd=cwd,
        timeout=120,
    )
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr, done.stderr
    return done


def wide_calls(path: Path, rows: int) -> Path:
    """Rows whose results lines are long (three 60 KB columns kept in the results file), so that
    the results file fills the disk long before the journal does."""
    notes = {f"notes {n}": "x" * 60_000 for n in range(3)}
    return write_csv(path, [{**call_row(f"w{i}"), **notes} for i in range(rows)])


def test_results_that_fill_the_disk_are_exit_5_with_every_row_counted_once(tmp_path, sandbox):
    path = wide_calls(tmp_path / "wide.csv", 20)
    args = upload_args(path, sandbox.url, tmp_path / "j.sqlite")
    done = run_on_a_small_disk(
        [*args, "--rate", "0", "--concurrency", "32", "--summary-json", "s.json"], 600_000, tmp_path
    )
    assert done.returncode == 5, done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["rows"] == 20 and summary["counts"]["created"] == 20
    assert summary["exit_code"] == 5 and len(sandbox.calls()) == 20
    assert (
        "output problem: " in done.stderr and "wide.results.csv: cannot be written" in done.stderr
    )
    assert not (tmp_path / "wide.results.csv").exists()  # no half-written results file


def test_a_dry_run_on_a_full_disk_is_exit_5_with_every_row_counted(tmp_path, calls):
    done = run_on_a_small_disk(
        ["upload", str(calls(400)), "--dry-run", "--campaign-id", "85", "--summary-json", "s.json"],
        20_000,
        tmp_path,
    )
    assert done.returncode == 5, done.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["rows"] == 400 and summary["counts"]["not_sent"] == 400
    assert any("requests.jsonl: cannot be written" in p for p in summary["output_problems"])
    assert not (tmp_path / "calls.requests.jsonl").exists()  # not a cut one in its place


def test_a_log_file_on_a_full_device_is_exit_5_and_the_run_goes_on(tmp_path, sandbox, calls):
    args = upload_args(calls(30), sandbox.url, tmp_path / "j.sqlite")
    done = run_on_a_small_disk([*args, "--log-file", "/dev/full", "--rate", "0"], None, tmp_path)
    assert done.returncode == 5, done.stderr
    assert "output problem: /dev/full: cannot be written (No space left on device)" in done.stderr
    with (tmp_path / "calls.results.csv").open(encoding="utf-8-sig") as stream:
        assert [row["status"] for row in csv.DictReader(stream)] == ["created"] * 30


def test_a_validation_report_on_a_full_disk_is_one_line_exit_2(tmp_path):
    path = write_csv(
        tmp_path / "bad.csv", [call_row(f"b{i}", start_time="soon") for i in range(900)]
    )
    done = run_on_a_small_disk(["validate", str(path), "--campaign-id", "85"], 20_000, tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "bad.errors.csv: cannot be written (File too large)" in done.stderr


def test_a_journal_export_on_a_full_disk_is_one_line_exit_2(tmp_path, sandbox, calls):
    journal = tmp_path / "j.sqlite"
    run_on_a_small_disk(
        [*upload_args(calls(300), sandbox.url, journal), "--rate", "0"], None, tmp_path
    )
    done = run_on_a_small_disk(  # room for the journal's 32 KB index file, not for the export
        ["journal", "--journal", str(journal), "--export", "all.csv"], 40_000, tmp_path
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "all.csv: cannot be written (File too large)" in done.stderr
    assert not (tmp_path / "all.csv").exists()


def test_a_template_on_a_full_disk_is_one_line_exit_2(tmp_path):
    done = run_on_a_small_disk(["template", "calls.xlsx"], 2_000, tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "calls.xlsx: cannot be written" in done.stderr and not (tmp_path / "calls.xlsx").exists()


def test_a_new_file_is_made_beside_its_target_and_nothing_is_left_when_its_writer_fails(tmp_path):
    """The file is written under a temporary name in the target's own folder (a rename across
    file systems is no rename), and a writer that fails in any way leaves neither file."""
    import pytest

    from uploader.report.files import AtomicFile, written

    target = tmp_path / "out" / "calls.results.csv"
    target.parent.mkdir()
    pending = AtomicFile(target)
    assert pending.temporary.parent == target.parent
    pending.discard()
    with pytest.raises(ValueError), written(target) as stream:
        stream.write("half a line")
        raise ValueError("the writer's own bug")
    assert list(target.parent.iterdir()) == []


def test_two_paths_are_one_file_only_when_they_are(tmp_path):
    """Outputs are refused over their input by identity, never by how the names sort."""
    from uploader.report.files import same_file

    (tmp_path / "b.csv").write_text("x")
    (tmp_path / "link.csv").symlink_to(tmp_path / "b.csv")
    assert same_file(tmp_path / "b.csv", tmp_path / "link.csv")
    assert same_file(tmp_path / "b.csv", tmp_path / "sub" / ".." / "b.csv")
    assert not same_file(tmp_path / "a.results.csv", tmp_path / "b.csv")  # sorts before it
    assert not same_file(tmp_path / "c.results.csv", tmp_path / "b.csv")


def test_a_log_file_is_made_readable_as_the_umask_allows_and_never_executable(tmp_path):
    from uploader.report.files import append_no_follow

    previous = os.umask(0o022)
    try:
        with append_no_follow(tmp_path / "run.jsonl") as stream:
            stream.write("{}\n")
    finally:
        os.umask(previous)
    assert (tmp_path / "run.jsonl").stat().st_mode & 0o777 == 0o644


def test_results_for_a_folder_that_does_not_exist_are_one_line(tmp_path):
    import pytest

    from uploader.errors import OutputError
    from uploader.report.files import AtomicFile

    with pytest.raises(OutputError, match=r"gone/x.results.csv: cannot be written"):
        AtomicFile(tmp_path / "gone" / "x.results.csv")
