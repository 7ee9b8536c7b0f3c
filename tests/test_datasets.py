"""The registered datasets as their specs describe them, MNIST as tensors, pixel scaling, and the ring."""

import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from ganlab.config import RunConfig, config_with_overrides
from ganlab.data.mnist import MNIST_FILE_SET, ImageDataset, load_mnist
from ganlab.data.registry import DATASETS, dataset_spec
from ganlab.data.ring import (
    RING_MODES,
    RING_RADIUS,
    RING_STD,
    ring_centers,
    ring_mode_stats,
    sample_ring,
    sample_ring_labelled,
)
from ganlab.data.scaling import scale, unscale
from ganlab.data.sources import DataError
from ganlab.errors import GanlabError

pytestmark = pytest.mark.usefixtures("isolated_data_env")

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
PIXELS = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)


# --- the registry ---------------------------------------------------------------------------

# The fixture that gives a data root holding each file set's real files (see conftest.py).
TEST_DATA_ROOTS = {MNIST_FILE_SET.name: "mnist_dir"}


@pytest.mark.parametrize("name", list(DATASETS))
@pytest.mark.parametrize("split", ["train", "test"])
def test_every_registered_dataset_loads_as_its_spec_says(
    request: pytest.FixtureRequest, tmp_path: Path, name: str, split: str
) -> None:
    spec = DATASETS[name]
    assert spec.name == name and dataset_spec(name) is spec
    data_dir = None
    if spec.files is not None:
        assert spec.files.name in TEST_DATA_ROOTS, f"{name}: add a fixture with its files to TEST_DATA_ROOTS"
        data_dir = request.getfixturevalue(TEST_DATA_ROOTS[spec.files.name])  # skips when absent
    overrides = ["train.ring_size=512", f"data.dataset={name}"]
    if spec.configure is not None:  # shaped by its config (the image folder): two classes of 4 images
        for label in ("a", "b"):
            (tmp_path / "images" / label).mkdir(parents=True)
            for i in range(4):
                Image.new("L", (28, 28)).save(tmp_path / "images" / label / f"{i}.png")
        overrides.append(f"data.folder={tmp_path / 'images'}")
    config = config_with_overrides(RunConfig(), overrides)
    spec = dataset_spec(config.data)
    x, y = spec.load(config, split, data_dir, torch.device("cpu"), False)  # type: ignore[arg-type]
    assert x.shape[1:] == spec.shape and x.dtype == (torch.uint8 if spec.is_image else torch.float32)
    assert y.shape == (len(x),) and y.dtype == torch.int64
    assert torch.unique(y).tolist() == list(range(spec.num_classes))  # every class present, no other
    prepared = spec.prepare(x[:8], config)
    assert prepared.dtype == torch.float32 and prepared.shape == (8, *spec.shape)
    assert spec.display == ("grid" if spec.is_image else "scatter")


def test_the_ring_loads_from_the_runs_seed() -> None:
    config = config_with_overrides(RunConfig(), ["train.ring_size=64", "train.seed=7"])
    spec = dataset_spec("ring")
    train, test = (spec.load(config, split, None, torch.device("cpu"), False) for split in ("train", "test"))
    expected = sample_ring_labelled(64, generator=torch.Generator().manual_seed(7))
    assert all(torch.equal(got, want) for got, want in zip(train, expected, strict=True))
    assert not torch.equal(train[0], test[0])


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(GanlabError, match="unknown dataset 'cifar'; known datasets: mnist, ring"):
        dataset_spec("cifar")


# --- MNIST ----------------------------------------------------------------------------------


def test_train_split(mnist_dir: Path) -> None:
    data = load_mnist("train", data_dir=mnist_dir)
    assert len(data) == 60000
    assert data.images.shape == (60000, 1, 28, 28)
    assert data.images.dtype == torch.uint8
    assert data.labels.dtype == torch.int64
    assert torch.bincount(data.labels).tolist() == TRAIN_COUNTS
    pixels = scale(data.images, "unit")
    assert pixels.mean().item() == pytest.approx(0.1307, abs=5e-5)
    assert pixels.std().item() == pytest.approx(0.3081, abs=5e-5)


def test_test_split(mnist_dir: Path) -> None:
    data = load_mnist("test", data_dir=mnist_dir)
    assert data.images.shape == (10000, 1, 28, 28)
    assert torch.bincount(data.labels).tolist() == TEST_COUNTS


def test_each_call_gets_its_own_copy(mnist_dir: Path) -> None:
    first = load_mnist("test", data_dir=mnist_dir)
    first.images.zero_()
    first.labels.fill_(-1)
    second = load_mnist("test", data_dir=mnist_dir)
    assert second.images.max().item() == 255
    assert torch.bincount(second.labels).tolist() == TEST_COUNTS


