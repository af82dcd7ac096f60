"""The recorded prompts, loaded and checked once at start-up.

A phone that discovers a missing prompt in the middle of a call either goes
silent or crashes; so :meth:`PromptSet.load` reads *every* prompt the call flow
and the kiosk use before anything starts, checks that each is an 8 kHz 16-bit
mono WAV with audio in it, and raises :class:`~phonesim.exc.BadAudioFile`
naming the first file that is missing or wrong.  After that, prompts are plain
read-only int16 arrays (decoded once, as the real-time rules require).

Where the folder is: the ``folder`` argument, else ``$PHONESIM_PROMPTS``, else
the repository's ``audio/`` folder next to the package (a source checkout).

Numbers and amounts are spoken from word prompts: :meth:`PromptSet.say_digits`,
:meth:`~PromptSet.say_number`, :meth:`~PromptSet.say_cents` and
:meth:`~PromptSet.say_minutes` return lists of prompt names, and
:meth:`~PromptSet.sequence` joins prompts into one array with 100 ms gaps.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from phonesim.exc import BadAudioFile, InvalidInput, UnknownName
from phonesim.hw.audio_file import WavReader

__all__ = ["PROMPT_NAMES", "PromptSet", "default_prompt_folder"]

SAMPLE_RATE_HZ = 8000
GAP_MS = 100
#: The longest prompt accepted (the longest shipped one is a few seconds).
PROMPT_MAX_S = 120.0

#: Every prompt the facility needs; the call flow and kiosk use exactly these names.
PROMPT_NAMES: tuple[str, ...] = (
    "welcome", "enter_pin", "enter_id_pin", "invalid_pin", "account_locked", "restricted", "outside_hours",
    "wait_between_calls", "quota_reached", "weekly_calls_used", "phones_locked_down", "record_name",
    "name_recorded", "lockdown_now", "call_cut_off", "call_type_menu", "enter_number", "number_toll_free",
    "number_blocked", "number_not_approved", "number_invalid", "number_blocked_by_party",
    "insufficient_funds", "please_hold", "call_limit_is", "minutes", "minute", "no_answer", "busy",
    "call_declined", "call_failed", "system_error", "goodbye", "one_minute_remaining", "time_limit_reached", "funds_exhausted",
    "threeway_not_allowed", "warning", "party_prepaid_call_from", "party_collect_call_from",
    "party_debit_call_from", "party_free_call_from", "party_no_account", "party_courtesy_free",
    "party_setup_account", "inmate_courtesy_call", "inmate_needs_account", "party_an_inmate_at", "facility_name", "party_monitored",
    "party_press_to_accept", "party_press_to_decline", "party_press_to_block",
    "party_press_for_rates", "party_rate_is", "cents_per_minute", "party_accepted",
    "party_blocked", "party_no_response", "inmate_name_default",
    *(f"digit_{d}" for d in range(10)), "star", "pound",
    *(f"n_{n}" for n in range(20)), *(f"n_{n}" for n in range(20, 100, 10)),
    "hundred", "thousand", "dollar", "dollars", "cent", "cents", "and",
    "kiosk_welcome", "kiosk_menu", "kiosk_trust_balance_is", "kiosk_phone_balance_is",
    "kiosk_enter_amount", "kiosk_confirm_purchase", "kiosk_purchase_done",
    "kiosk_request_number", "kiosk_request_received", "kiosk_logged_out",
)

_KEY_WORDS = {"*": "star", "#": "pound"}


def default_prompt_folder() -> Path:
    """``$PHONESIM_PROMPTS`` if set, else the source checkout's ``audio/`` folder."""
    env = os.environ.get("PHONESIM_PROMPTS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "audio"


def read_prompt_wav(path: Path) -> np.ndarray:
    """One prompt file as int16, or :class:`BadAudioFile` saying what is wrong with it.

    The header is checked by the one WAV reader (a regular file, sane sizes), then
    the format (8 kHz, 16-bit PCM, mono), the length (whole, at most
    :data:`PROMPT_MAX_S`) and the content (not silence).
    """
    try:
        reader = WavReader(path)
    except BadAudioFile as err:
        raise BadAudioFile(f"prompt {err}") from err
    with reader:
        form = (reader.encoding, reader.width_bytes, reader.rate_hz, reader.channels)
        if form != ("pcm", 2, SAMPLE_RATE_HZ, 1):
            raise BadAudioFile(f"prompt {path}: expected 8000 Hz, 16-bit, mono, got {reader.rate_hz} Hz, "
                               f"{8 * reader.width_bytes}-bit {reader.encoding}, {reader.channels} channel(s)")
        if reader.truncated or reader.frames == 0:
            raise BadAudioFile(f"prompt {path}: expected {reader.claimed_frames} frames of audio, got "
                               f"{reader.frames} (truncated or empty file)")
        if reader.duration_s > PROMPT_MAX_S:
            raise BadAudioFile(f"prompt {path}: expected at most {PROMPT_MAX_S:g} s of audio, "
                               f"got {reader.duration_s:.1f} s")
        samples = np.concatenate(list(reader.blocks_8k()))
    if not np.any(samples):
        raise BadAudioFile(f"prompt {path}: expected speech, got {len(samples)} samples of silence")
    samples.flags.writeable = False
    return samples


class PromptSet:
    """Named prompts as read-only int16 arrays at 8 kHz.

    Use :meth:`load`; ``prompts["warning"]`` is the warning message.  Extra WAV
    files in the folder (for example recorded inmate names) are loaded too.
    """

    def __init__(self, prompts: dict[str, np.ndarray], folder: Path | None = None) -> None:
        self._prompts = dict(prompts)
        self.folder = folder

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None, *,
             required: Iterable[str] = PROMPT_NAMES) -> PromptSet:
        """Read and check every prompt; raise :class:`BadAudioFile` naming a bad or missing one."""
        path = Path(folder) if folder is not None else default_prompt_folder()
        if not path.is_dir():
            raise BadAudioFile(f"prompt folder: expected a folder of WAV prompts "
                               f"(set $PHONESIM_PROMPTS), got {str(path)!r}, which does not exist")
        prompts = {}
        for name in required:
            prompts[name] = read_prompt_wav(path / f"{name}.wav")
        for extra in sorted(path.glob("*.wav")):
            if extra.stem not in prompts:
                prompts[extra.stem] = read_prompt_wav(extra)
        return cls(prompts, path)

    def add(self, name: str, samples: np.ndarray) -> None:
        """Add (or replace) a prompt loaded at run time: an inmate's recorded name, a facility's
        name.  Safe beside a line's per-frame path (one dictionary store)."""
        self._prompts[name] = np.asarray(samples, dtype=np.int16)

    @property
    def names(self) -> list[str]:
        """Every loaded prompt name, sorted."""
        return sorted(self._prompts)

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self._prompts[name]
        except KeyError:
            raise UnknownName(f"prompt: expected one of the loaded prompt names, got {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._prompts

    def __len__(self) -> int:
        return len(self._prompts)

    def duration_s(self, name: str) -> float:
        return len(self[name]) / SAMPLE_RATE_HZ

    def sequence(self, names: Iterable[str], *, gap_ms: int = GAP_MS) -> np.ndarray:
        """The prompts one after another, ``gap_ms`` of silence between them (int16)."""
        names = list(names)
        gap = np.zeros(SAMPLE_RATE_HZ * gap_ms // 1000, dtype=np.int16)
        parts: list[np.ndarray] = []
        for i, name in enumerate(names):
            if i:
                parts.append(gap)
            parts.append(self[name])
        if not parts:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(parts)

    # --- speaking numbers ----------------------------------------------------
    @staticmethod
    def say_digits(digits: str) -> list[str]:
        """A phone number digit by digit: ``"573-555"`` -> ``["digit_5", "digit_7", ...]``.

        Spaces, dashes, dots and parentheses are skipped; ``*`` and ``#`` are spoken.
        """
        words = []
        for ch in str(digits):
            if ch.isdigit():
                words.append(f"digit_{ch}")
            elif ch in _KEY_WORDS:
                words.append(_KEY_WORDS[ch])
            elif ch in " -.()+":
                continue
            else:
                raise InvalidInput(f"say_digits: expected digits, '*' or '#', got {ch!r} in {digits!r}")
        return words

    @staticmethod
    def say_number(n: int) -> list[str]:
        """A whole number 0..999 999 in words: 1234 -> one thousand two hundred thirty four."""
        n = int(n)
        if not 0 <= n <= 999_999:
            raise InvalidInput(f"say_number: expected 0..999999, got {n}")
        if n == 0:
            return ["n_0"]
        words: list[str] = []
        thousands, rest = divmod(n, 1000)
        if thousands:
            words += _below_thousand(thousands) + ["thousand"]
        if rest:
            words += _below_thousand(rest)
        return words

    @classmethod
    def say_cents(cls, cents: int) -> list[str]:
        """An amount of money: 1234 -> twelve dollars and thirty four cents."""
        cents = int(cents)
        if cents < 0:
            raise InvalidInput(f"say_cents: expected an amount >= 0 cents, got {cents}")
        dollars, rest = divmod(cents, 100)
        words: list[str] = []
        if dollars:
            words += cls.say_number(dollars) + ["dollar" if dollars == 1 else "dollars"]
        if rest or not dollars:
            if words:
                words.append("and")
            words += cls.say_number(rest) + ["cent" if rest == 1 else "cents"]
        return words

    @classmethod
    def say_minutes(cls, n: int) -> list[str]:
        """A count of minutes: 15 -> fifteen minutes; 1 -> one minute."""
        return cls.say_number(n) + ["minute" if int(n) == 1 else "minutes"]

    def __repr__(self) -> str:
        return f"<PromptSet {len(self._prompts)} prompts from {str(self.folder)!r}>"


def _below_thousand(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [f"n_{hundreds}", "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(f"n_{tens * 10}")
        if ones:
            words.append(f"n_{ones}")
    elif rest:
        words.append(f"n_{rest}")
    return words
