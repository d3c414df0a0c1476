"""Keep the allocators from holding on to what a bulk job frees: settings of the whole process,
so only the CLI, which owns its process, makes them (:func:`keep_memory_flat`).

Arrow's default allocator (mimalloc) keeps freed part-file buffers, so Arrow is told to use the
system allocator (``ARROW_DEFAULT_MEMORY_POOL=system``, unless the environment says otherwise).

A job's worker threads parse answers of tens of kilobytes each, and a block (a Parquet part, a
LanceDB fragment) is built from buffers of several megabytes. glibc's malloc starts by serving
buffers above 128 KiB with ``mmap`` (given back when freed), but raises that threshold each time
such a buffer is freed, up to 32 MiB; from then on the large buffers come from the heap arenas of
the worker threads, which keep their free pages. A job's resident memory then crept up with the
corpus (Parquet: 236 MiB for 30,000 rows against 180 for 3,000) although nothing was held.

Fixing the threshold at glibc's own default (``mallopt(M_MMAP_THRESHOLD, 128 KiB)``, which also
turns the moving threshold off, as ``MALLOC_MMAP_THRESHOLD_`` does) keeps it flat (184 MiB).
Elsewhere (musl, macOS) there is nothing to set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["keep_memory_flat"]

M_MMAP_THRESHOLD = -3  # glibc's malloc.h
THRESHOLD = 128 * 1024  # glibc's default starting threshold


def keep_memory_flat() -> None:
    """Both settings of the module docstring; call before the first large buffer."""
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")  # read when pyarrow is imported
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:  # the user's own setting wins
        _fix_mmap_threshold()


def _fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at its default; False where there is no glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD))
