"""The `palette-bench` command line: a thin layer over the library modules."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from palette_bench.config import ConfigError
from palette_bench.data.files import BadImageError
from palette_bench.models.samplers import SAMPLERS
from palette_bench.runconfig import EVAL_METRICS
from palette_bench.report.command import report_command
from palette_bench.study.command import study_group
from palette_bench.tasks import task_names
from palette_bench.train import TrainingCollapse
from palette_bench.weights import WeightsError

SAMPLER_CHOICES = tuple(SAMPLERS)
# Errors a user can fix from the message alone: printed as one line, no traceback.
USER_ERRORS = (ConfigError, BadImageError, WeightsError, FileNotFoundError, ValueError, TrainingCollapse)


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


main.add_command(report_command)
main.add_command(study_group)


task_option = click.option("--task", required=True, type=click.Choice(task_names()), help="Palette task.")
eval_set_option = click.option("--eval-set", required=True, help="Evaluation set (e.g. ff20-30, center, right, q10, gray) or 'train' for training draws.")
protocol_option = click.option("--protocol", default="builtin", show_default=True, help="Protocol name or path to a protocol TOML file.")
root_option = click.option("--root", default=None, help="Image folder (overrides the protocol's root and its environment variable).")
size_option = click.option("--size", type=int, default=None, help="Image size in pixels (default: the protocol's).")
skip_bad_option = click.option("--skip-bad", is_flag=True, help="Skip unreadable image files and report how many, instead of stopping.")


@main.command("run")
@click.option("--task", default=None, type=click.Choice(task_names()), help="Palette task; multi: one model trained on colorization, inpainting and JPEG restoration (paper Table 7).")
@click.option("--method", "method", multiple=True, help="A registered method: palette, regression, pix2pix, classical, or external (outputs already in --pred, named --name); repeatable. Default: the whole benchmark (palette, regression, pix2pix, classical).")
@click.option("--methods", default=None, help="Comma-separated methods, the same as repeating --method.")
@click.option("--seeds", default=None, help="Comma-separated training seeds: each learned method is run once per seed (e.g. 0,1,2).")
@click.option("--pred", default=None, type=click.Path(file_okay=False), help="--method external: folder of outputs (NNNNNN.png, NNNNNN_k.png).")
@click.option("--name", default=None, help="--method external: the method's name in run folders and tables.")
@click.option("--preset", default="cpu", show_default=True, help="smoke (seconds), cpu (2 CPU cores), gpu (one GPU), paper (GPU clusters).")
@click.option("--protocol", default=None, help="Protocol name or TOML path (default: builtin).")
@click.option("--eval-set", default=None, help="Evaluation set (default: the task's headline set).")
@click.option("--sampler", type=click.Choice(SAMPLER_CHOICES), default=None, help="Sampler (default: the preset's).")
@click.option("--steps", type=int, default=None, help="Sampling steps (default: the preset's).")
@click.option("--stage", type=click.Choice(["train", "sample", "eval", "all"]), default="all", show_default=True)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override any config value, e.g. --set train.steps=500 (repeatable).")
@click.option("--seed", type=int, default=None)
@click.option("--runs-root", default="runs", show_default=True, help="Folder holding the run folders.")
@click.option("--run-dir", default=None, help="Use exactly this run folder.")
@click.option("--force", is_flag=True, help="Redo the requested stages even if they completed.")
@click.option("--resume", "resume_dir", default=None, type=click.Path(file_okay=False), help="Continue the run in this folder with the config it was made with (re-running the same command does the same).")
@root_option
@click.option("--weights-dir", default=None, help="Folder of the metrics' weights files (default: torch.hub's checkpoints folder, $TORCH_HOME/hub/checkpoints).")
@click.option("--allow-unverified-weights", is_flag=True, help="Use weights files whose sha256 does not match; results are marked unverified.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and the run folder, and stop.")
def run_command(task, method, methods, seeds, pred, name, preset, protocol, eval_set, sampler, steps, stage, overrides, seed, runs_root, run_dir, force, resume_dir, root, weights_dir, allow_unverified_weights, dry_run):
    """Train, sample and evaluate methods on a task: by default the whole benchmark, then its comparison table (resumes; completed stages are skipped)."""
    from palette_bench.config import to_dict
    from palette_bench.run import STAGES, load_run_config, run, run_dir_for
    from palette_bench.runconfig import resolve

    names = list(method) + list(_names(methods or ""))
    if seeds and seed is not None:
        raise click.UsageError("give --seed N or --seeds A,B,..., not both")
    single = resume_dir or run_dir or pred or (len(names) == 1 and not seeds)
    if not single:
        if not task:
            raise click.UsageError("--task is required (or --resume RUN_DIR)")
        return _run_benchmark(task, names, seeds, preset, protocol, eval_set, sampler, steps, stage, overrides, seed, runs_root, force, root, weights_dir, allow_unverified_weights, dry_run)
    method = names[0] if names else "palette"
    if len(names) > 1:
        raise click.UsageError("--run-dir, --resume and --pred go with a single --method")
    if resume_dir:
        cfg, run_dir = load_run_config(resume_dir), resume_dir
    else:
        if not task:
            raise click.UsageError("--task is required (or --resume RUN_DIR)")
        extra = [f"sample.sampler={sampler}"] if sampler else []
        extra += [f"sample.steps={steps}"] if steps else []
        cfg = resolve(task, preset, list(overrides) + extra, method=method, protocol=protocol, eval_set=eval_set, seed=seed, pred=pred, name=name)
    if dry_run:
        click.echo(json.dumps({"run_dir": str(run_dir or run_dir_for(cfg, Path(runs_root))), "config": to_dict(cfg)}, indent=2))
        return
    stages = STAGES if stage == "all" else (stage,)
    folder = run(cfg, stages, runs_root=runs_root, run_dir=run_dir, force=force, root=root, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights)
    click.echo(f"run folder: {folder}")
    from palette_bench.evaluate import metric_table
    from palette_bench.run import eval_dir_for, finalize

    metrics = eval_dir_for(finalize(cfg), folder) / "metrics.json"
    if metrics.exists():
        click.echo(f"{metrics}:\n{metric_table(json.loads(metrics.read_text()))}")


def _run_benchmark(task, names, seeds, preset, protocol, eval_set, sampler, steps, stage, overrides, seed, runs_root, force, root, weights_dir, allow_unverified_weights, dry_run):
    """`run` with several methods or seeds: each is an ordinary run, in turn; then the task's comparison table."""
    from palette_bench.benchmark import BENCHMARK_METHODS, comparison, plan, run_benchmark
    from palette_bench.config import to_dict
    from palette_bench.run import STAGES, run_dir_for

    extra = [f"sample.sampler={sampler}"] if sampler else []
    extra += [f"sample.steps={steps}"] if steps else []
    seed_list = list(_ints(seeds)) if seeds else [seed or 0]
    cfgs = plan(task, preset, names or BENCHMARK_METHODS, seed_list, list(overrides) + extra, protocol=protocol, eval_set=eval_set)
    if dry_run:
        click.echo(json.dumps([{"run_dir": str(run_dir_for(c, Path(runs_root))), "config": to_dict(c)} for c in cfgs], indent=2))
        return
    stages = STAGES if stage == "all" else (stage,)
    folders = run_benchmark(cfgs, runs_root, echo=click.echo, stages=stages, force=force, root=root, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights)
    for f in folders:
        click.echo(f"run folder: {f}")
    if "eval" in stages:
        click.echo(comparison(cfgs, folders).to_markdown(index=False))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


