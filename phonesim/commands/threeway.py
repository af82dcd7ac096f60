"""Look for three-way calling in recorded calls, offline.

Investigators review recordings this way.  Each FILE is a phonesim recording
(stereo: the inmate on the left, the far end on the right, which is the channel
analysed) or a mono WAV of the far end, in any format ``phonesim decode`` reads;
it is resampled to 8 kHz and analysed as it is read, a block at a time, so a
recording of hours costs the memory of one of seconds.  Each detection is
printed with its time in the file (mm:ss.s), its kind (hook-flash,
progress-tone, far-dtmf, noise-drop), its confidence, the action the facility
profile would take, and the measured evidence, then a summary line per file;
with several files every line starts with the file's path.  ``--json`` prints
one JSON object per file instead: its path, duration, detections (time, kind,
confidence, action, evidence) and, for a file that could not be read, the
error.  Exit status 0 whether or not anything was found, 1 if a file could not
be read (the others are still analysed).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterable

import numpy as np

from phonesim.clock import FRAME_SAMPLES, FRAMES_PER_SECOND
from phonesim.commands import clean
from phonesim.config import load_config
from phonesim.exc import BadAudioFile
from phonesim.facility.threeway import ThreeWayDetector, ThreeWayPolicy
from phonesim.hw.audio_file import WavReader, rechunk


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a confidence from 0 to 1, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="phonesim recordings (stereo) or mono WAVs of the far end")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file")
    parser.add_argument("--channel", choices=("far", "left", "right"), default="far",
                        help="channel of a stereo file to analyse (default: far = right)")
    parser.add_argument("--min-confidence", type=_confidence, default=0.0, metavar="C",
                        help="print only detections at or above this confidence, 0..1 (default: all)")


def far_end_blocks(reader: WavReader, channel: str = "far") -> Iterable[np.ndarray]:
    """The far end's audio of an open WAV as 20 ms int16 frames at 8 kHz, read as they are used.

    Raises
    ------
    phonesim.exc.BadAudioFile
        If the file has more than two channels.
    """
    if reader.channels > 2:
        raise BadAudioFile(f"{reader.path}: expected a mono or stereo file, got {reader.channels} channels")
    index = 0 if reader.channels == 1 or channel == "left" else 1
    return rechunk(reader.blocks_8k(channel=index), FRAME_SAMPLES, pad=False)


def analyse(frames: Iterable[np.ndarray], detector: ThreeWayDetector | None = None) -> tuple[list, int]:
    """Run a detector over a far-end recording's 20 ms frames; (the events in order, frames seen)."""
    detector = detector or ThreeWayDetector()
    events = []
    n_frames = 0
    for i, frame in enumerate(frames):
        events += detector.feed(frame, i)
        n_frames = i + 1
    return events + detector.flush(max(0, n_frames - 1)), n_frames


def format_time(seconds: float) -> str:
    """``mm:ss.s``"""
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes):02d}:{rest:04.1f}"


def _detection(e, policy: ThreeWayPolicy) -> dict:
    t_s = e.at_frame / FRAMES_PER_SECOND
    return {"time_s": round(t_s, 2), "time": format_time(t_s), "kind": e.kind, "confidence": e.confidence,
            "action": policy.decide(e, privileged=False), "evidence": e.evidence}


def _print_text(path: str, prefix: str, rows: list[dict], duration_s: float, policy: ThreeWayPolicy) -> None:
    for r in rows:
        detail = " ".join(f"{k}={v}" for k, v in r["evidence"].items())
        print(f"{prefix}{r['time']}  {r['kind']:<13}  {r['confidence']:.2f}  {r['action']:<10}  {detail}")
    duration = format_time(duration_s)
    if rows:
        top = max(rows, key=lambda r: r["confidence"])
        print(f"{prefix}{len(rows)} detection(s) in {duration}; highest {top['kind']} {top['confidence']:.2f} "
              f"at {top['time']} (profile: confirmed at >= {policy.confirm_confidence}: {policy.on_confirmed}; "
              f"suspected at >= {policy.suspect_confidence}: {policy.on_suspected})")
    else:
        print(f"{prefix}no three-way calling detected in {duration}")


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    policy = ThreeWayPolicy(cfg.profile.threeway)
    status = 0
    for path in args.files:
        try:
            with WavReader(path) as reader:
                events, _ = analyse(far_end_blocks(reader, args.channel))
                duration_s = reader.duration_s
        except BadAudioFile as err:
            print(f"phonesim threeway: error: {clean(err)}", file=sys.stderr)
            if args.json:
                print(json.dumps({"file": path, "error": str(err)}))
            status = 1
            continue
        rows = [_detection(e, policy) for e in events if e.confidence >= args.min_confidence]
        if args.json:
            print(json.dumps({"file": path, "duration_s": round(duration_s, 2), "detections": rows}), flush=True)
        else:
            _print_text(path, f"{path}\t" if len(args.files) > 1 else "", rows, duration_s, policy)
    return status
