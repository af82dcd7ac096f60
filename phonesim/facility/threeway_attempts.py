"""What the far end sends while the called party attempts a three-way call.

A person at home sets up a three-way call by flashing the hook switch: the line
clicks, goes silent while the loop is open (a "flash" of roughly 0.1-0.9 s),
clicks again; the central office answers with a stutter (confirmation) tone
and then steady dial tone; the person dials the third number with DTMF, hears
ringback, and flashes again to bridge everyone; a third voice joins
(``docs/domain.md`` section 6.1).  On a real line the inmate hears some
or all of this, depending on the exchange: that is what the kinds below model.

:func:`attempt_audio` renders one attempt as 8 kHz int16 far-end audio.  The far-end
robot (``robot://accept?threeway=flash&threeway_after_s=60``) plays it in the
middle of a call, and the three-way benchmark embeds it in real conversation.
Every kind leaves exactly one family of cues audible, so the benchmark measures
each detector on its own:

``flash``
    Two hook flashes (break click, open-loop gap of 0.25-0.9 s, make click),
    with the held line silent in between.
``plain-flash``
    One hook flash and nothing after it: the held line stays silent while the
    third number is dialled, and the third party is added without a second
    audible flash (some exchanges and cordless bases join silently).
``short-flash``
    The same with very short flashes (80-150 ms) and soft clicks.
``stutter``
    A flash, then the stutter tone (350 + 440 Hz, 3 x 100 ms on/off) and steady
    dial tone leaking back to the inmate.
``dtmf``
    Only the DTMF digits of a 7- or 10-digit number, dialled at a person's pace.
``ringback``
    Only ringback (440 + 480 Hz, 2 s on / 4 s off), one to three cycles.
``hidden-noise``
    A caller who hides the flash under loud continuous noise (a TV turned up next
    to the mouthpiece 8-15 s before): the clicks drown in it, but the noise is cut
    by the open loop and is gone while the first party is held; no tones are heard.
``soft-tones``
    Stutter/dial tone, DTMF and ringback at about -30 dBm0 and no audible clicks.
``full``
    Everything audible: flash, stutter and dial tone, digits, ringback, flash.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phonesim.dsp.dtmf import DtmfGenerator
from phonesim.dsp.levels import dbm0_to_peak, dbm0_to_rms
from phonesim.dsp.tones import render_tone

#: The attempt kinds :func:`attempt_audio` knows, in the order the benchmark reports them.
ATTEMPT_KINDS = ("flash", "plain-flash", "short-flash", "stutter", "dtmf", "ringback", "hidden-noise",
                 "soft-tones", "full")

def _samples(duration_s: float, sample_rate_hz: int) -> int:
    return max(0, int(round(duration_s * sample_rate_hz)))


def _silence(duration_s: float, sample_rate_hz: int) -> np.ndarray:
    return np.zeros(_samples(duration_s, sample_rate_hz))


#: Models of the hook-switch transient: ``ring`` (the loop-current step rings the line
#: transformer) and ``step`` (the step through the line's high-pass: a plain decay).
CLICK_MODELS = ("ring", "step")


def hook_click(*, rng: np.random.Generator, level_dbm0: float = -6.0, model: str = "ring",
               sample_rate_hz: int = 8000) -> np.ndarray:
    """The transient of the hook switch opening or closing the loop, as heard down the line.

    ``ring``: the loop current step rings the line transformer, a sharp edge
    followed by a damped oscillation of a few hundred hertz that dies within
    ~10 ms, plus one or two smaller contact bounces.  ``step``: the step seen
    through the line card's high-pass, an exponential decay of 0.3-2 ms with
    contact bounces of either sign.  ``level_dbm0`` is the level of a sine with
    the same peak.
    """
    if model not in CLICK_MODELS:
        raise ValueError(f"unknown click model {model!r}: expected one of {', '.join(CLICK_MODELS)}")
    n = int(0.025 * sample_rate_hz)
    t = np.arange(n) / sample_rate_hz
    out = np.zeros(n)
    peak = float(dbm0_to_peak(level_dbm0))
    bounces = [(0.0, 1.0)] + [(rng.uniform(0.002, 0.008), rng.uniform(0.2, 0.5))
                              for _ in range(int(rng.integers(0, 3)))]
    sign = rng.choice([-1.0, 1.0])
    for start_s, gain in bounces:
        dt = t - start_s
        mask = dt >= 0
        if model == "ring":
            freq_hz = rng.uniform(300.0, 900.0)
            tau_s = rng.uniform(0.0012, 0.003)
            out[mask] += sign * gain * peak * np.exp(-dt[mask] / tau_s) * np.cos(2 * np.pi * freq_hz * dt[mask])
        else:
            tau_s = rng.uniform(0.0003, 0.002)
            out[mask] += sign * rng.choice([-1.0, 1.0]) ** (start_s > 0) * gain * peak * np.exp(-dt[mask] / tau_s)
    return out


def flash(*, rng: np.random.Generator, flash_s: float, click_dbm0: float, click_model: str = "ring",
          sample_rate_hz: int = 8000) -> np.ndarray:
    """One hook flash: break click, ``flash_s`` of open loop (digital silence), make click."""
    return np.concatenate([hook_click(rng=rng, level_dbm0=click_dbm0, model=click_model,
                                      sample_rate_hz=sample_rate_hz),
                           _silence(flash_s, sample_rate_hz),
                           hook_click(rng=rng, level_dbm0=click_dbm0, model=click_model,
                                      sample_rate_hz=sample_rate_hz)])


def stutter_then_dial(*, level_dbm0: float, dial_s: float, sample_rate_hz: int = 8000) -> np.ndarray:
    """Confirmation (stutter) tone: 350 + 440 Hz, 3 x 100 ms on / 100 ms off, then ``dial_s`` of dial tone."""
    return render_tone("stutter", 0.6 + dial_s, level_dbm0=level_dbm0,
                       sample_rate_hz=sample_rate_hz).astype(float)


def dtmf_digits(number: str, *, rng: np.random.Generator, level_dbm0: float,
                sample_rate_hz: int = 8000) -> np.ndarray:
    """``number`` keyed by hand: 70-160 ms tones, 80-400 ms gaps, a few dB of twist."""
    generator = DtmfGenerator(sample_rate_hz, level_dbm0=level_dbm0)
    parts = [generator.digits(digit, on_ms=rng.uniform(70.0, 160.0), tail_ms=rng.uniform(80.0, 400.0),
                              twist_db=rng.uniform(-1.0, 3.0)).astype(float)
             for digit in number]
    return np.concatenate(parts)


def ringback(*, level_dbm0: float, cycles: int, sample_rate_hz: int = 8000) -> np.ndarray:
    """North American ringback: 440 + 480 Hz, 2 s on / 4 s off, ``cycles`` times."""
    return render_tone("ringback", 6.0 * cycles, level_dbm0=level_dbm0,
                       sample_rate_hz=sample_rate_hz).astype(float)


def _random_number(rng: np.random.Generator) -> str:
    digits = "".join(str(d) for d in rng.integers(0, 10, size=10))
    number = str(rng.integers(2, 10)) + digits[1:]
    return number if rng.random() < 0.5 else number[3:]


def band_noise(n_samples: int, level_dbm0: float, *, rng: np.random.Generator) -> np.ndarray:
    """White noise at ``level_dbm0`` (RMS)."""
    return rng.standard_normal(n_samples) * float(dbm0_to_rms(level_dbm0))


@dataclass(frozen=True)
class AttemptRanges:
    """The ranges an attempt's random choices are drawn from.

    The defaults are the robot's and the tuning corpus's; the benchmark's held-out
    attempts use :data:`HELD_OUT_RANGES`, wider on every side.
    """

    flash_s: tuple[float, float] = (0.25, 0.9)
    click_dbm0: tuple[float, float] = (-12.0, -3.0)
    short_flash_s: tuple[float, float] = (0.08, 0.15)
    soft_click_dbm0: tuple[float, float] = (-25.0, -15.0)
    held_s: tuple[float, float] = (4.0, 12.0)
    plain_held_s: tuple[float, float] = (5.0, 20.0)
    lead_s: tuple[float, float] = (0.5, 1.5)
    click_models: tuple[str, ...] = ("ring",)


#: Held-out attempts: flashes of 0.1-1.1 s (the widest exchange windows), clicks from
#: -30 to 0 dBm0 of either model, holds of 3-30 s, the flash right after speaking.
HELD_OUT_RANGES = AttemptRanges(flash_s=(0.1, 1.1), click_dbm0=(-30.0, 0.0), short_flash_s=(0.07, 0.2),
                                soft_click_dbm0=(-32.0, -15.0), held_s=(3.0, 30.0), plain_held_s=(3.0, 40.0),
                                lead_s=(0.0, 2.0), click_models=CLICK_MODELS)


def attempt_segments(kind: str, *, rng: np.random.Generator, level_dbm0: float = -15.0,
                     noise_dbm0: float | None = None, ranges: AttemptRanges = AttemptRanges(),
                     sample_rate_hz: int = 8000) -> list[tuple[np.ndarray, bool]]:
    """The parts of an attempt as ``(float samples, room)`` pairs, before any noise is added.

    ``room`` is True where the far handset's microphone is on the line (the far
    party's background noise belongs there) and False while the loop is open or
    the first party is held.  :func:`attempt_audio` explains the parameters;
    here ``noise_dbm0`` only sets the level of the clicks of ``hidden-noise``.
    """
    if kind not in ATTEMPT_KINDS:
        raise ValueError(f"unknown three-way attempt kind {kind!r}: expected one of {', '.join(ATTEMPT_KINDS)}")
    if kind == "hidden-noise" and noise_dbm0 is None:
        noise_dbm0 = float(rng.uniform(-40.0, -30.0))
    sr = sample_rate_hz
    r = ranges
    click_dbm0 = float(rng.uniform(*r.click_dbm0))
    number = _random_number(rng)
    click_model = r.click_models[int(rng.integers(len(r.click_models)))] if len(r.click_models) > 1 \
        else r.click_models[0]
    # Each part is (samples, room): room=True when the far handset's microphone is on the line.
    # The far party stops talking; a masker turns the TV up well before flashing.
    lead_s = rng.uniform(8.0, 15.0) if kind == "hidden-noise" else rng.uniform(*r.lead_s)
    parts: list[tuple[np.ndarray, bool]] = [(_silence(lead_s, sr), True)]

    def add_flash(flash_s: float, clicks_dbm0: float, audible: bool = True) -> None:
        if audible:
            parts.append((flash(rng=rng, flash_s=flash_s, click_dbm0=clicks_dbm0, click_model=click_model,
                                sample_rate_hz=sr), False))
        else:
            parts.append((_silence(flash_s, sr), False))

    def held(duration_s: float) -> None:
        parts.append((_silence(duration_s, sr), False))

    if kind in ("flash", "hidden-noise"):
        if kind == "hidden-noise":  # the clicks drown in the noise that precedes them
            click_dbm0 = float(noise_dbm0 + rng.uniform(0.0, 10.0))
        add_flash(rng.uniform(*r.flash_s), click_dbm0)
        held(rng.uniform(*r.held_s))
        add_flash(rng.uniform(*r.flash_s), click_dbm0)
    elif kind == "plain-flash":
        add_flash(rng.uniform(*r.flash_s), click_dbm0)
        held(rng.uniform(*r.plain_held_s))
    elif kind == "short-flash":
        soft = float(rng.uniform(*r.soft_click_dbm0))
        add_flash(rng.uniform(*r.short_flash_s), soft)
        held(rng.uniform(*r.held_s))
        add_flash(rng.uniform(*r.short_flash_s), soft)
    elif kind == "stutter":
        add_flash(rng.uniform(*r.flash_s), click_dbm0)
        parts.append((stutter_then_dial(level_dbm0=level_dbm0, dial_s=rng.uniform(1.5, 3.0),
                                        sample_rate_hz=sr), False))
        held(rng.uniform(4.0, 10.0))
        add_flash(rng.uniform(*r.flash_s), click_dbm0)
    elif kind == "dtmf":
        held(rng.uniform(1.0, 2.5))
        parts.append((dtmf_digits(number, rng=rng, level_dbm0=level_dbm0, sample_rate_hz=sr), False))
        held(rng.uniform(3.0, 8.0))
    elif kind == "ringback":
        held(rng.uniform(2.0, 6.0))
        parts.append((ringback(level_dbm0=level_dbm0, cycles=int(rng.integers(1, 4)),
                               sample_rate_hz=sr), False))
    elif kind == "soft-tones":
        soft = min(level_dbm0, -30.0)
        add_flash(rng.uniform(*r.flash_s), click_dbm0, audible=False)
        parts.append((stutter_then_dial(level_dbm0=soft, dial_s=rng.uniform(1.5, 2.5),
                                        sample_rate_hz=sr), False))
        parts.append((dtmf_digits(number, rng=rng, level_dbm0=soft, sample_rate_hz=sr), False))
        parts.append((ringback(level_dbm0=soft, cycles=int(rng.integers(1, 3)),
                               sample_rate_hz=sr), False))
    else:  # full
        add_flash(rng.uniform(*r.flash_s), click_dbm0)
        parts.append((stutter_then_dial(level_dbm0=level_dbm0, dial_s=rng.uniform(1.5, 2.5),
                                        sample_rate_hz=sr), False))
        parts.append((dtmf_digits(number, rng=rng, level_dbm0=level_dbm0, sample_rate_hz=sr), False))
        parts.append((ringback(level_dbm0=level_dbm0, cycles=int(rng.integers(1, 3)),
                               sample_rate_hz=sr), False))
        add_flash(rng.uniform(*r.flash_s), click_dbm0)
    parts.append((_silence(rng.uniform(0.3, 1.0), sr), True))
    return parts


def attempt_audio(kind: str, *, rng: np.random.Generator, level_dbm0: float = -15.0,
                  noise_dbm0: float | None = None, sample_rate_hz: int = 8000) -> np.ndarray:
    """Render the far-end audio of one three-way attempt of ``kind``.

    Parameters
    ----------
    kind : str
        One of :data:`ATTEMPT_KINDS`.
    rng : numpy.random.Generator
        All random choices (flash lengths, click shapes, digits, timing) come from it,
        so a seed reproduces an attempt exactly.
    level_dbm0 : float
        Level of each frequency of the tones the inmate hears (dial tone, DTMF,
        ringback).  ``soft-tones`` uses ``min(level_dbm0, -30)``.
    noise_dbm0 : float or None
        Background noise of the far party's room, present while the far handset
        is connected and cut whenever the loop is open or the first party is held.
        ``hidden-noise`` defaults it to a loud -30..-40 dBm0.
    sample_rate_hz : int
        Output rate; the line runs at 8000.

    Returns
    -------
    numpy.ndarray
        int16 samples, starting and ending with the far party's room (or silence):
        the caller puts the third party's voice after it.

    Raises
    ------
    ValueError
        For an unknown ``kind``.
    """
    if kind == "hidden-noise" and noise_dbm0 is None:
        noise_dbm0 = float(rng.uniform(-40.0, -30.0))
    parts = attempt_segments(kind, rng=rng, level_dbm0=level_dbm0, noise_dbm0=noise_dbm0,
                             sample_rate_hz=sample_rate_hz)
    out = np.concatenate([samples for samples, _ in parts])
    if noise_dbm0 is not None:
        room = np.concatenate([np.full(len(samples), on) for samples, on in parts])
        out = out + np.where(room, band_noise(len(out), noise_dbm0, rng=rng), 0.0)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)
