"""The keypad wire protocol (host side): a pure parser and encoder, no I/O.

The keypad microcontroller and the host exchange short ASCII lines, each
``PAYLOAD*CC\\n`` where ``CC`` is the XOR of the payload bytes in two hex
digits (NMEA style).  ``firmware_stubs/PROTOCOL.md`` is the one definition of
the messages; its golden vectors are parsed by the tests of both ends.

Why a checksum and sequence numbers on a USB link that already has CRCs: the
link is not the only source of damage.  The Pico's USB CDC port is also its
REPL, a host opening the port flushes half a line, a stray ``print`` in the
firmware or a second program on the port mixes text in.  The parser must
*never* raise on such bytes: it counts them (:class:`ProtocolStats`), skips to
the next newline and goes on.  Sequence numbers make lost events visible and
let the host drop an event it has already seen when the link comes back.

Everything here is pure: :class:`KeypadProtocol` keeps only the partial line
and the sequence bookkeeping, so it can be fuzzed with arbitrary bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from phonesim.events import KEYS, HookChanged, KeyDown, KeyUp
from phonesim.exc import InvalidInput

__all__ = [
    "MAX_LINE",
    "PROTOCOL_VERSION",
    "SEQ_MODULO",
    "Ack",
    "DeviceError",
    "Hello",
    "KeypadProtocol",
    "Pong",
    "ProtocolStats",
    "checksum",
    "encode_line",
    "encode_hello_query",
    "encode_ping",
    "encode_led",
    "encode_display",
    "split_line",
]

#: Longest line either side accepts, in bytes, without the ``\n`` (the ``*CC`` included).
MAX_LINE = 80
#: The protocol version this host speaks (``HELLO`` carries the device's).
PROTOCOL_VERSION = 1
#: Sequence numbers count events modulo this.
SEQ_MODULO = 65536
#: Longest text a ``DISP`` line may carry (a 20-column character display).
DISPLAY_COLUMNS = 20
DISPLAY_ROWS = 4
LED_COUNT = 8


# --- protocol-level messages (device -> host), besides KeyDown/KeyUp/HookChanged ---------
@dataclass(frozen=True, slots=True)
class Hello:
    """The device's answer to ``HELLO?``: who it is and its current state."""

    product: str
    version: int
    kind: str  # "4x3" (wall phone) or "4x4" (kiosk, keys A-D)
    boot_id: str  # 4 hex digits, new at every power-up: tells a reboot from a replug
    off_hook: bool
    next_seq: int  # the sequence number the device's next event will carry


@dataclass(frozen=True, slots=True)
class Pong:
    """Heartbeat reply to ``PING n``."""

    n: int


@dataclass(frozen=True, slots=True)
class Ack:
    """``OK <what>``: a command (``LED``, ``DISP``) was carried out."""

    what: str


@dataclass(frozen=True, slots=True)
class DeviceError:
    """``ERR <code> [detail]``: the device rejected a line the host sent."""

    code: str
    detail: str = ""


@dataclass(slots=True)
class ProtocolStats:
    """What the parser saw.  Counters only grow (``reset`` by replacing the object)."""

    lines_ok: int = 0  # good lines of any kind
    garbage: int = 0  # lines with non-ASCII/control bytes, no ``*CC``, or bad hex
    bad_checksum: int = 0  # well-formed lines whose checksum did not match
    overlong: int = 0  # lines longer than MAX_LINE (skipped up to the next newline)
    unknown: int = 0  # good checksum, but a message or argument this host does not know
    seq_gaps: int = 0  # times a sequence number skipped ahead
    lost_events: int = 0  # events missing in those gaps (and across a same-boot reconnect)
    duplicates: int = 0  # events dropped because their sequence number was already seen
    reboots: int = 0  # HELLOs that carried a new boot id after the first

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}

    @property
    def errors(self) -> int:
        """Every damaged or unusable line."""
        return self.garbage + self.bad_checksum + self.overlong + self.unknown


# --- encoding -----------------------------------------------------------------------------
def checksum(payload: bytes) -> int:
    """XOR of the payload's bytes (what goes after ``*`` as two hex digits)."""
    value = 0
    for byte in payload:
        value ^= byte
    return value


