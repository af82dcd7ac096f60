"""DTMF detection benchmark: phonesim vs spandsp vs multimon-ng on one test set.

Run: ``python -m benchmarks.dtmf`` (``make bench`` runs it too).  Options:
``--pins N`` realistic PIN strings (default 1000), ``--quick`` for a smoke run,
``--minutes M`` length of each long file (default 3), ``--throughput-only`` only
the long files, ``--digits-out FILE`` every digit phonesim reports on every case
and long file, all fields, as JSON lines (to check a detector change leaves them
bit for bit as they were).

What it does:

1. compiles ``spandsp_dtmf.c`` (a few lines around spandsp's ``dtmf_rx`` with
   its default parameters) against Debian's libspandsp-dev into ``benchmarks/out/``;
2. generates the test set: the ITU-T Q.24 / Bellcore categories of the DTMF
   targets in docs/architecture.md (digits, frequency, twist, level, duration, dropouts, 6 dB SNR),
   talk-off on real speech (codec2-examples, three levels) and on the project's
   prompts, and realistic PIN strings (see ``conditions.realistic_pin``); every
   case ends with 100 ms of silence so each decoder can finish its last digit;
3. decodes every case with phonesim (in process), spandsp (the harness, all
   files of a category in one process) and multimon-ng (``-a DTMF -t raw``; it
   only reads 22 050 Hz raw, so its input is resampled once, beforehand);
4. measures throughput in audio seconds per CPU second (user + system;
   children's rusage for the peers, less their start-up on an empty file) on
   call-like audio, on PIN strings back to back, and on the long files of
   ``long_files`` (white noise at four levels, babble, music, back-to-back
   keying, the noisy DTMF test mix), each with the ratio phonesim/spandsp and
   the CPU one line costs per 20 ms frame (one ``DtmfDetector()`` fed frame by
   frame, as the facility runs it).  phonesim is measured in process running
   what ``phonesim decode`` runs once it has read the file
   (``phonesim.commands.decode.decode_samples``: the detector's batch path,
   every digit with all its fields).  Then, on the file where phonesim fares
   worst against spandsp: the CPU per line and frame when 8, 32 and 128 lines
   share one ``DtmfDetector(channels=n)``, phonesim's streaming capacity
   (channels decoded in real time on one core, 160-sample frames), and both
   programs measured from outside (whole-process CPU, start-up included); and
   the report delay after a tone ends;
5. prints one table.

numpy's BLAS is limited to one thread here, so every figure is one core.
"""

from __future__ import annotations

import os

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_USER_THREAD_VARS = {var for var in _THREAD_VARS if var in os.environ}  # as the user set them
for _var in _THREAD_VARS:
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import wave  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from scipy.signal import resample_poly  # noqa: E402

from benchmarks.dtmf.conditions import (  # noqa: E402
    band_noise,
    g711_round_trip,
    mean_power,
    melody,
    realistic_pin,
    speech_files,
    telephone_band,
    to_int16,
)
from benchmarks.dtmf.long_files import long_files  # noqa: E402
from phonesim.commands.decode import decode_samples  # noqa: E402
from phonesim.dsp.dtmf import COL_HZ, DIGIT_FREQS_HZ, KEYS, ROW_HZ, DtmfDetector, DtmfGenerator  # noqa: E402
from phonesim.hw.audio_file import read_wav_as_line  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "benchmarks" / "out"
HARNESS_SRC = Path(__file__).with_name("spandsp_dtmf.c")
TAIL = np.zeros(800, dtype=np.int16)
DECODERS = ("phonesim", "spandsp", "multimon-ng")


@dataclass
class Category:
    """A set of cases scored together: ``kind`` "exact" (share of cases decoded
    exactly) or "false" (digits reported where there are none)."""

    key: str
    label: str
    kind: str = "exact"
    cases: list[tuple[np.ndarray, str]] = field(default_factory=list)

    def add(self, audio, expected: str) -> None:
        self.cases.append((np.concatenate([to_int16(audio), TAIL]), expected))


