"""A local emulator of Invoca's Call Ingestion API, for tests, the demo and rehearsals."""

from uploader.sandbox.server import SandboxConfig, create_app, serve

__all__ = ["SandboxConfig", "create_app", "serve"]
