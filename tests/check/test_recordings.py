"""Recordings Invoca can fetch (#34): direct access by call id; presigned URLs that expire before
Invoca fetches them."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import HEADER, call_row, library_upload, write_csv


def test_direct_access_needs_no_recording_and_still_sends_one_a_row_has(tmp_path, make_sandbox):
    """--recording-by-id (or recording_by_id = true): rows without a recording are sent without
    one, as the API takes them for a network with direct access; a row's own recording is still
    sent. Without it the same file is refused before anything is read (exit 2)."""
    from uploader.errors import InputError

    box = make_sandbox(direct_access=True)
    header = HEADER
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
    for refused in ("expired", "soon"):  # the reason quotes the link, never its signature again
        error = results[refused]["error"].lower()
        assert "signature=" not in error and "sig=" not in error, error
    assert summary.exit_code == 1


def test_validate_checks_expiry_against_the_current_time(tmp_path):
    from uploader.pipeline import validate_file

    now = dt.datetime.now(dt.UTC)
    path = write_csv(tmp_path / "v.csv", [call_row("v1", recording_url=_presigned(now, 1)["s3v4"])])
    summary = validate_file(path, campaign_id="85")
    assert summary.counts["invalid"] == 1


class RecordingsServer:
    """A recordings host on loopback: a good file, a 404, a web page, an empty file, a store that
    refuses HEAD but serves a ranged GET, one that fails once, a redirect to plain http, a slow
    one. It notes every request's Authorization header."""

    def __init__(self) -> None:
        import threading

        from aiohttp import web

        self.authorizations: list[str | None] = []
        self.flaky = 0
        self.ready = threading.Event()
        self.app = web.Application()
        self.app.router.add_route("*", "/{name}", self.answer)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    def _run(self) -> None:
        import asyncio

        from aiohttp import web

        async def main() -> None:
            runner = web.AppRunner(self.app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
            self.ready.set()
            await asyncio.Event().wait()

        asyncio.run(main())

    async def answer(self, request):  # type: ignore[no-untyped-def]
        import asyncio

        from aiohttp import web

        self.authorizations.append(request.headers.get("Authorization"))
        name = request.match_info["name"]
        audio = {"Content-Type": "audio/wav"}
        if name == "good.wav":
            return web.Response(body=b"RIFF....WAVE", headers=audio)
        if name == "html.wav":
            return web.Response(text="<html>sign in</html>", content_type="text/html")
        if name == "empty.wav":
            return web.Response(body=b"", headers=audio)
        if name == "s3.wav":  # a presigned GET: HEAD is not signed for
            if request.method == "HEAD":
                return web.Response(status=403)
            return web.Response(
                status=206, body=b"R", headers={**audio, "Content-Range": "bytes 0-0/5000"}
            )
        if name == "flaky.wav":
            self.flaky += 1
            if self.flaky == 1:
                return web.Response(status=503)
            return web.Response(body=b"RIFF", headers=audio)
        if name == "moved.wav":
            raise web.HTTPFound(self.url + "/good.wav")  # to plain http: refused
        if name == "slow.wav":
            await asyncio.sleep(3)
            return web.Response(body=b"RIFF", headers=audio)
        return web.Response(status=404)


def test_check_recordings_fetches_each_link_once_and_refuses_the_dead_ones(
    tmp_path, sandbox, monkeypatch
):
    """--check-recordings: only links that answer with a recording are sent; each other row is
    invalid saying why; the token never reaches the recordings host; a summary line counts."""
    from uploader.check import reachable

    monkeypatch.setattr(reachable, "TIMEOUT", 1.0)
    host = RecordingsServer()
    names = ["good", "html", "empty", "s3", "flaky", "moved", "slow", "missing"]
    rows = [call_row(f"k-{n}", recording_url=f"{host.url}/{n}.wav") for n in names]
    rows.append(call_row("k-again", recording_url=f"{host.url}/good.wav"))  # fetched once
    path = write_csv(tmp_path / "links.csv", rows)
    summary = library_upload(path, sandbox.url, tmp_path / "j.sqlite", check_recordings=True)
    assert {c["id"] for c in sandbox.calls()} == {"k-good", "k-s3", "k-flaky", "k-again"}
    import csv

    with (tmp_path / "links.results.csv").open(encoding="utf-8-sig", newline="") as stream:
        results = {r["external_call_unique_id"]: r["error"] for r in csv.DictReader(stream)}
    assert "web page" in results["k-html"] and "empty file" in results["k-empty"]
    assert "not an HTTPS address" in results["k-moved"]
    assert "404" in results["k-missing"] and "did not answer" in results["k-slow"]
    assert set(host.authorizations) == {None}  # the Invoca token never goes there
    assert "recordings checked: 8 links, 5 not reachable" in summary.notes
