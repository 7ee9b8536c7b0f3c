"""Studies: many configs times several seeds, run as one command, compared with measured verdicts.

spec.py (study specs and the study directory's record), tasks.py (one run per config and seed,
and its state read back from its directory), launch.py (each run in a `python -m
ganlab.api.worker` process, from a thread pool or Ray), runner.py (a whole study: resuming, the
real-data floor), stats.py (Welch's t-test, CIs, Hedges' g), synthetic.py (made-up study
directories for tests). The commands (`ganlab study`, `ganlab report`) are in `ganlab.cli.study`;
the HTML report of a study is in `ganlab.report`.
"""
