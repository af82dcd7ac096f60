"""The labelled set: far-end audio of ordinary calls, and of calls with three-way attempts.

Everything is generated from a seed, around **real recorded speech** from Debian
packages (``codec2-examples``: radio amateurs and test sentences at 8 kHz;
``pocketsphinx-testdata``: LibriVox audiobook and command excerpts at 16 kHz).
An ordinary call's far end is: the called party talking (excerpts of one
speaker file at a per-call level), listening while the inmate talks (the
inmate's speech coming back as hybrid echo 20-35 dB down), a room noise of
its own kind and level, and now and then a hold: muted (digital silence), the
handset put down (room noise and distant voices), or music on hold.  The line
then band-limits it to 300-3400 Hz, adds idle-channel noise, and may put it
through a G.711 (mu-law or A-law) round trip.

An attempt trial is 20-40 s of ordinary call, then
:func:`phonesim.facility.threeway_attempts.attempt_segments` (the far party's
room noise kept where their microphone is on the line), then a third voice (a
different speaker, level and room) for 5-10 s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import signal

from phonesim.dsp.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from phonesim.dsp.levels import dbm0_to_rms
from phonesim.facility.threeway_attempts import attempt_segments

SR = 8000
CODEC2 = Path("/usr/share/codec2")
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
#: 8 kHz speech files of codec2-examples (modem and test-signal files left out).
CODEC2_FILES = ["wav/big_dog.wav", "wav/cross.wav", "wav/david4.wav", "wav/f2400.wav", "wav/forig.wav",
                "wav/hts1a.wav", "wav/hts2a.wav", "wav/m2400.wav", "wav/mmt1.wav", "wav/morig.wav",
                "wav/ve9qrp.wav", "wav/vk2tpm_004.wav", "wav/vk5qi.wav", "raw/hts.raw", "raw/hts1.raw",
                "raw/hts2.raw", "raw/g3plx.raw", "raw/kristoff.raw", "raw/cq_ref.raw"]
#: 16 kHz speech of pocketsphinx-testdata.
POCKETSPHINX_FILES = ["librivox/sense_and_sensibility_01_austen_64kb-0870.wav",
                      "librivox/sense_and_sensibility_01_austen_64kb-0880.wav",
                      "librivox/sense_and_sensibility_01_austen_64kb-0890.wav",
                      "librivox/sense_and_sensibility_01_austen_64kb-0920.wav",
                      "librivox/sense_and_sensibility_01_austen_64kb-0930.wav",
                      "cards/001.wav", "cards/002.wav", "cards/003.wav", "cards/004.wav", "cards/005.wav",
                      "goforward.raw", "numbers.raw", "something.raw"]

_BAND_SOS = signal.butter(4, [300, 3400], btype="bandpass", fs=SR, output="sos")


@dataclass
class Speech:
    """Real recorded speech at 8 kHz, scaled so its active level is -20 dBm0."""

    name: str
    samples: np.ndarray  # float64


def _read(path: Path) -> tuple[np.ndarray, int]:
    if path.suffix == ".raw":
        rate = 16000 if path.is_relative_to(POCKETSPHINX) else SR
        return np.fromfile(path, dtype="<i2").astype(np.float64), rate
    return _read_wav(path)


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    """First channel of a 16-bit PCM or mu-law WAV (some codec2 examples are mu-law)."""
    data = path.read_bytes()
    pos, fmt, rate, channels, pcm = 12, None, None, 1, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        body = data[pos + 8:pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt = int.from_bytes(body[0:2], "little")
            channels = int.from_bytes(body[2:4], "little")
            rate = int.from_bytes(body[4:8], "little")
        elif chunk_id == b"data":
            pcm = body
        pos += 8 + size + (size & 1)
    if fmt == 1:
        x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2")
    elif fmt == 7:
        x = ulaw_decode(np.frombuffer(pcm, dtype=np.uint8))
    else:
        raise ValueError(f"{path}: expected a 16-bit PCM or mu-law WAV, got format tag {fmt}")
    return x[::channels].astype(np.float64), int(rate)


def _active_level_scale(x: np.ndarray, target_dbm0: float) -> float:
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    power = np.mean(frames * frames, axis=1)
    active = power[power > power.max() * 1e-4]  # within 40 dB of the loudest frame
    return float(dbm0_to_rms(target_dbm0) / np.sqrt(np.mean(active)))


def load_speech() -> list[Speech]:
    """Every speech file found, at 8 kHz and -20 dBm0 active level.

    Raises
    ------
    FileNotFoundError
        When neither Debian package is installed (name them).
    """
    from phonesim.dsp.resample import resample_once

    found = []
    for base, names in ((CODEC2, CODEC2_FILES), (POCKETSPHINX, POCKETSPHINX_FILES)):
        for name in names:
            path = base / name
            if not path.exists():
                continue
            x, rate = _read(path)
            if rate != SR:
                x = resample_once(x, rate, SR)
            x = x - np.mean(x)
            found.append(Speech(name=f"{base.name}/{name}", samples=x * _active_level_scale(x, -20.0)))
    if not found:
        raise FileNotFoundError(f"no real speech found under {CODEC2} or {POCKETSPHINX}: "
                                "install the Debian packages codec2-examples and pocketsphinx-testdata")
    return found


def speech_seconds(speech: list[Speech]) -> float:
    """Total length of the distinct real speech."""
    return sum(len(s.samples) for s in speech) / SR


# --- noise and music ---------------------------------------------------------------
def room_noise(n: int, kind: str, level_dbm0: float, rng: np.random.Generator,
               speech: list[Speech]) -> np.ndarray:
    """Background noise of a room: white, pink, hum (mains harmonics), or babble (distant voices)."""
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = signal.lfilter([0.049922035, -0.095993537, 0.050612699, -0.004408786],
                           [1, -2.494956002, 2.017265875, -0.522189400], rng.standard_normal(n))
    elif kind == "hum":
        t = np.arange(n) / SR
        base_hz = rng.choice([50.0, 60.0])
        x = sum(rng.uniform(0.2, 1.0) * np.sin(2 * np.pi * base_hz * k * t + rng.uniform(0, 6.3))
                for k in range(3, 9)) + 0.3 * rng.standard_normal(n)
    else:  # babble: four voices from random places in the speech files
        x = np.zeros(n)
        for _ in range(4):
            x += _excerpt(rng.choice(speech).samples, n, rng)
    rms = np.sqrt(np.mean(x * x)) or 1.0
    return x * (dbm0_to_rms(level_dbm0) / rms)


def music_on_hold(n: int, level_dbm0: float, rng: np.random.Generator) -> np.ndarray:
    """Synthesised music: a melody with harmonics and ADSR envelopes over sustained chords."""
    t_all = np.arange(n) / SR
    out = np.zeros(n)
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    root = rng.integers(-9, 3)  # semitones from A4

    def note(start: int, length: int, semitone: float, gain: float, attack_s: float, release_s: float,
             partials: int) -> None:
        stop = min(n, start + length + int(release_s * SR))
        if start >= stop:
            return
        t = t_all[: stop - start]
        f0 = 440.0 * 2 ** (semitone / 12)
        tone = np.zeros(len(t))
        for k in range(1, partials + 1):
            if f0 * k < 3600:
                tone += np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k**1.2
        env = np.minimum(1.0, t / attack_s) * np.exp(-t * rng.uniform(0.2, 1.5))
        held = length / SR
        env = np.where(t > held, env * np.exp(-(t - held) / (release_s / 4)), env)
        out[start:stop] += gain * tone * env

    pos = 0
    while pos < n:  # chords
        length = int(rng.uniform(1.0, 3.0) * SR)
        degree = rng.integers(0, 7)
        for step in (0, 2, 4):
            semi = root - 12 + scale[(degree + step) % 7] + 12 * ((degree + step) // 7)
            note(pos, length, semi, 0.35, 0.08, 0.4, 4)
        pos += length
    pos = 0
    while pos < n:  # melody
        length = int(rng.uniform(0.12, 0.6) * SR)
        degree = rng.integers(0, 14)
        semi = root + scale[degree % 7] + 12 * (degree // 7)
        note(pos, length, semi, 0.6, rng.uniform(0.005, 0.04), rng.uniform(0.06, 0.3), 6)
        pos += length
        if rng.random() < 0.15:
            pos += int(rng.uniform(0.2, 1.0) * SR)  # a rest
    rms = np.sqrt(np.mean(out * out)) or 1.0
    return out * (dbm0_to_rms(level_dbm0) / rms)


_FADE = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, int(0.03 * SR)))


def _excerpt(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of ``x`` from a random place (looped if ``x`` is shorter).

    Faded in and out over 30 ms: a talker is never cut mid-syllable within a few
    milliseconds in a real call (that would be a splice, which looks like a hook flash).
    """
    if len(x) < n:
        x = np.tile(x, n // len(x) + 1)
    start = int(rng.integers(0, len(x) - n + 1))
    y = x[start:start + n].copy()
    k = min(len(_FADE), n // 2)
    if k:
        y[:k] *= _FADE[:k]
        y[n - k:] *= _FADE[:k][::-1]
    return y


# --- a far end ------------------------------------------------------------------------
@dataclass
class FarParty:
    """One called party: their voice, room and line."""

    voice: Speech
    level_db: float  # gain applied to the -20 dBm0 speech
    room_kind: str
    room_dbm0: float
    echo_db: float  # inmate speech coming back, relative to -20 dBm0


def random_party(rng: np.random.Generator, speech: list[Speech]) -> FarParty:
    return FarParty(voice=speech[int(rng.integers(len(speech)))], level_db=float(rng.uniform(-10, 8)),
                    room_kind=str(rng.choice(["white", "pink", "hum", "babble"])),
                    room_dbm0=float(rng.uniform(-70, -45)), echo_db=float(rng.uniform(-35, -20)))


def conversation(duration_s: float, party: FarParty, rng: np.random.Generator,
                 speech: list[Speech], *, holds: bool = True) -> tuple[np.ndarray, list[str]]:
    """The far end of an ordinary call (before the line); returns (samples, what happened)."""
    n_total = int(duration_s * SR)
    parts: list[np.ndarray] = []
    log: list[str] = []
    n = 0
    while n < n_total:
        r = rng.random()
        if holds and r < 0.03:
            hold_kind = str(rng.choice(["mute", "put-down", "music"]))
            length = int(rng.uniform(2.0, 30.0) * SR)
            if hold_kind == "mute":
                seg = np.zeros(length)
            elif hold_kind == "put-down":
                seg = (room_noise(length, party.room_kind, party.room_dbm0, rng, speech)
                       + _excerpt(rng.choice(speech).samples, length, rng) * 10 ** (rng.uniform(-30, -20) / 20))
            else:
                seg = music_on_hold(length, float(rng.uniform(-28, -12)), rng)
            log.append(f"{hold_kind} hold {length / SR:.1f} s")
            parts.append(seg)
        else:
            talking = rng.random() < 0.5
            length = int(rng.uniform(0.5, 8.0) * SR)
            if talking:
                seg = _excerpt(party.voice.samples, length, rng) * 10 ** ((party.level_db + rng.uniform(-3, 3)) / 20)
            else:  # listening: the inmate's voice comes back as echo
                seg = _excerpt(rng.choice(speech).samples, length, rng) * 10 ** (party.echo_db / 20)
            parts.append(seg + room_noise(length, party.room_kind, party.room_dbm0, rng, speech))
        n += len(parts[-1])
    return np.concatenate(parts)[:n_total], log


def line(x: np.ndarray, rng: np.random.Generator, *, codec: str, line_noise_dbm0: float) -> np.ndarray:
    """The outside line: 300-3400 Hz, idle-channel noise, optional G.711 round trip; int16 out."""
    y = signal.sosfilt(_BAND_SOS, x) + rng.standard_normal(len(x)) * dbm0_to_rms(line_noise_dbm0)
    pcm = np.clip(np.round(y), -32768, 32767).astype(np.int16)
    if codec == "ulaw":
        pcm = ulaw_decode(ulaw_encode(pcm))
    elif codec == "alaw":
        pcm = alaw_decode(alaw_encode(pcm))
    return pcm


@dataclass
class Trial:
    """One labelled far-end recording."""

    label: str  # "ordinary" or an attempt kind
    audio: np.ndarray  # int16 at 8 kHz
    attempt_start_s: float | None
    attempt_end_s: float | None
    notes: str


def ordinary_trial(rng: np.random.Generator, speech: list[Speech], duration_s: float) -> Trial:
    party = random_party(rng, speech)
    x, log = conversation(duration_s, party, rng, speech)
    codec = str(rng.choice(["none", "ulaw", "alaw"]))
    audio = line(x, rng, codec=codec, line_noise_dbm0=float(rng.uniform(-80, -65)))
    notes = f"{party.voice.name} room={party.room_kind}@{party.room_dbm0:.0f} codec={codec} " + "; ".join(log)
    return Trial("ordinary", audio, None, None, notes)


def attempt_trial(kind: str, rng: np.random.Generator, speech: list[Speech]) -> Trial:
    party = random_party(rng, speech)
    before, _ = conversation(float(rng.uniform(20, 40)), party, rng, speech, holds=False)
    tone_dbm0 = float(rng.uniform(-25, -8))
    noise_dbm0 = float(rng.uniform(-40, -30)) if kind == "hidden-noise" else party.room_dbm0
    segments = attempt_segments(kind, rng=rng, level_dbm0=tone_dbm0, noise_dbm0=noise_dbm0)
    attempt = np.concatenate([s for s, _ in segments])
    room = np.concatenate([np.full(len(s), on) for s, on in segments])
    if kind == "hidden-noise":
        noise = rng.standard_normal(len(attempt)) * dbm0_to_rms(noise_dbm0)
    else:
        noise = room_noise(len(attempt), party.room_kind, party.room_dbm0, rng, speech)
    attempt = attempt + np.where(room, noise, 0.0)
    third = random_party(rng, speech)
    after, _ = conversation(float(rng.uniform(5, 10)), third, rng, speech, holds=False)
    x = np.concatenate([before, attempt, after])
    codec = str(rng.choice(["none", "ulaw", "alaw"]))
    audio = line(x, rng, codec=codec, line_noise_dbm0=float(rng.uniform(-80, -65)))
    start_s = len(before) / SR
    notes = (f"{party.voice.name} room={party.room_kind}@{party.room_dbm0:.0f} tones={tone_dbm0:.0f} "
             f"codec={codec}")
    return Trial(kind, audio, start_s, start_s + len(attempt) / SR, notes)


def seed_from_env(default: int = 1) -> int:
    return int(os.environ.get("PHONESIM_BENCH_SEED", default))
