"""Stage 3, send: call requests go to the API exactly once.

Owns the `client` (one sender: `transport` for the HTTP session and proxy, `pacing` for the rate
and back-off, answers classified into outcomes), the `flow` of rows from checked chunks to the
sender and outcomes back in input order, the SQLite `journal` and the run's `control` (stops).
Outcomes leave through the interfaces `flow` declares (`ChunkWriter`, `OutcomeLog`) and
`control`'s `Counts`, never by importing the report stage.

May import: the foundation, `uploader.read` and `uploader.check`.
"""
