"""The evaluator's feature cache: every load checks the SHA-256 its file records, and a damaged file
is an error naming it, never a silent rebuild (issue 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ganlab.metrics.features import ArrayCache, CacheError

ARRAYS = {"features": np.arange(12, dtype=np.float32).reshape(3, 4), "labels": np.array([7, 1, 3])}


def _stored(tmp_path: Path) -> tuple[Path, list[int]]:
    """A cache holding ARRAYS under "ref": (its file, a list that counts computations)."""
    calls: list[int] = []
    ArrayCache(tmp_path).get("ref", lambda: calls.append(1) or ARRAYS)
    (path,) = tmp_path.iterdir()
    return path, calls


def test_a_stored_file_is_read_back_not_recomputed(tmp_path: Path):
    path, calls = _stored(tmp_path)
    again = ArrayCache(tmp_path).get("ref", lambda: calls.append(1) or ARRAYS)
    assert len(calls) == 1 and set(again) == set(ARRAYS)
    assert all(np.array_equal(again[k], ARRAYS[k]) and again[k].dtype == ARRAYS[k].dtype for k in ARRAYS)


# Bytes that matter (a zip also has fields nobody reads, such as timestamps): a local file
# header's signature, an array's npy header, an array's data, the recorded digest's hex digits.
TARGETS = {
    "zip-header": lambda data: data.find(b"PK\x03\x04", 1),
    "npy-header": lambda data: data.find(b"'descr'"),
    "array-data": lambda data: data.find(ARRAYS["labels"].tobytes()) + 8,
    "digest": lambda data: data.find(b"<U64") + 120,
}


@pytest.mark.parametrize("target", TARGETS)
def test_a_flipped_byte_is_an_error_naming_the_file(tmp_path: Path, target: str):
    path, calls = _stored(tmp_path)
    data = bytearray(path.read_bytes())
    assert TARGETS[target](bytes(data)) > 0
    data[TARGETS[target](bytes(data))] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match=r"feature cache file .*ref.* is damaged .*: delete it") as error:
        ArrayCache(tmp_path).get("ref", lambda: calls.append(1) or ARRAYS)
    assert "\n" not in str(error.value) and str(path) in str(error.value)
    assert len(calls) == 1 and path.read_bytes() == bytes(data)  # neither rebuilt nor rewritten


def test_a_changed_array_with_a_valid_zip_is_caught_by_the_digest(tmp_path: Path):
    """Rewritten by another tool (zip CRCs all correct): only the recorded SHA-256 can tell."""
    path, _ = _stored(tmp_path)
    with np.load(path) as stored:
        arrays = {name: stored[name] for name in stored.files}
    arrays["labels"] = np.array([7, 1, 4])
    np.savez(path, **arrays)
    with pytest.raises(CacheError, match="do not match the SHA-256 it records"):
        ArrayCache(tmp_path).get("ref", lambda: ARRAYS)


@pytest.mark.parametrize("cut", [0, 30, -1])
def test_a_truncated_file_is_an_error_not_a_silent_rebuild(tmp_path: Path, cut: int):
    path, calls = _stored(tmp_path)
    path.write_bytes(path.read_bytes()[:cut])
    with pytest.raises(CacheError, match="is damaged"):
        ArrayCache(tmp_path).get("ref", lambda: calls.append(1) or ARRAYS)
    path.unlink()  # as the message says: the next use rebuilds it
    assert np.array_equal(ArrayCache(tmp_path).get("ref", lambda: calls.append(1) or ARRAYS)["labels"], [7, 1, 3])
    assert len(calls) == 2


def test_eval_reports_a_damaged_cache_file_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import ganlab.data.mnist
    from ganlab.cli import app
    from ganlab.metrics.suite import EVALUATOR_SHA256

    monkeypatch.setenv("GANLAB_CACHE_DIR", str(tmp_path))
    # Should the floor's key below go stale, building would need MNIST: fail fast instead.
    monkeypatch.setattr(ganlab.data.mnist, "load_mnist", lambda *args: pytest.fail("the cache file was not read"))
    ArrayCache().get(f"{EVALUATOR_SHA256[:16]}-floor-n100-real10000-train60000-kid100x1000", lambda: ARRAYS)
    (path,) = (tmp_path / "features").iterdir()
    path.write_bytes(path.read_bytes()[:-5])
    result = CliRunner().invoke(app, ["eval", "--real", "--n", "100", "--device", "cpu"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: the feature cache file") and result.output.count("\n") == 1, result.output
    assert path.name in result.output and "delete it" in result.output
