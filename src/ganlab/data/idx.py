"""The IDX format of MNIST (yann.lecun.com/exdb/mnist): read and write, raw or gzipped.

Layout: two zero bytes, a type code, the number of dimensions, then each dimension as a
big-endian uint32, then the data in C order, big-endian.
"""

from __future__ import annotations

import gzip as _gzip
import zlib
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from ganlab.data.sources import DataError

GZIP_MAGIC = b"\x1f\x8b"

# Type code -> on-disk (big-endian) dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_CODES: dict[np.dtype, int] = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
_SUPPORTED = ", ".join(str(dtype.newbyteorder("=")) for dtype in IDX_DTYPES.values())


class IDXError(DataError):
    """An IDX file is corrupt, truncated or of an unsupported type."""


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, raw or gzipped (told apart by the gzip magic bytes, not the name).

    Returns a writable native-endian array with the file's dtype and shape, e.g. uint8
    (60000, 28, 28) for MNIST training images. Raises IDXError naming the file and the fault.
    """
    path = Path(path)
    data = path.read_bytes()
    if data[:2] == GZIP_MAGIC:
        try:
            data = _gzip.decompress(data)
        except (EOFError, _gzip.BadGzipFile, zlib.error) as error:
            raise IDXError(f"{path}: corrupt or truncated gzip data ({error})") from error

    if len(data) < 4:
        raise IDXError(f"{path}: {len(data)} bytes is too short for an IDX header (4 bytes)")
    if data[:2] != b"\x00\x00":
        raise IDXError(f"{path}: bad magic number 0x{data[:4].hex()}: an IDX file starts with two zero bytes")
    type_code, ndim = data[2], data[3]
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise IDXError(f"{path}: unknown IDX type code 0x{type_code:02X} (expected one of {known})")
    if ndim == 0:
        raise IDXError(f"{path}: the header declares 0 dimensions")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise IDXError(
            f"{path}: header declares {ndim} dimensions ({header_size} header bytes), "
            f"but the file has only {len(data)} bytes"
        )

    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = len(data) - header_size
    if got != expected:
        raise IDXError(f"{path}: expected {expected} bytes of data for shape {shape}, got {got}")
    array = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # copies: writable and native-endian


def write_idx(path: str | Path, array: ArrayLike, gzip: bool | None = None) -> Path:
    """Write `array` (>= 1 dimension; uint8, int8, int16, int32, float32 or float64) as IDX.

    Gzips when `gzip` is True, or when it is None and the name ends with ".gz". The gzip
    header carries no time stamp, so equal arrays give equal files. Returns the path.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _TYPE_CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise IDXError(f"{path}: IDX cannot store dtype {array.dtype} (supported: {_SUPPORTED})")
    if array.ndim == 0 or array.ndim > 255:
        raise IDXError(f"{path}: IDX needs 1 to 255 dimensions, got shape {array.shape}")
    if max(array.shape) >= 2**32:
        raise IDXError(f"{path}: dimension sizes must fit in uint32, got shape {array.shape}")

    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    data = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    if gzip or (gzip is None and path.name.endswith(".gz")):
        data = _gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path
