"""All MNIST metrics in one call, against cached real reference features.

    suite = MetricSuite()                 # all metrics, 10,000 MNIST test images as reference
    scores = suite(images)                # images float (N, 1, 28, 28) in [0, 1] -> {name: float}
    floor = suite.real_floor(len(images)) # the same metrics for N real training images

The reference is MNIST test[0:n_real]. Memorisation compares samples with MNIST train[0:n_train].
The real-data floor scores train[0:n] as if they were samples: n <= 10,000, since the evaluator
was trained on train[10000:] only and the floor images must be as new to it as samples are. Its
memorisation uses train[n:n_train] as the training set, so that the floor images are not in it.
Both the reference arrays and the floors are cached on disk (see `features.ArrayCache`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ganlab.errors import GanlabError
from ganlab.metrics.classes import (
    class_histogram_stats,
    classifier_score,
    stacked_mode_stats,
)
from ganlab.metrics.evaluator import EVALUATOR_SHA256, MnistEvaluator, load_evaluator
from ganlab.metrics.features import ArrayCache, Features, extract, reference_features
from ganlab.metrics.fid import fid_from_features
from ganlab.metrics.kid import kid_from_features
from ganlab.metrics.memorisation import memorisation_ratio, nearest_neighbour_distances
from ganlab.names import ALL_METRICS
from ganlab.metrics.prdc import knn_radii, prdc_from_features

# The class prior: MNIST training-set label counts (the distribution a GAN is trained on).
MNIST_TRAIN_CLASS_COUNTS = np.array([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
MNIST_TRAIN_SIZE = 60000
# The evaluator never saw train[0:FLOOR_MAX] (Recipe.holdout): the floor draws its images there.
FLOOR_MAX = 10000
K_PR, K_DC = 3, 5

# Which computation yields which names.
_GROUPS: dict[str, tuple[str, ...]] = {
    "fid": ("fid",),
    "kid": ("kid", "kid_std"),
    "classifier_score": ("classifier_score",),
    "prdc": ("precision", "recall", "density", "coverage"),
    "classes": ("classes_covered", "class_kl"),
    "memorisation": ("memorisation",),
}


class MetricSuite:
    """Computes a chosen set of `ALL_METRICS` for generated MNIST images.

    Args:
        metrics: names from `ALL_METRICS`; None means all.
        n_real: size of the reference, MNIST test[0:n_real] (default all 10,000).
        data_dir: MNIST data root (its `mnist/` holds the gz files); None: the usual search.
        device: where the evaluator runs.
        evaluator: an evaluator to use instead of the committed one; then give `evaluator_sha`
            (it keys the cache).
        n_train: training images for the memorisation reference, MNIST train[0:n_train].
        kid_subsets, kid_subset_size: KID's subsets (clamped to the smaller set).
        cache_dir: where reference arrays are stored; None: `<ganlab cache>/features`.

    Raises:
        GanlabError: unknown metric name or sizes out of range.
    """

    def __init__(
        self,
        metrics: list[str] | None = None,
        n_real: int = 10000,
        data_dir: Path | str | None = None,
        device: str | torch.device = "cpu",
        evaluator: MnistEvaluator | None = None,
        evaluator_sha: str | None = None,
        n_train: int = MNIST_TRAIN_SIZE,
        kid_subsets: int = 100,
        kid_subset_size: int = 1000,
        cache_dir: Path | str | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        names = list(ALL_METRICS) if metrics is None else list(metrics)
        unknown = [name for name in names if name not in ALL_METRICS]
        if unknown or not names:
            raise GanlabError(
                f"metrics: expected names from {', '.join(ALL_METRICS)}, got {', '.join(unknown) or 'none'}"
            )
        if not 2 * K_DC < n_real <= 10000:
            raise GanlabError(f"n_real: expected {2 * K_DC + 1}..10000 (MNIST test images), got {n_real}")
        if not 1 <= n_train <= MNIST_TRAIN_SIZE:
            raise GanlabError(f"n_train: expected 1..{MNIST_TRAIN_SIZE}, got {n_train}")
        if evaluator is not None and evaluator_sha is None:
            raise GanlabError("evaluator_sha: expected the SHA-256 of the evaluator's weights when passing one")
        self.metrics = names
        self.n_real, self.n_train = n_real, n_train
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.device = device
        self.kid_subsets, self.kid_subset_size = kid_subsets, kid_subset_size
        self._evaluator = evaluator
        self.evaluator_sha = evaluator_sha or EVALUATOR_SHA256
        self.cache = ArrayCache(Path(cache_dir) if cache_dir is not None else None)
        # progress(what, done, total) while a reference array is built (a minute or two, once)
        self.progress = progress
        self.prior = MNIST_TRAIN_CLASS_COUNTS / MNIST_TRAIN_CLASS_COUNTS.sum()

    @property
    def higher_is_better(self) -> dict[str, bool | None]:
        return {name: ALL_METRICS[name] for name in self.metrics}

    @property
    def evaluator(self) -> MnistEvaluator:
        if self._evaluator is None:
            self._evaluator = load_evaluator(device=self.device)
        return self._evaluator

    def features(self, images: torch.Tensor) -> Features:
        """Evaluator features and softmax of images (N, 1, 28, 28), float [0, 1] or uint8."""
        return extract(images, self.evaluator)

    def __call__(self, images: torch.Tensor) -> dict[str, float]:
        """Scores of images (N, 1, 28, 28), float [0, 1] (or uint8), N >= 6: {name: float}."""
        return self.score_features(self.features(images))

    def prepare(self) -> None:
        """Load or compute every reference array the chosen metrics need (the first call on a
        machine extracts features of MNIST test and, for memorisation, train: about a minute)."""
        wanted = set(self.metrics)
        self._real()
        if wanted & {"precision", "recall", "density", "coverage"}:
            self._real_radii()
        if "memorisation" in wanted:
            self._real_nn(0, self.n_train)

    # -- reference arrays (each cached in memory and on disk) -------------------------------

    def _split(self, split: str, start: int, stop: int) -> tuple[Features, np.ndarray]:
        # One cached extraction per split (test[0:n_real], train[0:n_train]); ranges are slices of it.
        total = self.n_real if split == "test" else self.n_train
        assert 0 <= start < stop <= total, (split, start, stop, total)
        feats, labels = reference_features(
            self.evaluator, self.evaluator_sha, split, 0, total, self.cache, self.data_dir, self.progress
        )
        return feats[start:stop], labels[start:stop]

    def _key(self, *parts: object) -> str:
        return "-".join([self.evaluator_sha[:16], *map(str, parts)])

    def _real(self) -> Features:
        return self._split("test", 0, self.n_real)[0]

    def _real_radii(self) -> dict[int, np.ndarray]:
        def compute() -> dict[str, np.ndarray]:
            real = self._real().features
            return self._building(
                "k-NN radii of the test features", lambda: {f"k{k}": r for k, r in knn_radii(real, (K_PR, K_DC)).items()}
            )

        arrays = self.cache.get(self._key("mnist-test", 0, self.n_real, "radii"), compute)
        return {K_PR: arrays[f"k{K_PR}"], K_DC: arrays[f"k{K_DC}"]}

    def _real_nn(self, train_start: int, train_stop: int) -> np.ndarray:
        """Nearest-training-image distances of the reference test images."""

        def compute() -> dict[str, np.ndarray]:
            train = self._split("train", train_start, train_stop)[0]
            return self._building(
                "nearest training images of the test images",
                lambda: {"distances": nearest_neighbour_distances(self._real().features, train.features)},
            )

        key = self._key("mnist-test", 0, self.n_real, "nn-train", train_start, train_stop)
        return self.cache.get(key, compute)["distances"]

    def _building(self, what: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """`compute()`, reported to `progress` as one step: these arrays have no batches to count."""
        if self.progress is not None:
            self.progress(what, 0, 1)
        arrays = compute()
        if self.progress is not None:
            self.progress(what, 1, 1)
        return arrays

    # -- scoring ------------------------------------------------------------------------------

    def score_features(
        self, fake: Features, train_range: tuple[int, int] | None = None, metrics: list[str] | None = None
    ) -> dict[str, float]:
        """Scores of precomputed features (see `features`). `train_range`: the memorisation
        reference, MNIST train[start:stop] (default [0, n_train]); `metrics`: default the suite's."""
        if len(fake) <= K_DC:
            raise GanlabError(f"images: expected more than {K_DC} samples for the k-NN metrics, got {len(fake)}")
        metrics = self.metrics if metrics is None else metrics
        wanted = {group for group, names in _GROUPS.items() if any(name in metrics for name in names)}
        scores: dict[str, float] = {}
        if "fid" in wanted:
            scores["fid"] = fid_from_features(self._real().features, fake.features)
        if "kid" in wanted:
            scores["kid"], scores["kid_std"] = kid_from_features(
                self._real().features, fake.features, self.kid_subsets, self.kid_subset_size
            )
        if "classifier_score" in wanted:
            scores["classifier_score"] = classifier_score(fake.probs)
        if "prdc" in wanted:
            scores.update(prdc_from_features(self._real().features, fake.features, K_PR, K_DC, self._real_radii()))
        if "classes" in wanted:
            scores.update(class_histogram_stats(fake.probs, self.prior))
        if "memorisation" in wanted:
            start, stop = train_range or (0, self.n_train)
            train = self._split("train", start, stop)[0]
            sample_nn = nearest_neighbour_distances(fake.features, train.features)
            scores["memorisation"] = memorisation_ratio(sample_nn, self._real_nn(start, stop))
        return {name: float(scores[name]) for name in metrics}

    def real_floor(self, n: int = 10000) -> dict[str, float]:
        """The same metrics for n real MNIST training images (train[0:n]) against the reference.

        What a perfect generator would score with n samples: like a generator's samples, these
        images are new to the evaluator (it was trained on train[10000:] only), so n <= 10,000.
        The memorisation reference is train[n:n_train] (the floor images are not in it, so
        memorisation is about 1). All metrics are computed and cached on disk at once.
        """
        top = min(FLOOR_MAX, self.n_train - 1)
        if not K_DC < n <= top:
            raise GanlabError(f"n: expected {K_DC + 1}..{top} held-out training images for the floor, got {n}")
        key = self._key(
            "floor", f"n{n}", f"real{self.n_real}", f"train{self.n_train}", f"kid{self.kid_subsets}x{self.kid_subset_size}"
        )

        def compute() -> dict[str, np.ndarray]:
            fake = self._split("train", 0, n)[0]

            def score() -> dict[str, np.ndarray]:
                scores = self.score_features(fake, (n, self.n_train), list(ALL_METRICS))
                return {name: np.array(value) for name, value in scores.items()}

            return self._building(f"the real-data floor of {n} images", score)

        arrays = self.cache.get(key, compute)
        return {name: float(arrays[name]) for name in self.metrics}


@torch.inference_mode()
def stacked_mode_scores(images: torch.Tensor, evaluator: MnistEvaluator | None = None) -> dict[str, float]:
    """Stacked MNIST modes of images (N, 3, 28, 28), float [0, 1] or uint8: each channel is
    classified by the evaluator; returns `classes.stacked_mode_stats` ("modes_covered" of 1,000
    and "mode_kl", KL to uniform, PacGAN's convention). Higher modes_covered and lower mode_kl
    are better."""
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or tuple(images.shape[1:]) != (3, 28, 28):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise GanlabError(f"images: expected stacked MNIST of shape (N, 3, 28, 28), got {shape}")
    evaluator = evaluator if evaluator is not None else load_evaluator()
    per_channel = extract(images.reshape(-1, 1, 28, 28), evaluator).probs  # (3N, 10), channel-major per image
    return stacked_mode_stats(per_channel.reshape(len(images), 3, -1))
