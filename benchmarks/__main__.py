"""Run every benchmark package (``benchmarks/<name>/__main__.py``), or those named.

Each runs in its own process (``python -m benchmarks.<name>``) with numpy's
BLAS limited to one thread, so figures are per core; the exit status is the
number of benchmarks that failed (0 when all ran).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def available() -> list[str]:
    return sorted(p.parent.name for p in HERE.glob("*/__main__.py"))


def main(argv=None) -> int:
    names = available()
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default all: {', '.join(names)})")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        ap.error(f"unknown benchmark {', '.join(unknown)}: expected one of {', '.join(names)}")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    failed = []
    for name in args.names or names:
        print(f"\n=== benchmarks.{name} ===", flush=True)
        t0 = time.time()
        status = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"], cwd=HERE.parent, env=env).returncode
        print(f"=== benchmarks.{name}: exit {status}, {time.time() - t0:.0f} s ===", flush=True)
        if status:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return len(failed)


if __name__ == "__main__":
    raise SystemExit(main())
