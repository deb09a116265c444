"""`tradehall bench`: run a benchmark of `bench/` by name, with its own options.

The benchmarks are scripts in the repository's `bench/` folder (not part of the installed
package); this command finds the folder (the current directory's `bench/`, else the one next
to the source tree), lists the scripts, and runs one with the same Python interpreter,
passing every further argument through. It only starts the script; what a benchmark measures
and prints is the script's business (targets are loopback only).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

import tradehall
from tradehall.entrypoints.cli.offline import fail

# Helpers of the benchmarks, not benchmarks themselves.
_NOT_BENCHMARKS = frozenset({"baseline_book", "build_compiled", "measure", "streams"})


def bench_dir() -> Path | None:
    """Return the benchmarks folder, or None when there is none (installed without sources)."""
    here = Path.cwd() / "bench"
    source = Path(tradehall.__file__).resolve().parents[2] / "bench"
    for candidate in (here, source):
        if candidate.is_dir():
            return candidate
    return None


def available(folder: Path) -> dict[str, Path]:
    """Return the benchmarks by name: `engine` for `engine_bench.py`, and so on."""
    out = {}
    for path in sorted(folder.glob("*.py")):
        if path.stem.startswith("_") or path.stem in _NOT_BENCHMARKS:
            continue
        out[path.stem.removesuffix("_bench")] = path
    return out


def _summary(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").split('"""', 2)
    return lines[1].strip().splitlines()[0] if len(lines) > 2 else ""


def bench(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(
        help="Benchmark to run (e.g. engine, host, journal); without it, list them.")] = None,
) -> None:
    """Run a benchmark of bench/ by name; further arguments go to the script (its own help:
    `tradehall bench NAME -- --help`)."""
    folder = bench_dir()
    if folder is None:
        raise fail("no bench/ folder here: run from the repository root")
    scripts = available(folder)
    if name is None:
        width = max((len(n) for n in scripts), default=0)
        for bench_name, path in scripts.items():
            typer.echo(f"{bench_name:<{width}}  {_summary(path)}")
        return
    script = scripts.get(name) or scripts.get(name.removesuffix("_bench"))
    if script is None:
        raise fail(f"no benchmark named {name!r}; choose one of {', '.join(scripts)}")
    # The interpreter running tradehall and a script found in bench/: no shell, no lookup.
    argv = [sys.executable, str(script), *ctx.args]
    code = subprocess.run(argv, check=False).returncode  # noqa: S603
    raise typer.Exit(code)
