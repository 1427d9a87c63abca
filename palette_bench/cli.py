"""The `palette-bench` command line: a thin layer over the library modules."""

from __future__ import annotations

import json
import sys

import click

from palette_bench.config import ConfigError
from palette_bench.data.files import BadImageError
from palette_bench.tasks import TASKS

# Errors a user can fix from the message alone: printed as one line, no traceback.
USER_ERRORS = (ConfigError, BadImageError, FileNotFoundError, ValueError)


class Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as e:
            click.echo(f"palette-bench: error: {e}", err=True)
            sys.exit(2)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="palette-bench")
def main():
    """Palette (Saharia et al. 2022) and its baselines under one image-to-image evaluation protocol."""


def _not_built(name: str, what: str):
    @main.command(name, help=f"[not available in this version] {what}", context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def command(args):
        click.echo(f"palette-bench {name}: not available in this version of palette-bench", err=True)
        sys.exit(2)

    return command


_not_built("run", "Train, sample and evaluate a method on a task under a protocol.")
_not_built("report", "Turn run folders into the paper's tables (CSV, LaTeX, Markdown) and figures.")
_not_built("eval", "Evaluate a folder of outputs under the protocol.")
_not_built("weights", "Show, fetch and verify the pretrained weights of the metrics.")


@main.group()
def data():
    """Inspect the tasks' evaluation sets and check that a protocol's data is in place."""


task_option = click.option("--task", required=True, type=click.Choice(list(TASKS)), help="Palette task.")
eval_set_option = click.option("--eval-set", required=True, help="Evaluation set (e.g. ff20-30, center, right, q10, gray) or 'train' for training draws.")
protocol_option = click.option("--protocol", default="builtin", show_default=True, help="Protocol name or path to a protocol TOML file.")
root_option = click.option("--root", default=None, help="Image folder (overrides the protocol's root and its environment variable).")
size_option = click.option("--size", type=int, default=None, help="Image size in pixels (default: the protocol's).")
skip_bad_option = click.option("--skip-bad", is_flag=True, help="Skip unreadable image files and report how many, instead of stopping.")


def _evalset(protocol, task, eval_set, size, n, root, skip_bad):
    from palette_bench.data.evalset import EvalSet
    from palette_bench.protocols import load_protocol

    return EvalSet(load_protocol(protocol).with_size(size), task, eval_set, n=n, root=root, skip_bad=skip_bad)


@data.command()
@task_option
@eval_set_option
@protocol_option
@size_option
@click.option("--n", "n", type=int, default=None, help="Number of inputs (default: the evaluation set's).")
@root_option
@skip_bad_option
@click.option("--batch-size", type=int, default=32, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(task, eval_set, protocol, size, n, root, skip_bad, batch_size, as_json):
    """Mask coverage statistics and the sha256 digest of an evaluation set's conditions."""
    from palette_bench.data.stats import condition_stats

    out = condition_stats(_evalset(protocol, task, eval_set, size, n, root, skip_bad), batch_size=batch_size)
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for key, value in out.items():
        click.echo(f"{key:>18}: {value}")


@data.command()
@task_option
@eval_set_option
@protocol_option
@size_option
@click.option("--n", "n", type=int, default=16, show_default=True, help="Number of inputs shown.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@root_option
@skip_bad_option
def preview(task, eval_set, protocol, size, n, out, root, skip_bad):
    """Write a PNG grid of original | condition | mask (white = to generate)."""
    from palette_bench.data.preview import preview_grid

    shown = preview_grid(_evalset(protocol, task, eval_set, size, n, root, skip_bad), out, n=n)
    click.echo(f"wrote {out}: {shown} inputs of {task}/{eval_set}")


@data.command()
@protocol_option
@root_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check(protocol, root, as_json):
    """Report which of a protocol's files are present and what to do about the missing ones; exit 1 if any is missing."""
    from palette_bench.data.check import check_protocol
    from palette_bench.protocols import load_protocol

    findings = check_protocol(load_protocol(protocol), root)
    if as_json:
        click.echo(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        for f in findings:
            click.echo(f"{'ok' if f.ok else 'MISSING':>7}  {f.item}: {f.detail}")
    if not all(f.ok for f in findings):
        sys.exit(1)


if __name__ == "__main__":
    main()
