# phonesim keypad firmware for a Raspberry Pi Pico (MicroPython).
#
# Scans a 4x3 (wall phone) or 4x4 (kiosk, keys A-D) membrane keypad and the
# handset's hook switch, debounces them, and talks to the host over the USB
# serial port with the line protocol in firmware_stubs/PROTOCOL.md.
#
# The same file runs unmodified on a Pico and, for tests and laptops, in the
# MicroPython unix port with the stub `machine` module in firmware_stubs/host/.
# Keep it to what both have: machine.Pin, time.ticks_ms/ticks_diff/sleep_ms,
# select.poll on sys.stdin, os.urandom, micropython.kbd_intr.

# ---- pin map (GPIO numbers): the only place that knows the wiring ----------------------
ROW_PINS = (2, 3, 4, 5)  # outputs, driven low one at a time
COL_PINS = (6, 7, 8, 9)  # inputs with pull-ups; the 4th column is used on 4x4 keypads only
HOOK_PIN = 15  # hook switch to GND: closed (0) = handset on the cradle, open (1) = lifted
KIND_PIN = 14  # strap: tie to GND for a 4x4 kiosk keypad, leave open for a 4x3 wall phone
LED_PINS = (25, 16, 17, 18)  # LED 0 is the Pico's on-board LED
KEYS_4X3 = ("123", "456", "789", "*0#")
KEYS_4X4 = ("123A", "456B", "789C", "*0#D")

# ---- timing ---------------------------------------------------------------------------
SCAN_MS = 5  # one full matrix scan every 5 ms
KEY_STABLE_SCANS = 4  # a key must read the same 4 scans in a row (20 ms) to count
HOOK_STABLE_SCANS = 10  # the hook switch bounces longer: 50 ms

# ---- protocol constants (see PROTOCOL.md) ----------------------------------------------
PRODUCT = "PHONEPAD"
PROTOCOL_VERSION = 1
MAX_LINE = 80
SEQ_MODULO = 65536

import os
import select
import sys
import time

import machine
import micropython

# A 0x03 byte from the host must not raise KeyboardInterrupt in the firmware:
# the port is both our protocol link and the REPL.
micropython.kbd_intr(-1)

try:
    _out = sys.stdout.buffer
except AttributeError:  # pragma: no cover - some ports have no .buffer
    _out = sys.stdout
try:
    _in = sys.stdin.buffer
except AttributeError:  # pragma: no cover
    _in = sys.stdin


def checksum(payload):
    value = 0
    for byte in payload:
        value ^= byte
    return value


def send(text):
    line = "%s*%02X\n" % (text, checksum(text.encode()))
    try:
        _out.write(line.encode())
    except OSError:
        pass  # host gone: the sequence numbers will show what it missed


