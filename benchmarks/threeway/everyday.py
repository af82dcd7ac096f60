"""Everyday events on the far end of an ordinary call: what must never end one.

Each event renders a stretch of the called party's end of the line (before the
telephone channel): the room's own sound, the party's voice, and the event.  Real
recordings are used wherever a Debian package ships them (music, TV and radio,
street, animals, crowds, phones and bells: :mod:`benchmarks.threeway.sounds`);
the rest is modelled from the physics of the event (an impact on a handset, a
button, a phone's audio path switching, the exchange's call-waiting mute, a
radio link fading, a VoIP jitter buffer concealing lost packets).

The tuning part and the held-out part draw their parameters from different
ranges (:func:`span`) as well as from different recordings, so a detector tuned
on one is not measured on what it was tuned on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from benchmarks.threeway import sounds
from phonesim.dsp.dtmf import DtmfGenerator
from phonesim.dsp.levels import dbm0_to_peak, dbm0_to_rms

SR = sounds.SR

#: Everyday event classes, each a function below.
EVENT_KINDS = ("handset-table", "handset-dropped", "mute", "hand-over-mouthpiece", "tv-off", "tv-on",
               "music-on-hold", "silent-hold", "door", "dog", "car-passing", "extension-pickup",
               "speakerphone", "call-waiting", "cordless-fade", "packet-loss", "laugh-cough", "kettle",
               "baby", "phone-ringing", "stray-key", "room-sound", "appliance-beeps", "walk-away",
               "knuckle-rap", "slam-then-quiet", "set-down-then-mute", "baby-monitor", "intercom",
               "handset-taps", "noise-gate", "fidget-taps")


def span(split: str, tuning: tuple[float, float], held_out: tuple[float, float]) -> tuple[float, float]:
    """The parameter range of ``split``: the held-out part uses its own (usually wider) range."""
    return tuning if split == "tuning" else held_out


def _fade(x: np.ndarray, n_in: int, n_out: int | None = None) -> np.ndarray:
    """Raised-cosine fade in over ``n_in`` and out over ``n_out`` samples (in place)."""
    n_out = n_in if n_out is None else n_out
    k_in, k_out = min(n_in, len(x) // 2), min(n_out, len(x) // 2)
    if k_in > 0:
        x[:k_in] *= 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, k_in))
    if k_out > 0:
        x[len(x) - k_out:] *= 0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, k_out))
    return x


def excerpt(x: np.ndarray, n: int, rng: np.random.Generator, fade_s: float = 0.03) -> np.ndarray:
    """``n`` samples of ``x`` from a random place (looped if shorter), faded in and out.

    A talker is never cut within a few milliseconds in a real call (that would be
    a splice, which looks like a hook flash), so the edges fade over ``fade_s``.
    """
    if n <= 0:
        return np.zeros(0)
    if len(x) < n:
        x = np.tile(x, n // len(x) + 1)
    start = int(rng.integers(0, len(x) - n + 1))
    return _fade(x[start:start + n].copy(), int(fade_s * SR))


def _at_level(x: np.ndarray, level_dbm0: float) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x * x))) or 1.0
    return x * (float(dbm0_to_rms(level_dbm0)) / rms)


def _place(out: np.ndarray, x: np.ndarray, at: int) -> None:
    """Add ``x`` into ``out`` from sample ``at``, clipped to ``out``."""
    at = max(0, at)
    n = min(len(x), len(out) - at)
    if n > 0:
        out[at:at + n] += x[:n]


# --- physical models -----------------------------------------------------------------
def impact(rng: np.random.Generator, level_dbm0: float, *, body_hz: tuple[float, float] = (700.0, 2500.0),
           decay_s: tuple[float, float] = (0.004, 0.03)) -> np.ndarray:
    """An object struck (a handset set down, a door, a knock) as a microphone hears it.

    A broadband contact pulse exciting a few damped modes (the handset's shell, the
    table), with the level of the peak given by ``level_dbm0`` (a sine of equal peak).
    """
    n = int(0.12 * SR)
    t = np.arange(n) / SR
    x = np.zeros(n)
    for _ in range(int(rng.integers(2, 5))):
        f = rng.uniform(*body_hz) if rng.random() < 0.7 else rng.uniform(90.0, 400.0)
        tau = rng.uniform(*decay_s)
        x += rng.uniform(0.3, 1.0) * np.exp(-t / tau) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
    contact = rng.standard_normal(n) * np.exp(-t / rng.uniform(0.0005, 0.002))
    x += contact * rng.uniform(0.3, 1.0)
    x *= float(dbm0_to_peak(level_dbm0)) / (np.max(np.abs(x)) or 1.0)
    return x


def button_click(rng: np.random.Generator, level_dbm0: float) -> np.ndarray:
    """A key or switch on the handset itself, heard through its own microphone: a 1-3 ms tick."""
    n = int(0.01 * SR)
    t = np.arange(n) / SR
    x = rng.standard_normal(n) * np.exp(-t / rng.uniform(0.0005, 0.0015))
    x += np.exp(-t / 0.002) * np.sin(2 * np.pi * rng.uniform(1500, 3200) * t)
    return x * float(dbm0_to_peak(level_dbm0)) / (np.max(np.abs(x)) or 1.0)


def line_click(rng: np.random.Generator, level_dbm0: float) -> np.ndarray:
    """An electrical transient on the line (an extension's hook switch): the loop-current step rings."""
    n = int(0.02 * SR)
    t = np.arange(n) / SR
    x = np.exp(-t / rng.uniform(0.001, 0.003)) * np.cos(2 * np.pi * rng.uniform(300, 900) * t)
    return x * float(dbm0_to_peak(level_dbm0)) * rng.choice([-1.0, 1.0])


def bark(rng: np.random.Generator, level_dbm0: float) -> np.ndarray:
    """A dog's bark: a harsh voiced burst whose pitch falls, 80-250 ms, through a formant."""
    n = int(rng.uniform(0.08, 0.25) * SR)
    t = np.arange(n) / SR
    f0 = rng.uniform(350, 800) * np.exp(-t / rng.uniform(0.08, 0.3))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 12)) + 0.5 * rng.standard_normal(n)
    b, a = signal.iirpeak(rng.uniform(800, 1800), 3.0, fs=SR)
    x = signal.lfilter(b, a, x) * np.minimum(1.0, t / 0.01) * np.exp(-t / (n / SR / 2))
    return _at_level(x, level_dbm0)


