# Stub `machine` module for running the keypad firmware in the MicroPython unix port.
#
# It simulates the wiring: a key pressed on the matrix connects its row and its
# column, so a column input reads 0 while the firmware drives that key's row low;
# the hook switch pin reads 1 while the handset is lifted; the kind strap reads 0
# for a 4x4 keypad.  Contacts bounce: for BOUNCE ms after each change every other
# read sees the old level, as a cheap membrane or a hook leaf does.
#
# The runner (firmware_stubs/host/runner.py) describes the wiring and drives the
# contacts through environment variables and a control pipe:
#   PHONEPAD_SIM_PINS  "rows=2,3,4,5;cols=6,7,8,9;hook=15;kind=14"
#   PHONEPAD_SIM_KEYS  "123A,456B,789C,*0#D"   (the firmware's layout, row by row)
#   PHONEPAD_SIM_KIND  "4x3" or "4x4"
#   PHONEPAD_SIM_HOOK  "on" (handset on the cradle) or "off" (lifted) at start
#   PHONEPAD_SIM_BOUNCE_MS  contact bounce length, default 0
#   PHONEPAD_SIM_CTRL  path of the control pipe (e.g. /dev/fd/5), one command a line:
#       D <key> | U <key> | P <key> <hold_ms> | HOOK OFF | HOOK ON | BOUNCE <ms>
#       S <plan> <interval_ms> <hold_ms>   plan: keys, "+" lift, "-" hang up, "h" toggle, "," pause
#   PHONEPAD_SIM_LOG   file that receives "<contact> <edges>" lines: how many level
#                      changes the firmware actually read (proves bounce was seen)

import os
import select

import utime


def _env(name, default):
    value = os.getenv(name)
    return default if value is None else value


class _Contact:
    """One switch: its target level, when it last changed, and the edges read from it."""

    def __init__(self, closed):
        self.closed = closed
        self.previous = closed
        self.changed_ms = utime.ticks_ms() - 100000
        self.last_read = closed
        self.bounce_reads = 0
        self.edges = 0

    def set(self, closed, now_ms):
        if closed != self.closed:
            self.previous = self.closed
            self.closed = closed
            self.changed_ms = now_ms
            self.bounce_reads = 0

    def read(self, now_ms, bounce_ms):
        elapsed = utime.ticks_diff(now_ms, self.changed_ms)
        level = self.closed
        if elapsed < bounce_ms:  # chatter: every other read in the window sees the old level
            self.bounce_reads += 1
            if self.bounce_reads % 2 == 0:
                level = self.previous
        if level != self.last_read:
            self.edges += 1
            self.last_read = level
            _SIM.dirty = True
        return level


