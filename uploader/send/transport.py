"""The HTTP transport: one aiohttp session with TLS and the proxy the environment names (never for a
loopback address), a bounded read of each answer, and an unreachable API told apart from a
slow one."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import aiohttp
import orjson
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from uploader.check.mapping import CallRequest
from uploader.errors import RunStopped, TransportError
from uploader.send.answers import NOT_JSON, Answer, classify
from uploader.send.pacing import Pace
from uploader.settings import is_loopback
from uploader.textsafe import printable

log = logging.getLogger("uploader")  # MOVEME


MAX_RESPONSE = 64 * 1024


class Transport:
    """One aiohttp session to the endpoint: posts a request's body and turns the answer, however
    it comes (split across packets, cut, refused, not the API's), into an `Answer` or a
    TransportError (may succeed later), `Unreached` (never left) or RunStopped."""

    def __init__(self, endpoint: str, token: str, pace: Pace, *, ca_bundle: str | None) -> None:
        self._url = URL(endpoint)  # parsed once, not per request
        self.host = self._url.host
        self._headers = {"Authorization": token, "Content-Type": "application/json"}
        self._ssl = (
            ssl.create_default_context(cafile=ca_bundle) if endpoint.startswith("https") else None
        )
        self._concurrency = pace.concurrency
        self._timeout = pace.timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxy: URL | None = None
        self._proxy_headers: dict[str, str] | None = None

    def open(self) -> None:
        self._proxy, self._proxy_headers = _environment_proxy(self._url)
        if self._proxy is not None:
            log.info("through the proxy %s (%s)", self._proxy, self._proxy_variable)
        connector = aiohttp.TCPConnector(
            limit=self._concurrency, ssl=self._ssl if self._ssl else False
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self._timeout),
            trust_env=False,  # the proxy is found once, above; never ~/.netrc for the API
            cookie_jar=aiohttp.DummyCookieJar(),  # the API sets no cookies: no jar per request
        )

    @property
    def _proxy_variable(self) -> str:
        return f"{self._url.scheme.upper()}_PROXY"

    @property
    def _proxy_named(self) -> str:
        assert self._proxy is not None
        return f"{self._proxy.host}:{self._proxy.port} ({self._proxy_variable})"

    @property
    def _proxy_refused(self) -> str:
        return (
            f"the proxy {self._proxy_named} asks for credentials (407): "
            f"give them in {self._proxy_variable} as http://user:password@host:port"
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, request: CallRequest, sent_before: bool) -> Answer:
        assert self._session is not None
        try:
            async with self._session.post(
                self._url,
                data=request.body,
                headers=self._headers,
                allow_redirects=False,
                proxy=self._proxy,
                proxy_headers=self._proxy_headers,
            ) as response:
                raw = await read_body(response)
                headers = {"Retry-After": response.headers.get("Retry-After", "")}
                status = response.status
        except TimeoutError:
            raise TransportError(f"no answer within {self._timeout:g} s") from None
        except aiohttp.ClientSSLError as error:
            raise RunStopped(
                f"TLS with {self._url.host} failed ({type(error).__name__}): "
                "behind a corporate proxy, pass its certificates with --ca-bundle"
            ) from None
        except aiohttp.ClientProxyConnectionError as error:
            raise Unreached(
                f"cannot connect to the proxy {self._proxy_named} "
                f"({printable(str(error.os_error))})"
            ) from None
        except aiohttp.ClientHttpProxyError as error:  # the tunnel was refused: nothing went out
            if error.status == 407:
                raise RunStopped(self._proxy_refused) from None
            raise Unreached(
                f"the proxy {self._proxy_named} refused the tunnel to {self.host} "
                f"(HTTP {error.status})"
            ) from None
        except aiohttp.ClientConnectorError as error:
            raise Unreached(
                f"cannot connect to {self._url.host} ({printable(str(error.os_error))})"
            ) from None
        except aiohttp.ClientError as error:
            raise TransportError(f"connection problem ({type(error).__name__})") from None
        if not raw:
            body: Any = None
        else:
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = NOT_JSON
        return classify(status, body, headers, sent_before=sent_before)


def _environment_proxy(url: URL) -> tuple[URL | None, dict[str, str] | None]:
    """The proxy the environment names for the endpoint (HTTPS_PROXY, unless NO_PROXY covers the
    host, as curl and pip read them) and the header carrying its credentials, taken out of its
    URL and sent on the CONNECT request alone: what aiohttp's trust_env does, done once per run
    rather than on a thread for every request. Never for a loopback address (as Go's net/http
    does): a proxy cannot reach this machine's loopback, so a sandbox on 127.0.0.1 keeps working
    where a proxy is set for everything else. (Only loopback addresses may be plain http.)"""
    if url.host is None or is_loopback(url.host):
        return None, None
    try:
        proxy, credentials = get_env_proxy_for_url(url)
    except LookupError:
        return None, None
    return proxy, {"Proxy-Authorization": credentials.encode()} if credentials else None


class Unreached(TransportError):
    """The connection could not be made, so the request cannot have reached the API."""


async def read_body(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, however many packets it came in, up to MAX_RESPONSE bytes."""
    body = bytearray()
    while True:
        piece = await response.content.read(MAX_RESPONSE)
        if not piece:
            return bytes(body)
        body += piece
        if len(body) > MAX_RESPONSE:
            raise RunStopped(
                f"an answer of more than {MAX_RESPONSE // 1024} KiB: not the API (check --base-url)"
            )