def cry(rng: np.random.Generator, n: int, level_dbm0: float) -> np.ndarray:
    """A baby crying: wails of 0.5-1.5 s, F0 350-600 Hz with vibrato, gasps between."""
    out = np.zeros(n)
    pos = 0
    while pos < n:
        m = int(rng.uniform(0.5, 1.5) * SR)
        t = np.arange(m) / SR
        f0 = rng.uniform(350, 600) * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(4, 8) * t)) * (1 - 0.15 * t / t[-1])
        phase = 2 * np.pi * np.cumsum(f0) / SR
        wail = sum(np.sin(k * phase) * np.exp(-0.3 * k) for k in range(1, 8)) + 0.2 * rng.standard_normal(m)
        _place(out, _fade(wail, int(0.05 * SR), int(0.1 * SR)), pos)
        pos += m + int(rng.uniform(0.2, 0.7) * SR)
    return _at_level(out, level_dbm0)


def laugh_or_cough(rng: np.random.Generator, level_dbm0: float) -> np.ndarray:
    """Laughter (voiced 'ha' bursts at about 5 a second) or a cough (1-3 sharp noise bursts)."""
    if rng.random() < 0.5:
        count, length = int(rng.integers(3, 9)), 0.2
        f0 = rng.uniform(150, 350)
    else:
        count, length = int(rng.integers(1, 4)), 0.35
        f0 = 0.0
    out = np.zeros(int(count * length * SR + SR // 2))
    for i in range(count):
        m = int(rng.uniform(0.08, length) * SR)
        t = np.arange(m) / SR
        burst = rng.standard_normal(m)
        if f0:
            burst = burst * 0.3 + sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
        b, a = signal.iirpeak(rng.uniform(500, 1500), 2.0, fs=SR)
        burst = signal.lfilter(b, a, burst) * np.exp(-t / (m / SR / 2.5)) * np.minimum(1.0, t / 0.004)
        _place(out, burst, int(i * length * SR))
    return _at_level(out, level_dbm0)


def passing_car(rng: np.random.Generator, n: int, peak_dbm0: float) -> np.ndarray:
    """A car passing outside: brown-ish road noise and engine hum swelling and fading (Doppler)."""
    t = np.arange(n) / SR
    centre, width = n / SR * rng.uniform(0.3, 0.7), rng.uniform(0.8, 2.5)
    env = 1.0 / (1.0 + ((t - centre) / width) ** 2)
    road = signal.lfilter([1.0], [1.0, -0.97], rng.standard_normal(n))
    f = rng.uniform(60, 140) * (1 + 0.05 * np.tanh(-(t - centre) / width))
    engine = sum(np.sin(2 * np.pi * k * np.cumsum(f) / SR) / k for k in range(1, 6))
    x = (road / (np.std(road) or 1.0) + 0.5 * engine) * env
    return x * float(dbm0_to_rms(peak_dbm0)) / (np.sqrt(np.max(signal.lfilter(np.ones(400) / 400, 1, x * x))) or 1.0)


def kettle(rng: np.random.Generator, n: int, level_dbm0: float) -> tuple[np.ndarray, int]:
    """A kettle coming to the boil, maybe whistling, then switched off with a click; returns (audio, off sample)."""
    t = np.arange(n) / SR
    off = int(n * rng.uniform(0.5, 0.8))
    boil = signal.lfilter([1.0, -0.6], [1.0], rng.standard_normal(n)) * np.minimum(1.0, 0.4 + t / (off / SR))
    if rng.random() < 0.5:
        f = rng.uniform(1500, 3000) * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(3, 7) * t))
        boil += 2.0 * np.sin(2 * np.pi * np.cumsum(f) / SR) * np.minimum(1.0, t / 2.0)
    x = _at_level(boil, level_dbm0)
    tail = np.exp(-np.arange(n - off) / (SR * rng.uniform(0.05, 0.6)))
    x[off:] *= tail
    _place(x, button_click(rng, level_dbm0 + rng.uniform(-5.0, 5.0)), off)
    return x, off


