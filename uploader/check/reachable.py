"""`--check-recordings`: each distinct recording URL fetched before its row is sent, so that a dead
link is caught here rather than inside Invoca, where nobody looks.

A HEAD, or a one-byte ranged GET where HEAD is refused (a presigned S3 GET URL answers HEAD 403);
its own bounded concurrency and timeout; redirects followed only to HTTPS; never the Invoca
token (a session of its own, with no credentials). A 4xx, an HTML page or an empty body make the
row invalid; a 5xx or no answer is asked again, then makes the row invalid naming the host.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

CONCURRENCY = 8
TIMEOUT = 10.0  # seconds for one fetch
ATTEMPTS = 3
REDIRECTS = 5
HEAD_REFUSED = {403, 405, 501}  # then a one-byte GET: some stores sign GET only


@dataclass
class RecordingCheck:
    """What was found of each URL (None: reachable), kept across the chunks of a run."""

    found: dict[str, str | None] = field(default_factory=dict)

    @property
    def checked(self) -> int:
        return len(self.found)

    @property
    def unreachable(self) -> int:
        return sum(reason is not None for reason in self.found.values())

    def problems(self, urls: list[str]) -> dict[str, str]:
        """The URLs among these that cannot be fetched, with why (each URL fetched once a run)."""
        fresh = [url for url in dict.fromkeys(urls) if url not in self.found]
        if fresh:
            self.found.update(asyncio.run(self._fetch_all(fresh)))
        return {url: reason for url in urls if (reason := self.found.get(url)) is not None}

    async def _fetch_all(self, urls: list[str]) -> dict[str, str | None]:
        import aiohttp

        slots = asyncio.Semaphore(CONCURRENCY)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as session:

            async def one(url: str) -> tuple[str, str | None]:
                async with slots:
                    return url, await _reachable(session, url)

            return dict(await asyncio.gather(*(one(url) for url in urls)))


async def _reachable(session, url: str) -> str | None:  # type: ignore[no-untyped-def]
    """None when the recording can be fetched, else why not, in the row's words."""
    import aiohttp

    host = urlsplit(url).hostname or url
    last = ""
    for attempt in range(ATTEMPTS):
        if attempt:
            await asyncio.sleep(0.5 * 2**attempt)
        try:
            status, kind, size = await _fetch(session, url)
        except _NotHttps as refused:
            return f"recording not reachable: it redirects to {refused}, not an HTTPS address"
        except (TimeoutError, aiohttp.ClientError) as error:
            last = type(error).__name__ if isinstance(error, asyncio.TimeoutError) else str(error)
            continue
        if status >= 500:
            last = f"answered {status}"
            continue
        if status >= 400:
            return f"recording not reachable: {status} from {host}"
        if "text/html" in kind:
            return f"recording not reachable: {host} answers with a web page, not a recording"
        if size == 0:
            return f"recording not reachable: {host} answers with an empty file"
        return None
    return f"recording not reachable: {host} did not answer ({last or 'timeout'})"


class _NotHttps(Exception):
    pass


async def _fetch(session, url: str) -> tuple[int, str, int | None]:  # type: ignore[no-untyped-def]
    """The final answer's status, content type and size (redirects followed to HTTPS only)."""
    for _ in range(REDIRECTS + 1):
        async with session.head(url, allow_redirects=False) as answer:
            status, headers = answer.status, answer.headers
        size = _size(headers)
        if status in HEAD_REFUSED or (status < 300 and size is None):
            # a store that signs GET only, or a HEAD that does not say the size: one byte of GET
            ranged = {"Range": "bytes=0-0"}
            async with session.get(url, headers=ranged, allow_redirects=False) as answer:
                status, headers = answer.status, answer.headers
                first = await answer.content.read(1)
            size = _size(headers)
            if size is None and status < 300:
                size = len(first)
        if status in (301, 302, 303, 307, 308) and "Location" in headers:
            target = urljoin(url, headers["Location"])
            if urlsplit(target).scheme != "https":
                raise _NotHttps(target)
            url = target
            continue
        return status, headers.get("Content-Type", ""), size
    return 599, "", None  # a redirect loop: asked again, then reported


def _size(headers) -> int | None:  # type: ignore[no-untyped-def]
    total = headers.get("Content-Range", "").rpartition("/")[2]
    if total.isdigit():
        return int(total)
    length = headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None
