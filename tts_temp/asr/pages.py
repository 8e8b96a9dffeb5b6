"""Memory given back to the kernel while a model loads: the pages of a memory-mapped checkpoint as
its tensors are used up, and the free heap left by quantising.

Why: `torch.load(mmap=True)` maps the whole file once, and every page the loader reads stays in
the process's resident set (file-backed, but counted in RSS and in its peak, VmHWM) until the last
tensor of the file is freed, that is, until the whole model is built. Giving each tensor's pages
back once it has been copied keeps the peak of a load near the finished model instead of the model
plus the file (docs/benchmarks.md).

What is released (madvise MADV_DONTNEED) is chosen so that no byte anyone still reads can change:
only whole pages inside the bytes of stored tensors that are all used up (tensors that overlap,
views of one storage, count as one group), and only inside a mapping of that very file as
/proc/self/maps lists it, never the heap. A released page of a private file mapping would read
back from the file; nothing reads it again. Where any of this is unavailable (not Linux, no
/proc), nothing is released and the loader holds the file as before.

glibc's malloc keeps freed memory in its heap, and once a few megabyte-sized blocks have been freed
it serves blocks of that size from the heap instead of fresh mappings; quantising a model layer by
layer frees temporaries (a weight's float32 blocks) between the packed weights that stay, so the
heap grew by tens of megabytes of free holes (tiny.en: 20-50 MB, varying from run to run).
`trim_heap` (malloc_trim) gives the free pages back; elsewhere than glibc it does nothing. The loader
calls it after the linear layers and at the end, not after every layer: each call hands pages back
that the next layer's temporaries fault in again (that made a load 0.3-0.5 s slower, no lower peak)."""
from __future__ import annotations

import bisect
import ctypes
import mmap
import os
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor

_PAGE = mmap.PAGESIZE


def _file_ranges(path: Path) -> list[tuple[int, int]]:
    """The address ranges where this process maps `path` (empty where /proc/self/maps is missing)."""
    target = os.path.realpath(path)
    ranges = []
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(maxsplit=5)
                if len(fields) == 6 and fields[5] == target:
                    start, end = fields[0].split("-")
                    ranges.append((int(start, 16), int(end, 16)))
    except OSError:
        return []
    return sorted(ranges)


def _madvise() -> Callable[[int, int, int], int] | None:
    function = _libc_function("madvise")
    if function is None or getattr(mmap, "MADV_DONTNEED", None) is None or not os.path.exists("/proc/self/maps"):
        return None
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


def _libc_function(name: str) -> Callable | None:
    try:
        return getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _libc_function("malloc_trim")


def trim_heap() -> None:
    """Give the heap's free pages back to the kernel (glibc's malloc_trim; nothing elsewhere)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _span(tensor: Tensor) -> tuple[int, int]:
    """The bytes a tensor reads: its own for a dense one, its storage's otherwise (a safe over-count)."""
    if tensor.is_contiguous():
        start = tensor.data_ptr()
        return start, start + tensor.numel() * tensor.element_size()
    storage = tensor.untyped_storage()
    return storage.data_ptr(), storage.data_ptr() + storage.nbytes()


class MappedPages:
    """Tracks the stored tensors of one mapped file; `used(name)` says a tensor has been copied, and
    the pages of its group go back to the kernel when the whole group has been."""

    def __init__(self, path: str | os.PathLike, tensors: dict[str, object]):
        self._madvise = _madvise()
        self._ranges = _file_ranges(Path(path)) if self._madvise is not None else []
        spans = sorted((*_span(t), name) for name, t in tensors.items()
                       if isinstance(t, Tensor) and t.device.type == "cpu" and t.layout == torch.strided
                       and t.numel() > 0)
        self._group: dict[str, int] = {}
        self._left: list[int] = []  # tensors not yet used, per group
        self._bytes: list[tuple[int, int]] = []  # what each group covers
        self._sole: list[bool] = []  # a group of one tensor
        for start, end, name in spans:
            if self._bytes and start < self._bytes[-1][1]:  # overlaps the group before
                self._bytes[-1] = (self._bytes[-1][0], max(end, self._bytes[-1][1]))
                self._left[-1] += 1
                self._sole[-1] = False
            else:
                self._bytes.append((start, end))
                self._left.append(1)
                self._sole.append(True)
            self._group[name] = len(self._bytes) - 1
        self.released = 0  # bytes given back

    def used(self, name: str, part: Tensor | None = None) -> None:
        """`name`'s tensor has been copied and will not be read again; with `part` (a slice of it),
        only that part, whose pages go back at once where no other tensor reads them."""
        group = self._group.get(name)
        if group is None:
            return
        if part is not None:
            if self._left[group] == 1 and self._sole[group]:
                self._release(*_span(part))
            return
        del self._group[name]
        self._left[group] -= 1
        if self._left[group] == 0:
            self._release(*self._bytes[group])

    def _release(self, start: int, end: int) -> None:
        first, last = -(-start // _PAGE) * _PAGE, end // _PAGE * _PAGE  # whole pages inside
        if self._madvise is None or last <= first:
            return
        i = bisect.bisect_right(self._ranges, (first, float("inf"))) - 1
        if i < 0 or not (self._ranges[i][0] <= first and last <= self._ranges[i][1]):
            return  # not inside a mapping of the file: never touch it
        if self._madvise(first, last - first, mmap.MADV_DONTNEED) == 0:
            self.released += last - first
