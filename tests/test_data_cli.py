import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ganlab.cli.data import app
from ganlab.data.fileset import FileSpec
from ganlab.data.idx import write_idx
from ganlab.data.mnist import MNIST_FILE_SET

MNIST_FILES = MNIST_FILE_SET.names
pytestmark = pytest.mark.usefixtures("isolated_data_env", "no_mnist_mirrors")
runner = CliRunner()


@pytest.fixture
def no_mnist_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ganlab data fetch` reads MNIST's table as registered: keep its mirrors off the network."""
    monkeypatch.setattr(MNIST_FILE_SET, "mirrors", ())


@pytest.fixture
def fake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root with tiny MNIST-like files, made the expected ones by patching the checksums."""
    directory = tmp_path / "root" / "mnist"
    directory.mkdir(parents=True)
    files = []
    for index, name in enumerate(MNIST_FILES):
        path = write_idx(directory / name, np.full((2, 3), index, dtype=np.uint8))
        files.append(FileSpec(name, hashlib.sha256(path.read_bytes()).hexdigest()))
    monkeypatch.setattr(MNIST_FILE_SET, "files", tuple(files))
    monkeypatch.setenv("COLUMNS", "250")  # rich wraps tables to the terminal width
    return tmp_path / "root"


def test_fetch_from_data_dir(fake_root: Path) -> None:
    result = runner.invoke(app, ["fetch", "mnist", "--data-dir", str(fake_root)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"mnist: verified, from data-dir, in {fake_root / 'mnist'}\n"


def test_fetch_with_no_source_exits_2(isolated_data_env: Path) -> None:
    result = runner.invoke(app, ["fetch", "mnist"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: MNIST not found. Put train-images-idx3-ubyte, ")
    assert result.stderr.count("\n") == 1
    for fragment in [*MNIST_FILES, "<root>/mnist/", "--data-dir", "GANLAB_DATA_DIR", str(isolated_data_env / "mnist")]:
        assert fragment in result.stderr


def test_fetch_with_corrupt_data_dir_exits_2(fake_root: Path) -> None:
    (fake_root / "mnist" / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    result = runner.invoke(app, ["fetch", "mnist", "--data-dir", str(fake_root)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {fake_root / 'mnist' / 't10k-images-idx3-ubyte'}: checksum mismatch")


def test_fetch_rejects_missing_data_dir(tmp_path: Path) -> None:
    result = runner.invoke(app, ["fetch", "mnist", "--data-dir", str(tmp_path / "nowhere")], env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert f"'{tmp_path / 'nowhere'}' does not exist" in result.stderr


def test_fetch_rejects_unknown_dataset() -> None:
    result = runner.invoke(app, ["fetch", "cifar"])
    assert result.exit_code == 2
    assert "cifar" in result.stderr


def test_fetch_offers_the_registered_datasets_with_files() -> None:
    result = runner.invoke(app, ["fetch", "ring"], env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert "'ring' is not one of 'mnist'" in result.stderr  # generated: nothing to fetch


def test_info_on_empty_cache(isolated_data_env: Path) -> None:
    result = runner.invoke(app, ["info"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert str(isolated_data_env) in result.stdout
    assert all(name in result.stdout for name in MNIST_FILES)
    assert result.stdout.count("absent") == 4


def test_info_shows_verified_and_corrupt_files(fake_root: Path, isolated_data_env: Path) -> None:
    cache = isolated_data_env / "mnist"
    cache.mkdir(parents=True)
    for name in MNIST_FILES[:3]:
        (cache / f"{name}.gz").write_bytes(gzip.compress((fake_root / "mnist" / name).read_bytes()))
    (cache / f"{MNIST_FILES[3]}.gz").write_bytes(b"junk")
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    lines = {name: line for line in result.stdout.splitlines() for name in MNIST_FILES if name in line}
    assert [("yes" in lines[name], " NO " in lines[name]) for name in MNIST_FILES] == [
        (True, False),
        (True, False),
        (True, False),
        (False, True),
    ]


def test_help_documents_every_option() -> None:
    result = runner.invoke(app, ["fetch", "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "Data root holding mnist/" in result.stdout
    assert "Dataset to fetch." in result.stdout


def test_the_tests_find_mnist_through_ganlab_data_dir_too(tmp_path: Path):
    from conftest import MNIST_NAMES, find_mnist_root

    (tmp_path / "mnist").mkdir()
    for name in MNIST_NAMES:
        (tmp_path / "mnist" / f"{name}.gz").write_bytes(b"")
    assert find_mnist_root({"GANLAB_DATA_DIR": str(tmp_path)})[0] == tmp_path
    empty = tmp_path / "empty"
    root, tried = find_mnist_root({"GANLAB_TEST_DATA_DIR": str(empty), "GANLAB_DATA_DIR": str(tmp_path)})
    assert root == tmp_path and tried[:2] == [empty, tmp_path]
