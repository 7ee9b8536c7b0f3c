"""Under-trained or bad, per run and per side of a comparison.

A run's trend (`ganlab.metrics.trend`) is in its run.json from the end of training; a run still
training, or one from before trends were recorded, gets it from its metrics.jsonl instead. A
comparison between a variant and its control says when either side was still improving: the
verdict then compares how fast the two get somewhere, not where they end up.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

STILL_IMPROVING = "still improving"


def eval_records(path: Path) -> list[dict[str, Any]]:
    """The `eval` records of a metrics.jsonl, skipping the step records unparsed (a long run has
    tens of thousands) and any line that is not whole JSON; [] when the file is missing."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    records = []
    for line in data.splitlines():
        if b'"eval"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("kind") == "eval":
            records.append(record)
    return records


def stored_or_computed(
    info: dict[str, Any], run_dir: Path, dataset: str, until: int | None = None
) -> dict[str, Any] | None:
    """run.json's `trend`, else the trend of the run's evaluations so far (up to epoch `until`:
    a milestone of the run); None when the run has no records (never started)."""
    if isinstance(info.get("trend"), dict):
        return info["trend"]
    records = [r for r in eval_records(Path(run_dir) / "metrics.jsonl") if until is None or r.get("epoch", 0) <= until]
    if not records and not info:
        return None
    from ganlab.data.registry import dataset_spec  # torch: only for runs without a stored trend
    from ganlab.metrics.trend import run_trend

    return run_trend(records, dataset_spec(dataset).best_by).to_json()


def side_counts(trends: Iterable[dict[str, Any] | None]) -> Counter[str]:
    """How many runs of a side got each verdict."""
    return Counter(t.get("verdict", "too short") for t in trends if t)


def counts_text(counts: Counter[str]) -> str:
    """'3/3 still improving', or '2/3 plateaued, 1/3 regressing'; '-' with no trend."""
    total = sum(counts.values())
    if not total:
        return "-"
    return ", ".join(f"{n}/{total} {verdict}" for verdict, n in counts.most_common())


def still_improving(counts: Counter[str]) -> bool:
    """A side is still improving when at least half its runs are: one run of three could be the
    5% false positive of its slope test."""
    total = sum(counts.values())
    return total > 0 and 2 * counts[STILL_IMPROVING] >= total


def speed_note(variant: Counter[str], control: Counter[str]) -> str:
    """'' or the warning that a comparison is about speed, not the end point."""
    sides = [name for name, counts in (("variant", variant), ("control", control)) if still_improving(counts)]
    if not sides:
        return ""
    who = "both sides were" if len(sides) == 2 else f"the {sides[0]} was"
    return f"{who} still improving: the comparison is about speed, not the end point"
