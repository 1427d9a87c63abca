"""The `palette-bench report` command."""

from __future__ import annotations

import click

from palette_bench.report import FORMATS


def _formats(ctx, param, text: str) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(f.strip() for f in text.split(",") if f.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise click.BadParameter(f"{', '.join(unknown) or 'nothing'}: choose from {', '.join(FORMATS)}")
    return chosen


@click.command("report")
@click.option("--runs", default="runs", show_default=True, type=click.Path(file_okay=False), help="Folder of run folders (what `palette-bench run --runs-root` wrote).")
@click.option("--out", default="results", show_default=True, type=click.Path(file_okay=False), help="Folder for the tables and figures.")
@click.option("--format", "formats", default=",".join(FORMATS), show_default=True, callback=_formats, help="Comma-separated: csv, tex (one fragment per table and all.tex), md, png (a sample figure per task).")
@click.option("--root", default=None, help="Image folder of the protocol (the figures show inputs and originals).")
@click.option("--studies", default="studies", show_default=True, type=click.Path(file_okay=False), help="Folder of human studies (palette-bench study); a scored study adds a fool-rate column to its task's table.")
def report_command(runs, out, formats, root, studies):
    """Turn run folders into the paper's tables (CSV, LaTeX, Markdown) and figures."""
    from palette_bench.report.build import build, write

    report = build(runs, studies)
    written = write(report, out, formats, root)
    for message in report.messages:
        click.echo(message)
    click.echo(f"written: {len(written)} file{'s' if len(written) != 1 else ''}")
    for path in written:
        click.echo(f"  {path}")
