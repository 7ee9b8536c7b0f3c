"""The public Python API (`ganlab.train`, `ganlab.load_run`, `Run.sample`, `Run.evaluate`), and the
study worker that runs on it."""

from ganlab.api.run import Run, evaluate, load_run, real_floor, resume, train

__all__ = ["Run", "evaluate", "load_run", "real_floor", "resume", "train"]
