"""Studies: many configs times several seeds, run as one command, compared with measured verdicts.

spec.py (study specs and the study directory's record), runner.py (local processes or Ray),
worker.py (one run in its own process), stats.py (Welch's t-test, CIs, Hedges' g),
synthetic.py (made-up study directories for tests), commands.py (`ganlab study`, `ganlab report`).
"""
