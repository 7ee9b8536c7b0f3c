"""The public Python API (`train`, `resume`, `load_run`, `evaluate`, `real_floor`, `Run.sample`,
`Run.evaluate`), and the study worker that runs on it."""

from ganlab.api.run import Run, evaluate, load_run, real_floor, resume, train

__all__ = ["Run", "evaluate", "load_run", "real_floor", "resume", "train"]
