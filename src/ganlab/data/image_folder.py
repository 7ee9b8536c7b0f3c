"""Your own images: a dataset from a folder of PNG or JPEG files (`data.dataset: folder`).

Two layouts: image files in the folder itself (unlabelled), or one subfolder per class holding
them (labelled; classes are the subfolders' names, sorted, numbered from 0). Each image is
turned upright (EXIF), converted to grey or RGB (`data.channels`) and resized to `data.size`
square. A file that cannot be used (not PNG or JPEG, unreadable, not square, or out of place)
is a DataError naming it, or, with `data.skip_bad`, skipped and counted. The result is cached
as tensors (`ganlab.data.tensor_cache`) keyed by the folder's listing (names, sizes, mtimes)
and the target shape, so a changed folder is read again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from rich.console import Console
from rich.markup import escape

from ganlab.config import ConfigError, DataConfig, RunConfig
from ganlab.data.sources import DataError, cache_dir
from ganlab.data.spec import DatasetSpec, Split
from ganlab.data.tensor_cache import cached_tensors

SUFFIXES = (".png", ".jpg", ".jpeg")
FORMATS = ("PNG", "JPEG")  # what Pillow must find inside, whatever the name says
# The DataConfig keys only this dataset reads: the others refuse a config that sets them.
FOLDER_KEYS = ("folder", "channels", "size", "skip_bad")
CACHE_VERSION = 1  # part of every cache key: bump it when the decoding changes
SHOWN = 5  # bad files named in a message; the rest are counted


@dataclass(frozen=True)
class FolderImages:
    """A folder's images as tensors, and what was left out."""

    images: torch.Tensor  # uint8 (N, C, size, size), pixels 0..255
    labels: torch.Tensor  # int64 (N,): the class's index in `classes`; 0 when unlabelled
    classes: tuple[str, ...]  # the class subfolders, sorted; () when unlabelled
    skipped: tuple[tuple[str, str], ...]  # (file relative to the folder, why), with data.skip_bad
    cached: bool  # read from the cache rather than from the images


def folder_of(data: DataConfig) -> Path:
    """`data.folder`, which must be an existing, non-empty folder: ConfigError or DataError."""
    if data.folder is None:
        raise ConfigError("data.folder: the folder dataset needs a folder of images (--set data.folder=DIR)")
    folder = data.folder
    if not folder.exists():
        raise DataError(f"data.folder: {folder} does not exist")
    if not folder.is_dir():
        raise DataError(f"data.folder: {folder} is not a folder")
    if not _visible(folder):
        raise DataError(f"data.folder: {folder} is empty; put PNG or JPEG files in it, or one subfolder per class")
    return folder


def class_names(folder: Path) -> tuple[str, ...]:
    """The class subfolders of `folder`, sorted; () for the unlabelled layout (no subfolders)."""
    return tuple(entry.name for entry in _visible(folder) if entry.is_dir())


def load_folder(data: DataConfig, progress: bool = False) -> FolderImages:
    """The images of `data.folder`, from the cache when the folder is unchanged since it was
    cached; with `progress`, a line on stderr says where they came from and what was skipped.

    Raises:
        ConfigError: no `data.folder`.
        DataError: the folder is missing or empty, a class subfolder holds no files, a file is
            bad (without `data.skip_bad`; naming it and why), no file is usable, or the cache
            file is damaged.
    """
    folder = folder_of(data)
    classes = class_names(folder)
    files = _files(folder, classes)
    shape = (data.channels, data.size, data.size)
    listing = [(str(path.relative_to(folder)), *_stat(path)) for path, _ in files]
    key = json.dumps({"version": CACHE_VERSION, "shape": shape, "skip_bad": data.skip_bad, "files": listing})
    name = hashlib.sha256(json.dumps([str(folder), shape, data.skip_bad]).encode()).hexdigest()[:32]
    path = cache_dir() / "folders" / f"{name}.safetensors"
    cached = cached_tensors(path, hashlib.sha256(key.encode()).hexdigest(), lambda: _build(folder, files, data))
    skipped = tuple((file, why) for file, why in cached.notes["skipped"])
    result = FolderImages(cached.tensors["images"], cached.tensors["labels"], classes, skipped, not cached.built)
    if progress:
        _report(folder, result, path)
    return result


def _visible(folder: Path) -> list[os.DirEntry]:
    # Hidden entries (.DS_Store, .ipynb_checkpoints) are the system's or the tools', not the user's.
    try:
        with os.scandir(folder) as entries:
            return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as error:
        raise DataError(f"data.folder: cannot list {folder} ({error.strerror})") from None


