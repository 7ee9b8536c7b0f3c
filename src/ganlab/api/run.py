"""ganlab as a library: train from a preset or config, then sample and evaluate the run.

    from ganlab.api import train
    run = train("ring", overrides=["train.epochs=2"], out="runs/ring-2")
    x = run.sample(64)             # (64, 2) points; images come in [0, 1]
    scores = run.evaluate(n=2000)  # also written to runs/ring-2/eval.json

The CLI (`ganlab train`, `sample`, `eval`) and the study worker are thin layers over these.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from PIL import Image

from ganlab.config import RunConfig, config_with_overrides, load_config_file, load_preset
from ganlab.data.registry import dataset_spec
from ganlab.errors import GanlabError
from ganlab.files import atomic_write_json, utc_now
from ganlab.metrics.conditional import conditional_scores
from ganlab.metrics.scorers import build_scorer
from ganlab.models.conditional import balanced_labels
from ganlab.pictures import image_grid, scatter_2d
from ganlab.report.plots import PlotWriter
from ganlab.rundir import RunDir, versions
from ganlab.train.engine import default_device
from ganlab.train.hooks import Hook
from ganlab.train.loop import train as train_loop
from ganlab.train.sampling import (
    check_class,
    class_grid,
    conditioned_on,
    generate,
    load_generator,
    num_classes,
)


@dataclass(frozen=True)
class Run(RunDir):
    """A run directory, read back: its files (`RunDir`), config and record, samples and scores."""

    @property
    def config(self) -> RunConfig:
        return self.read_config()

    @property
    def info(self) -> dict[str, Any]:
        """run.json: status, timings, health and monitor events, best epoch."""
        return self.read_info()

    def sample(
        self,
        n: int = 64,
        seed: int = 0,
        which: str = "final",
        device: str | torch.device = "cpu",
        label: int | None = None,
    ) -> torch.Tensor:
        """n samples of G (`which`: final, best or last weights, or epoch-N) in display units: images in
        [0, 1] (n, C, H, W), or points (n, D). A conditional run draws class `label`, or every
        class equally often when None; an unconditional run refuses a label (GanlabError)."""
        g, config = load_generator(self.path, which, device)
        labels = None if label is None else torch.full((n,), check_class(config, label), dtype=torch.int64)
        return generate(g, config, n, seed=seed, device=device, labels=labels)

    def picture(self, n: int = 64, seed: int = 0, which: str = "final", label: int | None = None) -> Image.Image:
        """`sample`'s output drawn as the dataset is: an image grid, or a 2-D scatter. A
        conditional run without `label` gives one row per class, ceil(n / classes) wide."""
        config = self.config
        if dataset_spec(config.data.dataset).display == "scatter":
            return scatter_2d(self.sample(n, seed, which, label=label), title=config.name)
        if label is None and num_classes(config):
            g, config = load_generator(self.path, which)
            return image_grid(*class_grid(g, config, n, seed))
        return image_grid(self.sample(n, seed, which, label=label))

    def evaluate(
        self,
        n: int = 10000,
        which: str = "final",
        seed: int = 0,
        data_dir: Path | None = None,
        device: str | torch.device | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, Any]:
        """Score n samples (of the `which` weights, noise from `seed`) with every metric of the
        dataset's scorer, beside the real-data floor; writes RUN_DIR/eval.json (for `epoch-N`,
        the weights kept after epoch N: eval-epoch-NNN.json) and returns it (its "metrics" hold
        the scores). `progress(what, done, total)` follows the build of the
        scorer's reference arrays, the first time on a machine (about two minutes for MNIST).
        A conditional run draws every class equally often, and its eval.json adds "conditional":
        the evaluator's accuracy on the requested classes and per-class FID, beside their floor
        (`ganlab.metrics.conditional.conditional_scores`)."""
        path = self.path
        device = str(device or default_device())
        started = time.perf_counter()
        g, config = load_generator(path, which, device)
        scorer = _with_progress(build_scorer(dataset_spec(config.data.dataset).scorer, None, data_dir, device), progress)
        classes = conditioned_on(g)
        if classes and scorer.uses_evaluator:  # does G draw the class it is asked for?
            labels = balanced_labels(n, classes)
            samples = generate(g, config, n, seed=seed, device=device, labels=labels)
            scores, conditional = conditional_scores(scorer.suite, samples, labels, scorer.floor_size(n))
        else:  # a conditional G without an evaluator (the ring) draws every class equally often too
            scores, conditional = scorer(generate(g, config, n, seed=seed, device=device)), None
        floor = scorer.real_floor(n, seed)
        result = {
            "run_dir": str(path),
            "which": which,
            "n": n,
            "n_real_floor": scorer.floor_size(n),
            "seed": seed,
            "dataset": config.data.dataset,
            "evaluator_sha256": scorer.evaluator_sha,
            "metrics": scores,
            "real_floor": floor,
            "higher_is_better": {name: scorer.higher_is_better[name] for name in scores},
            **({"conditional": conditional} if conditional is not None else {}),
            "seconds": round(time.perf_counter() - started, 2),
            "created": utc_now(),
            "versions": versions(),
        }
        try:
            atomic_write_json(self.eval_path(which), result)
        except OSError as err:
            raise GanlabError(f"cannot write {self.eval_path(which)}: {err.strerror or err}") from None
        return result


def resolve_config(config: RunConfig | str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """A RunConfig from a RunConfig, a preset name, or a YAML file's path, with dotted overrides."""
    if isinstance(config, RunConfig):
        return config_with_overrides(config, list(overrides)) if overrides else config
    if isinstance(config, Path) or str(config).endswith((".yaml", ".yml")):
        return load_config_file(Path(config), list(overrides))
    return load_preset(str(config), list(overrides))


