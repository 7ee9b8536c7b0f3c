"""Result files that a kill never leaves half-written, and reads that tolerate one that was.

Every write goes to a temporary file in the target's folder, is fsync'd, then renamed over the
target: a reader sees the old file or the new one, never a part of either.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: the only way to read it is to set it


def utc_now() -> str:
    """The current UTC time, to the second, in ISO 8601 (as run.json and study markers record it)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Call `write(stream)` on a temporary file, then replace `path` with it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would create it; mkstemp's is owner-only
        with os.fdopen(fd, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    atomic_write(path, lambda stream: stream.write(data))


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON to `path` atomically."""
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def atomic_copy(source: Path, target: Path) -> None:
    """Copy `source` over `target` atomically."""
    with Path(source).open("rb") as stream:
        atomic_write(target, lambda out: shutil.copyfileobj(stream, out))


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file, or None when it is missing or damaged."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, skipping a line cut short by a kill; [] when missing."""
    records = []
    try:
        lines = Path(path).read_bytes().splitlines()
    except OSError:
        return records
    for line in lines:
        try:
            record = json.loads(line.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError included
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