@main.group()
def ablate():
    """The paper's studies and the sampling study: variants on the same inputs, tabulated."""


@ablate.command("steps")
@click.option("--task", default=None, type=click.Choice(task_names()), help="Task of the run to study (the run `palette-bench run --task T` makes); or give --run.")
@click.option("--run", "run_dir", default=None, type=click.Path(file_okay=False), help="A trained Palette run folder.")
@click.option("--preset", default="cpu", show_default=True, help="With --task: the run's preset.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="With --task: config overrides of the run.")
@click.option("--runs-root", default="runs", show_default=True)
@click.option("--samplers", default=",".join(SAMPLER_CHOICES), show_default=True)
@click.option("--schedules", default="paper,logsnr,karras", show_default=True)
@click.option("--steps", "steps", default="1000,250,100,50,20,10", show_default=True, help="Step counts; the reference, 1000-step ancestral with the paper's schedule, is always included.")
@click.option("--n", "n", type=int, default=None, help="Evaluation inputs (default: the run's sample.n).")
@click.option("--samples-per-input", type=int, default=None, help="Samples per input for diversity (default: the run's).")
@click.option("--diversity-n", type=int, default=None, help="Inputs with all samples (default: the run's sample.diversity_n).")
@click.option("--line", "line_specs", multiple=True, metavar="SAMPLER:SCHEDULE:STEPS[,STEPS...][:churn=S]",
              help="A line of its own step counts, Heun's optionally with churn (repeatable); given, the lines replace --samplers x --schedules x --steps.")
@click.option("--reference", default="ancestral:paper:1000", show_default=True, help="SAMPLER:SCHEDULE:STEPS of the reference every configuration is tested against.")
@click.option("--replicates", type=click.IntRange(min=100), default=None, help="Paired bootstrap replicates (default: enough for 25 beyond the corrected one-sided level, at least 1000).")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Folder for steps.csv/.md/.png/.json (default: RUN/ablate-steps).")
@root_option
@click.option("--weights-dir", default=None)
@click.option("--allow-unverified-weights", is_flag=True)
def ablate_steps_command(task, run_dir, preset, overrides, runs_root, samplers, schedules, steps, n, samples_per_input, diversity_n, line_specs, reference, replicates, out, root, weights_dir, allow_unverified_weights):
    """Samplers x step schedules x step counts of one checkpoint: FID against network evaluations, and the fewest within 5% of 1000-step ancestral."""
    from palette_bench.ablations.steps import ablate_steps, markdown
    from palette_bench.run import run, run_dir_for
    from palette_bench.runconfig import resolve

    if run_dir is None:
        if not task:
            raise click.UsageError("give --task T (the run `palette-bench run --task T` makes) or --run RUN_DIR")
        cfg = resolve(task, preset, list(overrides))
        run_dir = run(cfg, ("train",), runs_root=runs_root, root=root, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights)
    line_steps = dict(_line(spec) for spec in line_specs) or None
    summary = ablate_steps(run_dir, _names(samplers), _names(schedules), _ints(steps), n, samples_per_input, diversity_n, out, root, weights_dir=weights_dir,
                           allow_unverified_weights=allow_unverified_weights, replicates=replicates, reference=_reference_variant(reference), line_steps=line_steps)
    import pandas as pd

    folder = Path(out) if out else Path(run_dir) / "ablate-steps"
    click.echo(markdown(pd.read_csv(folder / "steps.csv"), summary))
    click.echo(f"written: {folder}/steps.csv, steps.md, steps.png, steps.json")


def _line(text: str) -> tuple[tuple, list[int]]:
    """SAMPLER:SCHEDULE:STEPS[,STEPS...][:churn=S] of --line, checked against the registries (churn: heun only)."""
    from palette_bench.models.samplers import SCHEDULES

    parts = text.split(":")
    counts = parts[2].split(",") if len(parts) in (3, 4) else []
    churn = parts[3].removeprefix("churn=") if len(parts) == 4 and parts[3].startswith("churn=") else "0" if len(parts) == 3 else ""
    try:
        churn_value = float(churn)
    except ValueError:
        churn_value = -1.0
    if (len(parts) not in (3, 4) or parts[0] not in SAMPLERS or parts[1] not in SCHEDULES or not counts or not all(c.isdigit() and int(c) > 0 for c in counts)
            or churn_value < 0 or (churn_value > 0 and parts[0] != "heun")):
        raise click.BadParameter(f"'{text}' is not SAMPLER:SCHEDULE:STEPS[,STEPS...][:churn=S] (samplers {', '.join(SAMPLERS)}; schedules {', '.join(SCHEDULES)}; "
                                 "churn >= 0, heun only)", param_hint="--line")
    key = (parts[0], parts[1], churn_value) if churn_value else (parts[0], parts[1])
    return key, [int(c) for c in counts]


def _reference_variant(text: str) -> tuple[str, str, int]:
    """SAMPLER:SCHEDULE:STEPS, checked against the registries."""
    from palette_bench.models.samplers import SCHEDULES

    parts = text.split(":")
    if len(parts) != 3 or not parts[2].isdigit() or parts[0] not in SAMPLERS or parts[1] not in SCHEDULES:
        raise click.BadParameter(f"'{text}' is not SAMPLER:SCHEDULE:STEPS (samplers {', '.join(SAMPLERS)}; schedules {', '.join(SCHEDULES)})", param_hint="--reference")
    return parts[0], parts[1], int(parts[2])


@ablate.command("curve")
@click.option("--run", "runs", multiple=True, type=click.Path(file_okay=False, exists=True), help="A Palette run whose checkpoints at --at were kept (repeatable: one curve each).")
@click.option("--recipe", "recipes", multiple=True, help="'NAME: key=value; key=value' (repeatable): train Palette with these overrides as one more curve; the first recipe is the reference the others are compared with, paired (recipe.md). 'NAME:' alone is the preset's recipe.")
@click.option("--task", default=None, type=click.Choice(task_names()), help="--recipe: the task to train on.")
@click.option("--preset", default="cpu", show_default=True, help="--recipe: the preset the recipes change.")
@click.option("--protocol", default=None, help="--recipe: protocol name or TOML path (default: builtin).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="--recipe: an override of every recipe (repeatable).")
@click.option("--runs-root", default="runs", show_default=True, help="--recipe: folder for the recipes' run folders.")
@click.option("--at", "at", default="600,1500,4000,10000", show_default=True, help="Training steps to evaluate.")
@click.option("--floor", "floors", multiple=True, type=click.Path(exists=True), help="An evaluation of the same inputs to draw as a line and compare with (eval folder or run folder; repeatable).")
@click.option("--x", "x_axis", type=click.Choice(["steps", "minutes"]), default=None, help="The figure's axis: training steps, or training minutes on this machine (default: minutes with --recipe, else steps).")
@click.option("--sampler", type=click.Choice(SAMPLER_CHOICES), default=None, help="Sampling settings of every curve (default: each run's).")
@click.option("--schedule", type=click.Choice(["paper", "logsnr", "karras"]), default=None)
@click.option("--steps", "sample_steps", type=int, default=None)
@click.option("--n", "n", type=int, default=None)
@click.option("--samples-per-input", type=int, default=None)
@click.option("--diversity-n", type=int, default=None)
@click.option("--out", default="curve", show_default=True, type=click.Path(file_okay=False), help="Folder for curve.csv/.md/.png/.json (and recipe.csv/.md/.json).")
@root_option
@click.option("--weights-dir", default=None)
@click.option("--allow-unverified-weights", is_flag=True)
def ablate_curve_command(runs, recipes, task, preset, protocol, overrides, runs_root, at, floors, x_axis, sampler, schedule, sample_steps, n, samples_per_input, diversity_n, out, root, weights_dir, allow_unverified_weights):
    """Palette's FID, CA and PD against training steps or minutes, with floors as lines and paired comparisons with them.

    With --recipe, a recipe study in one command: each recipe is trained (resuming), its curve evaluated,
    and its last point compared with the first recipe's.
    """
    from palette_bench.ablations.curve import ablate_curve

    if not runs and not recipes:
        raise click.UsageError("give --run RUN_DIR (repeatable) or --recipe 'NAME: key=value; ...' with --task")
    labels, names, parsed = {}, [], []
    runs = list(runs)
    if recipes:
        from palette_bench.ablations.recipe import parse_recipe, recipe_configs, train_recipes

        if not task:
            raise click.UsageError("--recipe needs --task")
        try:
            parsed = [parse_recipe(r) for r in recipes]
            cfgs = recipe_configs(task, preset, parsed, list(_ints(at)), list(overrides), protocol=protocol)
        except ValueError as e:
            raise click.UsageError(str(e)) from None
        names = [name for name, _ in parsed]
        folders = train_recipes(cfgs, names, runs_root=runs_root, echo=click.echo, root=root)
        labels = {str(f): name for f, name in zip(folders, names)}
        runs = [str(f) for f in folders] + runs
    summary = ablate_curve(runs, list(_ints(at)), list(floors), out, root, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights, labels=labels,
                           x=x_axis or ("minutes" if recipes else "steps"), sampler=sampler, schedule=schedule, steps=sample_steps, n=n, samples_per_input=samples_per_input, diversity_n=diversity_n)
    click.echo((Path(out) / "curve.md").read_text())
    written = "curve.csv, curve.md, curve.png, curve.json"
    if recipes:
        import pandas as pd

        from palette_bench.ablations.recipe import recipe_table, write_recipes

        table = recipe_table(pd.read_csv(Path(out) / "curve.csv"), names, [own for _, own in parsed])
        write_recipes(Path(out), table, summary.get("n"))
        click.echo((Path(out) / "recipe.md").read_text())
        written += ", recipe.csv, recipe.md, recipe.json"
    click.echo(f"written: {out}/{written}")


def _variant_study(name, task, preset, protocol, overrides, values, runs_root, out, root, weights_dir, allow_unverified_weights):
    from palette_bench.ablations.variants import STUDIES, ablate, markdown, plan

    study = STUDIES[name]
    cfgs = plan(study, task, preset, list(overrides), _names(values) if values else None, protocol=protocol)
    out = Path(out) if out else Path(runs_root) / f"ablate-{name}-{task}"
    table = ablate(study, cfgs, runs_root=runs_root, out=out, echo=click.echo, root=root, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights)
    click.echo(markdown(study, table))
    figure = ", msssim-histogram.png" if name == "loss" else ""
    click.echo(f"written: {out}/{name}.csv, {name}.md, {name}.json{figure}")


def _variant_options(default_values: str, default_task: str | None):
    def wrap(f):
        options = [
            click.option("--task", required=default_task is None, default=default_task, show_default=default_task is not None, type=click.Choice(task_names()), help="Task to train and evaluate the variants on."),
            click.option("--preset", default="cpu", show_default=True),
            click.option("--protocol", default=None, help="Protocol name or TOML path (default: builtin)."),
            click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Config overrides applied to every variant alike."),
            click.option("--values", default=None, help=f"Comma-separated values of the ablated key (default: {default_values}); the paper's default is always included and compared against."),
            click.option("--runs-root", default="runs", show_default=True),
            click.option("--out", default=None, type=click.Path(file_okay=False), help="Folder for the table and figure (default: RUNS_ROOT/ablate-<study>-<task>)."),
            root_option,
            click.option("--weights-dir", default=None),
            click.option("--allow-unverified-weights", is_flag=True),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return wrap


@ablate.command("loss")
@_variant_options("l2,l1", None)
def ablate_loss_command(task, preset, protocol, overrides, values, runs_root, out, root, weights_dir, allow_unverified_weights):
    """L1 vs L2 denoising loss (paper Table 6 and Figure 8): FID, PD and sample diversity, paired against L2."""
    _variant_study("loss", task, preset, protocol, overrides, values, runs_root, out, root, weights_dir, allow_unverified_weights)


@ablate.command("attention")
@_variant_options("global,local,more-resblocks,dilated", "inpainting")
def ablate_attention_command(task, preset, protocol, overrides, values, runs_root, out, root, weights_dir, allow_unverified_weights):
    """Self-attention vs fully convolutional U-Nets (paper Table 5): parameters, FID, IS, PD and CA, paired against global attention."""
    _variant_study("attention", task, preset, protocol, overrides, values, runs_root, out, root, weights_dir, allow_unverified_weights)


@ablate.command("multitask")
@click.option("--preset", default="cpu", show_default=True, help="Preset of both models (the same step budget).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Config overrides of both models (not task, method or eval_set).")
@click.option("--protocol", default=None, help="Protocol name or TOML path (default: builtin).")
@click.option("--runs-root", default="runs", show_default=True)
@click.option("--sets", default="q5,center,gray", show_default=True, help="Evaluation sets: Table 7's rows by default; any of JPEG's, inpainting's and colorization's.")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Folder for multitask.csv/.md/.json (default: RUNS_ROOT/ablate-multitask).")
@root_option
@click.option("--weights-dir", default=None)
@click.option("--allow-unverified-weights", is_flag=True)
def ablate_multitask_command(preset, overrides, protocol, runs_root, sets, out, root, weights_dir, allow_unverified_weights):
    """One Palette trained on JPEG restoration, inpainting and colorization against the task-specific Palettes, paired (paper Table 7)."""
    from palette_bench.ablations.multitask import ablate_multitask

    ablate_multitask(preset, list(overrides), _names(sets), runs_root, out, protocol, root, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights)
    folder = Path(out) if out else Path(runs_root) / "ablate-multitask"
    click.echo((folder / "multitask.md").read_text())
    click.echo(f"written: {folder}/multitask.csv, multitask.md, multitask.json")


@main.command("figure")
@click.argument("eval_dirs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--n", "n", type=int, default=8, show_default=True, help="Inputs (rows): the first n of the evaluation set.")
@click.option("--samples", type=int, default=3, show_default=True, help="Outputs per method (columns), where it has several.")
@click.option("--label", "labels", multiple=True, help="Column label of each EVAL_DIR, in order (default: method, parameterization and sampler).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write.")
@root_option
def figure_command(eval_dirs, n, samples, labels, out, root):
    """Input | each evaluation's outputs | original, for the same first N inputs of one evaluation set."""
    from palette_bench.figures import samples_figure

    click.echo(f"written: {samples_figure(list(eval_dirs), out, n, samples, list(labels), root)}")


@main.command("diagnose")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--n", "n", type=int, default=64, show_default=True, help="Evaluation inputs to noise and predict.")
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Folder for diagnose.json and diagnose.png (default: the run folder).")
@root_option
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def diagnose_command(run_dir, n, out, root, batch_size, device, as_json):
    """Per noise level: eps and clean-image MSE of a Palette run's network, against grey and mean-colour references."""
    from palette_bench.diagnose import diagnose_run, table

    result = diagnose_run(run_dir, n=n, out=out, root=root, device=device, batch_size=batch_size)
    click.echo(json.dumps(result, indent=2) if as_json else table(result))


@main.command("ema")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--sigma-rel", "sigma_rels", required=True, help="Comma-separated relative EMA lengths to reconstruct (EDM2's sigma_rel, e.g. 0.05,0.1,0.2).")
@click.option("--step", type=int, default=None, help="Snapshot step to reconstruct at (default: the last).")
@click.option("--evaluate", is_flag=True, help="Also sample and evaluate each reconstruction like the run's own evaluation, into eval/<name>-ema<sigma_rel>.")
@root_option
@click.option("--weights-dir", default=None)
@click.option("--allow-unverified-weights", is_flag=True)
def ema_command(run_dir, sigma_rels, step, evaluate, root, weights_dir, allow_unverified_weights):
    """EDM2's post-hoc EMA: any EMA length of a run trained with train.posthoc_ema, reconstructed from its snapshots."""
    from palette_bench.posthoc_ema import SNAPSHOTS, reconstruct
    from palette_bench.run import eval_dir_for, finalize, load_run_config, run
    from palette_bench.train import atomic_torch_save

    from palette_bench.config import to_dict

    cfg = load_run_config(run_dir)
    for sigma in (float(x) for x in sigma_rels.split(",") if x.strip()):
        state, info = reconstruct(Path(run_dir), sigma, step)
        path = Path(run_dir) / SNAPSHOTS / f"ema-{sigma:g}-step{info['step']:08d}.pt"
        atomic_torch_save({"model": state, "ema": state, "step": info["step"], "config": to_dict(cfg), "posthoc_ema": info}, path)
        click.echo(f"sigma_rel {sigma:g} at step {info['step']}: {info['snapshots']} snapshots, weights sum {info['weights_sum']:.4f}, "
                   f"profile error {info['profile_error']:.2%} -> {path}")
        if evaluate:
            ev = eval_dir_for(finalize(cfg), Path(run_dir))
            ev = ev.with_name(f"{ev.name}-step{info['step']}-ema{sigma:g}")
            if not (ev / "metrics.json").exists():
                run(cfg, ("sample", "eval"), run_dir=run_dir, eval_dir=ev, checkpoint=path, root=root, weights_dir=weights_dir, allow_unverified_weights=allow_unverified_weights)
            m = json.loads((ev / "metrics.json").read_text())["metrics"]
            click.echo("  " + ", ".join(f"{k} {m[k]['value']:.4g}" for k in ("fid", "ca_top1", "pd") if k in m) + f"  ({ev})")


@main.command("panorama")
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False), help="A trained Palette run of task uncropping; its last checkpoint is used.")
@click.option("--image", default=None, type=click.Path(dir_okay=False), help="Input image of any size: its largest centred square, resized (bicubic) to the run's image size. Default: the run's evaluation image 0.")
@click.option("--steps", type=click.IntRange(min=1), required=True, help="Extensions, each adding half an image (image_size // 2 columns).")
@click.option("--direction", type=click.Choice(["both", "right", "left"]), default="both", show_default=True, help="both: right, left, right, ...; right or left: that side only.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG to write; OUT.json beside it records the run, checkpoint, seed, sampler and column ranges.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--sampler", type=click.Choice(SAMPLER_CHOICES), default=None, help="Sampler (default: the run's).")
@click.option("--schedule", type=click.Choice(["paper", "logsnr", "karras"]), default=None, help="Step schedule (default: the run's).")
@click.option("--sample-steps", type=click.IntRange(min=1), default=None, help="Sampling steps per extension (default: the run's).")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@root_option
def panorama_command(run_dir, image, steps, direction, out, seed, sampler, schedule, sample_steps, device, root):
    """Palette's Figure 2: a panorama by repeated uncropping, half an image per extension, the known pixels kept exact."""
    from palette_bench.panorama import panorama_run

    record = panorama_run(run_dir, out, steps, image, seed, direction, sampler, sample_steps, schedule, device, root)
    click.echo(f"written: {out} ({record['width']}x{record['height']}, {steps} extensions) and {Path(out).with_suffix('.json')}")


@main.group()
def model():
    """Inspect the Palette U-Net of a preset."""


@model.command("summary")
@click.option("--preset", default="cpu", show_default=True)
@click.option("--attention", type=click.Choice(["global", "local", "more-resblocks", "dilated"]), default=None, help="Architecture variant of Palette's attention ablation.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE")
@click.option("--json", "as_json", is_flag=True)
def model_summary_command(preset, attention, overrides, as_json):
    """Parameter count and attention placement, built on the meta device (no memory needed even for the paper preset)."""
    from palette_bench.models.unet import model_summary
    from palette_bench.runconfig import resolve

    extra = [f'model.attention="{attention}"'] if attention else []
    cfg = resolve("inpainting", preset, list(overrides) + extra)
    summary = {"preset": preset, **model_summary(cfg.model)}
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        for k, v in summary.items():
            click.echo(f"{k:>22}: {v}")


@main.group()
def data():
    """Inspect the tasks' evaluation sets and check that a protocol's data is in place."""


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
@click.option("--decode", is_flag=True, help="Also decode every image file of the evaluation and reference sets and list the unreadable ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check(protocol, root, decode, as_json):
    """Report which of a protocol's files are present and what to do about the missing ones; exit 1 if any is missing (or, with --decode, unreadable)."""
    from palette_bench.data.check import check_protocol, decode_protocol
    from palette_bench.protocols import load_protocol

    spec = load_protocol(protocol)
    findings = check_protocol(spec, root)
    decoded = decode_protocol(spec, root, progress=not as_json) if decode else []
    if as_json:
        click.echo(json.dumps([f.__dict__ for f in findings + decoded], indent=2))
    else:
        for f in findings:
            click.echo(f"{'ok' if f.ok else 'MISSING':>7}  {f.item}: {f.detail}")
        for f in decoded:
            click.echo(f"{'ok' if f.ok else 'BAD':>7}  {f.item}: {f.detail}")
    if not all(f.ok for f in findings + decoded):
        sys.exit(1)


weights_dir_option = click.option("--weights-dir", default=None, help="Folder of the weights files (default: torch.hub's checkpoints folder, $TORCH_HOME/hub/checkpoints).")


def _run_eval_folder(run_dir: str, eval_dir: str | None) -> tuple[Path, dict]:
    """A run's sampling folder (eval/<name>/) and the config it was sampled with: the only one, or the one --eval-dir names."""
    found = {p.parent.name: p for p in sorted(Path(run_dir).glob("eval/*/config.json"))}
    if not found:
        raise FileNotFoundError(f"{run_dir}: no eval/<name>/config.json (not a run folder, or nothing sampled yet)")
    if eval_dir is None and len(found) > 1:
        raise click.UsageError(f"{run_dir} has several evaluation folders; choose one with --eval-dir ({', '.join(found)})")
    name = eval_dir if eval_dir is not None else next(iter(found))
    if name not in found:
        raise click.UsageError(f"{run_dir}: no evaluation folder eval/{name} (it has: {', '.join(found)})")
    # Read as JSON, not through the run module: a folder from any version of the run stage can be evaluated.
    return found[name].parent, json.loads(found[name].read_text())


@main.command("eval")
@click.option("--pred", default=None, type=click.Path(file_okay=False), help="Folder of outputs: NNNNNN.png per evaluation index, NNNNNN_k.png for extra samples.")
@click.option("--ref", default=None, type=click.Path(file_okay=False), help="Two-folder mode: a folder of reference images (FID, IS, KID; PD and LPIPS when names pair up).")
@click.option("--run", "run_dir", default=None, type=click.Path(file_okay=False), help="Run mode: a run folder's samples, with the protocol, size, task, evaluation set, n and evaluation settings the run used.")
@click.option("--eval-dir", default=None, help="Run mode: which eval/<NAME> folder of the run (needed when it has several).")
@click.option("--task", type=click.Choice(task_names()), default=None, help="Protocol mode: the task.")
@click.option("--eval-set", default=None, help="Protocol mode: the evaluation set.")
@protocol_option
@size_option
@root_option
@click.option("--n", "n", type=int, default=None, help="Evaluate the first N inputs only (default: the whole evaluation set).")
@click.option("--metrics", default=",".join(EVAL_METRICS), show_default=True, help="Comma-separated metrics to compute (run mode: the run's, unless given). Also: fd_dinov2, cmmd (they need their ViT weights; docs/evaluation.md).")
@click.option("--feature-space", type=click.Choice(["auto", "inception", "judge"]), default="auto", show_default=True, help="auto: the judge for the builtin protocol, InceptionV3/ResNet-50/AlexNet otherwise.")
@click.option("--ref-stats", default=None, type=click.Path(dir_okay=False), help="Precomputed reference statistics (.npz with mu, sigma[, features, keys]).")
@click.option("--bootstrap", type=int, default=100, show_default=True, help="Bootstrap replicates for the 95% intervals (0: none; run mode: the run's, unless given).")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Batch size (run mode: the run's, unless given); results do not depend on it.")
@click.option("--device", default=None, help="torch device (default: cuda if available, else cpu).")
@weights_dir_option
@click.option("--allow-unverified-weights", is_flag=True, help="Use weights files whose sha256 does not match; results are marked unverified.")
@skip_bad_option
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Also write the JSON result to this file (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def eval_command(ctx, pred, ref, run_dir, eval_dir, task, eval_set, protocol, size, root, n, metrics, feature_space, ref_stats, bootstrap, batch_size, device, weights_dir, allow_unverified_weights, skip_bad, out, as_json):
    """Evaluate a method's outputs under a protocol, a run folder's samples, or two folders against each other."""
    from click.core import ParameterSource

    from palette_bench.evaluate import EvalOptions, evaluate_folders, evaluate_protocol, metric_table
    from palette_bench.io import atomic_write_json
    from palette_bench.protocols import load_protocol

    def given(*names):
        return [f"--{name.replace('_', '-')}" for name in names if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT]

    judge_config = None
    if run_dir is not None:
        if clash := given("pred", "ref", "task", "eval_set", "protocol", "size", "n"):
            raise click.UsageError(f"--run takes the outputs, protocol, size, task, evaluation set and n from the run folder; drop {', '.join(clash)}")
        folder, cfg = _run_eval_folder(run_dir, eval_dir)
        from palette_bench.metrics.judge import JudgeConfig

        pred = cfg.get("pred") or str(folder / "samples")  # a run of external outputs names their folder
        task, eval_set, n = cfg["task"], cfg["eval_set"], cfg["sample"]["n"] or None
        spec = load_protocol(cfg["protocol"]).with_size(cfg["image_size"] or None)
        # The run's evaluation settings, so that the numbers match its metrics.json; options given on the command line win.
        run_eval = cfg["eval"]
        metrics = metrics if given("metrics") else ",".join(run_eval["metrics"])
        bootstrap = bootstrap if given("bootstrap") else run_eval["bootstrap"]
        batch_size = batch_size if given("batch_size") else run_eval["batch_size"]
        judge_config = JudgeConfig(train_images=run_eval["judge_train_images"], epochs=run_eval["judge_epochs"])
    elif eval_dir is not None:
        raise click.UsageError("--eval-dir goes with --run RUN_DIR")
    elif pred is None:
        raise click.UsageError("give --pred DIR (protocol or two-folder mode) or --run RUN_DIR")
    opts = EvalOptions(
        metrics=tuple(m.strip() for m in metrics.split(",") if m.strip()),
        batch_size=batch_size,
        bootstrap=bootstrap,
        device=device,
        weights_dir=weights_dir,
        allow_unverified=allow_unverified_weights,
        feature_space=feature_space,
        judge_config=judge_config,
        ref_stats=ref_stats,
        progress=not as_json,
    )
    if run_dir is not None:
        result = evaluate_protocol(spec, task, eval_set, pred, opts, root=root, n=n, skip_bad=skip_bad)
        result["run"] = {"folder": str(run_dir), "eval_dir": folder.name}
    elif ref is not None:
        if size is not None:
            raise click.UsageError("--size goes with protocol mode; two-folder mode takes the images as they are")
        result = evaluate_folders(pred, ref, opts)
    else:
        if not task or not eval_set:
            raise click.UsageError("protocol mode needs --task and --eval-set (or give --ref DIR for two-folder mode, --run RUN_DIR for a run folder)")
        result = evaluate_protocol(load_protocol(protocol).with_size(size), task, eval_set, pred, opts, root=root, n=n, skip_bad=skip_bad)
    if out:
        atomic_write_json(out, result)
    click.echo(json.dumps(result, indent=2) if as_json else metric_table(result))


@main.command("compare")
@click.argument("a", type=click.Path(exists=True))
@click.argument("b", type=click.Path(exists=True))
@click.option("--replicates", type=int, default=1000, show_default=True, help="Paired bootstrap replicates (a verdict near 0 needs stable tails).")
@click.option("--metrics", default=None, help="Comma-separated metrics or groups (fid,is,kid,pd,ca,lpips,psnr,ssim,diversity,fd_dinov2,cmmd,prdc,swd or keys such as ca_top1); default: all that both hold.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def compare_command(a, b, replicates, metrics, as_json):
    """Paired comparison of two evaluations of the same inputs: A - B per metric, its 95% interval, and which is better.

    A and B are each an eval folder (runs/X/eval/NAME/), its metrics.json, or a run folder with one evaluation.
    """
    from palette_bench.compare import compare, table

    wanted = None if metrics is None else tuple(m.strip() for m in metrics.split(",") if m.strip())
    result = compare(a, b, wanted, replicates)
    click.echo(json.dumps(result, indent=2) if as_json else table(result))


@main.group()
def judge():
    """The builtin protocol's judge: the packaged default, and how to reproduce it."""


@judge.command("train")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Where to write the weights file.")
def judge_train(out):
    """Train the default judge from scratch (about 2 min on 2 cores) and say whether it is the packaged file, bit for bit."""
    import hashlib

    from palette_bench.io import atomic_write_bytes
    from palette_bench.metrics.judge import PACKAGED, PACKAGED_SHA256, judge_bytes

    data, accuracy = judge_bytes(progress=True)
    atomic_write_bytes(Path(out), data)
    digest = hashlib.sha256(data).hexdigest()
    click.echo(f"{out}: sha256 {digest}, test top-1 {accuracy:.4f} on 2000 clean builtin test images")
    same = "identical to" if digest == PACKAGED_SHA256 else f"differs from (sha256 {PACKAGED_SHA256})"
    click.echo(f"{same} the packaged default judge {PACKAGED}")


@main.group()
def weights():
    """Show, fetch and verify the pretrained weights of the metrics (InceptionV3, ResNet-50, AlexNet, DINOv2, CLIP)."""


@weights.command("status")
@weights_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def weights_status(weights_dir, as_json):
    """Each weights file: expected path, present or not, and whether its sha256 matches."""
    from palette_bench.weights import status

    rows = status(weights_dir)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        state = "ok" if r["sha256_ok"] else ("UNCHECKED" if r["unpublished"] else "MISMATCH") if r["present"] else "MISSING"
        click.echo(f"{state:>9}  {r['name']:<15} {r['path']}  ({r['metrics']})")
        if r["present"] and r["unpublished"]:
            click.echo(f"{'':>11}no published sha256 to check; this file's: {r['sha256']}")
        if not r["present"]:
            click.echo(f"{'':>11}download: {r['url']}")


@weights.command("verify")
@weights_dir_option
def weights_verify(weights_dir):
    """Check the sha256 of every weights file; exit 1 if any is missing or does not match.

    A file whose publisher gives no digest (DINOv2) cannot be checked: it is listed with its own digest.
    """
    from palette_bench.weights import status

    rows = status(weights_dir)
    for r in rows:
        if r["present"] and r["unpublished"]:
            verdict = f"present, no published sha256 to check (this file: {r['sha256']})"
        else:
            verdict = "ok" if r["sha256_ok"] else ("sha256 mismatch: " + r["sha256"] if r["present"] else "missing")
        click.echo(f"{r['name']:<15} {verdict}  {r['path']}")
    if not all(r["sha256_ok"] or (r["present"] and r["unpublished"]) for r in rows):
        sys.exit(1)


@weights.command("fetch")
@weights_dir_option
@click.option("--name", "names", multiple=True, help="Only these weights (default: all that are missing).")
def weights_fetch(weights_dir, names):
    """Download the missing weights files (needs internet) and verify them."""
    from palette_bench.weights import WEIGHTS, fetch, status

    for r in status(weights_dir):
        if (names and r["name"] not in names) or r["sha256_ok"] or (r["present"] and r["unpublished"]):
            continue
        click.echo(f"fetching {WEIGHTS[r['name']].url} -> {r['path']}")
        fetch(r["name"], weights_dir)
    click.echo("all requested weights present and verified")


if __name__ == "__main__":
    main()
