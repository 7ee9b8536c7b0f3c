"""Keep freed memory in the process, so that each training step does not page-fault its
activations back in.

PyTorch's CPU allocator is plain malloc. glibc serves a block over its mmap threshold (128 KiB,
adjusted at run time) with a fresh mmap and returns it to the kernel on free, and trims the heap
top past 128 KiB; every step of a GAN then faults in and zeroes its activation and gradient
buffers again. Measured on the 2-core dev VM: `x * 2` on a (128, 32, 28, 28) float tensor takes
9.2 ms with glibc's defaults and 0.6 ms with `keep_freed_memory()`; a conv-G step 1.65x faster,
an FC step about 1.07x (its buffers are smaller). The price: the process keeps its peak memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling for M_MMAP_THRESHOLD on 64-bit
DEFAULT_THRESHOLD = 128 * 1024  # glibc's initial mmap and trim thresholds


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return libc if hasattr(libc, "mallopt") else None
    except OSError:
        return None


def keep_freed_memory(enabled: bool = True) -> bool:
    """Serve blocks up to 32 MiB from the heap and never trim it (or, with enabled=False, go back
    to glibc's initial thresholds). Returns False where malloc is not glibc's (nothing changes)."""
    libc = _libc()
    if libc is None:
        return False
    mmap_threshold = MMAP_THRESHOLD_MAX if enabled else DEFAULT_THRESHOLD
    trim_threshold = 2**31 - 1 if enabled else DEFAULT_THRESHOLD  # mallopt takes an int
    ok_mmap = libc.mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    ok_trim = libc.mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1
    return ok_mmap and ok_trim
