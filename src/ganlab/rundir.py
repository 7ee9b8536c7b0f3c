"""One run, one directory: the resolved config, `run.json`, `metrics.jsonl`, samples, plots, weights."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ganlab.config import RunConfig, load_config_file, to_yaml
from ganlab.errors import GanlabError
from ganlab.files import atomic_write_json, atomic_write_text, utc_now


LOCK = ".lock"
# What may sit in a folder before its run is created: the lock, and what a study's runner keeps
# beside each of its runs (the worker's log and its state marker, `ganlab.study.launch`).
BEFORE_CREATE = {LOCK, "log.txt", "study-run.json"}


class RunLockedError(GanlabError):
    """Another process is writing this run directory."""


class RecordError(GanlabError):
    """A run record (run.json, config.yaml, metrics.jsonl) is damaged; the message names the file."""


def read_records(path: Path) -> tuple[list[dict[str, Any]], bool]:
    """The records of a JSON-lines file and whether its last line was cut short (a kill during a
    write: no newline at its end, and not a whole record), which is left out. [] when missing.

    RecordError names the file and line of any other damage: bytes that are not UTF-8, a line that
    is not a JSON object, a record without its `kind`, `epoch` and `step`.
    """
    try:
        data = Path(path).read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return [], False
    except OSError as err:
        raise RecordError(f"{path}: cannot read ({err.strerror or err})") from None
    lines = data.split(b"\n")
    torn = lines[-1] != b""  # a whole file ends with a newline
    records = []
    for number, raw in enumerate(lines[:-1] if not torn else lines, start=1):
        last = number == len(lines)
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as err:
            if last and torn:
                return records, True
            reason = "not UTF-8" if isinstance(err, UnicodeDecodeError) else "not JSON"
            raise RecordError(f"{path}:{number}: damaged record ({reason})") from None
        if not isinstance(record, dict) or not {"kind", "epoch", "step"} <= record.keys():
            raise RecordError(f"{path}:{number}: damaged record (expected an object with kind, epoch and step)")
        records.append(record)
    return records, False


# The run.json fields every reader relies on, and their types.
INFO_FIELDS: dict[str, type | tuple[type, ...]] = {
    "status": str, "epochs_done": int, "steps": int, "seconds_per_epoch": list, "events": list,
}  # fmt: skip


def info_problem(info: Any) -> str | None:
    """What is wrong with a run.json's content, or None."""
    if not isinstance(info, dict):
        return f"expected a JSON object, got {type(info).__name__}"
    for name, kind in INFO_FIELDS.items():
        if name in info and not isinstance(info[name], kind) or isinstance(info.get(name), bool):
            return f"field {name}: expected {kind.__name__}, got {info[name]!r:.40}"
    if "status" not in info:
        return "no status"
    return None


def milestone_epoch(which: str) -> int | None:
    """N of a `which` naming the weights kept at epoch N ("epoch-30", "epoch-030"); else None."""
    match = re.fullmatch(r"epoch-0*([1-9][0-9]*)", which)
    return int(match.group(1)) if match else None


def milestone_info(info: dict[str, Any], epoch: int) -> dict[str, Any]:
    """run.json as it stood after `epoch`, for the weights kept there: epochs and seconds up to
    it, and the monitors' health and the trend that the loop recorded then (`milestones`)."""
    kept = (info.get("milestones") or {}).get(str(epoch)) or {}
    view = {k: v for k, v in info.items() if k not in ("trend", "health", "health_worst", "best", "final_weights")}
    view.update(
        epochs_done=min(int(info.get("epochs_done", 0) or 0), epoch),
        seconds_per_epoch=list(info.get("seconds_per_epoch") or [])[:epoch],
        events=list(info.get("events") or [])[: kept.get("events", 0)],
        **{k: kept[k] for k in ("health", "health_worst", "trend") if k in kept},
    )
    return view


def versions() -> dict[str, str | None]:
    """Versions of Python and the libraries that change results, and ganlab's source commit
    (None outside a git checkout)."""
    import numpy
    import torch

    from ganlab.version import __version__, source_commit

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "ganlab": __version__,
        "commit": source_commit(),
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

    def milestone_weights(self, epoch: int) -> Path:
        """The weights kept after `epoch` (`train.keep_weights_at`): weights/epoch_NNN.safetensors."""
        return self.weights(f"epoch_{epoch:03d}")

    def eval_path(self, which: str = "final") -> Path:
        """Where `ganlab eval --which WHICH` writes its scores: eval.json, or for the weights kept
        at epoch N (`epoch-N`), eval-epoch-NNN.json beside it."""
        epoch = milestone_epoch(which)
        return self.path / ("eval.json" if epoch is None else f"eval-epoch-{epoch:03d}.json")

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
        """run.json; RecordError, naming the file, when it is missing, damaged or of the wrong shape."""
        try:
            info = json.loads(self.info_path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            raise RecordError(f"{self.path} is not a run directory (no run.json)") from None
        except OSError as err:
            raise RecordError(f"{self.info_path}: cannot read ({err.strerror or err})") from None
        except (UnicodeDecodeError, ValueError) as err:
            reason = "not UTF-8" if isinstance(err, UnicodeDecodeError) else f"not JSON: {err}"
            raise RecordError(f"{self.info_path}: damaged ({reason})") from None
        problem = info_problem(info)
        if problem:
            raise RecordError(f"{self.info_path}: damaged ({problem})")
        return info

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
        """The run's resolved config (config.yaml); RecordError when it is missing or damaged."""
        if not self.config_path.is_file():
            raise RecordError(f"{self.path} is not a run directory (no config.yaml)")
        try:
            text = self.config_path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise RecordError(f"{self.config_path}: damaged (not UTF-8)") from None
        except OSError as err:
            raise RecordError(f"{self.config_path}: cannot read ({err.strerror or err})") from None
        # ganlab writes every section of the config: one missing means a cut-short file, which
        # would otherwise load with defaults in its place, a different model.
        missing = [f"{key}:" for key in RunConfig.model_fields if not re.search(rf"^{key}:", text, re.M)]
        if missing:
            raise RecordError(f"{self.config_path}: damaged (no {', '.join(missing)}: cut short?)")
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
        others = sorted(p.name for p in self.path.iterdir() if p.name not in BEFORE_CREATE) if self.path.is_dir() else []
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
        return read_records(self.metrics_path)[0]

    def truncate_metrics(self, epochs_done: int) -> None:
        """Drop records past the last checkpoint (and a last line cut short by a kill), so a
        resumed run does not log an epoch twice. `ganlab.train.resume.check_resume` says first
        whether that loses anything."""
        kept = [r for r in self.read_metrics() if r["epoch"] <= epochs_done]
        atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))
