"""Scorers: what scores a dataset's samples, named by `DatasetSpec.scorer`, one registry line each.

A scorer takes samples in display units (images in [0, 1], or points) and returns named scores;
it also scores real data (the floor a model's scores are read against) and says which way each
score is better. The MNIST scorer is the evaluator's metric suite; the ring's is VEEGAN's mode
statistics; Stacked MNIST's, its 1,000 modes read by the evaluator channel by channel.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ganlab.data import load_stacked_mnist, ring_mode_stats, sample_ring
from ganlab.names import RING_METRICS
from ganlab.metrics.evaluator import EVALUATOR_SHA256, MnistEvaluator, default_evaluator


class Scorer(Protocol):
    """Scores samples; `evaluator_sha` names the network behind the scores (None: no network)."""

    higher_is_better: dict[str, bool | None]
    evaluator_sha: str | None

    def __call__(self, samples: torch.Tensor) -> dict[str, float]: ...

    def prepare(self) -> None: ...

    def floor_size(self, n: int) -> int: ...

    def real_floor(self, n: int, seed: int = 0) -> dict[str, float]: ...


class MnistScorer:
    """The MNIST evaluator's metrics (`ganlab.metrics.suite.MetricSuite`): `metrics` of them,
    or all when None."""

    uses_evaluator = True  # its metrics are `ALL_METRICS`, on the evaluator's features

    def __init__(self, metrics: list[str] | None, data_dir: Path | None, device: torch.device | str):
        from ganlab.metrics.suite import FLOOR_MAX, MetricSuite

        self.suite = MetricSuite(metrics, data_dir=data_dir, device=device)
        self.floor_max = FLOOR_MAX
        self.higher_is_better = self.suite.higher_is_better
        self.evaluator_sha: str | None = self.suite.evaluator_sha

    def prepare(self) -> None:
        """Load (and checksum) the evaluator now. Building it initialises a network from the global
        RNG: fork it, so that scoring or not never changes a training run."""
        with torch.random.fork_rng(devices=[]):
            self.suite.evaluator

    @staticmethod
    def classifier(device: torch.device | str) -> MnistEvaluator:
        """The committed evaluator network, checksummed."""
        return default_evaluator(str(device))

    def __call__(self, samples: torch.Tensor) -> dict[str, float]:
        return self.suite(samples)

    def floor_size(self, n: int) -> int:
        """How many real images `real_floor(n)` scores: the evaluator's held-out training images
        number `FLOOR_MAX`."""
        return min(n, self.floor_max)

    def real_floor(self, n: int, seed: int = 0) -> dict[str, float]:
        """`floor_size(n)` unseen training images against the test set."""
        return self.suite.real_floor(self.floor_size(n))


class _Defaults:
    """What the scorers other than MNIST's share: no MNIST metrics, nothing to load, no
    classifier for the collapse monitor, and a real-data floor as large as asked."""

    evaluator_sha: str | None = None
    uses_evaluator = False  # not the MNIST metrics: train.eval_metrics does not apply

    def __init__(self, metrics: list[str] | None, data_dir: Path | None, device: torch.device | str):
        pass

    def prepare(self) -> None:
        pass

    @staticmethod
    def classifier(device: torch.device | str) -> None:
        return None

    def floor_size(self, n: int) -> int:
        return n


class RingScorer(_Defaults):
    """Modes covered and the share of high-quality samples (Srivastava et al. 2017, VEEGAN);
    nothing to load: the ring's modes are known exactly."""

    higher_is_better = dict(RING_METRICS)

    def __call__(self, samples: torch.Tensor) -> dict[str, float]:
        stats = ring_mode_stats(samples)
        return {name: float(stats[name]) for name in RING_METRICS}

    def real_floor(self, n: int, seed: int = 0) -> dict[str, float]:
        """n points drawn from the ring itself."""
        return self(sample_ring(n, generator=torch.Generator().manual_seed(seed)))


