"""S3 locations sent as presigned links (#34, --presign-recordings): against moto's S3 server and
the sandbox on loopback. The links that reach the API fetch the recording from S3; the journal's
fingerprint is of the location, so a rerun signs anew and is still the same call; no file the tool
writes holds a signature."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from tests.conftest import AWS_SECRET as SECRET
from tests.conftest import HEADER, TOKEN, call_row, upload_args, write_csv
from tests.test_upload import read_results, run_cli

CONNECT = [
    "ContactId",
    "Channel",
    "InitiationMethod",
    "InitiationTimestamp",
    "CustomerEndpoint.Address",
    "SystemEndpoint.Address",
    "Recording.Location",
]
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt "


def contact(identifier: str, location: str) -> dict[str, str]:
    return {
        "ContactId": identifier,
        "Channel": "VOICE",
        "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2026-12-02T17:12:59Z",
        "CustomerEndpoint.Address": "+13125550143",
        "SystemEndpoint.Address": "+18885551212",
        "Recording.Location": location,
    }


def test_s3_locations_are_sent_as_links_that_fetch_the_recording(tmp_path, sandbox, aws):
    """A Connect export's `bucket/key` (a key with a colon), an `s3://` location (a key with a
    space) and a bucket in another region are sent as presigned links that fetch the object; a
    missing bucket, a name no bucket can have and a missing object (--check-recordings) are invalid
    saying why; a rerun signs anew (other links) and is `already_uploaded`, not changed; nothing
    written holds a signature."""
    keys = {
        "connect-recs": "connect/i/CallRecordings/2026/12/02/c-good_20261202T17:12_UTC.wav",
        "connect-recs/": "connect/a b.wav",
        "eu-recs": "x.wav",
    }
    aws.put_object(Bucket="connect-recs", Key=keys["connect-recs"], Body=AUDIO)
    aws.put_object(Bucket="connect-recs", Key=keys["connect-recs/"], Body=AUDIO + b"2")
    aws.put_object(Bucket="eu-recs", Key="x.wav", Body=AUDIO + b"3")
    rows = [
        contact("c-good", f"connect-recs/{keys['connect-recs']}"),
        contact("c-space", f"s3://connect-recs/{keys['connect-recs/']}"),
        contact("c-eu", "eu-recs/x.wav"),
        contact("c-nobucket", "gone-recs/x.wav"),
        contact("c-capital", "Connect-Recs/x.wav"),
        contact("c-nokey", "connect-recs/missing.wav"),
    ]
    path = write_csv(tmp_path / "ctr.csv", rows, header=CONNECT)
    args = [
        *upload_args(path, sandbox.url, tmp_path / "j.sqlite"),
        "--profile",
        "amazon_connect",
        "--presign-recordings",
        "--check-recordings",
        "--log-file",
        str(tmp_path / "run.jsonl"),
        "--summary-json",
        str(tmp_path / "summary.json"),
    ]
    result = run_cli(*args)
    assert result.exit_code == 1, result.output
    sent = {c["id"]: c["body"]["call"] for c in sandbox.calls()}
    assert set(sent) == {"c-good", "c-space", "c-eu"}
    for identifier, content in (
        ("c-good", AUDIO),
        ("c-space", AUDIO + b"2"),
        ("c-eu", AUDIO + b"3"),
    ):
        call = sent[identifier]
        assert "recording_filename" not in call
        assert (
            "X-Amz-Signature=" in call["recording_url"]
            and "X-Amz-Expires=604800" in call["recording_url"]
        )
        with urllib.request.urlopen(call["recording_url"], timeout=10) as answer:  # noqa: S310
            assert answer.read() == content
    assert "%2Feu-west-1%2F" in sent["c-eu"]["recording_url"]  # signed for the bucket's region
    results = {r["external_call_unique_id"]: r for r in read_results(tmp_path / "ctr.results.csv")}
    assert results["c-nobucket"]["error"].startswith("recording_url (Recording.Location): ")
    assert "no bucket named gone-recs" in results["c-nobucket"]["error"]
    assert "is not an S3 location" in results["c-capital"]["error"]
    assert "recording not reachable" in results["c-nokey"]["error"]
    assert {results[i]["status"] for i in ("c-nobucket", "c-capital", "c-nokey")} == {"invalid"}
    notes = json.loads((tmp_path / "summary.json").read_text())["notes"]
    assert "recordings signed: 4 S3 locations, links valid 7 days" in notes, notes

    again = run_cli(*args, "--presign-recordings=3")  # signed anew, as a night later would be
    assert again.exit_code == 1, again.output
    rerun = {r["external_call_unique_id"]: r for r in read_results(tmp_path / "ctr.results.csv")}
    assert {rerun[i]["status"] for i in sent} == {"already_uploaded"}
    assert "changed" not in " ".join(rerun[i]["error"] for i in sent)
    assert len(sandbox.calls()) == 3

    dry = run_cli(*args, "--dry-run")
    assert dry.exit_code == 1, dry.output
    bodies = [
        json.loads(line)
        for line in (tmp_path / "ctr.requests.jsonl").read_text().split("\n")
        if line
    ]
    assert {b["call"]["recording_url"] for b in bodies} == {
        f"s3://connect-recs/{keys['connect-recs']}",
        f"s3://connect-recs/{keys['connect-recs/']}",
        "s3://eu-recs/x.wav",
    }
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "xdg" not in p.parts[-2]]
    assert len(written) >= 6
    for file in written:
        data = file.read_bytes()
        assert b"X-Amz-Signature" not in data and b"Signature=" not in data, file
        assert SECRET.encode() not in data, file


def test_without_the_option_an_s3_location_is_refused_not_sent_as_a_filename(tmp_path, sandbox):
    """`s3://` is no path in a store Invoca reads and no URL it fetches: invalid, naming the
    option; Connect's scheme-less `bucket/key` is still a filename for direct access."""
    header = [*HEADER, "recording_filename"]
    rows = [
        call_row("u1", recording_url="s3://recs/a.wav"),
        call_row("u2", recording_url="", recording_filename="s3://recs/b.wav"),
        call_row("u3", recording_url="", recording_filename="recs/c.wav"),
    ]
    path = write_csv(tmp_path / "s3.csv", rows, header=header)
    result = run_cli(*upload_args(path, sandbox.url, tmp_path / "j.sqlite"))
    assert result.exit_code == 1, result.output
    assert {c["id"]: c["body"]["call"].get("recording_filename") for c in sandbox.calls()} == {
        "u3": "recs/c.wav"
    }
    results = {r["external_call_unique_id"]: r for r in read_results(tmp_path / "s3.results.csv")}
    for identifier in ("u1", "u2"):
        assert results[identifier]["status"] == "invalid"
        assert "--presign-recordings" in results[identifier]["error"]