def default_out(config: RunConfig) -> Path:
    """runs/<name>-<timestamp>."""
    return Path("runs") / f"{config.name}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def train(
    config: RunConfig | str | Path = "fc",
    out: Path | str | None = None,
    *,
    overrides: Sequence[str] = (),
    data_dir: Path | None = None,
    device: str | torch.device | None = None,
    progress: str = "auto",
    hooks: Sequence[Hook] = (),
) -> Run:
    """Train a new run from a RunConfig, a preset name or a config file (with dotted overrides)
    into `out` (default `runs/<name>-<timestamp>`); loss and metric plots are drawn as it goes,
    and `hooks` follow it epoch by epoch (`ganlab.train.hooks.Hook`)."""
    config = resolve_config(config, overrides)
    out = Path(out) if out is not None else default_out(config)
    return _train(config, out, False, data_dir, device, progress, hooks=hooks)


def resume(
    path: Path | str,
    *,
    data_dir: Path | None = None,
    device: str | torch.device | None = None,
    progress: str = "auto",
    rewrite: bool = False,
    config_change: bool = False,
    hooks: Sequence[Hook] = (),
) -> Run:
    """Continue an interrupted run from its last checkpoint, exactly as if it had never stopped.

    Refused (RecordError) when that would train again epochs whose records exist past the last
    checkpoint (`rewrite=True` accepts it) or go on with a config.yaml edited since the
    checkpoint (`config_change=True` accepts it, and run.json records the change).
    """
    return _train(None, Path(path), True, data_dir, device, progress, rewrite, config_change, hooks)


def _train(
    config: RunConfig | None, out: Path, resume: bool, data_dir: Path | None, device: Any, progress: str,
    rewrite: bool = False, config_change: bool = False, hooks: Sequence[Hook] = (),
) -> Run:  # fmt: skip
    torch_device = torch.device(device) if device is not None else None
    plots = PlotWriter(RunDir(out), config or RunDir(out).read_config())
    train_loop(
        config, out, resume=resume, data_dir=data_dir, progress=progress, device=torch_device, hooks=[plots, *hooks],
        rewrite=rewrite, config_change=config_change,
    )  # fmt: skip
    return Run(out)


def load_run(path: Path | str) -> Run:
    """The run in directory `path`."""
    run = RunDir(Path(path))
    if not run.exists():
        raise GanlabError(f"{path}: not a ganlab run directory (no run.json)")
    return Run(run.path)


def evaluate(run: Run | Path | str, **options: Any) -> dict[str, Any]:
    """`Run.evaluate` of a run or its directory; `options` are that method's."""
    return (run if isinstance(run, Run) else Run(Path(run))).evaluate(**options)


def real_floor(
    n: int = 10000,
    dataset: str = "mnist",
    data_dir: Path | None = None,
    device: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, float]:
    """The real-data floor of a dataset's scorer: n real samples scored as a model's would be;
    `progress` as `Run.evaluate`'s."""
    scorer = build_scorer(dataset_spec(dataset).scorer, None, data_dir, device or str(default_device()))
    return _with_progress(scorer, progress).real_floor(n)


def _with_progress(scorer: Any, progress: Callable[[str, int, int], None] | None) -> Any:
    """The scorer, its metric suite (the MNIST scorer's; the ring's has no reference arrays)
    reporting to `progress`."""
    if progress is not None and hasattr(scorer, "suite"):
        scorer.suite.progress = progress
    return scorer
