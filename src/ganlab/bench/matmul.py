"""The machine's measured fp32 matrix-multiply throughput: the ceiling a training step can reach.

A GAN step on these networks is almost all matrix products (see `flops.py`), so a step's
achieved GFLOP/s divided by this number says how close to the hardware limit it runs.
"""

from __future__ import annotations

import time

import torch

# Square products of this size keep every BLAS thread busy without leaving the caches useless;
# 1024 already runs at the plateau on a 2-core CPU, and costs 2.1 GFLOP (about 20 ms there).
DEFAULT_SIZE = 1024


def sync(device: torch.device) -> None:
    """Wait for queued device work, so that a timer read afterwards covers it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(
    size: int = DEFAULT_SIZE, repeats: int = 5, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> float:
    """Best GFLOP/s of `repeats` (size x size) @ (size x size) products, after one warm-up.

    The best, not the mean, because the question is what the hardware can do; the caller
    repeats this between other measurements and reports the spread of those bests.
    """
    device = torch.device(device)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device, dtype)
    b = torch.randn(size, size, generator=generator).to(device, dtype)
    out = torch.empty(size, size, device=device, dtype=dtype)
    torch.mm(a, b, out=out)
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9
