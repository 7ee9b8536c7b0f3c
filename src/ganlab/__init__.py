"""ganlab: train, measure and compare GANs on small image datasets.

The Python API (`ganlab.train`, `ganlab.resume`, `ganlab.load_run`, `ganlab.evaluate`,
`ganlab.real_floor`, `ganlab.Run`) lives in `ganlab.api` and is imported on first use, so that
`import ganlab` and the CLI's start stay light.
"""

import os as _os

from ganlab.version import __version__

# OpenMP threads that spin while waiting stall badly when another process holds a core (a study's
# other workers, a shared CI machine): measured 2-thread FC epochs of 48-428 s spinning against
# 31-36 s passive under load. It must be set before torch is imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_API = ("Run", "evaluate", "load_run", "real_floor", "resume", "train")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> object:
    if name in _API:
        from ganlab import api

        return getattr(api, name)
    raise AttributeError(f"module 'ganlab' has no attribute {name!r}")
