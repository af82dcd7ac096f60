"""Real SIP peers on 127.0.0.1 for the outside-line tests: baresip and SIPp.

Both are separate processes started by a test and stopped by their PID.  They
listen on loopback only.  baresip (Debian ``baresip-core``) is a real softphone
run headless: it auto-answers, plays a WAV file as its microphone, records what
it hears (``sndfile`` module) and is driven over its ``ctrl_tcp`` JSON
interface (hang up, send RFC 4733 digits).  SIPp (Debian ``sip-tester``) runs a
scripted scenario from ``scenarios/`` for the signalling edge cases (busy, no
answer with CANCEL, far-end BYE) and exits 0 only if every message it expected
arrived, so the scenario itself checks our side (for example that we ACK a 486).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

SCENARIOS = Path(__file__).parent / "scenarios"


def require_binary(name: str, package: str) -> str:
    """The binary's path; skip without it (fail in CI, where ``make test`` installs it)."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} not found: apt-get install {package} (make test installs it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


_handed_out: set[int] = set()


def free_port(*, span: int = 1) -> int:
    """A port free for UDP and TCP on 127.0.0.1, with the ``span - 1`` ports above it.

    Ports handed out before in this process are never handed out again, so two
    peers (or a peer's SIP and media ports) cannot be given the same one.
    """
    for _ in range(500):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port % 2 or port + span >= 65000:
            continue
        wanted = set(range(port, port + span))
        if wanted & _handed_out:
            continue
        try:
            for p in wanted:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind(("127.0.0.1", p))
        except OSError:
            continue
        _handed_out.update(wanted)
        return port
    raise RuntimeError("no free port on 127.0.0.1")


def write_wav(path: Path, samples: np.ndarray, rate_hz: int = 8000) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        if w.getnchannels() > 1:
            data = data.reshape(-1, w.getnchannels())[:, 0]
        return data.astype(np.int16), w.getframerate()