@pytest.mark.parametrize(
    ("scaling", "low", "high"), [("symmetric", -1.0, 1.0), ("unit", 0.0, 1.0), ("raw", 0.0, 255.0)]
)
def test_scale_ranges_on_mnist(mnist_dir: Path, scaling: str, low: float, high: float) -> None:
    x = scale(load_mnist("test", data_dir=mnist_dir).images, scaling)  # type: ignore[arg-type]
    assert x.dtype == torch.float32
    assert (x.min().item(), x.max().item()) == (low, high)


def test_load_mnist_without_data(isolated_data_env: Path) -> None:
    with pytest.raises(DataError, match="MNIST not found.*download: disabled"):
        load_mnist("train", download=False)


def test_load_mnist_rejects_unknown_split() -> None:
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'valid'"):
        load_mnist("valid")  # type: ignore[arg-type]


def test_image_dataset() -> None:
    data = ImageDataset(images=torch.zeros(3, 1, 28, 28, dtype=torch.uint8), labels=torch.arange(3))
    assert len(data) == 3
    moved = data.to("cpu")
    assert moved.images.device.type == "cpu" and moved.labels.device.type == "cpu"
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        ImageDataset(images=data.images, labels=torch.arange(2))


# --- scaling --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scaling", "expected"),
    [("symmetric", PIXELS / 127.5 - 1), ("unit", PIXELS / 255.0), ("raw", PIXELS.float())],
)
def test_scale(scaling: str, expected: torch.Tensor) -> None:
    x = scale(PIXELS, scaling)  # type: ignore[arg-type]
    assert x.dtype == torch.float32
    assert x.shape == PIXELS.shape
    torch.testing.assert_close(x, expected.float())
    torch.testing.assert_close(unscale(x, scaling), PIXELS / 255.0)  # type: ignore[arg-type]


def test_unscale_clamps() -> None:
    overshoot = torch.tensor([-1.5, -1.0, 0.0, 1.0, 1.5])
    torch.testing.assert_close(unscale(overshoot, "symmetric"), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))
    torch.testing.assert_close(unscale(overshoot * 300, "raw"), torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0]))


def test_scale_rejects_float_input() -> None:
    with pytest.raises(TypeError, match=r"scale expects uint8 pixels 0\.\.255, got torch.float32"):
        scale(PIXELS.float(), "unit")


def test_unknown_scaling() -> None:
    with pytest.raises(ValueError, match="scaling must be one of 'symmetric', 'unit', 'raw'; got 'tanh'"):
        scale(PIXELS, "tanh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="got 'tanh'"):
        unscale(PIXELS.float(), "tanh")  # type: ignore[arg-type]


# --- ring of Gaussians ----------------------------------------------------------------------


def test_ring_centers() -> None:
    centers = ring_centers()
    assert centers.shape == (RING_MODES, 2) and centers.dtype == torch.float32
    torch.testing.assert_close(centers.norm(dim=1), torch.full((RING_MODES,), RING_RADIUS))
    neighbour_gap = 2 * RING_RADIUS * math.sin(math.pi / RING_MODES)
    torch.testing.assert_close(
        (centers - centers.roll(1, dims=0)).norm(dim=1), torch.full((RING_MODES,), neighbour_gap)
    )


def test_sample_ring() -> None:
    points = sample_ring(4000, generator=torch.Generator().manual_seed(0))
    assert points.shape == (4000, 2) and points.dtype == torch.float32
    distances = torch.cdist(points, ring_centers()).min(dim=1).values
    assert distances.max().item() < 6 * RING_STD
    assert distances.pow(2).mean().item() == pytest.approx(2 * RING_STD**2, rel=0.1)
    torch.testing.assert_close(points, sample_ring(4000, generator=torch.Generator().manual_seed(0)))


def test_mode_stats_of_true_samples() -> None:
    points = sample_ring(8000, generator=torch.Generator().manual_seed(1))
    stats = ring_mode_stats(points)
    assert stats["modes_covered"] == RING_MODES
    # 2-D Gaussian: P(radius < 3 std) = 1 - exp(-9/2) = 0.9889
    assert stats["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.005)
    assert len(stats["counts"]) == RING_MODES
    assert sum(stats["counts"]) == round(stats["high_quality"] * 8000)
    assert min(stats["counts"]) > 8000 / RING_MODES * 0.8


def test_mode_stats_of_a_collapsed_generator() -> None:
    points = ring_centers()[3].expand(100, 2)
    stats = ring_mode_stats(points)
    assert stats == {"modes_covered": 1, "high_quality": 1.0, "counts": [0, 0, 0, 100, 0, 0, 0, 0]}


def test_mode_stats_min_count_and_far_points() -> None:
    centers = ring_centers()
    points = torch.cat([centers[0].expand(5, 2), centers[1].expand(1, 2), torch.zeros(4, 2)])
    stats = ring_mode_stats(points, min_count=2)
    assert stats["modes_covered"] == 1
    assert stats["high_quality"] == pytest.approx(0.6)
    assert stats["counts"] == [5, 1, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize("shape", [(0, 2), (5, 3), (10,)])
def test_mode_stats_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"points of shape \(n, 2\) with n >= 1, got"):
        ring_mode_stats(torch.zeros(shape))
