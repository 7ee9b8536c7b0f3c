"""The metrics ganlab reports, which way is better, and how their values are shown: importable
without torch (configs use it)."""

import math
from typing import Any

# name -> higher_is_better (None: neither; closest to the real-data floor, about 1, is best).
ALL_METRICS: dict[str, bool | None] = {
    "fid": False,
    "kid": False,
    "kid_std": False,
    "classifier_score": True,
    "precision": True,
    "recall": True,
    "density": True,
    "coverage": True,
    "classes_covered": True,
    "class_kl": False,
    "memorisation": None,
}

# The 2-D ring's metrics (VEEGAN's): both higher is better.
RING_METRICS: dict[str, bool | None] = {"modes_covered": True, "high_quality": True}

DESCRIPTIONS: dict[str, str] = {
    "fid": "Fréchet distance of evaluator features",
    "kid": "kernel distance, mean over 100 subsets",
    "kid_std": "kernel distance, std over subsets",
    "classifier_score": "exp E KL(p(y|x) || p(y)), max 10",
    "precision": "share of samples on the real manifold (k=3)",
    "recall": "share of real images on the sample manifold (k=3)",
    "density": "real-neighbourhood hits per sample / k (k=5)",
    "coverage": "share of real images with a sample nearby (k=5)",
    "classes_covered": "classes holding >= 1/10 of their uniform share",
    "class_kl": "KL(sample class histogram || MNIST class prior)",
    "memorisation": "median NN-to-train distance, samples / test images",
}


def arrow(higher_is_better: bool | None) -> str:
    """'↑' when higher is better, '↓' when lower is, '≈1' when closest to 1 is (memorisation)."""
    return "↑" if higher_is_better is True else "↓" if higher_is_better is False else "≈1"


def metric_arrow(name: str, higher_is_better: dict[str, bool | None] | None = None) -> str:
    """`arrow` of a metric, from `higher_is_better` (an eval.json's) or else ganlab's own
    metrics; '' for a name neither knows."""
    known = {**ALL_METRICS, **RING_METRICS, **(higher_is_better or {})}
    return arrow(known[name]) if name in known else ""


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table: '–' for missing or NaN, integers plainly, else `digits` significant."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else str(value)
    if not isinstance(value, (int, float)):
        return str(value)
    if math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 else f"{value:.2e}"
