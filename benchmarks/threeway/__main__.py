"""Measure three-way-call detection: detection rate per attempt kind, false alarms per hour.

    python -m benchmarks.threeway [--attempts N] [--ordinary-hours H] [--seed S] [--min-confidence C]

Builds the labelled set of :mod:`benchmarks.threeway.corpus` from the seed, runs a
fresh :class:`phonesim.facility.threeway.ThreeWayDetector` over each far-end
recording frame by frame (as the line does), and prints two tables:

* per attempt kind: how many attempts reached ``--min-confidence`` (the
  profile's default 0.8) between the start of the attempt and 5 s after it, the
  detector that got there first, and how long after the attempt began;
* ordinary conversation (the ordinary calls, plus the 20-40 s of conversation
  before each attempt): hours, false alarms at or above ``--min-confidence``,
  and the weaker notes below it (what a "log" policy would write to the CDR).

Any false alarm is listed with its evidence so it can be listened to
(``--dump DIR`` writes each one's recording as a WAV).
"""

from __future__ import annotations

import argparse
import time
import wave
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from benchmarks.threeway.corpus import attempt_trial, load_speech, ordinary_trial, speech_seconds
from phonesim.clock import FRAME_SAMPLES, FRAMES_PER_SECOND
from phonesim.facility.threeway import ThreeWayDetector
from phonesim.facility.threeway_attempts import ATTEMPT_KINDS


def detect(audio: np.ndarray) -> list:
    detector = ThreeWayDetector()
    events = []
    for i in range(len(audio) // FRAME_SAMPLES):
        events += detector.feed(audio[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES], i)
    return events


def _dump(folder: Path | None, name: str, audio: np.ndarray) -> None:
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with wave.open(str(folder / name), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(audio.astype("<i2").tobytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threeway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=40, help="attempts per kind (default 40)")
    parser.add_argument("--ordinary-hours", type=float, default=2.0,
                        help="hours of ordinary calls, in 10-minute calls (default 2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-confidence", type=float, default=0.8)
    parser.add_argument("--dump", type=Path, help="write the recording of every miss and false alarm here")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    speech = load_speech()
    print(f"real speech: {len(speech)} files, {speech_seconds(speech) / 60:.1f} min distinct "
          f"(codec2-examples, pocketsphinx-testdata); seed {args.seed}; "
          f"threshold: confidence >= {args.min_confidence}")
    cpu0 = time.process_time()
    ordinary_s = 0.0
    false_alarms = []
    notes = Counter()

    def count_ordinary(events, until_s: float | None, label: str, audio: np.ndarray) -> None:
        for e in events:
            t_s = e.at_frame / FRAMES_PER_SECOND
            if until_s is not None and t_s >= until_s:
                continue
            if e.confidence >= args.min_confidence:
                false_alarms.append((label, t_s, e))
                _dump(args.dump, f"false-alarm-{len(false_alarms)}.wav", audio)
            else:
                notes[e.kind] += 1

    rows = []
    first_by = defaultdict(Counter)
    for kind in ATTEMPT_KINDS:
        hits, latencies = 0, []
        for i in range(args.attempts):
            trial = attempt_trial(kind, rng, speech)
            events = detect(trial.audio)
            ordinary_s += trial.attempt_start_s
            count_ordinary(events, trial.attempt_start_s, f"{kind} #{i} ({trial.notes})", trial.audio)
            window = [e for e in events
                      if trial.attempt_start_s <= e.at_frame / FRAMES_PER_SECOND <= trial.attempt_end_s + 5
                      and e.confidence >= args.min_confidence]
            if window:
                hits += 1
                first_by[kind][window[0].kind] += 1
                latencies.append(window[0].at_frame / FRAMES_PER_SECOND - trial.attempt_start_s)
            else:
                _dump(args.dump, f"miss-{kind}-{i}.wav", trial.audio)
                print(f"  missed {kind} #{i}: {trial.notes}; below threshold: "
                      f"{[(e.kind, e.confidence) for e in events if e.at_frame / FRAMES_PER_SECOND >= trial.attempt_start_s]}")
        rows.append((kind, args.attempts, hits, latencies))

    n_calls = int(round(args.ordinary_hours * 6))
    for i in range(n_calls):
        trial = ordinary_trial(rng, speech, 600.0)
        events = detect(trial.audio)
        ordinary_s += len(trial.audio) / 8000
        count_ordinary(events, None, f"ordinary #{i} ({trial.notes[:200]})", trial.audio)
    cpu_s = time.process_time() - cpu0

    print()
    print("| attempt kind | attempts | detected | rate | first detector | median time to detect |")
    print("|---|---:|---:|---:|---|---:|")
    total, total_hits = 0, 0
    for kind, n, hits, latencies in rows:
        total += n
        total_hits += hits
        by = ", ".join(f"{k} {c}" for k, c in first_by[kind].most_common())
        lat = f"{np.median(latencies):.1f} s" if latencies else "-"
        print(f"| {kind} | {n} | {hits} | {100 * hits / n:.1f} % | {by} | {lat} |")
    print(f"| **all** | {total} | {total_hits} | {100 * total_hits / max(total, 1):.1f} % | | |")
    hours = ordinary_s / 3600
    print()
    print("| ordinary conversation | hours | false alarms (>= threshold) | per hour | notes below threshold |")
    print("|---|---:|---:|---:|---|")
    note_text = ", ".join(f"{k} {c}" for k, c in notes.most_common()) or "none"
    print(f"| real speech both ways, holds, music, noise, G.711 | {hours:.2f} | {len(false_alarms)} | "
          f"{len(false_alarms) / hours:.2f} | {note_text} |")
    for label, t_s, e in false_alarms:
        print(f"  false alarm: {label} at {t_s:.1f} s: {e.kind} {e.confidence} {e.evidence}")
    met = all(hits >= 0.95 * n for _, n, hits, _ in rows) and not false_alarms
    print(f"\ntargets (>= 95 % of each kind detected, no false alarm): {'met' if met else 'NOT met'}")
    print(f"CPU {cpu_s:.1f} s for {hours:.2f} h of conversation plus the attempts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
