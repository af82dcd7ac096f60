"""Audio engine benchmarks (printed tables, nothing asserted).

1. **Cost of one line per 20 ms frame.**  A line does, every frame: DTMF
   detection on the uplink (what the handset sends) and on the far end (keys),
   three-way detection on the far end (while connected), the prompt player and
   the warning injector on both directions, and the recorder tap (a queue put; the writer thread's disk
   work is included because the whole process's CPU time is measured).  Input
   is real speech (codec2-examples) with DTMF and the warning playing, so no
   stage takes a shortcut on silence.  From the cost: how many lines one core
   carries in real time, here and (scaled) on a Raspberry Pi 4.
2. **The headset path on PulseAudio**: ``pyaudio://?device=pulse&rate=48000``
   (two half-duplex blocking streams, 20 ms periods, resampled 48 k <-> 8 k)
   run in lock-step for ``--seconds`` (60 by default): round-trip delay from
   writing a frame to reading it back (measured sample-exactly from tone bursts
   sent once a second), and the overflows, underflows and samples lost.  Starts
   a private PulseAudio (tests/audio_server.sh) if ``PULSE_SERVER`` is unset.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from phonesim.dsp.dtmf import DtmfDetector, DtmfGenerator
from phonesim.dsp.levels import dbm0_to_rms
from phonesim.dsp.mix import PromptPlayer, WarningInjector
from phonesim.facility.prompts import PromptSet
from phonesim.facility.recorder import CallRecorder
from phonesim.facility.threeway import ThreeWayDetector

ROOT = Path(__file__).resolve().parents[2]
SPEECH = Path("/usr/share/codec2/raw/hts1a.raw")
#: A Raspberry Pi 4 (Cortex-A72, 1.5 GHz) runs single-threaded Python + numpy on small arrays
#: roughly 3-4x slower than one core of a current x86 server; we divide by the pessimistic end.
PI4_SLOWDOWN = 4.0


def _speech(n: int, level_dbm0: float, seed: int) -> np.ndarray:
    if SPEECH.exists():
        x = np.fromfile(SPEECH, dtype="<i2").astype(float)
        x = np.roll(np.resize(x, n), seed * 7919)
    else:
        x = np.random.default_rng(seed).standard_normal(n)
    x *= dbm0_to_rms(level_dbm0) / np.sqrt(np.mean(x**2))
    return np.clip(x, -32768, 32767).astype(np.int16)


def line_cost(n_frames: int, tmp: Path) -> dict:
    """CPU seconds per frame for one line (median of 3 runs)."""
    prompts = PromptSet.load()
    uplink = _speech(n_frames * 160, -20, 1)
    dtmf = DtmfGenerator().digits("5735550100#", lead_ms=500)
    uplink[:len(dtmf)] = dtmf
    far = _speech(n_frames * 160, -22, 2)
    results = []
    for run in range(3):
        up_det, far_det = DtmfDetector(), DtmfDetector()
        threeway = ThreeWayDetector()
        to_inmate, to_far = PromptPlayer(), PromptPlayer()
        for name in ("welcome", "enter_pin", "call_type_menu"):
            to_inmate.play(prompts[name], name)
        to_far.play(prompts["party_monitored"], "party_monitored")
        inj = WarningInjector(prompts["warning"], first_after_frames=100, interval_frames=500, duck_db=12)
        inj.start(0)
        digits = 0
        # wait for the writer as the virtual-time line does: this loop outruns real
        # time, and waiting costs no CPU (process_time), so nothing is dropped
        rec = CallRecorder(tmp / f"bench-{run}.wav", block_when_full_s=10.0)
        t0 = time.process_time()
        for i in range(n_frames):
            up = uplink[i * 160:(i + 1) * 160]
            fr = far[i * 160:(i + 1) * 160]
            digits += len(up_det.feed(up))
            digits += len(far_det.feed(fr))
            down = fr.copy()
            out = up.copy()
            to_inmate.mix_into(down)
            to_far.mix_into(out)
            inj.process(down, out, i)
            threeway.feed(fr, i)
            rec.write(up, down)
        rec.close()
        elapsed = time.process_time() - t0
        results.append(elapsed / n_frames)
    per_frame = sorted(results)[1]
    return {"per_frame_s": per_frame, "digits": digits, "dropped": rec.dropped_frames}


def stage_costs(n_frames: int) -> list[tuple[str, float]]:
    """Per-stage cost per frame, to show where the time goes."""
    prompts = PromptSet.load()
    x = _speech(n_frames * 160, -20, 3)
    frames = [x[i * 160:(i + 1) * 160] for i in range(n_frames)]
    rows = []

    det = DtmfDetector()
    t0 = time.process_time()
    for f in frames:
        det.feed(f)
    rows.append(("DtmfDetector.feed (one direction)", (time.process_time() - t0) / n_frames))

    player = PromptPlayer()
    long_prompt = np.resize(prompts["kiosk_menu"], n_frames * 160 + 160)
    player.play(long_prompt, "p")
    t0 = time.process_time()
    for f in frames:
        player.mix_into(f.copy())
    rows.append(("PromptPlayer.mix_into (playing)", (time.process_time() - t0) / n_frames))

    inj = WarningInjector(prompts["warning"], first_after_frames=0, interval_frames=1, duck_db=12)
    inj.start(0)
    t0 = time.process_time()
    for i, f in enumerate(frames):
        inj.process(f.copy(), f.copy(), i)
    rows.append(("WarningInjector.process (playing, both ways)", (time.process_time() - t0) / n_frames))

    threeway = ThreeWayDetector()
    t0 = time.process_time()
    for i, f in enumerate(frames):
        threeway.feed(f, i)
    rows.append(("ThreeWayDetector.feed (far end, while connected)", (time.process_time() - t0) / n_frames))

    from phonesim.dsp.resample import Resampler
    up, down = Resampler(8000, 48000), Resampler(48000, 8000)
    dev = np.zeros(960, np.int16)
    t0 = time.process_time()
    for f in frames:
        up.process(f)
        down.process(dev)
    rows.append(("Resampler 8k->48k + 48k->8k (headset only)", (time.process_time() - t0) / n_frames))
    return rows


def device_run(seconds: float) -> dict:
    """Lock-step write/read through pyaudio://?device=pulse for ``seconds``."""
    from phonesim.hw.audio import open_audio

    n_frames = int(seconds * 50)
    burst = (8000 * np.sin(2 * np.pi * 1000 * np.arange(160) / 8000) * np.hanning(160)).astype(np.int16)
    captured = np.zeros(n_frames * 160, np.int16)
    late = 0
    with open_audio("pyaudio://?device=pulse&rate=48000") as port:
        t_prev = time.monotonic()
        for i in range(n_frames):
            frame = burst if i % 50 == 10 else np.zeros(160, np.int16)
            port.write_frame(frame)
            captured[i * 160:(i + 1) * 160] = port.read_frame()
            now = time.monotonic()
            if now - t_prev > 0.040:
                late += 1
            t_prev = now
        result = {"trimmed": port.trimmed_frames, "overflows": port.overflows, "underflows": port.underflows,
                  "lost_samples": port.take_lost_samples(), "frames": n_frames,
                  "input_latency_ms": port.input_latency_s * 1000,
                  "output_latency_ms": port.output_latency_s * 1000}
    delays = []
    for i in range(10, n_frames - 50, 50):
        seg = captured[i * 160:(i + 40) * 160].astype(float)
        corr = np.correlate(seg, burst.astype(float), mode="valid")
        if corr.max() > 0.5 * np.dot(burst.astype(float), burst):
            delays.append(int(np.argmax(corr)) / 8)  # samples at 8 kHz -> ms
    result.update(delays_ms=delays, late_reads=late)
    return result


