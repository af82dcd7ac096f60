"""Reading long audio files: peak memory and time of ``phonesim decode`` and ``phonesim threeway``.

A recording of a whole visiting-day shift is hours long; a reader that holds the
file (or, worse, float64 copies of it at 48 kHz) in memory needs gigabytes.  This
writes a long 48 kHz 16-bit stereo WAV (quiet noise, the keys ``1234567890*#``
once a minute on the left, a hook flash once a minute on the right) and runs, each
in its own process, measuring its peak resident memory (``ru_maxrss``) and wall time:

* ``phonesim decode FILE``                           (the digits are checked)
* ``phonesim threeway --json FILE``                  (far end = right channel)
* peer: ``sox FILE -t raw -r 22050 -c 1 - | multimon-ng -a DTMF -t raw -``
  (C tools, streaming; the sum of both processes' peaks)

Peaks are printed side by side with their ratio to the peer.  Figures depend on
the machine; nothing is asserted.  ``--minutes 120`` (the default) needs
1.4 GB of free disk in the temporary folder.

How memory is measured: ``os.wait4`` gives each child's ``ru_maxrss``.  Linux
counts in it the resident size of the process that forked it, so the recording
is written by a separate process and this one stays small (it imports no numpy):
its own size, printed as the floor, is included in every figure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

RATE_HZ = 48000
KEYS = "1234567890*#"
BLOCK_S = 60


def write_long_wav(path: Path, minutes: float, *, seed: int = 1) -> str:
    """A stereo 48 kHz recording of ``minutes``; returns the digits it holds (left channel)."""
    import numpy as np

    from phonesim.dsp.dtmf import DtmfGenerator

    rng = np.random.default_rng(seed)
    keys = DtmfGenerator(RATE_HZ, level_dbm0=-12).digits(KEYS, on_ms=80, off_ms=80).astype(np.float64)
    n_blocks = int(round(minutes * 60 / BLOCK_S))
    n = RATE_HZ * BLOCK_S
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE_HZ)
        for _ in range(n_blocks):
            left = rng.normal(0, 30, n)
            left[RATE_HZ * 10:RATE_HZ * 10 + keys.size] += keys
            right = rng.normal(0, 300, n)
            right[RATE_HZ * 30:RATE_HZ * 30 + RATE_HZ // 2] = rng.normal(0, 1, RATE_HZ // 2)  # a flash
            block = np.clip(np.rint(np.stack([left, right], axis=1)), -32768, 32767).astype("<i2")
            w.writeframes(block.tobytes())
    return KEYS * n_blocks


def run_measured(cmd: list[str] | str, *, shell: bool = False) -> dict:
    """Run a command; its (and its children's) peak RSS in MB, wall seconds, exit status, stdout."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, shell=shell, stdout=out, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read().decode(errors="replace")
    return {"rss_mb": usage.ru_maxrss / 1024, "wall_s": wall, "status": proc.returncode, "out": stdout,
            "err": err[-500:]}


def run_pipeline(path: Path) -> dict | None:
    """sox | multimon-ng, each process measured; None when either is missing."""
    if not (shutil.which("sox") and shutil.which("multimon-ng")):
        return None
    t0 = time.perf_counter()
    sox = subprocess.Popen(["sox", str(path), "-t", "raw", "-r", "22050", "-e", "signed", "-b", "16", "-c", "1",
                            "-"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    mm = subprocess.Popen(["multimon-ng", "-q", "-a", "DTMF", "-t", "raw", "-"], stdin=sox.stdout,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    sox.stdout.close()
    out = mm.stdout.read().decode(errors="replace")
    _, _, mm_usage = os.wait4(mm.pid, 0)
    _, _, sox_usage = os.wait4(sox.pid, 0)
    mm.stdout.close()
    digits = "".join(line.split(":")[-1].strip() for line in out.splitlines() if line.startswith("DTMF"))
    return {"rss_mb": (mm_usage.ru_maxrss + sox_usage.ru_maxrss) / 1024,
            "wall_s": time.perf_counter() - t0, "status": 0, "out": digits}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.files", description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[120.0],
                    help="length(s) of the test recording (default 120)")
    ap.add_argument("--keep", metavar="DIR", help="write the recordings here and keep them")
    ap.add_argument("--write", metavar="PATH", help=argparse.SUPPRESS)  # the writer's own process
    args = ap.parse_args(argv)
    if args.write:
        write_long_wav(Path(args.write), args.minutes[0])
        return 0
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="phonesim-files-"))
    folder.mkdir(parents=True, exist_ok=True)
    phonesim = [sys.executable, "-m", "phonesim"]
    import resource

    floor_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"floor (this process, counted in every figure): {floor_mb:.0f} MB")
    print(f"{'recording':<22} {'reader':<34} {'peak RSS':>10} {'vs peer':>8} {'wall':>8}  result")
    try:
        for minutes in args.minutes:
            path = folder / f"long-{minutes:g}min.wav"
            if not path.exists():
                subprocess.run([sys.executable, "-m", "benchmarks.files", "--write", str(path),
                                "--minutes", str(minutes)], check=True)
            expected = KEYS * int(round(minutes * 60 / BLOCK_S))
            size_mb = path.stat().st_size / 1e6
            label = f"{minutes:g} min, {size_mb:,.0f} MB"
            peer = run_pipeline(path)
            rows = [("phonesim decode", run_measured(phonesim + ["decode", str(path)])),
                    ("phonesim threeway --json", run_measured(phonesim + ["threeway", "--json", str(path)]))]
            if peer is not None:
                rows.append(("peer: sox | multimon-ng", peer))
            for name, r in rows:
                if name == "phonesim decode":
                    result = "digits ok" if r["out"].strip() == expected else \
                        f"digits WRONG (status {r['status']}) {r['err'][-200:]}"
                elif name.startswith("phonesim threeway"):
                    result = f"{len(r['out'].splitlines())} line(s), status {r['status']}"
                else:
                    result = "digits ok" if r["out"] == expected else f"{len(r['out'])}/{len(expected)} digits"
                ratio = f"{r['rss_mb'] / peer['rss_mb']:.1f}x" if peer else "-"
                print(f"{label:<22} {name:<34} {r['rss_mb']:>7.0f} MB {ratio:>8} {r['wall_s']:>6.1f} s  {result}",
                      flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