def bell_ring(rng: np.random.Generator, n: int, level_dbm0: float) -> np.ndarray:
    """A telephone's electromechanical bell in the room: a 20 Hz striker on two gongs, 2 s on / 4 s off."""
    t = np.arange(n) / SR
    gongs = sum(np.sin(2 * np.pi * f * t) for f in rng.uniform(900, 2200, size=3))
    strikes = (np.sin(2 * np.pi * 20 * t) > 0.9).astype(float)
    env = signal.lfilter([1.0], [1.0, -0.995], strikes)
    cadence = (t % 6.0) < 2.0
    return _at_level(gongs * env * cadence + 1e-6, level_dbm0)


def beeps(rng: np.random.Generator, level_dbm0: float) -> np.ndarray:
    """A microwave, a smoke alarm or a washing machine: 1-5 beeps of one tone (2-4 kHz)."""
    f = rng.uniform(2000, 4000) if rng.random() < 0.7 else rng.uniform(700, 1300)
    on, off = rng.uniform(0.08, 0.5), rng.uniform(0.08, 0.4)
    out = []
    for _ in range(int(rng.integers(1, 6))):
        t = np.arange(int(on * SR)) / SR
        out += [_fade(np.sin(2 * np.pi * f * t), 40), np.zeros(int(off * SR))]
    x = np.concatenate(out)
    return x * float(dbm0_to_peak(level_dbm0))


def stray_keys(rng: np.random.Generator, level_dbm0: float) -> np.ndarray:
    """A cheek or a pocket pressing one or two keys of the far phone."""
    generator = DtmfGenerator(SR, level_dbm0=level_dbm0)
    parts = [generator.digits(str(rng.choice(list("0123456789*#"))), on_ms=rng.uniform(50, 300),
                              tail_ms=rng.uniform(100, 1500)).astype(float)
             for _ in range(int(rng.integers(1, 3)))]
    return np.concatenate(parts)


def muffle(x: np.ndarray, cutoff_hz: float, gain_db: float) -> np.ndarray:
    """A hand over the mouthpiece: the high frequencies gone, the level down."""
    sos = signal.butter(2, cutoff_hz, btype="lowpass", fs=SR, output="sos")
    return signal.sosfilt(sos, x) * 10 ** (gain_db / 20)


def reverberant(x: np.ndarray, rng: np.random.Generator, rt_s: float) -> np.ndarray:
    """A room's reverberation (speakerphone pick-up): exponentially decaying noise impulse response."""
    m = int(rt_s * SR)
    ir = rng.standard_normal(m) * np.exp(-6.9 * np.arange(m) / m)
    ir[0] = 1.0 / 0.3
    y = signal.fftconvolve(x, ir)[: len(x)]
    return y * (np.std(x) / (np.std(y) or 1.0))


# --- the called party's end ------------------------------------------------------------
@dataclass
class Party:
    """One called party: their voice, their room, their line."""

    split: str
    voice: sounds.Sound
    level_db: float  # gain applied to the -20 dBm0 speech
    room_kind: str  # white, pink, hum, babble, field (a real recording looped)
    room_dbm0: float
    echo_db: float  # the inmate's speech coming back, relative to -20 dBm0
    room_recording: np.ndarray | None = field(default=None, repr=False)


def room_noise(n: int, party: Party, rng: np.random.Generator, level_dbm0: float | None = None) -> np.ndarray:
    """The party's room: white, pink, mains hum, distant voices, or a real field recording looped."""
    kind = party.room_kind
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
    elif kind == "babble":
        voices = sounds.speech(party.split)
        x = sum(excerpt(voices[int(rng.integers(len(voices)))].samples, n, rng) for _ in range(4))
    else:
        x = excerpt(party.room_recording, n, rng, fade_s=0.0) if n else np.zeros(0)
    if n == 0:
        return np.zeros(0)
    return _at_level(x + 1e-9 * rng.standard_normal(n), party.room_dbm0 if level_dbm0 is None else level_dbm0)


def random_party(rng: np.random.Generator, split: str) -> Party:
    voices = sounds.speech(split)
    kind = str(rng.choice(["white", "pink", "hum", "babble", "field"]))
    room_lo, room_hi = span(split, (-70.0, -45.0), (-78.0, -40.0))
    party = Party(split=split, voice=voices[int(rng.integers(len(voices)))],
                  level_db=float(rng.uniform(*span(split, (-10.0, 8.0), (-14.0, 10.0)))),
                  room_kind=kind, room_dbm0=float(rng.uniform(room_lo, room_hi)),
                  echo_db=float(rng.uniform(*span(split, (-35.0, -20.0), (-40.0, -15.0)))))
    if kind == "field":
        recordings = sounds.room(split)
        party.room_recording = recordings[int(rng.integers(len(recordings)))].samples
    return party


def talk(n: int, party: Party, rng: np.random.Generator) -> np.ndarray:
    """The party talking (with their room behind them)."""
    voice = excerpt(party.voice.samples, n, rng) * 10 ** ((party.level_db + rng.uniform(-3, 3)) / 20)
    return voice + room_noise(n, party, rng)


