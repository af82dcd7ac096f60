"""List the audio devices (PortAudio) and serial ports this machine has.

Audio: every PortAudio device with its input/output channels, which of 8000,
16000, 44100 and 48000 Hz it accepts for mono 16-bit audio, and the system's
default input and output marked with '*'.  Use a part of the name in
'pyaudio://?device=NAME'.  Serial: every serial port with its USB VID:PID,
for 'serial:///dev/ttyACM0' or 'serial+hwgrep://VID:PID'.  Works without
pyaudio installed (it says so).

PortAudio's scan makes ALSA and JACK print dozens of lines on stderr on most
machines (every PCM alias that has no card, a JACK server that is not running):
that noise is held back (``-v`` shows it); any other line the C libraries print
still reaches stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator

from phonesim.exc import BackendUnavailable


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--audio-only", action="store_true", help="only audio devices")
    parser.add_argument("--serial-only", action="store_true", help="only serial ports")


#: What ALSA and JACK print while PortAudio probes devices that are not there (not errors).
SCAN_NOISE = re.compile(
    r"^(ALSA lib |JackShmReadWritePtr|jack server is not running|Cannot connect to server|"
    r"Expression '.*' failed in 'src/hostapi/|\s*$)")


@contextlib.contextmanager
def c_stderr_without_scan_noise() -> Iterator[None]:
    """Hold back what the C libraries write to file descriptor 2 while the block runs, then
    pass on every line that is not :data:`SCAN_NOISE` (a real error still shows)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            for line in held.read().decode("utf-8", errors="replace").splitlines():
                if not SCAN_NOISE.match(line):
                    print(line, file=sys.stderr)


def audio_devices(*, quiet: bool = True) -> tuple[list[dict], str | None]:
    """(devices, None) or ([], why there are none); ``quiet`` holds back ALSA/JACK's noise."""
    try:
        from phonesim.hw.audio_pyaudio import list_audio_devices

        with c_stderr_without_scan_noise() if quiet else contextlib.nullcontext():
            return list_audio_devices(), None
    except BackendUnavailable as err:
        return [], str(err)


def serial_ports() -> list[dict]:
    from serial.tools import list_ports

    ports = []
    for p in sorted(list_ports.comports(), key=lambda p: p.device):
        ports.append({
            "device": p.device,
            "usb": f"{p.vid:04x}:{p.pid:04x}" if p.vid is not None else None,
            "description": p.description,
            "manufacturer": p.manufacturer,
            "serial_number": p.serial_number,
        })
    return ports


def _rates(rates: list[int]) -> str:
    return ",".join(str(r) for r in rates) or "-"


def run(args: argparse.Namespace) -> int:
    show_audio = not args.serial_only
    show_serial = not args.audio_only
    audio, audio_problem = audio_devices(quiet=not args.verbose) if show_audio else ([], None)
    ports = serial_ports() if show_serial else []
    if args.json:
        out = {}
        if show_audio:
            out["audio"] = audio
            out["audio_problem"] = audio_problem
        if show_serial:
            out["serial"] = ports
        print(json.dumps(out, indent=2))
        return 0
    if show_audio:
        print("Audio devices (* = default; rates for mono 16-bit):")
        if audio_problem:
            print(f"  none listed: {audio_problem}")
        elif not audio:
            print("  none (PortAudio sees no device)")
        for d in audio:
            marks = ("*in " if d["default_input"] else "    ") + ("*out" if d["default_output"] else "    ")
            print(f"  {marks} [{d['index']}] {d['name']!r} ({d['host_api']}) "
                  f"in {d['inputs']} @ {_rates(d['input_rates_hz'])} Hz, "
                  f"out {d['outputs']} @ {_rates(d['output_rates_hz'])} Hz, "
                  f"default {d['default_rate_hz']} Hz")
    if show_audio and show_serial:
        print()
    if show_serial:
        print("Serial ports:")
        if not ports:
            print("  none")
        for p in ports:
            usb = f"USB {p['usb']}" if p["usb"] else "not USB"
            print(f"  {p['device']}  {usb}  {p['description'] or ''}")
    return 0
