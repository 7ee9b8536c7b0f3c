"""How the training step runs on its device: numeric precision, compilation, backend flags.

`auto` (the default) picks per device what was measured to pay there:

- CPU: fp32 and eager. This CPU has no native bf16 (a bf16 step is ~14x slower) and
  `torch.compile` did not speed up the FC step (README, Performance).
- CUDA: TF32 matmuls and cuDNN autotuning, bf16 autocast for the forward passes (weights and
  optimizer state stay fp32, so no loss scaling is needed), and `torch.compile` with
  `reduce-overhead`, which replays each network's kernels as a CUDA graph: a GAN step at batch
  128 is ~100 tiny kernels, and launching them one by one costs more than running them.

The CUDA choices are written for GPUs but were not measured on one (no GPU was lent to this
project yet); every choice can be set explicitly (`train.precision`, `train.compile`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from ganlab.config import TrainConfig

Precision = Literal["fp32", "bf16"]
CompileMode = Literal["eager", "default", "reduce-overhead", "max-autotune"]


def default_device() -> torch.device:
    """CUDA when a GPU is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class Engine:
    """The resolved choices for one device (no `auto` left)."""

    device: torch.device
    precision: Precision
    compile: CompileMode

    @classmethod
    def for_run(cls, config: TrainConfig, device: torch.device) -> "Engine":
        """Resolve the config's `auto` settings for `device`."""
        cuda = device.type == "cuda"
        precision = config.precision if config.precision != "auto" else ("bf16" if cuda else "fp32")
        mode = config.compile if config.compile != "auto" else ("reduce-overhead" if cuda else "eager")
        return cls(device, precision, mode)

    def autocast(self) -> AbstractContextManager:
        """The context for forward passes: bf16 autocast, or nothing for fp32."""
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def configure_backends(self) -> None:
        """Process-wide flags that suit training on this device (none on CPU)."""
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True  # fixed shapes: autotune each conv once

    def compiled(self, network: nn.Module) -> Callable[..., torch.Tensor]:
        """The network as the training step calls it: compiled when a mode is set. It shares the
        module's parameters; sampling, evaluation and checkpoints use the plain module, so that
        CUDA graph replays (which reuse their output buffers) stay inside the step."""
        return network if self.compile == "eager" else torch.compile(network, mode=self.compile)

    def begin_step(self) -> None:
        """Mark a new training step for CUDA graphs: the previous step's outputs may be reused."""
        if self.compile == "reduce-overhead":
            torch.compiler.cudagraph_mark_step_begin()

    def describe(self) -> dict[str, str]:
        """What run.json records about how the run was computed."""
        return {"device": str(self.device), "precision": self.precision, "compile": self.compile}
