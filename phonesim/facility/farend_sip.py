"""The outside line over SIP: place the called-party leg through a PBX or a softphone.

Real inmate phone platforms reach the public network through a PBX or a SIP
trunk.  This backend lets phonesim do the same: the far end of a call is a SIP
user agent (a trainer's softphone, a desk phone, Asterisk, FreeSWITCH...)
reached with an INVITE, and the conversation travels as RTP G.711 mu-law at
8 kHz in 20 ms packets, the line's own frame format.

URL forms (see docs/sip.md)::

    sip:HOST[:PORT]          dial NUMBER as sip:NUMBER@HOST:PORT (a PBX or trunk)
    sip:USER@HOST[:PORT]     always ring USER (a softphone); the dialled number
                             travels in an ``X-Phonesim-Dialled`` header

Options come from the URL query (``sip:alice@10.0.0.5?ring_timeout_s=30``) or
as keyword arguments (which win): ``local`` (SIP bind ``HOST[:PORT]``),
``rtp_ports`` (``LO-HI``), ``ring_timeout_s``, ``response_timeout_s``,
``registrar`` (``HOST[:PORT]``: REGISTER there, with digest authentication),
``proxy`` (``HOST[:PORT]``: send INVITEs there instead of to the URL's host),
``username``, ``password`` (keyword only, never logged, never in the repr) or
``password_env`` (the name of an environment variable holding it, so a URL in a
config file can register without containing the secret),
``from_user`` (our SIP user name, default the username or ``phonesim``).
``sips:`` (TLS) and TCP are refused until supported.

Why a thread of its own: the line calls :meth:`SipFarEnd.exchange` once per
20 ms frame from its real-time path, which must never block.  All SIP and RTP
I/O runs on a private asyncio loop in a named thread.  ``exchange`` only
appends the outgoing frame to a bounded queue and pops one re-framed received
frame; a pacer task on the loop sends exactly one RTP packet per 20 ms, so the
RTP stream is paced correctly whoever calls ``exchange``.

The SIP stack is ``aiosipua`` and the RTP stack ``aiortp`` (pure Python, MIT;
extra ``sip``).  They are imported only here.  G.711 coding is the project's
own :mod:`phonesim.dsp.g711`.  Gaps in aiosipua 0.7 that this module fills:
the ACK for a non-2xx final response (486, 487 after CANCEL...), INVITE
retransmission over UDP (RFC 3261 timer A), early media from a 183's SDP, and
a 200 OK that crosses our CANCEL (ACK then BYE).
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import itertools
import logging
import os
import queue
import re
import socket
import threading
from dataclasses import dataclass
from urllib.parse import parse_qsl

import numpy as np

from phonesim.clock import FRAME_SAMPLES
from phonesim.events import (
    FarEndAnswered,
    FarEndBusy,
    FarEndDigit,
    FarEndFailed,
    FarEndHungUp,
    FarEndNoAnswer,
    FarEndRinging,
    InboundCall,
)
from phonesim.exc import (
    BackendUnavailable,
    ConfigError,
    DeviceClosed,
    FarEndError,
    InvalidInput,
    InvalidUrl,
)
from phonesim.facility.farend import FarEnd

log = logging.getLogger(__name__)

PCMU_PAYLOAD_TYPE = 0
TELEPHONE_EVENT_PAYLOAD_TYPE = 101
DEFAULT_SIP_PORT = 5060
DEFAULT_RTP_PORTS = (20000, 20999)
USER_AGENT = "phonesim"
#: Outgoing frames the line may be ahead of the RTP pacer (older ones are dropped).
TX_QUEUE_FRAMES = 10
#: Received audio kept before the oldest is dropped (caps the added latency).
RX_MAX_FRAMES = 8
#: Received audio buffered before playout starts (absorbs RTP arrival jitter).
RX_PRIME_FRAMES = 2
#: Gap between RFC 4733 digits we send, and the tone length.
DTMF_TONE_MS = 100
DTMF_GAP_MS = 60
#: Statuses that mean "the called party is busy": 486 Busy Here, 600 Busy
#: Everywhere, and 603 Decline (a phone's "reject" button: the caller hears busy).
BUSY_STATUSES = frozenset({486, 600, 603})
#: Statuses that mean "nobody answered": 408 Request Timeout, 480 Temporarily
#: Unavailable (a softphone that is offline or set to do-not-disturb), 487 after our CANCEL.
NO_ANSWER_STATUSES = frozenset({408, 480, 487})
INBOUND_REFUSAL = (403, "Inmates Cannot Receive Calls")

_OPTION_NAMES = (
    "local",
    "rtp_ports",
    "ring_timeout_s",
    "response_timeout_s",
    "registrar",
    "proxy",
    "username",
    "password",
    "password_env",
    "from_user",
    "transport",
)
_DTMF_EVENTS = {key: code for code, key in enumerate("0123456789*#ABCD")}
_NUMBER_RE = re.compile(r"^[0-9A-Za-z*#+._-]{1,64}$")
_instance_ids = itertools.count(1)


# --- URL -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SipTarget:
    """Where the outside line sends its calls, parsed from a ``sip:`` URL."""

    user: str
    host: str
    port: int
    options: dict

    def request_uri(self, number: str) -> str:
        """The Request-URI for dialling ``number``: the URL's user, or the number."""
        return f"sip:{self.user or number}@{_format_host(self.host)}:{self.port}"