class _Simulation:
    def __init__(self):
        pins = {}
        for part in _env("PHONEPAD_SIM_PINS", "rows=2,3,4,5;cols=6,7,8,9;hook=15;kind=14").split(";"):
            name, _, values = part.partition("=")
            pins[name] = [int(v) for v in values.split(",") if v]
        self.rows = pins["rows"]
        self.cols = pins["cols"]
        self.hook_pin = pins["hook"][0]
        self.kind_pin = pins["kind"][0]
        self.layout = _env("PHONEPAD_SIM_KEYS", "123A,456B,789C,*0#D").split(",")
        self.kind = _env("PHONEPAD_SIM_KIND", "4x3")
        self.bounce_ms = int(_env("PHONEPAD_SIM_BOUNCE_MS", "0"))
        self.keys = {}
        for r, row_keys in enumerate(self.layout):
            for c, key in enumerate(row_keys):
                self.keys[key] = (r, c, _Contact(False))
        self.hook = _Contact(_env("PHONEPAD_SIM_HOOK", "on") == "off")  # closed = lifted here
        self.levels = {}  # output pin -> level the firmware drives
        self.timeline = []  # (due_ms, command) scheduled by P and S
        self.ctrl = None
        self.poller = None
        self.pending = bytearray()
        path = os.getenv("PHONEPAD_SIM_CTRL")
        if path:
            self.ctrl = open(path, "rb")
            self.poller = select.poll()
            self.poller.register(self.ctrl, select.POLLIN)
        self.log_path = os.getenv("PHONEPAD_SIM_LOG")
        self.dirty = False
        self.last_pump_ms = utime.ticks_ms()
        self.last_log_ms = self.last_pump_ms

    # -- control ----------------------------------------------------------------------
    def pump(self):
        now = utime.ticks_ms()
        if now == self.last_pump_ms and not self.timeline:
            return
        self.last_pump_ms = now
        while self.poller is not None:
            ready = self.poller.poll(0)
            if not ready or not ready[0][1] & select.POLLIN:
                break
            byte = self.ctrl.read(1)
            if not byte:  # the runner went away: stop listening
                self.poller = None
                break
            if byte == b"\n":
                self.command(self.pending.decode(), now)
                self.pending = bytearray()
            else:
                self.pending.extend(byte)
        while self.timeline and utime.ticks_diff(now, self.timeline[0][0]) >= 0:
            _, command = self.timeline.pop(0)
            self.command(command, now)
        if self.log_path and self.dirty and utime.ticks_diff(now, self.last_log_ms) >= 20:
            self.write_log()
            self.last_log_ms = now

    def schedule(self, due_ms, command):
        self.timeline.append((due_ms, command))
        self.timeline.sort(key=lambda item: utime.ticks_diff(item[0], self.last_pump_ms))

    def command(self, text, now):
        parts = text.split(" ")
        verb = parts[0]
        if verb in ("D", "U") and len(parts) == 2 and parts[1] in self.keys:
            self.keys[parts[1]][2].set(verb == "D", now)
        elif verb == "P" and len(parts) == 3 and parts[1] in self.keys:
            self.keys[parts[1]][2].set(True, now)
            self.schedule(utime.ticks_add(now, int(parts[2])), "U " + parts[1])
        elif verb == "HOOK" and len(parts) == 2:
            self.hook.set(parts[1] == "OFF", now)
        elif verb == "BOUNCE" and len(parts) == 2:
            self.bounce_ms = int(parts[1])
        elif verb == "S" and len(parts) == 4:
            interval_ms, hold_ms = int(parts[2]), int(parts[3])
            at = now
            lifted = self.hook.closed
            for ch in parts[1]:
                if ch in "+-h":
                    lifted = ch == "+" or (ch == "h" and not lifted)
                    self.schedule(at, "HOOK OFF" if lifted else "HOOK ON")
                elif ch in self.keys:
                    self.schedule(at, "D " + ch)
                    self.schedule(utime.ticks_add(at, hold_ms), "U " + ch)
                at = utime.ticks_add(at, interval_ms)

    def write_log(self):
        with open(self.log_path, "w") as f:
            for key in sorted(self.keys):
                f.write(f"{key} {self.keys[key][2].edges}\n")
            f.write(f"hook {self.hook.edges}\n")
        self.dirty = False

    # -- what the firmware reads ------------------------------------------------------------
    def read(self, pin_id):
        self.pump()
        now = utime.ticks_ms()
        if pin_id == self.hook_pin:
            return 1 if self.hook.read(now, self.bounce_ms * 5 // 2) else 0  # hook bounces longer
        if pin_id == self.kind_pin:
            return 0 if self.kind == "4x4" else 1
        if pin_id in self.cols:
            c = self.cols.index(pin_id)
            for r, row_pin in enumerate(self.rows):
                if self.levels.get(row_pin, 1) != 0 or r >= len(self.layout):
                    continue
                row_keys = self.layout[r]
                if c < len(row_keys) and self.keys[row_keys[c]][2].read(now, self.bounce_ms):
                    return 0
            return 1
        return self.levels.get(pin_id, 1)


_SIM = _Simulation()


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        self.mode = mode
        if value is not None:
            _SIM.levels[pin_id] = 1 if value else 0

    def value(self, level=None):
        if level is None:
            if self.mode == Pin.OUT:
                return _SIM.levels.get(self.id, 0)
            return _SIM.read(self.id)
        _SIM.levels[self.id] = 1 if level else 0
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def __repr__(self):
        return f"Pin({self.id})"


def pump():
    """Let the simulation take control commands (the stub `time.sleep_ms` calls this)."""
    _SIM.pump()