# ---------------------------------------------------------------- test set
def build_test_set(n_pins: int, quick: bool) -> list[Category]:
    rng = np.random.default_rng(20261129)
    gen = DtmfGenerator(level_dbm0=-10.0, twist_db=0.0)
    cats: list[Category] = []
    keys = KEYS if not quick else "159#"

    def cat(key, label, kind="exact"):
        c = Category(key, label, kind)
        cats.append(c)
        return c

    c = cat("digits", "every digit x10 (50 ms on/off, -10 dBm0)")
    for k in keys:
        c.add(gen.digits(k * 10, on_ms=50, off_ms=50, lead_ms=20), k * 10)

    def tone_cases(c, errors, expect):
        for tone_hz in ROW_HZ + COL_HZ:
            digit, which = next((d, 0 if p[0] == tone_hz else 1) for d, p in DIGIT_FREQS_HZ.items()
                                if tone_hz in p)
            for err in errors:
                fe = (err, 0.0) if which == 0 else (0.0, err)
                c.add(gen.digits(digit * 3, on_ms=60, off_ms=60, lead_ms=20, freq_error=fe),
                      digit * 3 if expect else "")

    tone_cases(cat("freq_ok", "each tone +-1.5 % off: decoded"), (-0.015, 0.015), True)
    tone_cases(cat("freq_bad", "each tone +-3.5 % / +-5 % off: rejected"), (-0.05, -0.035, 0.035, 0.05), False)
    c = cat("twist_ok", "twist -8 dB (high weaker) / +4 dB: decoded")
    for k in keys:
        for tw in (-8.0, 4.0):
            c.add(gen.digits(k * 3, on_ms=60, off_ms=60, lead_ms=20, twist_db=tw), k * 3)
    c = cat("twist_bad", "twist -12 dB / +8 dB: rejected")
    for k in keys:
        for tw in (-12.0, 8.0):
            c.add(gen.digits(k * 3, on_ms=60, off_ms=60, lead_ms=20, twist_db=tw), "")
    c = cat("level_ok", "levels -3, -10, -20, -30, -40, -45 dBm0 per tone: decoded")
    for lvl in (-3.0, -10.0, -20.0, -30.0, -40.0, -45.0):
        c.add(gen.digits(keys, on_ms=50, off_ms=50, lead_ms=20, level_dbm0=lvl), keys)
    c = cat("level_bad", "levels -55, -60 dBm0: silent")
    for lvl in (-55.0, -60.0):
        c.add(gen.digits(keys, on_ms=50, off_ms=50, lead_ms=20, level_dbm0=lvl), "")
    c = cat("dur_ok", "40 ms tones, 40 ms gaps, 3 grid phases: decoded")
    for k in keys:
        for lead in (0, 17, 34):
            c.add(gen.digits(k * 3, on_ms=40, off_ms=40, lead_ms=10 + lead / 8), k * 3)
    c = cat("dur_bad", "20 ms tones, 3 grid phases: ignored")
    for k in keys:
        for lead in (0, 17, 34):
            c.add(gen.digits(k * 3, on_ms=20, off_ms=60, lead_ms=10 + lead / 8), "")
    c = cat("dropout", "10 ms dropout inside a 150 ms tone: one digit")
    for k in keys:
        x = gen.digits(k, on_ms=150, lead_ms=20)
        at = int(rng.integers(60, 100)) * 8 + 160
        x[at:at + 80] = 0
        c.add(x, k)
    c = cat("pause", "20 ms pause inside a 150 ms tone: two digits")
    for k in keys:
        x = gen.digits(k, on_ms=170, lead_ms=20)
        at = int(rng.integers(60, 100)) * 8 + 160
        x[at:at + 160] = 0
        c.add(x, k * 2)
    c = cat("snr6", "6 dB SNR, white noise 300-3400 Hz (50 ms tones)")
    tone_power = mean_power(gen.digits("5", on_ms=200))
    for k in keys:
        for _ in range(3):
            x = gen.digits(k * 3, on_ms=50, off_ms=50, lead_ms=40).astype(np.float64)
            noise = band_noise(x.size, 0.0, rng)
            c.add(x + noise * np.sqrt(tone_power / 10 ** 0.6 / mean_power(noise)), k * 3)

    c = cat("talk_speech", "talk-off: real speech (codec2), -12/0/+12 dB", kind="false")
    files = speech_files()
    for path in files[: 3 if quick else None]:
        raw = np.fromfile(path, dtype="<i2").astype(np.float64)
        for gain_db in (-12.0, 0.0, 12.0):
            c.add(g711_round_trip(telephone_band(raw * 10 ** (gain_db / 20))), "")
    c = cat("talk_prompts", "talk-off: the project's prompts (audio/*.wav)", kind="false")
    for path in sorted((ROOT / "audio").glob("*.wav"))[: 5 if quick else None]:
        c.add(read_wav_as_line(path), "")
    c = cat("talk_music", "talk-off: synthetic music on hold, 10 min at -25 and -10 dBm0", kind="false")
    for i in range(2 if quick else 20):
        c.add(melody(rng, 30.0, level_dbm0=-25.0 if i % 2 else -10.0), "")
    c = cat("pins", f"realistic PIN strings ({n_pins}), exact")
    for _ in range(n_pins):
        case = realistic_pin(rng)
        c.add(case.audio, case.digits)
    return cats