class StackedScorer(_Defaults):
    """Stacked MNIST's modes covered of 1,000 and KL to the uniform over them (Lin et al. 2018,
    PacGAN, Table 2), each channel's digit read by the MNIST evaluator
    (`ganlab.metrics.suite.stacked_mode_scores`). Its classifier reads one digit, not a stacked
    image, so the collapse monitor measures diversity on pixels."""

    higher_is_better: dict[str, bool | None] = {"modes_covered": True, "mode_kl": False}
    evaluator_sha = EVALUATOR_SHA256

    def __init__(self, metrics: list[str] | None, data_dir: Path | None, device: torch.device | str):
        self.data_dir, self.device = data_dir, device
        self._evaluator: MnistEvaluator | None = None

    @property
    def evaluator(self) -> MnistEvaluator:
        if self._evaluator is None:
            with torch.random.fork_rng(devices=[]):  # building it draws from the global RNG
                self._evaluator = default_evaluator(str(self.device))
        return self._evaluator

    def prepare(self) -> None:
        """Load (and checksum) the evaluator now."""
        self.evaluator

    def __call__(self, samples: torch.Tensor) -> dict[str, float]:
        from ganlab.metrics.suite import stacked_mode_scores

        return stacked_mode_scores(samples, self.evaluator)

    def real_floor(self, n: int, seed: int = 0) -> dict[str, float]:
        """n triples drawn from the MNIST test digits: a perfect generator's scores with n samples
        (n uniform draws of 1,000 modes leave some out and some twice: KL about 999 / 2n).
        Cached on disk with the MNIST floors (`features.ArrayCache`): 3n images to classify."""
        from ganlab.metrics.features import ArrayCache

        def compute() -> dict[str, np.ndarray]:
            real = load_stacked_mnist("test", n=n, seed=seed, data_dir=self.data_dir)
            return {name: np.array(value) for name, value in self(real.images).items()}

        arrays = ArrayCache().get(f"{EVALUATOR_SHA256[:16]}-stacked-floor-n{n}-seed{seed}", compute)
        return {name: float(arrays[name]) for name in self.higher_is_better}


class Unscored(_Defaults):
    """No scores, and `NOTE` says why: the scorer of your own images (`data.dataset: folder`)."""

    NOTE = (
        "no metrics for images of your own: FID, KID, precision/recall, density/coverage, the classifier "
        "score, the class metrics and memorisation are all computed on the MNIST evaluator's features and "
        "classes, which mean nothing for other images. The usual generic extractor, Inception-v3 (pytorch-fid, "
        "torch-fidelity, clean-fid), downloads its weights from GitHub on first use, and ganlab computes its "
        "metrics offline only, so none is offered. Judge the samples by eye: ganlab sample RUN"
    )
    higher_is_better: dict[str, bool | None] = {}

    def __call__(self, samples: torch.Tensor) -> dict[str, float]:
        return {}

    def real_floor(self, n: int, seed: int = 0) -> dict[str, float]:
        return {}


SCORERS: dict[str, type] = {"mnist": MnistScorer, "ring": RingScorer, "stacked": StackedScorer, "none": Unscored}


def scorer_note(name: str) -> str | None:
    """Why scorer `name` gives no scores, for `ganlab eval` to say; None when it gives some."""
    return getattr(SCORERS[name], "NOTE", None)


def build_scorer(
    name: str, metrics: list[str] | None = None, data_dir: Path | None = None, device: torch.device | str = "cpu"
) -> MnistScorer | RingScorer | StackedScorer | Unscored:
    """The scorer registered as `name` (a `DatasetSpec.scorer`), for `metrics` (None: all)."""
    return SCORERS[name](metrics, data_dir, device)


def uses_evaluator(name: str) -> bool:
    """Whether scorer `name` computes the MNIST evaluator's metrics (`train.eval_metrics` chooses
    among them, and a study's real-data floor is theirs)."""
    return SCORERS[name].uses_evaluator


def class_evaluator(name: str, device: torch.device | str) -> MnistEvaluator | None:
    """The classifier behind scorer `name`, for class-based checks (the collapse monitor); None
    when the scorer has none."""
    return SCORERS[name].classifier(device)
