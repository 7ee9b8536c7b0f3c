"""Transitional (issue 11): the names that moved to `ganlab.data.mnist`, `.ring` and `.scaling`.

Other layers still import them from here; once they import from the package `ganlab.data` (or
from those modules), this module goes.
"""

from ganlab.data.mnist import ImageDataset, load_mnist
from ganlab.data.ring import RING_MODES, RING_RADIUS, RING_STD, RingModeStats, ring_centers, ring_mode_stats
from ganlab.data.ring import sample_ring, sample_ring_labelled
from ganlab.data.scaling import Scaling, scale, unscale
from ganlab.data.spec import Split

__all__ = ["ImageDataset", "load_mnist", "RING_MODES", "RING_RADIUS", "RING_STD", "RingModeStats", "ring_centers"]
__all__ += ["ring_mode_stats", "sample_ring", "sample_ring_labelled", "Scaling", "scale", "unscale", "Split"]
