"""The outside line: who answers a call placed from a facility phone.

:class:`FarEnd` is the interface the line (:class:`phonesim.facility.line.FacilityLine`)
drives once per 20 ms frame: ``dial(number)``, then ``exchange(to_far) -> from_far``
every frame, ``poll_events()`` for call progress (:class:`~phonesim.events.FarEndRinging`,
``FarEndAnswered``, ``FarEndBusy``, ``FarEndHungUp``, RFC 4733 ``FarEndDigit`` ...),
``hang_up()`` and ``close()``.  Keys the called party presses travel *in the
audio* (or as RFC 4733 events on SIP); the line decodes them, never the far end.

Backends are chosen by URL (:func:`open_far_end`), like pyserial's
``serial_for_url``:

``robot://SCRIPT?answer_after=2&talk_s=240&key_delay_s=&speech=PATH&seed=1&threeway=KIND&threeway_after_s=N``
    :class:`RobotFarEnd`, a scripted called party in frame time: ``accept``,
    ``decline``, ``block``, ``rates`` (asks for the rates, then accepts), ``talk``,
    ``busy``, ``noanswer``, ``silent`` (answers, never presses a key).
``audio://AUDIO_URL``
    :class:`AudioFarEnd`, a person on a second audio device
    (``audio://pyaudio?device=USB2`` opens ``pyaudio://?device=USB2``).
``sip:user@host[:port]``
    :class:`phonesim.facility.farend_sip.SipFarEnd`, a real SIP phone or PBX.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np

from phonesim.clock import FRAME_SAMPLES, FRAMES_PER_SECOND, frames_from_s
from phonesim.events import FarEndAnswered, FarEndBusy, FarEndHungUp, FarEndRinging
from phonesim.exc import BadAudioFile, DeviceClosed, InvalidUrl, NotSupported

__all__ = ["FarEnd", "RobotFarEnd", "AudioFarEnd", "open_far_end", "FAR_END_SCHEMES",
           "ROBOT_SCRIPTS"]

#: URL scheme -> class or "module:Class" (imported only when used).
FAR_END_SCHEMES: dict[str, object] = {
    "robot": "phonesim.facility.farend:RobotFarEnd",
    "audio": "phonesim.facility.farend:AudioFarEnd",
    "sip": "phonesim.facility.farend_sip:SipFarEnd",
    "sips": "phonesim.facility.farend_sip:SipFarEnd",
}

ROBOT_SCRIPTS = ("accept", "decline", "block", "rates", "talk", "busy", "noanswer", "silent")
#: Real speech at 8 kHz shipped by Debian's codec2-examples (the robot's default voice).
DEFAULT_SPEECH = ("/usr/share/codec2/raw/hts1a.raw", "/usr/share/codec2/raw/hts2a.raw")
US_RING_CYCLE_S = 6.0          # 2 s ring, 4 s silence
SILENCE_RMS = 40.0             # about -55 dBm0: what the robot counts as "nothing said"
ANNOUNCEMENT_END_SILENCE_S = 1.5
LISTEN_GIVE_UP_S = 12.0        # heard nothing at all: act anyway
KEY_ON_MS = 120
DEFAULT_KEYS = {"accept": "1", "decline": "2", "rates": "0", "block": "6"}


class FarEnd:
    """Base of the outside-line backends; the default methods suit a line that is never used."""

    state = "idle"

    def dial(self, number: str) -> None:
        raise NotSupported(f"{type(self).__name__} does not implement dial()")

    def exchange(self, to_far: np.ndarray) -> np.ndarray:
        """Send one frame to the far end; return one frame from it (silence if none)."""
        raise NotSupported(f"{type(self).__name__} does not implement exchange()")

    def poll_events(self) -> list:
        return []

    def hang_up(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _resolve(target):
    if isinstance(target, str):
        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)
    return target


def open_far_end(url: str, *, clock=None, prompts=None, **options) -> FarEnd:
    """Open the outside-line backend named by ``url`` (see the module docstring).

    ``options`` go to the backend (for the robot: ``keys={"accept": "5", ...}``,
    the facility profile's called-party keys); ``sip={...}`` (``Config.sip_options()``:
    registrar, username, password) goes to a ``sip:`` far end only.

    Raises
    ------
    InvalidUrl
        For an unknown scheme, naming the schemes known.
    """
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme not in FAR_END_SCHEMES:
        raise InvalidUrl(f"far end: expected a URL starting with one of "
                         f"{', '.join(s + ':' for s in FAR_END_SCHEMES)}, got {url!r}")
    cls = _resolve(FAR_END_SCHEMES[scheme])
    sip_options = options.pop("sip", None) or {}
    keys = options.pop("keys", None)
    if scheme in ("sip", "sips"):
        # registration settings from the config ([sip]); the robot's keys are not for SIP
        return cls(url, clock=clock, **sip_options, **options)
    if scheme == "robot":
        return cls(url, clock=clock, prompts=prompts, keys=keys, **options)
    return cls(url, clock=clock, **options)


#: The longest speech file the robot loops (it is held in memory: 10 min is 9.6 MB).
SPEECH_MAX_S = 600.0


def load_speech(path: str | Path) -> np.ndarray:
    """8 kHz int16 speech from a WAV (any format the WAV reader takes, resampled and mixed
    down) or a raw s16le file at 8 kHz; at most :data:`SPEECH_MAX_S`, a regular file only."""
    from phonesim.hw.audio_file import open_regular_file, read_wav_as_line

    path = Path(path)
    if path.suffix.lower() == ".wav":
        data = read_wav_as_line(path, max_s=SPEECH_MAX_S)
    else:
        handle, size = open_regular_file(path, "a raw 8 kHz s16le speech file")
        with handle:
            limit = int(SPEECH_MAX_S * 8000) * 2
            if size > limit:
                raise BadAudioFile(f"{path}: expected at most {SPEECH_MAX_S:g} s of raw 8 kHz speech "
                                   f"({limit} bytes), got {size} bytes")
            try:
                raw = handle.read(limit)
            except OSError as err:
                raise BadAudioFile(f"{path}: expected readable 8 kHz speech: {err.strerror or err}") from err
        data = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2")
    if data.size < FRAME_SAMPLES:
        raise BadAudioFile(f"{path}: expected at least one 20 ms frame of speech, got {data.size} samples")
    return data.astype(np.int16)


def _default_speech(prompts, seed: int) -> np.ndarray:
    for candidate in DEFAULT_SPEECH[seed % 2:] + DEFAULT_SPEECH[:seed % 2]:
        if Path(candidate).exists():
            return load_speech(candidate)
    if prompts is not None:          # no codec2-examples: speak the prompts instead
        return prompts.sequence(["party_monitored", "warning", "welcome"])
    rng = np.random.default_rng(seed)  # last resort: a murmur of band noise
    return (rng.standard_normal(8000 * 4) * 300).astype(np.int16)


class RobotFarEnd(FarEnd):
    """A scripted called party that runs in frame time and presses keys as DTMF audio.

    It rings for ``answer_after`` US ring cycles, answers, listens until the
    announcement ends (1.5 s of silence after speech, or exactly ``key_delay_s``
    after answering, as jail2net's 10 s), presses its key by putting DTMF tones
    in its audio, then talks (looped speech) and hangs up ``talk_s`` after
    accepting (0 = never).  ``threeway=KIND&threeway_after_s=N`` plays
    :func:`phonesim.facility.threeway_attempts.attempt_audio` N s after accepting.
    Deterministic: every random choice comes from ``seed``.
    """

    def __init__(self, url: str, *, clock=None, prompts=None, keys: dict | None = None) -> None:
        parts = urlsplit(url)
        script = (parts.netloc + parts.path).strip("/") or "accept"
        if script not in ROBOT_SCRIPTS:
            raise InvalidUrl(f"robot far end: expected a script among {', '.join(ROBOT_SCRIPTS)}, "
                             f"got {script!r} in {url!r}")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        known = {"answer_after", "talk_s", "key_delay_s", "speech", "seed", "threeway",
                 "threeway_after_s", "level_dbm0", "accept_key", "decline_key", "rates_key",
                 "block_key"}
        unknown = sorted(set(query) - known)
        if unknown:
            raise InvalidUrl(f"robot far end: unknown option {unknown[0]!r} in {url!r} "
                             f"(expected {', '.join(sorted(known))})")

        def number(name: str, default: float, *, minimum: float = 0.0) -> float:
            text = query.get(name, "")
            if text == "":
                return default
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not value >= minimum:
                raise InvalidUrl(f"robot far end: expected {name} >= {minimum:g}, got {text!r} in {url!r}")
            return value

        self.url = url
        self.script = script
        self.clock = clock
        self.answer_after = number("answer_after", 2)
        self.talk_s = number("talk_s", 240)
        self.key_delay_s = number("key_delay_s", -1, minimum=-1) if query.get("key_delay_s") else None
        self.seed = int(number("seed", 1))
        self.level_dbm0 = number("level_dbm0", -12.0, minimum=-90)
        self.threeway = query.get("threeway") or None
        self.threeway_after_s = number("threeway_after_s", 60)
        self.keys = dict(DEFAULT_KEYS)
        self.keys.update({k: str(v) for k, v in (keys or {}).items() if k in DEFAULT_KEYS})
        for name in DEFAULT_KEYS:
            if query.get(f"{name}_key"):
                self.keys[name] = unquote(query[f"{name}_key"])
        self._rng = np.random.default_rng(self.seed)
        self._speech_path = query.get("speech") or None
        self._prompts = prompts
        self._speech: np.ndarray | None = None
        if self._speech_path:
            self._speech = load_speech(self._speech_path)   # a bad path fails at open, not mid-call
        self._threeway_audio: np.ndarray | None = None
        if self.threeway:
            from phonesim.facility.threeway_attempts import attempt_audio
            self._threeway_audio = attempt_audio(self.threeway, rng=np.random.default_rng(self.seed))
        self._generator = None
        self.state = "idle"
        self.number = ""
        self.frame = 0
        self.keys_pressed: list[tuple[int, str]] = []
        self._events: list = []
        self._state_frame = 0
        self._heard_speech = False
        self._silent_frames = 0
        self._stage = 0
        self._out: list[np.ndarray] = []     # queued samples (key tones, three-way audio)
        self._speech_pos = 0
        self._accepted_frame = -1
        self._threeway_done = False
        self._closed = False

    def __repr__(self) -> str:
        return (f"<RobotFarEnd {self.script} state={self.state} number={self.number!r} "
                f"frame={self.frame} keys={''.join(k for _, k in self.keys_pressed)!r}>")

    # --- FarEnd interface ---------------------------------------------------------
    def dial(self, number: str) -> None:
        self._check_open()
        self.number = number
        self._to("busy" if self.script == "busy" else "ringing")
        self._events.append(FarEndRinging() if self.script != "busy" else FarEndBusy())

    def poll_events(self) -> list:
        events, self._events = self._events, []
        return events

    def hang_up(self) -> None:
        if self.state not in ("idle", "closed"):
            self._to("gone")

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.state = "closed"

    def exchange(self, to_far: np.ndarray) -> np.ndarray:
        self._check_open()
        self.frame += 1
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        since = self.frame - self._state_frame
        if self.state == "ringing":
            if self.script != "noanswer" and since >= frames_from_s(self.answer_after * US_RING_CYCLE_S):
                self._to("listening")
                self._events.append(FarEndAnswered())
        elif self.state == "listening":
            self._listen(to_far, since)
        elif self.state == "talking":
            self._talk(out)
        self._drain_queue(out)
        return out

    # --- behaviour ------------------------------------------------------------------
    def _to(self, state: str) -> None:
        self.state = state
        self._state_frame = self.frame
        self._heard_speech = False
        self._silent_frames = 0

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceClosed(f"{self!r} is closed")

    def _listen(self, to_far: np.ndarray, since: int) -> None:
        rms = float(np.sqrt(np.mean(np.square(np.asarray(to_far, dtype=np.float64)))))
        if rms > SILENCE_RMS:
            self._heard_speech, self._silent_frames = True, 0
        else:
            self._silent_frames += 1
        if self.key_delay_s is not None and self.key_delay_s >= 0:
            ready = since >= frames_from_s(self.key_delay_s)
        else:
            ready = (self._heard_speech and self._silent_frames >= frames_from_s(ANNOUNCEMENT_END_SILENCE_S)) \
                or (not self._heard_speech and since >= frames_from_s(LISTEN_GIVE_UP_S))
        if not ready or self.script == "silent":
            return
        if self.script == "rates" and self._stage == 0:
            self._stage = 1
            self._press("rates")
            self._to("listening")           # listen to the rate quote, then accept
            return
        if self.script in ("decline", "block"):
            self._press(self.script)
            self._to("done")
            return
        self._press("accept")
        self._to("talking")
        self._accepted_frame = self.frame

    def _press(self, choice: str) -> None:
        key = self.keys[choice]
        if self._generator is None:
            from phonesim.dsp.dtmf import DtmfGenerator
            self._generator = DtmfGenerator(level_dbm0=self.level_dbm0 + 4.0)
        tone = self._generator.digits(key, on_ms=KEY_ON_MS, off_ms=0, lead_ms=0, tail_ms=60)
        self._out.append(np.asarray(tone, dtype=np.int16))
        self.keys_pressed.append((self.frame, key))

    def _talk(self, out: np.ndarray) -> None:
        since = self.frame - self._accepted_frame
        if self.talk_s > 0 and since >= frames_from_s(self.talk_s):
            self._events.append(FarEndHungUp())
            self._to("gone")
            self._out.clear()
            return
        if self._threeway_audio is not None and not self._threeway_done and \
                since >= frames_from_s(self.threeway_after_s):
            self._threeway_done = True
            self._out.append(self._threeway_audio)
        if self._out:                       # keys or a three-way attempt replace the voice
            return
        if since < FRAMES_PER_SECOND:       # a second's pause after pressing the key
            return
        if self._speech is None:
            self._speech = _default_speech(self._prompts, self.seed)
        speech = self._speech
        start = self._speech_pos % speech.size
        idx = (start + np.arange(FRAME_SAMPLES)) % speech.size
        out[:] = speech[idx]
        self._speech_pos = start + FRAME_SAMPLES

    def _drain_queue(self, out: np.ndarray) -> None:
        if not self._out:
            return
        chunk = self._out[0]
        n = min(FRAME_SAMPLES, chunk.size)
        out[:n] = chunk[:n]
        if n == chunk.size:
            self._out.pop(0)
        else:
            self._out[0] = chunk[n:]


class AudioFarEnd(FarEnd):
    """A person on a second audio device (a second headset): answers at once, hangs up never.

    ``audio://pyaudio?device=USB2`` opens ``pyaudio://?device=USB2`` with
    :func:`phonesim.hw.audio.open_audio`; ``audio://loopback://far`` opens a nested URL.
    The person accepts by pressing a key on a phone held to the microphone (the line
    decodes it from the audio like any other far-end key).
    """

    def __init__(self, url: str, *, clock=None, port=None) -> None:
        rest = url.split("://", 1)[1] if "://" in url else ""
        if not rest and port is None:
            raise InvalidUrl(f"audio far end: expected audio://AUDIO_URL, got {url!r}")
        if "://" in rest:
            inner = rest
        else:
            scheme, _, query = rest.partition("?")
            inner = f"{scheme}://?{query}" if query else f"{scheme}://"
        self.url = url
        self.inner_url = inner
        if port is None:
            from phonesim.hw.audio import open_audio
            port = open_audio(inner)
        self.port = port
        self.state = "idle"
        self._events: list = []
        self._closed = False

    def __repr__(self) -> str:
        return f"<AudioFarEnd {self.inner_url!r} state={self.state}>"

    def dial(self, number: str) -> None:
        if self._closed:
            raise DeviceClosed(f"{self!r} is closed")
        self.state = "connected"
        self._events += [FarEndRinging(), FarEndAnswered()]

    def exchange(self, to_far: np.ndarray) -> np.ndarray:
        if self._closed:
            raise DeviceClosed(f"{self!r} is closed")
        if self.state != "connected":
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        self.port.write_frame(np.asarray(to_far, dtype=np.int16))
        return np.asarray(self.port.read_frame(), dtype=np.int16)

    def poll_events(self) -> list:
        events, self._events = self._events, []
        return events

    def hang_up(self) -> None:
        if self.state == "connected":
            self.state = "idle"

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.state = "closed"
            self.port.close()
