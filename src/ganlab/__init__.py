"""ganlab: train, measure and compare GANs on small image datasets."""

__version__ = "0.1.0"

import os as _os

# OpenMP threads that spin while waiting stall badly when another process holds a core (a study's
# other workers, a shared CI machine): measured 2-thread FC epochs of 48-428 s spinning against
# 31-36 s passive under load. It must be set before torch is imported.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
