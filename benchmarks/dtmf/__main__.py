"""DTMF detection benchmark: phonesim vs spandsp vs multimon-ng on one test set.

Run: ``python -m benchmarks.dtmf`` (``make bench`` runs it too).  Options:
``--pins N`` realistic PIN strings (default 1000), ``--quick`` for a smoke run.

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
4. measures throughput on one long file (speech with PIN strings), in audio
   seconds per CPU second (user + system; children's rusage for the peers),
   phonesim's streaming capacity (channels decoded in real time on one core,
   160-sample frames) and the report delay after a tone ends;
5. prints one table.

numpy's BLAS is limited to one thread here, so every figure is one core.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
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
    return "".join(d.digit for d in DtmfDetector().feed(audio))


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


def throughput(long_audio: np.ndarray, spandsp: Path | None, work: Path) -> dict[str, str]:
    seconds = long_audio.size / 8000
    res = {}
    best = min(_cpu(lambda: DtmfDetector().feed(long_audio)) for _ in range(3))
    res["phonesim"] = f"{seconds / best:,.0f}x"
    p8 = work / "long.raw"
    long_audio.astype("<i2").tofile(p8)
    if spandsp is not None:
        times = []
        for _ in range(3):
            t0 = children_cpu_s()
            run_spandsp(spandsp, [p8])
            times.append(children_cpu_s() - t0)
        res["spandsp"] = f"{seconds / max(min(times), 1e-4):,.0f}x"
    if shutil.which("multimon-ng"):
        p22 = work / "long.22k.raw"
        to_22050(long_audio).astype("<i2").tofile(p22)
        times = []
        for _ in range(3):
            t0 = children_cpu_s()
            run_multimon(p22)
            times.append(children_cpu_s() - t0)
        res["multimon-ng"] = f"{seconds / max(min(times), 1e-4):,.0f}x (at 22.05 kHz)"
    return res, seconds


def _cpu(fn) -> float:
    t0 = time.process_time()
    fn()
    return max(time.process_time() - t0, 1e-6)


def channel_capacity(n_channels: int, pins: Category, seconds: float = 4.0) -> tuple[float, float]:
    """(channels in real time on one core, ms of CPU per 20 ms frame) for phonesim streaming."""
    rng = np.random.default_rng(5)
    n = int(seconds * 8000) // 160 * 160
    pool = np.concatenate([a for a, _ in pins.cases[:60]])
    x = np.empty((n_channels, n), dtype=np.int16)
    for c in range(n_channels):
        start = int(rng.integers(0, pool.size - n))
        x[c] = pool[start:start + n]
    det = DtmfDetector(channels=n_channels)
    det.feed(x[:, :1600])  # warm up
    t0 = time.process_time()
    for at in range(1600, n, 160):
        det.feed(x[:, at:at + 160])
    frames = (n - 1600) // 160
    per_frame_s = (time.process_time() - t0) / frames
    return n_channels * 0.020 / per_frame_s, per_frame_s * 1000


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
    args = ap.parse_args(argv)
    t_start = time.time()
    work = OUT / "dtmf"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    spandsp = build_spandsp()
    have_multimon = shutil.which("multimon-ng") is not None
    print(f"spandsp harness: {spandsp or 'not built (needs cc and libspandsp-dev)'}; "
          f"multimon-ng: {'found' if have_multimon else 'not found'}", flush=True)
    cats = build_test_set(args.pins if not args.quick else 50, args.quick)
    rows = []
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
    tp, long_s = throughput(call_audio, spandsp, work)
    rows.append((f"throughput, {long_s / 60:.1f} min of speech with a PIN string every 20 s "
                 "(audio s per CPU s)", tp))
    dense = np.concatenate([a for a, _ in pins.cases])
    tp, long_s = throughput(dense, spandsp, work)
    rows.append((f"throughput, {long_s / 60:.1f} min of PIN strings back to back (audio s per CPU s)", tp))
    cap, ms = channel_capacity(1000 if not args.quick else 100, pins)
    rows.append(("streaming channels in real time, one core (160-sample frames)",
                 {"phonesim": f"{cap:,.0f} ({ms:.2f} ms CPU per frame for {1000 if not args.quick else 100})"}))
    rows.append(("report delay after tone end", report_delay(cats[0], spandsp, work)))
    shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"| measure | {' | '.join(DECODERS)} |")
    print("|---|" + "---|" * len(DECODERS))
    for label, res in rows:
        print(f"| {label} | " + " | ".join(res.get(d, "n/a") for d in DECODERS) + " |")
    print(f"\n(one core, OMP/OPENBLAS threads = 1; {os.cpu_count()} CPUs; python {sys.version.split()[0]}; "
          f"numpy {np.__version__}; ran in {time.time() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
