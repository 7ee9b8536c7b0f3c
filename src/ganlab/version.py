"""ganlab's version, and the commit of its source when it runs from a git checkout; recorded with
every run, evaluation and report, so that a number can be traced to the code that made it."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

__version__ = "0.1.0"


@functools.cache
def source_commit() -> str | None:
    """The short commit of the checkout ganlab's source is in, with "+dirty" when the package
    differs from that commit; None for an installed copy (also one in a virtual environment
    inside a checkout: its files are not tracked), or where git is missing or fails."""
    here = Path(__file__).resolve().parent
    try:
        if not _git(here, "ls-files", "--", Path(__file__).name):
            return None
        head = _git(here, "rev-parse", "--short=12", "HEAD")
        dirty = _git(here, "status", "--porcelain", "--untracked-files=no", "--", str(here))
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if dirty else head


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    return done.stdout.strip()
