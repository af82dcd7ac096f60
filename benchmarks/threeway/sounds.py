"""Real recorded sound from Debian packages, split into a tuning part and a held-out part.

The detectors are tuned on one part and the figures users get are measured on the
other, which shares no recording with it (``docs/threeway.md`` lists every file):

========  ==============================================  ============================================
what      tuning                                           held-out
========  ==============================================  ============================================
speech    ``codec2-examples`` (radio amateurs, test        ``pocketsphinx-testdata`` (LibriVox readers,
          sentences, 8 kHz)                                commands) and ``asterisk-core-sounds-en-wav``
                                                           (a professional IVR voice)
music     three of the five ``asterisk-moh-opsound-wav``   the other two, and the ``lincity-ng-data`` and
          music-on-hold tracks                             ``frozen-bubble-data`` game music
room      ``lincity-ng-data`` field recordings A-L         ``lincity-ng-data`` M-Z, ``frozen-bubble-data``
          (forge, farm, fire, harbour, street, crowd)      (applause, snoring, typewriter) and
                                                           ``sound-theme-freedesktop`` (phones, bells)
========  ==============================================  ============================================

Every sound is returned at 8 kHz as float64 in 16-bit units, its active level
scaled to -20 dBm0 (callers set the level they want).  Ogg files are decoded by
``sox`` (a test dependency); a missing package is a clear error naming it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from phonesim.dsp.g711 import ulaw_decode
from phonesim.dsp.levels import dbm0_to_rms
from phonesim.dsp.resample import resample_once
from phonesim.hw.audio_file import read_wav_8k

SR = 8000
SPLITS = ("tuning", "held-out")

CODEC2 = Path("/usr/share/codec2")
POCKETSPHINX = Path("/usr/share/pocketsphinx/test/data")
ASTERISK_EN = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
MOH = Path("/usr/share/asterisk/moh")
LINCITY = Path("/usr/share/games/lincity-ng")
FROZEN_BUBBLE = Path("/usr/share/games/frozen-bubble/snd")
FREEDESKTOP = Path("/usr/share/sounds/freedesktop/stereo")

#: Which Debian package ships each folder (named in errors).
PACKAGES = {CODEC2: "codec2-examples", POCKETSPHINX: "pocketsphinx-testdata",
            ASTERISK_EN: "asterisk-core-sounds-en-wav", MOH: "asterisk-moh-opsound-wav",
            LINCITY: "lincity-ng-data", FROZEN_BUBBLE: "frozen-bubble-data",
            FREEDESKTOP: "sound-theme-freedesktop"}

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
#: Asterisk prompts with tones in them (beeps, "at the tone"), left out of the speech.
_ASTERISK_TONES = ("beep", "tone", "dtmf", "silence", "vm-", "queue-")
MOH_TUNING = ["macroform-cold_day.wav", "macroform-robot_dity.wav", "manolo_camp-morning_coffee.wav"]
MOH_HELD_OUT = ["macroform-the_simplicity.wav", "reno_project-system.wav"]
FROZEN_MUSIC = ["frozen-mainzik-1p.ogg", "introzik.ogg"]
FROZEN_ROOM = ["applause.ogg", "snore.ogg", "typewriter.ogg"]
FREEDESKTOP_ROOM = ["phone-incoming-call.oga", "bell.oga", "alarm-clock-elapsed.oga", "complete.oga",
                    "message-new-instant.oga", "camera-shutter.oga"]


@dataclass
class Sound:
    """A real recording at 8 kHz, active level -20 dBm0."""

    name: str
    samples: np.ndarray  # float64, 16-bit units


def _missing(folder: Path) -> FileNotFoundError:
    return FileNotFoundError(f"no sound under {folder}: install the Debian package {PACKAGES[folder]}")


def _read_any(path: Path) -> np.ndarray:
    """Any of the recordings above as 8 kHz mono float64 (mu-law WAVs, raw PCM and Ogg included)."""
    if path.suffix == ".raw":
        rate = 16000 if path.is_relative_to(POCKETSPHINX) else SR
        x = np.fromfile(path, dtype="<i2").astype(np.float64)
        return resample_once(x, rate, SR) if rate != SR else x
    if path.suffix in (".ogg", ".oga"):
        # -D: no dither.  sox dithers at random by default, so the same file would decode
        # differently from run to run and the corpus would not be reproducible.
        out = subprocess.run(["sox", "-D", str(path), "-t", "raw", "-e", "signed", "-b", "16", "-c", "1",
                              "-r", str(SR), "-"], capture_output=True, check=True, timeout=120).stdout
        return np.frombuffer(out, dtype="<i2").astype(np.float64)
    data = path.read_bytes()
    if data[20:22] == b"\x07\x00":  # mu-law WAV (some codec2 examples)
        start = data.index(b"data") + 8
        return ulaw_decode(np.frombuffer(data[start:], dtype=np.uint8)).astype(np.float64)
    return read_wav_8k(path)


def active_level_scale(x: np.ndarray, target_dbm0: float) -> float:
    """Gain that puts the active level of ``x`` (frames within 40 dB of its loudest) at ``target_dbm0``."""
    frames = x[: len(x) // 160 * 160].reshape(-1, 160)
    power = np.mean(frames * frames, axis=1)
    active = power[power > power.max() * 1e-4]
    return float(dbm0_to_rms(target_dbm0) / np.sqrt(np.mean(active)))


def _load(paths: list[Path], folder: Path, *, prefix: str) -> list[Sound]:
    found = []
    for path in paths:
        if not path.exists():
            continue
        x = _read_any(path)
        if len(x) < SR // 4:
            continue
        x = x - np.mean(x)
        found.append(Sound(name=f"{prefix}/{path.relative_to(folder)}", samples=x * active_level_scale(x, -20.0)))
    if not found:
        raise _missing(folder)
    return found


def _asterisk_voice() -> list[Sound]:
    """The IVR voice: its prompts joined into talk spurts of about 20 s, with short pauses.

    Each prompt is trimmed to the sample, so its ends are faded over 10 ms: a voice
    cut off within a sample is a splice, which looks like a hook flash on a line.
    """
    names = sorted(p for p in ASTERISK_EN.glob("*.wav") if not p.name.startswith(_ASTERISK_TONES))
    if not names:
        raise _missing(ASTERISK_EN)
    spurts, parts, n = [], [], 0
    for i, path in enumerate(names):
        x = read_wav_8k(path)
        k = min(SR // 100, len(x) // 2)
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, k))
        x[:k] *= ramp
        x[len(x) - k:] *= ramp[::-1]
        parts += [x, np.zeros(SR // 5 + (i * 797) % (SR // 2))]
        n += len(x)
        if n > 20 * SR:
            spurts.append(np.concatenate(parts))
            parts, n = [], 0
    sounds = []
    for i, x in enumerate(spurts):
        x = x - np.mean(x)
        sounds.append(Sound(name=f"asterisk-core-sounds-en/spurt{i:02d}", samples=x * active_level_scale(x, -20.0)))
    return sounds


@cache
def speech(split: str) -> tuple[Sound, ...]:
    """Real recorded voices of ``split``."""
    _check(split)
    if split == "tuning":
        return tuple(_load([CODEC2 / n for n in CODEC2_FILES], CODEC2, prefix="codec2"))
    return tuple(_load([POCKETSPHINX / n for n in POCKETSPHINX_FILES], POCKETSPHINX, prefix="pocketsphinx")
                 + _asterisk_voice())


@cache
def music(split: str) -> tuple[Sound, ...]:
    """Real recorded music (music on hold, radio) of ``split``."""
    _check(split)
    if split == "tuning":
        return tuple(_load([MOH / n for n in MOH_TUNING], MOH, prefix="moh"))
    return tuple(_load([MOH / n for n in MOH_HELD_OUT], MOH, prefix="moh")
                 + _load(sorted((LINCITY / "music" / "default").glob("*.ogg")), LINCITY, prefix="lincity")
                 + _load([FROZEN_BUBBLE / n for n in FROZEN_MUSIC], FROZEN_BUBBLE, prefix="frozen-bubble"))


@cache
def room(split: str) -> tuple[Sound, ...]:
    """Real recorded room and street sounds of ``split`` (field recordings, appliances, people)."""
    _check(split)
    lincity = sorted((LINCITY / "sounds").glob("*.wav"))
    if split == "tuning":
        return tuple(_load([p for p in lincity if p.name[0] <= "L"], LINCITY, prefix="lincity"))
    return tuple(_load([p for p in lincity if p.name[0] > "L"], LINCITY, prefix="lincity")
                 + _load([FROZEN_BUBBLE / n for n in FROZEN_ROOM], FROZEN_BUBBLE, prefix="frozen-bubble")
                 + _load([FREEDESKTOP / n for n in FREEDESKTOP_ROOM], FREEDESKTOP, prefix="freedesktop"))


def seconds(sounds) -> float:
    """Total length of distinct recordings."""
    return sum(len(s.samples) for s in sounds) / SR


def _check(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown corpus split {split!r}: expected one of {', '.join(SPLITS)}")
