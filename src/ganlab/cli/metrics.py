"""CLI for evaluation: `ganlab eval` and `ganlab evaluator train|info` (mounted by cli.py)."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from ganlab.cli.bounds import EVAL_N, EVALUATOR_EPOCHS, HOLDOUT, SEED, THREADS, bounded
from ganlab.cli.console import DataDirOption, DeviceOption, ThreadsOption, user_errors
from ganlab.errors import GanlabError
from ganlab.metrics.evaluator import EVALUATOR_SHA256, MODEL_CARD_PATH, WEIGHTS_PATH, sha256_file
from ganlab.names import ALL_METRICS, arrow, fmt
from ganlab.rundir import RunDir


def scores_table(title: str, scores: dict[str, float] | None, floor: dict[str, float], n: int) -> Table:
    """A rich table: metric, better-direction arrow, model score (if any), real-data floor."""
    from ganlab.names import DESCRIPTIONS

    table = Table(title=title, caption=f"real floor: {n} MNIST training images scored against the test set")
    table.add_column("metric")
    table.add_column("better", justify="center")
    if scores is not None:
        table.add_column("model", justify="right")
    table.add_column("real floor", justify="right")
    table.add_column("what", style="dim")
    for name, value in floor.items():
        row = [name, arrow(ALL_METRICS[name])]
        if scores is not None:
            row.append(fmt(scores[name]))
        table.add_row(*row, fmt(value), DESCRIPTIONS.get(name, ""))
    return table


def conditional_table(title: str, conditional: dict) -> Table:
    """A conditional run's per-class scores (eval.json's "conditional"): the evaluator's accuracy
    on the samples asked for each class, and each class's FID beside its held-out floor."""
    table = Table(title=title, caption="accuracy: samples the evaluator classifies as the class they were drawn for")
    for column, justify in (("class", "left"), ("accuracy ↑", "right"), ("FID ↓", "right"), ("FID floor", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    rows = zip(conditional["accuracy_per_class"], conditional["fid_per_class"], conditional["fid_per_class_floor"])
    for k, (accuracy, fid, floor) in enumerate(rows):
        table.add_row(str(k), fmt(accuracy), fmt(fid), fmt(floor))
    c = conditional
    table.add_row("all (FID: mean)", fmt(c["accuracy"]), fmt(c["fid_class_mean"]), fmt(c["fid_class_mean_floor"]), style="bold")
    return table


class BuildProgress:
    """A bar on stderr per reference array being built (the first `ganlab eval` on a machine
    builds them for about two minutes); nothing at all when they are cached."""

    def __init__(self) -> None:
        self._bar: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> "BuildProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, what: str, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = Progress(
                TextColumn("building {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=Console(stderr=True),
            )  # fmt: skip
            self._bar.start()
            self._bar.console.print("first use on this machine: building the cached reference arrays (once)")
        if what not in self._tasks:
            self._tasks[what] = self._bar.add_task(what, total=total)
        self._bar.update(self._tasks[what], completed=done, total=total)


@user_errors
@bounded(n=EVAL_N, seed=SEED, threads=THREADS)
def eval_command(
    run_dir: Annotated[
        Optional[Path],
        typer.Argument(help="Run directory to evaluate (omit with --real).", exists=True, file_okay=False),
    ] = None,
    n: Annotated[int, typer.Option("--n", help=f"Number of samples to generate and score ({EVAL_N}).")] = 10000,
    data_dir: DataDirOption = None,
    which: Annotated[
        str,
        typer.Option(
            "--which",
            help="Generator weights: final, best, last, or epoch-N (kept after epoch N, train.keep_weights_at; "
            "writes eval-epoch-NNN.json).",
        ),
    ] = "final",
    real: Annotated[
        bool, typer.Option("--real", help="Print only the real-data floor: n training images vs the test set.")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help=f"Seed of the generator's noise ({SEED}).")] = 0,
    device: DeviceOption = None,
    threads: ThreadsOption = None,
) -> None:
    """Score a run's samples with every metric and write RUN_DIR/eval.json, beside the real-data floor."""
    import torch

    from ganlab.api.run import evaluate, real_floor
    from ganlab.metrics.suite import FLOOR_MAX

    if threads:
        torch.set_num_threads(threads)
    console = Console()
    if real and run_dir is not None:
        raise GanlabError("give either RUN_DIR or --real, not both")
    if not real and run_dir is None:
        raise GanlabError("missing RUN_DIR (or pass --real for the real-data floor)")
    if real:
        floor_n = min(n, FLOOR_MAX)
        with BuildProgress() as progress:
            floor = real_floor(floor_n, "mnist", data_dir, device, progress)
        console.print(scores_table("MNIST real-data floor", None, floor, floor_n))
        return
    assert run_dir is not None
    if note := _no_metrics(run_dir):
        console.print(f"{run_dir}: {note}", highlight=False)
        return
    if run_dir.is_dir() and not os.access(run_dir, os.W_OK):  # said now, not after minutes of scoring
        raise GanlabError(f"cannot write {run_dir / 'eval.json'}: the run folder {run_dir} is read-only")
    with BuildProgress() as progress:
        result = evaluate(run_dir, n=n, which=which, seed=seed, data_dir=data_dir, device=device, progress=progress)
    scores, floor, higher = result["metrics"], result["real_floor"], result["higher_is_better"]
    if not set(scores) <= set(ALL_METRICS):  # not the MNIST metrics: the real column is n real samples
        table = Table(title=f"{run_dir} ({which}, n={n})")
        for column in ("metric", "better", "model", f"real (n={result['n_real_floor']})"):
            table.add_column(column)
        for name in scores:
            table.add_row(name, arrow(higher[name]), fmt(scores[name]), fmt(floor[name]))
    else:
        table = scores_table(f"{run_dir} ({which}, n={n})", scores, floor, result["n_real_floor"])
    console.print(table)
    if "conditional" in result:
        console.print(conditional_table(f"{run_dir}: samples drawn for each class", result["conditional"]))
    console.print(f"wrote {RunDir(Path(run_dir)).eval_path(which)} in {result['seconds']:.1f} s")


def _no_metrics(run_dir: Path) -> str | None:
    """Why the run's dataset has no metrics (its scorer's note), or None when it has some."""
    from ganlab.data.registry import dataset_spec
    from ganlab.metrics.scorers import scorer_note

    run = RunDir(Path(run_dir))
    if not run.exists():
        return None  # evaluate() says what is wrong with the folder
    return scorer_note(dataset_spec(run.read_config().data.dataset).scorer)


evaluator_app = typer.Typer(help="Train or inspect the MNIST evaluator behind the metrics.", no_args_is_help=True)


def model_card(result: object, recipe: object, command: str, parameters: int) -> str:
    """The model card's Markdown for a `TrainResult` and its `Recipe`."""
    from dataclasses import asdict

    r = asdict(recipe)  # type: ignore[call-overload]
    size_mb = Path(result.path).stat().st_size / 1e6  # type: ignore[attr-defined]
    return f"""# MNIST evaluator (ganlab)

| | |
|---|---|
| file | `{Path(result.path).name}` ({size_mb:.2f} MB, safetensors) |
| SHA-256 | `{result.sha256}` |
| test accuracy | {result.test_accuracy:.2%} on the 10,000 MNIST test images |
| parameters | {parameters:,} |
| trained | {dt.date.today().isoformat()}, {os.cpu_count()}-core {platform.machine()} CPU, {r["threads"]} thread{"s" if r["threads"] > 1 else ""}, {result.train_seconds:.0f} s |
| command | `{command}` |

## Data
MNIST (LeCun, Cortes, Burges; CC BY-SA 3.0), files verified by the SHA-256 of their
decompressed contents (`ganlab.data.sources`). Trained on training images
{r["holdout"]:,}..59,999; the first {r["holdout"]:,} training images are held out, never seen, so that
the real-data floor (`ganlab eval --real`) scores images as new to the evaluator as a
generator's samples are. The 10,000 test images give the accuracy above and are the metrics'
reference set.

## Network (`ganlab.metrics.evaluator.MnistEvaluator`)
Input 1x28x28 in [0, 1], normalised inside with the training mean 0.1307 and std 0.3081.
conv3x3(32)-BN-ReLU, maxpool; conv3x3(64)-BN-ReLU, conv3x3(64)-BN-ReLU, maxpool;
conv3x3(128)-BN-ReLU, maxpool; flatten 1152 -> linear 128 -> BN (**the 128-d features**) ->
ReLU -> dropout 0.3 -> linear 10 (**logits; their softmax feeds the class metrics**).
The features are taken before the ReLU so that their covariance is full rank.

## Recipe (`ganlab.metrics.train_evaluator.Recipe`)
seed {r["seed"]}; {r["epochs"]} epochs; batch {r["batch_size"]}; AdamW, weight decay {r["weight_decay"]},
OneCycle learning rate with peak {r["max_lr"]}; augmentation: random rotation up to
±{r["max_rotation"]}° and shift up to ±{r["max_shift"]} px per image; cross-entropy without
label smoothing (so that the softmax stays confident for the classifier score);
`torch.use_deterministic_algorithms(True)`, {r["threads"]} CPU thread(s). The same command with the same
torch build on the same kind of CPU gives the same bytes; another CPU or torch version may change
the last bits, and hence the SHA-256: the committed file is the reference, and `load_evaluator`
refuses any other file unless told its SHA-256.

## Use and limits
Metrics from this evaluator (FID, KID, precision/recall, density/coverage, classifier score,
class histograms, memorisation) are comparable only with numbers from the same file (same
SHA-256), never with Inception-based figures from papers. Reference features are cached under
the evaluator's SHA-256.
"""


@evaluator_app.command("train")
@user_errors
@bounded(epochs=EVALUATOR_EPOCHS, seed=SEED, holdout=HOLDOUT)
def train_command(
    out: Annotated[
        Path, typer.Option("--out", help="Weights file to write (safetensors); a MODEL_CARD.md is written beside it.")
    ] = Path("mnist_evaluator.safetensors"),
    epochs: Annotated[
        int, typer.Option("--epochs", help=f"Training epochs, {EVALUATOR_EPOCHS} (the committed recipe uses 6).")
    ] = 6,
    seed: Annotated[int, typer.Option("--seed", help=f"Seed of initialisation, order and augmentation ({SEED}).")] = 0,
    holdout: Annotated[
        int, typer.Option("--holdout", help=f"First N training images kept unseen, for the real-data floor ({HOLDOUT}).")
    ] = 10000,
    data_dir: DataDirOption = None,
) -> None:
    """Train the evaluator with the fixed, seeded recipe; print its test accuracy and SHA-256."""
    from dataclasses import replace

    from ganlab.data.mnist import load_mnist
    from ganlab.metrics.evaluator import MnistEvaluator
    from ganlab.metrics.train_evaluator import Recipe, train_evaluator

    console = Console()
    train, test = load_mnist("train", data_dir), load_mnist("test", data_dir)
    recipe = replace(Recipe(), epochs=epochs, seed=seed, holdout=holdout)
    result = train_evaluator(train.images, train.labels, test.images, test.labels, out, recipe, log=console.print)
    command = f"ganlab evaluator train --out {out} --epochs {epochs} --seed {seed}"
    if holdout != Recipe().holdout:
        command += f" --holdout {holdout}"
    parameters = sum(p.numel() for p in MnistEvaluator().parameters())
    card = Path(out).with_name("MODEL_CARD.md")
    card.write_text(model_card(result, recipe, command, parameters))
    console.print(f"test accuracy {result.test_accuracy:.2%} in {result.train_seconds:.0f} s")
    console.print(f"wrote {out} (SHA-256 {result.sha256}) and {card}")
    if result.sha256 != EVALUATOR_SHA256:
        console.print(
            "this is not the committed evaluator: use it with load_evaluator(path, sha256=...) "
            "(its metrics are comparable only with each other)"
        )


@evaluator_app.command("info")
@user_errors
def info_command(
    path: Annotated[
        Optional[Path], typer.Option("--path", help="Weights file to check (default: the committed evaluator).")
    ] = None,
) -> None:
    """Summarise the model card and check the weights' SHA-256 against the committed one."""
    console = Console()
    weights = path or WEIGHTS_PATH
    card = weights.with_name("MODEL_CARD.md") if path is not None else MODEL_CARD_PATH
    if not weights.is_file():
        raise GanlabError(f"evaluator weights not found: {weights}")
    if card.is_file():
        for line in card.read_text().splitlines():
            if line.startswith("| ") and not line.startswith("| |"):
                cells = [cell.strip() for cell in line.strip("|").split("|")]
                console.print(f"{cells[0]}: {cells[1]}", highlight=False)
            elif line.startswith("## "):
                break
    else:
        console.print(f"no model card at {card}")
    got = sha256_file(weights)
    console.print(f"weights: {weights}", highlight=False)
    if got != EVALUATOR_SHA256:
        raise GanlabError(f"SHA-256 mismatch: {weights} has {got}, the committed evaluator is {EVALUATOR_SHA256}")
    console.print(f"SHA-256 OK: {got}")
