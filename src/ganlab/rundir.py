"""One run, one directory: the resolved config, `run.json`, `metrics.jsonl`, samples, plots, weights."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlab.config import RunConfig, load_config_file, to_yaml
from ganlab.errors import GanlabError
from ganlab.files import atomic_write_json, atomic_write_text, read_json_lines, utc_now


LOCK = ".lock"


class RunLockedError(GanlabError):
    """Another process is writing this run directory."""


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that change results."""
    import numpy
    import torch

    from ganlab.version import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "ganlab": __version__,
    }


@dataclass(frozen=True)
class RunDir:
    """Paths and records of one run directory."""

    path: Path

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def info_path(self) -> Path:
        return self.path / "run.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.safetensors"

    @property
    def best_checkpoint(self) -> Path:
        return self.path / "checkpoints" / "best.safetensors"

    def weights(self, which: str = "final") -> Path:
        """The generator and discriminator weights saved at the end (`final`) or kept as `which`."""
        return self.path / "weights" / f"{which}.safetensors"

    def exists(self) -> bool:
        """Whether a run was created here (it has a run.json)."""
        return self.info_path.is_file()

    @contextmanager
    def lock(self, purpose: str) -> Iterator[None]:
        """Be this run directory's only writer while the block runs: an advisory lock on
        RUN/.lock (`flock`), which the kernel releases when its process dies, however it dies.
        A second writer gets RunLockedError naming the holder's pid, host and purpose."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise GanlabError(f"cannot write to the run directory {self.path}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode(errors="replace")
            os.close(fd)
            try:
                who = json.loads(holder)
                holder = f"pid {who['pid']} on {who['host']} ({who['purpose']})"
            except (ValueError, KeyError, TypeError):
                holder = "another process"
            raise RunLockedError(f"{self.path} is in use by {holder}; wait for it to end, or stop it") from None
        try:
            record = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "purpose": purpose})
            os.ftruncate(fd, 0)
            os.pwrite(fd, record.encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    # run.json ---------------------------------------------------------------------------------
    def read_info(self) -> dict[str, Any]:
        """run.json; a clear error when it is missing or damaged."""
        try:
            return json.loads(self.info_path.read_text())
        except FileNotFoundError:
            raise GanlabError(f"{self.path} is not a run directory (no run.json)") from None
        except json.JSONDecodeError as err:
            raise GanlabError(f"{self.info_path}: damaged JSON ({err})") from None

    def write_info(self, info: dict[str, Any]) -> None:
        """Replace run.json atomically."""
        atomic_write_json(self.info_path, info)

    def update_info(self, **fields: Any) -> dict[str, Any]:
        """Set `fields` in run.json; returns the updated record."""
        info = self.read_info()
        info.update(fields)
        self.write_info(info)
        return info

    # config -----------------------------------------------------------------------------------
    def read_config(self) -> RunConfig:
        """The run's resolved config (config.yaml)."""
        if not self.config_path.is_file():
            raise GanlabError(f"{self.path} is not a run directory (no config.yaml)")
        return load_config_file(self.config_path)

    def create(self, config: RunConfig) -> None:
        """Lay out a new run directory; refuses one that already holds a run, and a folder that
        holds anything else (its files are never overwritten)."""
        if self.exists():
            status = self.read_info().get("status", "unknown")
            raise GanlabError(
                f"{self.path} already holds a run (status: {status}); "
                "use --resume to continue it or --out to choose another directory"
            )
        others = sorted(p.name for p in self.path.iterdir() if p.name != LOCK) if self.path.is_dir() else []
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise GanlabError(f"{self.path} is not empty ({shown}) and not a ganlab run: choose another --out")
        try:
            for sub in ("samples", "plots", "checkpoints", "weights"):
                (self.path / sub).mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.config_path, to_yaml(config))
        except OSError as err:
            raise GanlabError(f"cannot create the run directory {self.path}: {err.strerror or err}") from None
        self.write_info(
            {
                "name": config.name,
                "status": "created",
                "created": utc_now(),
                "host": socket.gethostname(),
                "argv": sys.argv,
                "versions": versions(),
                "epochs_done": 0,
                "steps": 0,
                "seconds_per_epoch": [],
                "events": [],
            }
        )

    # metrics.jsonl ----------------------------------------------------------------------------
    def append_metrics(self, records: list[dict[str, Any]]) -> None:
        """Append records to metrics.jsonl, one JSON object per line."""
        with self.metrics_path.open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)

    def read_metrics(self) -> list[dict[str, Any]]:
        """The records of metrics.jsonl; a line cut short by a kill is skipped (a resumed run
        writes it again)."""
        return read_json_lines(self.metrics_path)

    def truncate_metrics(self, epochs_done: int) -> None:
        """Drop records past the last checkpoint, so a resumed run does not log an epoch twice."""
        kept = [r for r in self.read_metrics() if r["epoch"] <= epochs_done]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))
