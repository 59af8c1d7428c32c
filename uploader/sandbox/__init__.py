"""A local emulator of Invoca's Call Ingestion API, for tests, the demo and rehearsals."""

from typing import Any

from uploader.sandbox.config import SandboxConfig

__all__ = ["SandboxConfig", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    """The server (and aiohttp) load only when a sandbox is started."""
    if name in ("create_app", "serve"):
        from uploader.sandbox import server

        return getattr(server, name)
    raise AttributeError(name)
