"""The results and retry files as xlsx workbooks: one sheet, typed cells, the status column
coloured, each problem cell red with its reason as a comment, a summary sheet. Kept apart from
`uploader.report.results` so that a CSV run never loads openpyxl."""

from __future__ import annotations

from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from uploader.outcome import STATUSES
from uploader.read.inputs import Location
from uploader.report.cells import cell_value, python_cells
from uploader.report.files import AtomicFile

COLUMN_WIDTHS = {
    "row": 7,
    "external_call_unique_id": 24,
    "status": 17,
    "cuid": 36,
    "http_status": 11,
    "attempts": 9,
    "error": 60,
}


def fit_to_width(sheet: Any) -> None:
    """Print landscape, one page wide: what an analyst expects from a wide sheet."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True


class XlsxSink:
    """An xlsx workbook; cells keep their types (every text cell a string cell, never a formula)."""

    keeps_types = True  # an xlsx input's cells come back as they were typed (dates, numbers)
    cells = staticmethod(python_cells)

    @staticmethod
    def cell(value: Any) -> Any:
        return value

    def __init__(
        self, path: Location, header: list[str], title: str, layout: list | None = None
    ) -> None:
        from uploader.report.layout import drop_downs, style_header

        self.path = path
        self.target = AtomicFile(path)
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(title)
        self.sheet.freeze_panes = "A2"
        self.width = len(header)
        self.layout = layout or [None] * len(header)  # the template's columns, where they are
        for index, (name, column) in enumerate(zip(header, self.layout, strict=True), start=1):
            letter = get_column_letter(index)
            width = column.width if column else COLUMN_WIDTHS.get(name, 18)
            self.sheet.column_dimensions[letter].width = width
        fit_to_width(self.sheet)
        bold = Font(bold=True)
        cells = []
        for name, column in zip(header, self.layout, strict=True):
            cell = self._cell(name, font=bold)
            if column is not None:
                style_header(cell, column)
            cells.append(cell)
        self.sheet.append(cells)
        for validation in drop_downs(self.layout):
            self.sheet.data_validations.append(validation)
        self.formats = [
            column.number_format if column and column.number_format != "General" else None
            for column in self.layout
        ]

    def _cell(
        self,
        value: Any,
        *,
        fill: str | None = None,
        note: str | None = None,
        font: Font | None = None,
    ):
        cell = WriteOnlyCell(self.sheet, value=cell_value(value))
        if isinstance(cell.value, str):
            cell.data_type = "s"
        if fill:
            cell.fill = PatternFill("solid", fgColor=fill)
        if note:
            cell.comment = Comment(note, "invoca-upload", width=300, height=80)
        if font:
            cell.font = font
        return cell

    def row(
        self,
        values: list[Any],
        fills: dict[int, str] | None = None,
        notes: dict[int, str] | None = None,
    ) -> None:
        fills, notes = fills or {}, notes or {}
        cells = [self._cell(v, fill=fills.get(i), note=notes.get(i)) for i, v in enumerate(values)]
        for cell, number_format in zip(cells, self.formats, strict=False):
            if number_format is not None:
                cell.number_format = number_format  # a long id stays text when it is typed over
        self.sheet.append(cells)

    def close(self, summary: dict | None = None) -> None:
        self.sheet.auto_filter.ref = f"A1:{get_column_letter(max(self.width, 1))}1"
        if summary is not None:
            sheet = self.book.create_sheet("Summary")
            for status in STATUSES:
                sheet.append([status, summary["counts"].get(status, 0)])
            for key in ("rows", "blank_rows", "elapsed_seconds", "input"):
                sheet.append([key, cell_value(summary.get(key))])
        try:
            self.book.save(self.target.temporary)
        except OSError as error:
            self.target.discard()
            raise self.target.failed(error) from None
        self.target.commit()

    def discard(self) -> None:
        self.target.discard()
