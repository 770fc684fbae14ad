"""One BLAS thread for the calling thread, where numpy's OpenBLAS allows it.

The CAM++ forward pass is a series of mid-sized matrix products. On the 2 shared cores this was
measured on, OpenBLAS's own threading made them 3x slower (32 windows: 7.1 s against 2.3 s with
one thread), so the encoder runs each batch on one BLAS thread and gets its parallelism from
running batches in several Python threads (numpy releases the GIL in matmul). OpenBLAS >= 0.3.27
has a per-thread setting (`openblas_set_num_threads_local`), so nothing changes for the rest of
the process. Where the symbol is missing (another BLAS), this does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_lock = threading.Lock()
_resolved = False
_set_local: Callable[[int], int] | None = None


def _find() -> Callable[[int], int] | None:
    libs = Path(np.__file__).parent.parent / "numpy.libs"
    for path in sorted(libs.glob("libscipy_openblas*.so*")) + sorted(libs.glob("libopenblas*.so*")):
        try:
            lib = ctypes.CDLL(str(path))
            fn = lib.openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_int]
        fn.restype = ctypes.c_int
        return fn
    log.debug("no per-thread OpenBLAS setting found: BLAS threads stay as configured")
    return None


def _setter() -> Callable[[int], int] | None:
    global _resolved, _set_local
    with _lock:
        if not _resolved:
            _set_local = _find()
            _resolved = True
        return _set_local


@contextmanager
def single_blas_thread() -> Iterator[None]:
    """Run the block with one OpenBLAS thread in this thread, then restore the setting."""
    setter = _setter()
    if setter is None:
        yield
        return
    previous = setter(1)
    try:
        yield
    finally:
        setter(previous)
