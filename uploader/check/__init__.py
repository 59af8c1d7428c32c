"""Stage 2, check: rows of text cells become valid call requests, or row errors in plain words.

Owns the API's field catalogue (`fields`), the profile language (`profiles` parses and suggests,
`plan` applies a profile to a chunk), the normalisers (`phones`, `times`, `normalize`), the pandera
`schema` and the pure `mapping` from a valid row to a request body; `prepare` runs them over a file.

May import: the foundation and `uploader.read`.
"""