def _ensure_pulse() -> str | None:
    """Start a private PulseAudio if none is configured; returns its folder to stop, or None."""
    if os.environ.get("PULSE_SERVER"):
        return None
    out = subprocess.run(["bash", str(ROOT / "tests" / "audio_server.sh"), "start"],
                         capture_output=True, text=True, check=True).stdout
    folder = None
    for line in out.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        os.environ[key] = value.strip("'")
        if key == "PHONESIM_AUDIO_DIR":
            folder = value.strip("'")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=3000, help="frames for the CPU cost (default 3000 = 60 s)")
    parser.add_argument("--seconds", type=float, default=60.0, help="PulseAudio run length (default 60)")
    parser.add_argument("--skip-device", action="store_true", help="no PulseAudio run")
    args = parser.parse_args(argv)

    print(f"# Audio engine ({platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"numpy {np.__version__})\n")
    with tempfile.TemporaryDirectory() as tmp:
        cost = line_cost(args.frames, Path(tmp))
    per_frame_ms = cost["per_frame_s"] * 1000
    lines_here = 20.0 / per_frame_ms
    print("| stage | µs per 20 ms frame |\n|---|---|")
    for name, seconds in stage_costs(min(args.frames, 2000)):
        print(f"| {name} | {seconds * 1e6:.0f} |")
    print(f"| **one line** (2 DTMF detectors + three-way detector + 2 players + warning + recorder, "
          f"CPU time) | "
          f"**{cost['per_frame_s'] * 1e6:.0f}** |\n")
    print(f"| | here | Raspberry Pi 4 (÷{PI4_SLOWDOWN:.0f}) |\n|---|---|---|")
    print(f"| lines one core carries in real time | {lines_here:.0f} | {lines_here / PI4_SLOWDOWN:.0f} |")
    print(f"| CPU share of one line | {per_frame_ms / 20 * 100:.1f} % | "
          f"{per_frame_ms * PI4_SLOWDOWN / 20 * 100:.1f} % |\n")
    print(f"(digits decoded in the run: {cost['digits']}; recorder frames dropped: {cost['dropped']})\n")

    if args.skip_device:
        return 0
    folder = _ensure_pulse()
    try:
        r = device_run(args.seconds)
    finally:
        if folder:
            subprocess.run(["bash", str(ROOT / "tests" / "audio_server.sh"), "stop", folder], check=False)
    d = np.array(r["delays_ms"]) if r["delays_ms"] else np.array([np.nan])
    print(f"PulseAudio null sink, pyaudio://?device=pulse&rate=48000, {r['frames'] / 50:.0f} s, 20 ms periods:\n")
    print("| round trip ms (median / min / max) | bursts found | overflows (of which latency trims) "
          "| underflows | lost samples | reads > 40 ms apart | load average |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {np.median(d):.1f} / {d.min():.1f} / {d.max():.1f} | {len(r['delays_ms'])} | {r['overflows']} "
          f"({r['trimmed']} frames) | {r['underflows']} | {r['lost_samples']} | {r['late_reads']} | "
          f"{os.getloadavg()[0]:.1f} |")
    print(f"\n(PortAudio reports input latency {r['input_latency_ms']:.0f} ms, "
          f"output latency {r['output_latency_ms']:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
