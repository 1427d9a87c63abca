"""The `palette-bench study` commands: create, serve, score, screenshot."""

from __future__ import annotations

import json

import click

from palette_bench.tasks import task_names


@click.group("study")
def study_group():
    """Human fool-rate study (2AFC, the paper's protocol): create a study from run folders, serve it, score it."""


@study_group.command("create")
@click.option("--runs", default="runs", show_default=True, type=click.Path(file_okay=False), help="Folder of run folders.")
@click.option("--task", required=True, type=click.Choice([t for t in task_names() if t != "multi"]))
@click.option("--methods", required=True, help="Comma-separated methods (palette, regression, ..., an external method's name) or run folder names.")
@click.option("--n", "n", required=True, type=int, help="Trials per method; about 10% catch trials are added.")
@click.option("--seconds", required=True, type=click.Choice(["3", "5"]), help="How long each pair is shown (the paper: 3 or 5 s).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="The study folder to write (must not exist).")
@click.option("--eval-set", default=None, help="Evaluation set (default: the task's headline set).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of input choice, trial order and left/right sides.")
@click.option("--display-px", default=256, show_default=True, type=click.IntRange(32, 1024), help="Size each image is shown at, in CSS pixels (the paper: 256).")
@click.option("--root", default=None, help="Image folder of the protocol (the originals).")
def create_command(runs, task, methods, n, seconds, out, eval_set, seed, display_px, root):
    """Build a study folder: trials pairing each method's outputs with their originals, plus catch trials."""
    from palette_bench.study.create import create_study, describe

    names = [m.strip() for m in methods.split(",") if m.strip()]
    path = create_study(runs, task, names, n, int(seconds), out, eval_set=eval_set, seed=seed, root=root, display_px=display_px)
    click.echo(describe(path))
    click.echo(f"serve it with: palette-bench study serve {path}")


@study_group.command("serve")
@click.argument("study", type=click.Path(file_okay=False, exists=True))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 opens the study to the local network.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def serve_command(study, host, port):
    """Serve the study's rating page; answers go to STUDY/answers.db as they arrive."""
    from palette_bench.study.server import serve
    from palette_bench.study.spec import load_study

    s = load_study(study)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}: anyone who can reach this machine's port {port} can open the study, see its images and add answers; "
                   "use it on a network you trust and stop the server when the study ends", err=True)
    click.echo(f"study {s.folder}: {len(s.trials)} trials, shown {s.seconds:g} s; answers go to {s.folder / 'answers.db'}")
    if host in ("0.0.0.0", "::"):
        import socket

        click.echo(f"raters open http://{socket.gethostname()}:{port}/ (or this machine's address on the network); here: http://127.0.0.1:{port}/")
    else:
        click.echo(f"open http://{host}:{port}/")
    click.echo("Ctrl-C stops the server; raters resume where they were after a restart")
    serve(study, host, port)


@study_group.command("score")
@click.argument("study", type=click.Path(file_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
def score_command(study, as_json):
    """Fool rate per method with its 95% interval, raters screened on catch trials; writes STUDY/scores.json."""
    from palette_bench.study.score import format_scores, score_study

    result = score_study(study)
    click.echo(json.dumps(result, indent=2, sort_keys=True) if as_json else format_scores(result))


@study_group.command("screenshot")
@click.argument("study", type=click.Path(file_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG file to write.")
@click.option("--moment", type=click.Choice(["pair", "question"]), default="pair", show_default=True, help="While the pair is shown, or while the question is asked.")
def screenshot_command(study, out, moment):
    """A PNG of the study page in headless Chromium (Debian's chromium and chromium-driver, with Selenium)."""
    from palette_bench.study.browser import missing, screenshot

    if missing():
        raise click.ClickException(missing())
    click.echo(screenshot(study, out, moment))