def _refused(tmp_path, sandbox, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    path = write_csv(tmp_path / "ctr.csv", [contact("c1", "connect-recs/a.wav")], header=CONNECT)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "uploader",
            *upload_args(path, sandbox.url, tmp_path / "j.sqlite"),
            "--profile",
            "amazon_connect",
            "--presign-recordings",
            *extra,
        ],
        env={**os.environ, "INVOCA_OAUTH_TOKEN": TOKEN, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert sandbox.calls() == []
    return done


def test_no_credentials_is_one_line_and_exit_2_before_anything_is_sent(
    tmp_path, sandbox, aws, monkeypatch
):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    done = _refused(tmp_path, sandbox, {})
    assert "no AWS credentials found" in done.stderr


def test_temporary_credentials_that_may_end_before_invoca_fetches_are_refused(
    tmp_path, sandbox, aws
):
    """A session token (a role's keys) ends the links it signs when it expires, whatever the
    links say: with no known end past 24 hours, refused."""
    done = _refused(tmp_path, sandbox, {"AWS_SESSION_TOKEN": "FwoGZXIvYXdzEBY"})
    assert "temporary" in done.stderr


def test_a_missing_s3_extra_is_one_line_naming_it(tmp_path, sandbox, aws):
    shadow = tmp_path / "shadow" / "botocore"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('botocore is not installed')\n")
    path = os.pathsep.join(filter(None, [str(shadow.parent), os.environ.get("PYTHONPATH")]))
    done = _refused(tmp_path, sandbox, {"PYTHONPATH": path})
    assert "pip install 'invoca-upload[s3]'" in done.stderr


def test_days_are_checked_and_a_file_after_the_option_stays_a_file(tmp_path, calls, aws):
    """`--presign-recordings calls.csv` is the option alone and then the file (7 days), as it
    would be after the file; a number after it is its days; out of 2-7 is exit 2."""
    path = calls(1)
    for args in (
        ["--presign-recordings", str(path)],
        [str(path), "--presign-recordings"],
        ["--presign-recordings", "--campaign-id", "85", str(path)],
        ["--presign-recordings", "3", str(path)],
    ):
        done = run_cli("validate", *args, "--campaign-id", "85")
        assert done.exit_code == 0, (args, done.output)
        assert "recordings signed: 0 S3 locations" in done.output
    assert "links valid 3 days" in done.output
    for days in ("1", "8", "x"):
        short = run_cli("validate", str(path), f"--presign-recordings={days}")
        assert short.exit_code == 2 and "--presign-recordings" in short.output, short.output


def test_links_on_aws_name_the_buckets_region_and_a_dotted_bucket_keeps_tls(monkeypatch, tmp_path):
    """On AWS a link names its region's host (the global one redirects a young bucket's requests,
    which breaks the signature over the host); a bucket with dots is path-style (no wildcard
    certificate covers it). Signing is local: no request is made here."""
    from uploader.check.presign import Presigner

    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAPRESIGNTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    signer = Presigner(7)
    assert (
        signer._client("eu-west-1")
        .generate_presigned_url(
            "get_object", Params={"Bucket": "recs", "Key": "a b.wav"}, ExpiresIn=60
        )
        .startswith("https://recs.s3.eu-west-1.amazonaws.com/a%20b.wav?")
    )
    assert (
        signer._client("eu-west-1")
        .generate_presigned_url(
            "get_object", Params={"Bucket": "my.recs", "Key": "k.wav"}, ExpiresIn=60
        )
        .startswith("https://s3.eu-west-1.amazonaws.com/my.recs/k.wav?")
    )


def test_temporary_credentials_with_a_known_end_cut_the_links_life_or_are_refused():
    """A role's refreshable credentials say when they end: past DAYS, nothing to say; between 25 h
    and DAYS, a warning naming when the links stop; sooner, refused."""
    import datetime as dt
    from types import SimpleNamespace

    from uploader.check.presign import _credentials_last
    from uploader.errors import ConfigError

    now = dt.datetime(2026, 12, 3, 12, tzinfo=dt.UTC)

    def session(hours: float) -> SimpleNamespace:
        ends = now + dt.timedelta(hours=hours)
        credentials = SimpleNamespace(token="role-token", _expiry_time=ends)
        return SimpleNamespace(get_credentials=lambda: credentials)

    assert _credentials_last(session(24 * 8), now, 7) is None
    said = _credentials_last(session(36), now, 7)
    assert said is not None and "2026-12-05 00:00 UTC" in said and "not in 7 days" in said
    with pytest.raises(ConfigError, match="expire 2026-12-03 18:00 UTC"):
        _credentials_last(session(6), now, 7)


def test_a_value_that_is_no_location_is_refused_saying_so_not_as_a_missing_recording():
    """`s3://bucket` (no key) keeps its cell and says what it lacks; a pasted zero-width space
    would make S3 look for another key: refused, not signed. Other spellings are locations."""
    import pandas as pd

    from uploader.check.presign import HIDDEN, NOT_A_LOCATION, recording_locations

    given = ["s3://recs", "s3://recs/a.wav\u200b", "S3://recs/a.wav", "s3a://recs/b c.wav"]
    urls, names = recording_locations(
        pd.Series(given, dtype="string"), pd.Series([pd.NA] * 4, dtype="string"), True
    )
    assert list(urls.values[:2]) == given[:2]
    assert list(urls.reasons[:2]) == [NOT_A_LOCATION, HIDDEN]
    assert list(urls.values[2:]) == ["s3://recs/a.wav", "s3://recs/b c.wav"]
    assert urls.reasons[2:].isna().all() and names.reasons.isna().all()
    _, from_names = recording_locations(
        pd.Series([pd.NA], dtype="string"), pd.Series(["call.wav"], dtype="string"), True
    )
    assert list(from_names.values) == ["call.wav"] and list(from_names.reasons) == [NOT_A_LOCATION]
