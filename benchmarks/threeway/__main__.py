"""Measure three-way-call detection: detections against false alarms, tuning and held-out.

    python -m benchmarks.threeway [--hours H] [--attempts N] [--split tuning|held-out|both]
                                  [--jobs J] [--plot PNG] [--dump DIR]

Builds both parts of :mod:`benchmarks.threeway.corpus` from their own seeds (real
recordings from Debian packages around modelled everyday events and attempts),
runs a fresh :class:`phonesim.facility.threeway.ThreeWayDetector` over each far-end
recording frame by frame, as the line does, and reports for each part:

* per attempt kind, how many attempts were **confirmed** (and at least
  **suspected**) between the start of the attempt and 10 s after it, which
  detector got there first, and the latency from the start of the attempt
  (median and 90th percentile);
* false alarms per hour of ordinary calls at each level, with the everyday
  event each one belongs to (a false alarm is counted once per 30 s episode);
* the trade-off curve: attempts detected against false alarms per hour as the
  threshold moves, for both parts (written to ``docs/threeway-curve.png``);
* each detector's own verdicts, on attempts and on ordinary calls (what the
  confidences were set from);
* the per-line CPU cost of the detector (microseconds per 20 ms frame, on this
  machine, process time) beside the DTMF detector it contains.

The levels are the shipped thresholds of :class:`ThreeWayPolicy`.
"""

from __future__ import annotations

import argparse
import os
import time
import wave
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.threeway import corpus, everyday, sounds
from phonesim.clock import FRAME_SAMPLES, FRAMES_PER_SECOND
from phonesim.dsp.dtmf import DtmfDetector
from phonesim.facility.threeway import CONFIRM_CONFIDENCE, SUSPECT_CONFIDENCE, ThreeWayDetector
from phonesim.facility.threeway_attempts import ATTEMPT_KINDS

#: Seconds after the end of an attempt in which a detection still counts for it.
AFTER_ATTEMPT_S = 10.0
#: Detections of one call closer than this are one false-alarm episode.
EPISODE_S = 30.0
ORDINARY_CALL_S = 600.0
DOCS = Path(__file__).resolve().parents[2] / "docs"


