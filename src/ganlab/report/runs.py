"""Run directories read back for the report: `RunView` and `load_run`.

Everything comes from the files a run leaves (config.yaml, run.json, metrics.jsonl, eval.json,
samples/, log.txt), so a report can be built at any time, also while the run trains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable

from ganlab.errors import GanlabError
from ganlab.files import read_json
from ganlab.report.gif import sample_pictures
from ganlab.rundir import RecordError, RunDir, milestone_info, read_records

LOG_TAIL_LINES = 40


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of a log file; "" when it cannot be read."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class RunView:
    """What the report shows of one run directory."""

    name: str
    seed: int | None
    path: Path
    state: str  # done, running, failed, stale, incomplete, pending, damaged (or a run.json status)
    detail: str
    epochs_done: int
    epochs: int | None
    info: dict[str, Any]
    evaluation: dict[str, Any] | None
    records: list[dict[str, Any]]
    samples: dict[int, Path]
    log_tail: str
    description: str = ""
    config_text: str = ""
    gif: str | None = None  # data URI
    dataset: str | None = None  # config.yaml's data.dataset: which metric the trend follows

    @property
    def label(self) -> str:
        return self.name if self.seed is None else f"{self.name} seed-{self.seed}"

    @property
    def scores(self) -> dict[str, float]:
        return dict((self.evaluation or {}).get("metrics") or {})

    @property
    def higher_is_better(self) -> dict[str, bool | None]:
        return dict((self.evaluation or {}).get("higher_is_better") or {})

    @property
    def seconds_per_epoch(self) -> float | None:
        seconds = self.info.get("seconds_per_epoch") or []
        return sum(seconds) / len(seconds) if seconds else None

    def eval_records(self) -> list[dict[str, Any]]:
        """The evaluations during training (metrics.jsonl `eval` records)."""
        return [r for r in self.records if r.get("kind") == "eval"]

    @cached_property
    def trend(self) -> dict[str, Any] | None:
        """Under-trained or bad? run.json's trend, else that of the evaluations so far (a run
        still training, or from before trends); None without a config to say the metric."""
        if isinstance(self.info.get("trend"), dict):
            return self.info["trend"]
        if self.dataset is None or not self.records:
            return None
        from ganlab.data.registry import dataset_spec
        from ganlab.metrics.trend import run_trend

        return run_trend(self.records, dataset_spec(self.dataset).best_by).to_json()

    @property
    def health(self) -> str | None:
        """What the monitors said at the end (run.json `health`); None for a run without them."""
        return self.info.get("health")

    @property
    def health_worst(self) -> str | None:
        """The most severe status any monitor event had during the run."""
        return self.info.get("health_worst")

    @property
    def events(self) -> list[dict[str, Any]]:
        """The monitor events of run.json, in order."""
        return [e for e in self.info.get("events") or [] if isinstance(e, dict)]


def load_run(
    path: Path, name: str | None = None, seed: int | None = None, state: str | None = None, detail: str = "",
    epochs: int | None = None, milestone: int | None = None,
) -> RunView:  # fmt: skip
    """A RunView of a run directory; the state defaults to what run.json and eval.json say. With
    `milestone`, the run as it stood after that epoch, scored on the weights kept there (a
    study's shorter config nested in this run): its records, pictures and run.json up to it."""
    damage, info, config, records = _read_records(path)
    evaluation = read_json(RunDir(path).eval_path("final" if milestone is None else f"epoch-{milestone}"))
    samples = sample_pictures(path / "samples")
    if milestone is not None:
        info = milestone_info(info, milestone) if info else info
        records = [r for r in records if r["epoch"] <= milestone]
        samples = {epoch: picture for epoch, picture in samples.items() if epoch <= milestone}
    config_text = ""
    description = ""
    if config is not None:
        config_text = (path / "config.yaml").read_text()
        description = config.description
        epochs = config.train.epochs if epochs is None else epochs
    description = true_length(description, epochs)
    if damage:
        state, detail = "damaged", "; ".join(damage)
    elif state is None:
        status = info.get("status", "missing")
        if status == "complete":
            state = "done" if evaluation is not None else "not scored"
        else:
            state = str(status)
        detail = detail or str(info.get("error", ""))
    return RunView(
        name=name or str(info.get("name") or path.name),
        seed=seed,
        path=path,
        state=state,
        detail=detail,
        epochs_done=int(info.get("epochs_done", 0) or 0),
        epochs=epochs,
        info=info,
        evaluation=evaluation,
        records=records,
        samples=samples,
        log_tail=log_tail(path / "log.txt") if state != "done" else "",
        description=description,
        config_text=config_text,
        dataset=config.data.dataset if config is not None else None,
    )


def _read_records(path: Path) -> tuple[list[str], dict[str, Any], Any, list[dict[str, Any]]]:
    """What a run's records hold, read as training reads them, and what is damaged in them (one
    line per file), so that a report shows damage instead of an ordinary-looking run."""
    run = RunDir(path)
    damage: list[str] = []
    info: dict[str, Any] = {}
    config = None
    records: list[dict[str, Any]] = []
    if run.info_path.exists() or run.config_path.exists():
        try:
            info = run.read_info()
        except RecordError as err:
            damage.append(str(err))
        try:
            config = run.read_config()
        except GanlabError as err:
            damage.append(str(err))
    try:
        records = read_records(path / "metrics.jsonl")[0]
    except RecordError as err:
        damage.append(str(err))
    return damage, info, config, records


def true_length(description: str, epochs: int | None) -> str:
    """The preset's description, with the run's own length beside a length it no longer has
    ("... 30 epochs" of a run overridden to 2)."""
    said = re.findall(r"\b(\d+) epochs\b", description)
    if epochs is None or not said or all(int(n) == epochs for n in said):
        return description
    return f"{description} (the preset's description; this run: {epochs} epochs)"


def eval_keys(runs: Iterable[RunView]) -> list[str]:
    """The metric names of the runs' evaluations during training, in order of first appearance."""
    keys: list[str] = []
    for run in runs:
        for record in run.eval_records():
            for key, value in record.items():
                if key not in ("kind", "epoch", "step", "x") and isinstance(value, (int, float)) and key not in keys:
                    keys.append(key)
    return keys