def parse_sip_url(url: str) -> SipTarget:
    """Parse ``sip:[USER@]HOST[:PORT][;param=v][?opt=v&...]``.

    Raises
    ------
    InvalidUrl
        For ``sips:`` (TLS is not supported yet), another scheme, a missing
        host, a bad port, or a password in the URL.
    """
    if not isinstance(url, str) or ":" not in url:
        raise InvalidUrl(f"expected a SIP URL like 'sip:alice@192.0.2.10:5060', got {url!r}")
    scheme, rest = url.split(":", 1)
    scheme = scheme.lower()
    if scheme == "sips":
        raise InvalidUrl(
            f"{url!r}: 'sips:' (SIP over TLS) is not supported yet; use 'sip:' on a trusted network"
        )
    if scheme != "sip":
        raise InvalidUrl(f"expected a 'sip:' URL, got scheme {scheme!r} in {url!r}")
    rest = rest.removeprefix("//")
    options: dict[str, str] = {}
    if "?" in rest:
        rest, query = rest.split("?", 1)
        options.update(parse_qsl(query, keep_blank_values=True))
    if ";" in rest:
        rest, *params = rest.split(";")
        for param in params:
            key, _, value = param.partition("=")
            options.setdefault(key, value)
    user = ""
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        if ":" in user:
            raise InvalidUrl(
                f"{url!r}: do not put a password in the URL; pass username/password from the config"
            )
    host, port = _split_host_port(rest, DEFAULT_SIP_PORT, what=f"host in {url!r}")
    if not host:
        raise InvalidUrl(f"expected a host in {url!r} (sip:USER@HOST[:PORT])")
    return SipTarget(user=user, host=host, port=port, options=options)


def _split_host_port(text: str, default_port: int, *, what: str) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):  # [IPv6]:port
        host, _, tail = text[1:].partition("]")
        port_text = tail.removeprefix(":")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, ""
    if not port_text:
        return host, default_port
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise InvalidUrl(f"expected a port 0..65535 in the {what}, got {port_text!r}")
    return host, port


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _resolve_ipv4(host: str, *, what: str) -> str:
    try:
        return socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0]
    except OSError as err:
        raise FarEndError(f"cannot resolve the {what} {host!r}: {err}") from err


