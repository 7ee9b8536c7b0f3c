"""Online failure diagnosis: say, while a run trains, what is going wrong and since when.

The study saw both losses drop and then swing while the generator drew garbage, and noted that
losses alone cannot show sample quality. So the monitors watch three inputs, each at its own
cadence (all numbers are fields of the config's `monitor:` section, `MonitorConfig`):

    every `every` steps          the window's per-step statistics and the norm of all weights:
                                 divergence, d-wins, oscillation (`steps`)
    every `sample_every` steps   a batch drawn from fixed noise by the `SampleProbe`: collapse
                                 (`samples`)
    at each evaluation           regression, memorisation (`evaluations`)

Collapse and oscillation give no verdict during the first `warmup_steps` (1000): an untrained
generator draws one blob, and early losses swing as the two nets find each other.

What fires is an episode with a run status (`events`: the statuses, their order, and what
run.json holds); `Monitors` (`aggregate`) feeds the detectors, keeps their history for the
checkpoint, and decides the action the run owes. Each detector is a pure function over arrays.
"""

from ganlab.train.monitors.aggregate import Monitors
from ganlab.train.monitors.events import HEALTH_ORDER, STATUS, Event, Signal, health
from ganlab.train.monitors.samples import SampleProbe, SampleStats

__all__ = ["HEALTH_ORDER", "STATUS", "Event", "Monitors", "SampleProbe", "SampleStats", "Signal", "health"]
