"""Sample pictures, drawn by training (every epoch) and reports alike: image grids and 2-D scatter plots."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ganlab.files import atomic_write_bytes


def image_grid(images: torch.Tensor, nrow: int = 8, upscale: int = 2, pad: int = 2) -> Image.Image:
    """A grid of images, float (N, C, H, W) in [0, 1] with C in {1, 3}, as one PIL image."""
    n, c, h, w = images.shape
    ncol = nrow
    nrows = math.ceil(n / ncol)
    x = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    canvas = np.full((nrows * (h + pad) + pad, ncol * (w + pad) + pad, c), 40, dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, ncol)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        canvas[top : top + h, left : left + w] = x[i].transpose(1, 2, 0)
    img = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    return img.resize((img.width * upscale, img.height * upscale), Image.NEAREST) if upscale > 1 else img


def save_png(path: Path, img: Image.Image) -> None:
    """Write a PNG atomically."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    atomic_write_bytes(path, buf.getvalue())


def scatter_2d(points: torch.Tensor, reference: torch.Tensor | None = None, title: str = "") -> Image.Image:
    """Generated 2-D points (N, 2) over the reference points, as a PIL image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4), dpi=80)
    if reference is not None:
        r = reference.detach().cpu().numpy()
        ax.scatter(r[:, 0], r[:, 1], s=4, c="#bbbbbb", label="data")
    p = points.detach().cpu().numpy()
    ax.scatter(p[:, 0], p[:, 1], s=4, c="#d62728", alpha=0.6, label="generated")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")
