#!/usr/bin/env python3
"""Set up the virtual environment and run tradehall or its tests.

Usage:
    python3 dev.py run [ARGS...]   set up .venv (and the mypyc-compiled engine core when a C
                                   compiler is there), build the web app when its sources
                                   changed, then run the platform: `tradehall serve` with the
                                   live demo market (or `tradehall ARGS`)
    python3 dev.py test [ARGS...]  set up .venv with the dev tools, build the web app when
                                   stale, install Debian's chromium for the browser tests when
                                   missing, then lint, type-check, test; without ARGS also
                                   compile the engine core with mypyc and run its tests again
                                   against the compiled modules

Only the standard library is used here, so this works on a fresh machine with Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / "bin"
WEB = ROOT / "web"
WEB_DIST = ROOT / "src" / "tradehall" / "entrypoints" / "web" / "dist"
CHROMIUM = Path("/usr/bin/chromium")


def _python() -> str:
    return str(BIN / "python")


def _in_ci() -> bool:
    return os.environ.get("CI") == "true"


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


def _web_digest() -> str:
    """Hash of everything the web build reads: its sources, the lock and the API description."""
    names = ["package.json", "package-lock.json", "index.html", "fallback.html", "desk.html",
             "vite.config.ts",
             "tsconfig.json", "openapi.json"]
    files = [WEB / n for n in names]
    files += sorted(p for p in (WEB / "src").rglob("*") if p.is_file() and p.name != "schema.d.ts")
    digest = hashlib.sha256()
    for path in files:
        if path.exists():
            digest.update(str(path.relative_to(WEB)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_web() -> int:
    """Build web/ into the package's dist/ when its sources or the API changed (a stamp).

    `npm ci` runs when node_modules is missing or older than package-lock.json.
    """
    if not (WEB / "package.json").exists():
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print("no npm: the web app is not built (it needs node 20 and npm)", flush=True)
        return 1 if _in_ci() else 0
    openapi = [_python(), "-m", "tradehall.entrypoints.web.openapi", str(WEB / "openapi.json")]
    code = _step(openapi)
    if code != 0:
        return code
    digest = _web_digest()
    stamp = WEB_DIST / ".build-stamp"
    if stamp.exists() and stamp.read_text() == digest and (WEB_DIST / "index.html").exists():
        return 0
    lock = hashlib.sha256((WEB / "package-lock.json").read_bytes()).hexdigest()
    installed = WEB / "node_modules" / ".installed-lock"
    if not installed.exists() or installed.read_text() != lock:
        code = _step([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB)
        if code != 0:
            return code
        installed.write_text(lock)
    code = _step([npm, "run", "build"], cwd=WEB)
    if code == 0:
        stamp.write_text(digest)
    return code


def test_web() -> int:
    """Run the web app's unit tests (vitest: exact decimals, the ticket's checks)."""
    npm = shutil.which("npm")
    if npm is None or not (WEB / "package.json").exists():
        return 1 if _in_ci() else 0  # build_web already said why
    return _step([npm, "test", "--silent"], cwd=WEB)


def _apt_install(package: str, present: Callable[[], bool]) -> bool:
    """Install a Debian package when `present()` says it is missing (as root); True if there."""
    if present():
        return True
    apt = shutil.which("apt-get")
    if apt is not None and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [apt, "install", "-y", "-q", "--no-install-recommends", package]
        if _step(install, env) != 0:
            _step([apt, "update", "-q"], env)
            _step(install, env)
    return present()


def _missing(problem: str, skipped: str) -> int:
    """Under CI=true a missing tool fails the run; elsewhere its tests skip."""
    if _in_ci():
        print(f"FAILED: {problem}", flush=True)
        return 1
    print(f"note: {problem}; {skipped} are skipped", flush=True)
    return 0


def ensure_chromium() -> int:
    """Install Debian's chromium for the browser tests when it is missing."""
    if _apt_install("chromium", CHROMIUM.exists):
        return 0
    return _missing(f"chromium is missing ({CHROMIUM}) and could not be installed: run "
                    "`apt-get install -y chromium` as root", "the browser tests (tests/browser)")


def _nats_server_present() -> bool:
    return any(shutil.which(p) for p in ("nats-server", "/usr/sbin/nats-server"))


def ensure_nats_server() -> int:
    """Install Debian's nats-server for the scale-out tests (each starts a private one)."""
    if _apt_install("nats-server", _nats_server_present):
        return 0
    return _missing("nats-server is missing and could not be installed: run "
                    "`apt-get install -y nats-server` as root", "the scale-out tests")


def run(args: list[str]) -> int:
    ensure_venv("dev")
    if build_web() != 0:
        print("the web app did not build: serving the API without it", flush=True)
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
    for prepare in (build_web, test_web, ensure_chromium, ensure_nats_server):
        code = prepare()
        if code != 0:
            return code
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


def _step(step: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> int:
    print("+", " ".join(Path(step[0]).name if i == 0 else a for i, a in enumerate(step)),
          flush=True)
    code = subprocess.run(step, cwd=cwd, check=False, env=env).returncode
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
                  "tests/unit/journal", "tests/scenarios"], env)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"run", "test"}:
        print(__doc__)
        return 2
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    action, rest = sys.argv[1], sys.argv[2:]
    return run(rest) if action == "run" else test(rest)


if __name__ == "__main__":
    sys.exit(main())
