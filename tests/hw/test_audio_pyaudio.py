"""The headset port on real PortAudio, through the private PulseAudio's null sink.

PyAudio plays into the default sink ("line") and the port's input records its
monitor, so what the line writes comes back through the whole real stack:
resampler 8 -> 48 kHz, PortAudio, ALSA's pulse plugin, PulseAudio, and back.
The project's own DTMF detector must decode the digits from what comes back,
and the injected warning must arrive at its scheduled frame (plus the measured
round-trip delay).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from scipy import signal

from phonesim.dsp.levels import dbm0_to_rms
from phonesim.dsp.mix import WarningInjector
from phonesim.exc import DeviceNotFound
from phonesim.facility.prompts import PromptSet
from phonesim.hw.audio import open_audio

pytestmark = pytest.mark.audio

SPEECH = Path("/usr/share/codec2/raw/hts1a.raw")  # Debian codec2-examples: 8 kHz speech


def _speech(n_samples, level_dbm0):
    if SPEECH.exists():
        x = np.fromfile(SPEECH, dtype="<i2").astype(float)
    else:  # the Debian package is in TEST_DEBS; this keeps the test meaningful without it
        x = np.random.default_rng(3).standard_normal(n_samples) * 1000
    x = np.resize(x, n_samples)
    x *= dbm0_to_rms(level_dbm0) / np.sqrt(np.mean(x**2))
    return x


def _lag(captured, reference):
    """Sample offset of ``reference`` inside ``captured`` (peak of the cross-correlation)."""
    corr = signal.correlate(captured.astype(float), reference.astype(float), mode="valid", method="fft")
    return int(np.argmax(corr))


def _round_trip(play, warning, warning_frame):
    """Play ``play`` with the warning injected, through the port, decoding digits live."""
    from phonesim.dsp.dtmf import DtmfDetector

    n_frames = len(play) // 160
    injector = WarningInjector(warning, first_after_frames=warning_frame, interval_frames=10_000, duck_db=12)
    injector.start(0)
    detector = DtmfDetector()
    sent, got, found = [], [], []
    with open_audio("pyaudio://?device=pulse&rate=48000") as port:
        assert port.paced
        for i in range(n_frames):
            frame = play[i * 160:(i + 1) * 160].copy()
            injector.process(frame, np.zeros(160, np.int16), i)
            port.write_frame(frame)
            sent.append(frame)
            mic = port.read_frame()
            lost = port.take_lost_samples()
            if lost:  # what the line does: tell the detector about the gap
                found += detector.fill_in(lost)
            found += detector.feed(mic)
            got.append(mic)
        clean = port.overflows == 0 and port.underflows == 0
        xruns = (port.overflows, port.underflows)
    assert injector.played_at_frames == [warning_frame]
    return np.concatenate(sent), np.concatenate(got), found, clean, xruns


@pytest.mark.timeout(150)
def test_dtmf_and_injected_warning_survive_the_real_audio_path(pulse_server):
    """A run in which the port reports lost audio is repeated (up to 4 runs): the port's job
    is to report every loss, and a run it reports as clean must pass every check."""
    pytest.importorskip("pyaudio")
    from phonesim.dsp.dtmf import DtmfGenerator

    warning = PromptSet.load()["warning"]
    digits = "159#"
    n_frames = 50 * 5
    dtmf = DtmfGenerator(level_dbm0=-10).digits(digits, on_ms=80, off_ms=80, lead_ms=200)
    play = np.zeros(n_frames * 160)
    play[:len(dtmf)] = dtmf
    play[80 * 160:] += _speech(len(play) - 80 * 160, -24.0)  # the conversation, from 1.6 s
    play = np.clip(play, -32768, 32767).astype(np.int16)
    warning_frame = 100

    runs = []
    for _ in range(4):
        sent, captured, found, clean, xruns = _round_trip(play, warning, warning_frame)
        runs.append(xruns)
        if clean:
            break
    else:
        pytest.fail(f"every run lost audio (overflows, underflows per run: {runs}): machine overloaded?")

    assert "".join(d.digit for d in found) == digits, f"found={found}"
    # the round trip: where the whole sent signal sits in what came back
    delay = _lag(captured, sent[: len(sent) - 50 * 160])
    assert 0 <= delay < 8000, f"round trip {delay} samples"
    warning_at = _lag(captured, warning)
    expected = warning_frame * 160 + delay
    assert abs(warning_at - expected) <= 160, f"warning at sample {warning_at}, expected {expected} ±160"
    # and it came back intact, not just somewhere: high correlation with what was sent.
    # (The device path delays by a whole number of 48 kHz samples, i.e. up to half an
    # 8 kHz sample off the grid, which alone costs a few per cent of correlation.)
    seg_in = sent[warning_frame * 160:warning_frame * 160 + len(warning)].astype(float)
    similarity = 0.0
    for shift in (-1, 0, 1):
        seg_out = captured[expected + shift:expected + shift + len(warning)].astype(float)
        similarity = max(similarity, np.dot(seg_out, seg_in)
                         / np.sqrt(np.dot(seg_out, seg_out) * np.dot(seg_in, seg_in)))
    assert similarity > 0.9, f"warning came back distorted: similarity {similarity:.3f} (runs {runs})"


@pytest.mark.timeout(30)
def test_input_overflow_is_counted_and_reported_as_lost_samples(pulse_server):
    pytest.importorskip("pyaudio")
    with open_audio("pyaudio://?device=pulse&rate=48000&queue_frames=5") as port:
        port.read_frame()
        deadline = time.monotonic() + 10
        while port.overflows == 0 and time.monotonic() < deadline:  # the line stops reading
            port.write_frame(np.zeros(160, np.int16))  # paced by the device: ~20 ms each
        assert port.overflows > 0
        lost = port.take_lost_samples()
        assert lost >= 160
        assert port.take_lost_samples() == 0


@pytest.mark.timeout(30)
def test_a_stall_does_not_leave_extra_latency_behind(pulse_server):
    pytest.importorskip("pyaudio")
    with open_audio("pyaudio://?device=pulse&rate=48000&backlog_frames=3") as port:
        port.read_frame()
        deadline = time.monotonic() + 10
        while port.pending_frames() <= 4 and time.monotonic() < deadline:  # the line stalls
            port.write_frame(np.zeros(160, np.int16))
        assert port.pending_frames() > 4
        port.read_frame()
        assert port.trimmed_frames >= 3
        assert port.pending_frames() <= 3  # back to a short queue, not a permanent delay
        assert port.take_lost_samples() >= port.trimmed_frames * 160  # the detector is told


@pytest.mark.timeout(30)
def test_missing_device_lists_the_devices_that_exist(pulse_server):
    pytest.importorskip("pyaudio")
    with pytest.raises(DeviceNotFound, match=r"contains 'no-such-headset'.*'pulse'"):
        open_audio("pyaudio://?device=no-such-headset")
