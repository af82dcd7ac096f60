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


class _SpeakingFarEnd:
    """A called party for the benchmark: answers at once, presses the accept key (DTMF in its
    audio) a second later, then talks (real speech).  Cheap, so the line's own cost shows."""

    def __init__(self, speech: np.ndarray, accept_key: str) -> None:
        self.speech = speech
        self.key = DtmfGenerator(level_dbm0=-10).digits(accept_key, on_ms=100, off_ms=0)
        self.events: list = []
        self.pos = -1

    def dial(self, number: str) -> None:
        from phonesim.events import FarEndAnswered, FarEndRinging

        self.events += [FarEndRinging(), FarEndAnswered()]
        self.pos = -50                                  # a second of silence, then the key

    def exchange(self, to_far: np.ndarray) -> np.ndarray:
        out = np.zeros(160, np.int16)
        if self.pos >= 0 and self.pos * 160 < self.key.size:
            chunk = self.key[self.pos * 160:(self.pos + 1) * 160]
            out[:chunk.size] = chunk
        elif self.pos >= 0:
            i = (self.pos * 160) % (self.speech.size - 160)
            out[:] = self.speech[i:i + 160]
        self.pos += 1
        return out

    def poll_events(self) -> list:
        events, self.events = self.events, []
        return events

    def hang_up(self) -> None:
        self.pos = -10**9

    def close(self) -> None:
        pass


def line_cost(n_frames: int, tmp: Path) -> dict:
    """CPU seconds per frame of one real connected line (``FacilityLine.step``), median of 3 runs.

    The line is built by the platform's composition root, exactly as ``phonesim phone`` builds
    it (a real SQLite ledger, the shipped prompts), and a call is dialled through it with keys
    in the uplink audio; then ``n_frames`` of the conversation are timed: DTMF on the uplink,
    the three-way detector on the far end, both prompt players, the warning injector, the
    recorder tap (its writer thread included: the process's CPU time is measured), the
    per-minute charges (inline: virtual time) and the call's records.
    """
    from phonesim.clock import VirtualClock
    from phonesim.config import load_config
    from phonesim.facility.callflow import Phase
    from phonesim.facility.platform import Platform
    from phonesim.hw.audio import NullAudioPort
    from phonesim.hw.keypad_script import MockKeypad
    from phonesim.terminals.wallphone import WallPhone

    cfg = load_config(search=False, overrides={"profile.limits.call_limit_s": 3600})
    uplink = _speech(n_frames * 160, -20, 1)
    far_speech = _speech(max(n_frames, 3000) * 160, -22, 2)
    results, digits, dropped = [], 0, 0
    for run in range(3):
        clock = VirtualClock()
        with Platform.open(cfg, database=tmp / f"bench-{run}.sqlite3", clock=clock) as platform:
            platform.ledger.seed_demo(cfg)
            far = _SpeakingFarEnd(far_speech, cfg.profile.called_party.accept)
            line = platform.line(far_end=far, clock=clock, recordings_dir=tmp / f"rec-{run}")
            keypad = MockKeypad(clock=clock)
            phone = WallPhone(keypad, NullAudioPort(), line, clock, cfg.profile)
            keypad.lift()
            for keys, until in (("", Phase.PIN), ("1234#", Phase.CALL_TYPE), ("3", Phase.NUMBER),
                                ("5735550100#", Phase.CONNECTED)):
                keypad.type(keys)
                for _ in range(3000):
                    phone.step()
                    clock.tick()
                    if line.state.phase is until:
                        break
            assert line.state.phase is Phase.CONNECTED, line.state.phase
            t0 = time.process_time()
            for i in range(n_frames):
                line.step(uplink[i * 160:(i + 1) * 160])
                clock.tick()
            elapsed = time.process_time() - t0
            digits = sum(1 for e in line.log.entries if e.kind == "digit")
            recorder = line.audio._recorder
            dropped = recorder.dropped_frames if recorder is not None else 0
            line.close()
        results.append(elapsed / n_frames)
    per_frame = sorted(results)[1]
    return {"per_frame_s": per_frame, "digits": digits, "dropped": dropped}


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
    print(f"| **one connected line**: the real FacilityLine.step (uplink DTMF, three-way detector, "
          f"2 players, warning, recorder, charges and records; CPU time) | "
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