# ---------------------------------------------------------------- decoders
def decode_phonesim(audio: np.ndarray) -> str:
    return "".join(DtmfDetector().feed_arrays(audio)["digit"].tolist())


def build_spandsp() -> Path | None:
    exe = OUT / "spandsp_dtmf"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    flags = ["-lspandsp"]  # Debian puts spandsp.h on the multiarch include path
    if shutil.which("pkg-config"):
        found = subprocess.run(["pkg-config", "--cflags", "--libs", "spandsp"], capture_output=True, text=True)
        if found.returncode == 0:
            flags = found.stdout.split()
    OUT.mkdir(parents=True, exist_ok=True)
    cmd = [cc, "-O2", "-o", str(exe), str(HARNESS_SRC), *flags, "-lm"]
    if subprocess.run(cmd, capture_output=True, text=True).returncode != 0:
        return None
    return exe


def children_cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_spandsp(exe: Path, paths: list[Path]) -> list[list[tuple[str, int]]]:
    """Per file: (digit, samples fed when reported)."""
    out = subprocess.run([str(exe), *map(str, paths)], capture_output=True, text=True, check=True).stdout
    results = []
    for line in out.split("\n")[: len(paths)]:
        results.append([(tok[0], int(tok[2:])) for tok in line.split()])
    return results


def run_multimon(path22: Path) -> str:
    out = subprocess.run(["multimon-ng", "-q", "-a", "DTMF", "-t", "raw", str(path22)],
                         capture_output=True, text=True, check=True).stdout
    return "".join(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("DTMF:"))


def to_22050(audio: np.ndarray) -> np.ndarray:
    return to_int16(resample_poly(audio.astype(np.float64), 441, 160))


# ------------------------------------------------------------------ scoring
def score(cat: Category, got: list[str]) -> str:
    if cat.kind == "false":
        return str(sum(len(g) for g in got))
    ok = sum(g == exp for g, (_, exp) in zip(got, cat.cases, strict=True))
    return f"{100 * ok / len(cat.cases):.1f} %" if len(cat.cases) > 20 else f"{ok}/{len(cat.cases)}"


def throughput(audio: np.ndarray, spandsp: Path | None, work: Path, repeats: int = 3) -> dict[str, float]:
    """Audio seconds per CPU second of each decoder on one long file (best of ``repeats``).

    A peer's process start-up (its CPU time on an empty file) is subtracted, so
    a peer is not slowed by loading its libraries; phonesim runs in process,
    as ``phonesim decode`` runs it once the file is read (``decode_samples``:
    every digit with all its fields).
    """
    seconds = audio.size / 8000
    res = {"phonesim": seconds / min(_cpu(lambda: decode_samples(audio)) for _ in range(repeats))}
    p8, p22, empty = work / "long.raw", work / "long.22k.raw", work / "empty.raw"
    audio.astype("<i2").tofile(p8)
    empty.write_bytes(b"")
    if spandsp is not None:
        res["spandsp"] = seconds / _children_best(lambda path: run_spandsp(spandsp, [path]), p8, empty, repeats)
    if shutil.which("multimon-ng"):
        to_22050(audio).astype("<i2").tofile(p22)
        res["multimon-ng"] = seconds / _children_best(run_multimon, p22, empty, repeats)
    return res


