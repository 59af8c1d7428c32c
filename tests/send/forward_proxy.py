"""A forward HTTP proxy for the tests, behaving as corporate proxies do for https: a CONNECT
tunnel per connection (anything else is refused: the tool never sends plain http through a proxy).
It resolves names the client cannot (`names`), notes what each connection asked for, and can
demand credentials (407) as many do."""

from __future__ import annotations

import asyncio
import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ForwardProxy:
    def __init__(self, credentials: str | None = None, names: dict[str, str] | None = None):
        self.asked: list[str] = []  # "METHOD target" of each connection's first request
        self._names = names or {}  # host name -> address, known to the proxy alone
        self._expected = (
            "Basic " + base64.b64encode(credentials.encode()).decode() if credentials else None
        )
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            self.asked.append(f"{method} {target}")
            if self._expected and f"proxy-authorization: {self._expected}".lower().encode() not in (
                head.lower()
            ):
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="tests"\r\nContent-Length: 0\r\n\r\n'
                )
                await writer.drain()
                return
            if method != "CONNECT":  # the tool only ever tunnels (the API is https)
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            host, port = target.rsplit(":", 1)
            upstream_reader, upstream = await asyncio.open_connection(
                self._names.get(host, host), int(port)
            )
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(_pipe(reader, upstream), _pipe(upstream_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    finally:
        sink.close()


@contextmanager
def running_proxy(
    credentials: str | None = None, names: dict[str, str] | None = None
) -> Iterator[ForwardProxy]:
    """A proxy on a free loopback port, in a thread of its own; stopped on exit."""
    proxy = ForwardProxy(credentials, names)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = loop.create_future()

    async def serve() -> None:
        server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
        proxy.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        started.set()
        async with server:
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the proxy did not start")
    try:
        yield proxy
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(10)
        loop.close()
