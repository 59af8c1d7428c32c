"""Recordings Invoca can fetch (#34): direct access by call id; presigned URLs that expire before
Invoca fetches them."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import call_row, library_upload, write_csv


def test_direct_access_needs_no_recording_and_still_sends_one_a_row_has(tmp_path, make_sandbox):
    """--recording-by-id (or recording_by_id = true): rows without a recording are sent without
    one, as the API takes them for a network with direct access; a row's own recording is still
    sent. Without it the same file is refused before anything is read (exit 2)."""
    from uploader.errors import InputError

    box = make_sandbox(direct_access=True)
    header = [
        "external_call_unique_id",
        "start_time",
        "calling_phone_number",
        "destination_phone_number",
        "call_direction",
        "recording_url",
    ]
    rows = [call_row("r1", recording_url=""), call_row("r2")]
    path = write_csv(tmp_path / "direct.csv", rows, header=header)
    summary = library_upload(path, box.url, tmp_path / "j.sqlite", recording_by_id=True)
    assert summary.exit_code == 0
    sent = {c["id"]: c["body"]["call"] for c in box.calls()}
    assert "recording_url" not in sent["r1"] and "recording_filename" not in sent["r1"]
    assert sent["r2"]["recording_url"] == rows[1]["recording_url"]
    bare = [h for h in header if h != "recording_url"]
    plain = write_csv(tmp_path / "bare.csv", [call_row("r3")], header=bare)
    with pytest.raises(InputError, match="--recording-by-id"):
        library_upload(plain, box.url, tmp_path / "j.sqlite")
    profile = tmp_path / "direct.toml"
    columns = "".join(f'{name} = "{name}"\n' for name in bare)
    profile.write_text(f'name = "direct"\nrecording_by_id = true\n[columns]\n{columns}')
    summary = library_upload(plain, box.url, tmp_path / "j.sqlite", profile=str(profile))
    assert summary.exit_code == 0 and "r3" in {c["id"] for c in box.calls()}


def _presigned(now: dt.datetime, hours: float) -> dict[str, str]:
    """A URL of each cloud's presigned form, expiring `hours` from `now`."""
    ends = now + dt.timedelta(hours=hours)
    signed_at = min(now - dt.timedelta(minutes=5), ends - dt.timedelta(hours=1))
    seconds = int((ends - signed_at).total_seconds())
    stamp = signed_at.strftime("%Y%m%dT%H%M%SZ")
    epoch = int(ends.timestamp())
    return {
        "s3v4": f"https://b.s3.amazonaws.com/r.wav?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Date={stamp}&X-Amz-Expires={seconds}&X-Amz-Signature=abc",
        "s3v2": f"https://b.s3.amazonaws.com/r.wav?AWSAccessKeyId=AK&Expires={epoch}&Signature=x",
        "gcs": f"https://storage.googleapis.com/b/r.wav?X-Goog-Algorithm=GOOG4-RSA-SHA256"
        f"&X-Goog-Date={stamp}&X-Goog-Expires={seconds}&X-Goog-Signature=abc",
        "azure": f"https://a.blob.core.windows.net/c/r.wav?sv=2022-11-02&sp=r"
        f"&se={ends.strftime('%Y-%m-%dT%H:%M:%SZ')}&sig=abc",
        "cloudfront": f"https://d1.cloudfront.net/r.wav?Expires={epoch}&Signature=x&Key-Pair-Id=K",
    }


@pytest.mark.parametrize("cloud", ["s3v4", "s3v2", "gcs", "azure", "cloudfront"])
def test_a_presigned_url_that_expires_before_invoca_fetches_it_is_refused(tmp_path, sandbox, cloud):
    """Expired and expiring within 24 hours: invalid, with when it expires and what to do; the
    same link valid for 3 days is sent; an unsigned one is sent as it is."""
    now = dt.datetime.now(dt.UTC)
    rows = [
        call_row("expired", recording_url=_presigned(now, -2)[cloud]),
        call_row("soon", recording_url=_presigned(now, 3)[cloud]),
        call_row("good", recording_url=_presigned(now, 72)[cloud]),
        call_row("plain", recording_url="https://rec.example.com/plain.wav?Expires=soon"),
    ]
    path = write_csv(tmp_path / f"{cloud}.csv", rows)
    summary = library_upload(path, sandbox.url, tmp_path / "j.sqlite")
    assert {c["id"] for c in sandbox.calls()} == {"good", "plain"}
    import csv

    with (tmp_path / f"{cloud}.results.csv").open(encoding="utf-8-sig", newline="") as stream:
        results = {r["external_call_unique_id"]: r for r in csv.DictReader(stream)}
    assert results["expired"]["status"] == "invalid" and "expired on" in results["expired"]["error"]
    assert results["soon"]["status"] == "invalid" and "within 24 hours" in results["soon"]["error"]
    assert summary.exit_code == 1


def test_validate_checks_expiry_against_the_current_time(tmp_path):
    from uploader.pipeline import validate_file

    now = dt.datetime.now(dt.UTC)
    path = write_csv(tmp_path / "v.csv", [call_row("v1", recording_url=_presigned(now, 1)["s3v4"])])
    summary = validate_file(path, campaign_id="85")
    assert summary.counts["invalid"] == 1