class Keypad:
    """Matrix scan + debounce; calls `on_key(key, down)` once per real change."""

    def __init__(self, on_key):
        kind_strap = machine.Pin(KIND_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
        self.kind = "4x4" if kind_strap.value() == 0 else "4x3"
        self.layout = KEYS_4X4 if self.kind == "4x4" else KEYS_4X3
        ncols = len(self.layout[0])
        self.rows = [machine.Pin(n, machine.Pin.OUT, value=1) for n in ROW_PINS]
        self.cols = [machine.Pin(n, machine.Pin.IN, machine.Pin.PULL_UP) for n in COL_PINS[:ncols]]
        nkeys = len(self.rows) * ncols
        self.stable = [False] * nkeys  # debounced state per key
        self.count = [0] * nkeys  # scans in a row that disagreed with `stable`
        self.on_key = on_key

    def scan(self):
        ncols = len(self.cols)
        for r, row in enumerate(self.rows):
            row.value(0)
            for c, col in enumerate(self.cols):
                i = r * ncols + c
                pressed = col.value() == 0
                if pressed == self.stable[i]:
                    self.count[i] = 0
                    continue
                self.count[i] += 1
                if self.count[i] >= KEY_STABLE_SCANS:
                    self.stable[i] = pressed
                    self.count[i] = 0
                    self.on_key(self.layout[r][c], pressed)
            row.value(1)


class Hook:
    """The hook switch on its own GPIO, debounced longer than the keys."""

    def __init__(self, on_change):
        self.pin = machine.Pin(HOOK_PIN, machine.Pin.IN, machine.Pin.PULL_UP)
        self.off_hook = self.pin.value() == 1
        self.count = 0
        self.on_change = on_change

    def scan(self):
        off_hook = self.pin.value() == 1
        if off_hook == self.off_hook:
            self.count = 0
            return
        self.count += 1
        if self.count >= HOOK_STABLE_SCANS:
            self.off_hook = off_hook
            self.count = 0
            self.on_change(off_hook)


class Device:
    def __init__(self):
        self.boot_id = "%04X" % (int.from_bytes(os.urandom(2), "big"),)
        self.seq = 0
        self.leds = [machine.Pin(n, machine.Pin.OUT, value=0) for n in LED_PINS]
        self.display = [""] * 4
        self.keypad = Keypad(self.key_event)
        self.hook = Hook(self.hook_event)
        self.line = bytearray()
        self.skipping = False  # inside an overlong line: drop bytes up to the newline
        self.bad_byte = False

    def next_seq(self):
        seq = self.seq
        self.seq = (self.seq + 1) % SEQ_MODULO
        return seq

    def key_event(self, key, down):
        send("K %d %s %s" % (self.next_seq(), key, "D" if down else "U"))

    def hook_event(self, off_hook):
        send("H %d %s" % (self.next_seq(), "OFF" if off_hook else "ON"))

    def hello(self):
        send("HELLO %s %d %s %s %s %d" % (PRODUCT, PROTOCOL_VERSION, self.keypad.kind, self.boot_id,
                                          "OFF" if self.hook.off_hook else "ON", self.seq))

    # -- host -> device ------------------------------------------------------------------
    def feed_byte(self, byte):
        if byte == 10:  # "\n"
            if not self.skipping:
                self.handle_line(bytes(self.line), self.bad_byte)
            self.line = bytearray()
            self.skipping = False
            self.bad_byte = False
            return
        if self.skipping or byte == 13:
            return
        if byte < 32 or byte > 126:
            self.bad_byte = True
        self.line.append(byte)
        if len(self.line) > MAX_LINE:
            send("ERR TOOLONG")
            self.skipping = True
            self.line = bytearray()

    def handle_line(self, line, bad_byte):
        if not line:
            return  # a bare newline: the host clearing our buffer
        if bad_byte or len(line) < 4 or line[-3] != 42:  # 42 = "*"
            send("ERR GARBAGE")
            return
        payload = line[:-3]
        hex_digits = line[-2:]
        if any(c not in b"0123456789abcdefABCDEF" for c in hex_digits):
            send("ERR GARBAGE")
            return
        expected = int(hex_digits.decode(), 16)
        if checksum(payload) != expected:
            send("ERR CHECKSUM")
            return
        self.command(payload.decode())

    def command(self, text):
        parts = text.split(" ")
        verb = parts[0]
        if text == "HELLO?":
            self.hello()
        elif verb == "PING" and len(parts) == 2 and parts[1].isdigit():
            send("PONG %d" % (int(parts[1]) % SEQ_MODULO,))
        elif verb == "LED" and len(parts) == 3 and parts[1].isdigit() and parts[2] in ("0", "1"):
            n = int(parts[1])
            if n >= len(self.leds):
                send("ERR ARG LED %d" % n)
                return
            self.leds[n].value(int(parts[2]))
            send("OK LED")
        elif verb == "DISP" and len(parts) >= 2 and parts[1].isdigit():
            row = int(parts[1])
            fields = text.split(" ", 2)
            line_text = fields[2] if len(fields) == 3 else ""
            if row >= len(self.display) or len(line_text) > 20:
                send("ERR ARG DISP")
                return
            self.display[row] = line_text
            show_text(row, line_text)
            send("OK DISP")
        else:
            send("ERR UNKNOWN " + verb[:16])


def show_text(row, text):
    # Hook for a character display (e.g. an HD44780 over I2C on a kiosk).  The
    # wall phone has none, so the text is only kept in Device.display.
    pass


def main():
    device = Device()
    # Announce the new boot once.  A host that opens the port later loses this line
    # (opening flushes input) and asks HELLO?; a host already listening (a UART link,
    # or a USB host that kept the port) learns the new boot id before any event.
    device.hello()
    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    next_scan = time.ticks_ms()
    while True:
        now = time.ticks_ms()
        if time.ticks_diff(now, next_scan) >= 0:
            device.keypad.scan()
            device.hook.scan()
            next_scan = time.ticks_add(next_scan, SCAN_MS)
            if time.ticks_diff(now, next_scan) > 10 * SCAN_MS:
                next_scan = now  # we fell far behind (host stalled us): don't burst-scan
        for _ in range(MAX_LINE):  # bounded: keep scanning even under a flood of bytes
            ready = poller.poll(0)
            if not ready or not ready[0][1] & select.POLLIN:
                break
            try:
                data = _in.read(1)
            except OSError:
                break  # no host on the other end (unix port on a pty): try again later
            if not data:
                return  # stdin closed for good (unix port): nothing will ever come again
            device.feed_byte(data[0])
        time.sleep_ms(1)


main()
