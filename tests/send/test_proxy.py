"""Behind a corporate proxy: the tool goes through the proxy the environment names (HTTPS_PROXY,
NO_PROXY, as curl and pip read them) in a CONNECT tunnel, with the proxy's credentials on the
CONNECT request alone, and says plainly when the proxy is the problem. A loopback address (the
sandbox) is never proxied.

The API here is a TLS sandbox reached by a name only the proxy resolves (`api.invoca.test`), as
the real API is reached from behind a proxy."""

from __future__ import annotations

import ssl

import pytest

from tests.conftest import TOKEN, library_upload
from tests.send.forward_proxy import running_proxy
from tests.send.test_client import no_sleep, request
from uploader.sandbox import SandboxConfig, create_app
from uploader.sandbox.server import STATE
from uploader.send.client import Pending, Sender, send_all
from uploader.send.pacing import Pace

NAME = "api.invoca.test"  # resolved by the proxy alone


@pytest.fixture
async def api(aiohttp_server, self_signed):
    """The sandbox over TLS on loopback, its certificate naming api.invoca.test: (app, url, ca)."""
    key, cert = self_signed
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    app = create_app(SandboxConfig(token=TOKEN))
    server = await aiohttp_server(app, ssl=context)
    return app, f"https://{NAME}:{server.port}/api/2022-03-01/calls.json", str(cert)


async def send(url: str, ca: str, *rows: int) -> tuple[dict, Sender]:
    pace = Pace(rate=0, concurrency=2, max_retries=0)
    async with Sender(url, TOKEN, pace, ca_bundle=ca, sleep=no_sleep) as sender:
        return await send_all(sender, [Pending(request(i), False) for i in rows]), sender


async def test_https_goes_through_a_connect_tunnel_with_the_proxys_credentials(api, monkeypatch):
    app, url, ca = api
    with running_proxy(credentials="ops:s3cret", names={NAME: "127.0.0.1"}) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url.replace("//", "//ops:s3cret@"))
        outcomes, _ = await send(url, ca, 0, 1, 2)
        assert [o.status for o in outcomes.values()] == ["created"] * 3
        port = url.split(":")[2].split("/")[0]
        assert proxy.asked and all(asked == f"CONNECT {NAME}:{port}" for asked in proxy.asked)
        seen = list(app[STATE].requests)
        assert len(seen) == 3 and not any("Proxy-Authorization" in r["headers"] for r in seen)

        monkeypatch.setenv("HTTPS_PROXY", proxy.url)  # no credentials: the proxy says 407
        outcomes, sender = await send(url, ca, 3)
    assert outcomes[5].status == "failed" and "asks for credentials (407)" in sender.stop_reason
    assert "HTTPS_PROXY" in sender.stop_reason and "s3cret" not in sender.stop_reason
    assert len(app[STATE].requests) == 3


async def test_a_proxy_that_cannot_be_reached_is_named(api, monkeypatch):
    _, url, ca = api
    with running_proxy() as gone:
        pass  # its port is closed now
    monkeypatch.setenv("HTTPS_PROXY", gone.url)
    outcomes, _ = await send(url, ca, 0)
    named = f"cannot connect to the proxy {gone.url.removeprefix('http://')} (HTTPS_PROXY)"
    assert outcomes[2].status == "failed" and named in outcomes[2].error


async def test_no_proxy_goes_direct(api, monkeypatch):
    _, url, ca = api
    with running_proxy(names={NAME: "127.0.0.1"}) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", NAME)
        outcomes, _ = await send(url, ca, 0)
    assert proxy.asked == []  # straight to a name this machine cannot resolve
    assert outcomes[2].status == "failed" and f"cannot connect to {NAME}" in outcomes[2].error


def test_a_loopback_address_is_never_proxied(sandbox, calls, tmp_path, monkeypatch):
    with running_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        summary = library_upload(calls(3), sandbox.url, tmp_path / "j.sqlite")
    assert summary.counts["created"] == 3 and proxy.asked == []


def test_the_demo_runs_with_a_proxy_set_for_everything(tmp_path):
    """As on a machine where pip needs a proxy and NO_PROXY was never set."""
    import os
    import subprocess
    import sys

    dead = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    done = subprocess.run(
        [sys.executable, "-m", "uploader", "demo"],
        capture_output=True,
        text=True,
        env={**os.environ, **dead},
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "the sandbox now holds 49 calls" in done.stdout
