"""Before a run resumes: refuse what would lose or rewrite records, name what will be repaired.

A kill can leave a run directory in a few states that a resume repairs losslessly: a last line
of metrics.jsonl cut short, or the records of the epoch after the last checkpoint (written just
before the checkpoint was), which the resumed run writes again, bit for bit. Anything else that
does not add up (a checkpoint gone while records remain, a checkpoint from past the run's end or
ahead of the records, a config.yaml edited since the checkpoint) would lose or silently change
results, so it is refused, naming the file, unless the user says so explicitly.
"""

from __future__ import annotations

from typing import Any

from ganlab.config import RunConfig
from ganlab.rundir import RecordError, RunDir, read_records


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_changes(saved: dict[str, Any], config: RunConfig) -> list[str]:
    """Dotted keys whose value differs between a checkpoint's config and `config` (both with
    their defaults filled in, so a config written before a key existed does not count)."""
    try:
        before = flatten(RunConfig.model_validate(saved).model_dump(mode="json"))
    except ValueError:
        return ["(the checkpoint's config is not a valid config)"]
    after = flatten(config.model_dump(mode="json"))
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def check_resume(
    run: RunDir, info: dict[str, Any] | None, config: RunConfig, *, rewrite: bool = False, config_change: bool = False
) -> list[str]:
    """Check that resuming `run` from a checkpoint with `info` (None: no checkpoint) loses nothing.

    Raises RecordError, naming the file, for a checkpoint past the run's end or ahead of the
    records; for records that would be trained again and rewritten (unless `rewrite`); for a
    config changed since the checkpoint (unless `config_change`). Returns notes on what the
    resume will repair or change, for the user and run.json.
    """
    records, torn = read_records(run.metrics_path)
    done = info["epoch"] if info is not None else 0
    last = max((r["epoch"] for r in records if r["kind"] == "epoch"), default=0)
    if info is not None and not (isinstance(done, int) and 0 <= done <= min(config.train.epochs, last)):
        ahead = f"metrics.jsonl ends at epoch {last}" if done > last else f"the run has {config.train.epochs} epochs"
        raise RecordError(f"{run.checkpoint}: damaged: it claims epoch {done!r}, but {ahead}")
    # The epoch after the checkpoint may have been written just before a kill: it comes back
    # identical. Any later record would be lost.
    lost = sorted({r["epoch"] for r in records if r["epoch"] > done + 1})
    if lost and not rewrite:
        where = "there is no checkpoint" if info is None else f"the last checkpoint is epoch {done}"
        raise RecordError(
            f"{run.path}: {where}, but metrics.jsonl holds epochs up to {lost[-1]}: resuming would train them "
            "again and rewrite their records; pass --rewrite to accept that"
        )
    # Said under the run's lock: before it, another process may still be writing the first epoch.
    notes = []
    if info is None:
        why = " (the run stopped inside its first epoch)" if last == 0 else ""
        notes.append(f"no checkpoint{why}: restarting from step 0")
    if torn:
        notes.append("metrics.jsonl: its last line was cut short by a kill; dropped (it is written again)")
    if lost:
        notes.append(f"metrics.jsonl: epochs {lost[0]}-{lost[-1]} are trained again and their records rewritten")
    changed = config_changes(info["config"], config) if info is not None and "config" in info else []
    if changed and not config_change:
        raise RecordError(
            f"{run.config_path} differs from the config the run was trained with ({', '.join(changed)}): "
            "restore it, or pass --config-change to go on with the new values (recorded in run.json)"
        )
    if changed:
        notes.append(f"config changed on resume at epoch {done}: {', '.join(changed)}")
    return notes
