"""Small measuring helpers shared by the benchmark scripts: percentiles, RSS, GC time, tables.

Owns no benchmark and writes no file; reads only this process's own counters
(`resource.getrusage`, `/proc/self/statm`, `gc.callbacks`).
"""

from __future__ import annotations

import gc
import os
import platform
import resource
import shlex
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any


def percentile(sorted_values: Sequence[int], fraction: float) -> int:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_bytes() -> int:
    """Current resident set size of this process, in bytes."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def print_preamble(description: str) -> None:
    """Print the exact command line, Python version and machine, as every script does."""
    executable = Path(sys.executable)
    if executable.is_relative_to(Path.cwd()):
        executable = executable.relative_to(Path.cwd())
    else:
        executable = Path(executable.name)
    print("command:", shlex.join([str(executable), *sys.argv]))
    print(f"python {platform.python_version()} ({platform.python_implementation()}), "
          f"{os.cpu_count()} cores, {description}")


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1) -> None:
    """Print a plain-text table: the first `left` columns left-aligned, the rest right."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(f"{cell:<{width}}" if i < left else f"{cell:>{width}}"
                         for i, (cell, width) in enumerate(zip(cells, widths, strict=True)))
    print(line(header))
    print("-" * len(line(header)))
    for row in rows:
        print(line(row), flush=True)


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Hide every object alive now (the generated stream) from the cyclic GC inside the block.

    The benchmark's own input would otherwise make each full collection walk hundreds of
    thousands of objects that are not the engine's; objects created inside the block (the
    engine under test) are collected as usual.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


class GcTimer:
    """Context manager adding up the time the cyclic garbage collector runs inside it."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.ns = 0
        self.collections = 0
        self._started = 0
        self._was_enabled = True

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter_ns()
        else:
            self.ns += time.perf_counter_ns() - self._started
            self.collections += 1

    def __enter__(self) -> GcTimer:
        gc.collect()
        self._was_enabled = gc.isenabled()
        if self.enabled:
            gc.enable()
        else:
            gc.disable()
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        gc.callbacks.remove(self._callback)
        if self._was_enabled:
            gc.enable()
        else:
            gc.disable()