def _files(folder: Path, classes: tuple[str, ...]) -> list[tuple[Path, int]]:
    """Every entry that should be an image, with its class: the folder's own files, or each
    class subfolder's entries (a file left beside the class folders is class -1: bad)."""
    if not classes:
        return [(Path(e.path), 0) for e in _visible(folder)]
    files = [(Path(e.path), -1) for e in _visible(folder) if not e.is_dir()]
    for index, name in enumerate(classes):
        inside = _visible(folder / name)
        if not inside:
            raise DataError(f"data.folder: the class folder {folder / name} is empty (every class needs images)")
        files += [(Path(e.path), index) for e in inside]
    return files


def _stat(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:  # a dangling link: reading it names it as unreadable
        return -1, -1
    return stat.st_size, stat.st_mtime_ns


def _build(folder: Path, files: list[tuple[Path, int]], data: DataConfig) -> tuple[dict[str, torch.Tensor], dict]:
    """Read every file; (tensors, notes) for the cache. Bad files fail here, or are skipped."""
    images, labels, bad = [], [], []
    for path, label in files:
        pixels, why = _read(path, label, data)
        if why is not None:
            bad.append((str(path.relative_to(folder)), why))
            continue
        images.append(pixels)
        labels.append(label)
    if bad and not data.skip_bad:
        named = "; ".join(f"{folder / file}: {why}" for file, why in bad[:SHOWN])
        more = f" (and {len(bad) - SHOWN} more)" if len(bad) > SHOWN else ""
        raise DataError(
            f"{len(bad)} of {len(files)} files in {folder} cannot be used: {named}{more}. "
            "Fix or remove them, or set data.skip_bad=true to skip them"
        )
    if not images:
        raise DataError(f"data.folder: none of the {len(files)} files in {folder} is a usable PNG or JPEG image")
    tensors = {"images": torch.from_numpy(np.stack(images)), "labels": torch.tensor(labels, dtype=torch.int64)}
    return tensors, {"skipped": bad}


def _read(path: Path, label: int, data: DataConfig) -> tuple[np.ndarray | None, str | None]:
    """(uint8 pixels (C, size, size), None), or (None, why the file cannot be used)."""
    if label < 0:
        return None, "a file beside the class folders: put it in one, or remove it"
    if path.is_dir():
        return None, "a folder where images were expected (class folders hold files only)"
    if path.suffix.lower() not in SUFFIXES:
        return None, f"not an image by its name (expected {', '.join(SUFFIXES)})"
    try:
        with Image.open(path) as opened:
            if opened.format not in FORMATS:
                return None, f"holds {opened.format or 'an unknown format'}, not PNG or JPEG"
            image = ImageOps.exif_transpose(opened)  # photos are often stored sideways
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return None, f"unreadable ({error})"
    if image.width != image.height:
        return None, f"{image.width}x{image.height}, not square (crop it to a square first)"
    image = image.convert("L" if data.channels == 1 else "RGB")
    if image.size != (data.size, data.size):
        image = image.resize((data.size, data.size), Image.Resampling.LANCZOS)
    pixels = np.asarray(image, dtype=np.uint8)
    return (pixels[None] if data.channels == 1 else pixels.transpose(2, 0, 1)), None


def _report(folder: Path, found: FolderImages, path: Path) -> None:
    console = Console(stderr=True)
    classes = f"{len(found.classes)} classes" if found.classes else "unlabelled"
    where = f"from the cache {path}" if found.cached else f"read and cached in {path}"
    console.print(f"image folder {escape(str(folder))}: {len(found.images)} images ({classes}), {escape(where)}", highlight=False)
    if found.skipped:
        named = "; ".join(f"{file} ({why})" for file, why in found.skipped[:SHOWN])
        more = f" and {len(found.skipped) - SHOWN} more" if len(found.skipped) > SHOWN else ""
        console.print(
            f"[yellow]warning:[/yellow] skipped {len(found.skipped)} bad files (data.skip_bad): {escape(named)}{more}",
            highlight=False, soft_wrap=True,
        )  # fmt: skip


def _load(config: RunConfig, split: Split, data_dir: Path | None, device: torch.device, progress: bool):
    """The whole folder, for either split: a folder of images has no test split of its own."""
    found = load_folder(config.data, progress)
    return found.images.to(device), found.labels.to(device)


def _configure(data: DataConfig) -> DatasetSpec:
    """The spec for this folder: data.channels x data.size x data.size, one class per subfolder."""
    return replace(IMAGE_FOLDER, shape=(data.channels, data.size, data.size), num_classes=len(class_names(folder_of(data))))


IMAGE_FOLDER = DatasetSpec(
    name="folder", shape=(1, 28, 28), num_classes=0, load=_load, display="grid", scorer="none",
    best_by=("none", False), configure=_configure,
)  # fmt: skip
