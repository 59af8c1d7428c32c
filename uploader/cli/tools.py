"""`template`, `profiles` and `journal`: the files an analyst or an operator works with."""

from __future__ import annotations

import json
from pathlib import Path

import click

from uploader.cli.options import library_errors


@click.command()
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--signal",
    "signals",
    multiple=True,
    metavar="NAME",
    help="Add a signal:NAME column (repeatable).",
)
@click.option(
    "--custom",
    "custom",
    multiple=True,
    metavar="NAME",
    help="Add a custom:NAME column (repeatable).",
)
@click.option(
    "--profile",
    default="invoca",
    show_default=True,
    metavar="NAME|PATH",
    help="Name the columns as this profile's system does (see `invoca-upload profiles`).",
)
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists (a filled workbook too).")
@library_errors
def template(
    out: Path, signals: tuple[str, ...], custom: tuple[str, ...], profile: str, force: bool
) -> None:
    """Write an Excel (or CSV) template for analysts to fill in.

    \b
    Examples:
      invoca-upload template calls.xlsx
      invoca-upload template calls.xlsx --signal sale --signal appointment --custom channel
      invoca-upload template calls.csv --signal sale
      invoca-upload template five9.xlsx --profile five9   # paste a Five9 export into it
    """
    from uploader.template import write_template

    write_template(out, signals=list(signals), custom=list(custom), profile=profile, force=force)
    click.echo(f"wrote {out}")


@click.group(invoke_without_command=True)
@click.option("--show", metavar="NAME|PATH", help="Print one profile (its TOML).")
@click.pass_context
@library_errors
def profiles(context: click.Context, show: str | None) -> None:
    """List the built-in column profiles and those saved from the web page (use one with
    --profile NAME); print one with --show; start one for a new export with `profiles new`.

    \b
    Examples:
      invoca-upload profiles
      invoca-upload profiles --show twilio
      invoca-upload profiles new export.csv            # writes export.toml, a starter
      invoca-upload upload calls.csv --profile twilio --campaign-id 85
    """
    from uploader.check.profiles import builtin_profiles, load_profile, profile_text, saved_profiles

    if context.invoked_subcommand is not None:
        return
    if show:
        click.echo(profile_text(show), nl=False)
        return
    for name in builtin_profiles():
        click.echo(f"{name:<16}{load_profile(name).description}")
    for name, path in saved_profiles().items():
        click.echo(f"{name:<16}saved: {path}")


@profiles.command("new")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-o", "--out", type=click.Path(dir_okay=False), help="Default: <file stem>.toml.")
@click.option("--force", is_flag=True, help="Replace the profile file if it exists.")
@click.option("--sheet", metavar="NAME|INDEX", help="Excel sheet (default: the first).")
@library_errors
def new_profile(file: str, out: str | None, force: bool, sheet: str | None) -> None:
    """Write a starter profile for FILE, an export the tool has no profile for: its headers
    matched to the call fields, each guess commented (what it is, an example value).

    \b
    Examples:
      invoca-upload profiles new pbx-export.csv
      invoca-upload validate pbx-export.csv --profile pbx-export.toml --campaign-id 85
    """
    from uploader.check.starter import starter_profile
    from uploader.errors import ConfigError
    from uploader.read.sources import open_table
    from uploader.read.table import looks_like_header
    from uploader.report.files import write_text

    table = open_table(file, is_header=looks_like_header, sheet=sheet)
    samples = next(iter(table.chunks(20)), None)
    name = Path(file).name.split(".")[0]
    target = Path(out) if out else Path(file).with_name(name + ".toml")
    if target.exists() and not force:
        raise ConfigError(f"{target} exists: pass --force to replace it")
    text = starter_profile(name, table.headers, samples.text if samples else None, Path(file).name)
    write_text(target, text)
    click.echo(f"wrote {target}: check each guess, then --profile {target}")


@click.command("journal")
@click.option(
    "--journal",
    "path",
    type=click.Path(dir_okay=False),
    envvar="INVOCA_JOURNAL",
    help="Journal file. Default: the one uploads use.",
)
@click.option(
    "--export", type=click.Path(dir_okay=False), help="Write every journal entry to this CSV file."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@library_errors
def journal_command(path: str | None, export: str | None, as_json: bool) -> None:
    """Show what a journal holds: calls per status and the last runs.

    \b
    Examples:
      invoca-upload journal
      invoca-upload journal --journal nightly.sqlite --export delivered.csv
    """
    from uploader.report.recover import export_journal
    from uploader.send.journal import default_journal_path, journal_report

    path = path or str(default_journal_path())
    report = journal_report(path)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(f"journal {report['journal']}")
        for status, count in report["calls"].items():
            click.echo(f"  {status:<18}{count:>10,}")
        for run in report["runs"]:
            counts = (run["summary"] or {}).get("counts", {})
            shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
            click.echo(
                f"  run {run['id']} {run['started']} {run['input']}: {shown or 'unfinished'}"
            )
    if export:
        count = export_journal(path, export)
        click.echo(f"exported {count:,} entries to {export}")
