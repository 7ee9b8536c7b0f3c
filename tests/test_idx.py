import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from ganlab.data.idx import IDXError, read_idx, write_idx

pytestmark = pytest.mark.usefixtures("isolated_data_env")

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]
SHAPES = [(7,), (3, 4), (2, 3, 5), (1, 2, 1, 3)]


def _raw_idx(type_code: int, shape: tuple[int, ...], data: bytes) -> bytes:
    return bytes([0, 0, type_code, len(shape)]) + np.asarray(shape, dtype=">u4").tobytes() + data


def _fault(path: Path, message: str) -> str:
    """A match= pattern: the file's path, then `message` (a regex)."""
    return re.escape(str(path)) + ": " + message


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip(tmp_path: Path, dtype: str, shape: tuple[int, ...], suffix: str) -> None:
    array = (np.arange(np.prod(shape)) * 37 - 50).astype(dtype).reshape(shape)
    path = write_idx(tmp_path / f"a-idx{suffix}", array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    assert back.shape == shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_big_endian_on_disk(tmp_path: Path) -> None:
    path = write_idx(tmp_path / "x", np.array([1, 258], dtype=np.int16))
    assert path.read_bytes() == _raw_idx(0x0B, (2,), b"\x00\x01\x01\x02")


def test_gzip_is_detected_by_content_not_name(tmp_path: Path) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gzipped = write_idx(tmp_path / "no-suffix", array, gzip=True)
    raw = write_idx(tmp_path / "looks.gz", array, gzip=False)
    assert gzipped.read_bytes()[:2] == b"\x1f\x8b"
    assert raw.read_bytes()[:2] == b"\x00\x00"
    np.testing.assert_array_equal(read_idx(gzipped), array)
    np.testing.assert_array_equal(read_idx(raw), array)


def test_gzip_output_is_deterministic(tmp_path: Path) -> None:
    array = np.arange(100, dtype=np.float32)
    assert write_idx(tmp_path / "a.gz", array).read_bytes() == write_idx(tmp_path / "b.gz", array).read_bytes()


@pytest.mark.parametrize("gzipped", [False, True])
def test_bad_magic(tmp_path: Path, gzipped: bool) -> None:
    content = b"\x01\x00\x08\x01" + (1).to_bytes(4, "big") + b"\x05"
    path = tmp_path / "bad-magic"
    path.write_bytes(gzip.compress(content) if gzipped else content)
    with pytest.raises(IDXError, match=_fault(path, "bad magic number 0x01000801")):
        read_idx(path)


def test_unknown_type_code(tmp_path: Path) -> None:
    path = tmp_path / "bad-type"
    path.write_bytes(_raw_idx(0x07, (1,), b"\x05"))
    with pytest.raises(IDXError, match=_fault(path, "unknown IDX type code 0x07")):
        read_idx(path)


def test_wrong_length_mnist_images(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(_raw_idx(0x08, (60000, 28, 28), bytes(1000)))
    with pytest.raises(
        IDXError, match=_fault(path, re.escape("expected 47040000 bytes of data for shape (60000, 28, 28), got 1000"))
    ):
        read_idx(path)


def test_trailing_bytes(tmp_path: Path) -> None:
    path = tmp_path / "long"
    path.write_bytes(_raw_idx(0x0C, (2,), bytes(12)))
    with pytest.raises(IDXError, match=_fault(path, re.escape("expected 8 bytes of data for shape (2,), got 12"))):
        read_idx(path)


def test_truncated_file(tmp_path: Path) -> None:
    whole = write_idx(tmp_path / "whole", np.zeros((4, 5), dtype=np.float32)).read_bytes()
    path = tmp_path / "truncated"
    path.write_bytes(whole[:-3])
    with pytest.raises(IDXError, match=_fault(path, re.escape("expected 80 bytes of data for shape (4, 5), got 77"))):
        read_idx(path)


def test_dims_do_not_match_data(tmp_path: Path) -> None:
    path = tmp_path / "dims"
    path.write_bytes(_raw_idx(0x08, (3, 4), bytes(2 * 4)))
    with pytest.raises(IDXError, match=_fault(path, re.escape("expected 12 bytes of data for shape (3, 4), got 8"))):
        read_idx(path)


def test_truncated_header(tmp_path: Path) -> None:
    path = tmp_path / "header"
    path.write_bytes(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big"))
    with pytest.raises(IDXError, match=_fault(path, "header declares 3 dimensions .* only 8 bytes")):
        read_idx(path)


@pytest.mark.parametrize("content", [b"", b"\x00\x00"])
def test_too_short(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "short"
    path.write_bytes(content)
    with pytest.raises(IDXError, match=_fault(path, f"{len(content)} bytes is too short for an IDX header")):
        read_idx(path)


def test_zero_dimensions(tmp_path: Path) -> None:
    path = tmp_path / "scalar"
    path.write_bytes(bytes([0, 0, 8, 0]) + b"\x01")
    with pytest.raises(IDXError, match=_fault(path, "the header declares 0 dimensions")):
        read_idx(path)


def test_truncated_gzip(tmp_path: Path) -> None:
    whole = write_idx(tmp_path / "whole.gz", np.arange(1000, dtype=np.int32)).read_bytes()
    path = tmp_path / "cut.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(IDXError, match=_fault(path, "corrupt or truncated gzip data")):
        read_idx(path)


@pytest.mark.parametrize("dtype", ["bool", "uint16", "int64", "complex64"])
def test_write_rejects_unsupported_dtype(tmp_path: Path, dtype: str) -> None:
    path = tmp_path / "x"
    with pytest.raises(IDXError, match=_fault(path, f"IDX cannot store dtype {dtype} \\(supported: uint8, int8")):
        write_idx(path, np.zeros(3, dtype=dtype))
    assert not path.exists()


def test_write_rejects_scalar(tmp_path: Path) -> None:
    path = tmp_path / "x"
    with pytest.raises(IDXError, match=_fault(path, re.escape("IDX needs 1 to 255 dimensions, got shape ()"))):
        write_idx(path, np.uint8(3))
