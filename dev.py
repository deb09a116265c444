#!/usr/bin/env python3
"""Set up the virtual environment and run tradehall or its tests.

Usage:
    python3 dev.py run [ARGS...]   set up .venv (and the mypyc-compiled engine core when a C
                                   compiler is there), then run the platform: `tradehall
                                   serve` with the live demo market (or `tradehall ARGS`)
    python3 dev.py test [ARGS...]  set up .venv with the dev tools, then lint, type-check, test;
                                   without ARGS also compile the engine core with mypyc and run
                                   its tests again against the compiled modules

Only the standard library is used here, so this works on a fresh machine with Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"


def _python() -> str:
    return str(BIN / "python")


def _sh(*args: str) -> None:
    print("+", " ".join(args), flush=True)
    subprocess.run(args, cwd=ROOT, check=True)


def ensure_venv(extras: str) -> None:
    """Create .venv if missing and install the pinned dependencies when pyproject changed."""
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV.name}/", flush=True)
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = VENV / f".installed-{extras or 'base'}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    target = f".[{extras}]" if extras else "."
    _sh(_python(), "-m", "pip", "install", "--quiet", "-e", target)
    stamp.write_text(digest)


def run(args: list[str]) -> int:
    ensure_venv("dev")
    cmd = [str(BIN / "tradehall"), *(args or ["serve"])]
    child = subprocess.Popen(cmd, cwd=ROOT, env=_compiled_env())
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue  # Ctrl-C reached the child too: wait for its clean stop


def _compiled_env() -> dict[str, str] | None:
    """Build the mypyc-compiled engine if stale and return an environment that uses it.

    Returns None (plain sources) when there is no C compiler or the build fails.
    """
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        print("no C compiler: running the engine from plain Python sources", flush=True)
        return None
    out = ROOT / "build" / "compiled"
    build = [_python(), "bench/build_compiled.py", "--out", str(out), "--if-stale"]
    if subprocess.run(build, cwd=ROOT, check=False).returncode != 0:
        print("mypyc build failed: running the engine from plain Python sources", flush=True)
        return None
    return {**os.environ, "PYTHONPATH": str(out)}


def test(args: list[str]) -> int:
    ensure_venv("dev")
    steps = [
        [str(BIN / "ruff"), "check", "src", "tests", "bench", "dev.py"],
        [str(BIN / "mypy")],
        [str(BIN / "lint-imports")],
        [_python(), "-m", "pytest", "-n", "2", "--dist", "loadfile", *args],
    ]
    for step in steps:
        code = _step(step)
        if code != 0:
            return code
    if args:
        return 0  # a selection of tests was asked for: skip the compiled pass
    return test_compiled()


def _step(step: list[str], env: dict[str, str] | None = None) -> int:
    print("+", " ".join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step)),
          flush=True)
    code = subprocess.run(step, cwd=ROOT, check=False, env=env).returncode
    if code != 0:
        print(f"FAILED: {Path(step[0]).name} exited with {code}", flush=True)
    return code


def test_compiled() -> int:
    """Compile the engine core with mypyc into build/compiled and run its tests against it.

    The compiled copy lives outside src/, so it can never shadow an edited module. Without a C
    compiler the pass is skipped, except in CI, where it must run.
    """
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        if os.environ.get("CI") == "true":
            print("FAILED: no C compiler for the mypyc pass", flush=True)
            return 1
        print("skipping the compiled pass: no C compiler (cc/gcc) on this machine", flush=True)
        return 0
    out = ROOT / "build" / "compiled"
    code = _step([_python(), "bench/build_compiled.py", "--out", str(out), "--if-stale"])
    if code != 0:
        return code
    env = {**os.environ, "PYTHONPATH": str(out)}
    check = ("import tradehall.engine.orderflow as m, sys; "
             "sys.exit(0 if m.__file__.endswith('.so') else 'compiled module not loaded')")
    code = _step([_python(), "-c", check], env)
    if code != 0:
        return code
    return _step([_python(), "-m", "pytest", "-n", "2", "--dist", "loadfile", "-p",
                  "no:cacheprovider", "tests/unit/engine", "tests/unit/kernel",
                  "tests/scenarios"], env)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        print(__doc__)
        return 2
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    action, rest = sys.argv[1], sys.argv[2:]
    return run(rest) if action == "run" else test(rest)


if __name__ == "__main__":
    sys.exit(main())
