"""Stage 1, read: what the user names becomes rows of text cells.

Owns `inputs` (files, folders, globs, zips, compressed files and object-storage URLs, each an
`Input` that opens a fresh stream), the readers (`delimited` for CSV/TSV/TXT, `workbook` for
XLSX/XLSM, behind the one front function `sources.open_table`), the `table` they yield (chunks of
text cells, each row tagged with the number a spreadsheet shows) and the Arrow text kernels.

May import: the foundation (`uploader.errors`, `uploader.outcome`, `uploader.settings`,
`uploader.textsafe`) only. Nothing here knows the API's fields.
"""