def _printable(payload: bytes) -> bool:
    return all(0x20 <= b <= 0x7E for b in payload)


def encode_line(payload: str) -> bytes:
    """``payload`` -> ``b"payload*CC\\n"``; refuses what the other end would reject."""
    raw = payload.encode("ascii", errors="strict") if payload.isascii() else None
    if raw is None or not _printable(raw):
        raise InvalidInput(f"protocol line: expected printable ASCII, got {payload!r}")
    if len(raw) + 3 > MAX_LINE:
        raise InvalidInput(f"protocol line: expected at most {MAX_LINE - 3} bytes of payload, "
                         f"got {len(raw)}: {payload!r}")
    return b"%s*%02X\n" % (raw, checksum(raw))


def encode_hello_query() -> bytes:
    return encode_line("HELLO?")


def encode_ping(n: int) -> bytes:
    return encode_line(f"PING {int(n) % SEQ_MODULO}")


def encode_led(n: int, on: bool) -> bytes:
    if not 0 <= int(n) < LED_COUNT:
        raise InvalidInput(f"LED number: expected 0..{LED_COUNT - 1}, got {n!r}")
    return encode_line(f"LED {int(n)} {1 if on else 0}")


def encode_display(row: int, text: str) -> bytes:
    if not 0 <= int(row) < DISPLAY_ROWS:
        raise InvalidInput(f"display line: expected 0..{DISPLAY_ROWS - 1}, got {row!r}")
    if len(text) > DISPLAY_COLUMNS:
        raise InvalidInput(f"display text: expected at most {DISPLAY_COLUMNS} characters, "
                         f"got {len(text)}: {text!r}")
    return encode_line(f"DISP {int(row)} {text}")


def split_line(line: bytes) -> tuple[str | None, str]:
    """Check one line (without ``\\n``); return ``(payload, "")`` or ``(None, why)``.

    ``why`` is ``"overlong"``, ``"garbage"`` or ``"bad_checksum"``; an empty
    line (a keep-alive newline) gives ``(None, "")``.
    """
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line:
        return None, ""
    if len(line) > MAX_LINE:
        return None, "overlong"
    if not _printable(line) or len(line) < 4 or line[-3:-2] != b"*":
        return None, "garbage"
    payload, hex_digits = line[:-3], line[-2:]
    try:
        expected = int(hex_digits.decode("ascii"), 16)
    except ValueError:
        return None, "garbage"
    if not all(c in b"0123456789abcdefABCDEF" for c in hex_digits):
        return None, "garbage"
    if checksum(payload) != expected:
        return None, "bad_checksum"
    return payload.decode("ascii"), ""


# --- decoding -------------------------------------------------------------------------------
def _parse_seq(text: str) -> int | None:
    if not text.isdigit() or len(text) > 5:
        return None
    value = int(text)
    return value if value < SEQ_MODULO else None


def parse_payload(payload: str):
    """One checked payload -> a message object, or ``None`` if it is not one this host knows."""
    parts = payload.split(" ")
    verb = parts[0]
    if verb == "K" and len(parts) == 4:
        seq = _parse_seq(parts[1])
        key, edge = parts[2], parts[3]
        if seq is None or len(key) != 1 or key not in KEYS or edge not in ("D", "U"):
            return None
        return KeyDown(key, seq) if edge == "D" else KeyUp(key, seq)
    if verb == "H" and len(parts) == 3:
        seq = _parse_seq(parts[1])
        if seq is None or parts[2] not in ("OFF", "ON"):
            return None
        return HookChanged(parts[2] == "OFF", seq)
    if verb == "PONG" and len(parts) == 2:
        n = _parse_seq(parts[1])
        return None if n is None else Pong(n)
    if verb == "HELLO" and len(parts) == 7:
        product, version, kind, boot_id, hook, next_seq = parts[1:]
        seq = _parse_seq(next_seq)
        if (not version.isdigit() or kind not in ("4x3", "4x4") or hook not in ("OFF", "ON")
                or len(boot_id) != 4 or any(c not in "0123456789ABCDEF" for c in boot_id)
                or seq is None or not product):
            return None
        return Hello(product, int(version), kind, boot_id, hook == "OFF", seq)
    if verb == "OK" and len(parts) == 2:
        return Ack(parts[1])
    if verb == "ERR" and len(parts) >= 2 and parts[1]:
        return DeviceError(parts[1], " ".join(parts[2:]))
    return None