def detect(audio: np.ndarray) -> list[tuple[float, float, str, dict]]:
    """(time s, confidence, kind, evidence) of every detection on a far-end recording."""
    detector = ThreeWayDetector()
    out = []
    for i in range(len(audio) // FRAME_SAMPLES):
        for e in detector.feed(audio[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES], i):
            out.append((e.at_frame / FRAMES_PER_SECOND, e.confidence, e.kind, e.evidence))
    return out


def _trial(job: tuple) -> tuple:
    """Build one trial from its own seed and run the detector on it (in a worker)."""
    split, what, index, seed = job
    rng = np.random.default_rng(seed)
    if what == "ordinary":
        trial = corpus.ordinary_call(rng, split, ORDINARY_CALL_S, first_event=index)
    else:
        trial = corpus.attempt_trial(what, rng, split)
    return split, what, index, trial, detect(trial.audio)


def jobs_for(split: str, hours: float, attempts: int) -> list[tuple]:
    base = corpus.SEEDS[split] * 1_000_003
    jobs = [(split, kind, i, base + 1000 * k + i) for k, kind in enumerate(ATTEMPT_KINDS) for i in range(attempts)]
    calls = int(round(hours * 3600 / ORDINARY_CALL_S))
    jobs += [(split, "ordinary", i * 7, base + 500_000 + i) for i in range(calls)]
    return jobs


class Results:
    """Every detection of one part, with its labels, to sweep thresholds over."""

    def __init__(self, split: str) -> None:
        self.split = split
        self.ordinary_s = 0.0
        self.calls = 0
        self.attempts: dict[str, list] = defaultdict(list)  # kind -> [(trial, detections)]
        self.ordinary: list = []  # (trial, detections before any attempt)

    def add(self, what: str, trial: corpus.Trial, found: list) -> None:
        if what == "ordinary":
            self.ordinary.append((trial, found))
            self.ordinary_s += len(trial.audio) / corpus.SR
            self.calls += 1
            return
        self.attempts[what].append((trial, found))
        before = [d for d in found if d[0] < trial.attempt_start_s]
        self.ordinary.append((trial, before))
        self.ordinary_s += trial.attempt_start_s

    @property
    def hours(self) -> float:
        return self.ordinary_s / 3600

    def false_alarms(self, threshold: float) -> list[tuple]:
        """(trial, time, confidence, kind, evidence) of each false-alarm episode at ``threshold``."""
        out = []
        for trial, found in self.ordinary:
            last = -1e9
            for t_s, conf, kind, evidence in found:
                if conf >= threshold and t_s - last > EPISODE_S:
                    out.append((trial, t_s, conf, kind, evidence))
                    last = t_s
        return out

    def first_hit(self, trial: corpus.Trial, found: list, threshold: float):
        for d in found:
            if trial.attempt_start_s <= d[0] <= trial.attempt_end_s + AFTER_ATTEMPT_S and d[1] >= threshold:
                return d
        return None

    def detected(self, threshold: float, kind: str | None = None) -> tuple[int, int]:
        kinds = [kind] if kind else list(self.attempts)
        hits = total = 0
        for k in kinds:
            for trial, found in self.attempts[k]:
                total += 1
                hits += self.first_hit(trial, found, threshold) is not None
        return hits, total


def cpu_cost_us_per_frame(seconds_of_audio: float = 120.0) -> tuple[float, float]:
    """Process time of ThreeWayDetector.feed and of DtmfDetector.feed alone, per 20 ms frame."""
    rng = np.random.default_rng(3)
    audio = corpus.ordinary_call(rng, "tuning", seconds_of_audio).audio
    frames = [audio[i * FRAME_SAMPLES:(i + 1) * FRAME_SAMPLES] for i in range(len(audio) // FRAME_SAMPLES)]
    costs = []
    for make in (ThreeWayDetector, DtmfDetector):
        best = float("inf")
        for _ in range(3):
            detector = make()
            t0 = time.process_time()
            if make is ThreeWayDetector:
                for i, f in enumerate(frames):
                    detector.feed(f, i)
            else:
                for f in frames:
                    detector.feed(f)
            best = min(best, time.process_time() - t0)
        costs.append(1e6 * best / len(frames))
    return costs[0], costs[1]


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f} %" if b else "-"


def report(res: Results, dump: Path | None) -> None:
    print(f"\n## {res.split}: {sum(len(v) for v in res.attempts.values())} attempts, "
          f"{res.hours:.2f} h of ordinary calls ({res.calls} calls of {ORDINARY_CALL_S / 60:.0f} min "
          f"with everyday events, plus the conversation before each attempt)\n")
    print("| attempt kind | attempts | confirmed | suspected or more | first detector (confirmed) "
          "| latency median | latency p90 |")
    print("|---|---:|---:|---:|---|---:|---:|")
    all_lat = []
    for kind in ATTEMPT_KINDS:
        trials = res.attempts.get(kind, [])
        if not trials:
            continue
        first_by, lat = Counter(), []
        sus = 0
        for i, (trial, found) in enumerate(trials):
            hit = res.first_hit(trial, found, CONFIRM_CONFIDENCE)
            sus += res.first_hit(trial, found, SUSPECT_CONFIDENCE) is not None
            if hit is None:
                late = [(round(d[0] - trial.attempt_start_s, 1), d[2], d[1]) for d in found
                        if d[0] >= trial.attempt_start_s - 1]
                print(f"  missed {kind} #{i}: {trial.notes}; detections: {late[:6]}")
                _dump(dump, f"{res.split}-miss-{kind}-{i}.wav", trial.audio)
                continue
            first_by[hit[2]] += 1
            lat.append(hit[0] - trial.attempt_start_s)
        all_lat += lat
        by = ", ".join(f"{k} {c}" for k, c in first_by.most_common())
        med = f"{np.median(lat):.1f} s" if lat else "-"
        p90 = f"{np.percentile(lat, 90):.1f} s" if lat else "-"
        print(f"| {kind} | {len(trials)} | {_pct(len(lat), len(trials))} | {_pct(sus, len(trials))} | {by} "
              f"| {med} | {p90} |")
    hits, total = res.detected(CONFIRM_CONFIDENCE)
    shits, _ = res.detected(SUSPECT_CONFIDENCE)
    lat_med = f"{np.median(all_lat):.1f} s" if all_lat else "-"
    lat_p90 = f"{np.percentile(all_lat, 90):.1f} s" if all_lat else "-"
    print(f"| **all** | {total} | **{_pct(hits, total)}** | {_pct(shits, total)} | | {lat_med} | {lat_p90} |")

    print("\n| ordinary calls | hours | confirmed false alarms | per hour | suspected (flagged for review) "
          "| per hour |")
    print("|---|---:|---:|---:|---:|---:|")
    fa_c = res.false_alarms(CONFIRM_CONFIDENCE)
    fa_s = res.false_alarms(SUSPECT_CONFIDENCE)
    print(f"| {res.split} | {res.hours:.2f} | **{len(fa_c)}** | {len(fa_c) / res.hours:.2f} | {len(fa_s)} "
          f"| {len(fa_s) / res.hours:.2f} |")
    by_event = Counter(trial.event_at(t_s) for trial, t_s, *_ in fa_s)
    covered = Counter(e[2] for trial, _ in res.ordinary for e in trial.events)
    print("\neveryday events in this part, and the suspected-level flags each drew: "
          + ", ".join(f"{k} {covered[k]} ({by_event.get(k, 0)})" for k in everyday.EVENT_KINDS)
          + f", conversation ({by_event.get('conversation', 0)})")
    for n, (trial, t_s, conf, kind, evidence) in enumerate(fa_c):
        print(f"  FALSE ALARM at {t_s:.1f} s ({trial.event_at(t_s)}): {kind} {conf} {evidence} -- {trial.notes}")
        _dump(dump, f"{res.split}-false-alarm-{n}.wav", trial.audio)


def calibration(res: Results) -> None:
    """How often each detector's own verdict (before combining) fires on attempts and on ordinary calls.

    This is what the confidences were set from: a verdict that never fires on
    ordinary calls and catches attempts on its own is worth confirming; one that
    fires on everyday events is worth a flag at most.
    """
    on_attempts, on_ordinary = Counter(), Counter()
    for trials in res.attempts.values():
        for trial, found in trials:
            for t_s, _, kind, ev in found:
                if trial.attempt_start_s <= t_s <= trial.attempt_end_s + AFTER_ATTEMPT_S:
                    on_attempts[kind, ev.get("own_confidence", 0.0), _verdict(kind, ev)] += 1
    for _, found in res.ordinary:
        for _, _, kind, ev in found:
            on_ordinary[kind, ev.get("own_confidence", 0.0), _verdict(kind, ev)] += 1
    n_attempts = sum(len(v) for v in res.attempts.values())
    print(f"\n{res.split}: each detector's own verdict (before combining), on {n_attempts} attempts "
          f"and {res.hours:.2f} h of ordinary calls")
    print("| detector | verdict | own confidence | in attempt windows | on ordinary calls | per hour |")
    print("|---|---|---:|---:|---:|---:|")
    for key in sorted(set(on_attempts) | set(on_ordinary), key=lambda k: (k[0], -k[1], k[2])):
        kind, conf, verdict = key
        print(f"| {kind} | {verdict} | {conf:.2f} | {on_attempts[key]} | {on_ordinary[key]} "
              f"| {on_ordinary[key] / max(res.hours, 1e-9):.2f} |")


def _verdict(kind: str, evidence: dict) -> str:
    if kind == "hook-flash":
        return evidence.get("edges", "")
    if kind == "progress-tone":
        return evidence.get("tone", "")
    if kind == "far-dtmf":
        return f"{min(evidence.get('count', 1), 3)} digit(s)"
    return "floor drop"


def curve(res: Results, thresholds: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, fraction of attempts detected, false alarms per hour) as the threshold moves."""
    out = []
    for c in thresholds:
        hits, total = res.detected(float(c))
        out.append((float(c), hits / max(total, 1), len(res.false_alarms(float(c))) / max(res.hours, 1e-9)))
    return out


def print_curve(name: str, points: list) -> None:
    print(f"\n{name}: threshold -> detected, false alarms per hour")
    print("| threshold | " + " | ".join(f"{c:.2f}" for c, _, _ in points) + " |")
    print("|---|" + "---:|" * len(points))
    print("| detected | " + " | ".join(f"{100 * d:.1f} %" for _, d, _ in points) + " |")
    print("| false alarms / h | " + " | ".join(f"{f:.2f}" for _, _, f in points) + " |")


def read_curve(path: Path, split: str) -> list[tuple[float, float, float]]:
    """The curve of ``split`` as an earlier run printed it (its saved output), to draw beside this run's."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(f"{split}: threshold -> detected"):
            thresholds = [float(v) for v in lines[i + 1].strip("| ").split(" | ")[1:]]
            detected = [float(v.rstrip(" %")) / 100 for v in lines[i + 3].strip("| ").split(" | ")[1:]]
            per_hour = [float(v) for v in lines[i + 4].strip("| ").split(" | ")[1:]]
            return list(zip(thresholds, detected, per_hour, strict=True))
    raise ValueError(f"{path}: expected the output of a run with a {split!r} curve, found none")


def plot(curves: dict[str, list], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    names = {SUSPECT_CONFIDENCE: "suspect", CONFIRM_CONFIDENCE: "confirm"}
    for (name, points), style in zip(curves.items(), ("o-", "s--"), strict=False):
        ax.plot([max(f, 0.01) for _, _, f in points], [100 * d for _, d, _ in points], style, label=name,
                markersize=4)
        for c, d, f in points:
            for level, word in names.items():
                if abs(c - level) < 1e-9:
                    ax.annotate(f"{word} {c:.2f}", (max(f, 0.01), 100 * d), textcoords="offset points",
                                xytext=(6, -12 if name.startswith("tuning") else 6), fontsize=8)
    ax.set_xscale("log")
    ax.set_ylim(90.0, 100.5)
    ax.set_xlabel("false alarms per hour of ordinary calls (0 drawn at 0.01)")
    ax.set_ylabel("three-way attempts detected (%)")
    ax.set_title("Detections against false alarms as the threshold moves\n"
                 "(thresholds that detect under 90 % are below the axis)", fontsize=10)
    ax.grid(True, which="both", lw=0.3)
    ax.legend(loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    print(f"\ncurve written to {path}")


def _dump(folder: Path | None, name: str, audio: np.ndarray) -> None:
    if folder is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with wave.open(str(folder / name), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(corpus.SR)
        w.writeframes(audio.astype("<i2").tobytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threeway", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=10.0,
                        help="hours of ordinary 10-minute calls per part (default 10)")
    parser.add_argument("--attempts", type=int, default=60, help="attempts per kind per part (default 60)")
    parser.add_argument("--split", choices=("tuning", "held-out", "both"), default="both")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes (default 2; the CPU cost per frame is measured in one)")
    parser.add_argument("--plot", type=Path, default=DOCS / "threeway-curve.png",
                        help="write the trade-off curve here (PNG; default docs/threeway-curve.png)")
    parser.add_argument("--seed", type=int,
                        help="build the part(s) from this seed instead of corpus.SEEDS (a look at another "
                             "draw of the same recordings and ranges; the figures of record use the defaults)")
    parser.add_argument("--with-curve", nargs=2, metavar=("LABEL", "OUTPUT"), action="append", default=[],
                        help="also draw the curve of part LABEL from OUTPUT, the saved output of an earlier run "
                             "(the two parts run one after the other on one core)")
    parser.add_argument("--dump", type=Path, help="write the recording of every miss and false alarm here")
    args = parser.parse_args(argv)

    splits = sounds.SPLITS if args.split == "both" else (args.split,)
    if args.seed is not None:
        corpus.SEEDS.update({split: args.seed for split in splits})
    for split in splits:
        print(f"{split}: speech {len(sounds.speech(split))} recordings ({sounds.seconds(sounds.speech(split)) / 60:.1f}"
              f" min), music {len(sounds.music(split))} ({sounds.seconds(sounds.music(split)) / 60:.1f} min), "
              f"room {len(sounds.room(split))} ({sounds.seconds(sounds.room(split)) / 60:.1f} min); "
              f"seed {corpus.SEEDS[split]}")
    print(f"levels: suspected >= {SUSPECT_CONFIDENCE}, confirmed >= {CONFIRM_CONFIDENCE}")
    cpu0 = time.process_time()
    wall0 = time.monotonic()
    results = {s: Results(s) for s in splits}
    jobs = [j for s in splits for j in jobs_for(s, args.hours, args.attempts)]
    audio_s = 0.0
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            outcomes = pool.map(_trial, jobs, chunksize=4)
            for split, what, _, trial, found in outcomes:
                results[split].add(what, trial, found)
                audio_s += len(trial.audio) / corpus.SR
    else:
        for job in jobs:
            split, what, _, trial, found = _trial(job)
            results[split].add(what, trial, found)
            audio_s += len(trial.audio) / corpus.SR
    thresholds = np.round(np.arange(0.30, 1.0001, 0.05), 2)
    curves = {}
    for split in splits:
        report(results[split], args.dump)
        calibration(results[split])
        curves[split] = curve(results[split], thresholds)
        print_curve(split, curves[split])
    for label, output in args.with_curve:
        curves[label] = read_curve(Path(output), label.split(" ")[0])
    plot(curves, args.plot)
    us, dtmf_us = cpu_cost_us_per_frame()
    print(f"\nper-line CPU cost: {us:.0f} us per 20 ms frame ({100 * us / 20000:.2f} % of one core here), "
          f"of which the far-end DTMF detector alone {dtmf_us:.0f} us")
    print(f"built and analysed {audio_s / 3600:.1f} h of audio in {time.monotonic() - wall0:.0f} s "
          f"({time.process_time() - cpu0:.0f} s CPU in this process)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
