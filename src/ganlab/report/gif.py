"""An animated GIF of a run's fixed-noise samples across epochs (`samples/epoch_XXX.png`)."""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

from PIL import Image, ImageDraw

SAMPLE_NAME = re.compile(r"^epoch_(\d+)\.png$")


def sample_pictures(samples_dir: Path) -> dict[int, Path]:
    """epoch -> picture of the run's fixed-noise samples after that epoch, sorted by epoch."""
    if not Path(samples_dir).is_dir():
        return {}
    found = {}
    for path in Path(samples_dir).iterdir():
        match = SAMPLE_NAME.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def pick_frames(epochs: list[int], max_frames: int) -> list[int]:
    """At most max_frames epochs, evenly spread, always with the first and the last."""
    if len(epochs) <= max_frames:
        return list(epochs)
    if max_frames <= 1:
        return epochs[-1:]
    step = (len(epochs) - 1) / (max_frames - 1)
    return sorted({epochs[round(i * step)] for i in range(max_frames)})


def _frame(path: Path, epoch: int, max_side: int, crop: bool) -> Image.Image:
    image = Image.open(path)
    image.load()
    image = image.convert("L") if image.mode in ("L", "LA", "I", "I;16") else image.convert("RGB")
    if crop and image.mode == "L":  # an image grid: its top-left quarter (16 of 64 digits)
        image = image.crop((0, 0, image.width // 2, image.height // 2))
    factor = math.ceil(max(image.size) / max_side)
    if factor > 1:  # grids are upscaled by an integer with NEAREST, so reduce() undoes it exactly
        image = image.reduce(factor)
    strip = 14
    canvas = Image.new(image.mode, (image.width, image.height + strip), 0 if image.mode == "L" else (255, 255, 255))
    canvas.paste(image, (0, strip))
    ImageDraw.Draw(canvas).text((3, 1), f"epoch {epoch}", fill=255 if image.mode == "L" else (0, 0, 0))
    return canvas


def samples_gif(
    samples_dir: Path, max_frames: int = 24, frame_ms: int = 250, max_side: int = 360, crop: bool = False,
    until: int | None = None,
) -> bytes | None:  # fmt: skip
    """GIF bytes of the run's sample pictures (at most max_frames, each labelled with its epoch,
    reduced by an integer factor to at most max_side pixels), looping, the last frame held
    longer; None when the run has no sample pictures. `crop` keeps the top-left quarter of
    image grids (16 of 64 digits), for pages that show many runs; `until` leaves out the
    epochs after it (a milestone of a longer run)."""
    pictures = {e: p for e, p in sample_pictures(samples_dir).items() if until is None or e <= until}
    if not pictures:
        return None
    epochs = pick_frames(list(pictures), max_frames)
    frames = [_frame(pictures[e], e, max_side, crop) for e in epochs]
    if frames[0].mode == "RGB":
        frames = [f.quantize(colors=64, method=Image.Quantize.MEDIANCUT) for f in frames]
    durations = [frame_ms] * (len(frames) - 1) + [max(frame_ms, 1500)]
    buffer = io.BytesIO()
    frames[0].save(
        buffer, format="GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, disposal=1
    )
    return buffer.getvalue()