def _source_ip_towards(ip: str) -> str:
    """The local address the kernel would use to reach ``ip`` (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((ip, 9))
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


# --- the optional stack ---------------------------------------------------------------
def _load_stack():
    """Import aiosipua, aiortp and the G.711 codec; a clear error if the extra is missing."""
    try:
        import aiortp
        import aiosipua
    except ImportError as err:
        raise BackendUnavailable(
            "the SIP outside line needs the 'sip' extra (aiosipua and aiortp): "
            f"pip install 'phonesim[sip]' ({err})"
        ) from err
    from phonesim.dsp.g711 import ulaw_decode, ulaw_encode

    class PhonesimUlaw(aiortp.Codec):
        """PCMU through :mod:`phonesim.dsp.g711`, so every G.711 byte in phonesim is ours."""

        name = "PCMU"
        sample_rate = 8000
        samples_per_frame = FRAME_SAMPLES

        def encode(self, pcm: bytes) -> bytes:
            return ulaw_encode(np.frombuffer(pcm, dtype="<i2")).tobytes()

        def decode(self, payload: bytes) -> bytes:
            samples = ulaw_decode(np.frombuffer(payload, dtype=np.uint8))
            return samples.astype("<i2", copy=False).tobytes()

    return aiosipua, aiortp, PhonesimUlaw, ulaw_encode


def _quiet_udp_assertion(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """Drop the harmless CPython 3.11 AssertionError from aiosipua's UDP protocol.

    Before 3.12 asyncio's UDP transport is not a ``DatagramTransport`` subclass,
    so aiosipua's ``connection_made`` assertion fails; the transport works anyway.
    """
    exc = context.get("exception")
    if isinstance(exc, AssertionError) and "connection_made" in repr(context.get("handle", "")):
        return
    loop.default_exception_handler(context)


# --- the backend ------------------------------------------------------------------------
class SipFarEnd(FarEnd):
    """A far end reached over SIP (INVITE, RTP PCMU 20 ms, RFC 4733 digits).

    Parameters
    ----------
    url : str
        ``sip:[USER@]HOST[:PORT]`` with optional ``?option=value`` pairs.
    clock : phonesim.clock.Clock
        The line's frame clock (kept for the FarEnd interface; SIP timers are
        wall-clock timers on the backend's own loop, as the network's are).
    **options
        See the module docstring.  ``prompts`` is accepted and ignored (the
        called party's prompts are played by the line, not by this backend).

    States (``.state``): ``idle`` → ``calling`` → ``ringing`` → ``answered`` →
    ``ended`` (and back to ``calling`` on the next :meth:`dial`), ``closed``.
    """

    def __init__(self, url: str, *, clock=None, **options) -> None:
        self._closed = False
        self.state = "idle"
        self.url = url
        self._clock = clock
        options.pop("prompts", None)
        self._target = parse_sip_url(url)
        opts = {**self._target.options, **options}
        unknown = sorted(set(opts) - set(_OPTION_NAMES))
        if unknown:
            raise ConfigError(
                f"unknown option(s) {unknown} for {url!r}; expected some of {list(_OPTION_NAMES)}"
            )
        if "password" in self._target.options:
            raise InvalidUrl(f"{url!r}: do not put a password in the URL; pass it from the config")
        if str(opts.get("transport", "udp")).lower() != "udp":
            raise InvalidUrl(f"{url!r}: only transport=udp is supported, got {opts['transport']!r}")
        self._ring_timeout_s = _positive_float(opts, "ring_timeout_s", 60.0)
        self._response_timeout_s = _positive_float(opts, "response_timeout_s", 4.0)
        self._rtp_ports = _port_range(opts.get("rtp_ports"))
        self._username = opts.get("username") or ""
        self._password = opts.get("password") or ""
        if opts.get("password_env") and not self._password:
            name = str(opts["password_env"])
            if name not in os.environ:
                raise ConfigError(f"password_env={name!r}: no such environment variable is set")
            self._password = os.environ[name]
        self._from_user = opts.get("from_user") or self._username or "phonesim"

        self._aiosipua, self._aiortp, self._codec_cls, self._ulaw_encode = _load_stack()

        self._remote_ip = _resolve_ipv4(self._target.host, what="SIP host")
        self._registrar_addr: tuple[str, int] | None = None
        if opts.get("registrar"):
            reg_host, reg_port = _split_host_port(
                str(opts["registrar"]), DEFAULT_SIP_PORT, what="registrar option"
            )
            self._registrar_host = reg_host
            self._registrar_addr = (_resolve_ipv4(reg_host, what="registrar"), reg_port)
        if opts.get("proxy"):
            proxy_host, proxy_port = _split_host_port(
                str(opts["proxy"]), DEFAULT_SIP_PORT, what="proxy option"
            )
            self._signal_addr = (_resolve_ipv4(proxy_host, what="proxy"), proxy_port)
        else:
            self._signal_addr = (self._remote_ip, self._target.port)
        if opts.get("local"):
            bind_host, bind_port = _split_host_port(str(opts["local"]), 0, what="local option")
        else:
            loopback = ipaddress.ip_address(self._signal_addr[0]).is_loopback
            bind_host, bind_port = ("127.0.0.1" if loopback else "0.0.0.0"), 0
        self._bind = (bind_host, bind_port)
        self._advertised_ip = (
            _source_ip_towards(self._signal_addr[0]) if bind_host == "0.0.0.0" else bind_host
        )

        # Line side <-> loop side hand-over: deques are thread-safe for append/popleft.
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._tx_frames: collections.deque = collections.deque(maxlen=TX_QUEUE_FRAMES)
        self._rx_chunks: collections.deque = collections.deque()
        self._rx_buffer = np.zeros(0, dtype=np.int16)  # line side only
        self._rx_primed = False
        self._line_samples = 0  # samples exchange() returned since dial() (line side)
        self._rx_taken = 0  # network samples moved into _rx_buffer (line side)
        self._dtmf_out: collections.deque = collections.deque()
        self.rx_samples = 0  # samples received from the network (loop side)
        self.tx_packets = 0
        self.rx_dropped_samples = 0
        self.rx_underruns = 0
        self.last_status: int | None = None  # final SIP status of the last call

        # Loop side only.
        self._call = None
        self._rtp = None
        self._media_remote: tuple[str, int] | None = None
        self._pacer: asyncio.Task | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._provisional_seen = False
        self._cancel_pending = False
        self._cancelled = False
        self._final_status: int | None = None
        self._end_reported = False
        self._challenged_cseqs: set[int] = set()
        self._offer = None
        self._registration = None
        self._tasks: set[asyncio.Task] = set()

        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_udp_assertion)
        self._thread = threading.Thread(
            target=self._run_loop, name=f"sip-farend-{next(_instance_ids)}", daemon=True
        )
        self._thread.start()
        try:
            self._on_loop(self._start(), timeout_s=max(5.0, self._response_timeout_s + 1.0))
        except BaseException:
            self.close()
            raise

    # --- public API (called from the line's thread) ------------------------------------
    def dial(self, number: str) -> None:
        """Start calling ``number`` (non-blocking: the INVITE goes out on the SIP thread)."""
        self._check_open()
        if not isinstance(number, str) or not _NUMBER_RE.match(number):
            raise InvalidInput(
                f"expected a number of digits/letters/*#+ (1-64 characters), got {number!r}"
            )
        if self.state in ("calling", "ringing", "answered"):
            raise FarEndError(f"cannot dial {number!r}: a call is already {self.state}")
        self.state = "calling"
        self._tx_frames.clear()
        self._rx_chunks.clear()
        self._dtmf_out.clear()
        self._rx_buffer = np.zeros(0, dtype=np.int16)
        self._rx_primed = False
        self._line_samples = 0
        self._rx_taken = self.rx_samples
        self.last_status = None
        self._loop.call_soon_threadsafe(self._spawn, self._invite(number))

    def exchange(self, to_far: np.ndarray) -> np.ndarray:
        """Queue one 20 ms frame for the far end and return one received frame.

        Never blocks.  Returns silence while nothing has arrived (before the
        answer, on packet loss, or while the jitter buffer refills).
        """
        frame = np.asarray(to_far)
        if frame.shape != (FRAME_SAMPLES,):
            raise InvalidInput(
                f"expected a frame of {FRAME_SAMPLES} int16 samples, got shape {frame.shape}"
            )
        if self.state in ("ringing", "answered") and self._media_remote is not None:
            self._tx_frames.append(frame.astype(np.int16, copy=True))
        return self._next_rx_frame()

    def send_dtmf(self, digits: str) -> None:
        """Send ``digits`` to the far end as RFC 4733 telephone-events (one after another)."""
        for digit in digits:
            if digit.upper() not in "0123456789*#ABCD":
                raise InvalidInput(f"expected DTMF digits 0-9 * # A-D, got {digit!r} in {digits!r}")
        self._dtmf_out.extend(digits.upper())

    def poll_events(self) -> list:
        """Events since the last call: FarEndRinging, FarEndAnswered, FarEndDigit, ..."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def hang_up(self) -> None:
        """End the call: BYE when answered, CANCEL while it rings.  Idempotent."""
        if self._closed or self.state not in ("calling", "ringing", "answered"):
            return
        self.state = "ended"
        self._loop.call_soon_threadsafe(self._hang_up_on_loop)

    def close(self) -> None:
        """Hang up, unregister, stop the SIP thread.  Idempotent."""
        if self._closed:
            return
        self.hang_up()
        self._closed = True
        if self._thread.is_alive():
            try:
                self._on_loop(self._shutdown(), timeout_s=3.0)
            except (FarEndError, RuntimeError) as err:
                log.warning("SIP far end did not shut down cleanly: %s", err)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=3.0)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()
        self.state = "closed"

    def __enter__(self) -> SipFarEnd:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        local = getattr(self, "local_addr", None)
        return (
            f"<SipFarEnd {self.url!r} state={self.state} local={local} "
            f"tx_packets={self.tx_packets} rx_samples={self.rx_samples}>"
        )

    # --- line-side helpers -----------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise DeviceClosed(f"{self!r} is closed")

    def _next_rx_frame(self) -> np.ndarray:
        self._line_samples += FRAME_SAMPLES
        chunks = []
        while self._rx_chunks:
            chunks.append(self._rx_chunks.popleft())
            self._rx_taken += chunks[-1].size
        if chunks:
            self._rx_buffer = np.concatenate([self._rx_buffer, *chunks])
        excess = self._rx_buffer.size - RX_MAX_FRAMES * FRAME_SAMPLES
        if excess > 0:  # the far end runs ahead of us: drop the oldest audio
            keep = RX_PRIME_FRAMES * FRAME_SAMPLES
            self.rx_dropped_samples += self._rx_buffer.size - keep
            self._rx_buffer = self._rx_buffer[-keep:]
        if not self._rx_primed:
            if self._rx_buffer.size < RX_PRIME_FRAMES * FRAME_SAMPLES:
                return np.zeros(FRAME_SAMPLES, dtype=np.int16)
            self._rx_primed = True
        if self._rx_buffer.size < FRAME_SAMPLES:
            self._rx_primed = False
            self.rx_underruns += 1
            return np.zeros(FRAME_SAMPLES, dtype=np.int16)
        frame = self._rx_buffer[:FRAME_SAMPLES].copy()
        self._rx_buffer = self._rx_buffer[FRAME_SAMPLES:]
        return frame

    def _on_loop(self, coro, *, timeout_s: float):
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError as err:
            future.cancel()
            raise FarEndError(f"SIP far end {self.url!r}: no result within {timeout_s} s") from err

    # --- loop side -------------------------------------------------------------------------
    def _run_loop(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def _spawn(self, coro) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            err = task.exception()
            log.error("SIP far end task failed: %r", err)
            self._end_call(FarEndFailed(reason=f"internal error: {err!r}"))

    async def _start(self) -> None:
        sip = self._aiosipua
        self._transport = sip.UdpSipTransport(local_addr=self._bind)
        self._uac = sip.SipUAC(self._transport)
        self._uas = sip.SipUAS(self._transport, user_agent=USER_AGENT, uac=self._uac)
        self._uas.on_invite = self._on_inbound_invite
        self._uas.on_bye = self._on_bye
        self._uas.on_reinvite = self._on_reinvite
        try:
            await self._uas.start()
        except OSError as err:
            raise FarEndError(f"cannot bind SIP to {self._bind}: {err}") from err
        bound = self._transport._udp_transport.get_extra_info("sockname")
        self.local_addr = (self._advertised_ip, bound[1])
        self._uac.advertised_addr = self.local_addr
        self._uas.advertised_addr = self.local_addr
        # See every message first: the gaps listed in the module docstring.
        self._transport.on_message = self._on_sip_message
        self._port_allocator = self._aiortp.PortAllocator(self._rtp_ports)
        if self._registrar_addr is not None:
            await self._register()

    async def _register(self) -> None:
        sip = self._aiosipua
        if not self._username:
            raise ConfigError(
                "registrar= needs a username (and usually a password) from the config"
            )
        done = self._loop.create_future()
        auth = sip.SipDigestAuth(self._username, self._password) if self._password else None
        aor = f"sip:{self._username}@{_format_host(self._registrar_host)}"
        reg = sip.Registration(
            self._uac, aor, self._registrar_addr, auth=auth, user_agent=USER_AGENT
        )
        reg.on_registered = lambda r: done.done() or done.set_result(None)
        reg.on_failed = lambda r, code, reason: (
            done.done()
            or done.set_exception(
                FarEndError(
                    f"registration of {aor} at {self._registrar_addr} failed: {code} {reason}"
                )
            )
        )
        self._registration = reg
        reg.register()
        try:
            await asyncio.wait_for(done, self._response_timeout_s)
        except TimeoutError as err:
            raise FarEndError(
                f"registrar {self._registrar_addr} did not answer within {self._response_timeout_s} s"
            ) from err
        log.info("registered %s at %s", aor, self._registrar_addr)

    async def _shutdown(self) -> None:
        rtp = self._rtp
        self._stop_media(close_rtp=False)
        if rtp is not None:
            await self._close_rtp(rtp, self._rtp_port)
        if self._registration is not None and self._registration.state.value == "registered":
            self._registration.unregister()
        if self._tasks:  # e.g. the RTP close that our hang-up started
            await asyncio.wait(set(self._tasks), timeout=1.0)
        await self._uas.stop()

    async def _invite(self, number: str) -> None:
        sip = self._aiosipua
        if self.state != "calling":
            return  # hung up before the INVITE went out
        self._stop_media()  # whatever is left of the previous call
        self._provisional_seen = False
        self._cancel_pending = False
        self._cancelled = False
        self._final_status = None
        self._end_reported = False
        self._media_remote = None
        rtp_port, _ = await self._port_allocator.allocate()
        self._rtp = await self._aiortp.RTPSession.create(
            local_addr=(self._bind[0], rtp_port),
            remote_addr=("127.0.0.1", 9),  # placeholder until the SDP answer names the peer
            payload_type=PCMU_PAYLOAD_TYPE,
            codec=self._codec_cls(),
            dtmf_payload_type=TELEPHONE_EVENT_PAYLOAD_TYPE,
            jitter_prefetch=0,
        )
        self._rtp_port = rtp_port
        if self.state != "calling":  # hung up while the RTP port was being opened
            self._stop_media()
            return
        self._rtp.on_audio = self._on_rtp_audio
        self._rtp.on_dtmf = self._on_rtp_dtmf
        offer = sip.build_sdp(
            self._advertised_ip,
            rtp_port,
            PCMU_PAYLOAD_TYPE,
            "PCMU",
            dtmf_payload_type=TELEPHONE_EVENT_PAYLOAD_TYPE,
            ptime=20,
        )
        self._offer = offer
        host = _format_host(self._registrar_host if self._registrar_addr else self._target.host)
        self._challenged_cseqs: set[int] = set()
        from_uri = f"sip:{self._from_user}@{host}"
        to_uri = self._target.request_uri(number)
        extra = {"X-Phonesim-Dialled": number} if self._target.user else None
        auth = (
            sip.SipDigestAuth(self._username, self._password)
            if self._username and self._password
            else None
        )
        call = self._uac.send_invite(
            from_uri,
            to_uri,
            self._signal_addr,
            offer,
            extra_headers=extra,
            user_agent=USER_AGENT,
            auth=auth,
        )
        call.on_answer = self._on_answer
        self._call = call
        self._pacer = self._loop.create_task(self._pace())
        for delay_s in (0.5, 1.5, 3.5):  # timer A: retransmit until any response
            if delay_s < self._response_timeout_s:
                self._timers.append(self._loop.call_later(delay_s, self._retransmit_invite, call))
        self._timers.append(
            self._loop.call_later(self._response_timeout_s, self._no_response, call)
        )
        self._timers.append(self._loop.call_later(self._ring_timeout_s, self._ring_timeout, call))
        log.info("calling %s via %s", to_uri, self._signal_addr)

    def _retransmit_invite(self, call) -> None:
        if call is self._call and not self._provisional_seen and self.state == "calling":
            self._transport.send(call.invite, call.remote_addr)

    def _no_response(self, call) -> None:
        if call is self._call and not self._provisional_seen and self.state == "calling":
            self._end_call(
                FarEndFailed(
                    reason=f"no SIP response from {self._signal_addr[0]}:{self._signal_addr[1]} "
                    f"within {self._response_timeout_s} s"
                )
            )

    def _ring_timeout(self, call) -> None:
        if call is self._call and self.state in ("calling", "ringing"):
            self._send_cancel()
            self._end_call(FarEndNoAnswer())

    def _hang_up_on_loop(self) -> None:
        call = self._call
        if call is None:
            return
        if call.dialog.state.value == "confirmed":
            # The last words (a final prompt) may still sit in the send queue: let the
            # pacer send them, then BYE.  A prompt must not lose its tail.
            self._spawn(self._bye_after_drain(call))
            return
        if not self._cancelled:
            self._send_cancel()
        self._end_call(None)

    async def _bye_after_drain(self, call) -> None:
        for _ in range(TX_QUEUE_FRAMES + 1):
            if not self._tx_frames or self._pacer is None:
                break
            await asyncio.sleep(FRAME_SAMPLES / 8000)
        await asyncio.sleep(FRAME_SAMPLES / 8000)  # the frame the pacer took last
        if call.dialog.state.value == "confirmed":
            call.hangup(self._uac)
        if call is self._call:  # not if the line has dialled again meanwhile
            self._end_call(None)

    def _send_cancel(self) -> None:
        call = self._call
        if call is None or self._cancelled:
            return
        if not self._provisional_seen:  # RFC 3261 §9.1: CANCEL only after a provisional
            self._cancel_pending = True
            return
        self._cancelled = True
        if call.dialog.state.value == "early":
            self._uac.send_cancel(call)

    def _end_call(self, event) -> None:
        """The call is over (whatever ended it): stop media, report once."""
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._stop_media()
        if self.state != "closed":
            self.state = "ended"
        if event is not None and not self._end_reported:
            self._events.put(event)
        self._end_reported = self._end_reported or event is not None

    def _stop_media(self, *, close_rtp: bool = True) -> None:
        self._media_remote = None
        if self._pacer is not None:
            self._pacer.cancel()
            self._pacer = None
        if self._rtp is not None:
            rtp, self._rtp = self._rtp, None
            if close_rtp:
                self._spawn(self._close_rtp(rtp, self._rtp_port))

    async def _close_rtp(self, rtp, port: int) -> None:
        await rtp.close()
        await self._port_allocator.release(port)

    # --- SIP events -----------------------------------------------------------------------
    def _on_sip_message(self, msg, addr) -> None:
        sip = self._aiosipua
        call = self._call
        if isinstance(msg, sip.SipResponse) and call is not None and msg.call_id == call.call_id:
            cseq = msg.cseq
            if cseq is not None and cseq.method.upper() == "INVITE":
                self._on_invite_response(call, msg)
                if 200 <= msg.status_code < 300 and self._uac.get_call(call.call_id) is None:
                    # A 200 OK crossed our CANCEL: let the uac ACK it, _on_answer sends BYE.
                    call.dialog.state = type(call.dialog.state).EARLY
                    self._uac._calls[call.call_id] = call
        self._uas._on_message(msg, addr)

    def _on_invite_response(self, call, response) -> None:
        status = response.status_code
        if status < 200:
            self._provisional_seen = True
            if self._cancel_pending:
                self._cancel_pending = False
                self._send_cancel()
            if status in (180, 183) and self.state == "calling":
                self.state = "ringing"
                self._events.put(FarEndRinging())
            if (
                status in (180, 183)
                and response.body
                and response.content_type == "application/sdp"
            ):
                self._use_remote_sdp(self._aiosipua.parse_sdp(response.text))
            return
        self._provisional_seen = True
        if status in (401, 407):
            seq = response.cseq.seq if response.cseq else 0
            if seq in self._challenged_cseqs:
                self._ack_failure(call, response)  # a retransmitted challenge
                return
            if call._auth is not None and call._auth_attempts == 0:
                # aiosipua re-sends the INVITE with credentials once; we ACK the challenge.
                self._challenged_cseqs.add(seq)
                self._ack_failure(call, response)
                return
        if status >= 300:
            self._ack_failure(call, response)  # every copy: the peer retransmits until ACKed
            if self._final_status is not None:
                return
            self._final_status = status
            self.last_status = status
            if self.state in ("calling", "ringing"):
                self._end_call(_event_for_status(status, response.reason_phrase))
            else:  # our CANCEL or hang-up ended it already
                self._end_call(None)

    def _ack_failure(self, call, response) -> None:
        """ACK a non-2xx final response (RFC 3261 §17.1.1.3): aiosipua 0.7 does not."""
        sip = self._aiosipua
        invite = call.invite
        ack = sip.SipRequest(method="ACK", uri=invite.uri)
        top_via = invite.headers.get_first("via")
        if top_via:
            ack.headers.append("Via", top_via)
        ack.headers.set_single("From", invite.headers.get_first("from"))
        ack.headers.set_single("To", response.headers.get_first("to"))
        ack.headers.set_single("Call-ID", call.call_id)
        seq = invite.cseq.seq if invite.cseq else 1
        ack.headers.set_single("CSeq", f"{seq} ACK")
        ack.headers.set_single("Max-Forwards", "70")
        for route in invite.headers.get("route"):
            ack.headers.append("Route", route)
        self._transport.send(ack, call.remote_addr)

    def _on_answer(self, call) -> None:
        if call is not self._call:
            return
        self.last_status = 200
        if self._cancelled or self.state == "ended":
            call.hangup(self._uac)  # answered after we gave up: close the dialog at once
            self._end_call(None)
            return
        answer = call.sdp_answer
        if answer is None or answer.audio is None:
            call.hangup(self._uac)
            self._end_call(FarEndFailed(reason="the far end answered without an audio SDP"))
            return
        names = {c.encoding_name.upper() for c in answer.audio.codecs}
        formats = set(answer.audio.formats)
        if "PCMU" not in names and str(PCMU_PAYLOAD_TYPE) not in formats:
            call.hangup(self._uac)
            self._end_call(
                FarEndFailed(
                    reason=f"the far end answered without PCMU/8000 (offered {sorted(names)})"
                )
            )
            return
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self._use_remote_sdp(answer)
        self.state = "answered"
        self._events.put(FarEndAnswered())
        log.info("answered: %s", call.call_id)

    def _use_remote_sdp(self, sdp) -> None:
        address = sdp.rtp_address
        if address is None or address[1] == 0 or self._rtp is None:
            return
        ip = address[0] if address[0] not in ("0.0.0.0", "") else self._signal_addr[0]
        self._media_remote = (ip, address[1])
        self._rtp.update_remote(self._media_remote)

    def _on_bye(self, call, request) -> None:
        if self._call is not None and call.call_id == self._call.call_id:
            self._end_call(FarEndHungUp())

    def _on_reinvite(self, request) -> None:
        """The far end re-INVITEs (hold, a media move, a session refresh): follow its new
        media address and answer with our unchanged offer (same port, PCMU)."""
        call = self._call
        if call is None or request.call_id != call.call_id or self._offer is None:
            request.reject(481, "Call/Transaction Does Not Exist")
            return
        if request.sdp_offer is not None:
            self._use_remote_sdp(request.sdp_offer)
        request.accept(self._offer)
        log.info("re-INVITE accepted on %s", call.call_id)

    def _on_inbound_invite(self, incoming) -> None:
        """Inmates cannot receive calls: refuse every INVITE that is not ours, and log it."""
        caller = incoming.caller
        incoming.reject(*INBOUND_REFUSAL)
        log.warning("refused an inbound call from %s", caller)
        self._events.put(InboundCall(caller=caller))

    # --- RTP ------------------------------------------------------------------------------
    def _on_rtp_audio(self, pcm: bytes, timestamp: int) -> None:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
        self.rx_samples += samples.size
        self._rx_chunks.append(samples)

    def _on_rtp_dtmf(self, digit: str, duration: int) -> None:
        """An RFC 4733 key ended.  Samples count the stream :meth:`exchange` returns
        since :meth:`dial`, so the line can match it against its in-band detector."""
        backlog = self.rx_samples - self._rx_taken  # received, not yet handed to the line
        end = self._line_samples + max(0, backlog)
        self._events.put(
            FarEndDigit(
                digit=digit, start_sample=max(0, end - duration), end_sample=end, source="rfc4733"
            )
        )

    async def _pace(self) -> None:
        """Send one RTP packet every 20 ms: the line's next frame, silence, or a key.

        RFC 4733 keys are paced like audio: a packet every 20 ms with the event's
        growing duration (the first with the marker bit), three end packets, then
        a short gap; the audio timestamp keeps running underneath (RFC 4733 §2.5).
        """
        silence = self._ulaw_encode(np.zeros(FRAME_SAMPLES, dtype=np.int16)).tobytes()
        timestamp = 0
        key = None  # (event code, start timestamp, samples sent so far)
        gap_frames = 0
        tone_samples = DTMF_TONE_MS * 8
        period_s = FRAME_SAMPLES / 8000
        next_at = self._loop.time()
        while True:
            frame = self._tx_frames.popleft() if self._tx_frames else None
            rtp = self._rtp
            if rtp is not None and self._media_remote is not None:
                if key is None and gap_frames == 0 and self._dtmf_out and self.state == "answered":
                    key = (_DTMF_EVENTS[self._dtmf_out.popleft()], timestamp, 0)
                if key is not None:
                    code, start_ts, sent = key
                    sent += FRAME_SAMPLES
                    end = sent >= tone_samples
                    payload = bytes([code, (0x80 if end else 0) | 10]) + sent.to_bytes(2, "big")
                    for _ in range(3 if end else 1):
                        # aiortp has no paced event sender; its RtpSender keeps our sequence.
                        rtp._sender.send_raw(
                            TELEPHONE_EVENT_PAYLOAD_TYPE,
                            payload,
                            start_ts,
                            marker=1 if sent == FRAME_SAMPLES else 0,
                            addr=self._media_remote,
                        )
                    key = None if end else (code, start_ts, sent)
                    gap_frames = DTMF_GAP_MS // 20 if end else 0
                elif gap_frames > 0:
                    gap_frames -= 1
                    rtp.send_audio(silence, timestamp)
                    self.tx_packets += 1
                else:
                    payload = silence if frame is None else self._ulaw_encode(frame).tobytes()
                    rtp.send_audio(payload, timestamp)
                    self.tx_packets += 1
                timestamp = (timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
            next_at += period_s
            delay = next_at - self._loop.time()
            if delay < -0.2:  # the machine stalled: do not burst to catch up
                next_at = self._loop.time()
                delay = 0.0
            await asyncio.sleep(max(0.0, delay))


def _event_for_status(status: int, reason: str):
    if status in BUSY_STATUSES:
        return FarEndBusy()
    if status in NO_ANSWER_STATUSES:
        return FarEndNoAnswer()
    return FarEndFailed(reason=f"SIP {status} {reason}".strip())


def _positive_float(opts: dict, key: str, default: float) -> float:
    raw = opts.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if value <= 0:
        raise ConfigError(f"expected a positive number of seconds for {key}, got {raw!r}")
    return value


def _port_range(raw) -> tuple[int, int]:
    if raw is None or raw == "":
        return DEFAULT_RTP_PORTS
    if isinstance(raw, tuple | list) and len(raw) == 2:
        low, high = (int(v) for v in raw)
    else:
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(raw))
        if not match:
            raise ConfigError(f"expected rtp_ports as LOW-HIGH (e.g. 20000-20999), got {raw!r}")
        low, high = int(match.group(1)), int(match.group(2))
    if not 1024 <= low < high <= 65535:
        raise ConfigError(f"expected 1024 <= LOW < HIGH <= 65535 for rtp_ports, got {raw!r}")
    return low, high
