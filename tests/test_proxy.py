"""Behind a corporate proxy: the tool goes through the proxy the environment names (HTTP_PROXY,
HTTPS_PROXY, NO_PROXY, as curl and pip read them), with its credentials, and says plainly when the
proxy is the problem."""

from __future__ import annotations

import ssl

import pytest

from tests.conftest import TOKEN, library_upload
from tests.forward_proxy import running_proxy
from tests.test_client import no_sleep, request
from tests.test_upload import read_results
from uploader.client import Pace, Pending, Sender, send_all
from uploader.sandbox import SandboxConfig, create_app
from uploader.sandbox.server import STATE


@pytest.fixture
def proxy():
    with running_proxy() as running:
        yield running


def test_an_upload_goes_through_the_proxy_the_environment_names(
    sandbox, calls, tmp_path, monkeypatch, proxy
):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    summary = library_upload(calls(5), sandbox.url, tmp_path / "j.sqlite")
    assert summary.counts["created"] == 5 and summary.exit_code == 0
    assert proxy.asked and all(
        asked.startswith(f"POST {sandbox.url}/api/") for asked in proxy.asked
    )
    assert len(sandbox.calls()) == 5


def test_no_proxy_goes_direct(sandbox, calls, tmp_path, monkeypatch, proxy):
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    summary = library_upload(calls(3), sandbox.url, tmp_path / "j.sqlite")
    assert summary.counts["created"] == 3 and proxy.asked == []


def test_a_proxy_that_cannot_be_reached_is_named(sandbox, calls, tmp_path, monkeypatch):
    with running_proxy() as gone:
        pass  # its port is closed now
    monkeypatch.setenv("HTTP_PROXY", gone.url)
    summary = library_upload(calls(2), sandbox.url, tmp_path / "j.sqlite", max_retries=0)
    rows = read_results(tmp_path / "calls.results.csv")
    assert summary.counts["failed"] == 2 and sandbox.calls() == []
    named = f"cannot connect to the proxy {gone.url.removeprefix('http://')} (HTTP_PROXY)"
    assert all(named in row["error"] for row in rows)


def test_proxy_credentials_come_from_the_proxy_url(sandbox, calls, tmp_path, monkeypatch):
    with running_proxy(credentials="ops:s3cret") as guarded:
        monkeypatch.setenv("HTTP_PROXY", guarded.url.replace("//", "//ops:s3cret@"))
        summary = library_upload(calls(2), sandbox.url, tmp_path / "j.sqlite")
        assert summary.counts["created"] == 2

        monkeypatch.setenv("HTTP_PROXY", guarded.url)
        summary = library_upload(
            calls(2, name="more.csv", prefix="more-"), sandbox.url, tmp_path / "j.sqlite"
        )
    assert summary.exit_code == 3 and "proxy" in summary.stopped and "407" in summary.stopped
    assert "s3cret" not in summary.stopped and len(sandbox.calls()) == 2


async def test_https_goes_through_a_connect_tunnel_with_the_proxys_credentials(
    aiohttp_server, self_signed, monkeypatch
):
    key, cert = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = create_app(SandboxConfig(token=TOKEN))
    server = await aiohttp_server(app, ssl=context)
    url = f"https://127.0.0.1:{server.port}/api/2022-03-01/calls.json"

    async def send(*rows: int) -> tuple[dict, Sender]:
        async with Sender(
            url, TOKEN, Pace(rate=0, concurrency=2), ca_bundle=str(cert), sleep=no_sleep
        ) as sender:
            return await send_all(sender, [Pending(request(i), False) for i in rows]), sender

    with running_proxy(credentials="ops:s3cret") as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("//", "//ops:s3cret@"))
        outcomes, _ = await send(0, 1, 2)
        assert [o.status for o in outcomes.values()] == ["created"] * 3
        assert proxy.asked and all(a == f"CONNECT 127.0.0.1:{server.port}" for a in proxy.asked)
        seen = list(app[STATE].requests)
        assert seen and not any("Proxy-Authorization" in r["headers"] for r in seen)

        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        outcomes, sender = await send(3)
    assert outcomes[5].status == "failed" and "407" in sender.stop_reason
    assert "HTTPS_PROXY" in sender.stop_reason and len(app[STATE].requests) == len(seen)
