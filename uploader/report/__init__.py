"""Stage 4, report: what happened, for people and schedulers.

Owns the results, retry, errors and requests files (`results`, with `workbook` writing them as
xlsx), where a run's files go (`paths`), the JSON-lines run log (`runlog`), progress on screen
(`progress`), the journal's export (`recover`) and the atomic writes every output goes through
(`files`).

May import: the foundation, `uploader.read`, `uploader.check` and `uploader.send`.
"""