def listen(n: int, party: Party, rng: np.random.Generator) -> np.ndarray:
    """The party listening: the inmate's voice comes back as hybrid echo, over their room."""
    voices = sounds.speech(party.split)
    echo = excerpt(voices[int(rng.integers(len(voices)))].samples, n, rng) * 10 ** (party.echo_db / 20)
    return echo + room_noise(n, party, rng)


def _s(rng: np.random.Generator, lo_hi: tuple[float, float]) -> int:
    return int(rng.uniform(*lo_hi) * SR)


def event(kind: str, party: Party, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Render one everyday event of ``kind`` with its surroundings; returns (audio, note).

    The audio begins and ends with the party talking, so the event sits inside a
    conversation the way it does in a real call.
    """
    if kind not in _EVENTS:
        raise ValueError(f"unknown everyday event {kind!r}: expected one of {', '.join(EVENT_KINDS)}")
    split = party.split
    before = talk(_s(rng, (1.0, 4.0)), party, rng)
    after = talk(_s(rng, (1.0, 4.0)), party, rng)
    body, note = _EVENTS[kind](party, rng, split)
    return np.concatenate([before, body, after]), f"{kind}: {note}"


def _handset_table(party, rng, split, dropped=False):
    """Put down (one to three knocks), the microphone hears the room from the table, picked up."""
    away = _s(rng, span(split, (2.0, 30.0), (0.6, 60.0)))
    level = rng.uniform(*(span(split, (-20.0, -5.0), (-25.0, 0.0)) if not dropped else (-8.0, 3.0)))
    room = room_noise(away, party, rng, party.room_dbm0 + rng.uniform(-8.0, 2.0))
    voices = sounds.speech(split)
    distant = excerpt(voices[int(rng.integers(len(voices)))].samples, away, rng) * 10 ** (rng.uniform(-40, -22) / 20)
    if rng.random() < 0.5:  # nobody talks near the table
        distant[:] = 0.0
    x = room + distant
    knocks = int(rng.integers(1, 4 if not dropped else 6))
    pos = 0
    for _ in range(knocks):
        _place(x, impact(rng, level - rng.uniform(0, 8)), pos)
        pos += _s(rng, span(split, (0.05, 0.4), (0.03, 0.8)))
    _place(x, impact(rng, level - rng.uniform(0, 6)), away - int(0.12 * SR))  # picked up
    if rng.random() < 0.5:
        _place(x, impact(rng, level - rng.uniform(3, 12)), away - int(rng.uniform(0.2, 0.6) * SR))
    return x, f"{away / SR:.1f} s on the table, {knocks} knocks at {level:.0f} dBm0"


def _mute(party, rng, split):
    """The mute button: the phone sends nothing (digital silence, or its comfort noise) for a while."""
    n = _s(rng, span(split, (1.0, 8.0), (0.3, 20.0)))
    x = np.zeros(n)
    if rng.random() < 0.3:  # a mobile's comfort noise instead of silence
        x += rng.standard_normal(n) * float(dbm0_to_rms(rng.uniform(-80, -65)))
    clicks = ""
    if rng.random() < 0.5:  # the button heard just before the microphone goes off, and as it comes back
        _place(x, button_click(rng, rng.uniform(-40, -20)), 0)
        _place(x, button_click(rng, rng.uniform(-40, -20)), n - int(0.01 * SR))
        clicks = " with button clicks"
    return x, f"{n / SR:.1f} s muted{clicks}"


def _hand_over(party, rng, split):
    n = _s(rng, (1.0, 10.0))
    voices = sounds.speech(split)
    aside = excerpt(voices[int(rng.integers(len(voices)))].samples, n, rng) * 10 ** ((party.level_db + 3) / 20)
    x = muffle(aside + room_noise(n, party, rng), rng.uniform(300, 700), rng.uniform(-25, -12))
    rub = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal(int(0.15 * SR)))
    _place(x, _fade(_at_level(rub, rng.uniform(-40, -25)), 200), 0)
    _place(x, _fade(_at_level(rub, rng.uniform(-40, -25)), 200), n - len(rub))
    return x, f"{n / SR:.1f} s of a hand over the mouthpiece"


def _tv(party, rng, split, switch_off=True):
    """A TV or radio in the room (real speech or music) running, then switched off (or on)."""
    n_on = _s(rng, (5.0, 20.0))
    src = sounds.music(split) if rng.random() < 0.5 else sounds.speech(split)
    level = rng.uniform(*span(split, (-40.0, -25.0), (-45.0, -20.0)))
    tv = excerpt(src[int(rng.integers(len(src)))].samples, n_on, rng, fade_s=0.002) * 10 ** ((level + 20) / 20)
    quiet = _s(rng, (3.0, 15.0))
    room_on = room_noise(n_on, party, rng) + tv
    room_off = room_noise(quiet, party, rng)
    if rng.random() < 0.5:
        _place(room_on if switch_off else room_off, button_click(rng, level + rng.uniform(-5, 10)),
               n_on - 80 if switch_off else 0)
    x = np.concatenate([room_on, room_off] if switch_off else [room_off, room_on])
    return x, f"TV/radio at {level:.0f} dBm0 switched {'off' if switch_off else 'on'}"


def _music_on_hold(party, rng, split):
    n = _s(rng, span(split, (5.0, 40.0), (3.0, 90.0)))
    music = sounds.music(split)
    level = rng.uniform(-28, -10)
    x = excerpt(music[int(rng.integers(len(music)))].samples, n, rng, fade_s=0.001) * 10 ** ((level + 20) / 20)
    return x, f"{n / SR:.1f} s of music on hold at {level:.0f} dBm0"


def _silent_hold(party, rng, split):
    n = _s(rng, span(split, (3.0, 30.0), (2.0, 60.0)))
    return np.zeros(n), f"{n / SR:.1f} s on hold (silence)"


def _door(party, rng, split):
    n = _s(rng, (1.5, 4.0))
    x = room_noise(n, party, rng)
    if rng.random() < 0.5:  # a slam with the room ringing after it
        slam = impact(rng, rng.uniform(-35, -10), body_hz=(60.0, 300.0), decay_s=(0.02, 0.08))
        tail = rng.standard_normal(int(0.5 * SR)) * np.exp(-np.arange(int(0.5 * SR)) / (0.12 * SR))
        _place(x, slam, int(0.3 * SR))
        _place(x, _at_level(tail, rng.uniform(-55, -35)), int(0.3 * SR))
        return x, "door slammed"
    level = rng.uniform(-40, -15)
    for i in range(int(rng.integers(2, 5))):
        _place(x, impact(rng, level, body_hz=(150.0, 600.0), decay_s=(0.01, 0.04)), int((0.3 + 0.22 * i) * SR))
    return x, "knock at the door"


def _dog(party, rng, split):
    n = _s(rng, (2.0, 6.0))
    x = room_noise(n, party, rng)
    level = rng.uniform(-35, -10)
    pos = int(0.2 * SR)
    count = int(rng.integers(1, 7))
    for _ in range(count):
        _place(x, bark(rng, level + rng.uniform(-4, 2)), pos)
        pos += _s(rng, (0.25, 0.9))
    return x, f"{count} barks at {level:.0f} dBm0"


def _car(party, rng, split):
    n = _s(rng, (4.0, 10.0))
    peak = rng.uniform(-45, -25)
    return room_noise(n, party, rng) + passing_car(rng, n, peak), f"car passing, peak {peak:.0f} dBm0"


def _extension(party, rng, split):
    """Someone picks up an extension: a line click, the level drops a little, a second voice joins, a click."""
    n = _s(rng, (5.0, 20.0))
    voices = sounds.speech(split)
    other = voices[int(rng.integers(len(voices)))]
    second = Party(split, other, float(rng.uniform(-8, 4)), "white", party.room_dbm0 + rng.uniform(-10, 5),
                   party.echo_db)
    mix = np.concatenate([talk(n // 2, second, rng), listen(n - n // 2, party, rng)]) * 10 ** (-rng.uniform(0, 3) / 20)
    _place(mix, line_click(rng, rng.uniform(-30, -8)), 0)
    _place(mix, line_click(rng, rng.uniform(-30, -8)), n - int(0.02 * SR))
    return mix, "an extension picked up and hung up"


def _speakerphone(party, rng, split):
    """Switched to the speakerphone: a button, the audio path off for 50-500 ms, then a louder, reverberant room."""
    gap = _s(rng, span(split, (0.05, 0.4), (0.03, 0.8)))
    n = _s(rng, (3.0, 10.0))
    louder = Party(split, party.voice, party.level_db - rng.uniform(0, 6), party.room_kind,
                   party.room_dbm0 + rng.uniform(4, 12), party.echo_db + rng.uniform(3, 10), party.room_recording)
    speaker = reverberant(np.concatenate([talk(n // 2, louder, rng), listen(n - n // 2, louder, rng)]), rng,
                          rng.uniform(0.2, 0.6))
    x = np.concatenate([np.zeros(gap), speaker])
    if rng.random() < 0.6:
        _place(x, button_click(rng, rng.uniform(-35, -15)), 0)
    return x, f"speakerphone after a {gap * 1000 // SR} ms switch"


def _call_waiting(party, rng, split):
    """A second caller: the exchange cuts the far party's speech while it beeps in their ear (ignored)."""
    gap = _s(rng, span(split, (0.2, 0.6), (0.1, 1.2)))
    between = talk(_s(rng, (8.0, 11.0)), party, rng)
    x = [np.zeros(gap)]
    if rng.random() < 0.5:  # the beep is repeated ten seconds later
        x += [between, np.zeros(gap)]
    return np.concatenate(x), f"call waiting, {gap * 1000 // SR} ms mutes"


def _cordless(party, rng, split):
    """A cordless phone near the edge of its range: static, crackle, the voice chopping out."""
    n = _s(rng, (3.0, 12.0))
    x = talk(n, party, rng)
    gate = np.ones(n)
    pos = 0
    while pos < n:
        pos += _s(rng, (0.1, 1.5))
        m = _s(rng, span(split, (0.02, 0.3), (0.01, 0.6)))
        gate[pos:pos + m] = 0.0
        pos += m
    static = rng.standard_normal(n) * float(dbm0_to_rms(rng.uniform(-50, -30)))
    static *= signal.lfilter([1.0], [1.0, -0.999], rng.standard_normal(n) > 2.5) > 0.3
    return x * gate + static * (1 - gate) * (rng.random() < 0.5), "cordless phone at the edge of its range"


def _packet_loss(party, rng, split):
    """A burst of lost packets on a VoIP leg, concealed by repeating the last one (or left silent)."""
    n = _s(rng, (5.0, 15.0))
    x = np.concatenate([talk(n // 2, party, rng), listen(n - n // 2, party, rng)])
    frame = 160
    loss = rng.uniform(*span(split, (0.03, 0.15), (0.02, 0.3)))
    conceal = rng.random() < 0.7
    lost = False
    for i in range(1, n // frame):
        lost = rng.random() < (0.5 if lost else loss)  # a Gilbert model: losses come in bursts
        if lost:
            seg = slice(i * frame, (i + 1) * frame)
            x[seg] = x[(i - 1) * frame:i * frame] * 0.6 if conceal else 0.0
    return x, f"{loss:.0%} packet loss, {'concealed' if conceal else 'silent'}"


def _laugh(party, rng, split):
    n = _s(rng, (2.0, 5.0))
    x = talk(n, party, rng)
    _place(x, laugh_or_cough(rng, party.level_db - 20 + rng.uniform(-6, 6)), int(rng.uniform(0.2, 0.5) * n))
    return x, "laughter or coughing"


def _kettle(party, rng, split):
    n = _s(rng, (6.0, 20.0))
    sound, _ = kettle(rng, n, rng.uniform(-45, -25))
    return room_noise(n, party, rng) + sound, "kettle boiling, switched off"


def _baby(party, rng, split):
    n = _s(rng, (3.0, 10.0))
    return room_noise(n, party, rng) + cry(rng, n, rng.uniform(-40, -15)), "a baby crying"


def _phone_ringing(party, rng, split):
    n = _s(rng, (4.0, 13.0))
    level = rng.uniform(-40, -18)
    if split == "tuning" or rng.random() < 0.4:
        ring = bell_ring(rng, n, level)
    else:
        ringtones = [s for s in sounds.room(split) if "phone" in s.name or "bell" in s.name or "alarm" in s.name]
        ring = excerpt(ringtones[int(rng.integers(len(ringtones)))].samples, n, rng, 0.002) * 10 ** ((level + 20) / 20)
    return room_noise(n, party, rng) + ring, f"another phone ringing in the room at {level:.0f} dBm0"


def _stray_key(party, rng, split):
    x = stray_keys(rng, rng.uniform(-20, -5))
    return x + room_noise(len(x), party, rng), "one or two keys pressed by a cheek"


def _room_sound(party, rng, split):
    rec = sounds.room(split)
    pick = rec[int(rng.integers(len(rec)))]
    n = max(len(pick.samples), SR)
    level = rng.uniform(-45, -15)
    x = room_noise(n, party, rng)
    _place(x, pick.samples * 10 ** ((level + 20) / 20), 0)
    return x, f"{pick.name} at {level:.0f} dBm0"


def _appliance(party, rng, split):
    x = beeps(rng, rng.uniform(-40, -15))
    return x + room_noise(len(x), party, rng), "appliance beeping"


def _walk_away(party, rng, split):
    """The party keeps talking while walking away from the phone on a speaker (fading), and back."""
    n = _s(rng, (3.0, 8.0))
    env = np.concatenate([np.linspace(1.0, 0.05, n // 2), np.linspace(0.05, 1.0, n - n // 2)])
    return talk(n, party, rng) * env, "talking while walking away and back"


def _knuckle_rap(party, rng, split):
    """Two raps of a knuckle or a pen on the table by the phone, then the party listens in a quiet room.

    The other knock pattern: two short impacts 0.1-1 s apart (a flash's length) with
    the room's own sound between them and after them, the shape of click, gap, click,
    held line.
    """
    n = _s(rng, (2.5, 5.0))
    x = room_noise(n, party, rng)
    level = rng.uniform(*span(split, (-30.0, -10.0), (-40.0, -5.0)))
    first = int(0.3 * SR)
    second = first + _s(rng, span(split, (0.12, 0.8), (0.08, 1.1)))
    for at in (first, second):
        _place(x, impact(rng, level - rng.uniform(0, 4), body_hz=(250.0, 1500.0), decay_s=(0.004, 0.02)), at)
    return x, f"two raps on the table {1000 * (second - first) // SR} ms apart at {level:.0f} dBm0, then quiet"


def _slam_then_quiet(party, rng, split):
    """A door slammed, then nobody talks for a few seconds (the room alone, whatever its level)."""
    n = _s(rng, (2.5, 6.0))
    x = room_noise(n, party, rng)
    slam = impact(rng, rng.uniform(-30, -5), body_hz=(60.0, 300.0), decay_s=(0.02, 0.08))
    _place(x, slam, int(0.3 * SR))
    if rng.random() < 0.5:  # the latch, a moment after
        _place(x, impact(rng, rng.uniform(-40, -20), body_hz=(800.0, 3000.0), decay_s=(0.003, 0.01)),
               int(rng.uniform(0.4, 0.9) * SR))
    return x, "door slammed, then quiet"


def _set_down_then_mute(party, rng, split):
    """The handset set down on the table (a knock), and a moment later the mute pressed: dead line."""
    before = _s(rng, span(split, (0.2, 1.5), (0.1, 2.0)))
    muted = _s(rng, span(split, (2.0, 15.0), (1.0, 30.0)))
    x = np.concatenate([room_noise(before, party, rng, party.room_dbm0 + rng.uniform(-8.0, 0.0)), np.zeros(muted)])
    _place(x, impact(rng, rng.uniform(*span(split, (-20.0, -5.0), (-30.0, 0.0)))), 0)
    _place(x, button_click(rng, rng.uniform(-40, -15)), before - int(0.005 * SR))
    _place(x, button_click(rng, rng.uniform(-40, -15)), len(x) - int(0.01 * SR))  # unmuted, picked up
    return x, f"set down, muted {before * 1000 // SR} ms later for {muted / SR:.1f} s"


def _baby_monitor(party, rng, split):
    """A baby monitor's receiver in the room: its squelch opens with a click and hiss, a cry, and closes."""
    n = _s(rng, (3.0, 8.0))
    x = room_noise(n, party, rng)
    level = rng.uniform(-45, -25)
    pos = int(0.2 * SR)
    for _ in range(int(rng.integers(1, 4))):
        burst = _s(rng, (0.3, 2.0))
        hiss = rng.standard_normal(burst) * float(dbm0_to_rms(level - rng.uniform(5, 15)))
        if rng.random() < 0.7:
            hiss += cry(rng, burst, level)
        tail = int(rng.uniform(0.05, 0.15) * SR)  # the squelch tail: a burst of noise, then cut
        hiss = np.concatenate([hiss, rng.standard_normal(tail) * float(dbm0_to_rms(level))])
        _place(x, hiss, pos)
        _place(x, button_click(rng, level + rng.uniform(0, 10)), pos)
        pos += len(hiss) + _s(rng, span(split, (0.3, 1.5), (0.1, 2.0)))
    return x, f"baby monitor at {level:.0f} dBm0"


def _intercom(party, rng, split):
    """A building intercom or door phone: a relay click, a voice from its small speaker, a click, quiet."""
    n = _s(rng, (2.5, 6.0))
    x = room_noise(n, party, rng)
    voices = sounds.speech(split)
    talk_n = _s(rng, (0.4, 1.5))
    level = rng.uniform(-40, -20)
    voice = excerpt(voices[int(rng.integers(len(voices)))].samples, talk_n, rng, fade_s=0.002)
    voice = np.tanh(3 * signal.sosfilt(signal.butter(2, [500, 2500], btype="bandpass", fs=SR, output="sos"),
                                       voice) / 32768) * 32768
    at = int(0.3 * SR)
    _place(x, _at_level(voice, level), at + int(0.05 * SR))
    relay = (-45.0, -20.0)
    _place(x, impact(rng, rng.uniform(*relay), body_hz=(300.0, 3000.0), decay_s=(0.002, 0.01)), at)
    _place(x, impact(rng, rng.uniform(*relay), body_hz=(300.0, 3000.0), decay_s=(0.002, 0.01)),
           at + talk_n + int(0.1 * SR))
    return x, f"a relay, {talk_n * 1000 // SR} ms of a voice at {level:.0f} dBm0, a relay"


def _taps_in_pause(party, rng, split, gated=False):
    """The party stops talking and taps the handset in the pause (a finger, a ring, the cord).

    A tap is a short, low thump: a contact pulse exciting the handset's shell,
    ringing for 2-15 ms, in a room that may be quieter than the line.  Talk that
    stops, a thump, then silence: the shapes of a break, a make click and a held
    line.  The party then listens for a few seconds.

    ``gated``: the phone is a mobile or a VoIP app whose noise suppressor gates the
    line between words.  The gate opens on the voice and on a tap, holds open for
    20-200 ms after it, and closes within a few milliseconds, to nothing or to
    25-40 dB down, so the room is heard only while it is open: every pause is a
    room cut off at once, and the line after a tap is dead.
    """
    talk_n, quiet_n = _s(rng, (1.5, 4.0)), _s(rng, (2.5, 6.0))
    n = talk_n + quiet_n
    voice = np.zeros(n)
    voice[:talk_n] = excerpt(party.voice.samples, talk_n, rng) * 10 ** ((party.level_db + rng.uniform(-3, 3)) / 20)
    taps = int(rng.integers(1, 4))
    level = rng.uniform(*span(split, (-40.0, -10.0), (-45.0, -5.0)))
    at = talk_n
    for _ in range(taps):
        at += _s(rng, span(split, (0.1, 1.2), (0.06, 1.5)))
        _place(voice, impact(rng, level - rng.uniform(0, 6), body_hz=(150.0, 1200.0), decay_s=(0.002, 0.015)), at)
    env, gate = _gate_envelope(voice, party, rng, split)  # drawn either way: later draws stay the same
    x = voice + room_noise(n, party, rng)
    if gated:
        x = x * env
    return x, f"{gate + ', ' if gated else ''}{taps} tap(s) at {level:.0f} dBm0 in the pause"


def _gate_envelope(keyed: np.ndarray, party: Party, rng: np.random.Generator, split: str
                   ) -> tuple[np.ndarray, str]:
    """The gain of a phone's noise gate keyed on ``keyed`` (what its microphone hears above the room).

    The gate works on 2 ms levels: it opens on the voice or a tap, holds open for
    20-200 ms after it, and closes within a few milliseconds, to nothing or to
    25-40 dB down.  Returns the gain per sample and a note describing the gate.
    """
    n = len(keyed)
    block = 16
    blocks = keyed[:n // block * block].reshape(-1, block)
    threshold_dbm0 = max(party.room_dbm0 + 10.0, -50.0)
    open_blocks = 10 * np.log10(np.mean(blocks * blocks, axis=1) / float(dbm0_to_rms(0.0)) ** 2 + 1e-12) > threshold_dbm0
    hold_blocks = int(rng.uniform(*span(split, (0.03, 0.15), (0.02, 0.2))) * SR) // block
    opened = np.flatnonzero(open_blocks)
    idx = np.arange(len(open_blocks))
    last_open = np.full(len(open_blocks), -10**9)
    last_open[opened] = opened
    last_open = np.maximum.accumulate(last_open)
    since_ms = (idx - last_open - hold_blocks) * 1000.0 * block / SR  # past the hold
    release_ms = rng.uniform(*span(split, (2.0, 20.0), (1.0, 30.0)))
    floor = 0.0 if rng.random() < 0.5 else 10 ** (-rng.uniform(25, 40) / 20)
    env = np.where(since_ms <= 0, 1.0, np.maximum(floor, np.exp(-np.maximum(since_ms, 0) / release_ms)))
    env = np.concatenate([np.repeat(env, block), np.full(n - len(env) * block, env[-1] if len(env) else 1.0)])
    return env, f"gated line (hold {hold_blocks * block * 1000 // SR} ms, release {release_ms:.0f} ms)"


def _fidget_while_listening(party, rng, split):
    """The party listens for a long while (the inmate is talking) and fidgets with the handset.

    Taps, double and triple taps on the shell, now and then over 5-30 s of
    listening: two little flashes with a dead line between them, if the line is
    dead.  On an analogue line the inmate's own voice comes back as hybrid
    echo; on a line with an echo canceller, or a mobile or VoIP app that gates
    what its microphone does not hear, only the taps are left.
    """
    n = _s(rng, span(split, (5.0, 30.0), (4.0, 45.0)))
    voice = np.zeros(n)
    level = rng.uniform(*span(split, (-40.0, -10.0), (-45.0, -5.0)))
    bursts = int(rng.integers(2, 6))
    for _ in range(bursts):
        at = int(rng.integers(0, max(1, n - SR)))
        for _ in range(int(rng.integers(1, 4))):  # a tap, a double or a triple tap
            _place(voice, impact(rng, level - rng.uniform(0, 6), body_hz=(150.0, 1200.0), decay_s=(0.002, 0.015)), at)
            at += _s(rng, span(split, (0.1, 0.6), (0.06, 1.0)))
    line = str(rng.choice(["echo", "echo-cancelled", "gated"]))
    background = listen(n, party, rng) if line == "echo" else room_noise(n, party, rng)
    x = voice + background
    note = f"{line} line"
    if line == "gated":
        env, note = _gate_envelope(voice, party, rng, split)
        x = x * env
    return x, f"{note}, {bursts} bursts of taps at {level:.0f} dBm0 while listening for {n / SR:.0f} s"


_EVENTS = {"handset-table": _handset_table,
           "handset-dropped": lambda p, r, s: _handset_table(p, r, s, dropped=True),
           "mute": _mute, "hand-over-mouthpiece": _hand_over, "tv-off": _tv,
           "tv-on": lambda p, r, s: _tv(p, r, s, switch_off=False), "music-on-hold": _music_on_hold,
           "silent-hold": _silent_hold, "door": _door, "dog": _dog, "car-passing": _car,
           "extension-pickup": _extension, "speakerphone": _speakerphone, "call-waiting": _call_waiting,
           "cordless-fade": _cordless, "packet-loss": _packet_loss, "laugh-cough": _laugh, "kettle": _kettle,
           "baby": _baby, "phone-ringing": _phone_ringing, "stray-key": _stray_key, "room-sound": _room_sound,
           "appliance-beeps": _appliance, "walk-away": _walk_away, "knuckle-rap": _knuckle_rap,
           "slam-then-quiet": _slam_then_quiet, "set-down-then-mute": _set_down_then_mute,
           "baby-monitor": _baby_monitor, "intercom": _intercom, "handset-taps": _taps_in_pause,
           "noise-gate": lambda p, r, s: _taps_in_pause(p, r, s, gated=True),
           "fidget-taps": _fidget_while_listening}
assert set(_EVENTS) == set(EVENT_KINDS)
