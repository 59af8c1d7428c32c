"""The analyst's columns as the template lays them out: each field's format, width, drop-down,
header colour and comment. The template is made from them, and the results and retry workbooks
carry them too, so a long id typed into a retry file stays text and a drop-down stays a drop-down
through every turn of template -> results -> retry -> upload."""

from __future__ import annotations

from dataclasses import dataclass, replace

from uploader.check.fields import FIELDS, TEXT
from uploader.check.profiles import load_profile

# Header colours (openpyxl is loaded only when a workbook is written: a CSV run never needs it)
HEADER_FILL = "1F4E78"
REQUIRED_FILL = "C00000"
ONE_OF_FILL = "C65911"  # one column of its group is required
VALIDATED_ROWS = 100_000


@dataclass(frozen=True)
class TemplateColumn:
    name: str
    help: str
    number_format: str = "General"
    width: int = 18
    required: bool = False
    choices: tuple[str, ...] = ()
    example: str = ""
    one_of: tuple[str, ...] = ()  # a group of which each row needs one (the recording pair)

    @property
    def need(self) -> str:
        """What the header comment and the Instructions sheet say first."""
        if self.required:
            return "Required. "
        if self.one_of:
            either = " or ".join(self.one_of)
            return f"One of {either} is required (or pass --recording-url-template). "
        return ""


COLUMNS = tuple(
    TemplateColumn(
        field.name,
        field.help,
        field.cell,
        field.width,
        required=field.required and not field.fallback,
        choices=field.choices,
        example=field.example,
        one_of=field.one_of,
    )
    for field in FIELDS
)


def signal_column(name: str) -> TemplateColumn:
    return TemplateColumn(
        f"signal:{name}",
        f"Signal {name}: Yes or No, Y or N (blank = not sent).",
        TEXT,
        14,
        choices=("Yes", "No", "Y", "N"),
        example="Yes",
    )


def custom_column(name: str) -> TemplateColumn:
    return TemplateColumn(
        f"custom:{name}", f"Custom data field {name} (blank = not sent).", TEXT, 18
    )


PSEUDO_COLUMNS = {
    "from_number": TemplateColumn(
        "from_number", "The number the call came from (swapped on outbound calls).", TEXT, 20, True
    ),
    "to_number": TemplateColumn(
        "to_number", "The number the call went to (swapped on outbound calls).", TEXT, 20, True
    ),
    "recording": TemplateColumn(
        "recording",
        "A recording URL, or a key in your recording store.",
        TEXT,
        40,
        one_of=("recording",),
    ),
}


def profile_columns(name: str) -> list[TemplateColumn]:
    if name == "invoca":
        return list(COLUMNS)
    profile = load_profile(name)
    canonical = {column.name: column for column in COLUMNS} | PSEUDO_COLUMNS
    return [
        replace(canonical[field], name=headers[0])
        for field, headers in profile.columns.items()
        if field in canonical and headers
    ]


def layout_of(headers: list[str]) -> list[TemplateColumn | None] | None:
    """Each header's template column, when the headers are the template's own (a filled template,
    or a CSV saved from one); None for a file of other columns."""
    known = {column.name: column for column in COLUMNS}
    found: list[TemplateColumn | None] = []
    for header in headers:
        if header in known:
            found.append(known[header])
        elif header.startswith("signal:") and len(header) > 7:
            found.append(signal_column(header[7:]))
        elif header.startswith("custom:") and len(header) > 7:
            found.append(custom_column(header[7:]))
        else:
            found.append(None)
    shared = sum(column is not None for column in found)
    return found if shared >= 3 and "external_call_unique_id" in headers else None


def style_header(cell, column: TemplateColumn) -> None:  # type: ignore[no-untyped-def]
    """A header cell as the template has it: coloured by need, its help in a comment."""
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill

    colour = REQUIRED_FILL if column.required else ONE_OF_FILL if column.one_of else HEADER_FILL
    cell.font = Font(bold=True, color="FFFFFF")
    cell.fill = PatternFill("solid", fgColor=colour)
    cell.alignment = Alignment(vertical="center")
    cell.comment = Comment(column.need + column.help, "invoca-upload", width=320, height=110)


def drop_downs(columns: list[TemplateColumn | None]) -> list:
    """The template's drop-downs, for the columns that have a list of choices."""
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    found = []
    for index, column in enumerate(columns, start=1):
        if column is None or not column.choices:
            continue
        letter = get_column_letter(index)
        validation = DataValidation(
            type="list",
            formula1='"' + ",".join(column.choices) + '"',
            allow_blank=True,
            showErrorMessage=True,
            errorTitle=column.name,
            error="Pick a value from the list.",
        )
        validation.add(f"{letter}2:{letter}{VALIDATED_ROWS}")
        found.append(validation)
    return found
