"""Look for three-way calling in a recorded call, offline.

Investigators review recordings this way.  FILE is a phonesim recording (stereo:
the inmate on the left, the far end on the right, which is the channel analysed)
or a mono WAV of the far end; 16-bit PCM at any rate (resampled to 8 kHz).  Each
detection is printed with its time in the file (mm:ss.s), its kind (hook-flash,
progress-tone, far-dtmf, noise-drop), its confidence, the action the facility
profile would take, and the measured evidence; ``--json`` prints one JSON object
per line instead.  Exit status 0 whether or not anything was found.
"""

from __future__ import annotations

import argparse
import json
import wave

import numpy as np

from phonesim.clock import FRAME_SAMPLES, FRAMES_PER_SECOND, SAMPLE_RATE_HZ
from phonesim.config import load_config
from phonesim.exc import BadAudioFile
from phonesim.facility.threeway import ThreeWayDetector, ThreeWayPolicy

NAME = "threeway"
HELP = "analyse a recorded call for three-way calling"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE.wav", help="a phonesim recording or a mono WAV of the far end")
    parser.add_argument("--json", action="store_true", help="print one JSON object per detection")
    parser.add_argument("--channel", choices=("far", "left", "right"), default="far",
                        help="channel of a stereo file to analyse (default: far = right)")
    parser.add_argument("--min-confidence", type=float, default=0.0, metavar="C",
                        help="print only detections at or above this confidence (default: all)")


def read_far_end(path: str, channel: str = "far") -> np.ndarray:
    """The far end's audio of a WAV file as int16 at 8 kHz.

    Raises
    ------
    phonesim.exc.BadAudioFile
        If the file is missing, not a WAV, not 16-bit PCM, or has more than two channels.
    """
    try:
        with wave.open(path, "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            data = w.readframes(w.getnframes())
    except FileNotFoundError as err:
        raise BadAudioFile(f"{path}: no such file") from err
    except (wave.Error, EOFError) as err:
        raise BadAudioFile(f"{path}: expected a 16-bit PCM WAV file, got an unreadable one ({err})") from err
    if width != 2:
        raise BadAudioFile(f"{path}: expected 16-bit PCM samples, got {8 * width}-bit")
    if channels not in (1, 2):
        raise BadAudioFile(f"{path}: expected a mono or stereo file, got {channels} channels")
    x = np.frombuffer(data[: len(data) // (2 * channels) * 2 * channels], dtype="<i2").reshape(-1, channels)
    x = x[:, 0] if channels == 1 or channel == "left" else x[:, 1]
    if rate != SAMPLE_RATE_HZ:
        from phonesim.dsp.resample import resample_once

        x = resample_once(x.astype(np.int16), rate, SAMPLE_RATE_HZ)
    return np.ascontiguousarray(x, dtype=np.int16)


def analyse(samples: np.ndarray, detector: ThreeWayDetector | None = None) -> list:
    """Run a detector over a whole far-end recording; returns the events in order."""
    detector = detector or ThreeWayDetector()
    events = []
    n_frames = len(samples) // FRAME_SAMPLES
    for i in range(n_frames):
        events += detector.feed(samples[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES], i)
    return events + detector.flush(max(0, n_frames - 1))


def format_time(seconds: float) -> str:
    """``mm:ss.s``"""
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes):02d}:{rest:04.1f}"


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    policy = ThreeWayPolicy(cfg.profile.threeway)
    samples = read_far_end(args.file, args.channel)
    events = [e for e in analyse(samples) if e.confidence >= args.min_confidence]
    for e in events:
        t_s = e.at_frame / FRAMES_PER_SECOND
        action = policy.decide(e, privileged=False)
        if args.json:
            print(json.dumps({"time_s": round(t_s, 2), "time": format_time(t_s), "kind": e.kind,
                              "confidence": e.confidence, "action": action, "evidence": e.evidence}))
        else:
            detail = " ".join(f"{k}={v}" for k, v in e.evidence.items())
            print(f"{format_time(t_s)}  {e.kind:<13}  {e.confidence:.2f}  {action:<10}  {detail}")
    if not args.json:
        duration = format_time(len(samples) / SAMPLE_RATE_HZ)
        if events:
            top = max(events, key=lambda e: e.confidence)
            print(f"{len(events)} detection(s) in {duration}; highest {top.kind} {top.confidence:.2f} "
                  f"at {format_time(top.at_frame / FRAMES_PER_SECOND)} (profile action: {policy.action} "
                  f"at >= {policy.min_confidence})")
        else:
            print(f"no three-way calling detected in {duration}")
    return 0
