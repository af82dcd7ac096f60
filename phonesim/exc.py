"""The one exception tree of phonesim.

Every error the package raises derives from :class:`PhoneSimError`, so a program
can catch all of them in one place.  Each leaf also inherits the builtin that
best describes it (``ValueError``, ``OSError``, ``LookupError`` ...), so code
that knows nothing of phonesim still catches what it expects.

Messages name what was expected and show the value that came, e.g.
``keypad URL: expected 'serial://PORT[?baudrate=N]', got 'seral://x'``.
Raise with ``raise ... from err`` so the cause survives.
"""

from __future__ import annotations


class PhoneSimError(Exception):
    """Root of every phonesim error."""


# --- configuration and input -------------------------------------------------
class ConfigError(PhoneSimError, ValueError):
    """A configuration file or value is wrong.

    Scenarios: an unknown key, a value of the wrong type, an unknown profile.
    The message names the file, the key, the expected form and the bad value.
    """

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None):
        self.source = source
        self.key = key
        prefix = ""
        if source:
            prefix += f"{source}: "
        if key:
            prefix += f"{key}: "
        super().__init__(prefix + message)


class UsageError(PhoneSimError, ValueError):
    """A command was given arguments it cannot use together (exit status 2, like argparse's errors).

    Scenario: ``phonesim tones 1 --level-dbm0 -1 --twist-db 6`` would clip.
    """


class InvalidUrl(PhoneSimError, ValueError):
    """A backend URL does not have the expected form or names an unknown scheme."""


class BadAudioFile(PhoneSimError, ValueError):
    """A WAV file is missing, unreadable or not what was expected (a prompt, a recording)."""


class OutputFileError(PhoneSimError, OSError):
    """A file the user asked for cannot be written: a missing folder, no permission, a full disk.

    The message names the file and the reason, e.g. ``/x/calls.csv: cannot write: No such file
    or directory``.
    """


class InvalidInput(PhoneSimError, ValueError):
    """A value given to the platform (an amount, a PIN, a status, a phone number's form) is not
    what the operation accepts."""


class UnknownName(PhoneSimError, KeyError):
    """A name looked up in a fixed set (a prompt, a scenario) is not in it; the message lists
    what is."""

    def __str__(self) -> str:           # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class NotSupported(PhoneSimError, NotImplementedError):
    """A backend does not do what was asked of it (a base class's method, a device's feature)."""


class DecodeError(PhoneSimError, ValueError):
    """Input to a decoder (DTMF, protocol, WAV) could not be understood."""


# --- devices -----------------------------------------------------------------
class DeviceClosed(PhoneSimError, RuntimeError):
    """An operation was attempted on a device after ``close()``."""


class BackendUnavailable(PhoneSimError, ImportError):
    """An optional package a backend needs (pyaudio, evdev, a SIP library) is missing."""


class DeviceNotFound(PhoneSimError, FileNotFoundError):
    """A device named by a URL does not exist; the message lists what does."""


class KeypadError(PhoneSimError, OSError):
    """The keypad link failed: the port vanished, the device did not answer."""


class ProtocolError(KeypadError):
    """The keypad sent something the protocol does not allow (after resync attempts)."""


class AudioDeviceError(PhoneSimError, OSError):
    """An audio device could not be opened or failed while streaming."""

    def __init__(self, message: str, *, code: int | None = None, device: str | None = None):
        self.code = code
        self.device = device
        text = message
        if device:
            text = f"{device!r}: {text}"
        if code is not None:
            text += f" [code {code}]"
        super().__init__(text)


class FarEndError(PhoneSimError, OSError):
    """The outside line (robot, second headset, SIP) failed."""


# --- the facility ------------------------------------------------------------
class CallFlowError(PhoneSimError, RuntimeError):
    """The call flow received an event it cannot handle in its state."""


class LedgerError(PhoneSimError, RuntimeError):
    """The accounts database is inconsistent or could not be written."""


class DatabaseUnavailable(LedgerError):
    """The database could not be reached (a server restarting, a network gone); the operation
    did not happen and may be retried (the platform's writes are idempotent)."""


class SchemaTooNew(LedgerError):
    """The database was written by a newer phonesim: this version would misread it."""


class NotFound(LedgerError, LookupError):
    """An inmate, account, call or number does not exist."""


class InsufficientFunds(LedgerError, ValueError):
    """A debit would make a balance negative."""


class RateNotFound(LedgerError, LookupError):
    """No rate applies to a call type and jurisdiction on a date."""


class InvalidNumber(PhoneSimError, ValueError):
    """A telephone number given to the ledger or the admin CLI is malformed (e.g. 9 digits, letters)."""


class AccountLocked(PhoneSimError, PermissionError):
    """Too many wrong PINs: the account is locked until the lockout expires."""


# --- warnings ----------------------------------------------------------------
class PhoneSimWarning(UserWarning):
    """Root of phonesim's warnings: degraded but still working."""


class RateAboveCap(PhoneSimWarning):
    """A configured per-minute rate is above the FCC cap for the facility size."""


class AudioXrun(PhoneSimWarning):
    """Audio was lost to an input overflow or output underflow."""