@dataclass(slots=True)
class KeypadProtocol:
    """Stateful host-side parser: ``feed(bytes) -> list of messages``; never raises.

    Messages are :class:`~phonesim.events.KeyDown`, :class:`~phonesim.events.KeyUp`,
    :class:`~phonesim.events.HookChanged` (each with the device's ``seq``),
    :class:`Hello`, :class:`Pong`, :class:`Ack` and :class:`DeviceError`.

    Sequence bookkeeping: the parser remembers the next sequence number it
    expects.  An event ahead of it is a gap (counted, the missing events added to
    ``lost_events``); an event behind it (within half the sequence space) was
    already delivered and is dropped as a duplicate.  A :class:`Hello` with a new
    boot id restarts the count at its ``next_seq``; one with the same boot id
    (the cable was pulled, the device kept running) keeps it, so an event the
    device sends again after a reconnect is not delivered twice.
    """

    stats: ProtocolStats = field(default_factory=ProtocolStats)
    boot_id: str | None = None
    expected_seq: int | None = None
    _buffer: bytearray = field(default_factory=bytearray)
    _skipping: bool = False

    def feed(self, data: bytes) -> list:
        """Parse ``data`` (any bytes, any split); return the complete messages in it."""
        out: list = []
        for byte in bytes(data):
            if byte == 0x0A:  # newline: a line is complete
                if self._skipping:
                    self._skipping = False
                else:
                    self._line(bytes(self._buffer), out)
                self._buffer.clear()
                continue
            if self._skipping:
                continue
            self._buffer.append(byte)
            if len(self._buffer) > MAX_LINE + 1:  # +1: room for a '\r'
                self.stats.overlong += 1
                self._buffer.clear()
                self._skipping = True
        return out

    def reset_line(self) -> None:
        """Forget a partial line (the port was reopened); keep the sequence state."""
        self._buffer.clear()
        self._skipping = False

    def _line(self, line: bytes, out: list) -> None:
        payload, why = split_line(line)
        if payload is None:
            if why:
                setattr(self.stats, why, getattr(self.stats, why) + 1)
            return
        message = parse_payload(payload)
        if message is None:
            self.stats.unknown += 1
            return
        self.stats.lines_ok += 1
        if isinstance(message, Hello):
            self._hello(message)
        elif isinstance(message, (KeyDown, KeyUp, HookChanged)):
            if not self._accept_seq(message.seq):
                return
        out.append(message)

    def _hello(self, hello: Hello) -> None:
        if hello.boot_id != self.boot_id:
            if self.boot_id is not None:
                self.stats.reboots += 1
            self.boot_id = hello.boot_id
            self.expected_seq = hello.next_seq
            return
        if self.expected_seq is None:
            self.expected_seq = hello.next_seq
            return
        ahead = (hello.next_seq - self.expected_seq) % SEQ_MODULO
        if ahead >= SEQ_MODULO // 2:  # the count went back: a reboot that drew the same boot id
            self.stats.reboots += 1
            self.expected_seq = hello.next_seq
        elif ahead:  # events sent while the link was down never arrived
            self.stats.seq_gaps += 1
            self.stats.lost_events += ahead

    def _accept_seq(self, seq: int) -> bool:
        if self.expected_seq is None:
            self.expected_seq = (seq + 1) % SEQ_MODULO
            return True
        ahead = (seq - self.expected_seq) % SEQ_MODULO
        if ahead >= SEQ_MODULO // 2:  # behind: already delivered
            self.stats.duplicates += 1
            return False
        if ahead:
            self.stats.seq_gaps += 1
            self.stats.lost_events += ahead
        self.expected_seq = (seq + 1) % SEQ_MODULO
        return True
