"""Build a mypyc-compiled copy of the engine core, for measuring what compilation gains.

Copies `src/tradehall` into an output folder and compiles the hot-path modules there with
mypyc (shipped with mypy in the dev tools; needs a C compiler). The repository's own sources
are never touched, so no stale binary can shadow an edited module. Use the copy by putting it
first on the path:

    .venv/bin/python bench/build_compiled.py --out build/compiled
    PYTHONPATH=build/compiled .venv/bin/python bench/engine_bench.py
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = (
    "tradehall/engine/book.py",
    "tradehall/engine/reference_book.py",
    "tradehall/engine/orders.py",
    "tradehall/engine/orderflow.py",
    "tradehall/engine/fill_or_kill.py",
    "tradehall/engine/liquidation.py",
    "tradehall/engine/settlement.py",
    "tradehall/engine/matcher.py",
    "tradehall/engine/risk.py",
    "tradehall/trading/positions.py",
    "tradehall/ledger/model.py",
    "tradehall/trading/instrument.py",
    "tradehall/journal/codec.py",
)


STAMP = ".source-digest"


def source_digest() -> str:
    """Digest of every source file of the package, so a stale build can be told apart."""
    digest = hashlib.sha256()
    package = ROOT / "src" / "tradehall"
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "compiled")
    parser.add_argument("--if-stale", action="store_true",
                        help="do nothing when the build matches the current sources")
    parser.add_argument("--keep-c", action="store_true",
                        help="keep the generated C under OUT/build (to read what a line became)")
    args = parser.parse_args()
    out: Path = args.out.resolve()
    digest = source_digest()
    stamp = out / STAMP
    if args.if_stale and stamp.exists() and stamp.read_text() == digest:
        print(f"compiled engine in {out} is up to date")
        return 0
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    shutil.copytree(ROOT / "src" / "tradehall", out / "tradehall",
                    ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    mypyc = Path(sys.executable).parent / "mypyc"
    result = subprocess.run([str(mypyc), *MODULES], cwd=out, check=False,
                            capture_output=True, text=True)
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n")
        return result.returncode
    if not args.keep_c:
        shutil.rmtree(out / "build", ignore_errors=True)
    built = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.so"))
    stamp.write_text(digest)
    print(f"compiled {len(built)} extension modules into {out}")
    print(f"use: PYTHONPATH={out} .venv/bin/python bench/engine_bench.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
