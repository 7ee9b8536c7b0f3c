"""ganlab: train, measure and compare GANs on small image datasets.

The Python API is `ganlab.api` (`from ganlab.api import train, load_run`); the CLI is `ganlab`.
"""

import os as _os

from ganlab.version import __version__

__all__ = ["__version__"]

# OpenMP threads that spin while waiting stall badly when another process holds a core (a study's
# other workers, a shared CI machine): measured 2-thread FC epochs of 48-428 s spinning against
# 31-36 s passive under load. It must be set before torch is imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