def wait_until(predicate, timeout_s: float, what: str, poll_s: float = 0.01):
    """Poll ``predicate`` until it returns a truthy value, or fail naming ``what``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)  # polling with a deadline, not synchronisation by sleeping


def _stop_pid(proc: subprocess.Popen, timeout_s: float = 3.0) -> None:
    if proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout_s)


class BaresipPeer:
    """A headless baresip 1.0 softphone that auto-answers on 127.0.0.1.

    Control commands used: ``hangup``; ``sndcode D`` (sends RFC 4733; it exists
    only while a call is up, outside a call baresip answers "command not
    found"); ``ausrc aufile,PATH`` (switch what it sends mid-call: an in-band key).

    ``source_wav`` (8 kHz mono int16) is what it "says"; pad it, because
    baresip stops sending RTP when the file ends.  After :meth:`stop`,
    :meth:`recording` returns what it heard.
    """

    def __init__(self, workdir: Path, source_wav: Path, *, user: str = "callee") -> None:
        self.binary = require_binary("baresip", "baresip-core")
        self.dir = Path(workdir) / "baresip"
        self.recdir = self.dir / "rec"
        self.recdir.mkdir(parents=True, exist_ok=True)
        self.sip_port = free_port(span=2)  # baresip also takes TCP on the next port
        self.ctrl_port = free_port()
        rtp_low = free_port(span=10)
        self.uri = f"sip:{user}@127.0.0.1:{self.sip_port}"
        (self.dir / "config").write_text(
            "\n".join(
                [
                    "poll_method\tepoll",
                    f"sip_listen\t127.0.0.1:{self.sip_port}",
                    "call_local_timeout\t120",
                    "call_max_calls\t4",
                    "audio_player\taubridge,nil",
                    f"audio_source\taufile,{source_wav}",
                    "audio_alert\taubridge,nil",
                    "ausrc_srate\t8000",
                    "auplay_srate\t8000",
                    "ausrc_channels\t1",
                    "auplay_channels\t1",
                    "audio_level\tno",
                    f"rtp_ports\t{rtp_low}-{rtp_low + 9}",
                    "jitter_buffer_delay\t1-10",
                    "rtp_stats\tno",
                    "dns_server\t127.0.0.1:53",
                    "net_interface\t127.0.0.1",
                    "module_path\t/usr/lib/baresip/modules",
                    "module\tg711.so",
                    "module\taufile.so",
                    "module\taubridge.so",
                    "module\tsndfile.so",
                    "module\tctrl_tcp.so",
                    "module_app\taccount.so",
                    "module_app\tmenu.so",
                    f"ctrl_tcp_listen\t127.0.0.1:{self.ctrl_port}",
                    f"snd_path\t{self.recdir}",
                    "",
                ]
            )
        )
        (self.dir / "accounts").write_text(
            f"<{self.uri}>;regint=0;answermode=auto;audio_codecs=PCMU/8000/1\n"
        )
        self.events: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        self.proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._token = 0

    def start(self) -> BaresipPeer:
        log = open(self.dir / "baresip.log", "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [self.binary, "-f", str(self.dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1.0)
                self._sock.settimeout(None)  # the reader blocks until baresip says something
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"baresip did not start; log: {self.log()}") from None
                time.sleep(0.02)  # polling with a deadline for the control port
        threading.Thread(target=self._read_events, name="baresip-ctrl", daemon=True).start()
        try:
            wait_until(lambda: "baresip is ready" in self.log(), 5.0, "baresip to be ready")
        except AssertionError:
            self.stop()
            raise
        return self

    def log(self) -> str:
        path = self.dir / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _read_events(self) -> None:
        """Read ctrl_tcp netstrings (``LEN:JSON,``) until the socket closes."""
        buf = b""
        sock = self._sock
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            while True:
                head, colon, rest = buf.partition(b":")
                if not colon or not head.strip().isdigit():
                    if colon:  # out of step: skip to the next netstring
                        buf = rest
                        continue
                    break
                length = int(head)
                if len(rest) < length + 1:
                    break
                payload, buf = rest[:length], rest[length + 1 :]
                try:
                    message = json.loads(payload)
                except ValueError:
                    message = {"unparsed": payload.decode(errors="replace")}
                self.seen.append(message)
                self.events.put(message)

    def command(self, command: str, params: str = "") -> None:
        self._token += 1
        body = json.dumps({"command": command, "params": params, "token": str(self._token)})
        self._sock.sendall(f"{len(body)}:{body},".encode())

    def wait_event(self, kind: str, timeout_s: float) -> dict:
        """Wait for an event of ``kind`` (e.g. ``CALL_ESTABLISHED``), seen or still to come."""
        for message in self.seen:
            if message.get("type") == kind:
                return message
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kinds = [m.get("type") for m in self.seen]
                raise AssertionError(f"baresip sent no {kind} within {timeout_s} s; saw {kinds}")
            try:
                message = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if message.get("type") == kind:
                return message

    def received_dtmf(self) -> str:
        """Keys baresip received as RFC 4733 telephone-events (``CALL_DTMF_START``), in order."""
        return "".join(
            m.get("param", "") for m in list(self.seen) if m.get("type") == "CALL_DTMF_START"
        )

    def stop(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        if self.proc is not None:
            _stop_pid(self.proc)

    def recording(self, which: str = "dec") -> tuple[np.ndarray, int]:
        """What the peer heard (``dec``) or sent (``enc``) in its one call."""
        files = sorted(self.recdir.glob(f"dump-*-{which}.wav"))
        if not files:
            raise AssertionError(f"baresip wrote no *-{which}.wav in {self.recdir}")
        return read_wav(files[-1])


class SippPeer:
    """One SIPp user-agent server running one scenario from ``scenarios/``."""

    def __init__(
        self,
        workdir: Path,
        scenario: str,
        *,
        extra_args: tuple[str, ...] = (),
        remote: str | None = None,
        fill: dict[str, str] | None = None,
    ) -> None:
        self.binary = require_binary("sipp", "sip-tester")
        self.dir = Path(workdir) / "sipp"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.scenario = SCENARIOS / scenario
        if fill:  # a template: write the filled-in copy next to SIPp's logs
            text = self.scenario.read_text()
            for key, value in fill.items():
                text = text.replace(f"@{key}@", value)
            self.scenario = self.dir / scenario
            self.scenario.write_text(text)
        self.port = free_port()
        self.media_port = free_port(span=4)  # SIPp echoes audio and video: mp..mp+3
        self.uri = f"sip:service@127.0.0.1:{self.port}"
        self.extra_args = extra_args
        self.remote = remote  # HOST:PORT to call, for a client (UAC) scenario
        self.proc: subprocess.Popen | None = None

    def start(self) -> SippPeer:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "-sf",
                str(self.scenario),
                "-i",
                "127.0.0.1",
                "-mi",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-mp",
                str(self.media_port),
                "-m",
                "1",
                "-nostdin",
                "-timeout",
                "20s",
                "-timeout_error",
                "-trace_err",
                "-trace_msg",
                *self.extra_args,
                *([self.remote] if self.remote else []),
            ],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if self.remote:  # a client scenario starts calling at once
            return self
        # A server scenario is ready once SIPp holds its UDP port.
        wait_until(self._listening, 5.0, f"SIPp to listen on UDP {self.port}")
        return self

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"SIPp exited early: {self.proc.stderr.read().decode()}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", self.port))
            except OSError:
                return True
        return False

    def wait(self, timeout_s: float) -> int:
        """Wait for the scenario to finish; its exit code (0: every expected message came)."""
        return self.proc.wait(timeout=timeout_s)

    def messages(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.dir.glob("*_messages.log"))

    def errors(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.dir.glob("*_errors.log"))

    def stop(self) -> None:
        if self.proc is not None:
            _stop_pid(self.proc)
            if self.proc.stderr:
                self.proc.stderr.close()
