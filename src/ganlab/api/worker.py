"""One run of a study, in its own process: train (or resume) it, then score it into eval.json.

The study runner starts `python -m ganlab.api.worker RUN_DIR --preset P --set ...` once per run
with stdout and stderr going to RUN_DIR/log.txt, so that a crash ends this process only. It does
what these commands would do, without paying the interpreter start-up for each:

    ganlab train --preset P --set ... --out RUN_DIR      (or --resume RUN_DIR if it was cut short)
    ganlab eval RUN_DIR --which epoch-K --n N            (each epoch K of train.keep_weights_at, once kept)
    ganlab eval RUN_DIR --n N

Exit codes: 0 done, 2 a user error (printed as `error: ...`), 1 anything else (with traceback).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ganlab.rundir import RunDir
    from ganlab.train.hooks import EpochResult


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ganlab.api.worker", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, nargs="?")
    parser.add_argument("--floor", type=Path, default=None, metavar="STUDY_DIR",
                        help="instead of a run: write STUDY_DIR/floor.json and warm the metric caches")  # fmt: skip
    parser.add_argument("--preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--eval-n", type=int, default=10000)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--device", default=None)
    return parser


def run(args: argparse.Namespace) -> None:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from ganlab.api.run import evaluate, resume, train
    from ganlab.config import load_preset
    from ganlab.rundir import RunDir
    from ganlab.train.engine import default_device

    device = torch.device(args.device) if args.device else default_device()
    run_dir = RunDir(args.run_dir)
    command = ["ganlab", "train", "--preset", args.preset, *(x for o in args.overrides for x in ("--set", o))]
    if not run_dir.exists():
        print("train: " + shlex.join([*command, "--out", str(args.run_dir)]), flush=True)
        train(
            load_preset(args.preset, args.overrides), args.run_dir, data_dir=args.data_dir, progress="plain",
            device=device, hooks=[MilestoneScorer(args, run_dir, str(device))],
        )  # fmt: skip
    elif run_dir.read_info().get("status") != "complete":
        score_milestones(args, run_dir, str(device))  # those kept before a kill: scored now, not after the rest
        print(f"resume: ganlab train --resume {shlex.quote(str(args.run_dir))}", flush=True)
        hooks = [MilestoneScorer(args, run_dir, str(device))]
        resume(args.run_dir, data_dir=args.data_dir, progress="plain", device=device, hooks=hooks)
    else:
        print("training already complete", flush=True)
    score_milestones(args, run_dir, str(device))
    print(f"eval: ganlab eval {shlex.quote(str(args.run_dir))} --n {args.eval_n}", flush=True)
    result = evaluate(args.run_dir, n=args.eval_n, data_dir=args.data_dir, device=str(device))
    print("  ".join(f"{k} {v:.4g}" for k, v in result["metrics"].items()), flush=True)


class MilestoneScorer:
    """Scores each kept milestone while the run goes on, so `study status` and the verdicts show
    the shorter configs of a long nested run hours before it ends. A hook runs before its epoch's
    weights are kept, so milestone N is scored at the end of epoch N + 1 (or after the run)."""

    def __init__(self, args: argparse.Namespace, run_dir: RunDir, device: str) -> None:
        self.args, self.run_dir, self.device = args, run_dir, device

    def on_epoch(self, result: EpochResult) -> None:
        import torch

        # Scoring draws no training randomness, but a forked RNG guarantees the run is the
        # same bit for bit as one never scored along the way.
        with torch.random.fork_rng(devices=[torch.device(self.device)] if self.device.startswith("cuda") else []):
            score_milestones(self.args, self.run_dir, self.device)

    def close(self) -> None:
        pass


def score_milestones(args: argparse.Namespace, run_dir: RunDir, device: str) -> None:
    """Score the weights kept at each `train.keep_weights_at` epoch (a shorter config of the study
    nested in this run) into eval-epoch-NNN.json, each once: those already scored are left."""
    from ganlab.api.run import evaluate

    for epoch in run_dir.read_config().train.keep_weights_at:
        which = f"epoch-{epoch}"
        if not run_dir.milestone_weights(epoch).is_file() or run_dir.eval_path(which).is_file():
            continue
        print(f"eval: ganlab eval {shlex.quote(str(args.run_dir))} --which {which} --n {args.eval_n}", flush=True)
        result = evaluate(args.run_dir, n=args.eval_n, which=which, data_dir=args.data_dir, device=device)
        print("  ".join(f"{k} {v:.4g}" for k, v in result["metrics"].items()), flush=True)


def floor(args: argparse.Namespace) -> None:
    """The MNIST real-data floor into STUDY_DIR/floor.json, once per study, before the runs start.

    Computing it also fills the on-disk cache of every reference array that scoring a model
    needs, so the runs' evaluations, started in parallel next, read them instead of all
    computing the same arrays at once.
    """
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from ganlab.files import atomic_write_json, read_json
    from ganlab.metrics.suite import ALL_METRICS, MetricSuite

    device = args.device or "cpu"
    suite = MetricSuite(data_dir=args.data_dir, device=device)
    print(f"real-data floor: {args.eval_n} MNIST training images against the test set", flush=True)
    values = suite.real_floor(args.eval_n)
    suite(torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(0)))  # warms the model-side references
    target = args.floor / "floor.json"
    floors = read_json(target) or {}
    floors["mnist"] = {
        "n": args.eval_n, "metrics": values, "higher_is_better": {k: ALL_METRICS[k] for k in values},
        "evaluator_sha256": suite.evaluator_sha, "source": "MetricSuite.real_floor",
    }  # fmt: skip
    atomic_write_json(target, floors)
    print("  ".join(f"{k} {v:.4g}" for k, v in values.items()), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.floor is None) == (args.run_dir is None) or (args.run_dir is not None and not args.preset):
        parser.error("give RUN_DIR with --preset, or --floor STUDY_DIR")
    from ganlab.errors import GanlabError

    try:
        if args.floor is not None:
            floor(args)
        else:
            run(args)
    except GanlabError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