def _children_best(run, path: Path, empty: Path, repeats: int) -> float:
    """Least CPU time (children's user + system) of ``repeats`` runs of ``run(path)``, less
    the least of ``run(empty)``."""

    def best(p):
        times = []
        for _ in range(repeats):
            t0 = children_cpu_s()
            run(p)
            times.append(children_cpu_s() - t0)
        return min(times)

    return max(best(path) - best(empty), 1e-4)


def format_throughput(res: dict[str, float]) -> dict[str, str]:
    out = {k: f"{v:,.0f}x" for k, v in res.items()}
    if "multimon-ng" in out:
        out["multimon-ng"] += " (at 22.05 kHz)"
    if "spandsp" in res:
        out["phonesim"] += f" ({res['phonesim'] / res['spandsp']:.2f} of spandsp)"
    return out


def _cpu(fn) -> float:
    t0 = time.process_time()
    fn()
    return max(time.process_time() - t0, 1e-6)


def channel_capacity(n_channels: int, pool: np.ndarray, seconds: float = 4.0) -> tuple[float, float]:
    """(channels in real time on one core, ms of CPU per 20 ms frame) for phonesim streaming:
    one ``DtmfDetector(channels=n_channels)`` fed 160-sample frames, each channel a
    different stretch of ``pool``, best of two runs."""
    rng = np.random.default_rng(5)
    n = int(seconds * 8000) // 160 * 160
    x = np.empty((n_channels, n), dtype=np.int16)
    for c in range(n_channels):
        start = int(rng.integers(0, pool.size - n))
        x[c] = pool[start:start + n]
    best_s = math.inf
    for _ in range(2):
        det = DtmfDetector(channels=n_channels)
        det.feed(x[:, :1600])  # warm up
        t0 = time.process_time()
        for at in range(1600, n, 160):
            det.feed(x[:, at:at + 160])
        best_s = min(best_s, time.process_time() - t0)
    per_frame_s = best_s / ((n - 1600) // 160)
    return n_channels * 0.020 / per_frame_s, per_frame_s * 1000


def lines_together_rows(pool: np.ndarray, label: str, counts=(8, 32, 128)) -> list[tuple[str, dict[str, str]]]:
    """CPU per line per 20 ms frame when ``n`` lines share one ``DtmfDetector(channels=n)`` (one
    feed of an (n, 160) block a frame), for a host that batches its lines' detectors."""
    rows = []
    for n in counts:
        cap, ms = channel_capacity(n, pool)
        rows.append((f"{n} lines in one detector, {label}, CPU per line per 20 ms frame",
                     {"phonesim": f"{ms * 1000 / n:.1f} us ({cap:,.0f} lines in real time)"}))
        print(f"  {n} lines together: {rows[-1][1]['phonesim']}", flush=True)
    return rows


def line_frame_cost_us(audio: np.ndarray, seconds: float = 20.0) -> float:
    """CPU microseconds per 20 ms frame of one ``DtmfDetector()`` (one line, as the
    facility runs it) fed ``seconds`` of ``audio`` frame by frame."""
    n = min(audio.size, int(seconds * 8000)) // 160 * 160
    det = DtmfDetector()
    t0 = time.process_time()
    for at in range(0, n, 160):
        det.feed(audio[at:at + 160])
    return (time.process_time() - t0) / (n // 160) * 1e6


def long_file_rows(files, spandsp: Path | None, work: Path, n_channels: int):
    """Per long file: batch throughput of the three decoders and the phonesim/spandsp
    ratio, and phonesim's cost per frame for one line; then streaming capacity on
    the file where phonesim is slowest against spandsp (the worst case)."""
    rows, ratios = [], {}
    for f in files:
        res = throughput(f.audio, spandsp, work)
        cells = format_throughput(res)
        cells["phonesim"] += f"; one line {line_frame_cost_us(f.audio):.0f} us/frame"
        rows.append((f"throughput, {f.label}, {f.seconds / 60:.1f} min", cells))
        ratios[f.key] = res["phonesim"] / res.get("spandsp", res["phonesim"])
        print(f"  {f.key}: " + ", ".join(f"{k} {v}" for k, v in cells.items()), flush=True)
    worst = min(files, key=lambda f: ratios[f.key])
    rows += lines_together_rows(worst.audio, f"on the worst case ({worst.label})")
    cap, ms = channel_capacity(n_channels, worst.audio)
    rows.append((f"streaming channels in real time, one core, on the worst case ({worst.label})",
                 {"phonesim": f"{cap:,.0f} ({ms:.2f} ms CPU per frame for {n_channels})"}))
    rows.append((f"from outside: a program decoding the worst case ({worst.seconds / 60:.1f} min), "
                 "CPU of the whole process, start-up included", from_outside(worst.audio, spandsp, work)))
    return rows, worst


def from_outside(audio: np.ndarray, spandsp: Path | None, work: Path) -> dict[str, str]:
    """x real time of ``phonesim decode FILE.wav`` and of the spandsp harness as a user runs
    them: whole-process CPU (children's rusage, best of 3), start-up included, BLAS
    threads as the machine sets them."""
    wav, raw = work / "outside.wav", work / "outside.raw"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(audio.astype("<i2").tobytes())
    audio.astype("<i2").tofile(raw)
    env = {k: v for k, v in os.environ.items() if k not in _THREAD_VARS or k in _USER_THREAD_VARS}
    seconds = audio.size / 8000

    def best(cmd) -> float:
        times = []
        for _ in range(3):
            t0 = children_cpu_s()
            subprocess.run(cmd, capture_output=True, check=True, env=env, cwd=ROOT)
            times.append(children_cpu_s() - t0)
        return min(times)

    res = {"phonesim": f"{seconds / best([sys.executable, '-m', 'phonesim', 'decode', str(wav)]):,.0f}x "
                       "(phonesim decode)"}
    if spandsp is not None:
        res["spandsp"] = f"{seconds / best([str(spandsp), str(raw)]):,.0f}x"
    return res


def write_digits(path: Path, cases) -> None:
    """Every digit phonesim reports on ``cases`` ((name, audio) pairs), all fields, one JSON line per case:
    the bit-for-bit record to compare a detector change against (the batch path, as ``phonesim decode``)."""
    with open(path, "w") as out:
        for name, audio in cases:
            digits = [list(d[:6]) for d in DtmfDetector().feed_arrays(audio).tolist()]
            out.write(json.dumps({"case": name, "digits": digits}) + "\n")


def report_delay(gen_cat: Category, spandsp: Path | None, work: Path) -> dict[str, str]:
    """Delay from the end of each tone to its report (phonesim fed 1 ms chunks, spandsp 5 ms)."""
    delays = []
    for audio, _ in gen_cat.cases:
        ends = _tone_ends(audio)
        det = DtmfDetector()
        got = []
        for at in range(0, audio.size, 8):  # 1 ms chunks: the detector's own delay
            for _ in det.feed(audio[at:at + 8]):
                got.append(at + 8)
        delays += [(g - e) / 8 for g, e in zip(got, ends, strict=False)]
    res = {"phonesim": f"{np.mean(delays):.1f} ms mean, {np.max(delays):.1f} ms max after the tone ends"}
    if spandsp is not None:
        paths = []
        for i, (audio, _) in enumerate(gen_cat.cases):
            p = work / f"delay{i}.raw"
            audio.astype("<i2").tofile(p)
            paths.append(p)
        sd = []
        for (audio, _), found in zip(gen_cat.cases, run_spandsp(spandsp, paths), strict=True):
            ends = _tone_ends(audio)
            sd += [(pos - e) / 8 for (_, pos), e in zip(found, ends, strict=False)]
        res["spandsp"] = f"{np.mean(sd):.1f} ms mean (reports while the tone is on)"
    return res


def _tone_ends(audio: np.ndarray) -> list[int]:
    on = np.abs(audio.astype(np.int32)) > 0
    edges = np.flatnonzero(np.diff(on.astype(np.int8)) == -1) + 1
    # Zero crossings inside a tone are single samples; a tone end is followed by >= 80 zeros.
    return [int(e) for e in edges if not on[e:e + 80].any()]


# --------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.dtmf", description=__doc__.split("\n")[0])
    ap.add_argument("--pins", type=int, default=1000, help="realistic PIN strings (default 1000)")
    ap.add_argument("--quick", action="store_true", help="a small smoke run")
    ap.add_argument("--minutes", type=float, default=3.0, help="length of each long file (default 3)")
    ap.add_argument("--throughput-only", action="store_true",
                    help="only the long files (skip the accuracy test set)")
    ap.add_argument("--digits-out", metavar="FILE", type=Path,
                    help="write every digit phonesim reports on every case and long file (JSON lines)")
    args = ap.parse_args(argv)
    minutes = args.minutes if not args.quick else 0.5
    n_channels = 1000 if not args.quick else 100
    t_start = time.time()
    work = OUT / "dtmf"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    spandsp = build_spandsp()
    have_multimon = shutil.which("multimon-ng") is not None
    print(f"spandsp harness: {spandsp or 'not built (needs cc and libspandsp-dev)'}; "
          f"multimon-ng: {'found' if have_multimon else 'not found'}", flush=True)
    files = long_files(minutes)
    rows = []
    cats = [] if args.throughput_only else build_test_set(args.pins if not args.quick else 50, args.quick)
    if args.digits_out:
        write_digits(args.digits_out, [(f"{c.key}{i:04d}", a) for c in cats for i, (a, _) in enumerate(c.cases)]
                     + [(f.key, f.audio) for f in files])
    for cat in cats:
        got = {"phonesim": [decode_phonesim(a) for a, _ in cat.cases]}
        paths = []
        for i, (audio, _) in enumerate(cat.cases):
            p = work / f"{cat.key}{i:04d}.raw"
            audio.astype("<i2").tofile(p)
            paths.append(p)
        if spandsp is not None:
            got["spandsp"] = ["".join(d for d, _ in found) for found in run_spandsp(spandsp, paths)]
        if have_multimon:
            mm = []
            for p, (audio, _) in zip(paths, cat.cases, strict=True):
                p22 = p.with_suffix(".22k.raw")
                to_22050(audio).astype("<i2").tofile(p22)
                mm.append(run_multimon(p22))
            got["multimon-ng"] = mm
        for p in work.glob(f"{cat.key}*"):
            p.unlink()
        label = cat.label if cat.kind == "exact" else f"{cat.label} [false digits]"
        rows.append((label, {k: score(cat, v) for k, v in got.items()}))
        print(f"  {cat.key}: " + ", ".join(f"{k} {v}" for k, v in rows[-1][1].items()), flush=True)
    if cats:
        pins = next(c for c in cats if c.key == "pins")
        speech = next(c for c in cats if c.key == "talk_speech")
        # Call-like audio: speech with a PIN string about every 20 s.
        call_parts = []
        pin_iter = iter(pins.cases)
        for audio, _ in speech.cases:
            for at in range(0, audio.size, 20 * 8000):
                call_parts.append(audio[at:at + 20 * 8000])
                call_parts.append(next(pin_iter, (TAIL, ""))[0])
        call_audio = np.concatenate(call_parts)
        rows.append((f"throughput, {call_audio.size / 8000 / 60:.1f} min of speech with a PIN string every 20 s",
                     format_throughput(throughput(call_audio, spandsp, work))))
        dense = np.concatenate([a for a, _ in pins.cases])
        rows.append((f"throughput, {dense.size / 8000 / 60:.1f} min of PIN strings back to back",
                     format_throughput(throughput(dense, spandsp, work))))
        cap, ms = channel_capacity(n_channels, dense)
        rows.append(("streaming channels in real time, one core, on PIN strings (160-sample frames)",
                     {"phonesim": f"{cap:,.0f} ({ms:.2f} ms CPU per frame for {n_channels})"}))
    file_rows, worst = long_file_rows(files, spandsp, work, n_channels)
    rows += file_rows
    if cats:
        rows.append(("report delay after tone end", report_delay(cats[0], spandsp, work)))
    shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"| measure | {' | '.join(DECODERS)} |")
    print("|---|" + "---|" * len(DECODERS))
    for label, res in rows:
        print(f"| {label} | " + " | ".join(res.get(d, "n/a") for d in DECODERS) + " |")
    print(f"\nworst case against spandsp: {worst.label}")
    print(f"(one core, OMP/OPENBLAS threads = 1; {os.cpu_count()} CPUs; python {sys.version.split()[0]}; "
          f"numpy {np.__version__}; ran in {time.time() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
