"""Optional TensorBoard logging (`train.tensorboard: true`; `pip install 'ganlab[tensorboard]'`).

metrics.jsonl stays the record of a run; this mirrors it into RUN_DIR/tensorboard as it is
written: every numeric field of each record as a scalar named `<kind>/<field>` (step, epoch,
eval, monitor) at its step, the fixed-noise samples of each epoch as an image, and each monitor
event as a line of text. A resumed run purges what the killed one wrote after its checkpoint,
so no step appears twice.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganlab.errors import GanlabError
from ganlab.train.hooks import EpochResult

POSITION = ("kind", "epoch", "step", "x")


def summary_writer_class() -> type:
    """torch's SummaryWriter; a clear error when the tensorboard package is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GanlabError("train.tensorboard needs the tensorboard package: pip install 'ganlab[tensorboard]'") from None
    return SummaryWriter


class TensorBoardLog:
    """A SummaryWriter on RUN_DIR/tensorboard that starts after `resumed_step` steps."""

    def __init__(self, log_dir: Path, resumed_step: int = 0, events_before: int = 0) -> None:
        # Drops whatever a killed run wrote after its checkpoint (everything, if it had none).
        self.writer = summary_writer_class()(str(log_dir), purge_step=resumed_step + 1)
        self.events_written = events_before  # a resumed run's earlier events are in the log already

    def write(self, records: list[dict[str, Any]], picture: Image.Image, step: int, events: list[dict]) -> None:
        """One epoch's records, its sample picture (at the epoch's last step) and new events."""
        for record in records:
            for name, value in record.items():
                if name not in POSITION and isinstance(value, (int, float)) and math.isfinite(value):
                    self.writer.add_scalar(f"{record['kind']}/{name}", value, record["step"])
        self.writer.add_image("samples", np.asarray(picture.convert("RGB")), step, dataformats="HWC")
        for event in events[self.events_written :]:
            self.writer.add_text("events", f"{event['status']}: {event['message']}", event["step"])
        self.events_written = len(events)
        self.writer.flush()

    def on_epoch(self, result: EpochResult) -> None:
        """The loop's hook (`ganlab.train.hooks`): write the epoch."""
        if result.picture is not None:
            self.write(result.records, result.picture, result.step, result.events)

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()
