"""A call's evidence: its recording (found by call id only), waveform, markers and export package.

**No path from a client, ever.**  A recording is found from the call's record
(``cdr.recording_path``), resolved (symlinks followed) and served only if it lies inside
the console's recordings folder and is a regular file; a privileged call has no
recording and none is served for it, whatever the record says.

**The waveform** is the minimum and maximum of each of :data:`WAVE_POINTS` slices of each
channel, read in bounded blocks (a two-hour call costs the memory of a short one).
**Markers** are the CDR timeline's digits, warnings, charges, three-way detections and
the cut-off, placed in recording time (the recording starts when the call is accepted).

**The export package** is a ZIP of the recording, the CDR with its timeline as JSON, and a
``manifest.json`` naming each file with its size and SHA-256, who exported it and when —
so whoever receives it can check that nothing was changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from phonesim.exc import NotFound, PhoneSimError
from phonesim.hw.audio_file import WavReader

#: Slices of the waveform (one per pixel of a wide screen).
WAVE_POINTS = 1200
#: Timeline kinds shown as markers, and how each is labelled.
MARKER_KINDS = ("digit", "warning", "charge", "three-way", "three-way-suspected", "cut-off", "lockdown",
                "accepted")


class RecordingRefused(PhoneSimError, PermissionError):
    """A recording that must not be served: a privileged call, or a file outside the recordings folder."""


def recording_file(cdr: Any, recordings_dir: Path) -> Path:
    """The call's recording, checked (see the module docstring); :class:`NotFound` when it has
    none, :class:`RecordingRefused` when it must not be served."""
    if cdr.privileged:
        raise RecordingRefused(f"call {cdr.call_id}: a privileged call is never recorded or monitored")
    if not cdr.recording_path:
        raise NotFound(f"call {cdr.call_id}: no recording (the call was never connected)")
    root = recordings_dir.resolve()
    path = Path(cdr.recording_path)
    path = (path if path.is_absolute() else Path.cwd() / path).resolve()
    if not path.is_relative_to(root):
        raise RecordingRefused(f"call {cdr.call_id}: its recording is not in the recordings folder {root}")
    try:
        mode = path.stat().st_mode
    except OSError as err:
        raise NotFound(f"call {cdr.call_id}: the recording file is missing") from err
    if not stat.S_ISREG(mode):
        raise RecordingRefused(f"call {cdr.call_id}: the recording is not a regular file")
    return path


def waveform(path: Path, points: int = WAVE_POINTS) -> dict[str, Any]:
    """``{"duration_s", "rate_hz", "points", "channels": [[min, max] * points] per channel}``, in -1..1."""
    with WavReader(path) as reader:
        per = max(1, -(-reader.frames // points))
        slices: list[np.ndarray] = []
        carry = np.zeros((0, reader.channels))
        for block in reader.blocks():
            x = np.concatenate([carry, block]) if len(carry) else block
            whole = len(x) - len(x) % per
            if whole:
                s = x[:whole].reshape(-1, per, reader.channels)
                slices.append(np.stack([s.min(axis=1), s.max(axis=1)], axis=-1))
            carry = x[whole:]
        if len(carry):
            slices.append(np.stack([carry.min(axis=0), carry.max(axis=0)], axis=-1)[None])
        peaks = np.concatenate(slices) if slices else np.zeros((0, reader.channels, 2))
        peaks = np.round(peaks / 32768.0, 4)
        return {"duration_s": reader.duration_s, "rate_hz": reader.rate_hz, "points": len(peaks),
                "channels": [peaks[:, c, :].tolist() for c in range(reader.channels)]}


def markers(cdr: Any) -> list[dict[str, Any]]:
    """The timeline's events worth a mark, in seconds from the start of the recording."""
    start = cdr.accepted_s if cdr.accepted_s is not None else cdr.answered_s
    if start is None:
        return []
    out = []
    for event in cdr.events:
        if event.kind not in MARKER_KINDS or event.at_s < start - 0.5:
            continue
        d = event.detail
        if event.kind == "digit":
            label = f"{'called party' if d.get('side') == 'far' else 'inmate'} pressed {d.get('digit', '')}"
        elif event.kind == "charge":
            label = f"minute {int(d.get('minute_index', 0)) + 1} charged {int(d.get('cents', 0))}¢"
        elif event.kind.startswith("three-way"):
            label = f"{event.kind} ({d.get('attempt') or d.get('kind') or d.get('action', '')})"
        elif event.kind == "cut-off":
            label = f"cut off by {d.get('by', '')}"
        else:
            label = event.kind
        kind = "three-way" if event.kind.startswith("three-way") else event.kind
        out.append({"t_s": round(max(0.0, event.at_s - start), 3), "kind": kind, "label": label})
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_package(cdr: Any, recording: Path | None, *, by: str, facility: str, out_dir: Path) -> Path:
    """Write ``call-<id>-evidence.zip`` in ``out_dir`` (a temporary folder) and return it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"call-{cdr.call_id}-", dir=out_dir))
    cdr_path = work / f"call-{cdr.call_id}-cdr.json"
    cdr_path.write_text(json.dumps(cdr.as_dict(), indent=2, sort_keys=True, default=str), encoding="utf-8")
    files = [(cdr_path.name, cdr_path)]
    if recording is not None:
        files.insert(0, (f"call-{cdr.call_id}.wav", recording))
    manifest = {
        "call_id": cdr.call_id, "facility": facility, "exported_by": by,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "recording": "included" if recording is not None else
                     ("none: a privileged call is never recorded" if cdr.privileged else "none"),
        "files": [{"name": name, "bytes": os.path.getsize(path), "sha256": _sha256(path)} for name, path in files],
    }
    zip_path = out_dir / f"call-{cdr.call_id}-evidence-{os.urandom(4).hex()}.zip"
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, path in files:
            z.write(path, arcname=name)
        z.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
    cdr_path.unlink()
    work.rmdir()
    return zip_path
