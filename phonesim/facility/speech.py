"""Speech rendered by espeak-ng, conditioned like every prompt phonesim ships.

The shipped prompts (``audio/``) and the prompts made at run time — a new facility's
name, rendered once when the facility is created — go through the same steps, so they
sound alike on the line:

1. espeak-ng speaks the text (US English, 150 words/min, 22 050 Hz);
2. phonesim's own polyphase resampler takes it to the 8 kHz line (its anti-alias filter
   also band-limits the speech to 3.4 kHz, like a phone line);
3. DC is removed (a 100 Hz high-pass);
4. leading and trailing silence is trimmed (10 ms windows quieter than -45 dBm0),
   leaving 20 ms of margin, with 5 ms fades at both ends so a prompt never clicks;
5. the *active speech level* (the RMS of the 20 ms frames within 25 dB of the loudest)
   is set to -16 dBm0, a customary IVR prompt level, with the peak kept below -1 dBFS.

espeak-ng is deterministic: rendering a text again gives the same samples.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
from scipy import signal

from phonesim.clock import SAMPLE_RATE_HZ
from phonesim.dsp.levels import dbm0_to_rms, signal_dbm0
from phonesim.dsp.resample import resample_once
from phonesim.exc import BackendUnavailable, BadAudioFile

TARGET_SPEECH_DBM0 = -16.0
VOICE = "en-us"
WORDS_PER_MIN = 150


def speak(text: str) -> tuple[np.ndarray, int]:
    """espeak-ng's rendering of ``text``: (float samples, rate)."""
    if shutil.which("espeak-ng") is None:
        raise BackendUnavailable("rendering a prompt needs espeak-ng (apt-get install espeak-ng), "
                                 "or give a recorded WAV instead")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MIN), "-w", str(path), text],
                       check=True, capture_output=True, timeout=60)
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float)
            if w.getnchannels() > 1:
                data = data.reshape(-1, w.getnchannels()).mean(axis=1)
    return data, rate


def condition(raw: np.ndarray, rate_hz: int) -> np.ndarray:
    """Resample, trim, fade and normalise one rendering (see the module docstring)."""
    x = resample_once(raw, rate_hz, SAMPLE_RATE_HZ)
    sos = signal.butter(2, 100, "highpass", fs=SAMPLE_RATE_HZ, output="sos")
    x = signal.sosfiltfilt(sos, x)
    win = SAMPLE_RATE_HZ // 100  # 10 ms
    n_win = len(x) // win
    levels = np.array([signal_dbm0(x[i * win:(i + 1) * win]) for i in range(n_win)])
    loud = np.flatnonzero(levels > -45.0)
    if loud.size == 0:
        raise BadAudioFile("espeak-ng produced silence")
    margin = 2 * win
    start = max(0, loud[0] * win - margin)
    stop = min(len(x), (loud[-1] + 1) * win + margin)
    x = x[start:stop]
    fade = SAMPLE_RATE_HZ * 5 // 1000
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, fade))
    x[:fade] *= ramp
    x[-fade:] *= ramp[::-1]
    frame = SAMPLE_RATE_HZ // 50
    frames = x[: len(x) // frame * frame].reshape(-1, frame)
    if len(frames) == 0:
        frames = x.reshape(1, -1)
    power = np.mean(frames**2, axis=1)
    active = frames[power >= power.max() * 10 ** (-25 / 10)]
    active_rms = np.sqrt(np.mean(active**2))
    gain = dbm0_to_rms(TARGET_SPEECH_DBM0) / active_rms
    peak_limit = 32767 * 10 ** (-1 / 20)
    gain = min(gain, peak_limit / np.abs(x).max())
    return np.clip(np.rint(x * gain), -32768, 32767).astype(np.int16)


def render_speech(text: str) -> np.ndarray:
    """``text`` spoken, as an 8 kHz int16 prompt."""
    raw, rate = speak(text)
    return condition(raw, rate)


def write_prompt(path: str | Path, samples: np.ndarray) -> None:
    """An 8 kHz 16-bit mono WAV, as the prompt loader expects."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE_HZ)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
