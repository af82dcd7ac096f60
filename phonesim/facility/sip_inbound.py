"""Inbound SIP for the family line: answer calls to the provider's number with the IVR.

Families call the provider's number (``[family] provider_phone`` of the profile); a PBX or
a SIP trunk routes the call here as an INVITE to ``sip:NUMBER@HOST:PORT``.  This user
agent server answers such INVITEs (the number with or without its leading 1), carries the
call as RTP G.711 mu-law in 20 ms packets, and runs one
:class:`~phonesim.facility.family_ivr.FamilyIvrSession` per call: each received frame goes
in, each frame of prompts comes out, RFC 4733 keys go to :meth:`~FamilyIvrSession.key`.
The IVR ends a call with a BYE after its goodbye; a BYE from the caller ends the session.

Refused: an INVITE to any other user (404 Not Found: the inmate lines refuse every
inbound call on their own backend, :mod:`phonesim.facility.farend_sip`), an offer without
PCMU (488), more than ``max_calls`` calls at once (486).

Threads: all SIP and RTP I/O runs on a private asyncio loop in a named thread, as in
:mod:`phonesim.facility.farend_sip`.  The sessions (which read and write the facility
database) run on one worker thread per call, so a slow database never delays another
call's packets, and a call's frames and keys reach its session in order.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phonesim.clock import FRAME_SAMPLES, SAMPLE_RATE_HZ
from phonesim.exc import ConfigError, FarEndError, InvalidInput
from phonesim.facility.farend_sip import (
    DEFAULT_RTP_PORTS,
    PCMU_PAYLOAD_TYPE,
    USER_AGENT,
    _load_stack,
    _port_range,
    _quiet_udp_assertion,
    _split_host_port,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_CALLS = 8
#: Received audio kept before the oldest is dropped (caps the delay after a long stall).
RX_MAX_FRAMES = 50
#: Frames of received audio one 20 ms tick may catch up on (after a late tick).
CATCH_UP_FRAMES = 4
#: Ticks with no audio from the caller before the IVR hears silence (its clock runs on:
#: time-outs still fire for a caller that sends nothing).  Shorter gaps are network jitter.
STARVED_TICKS = 3
_server_ids = itertools.count(1)


def provider_user(number: str) -> str:
    """The 10 digits of the provider's number (``1-800-844-6591`` -> ``8008446591``)."""
    digits = re.sub(r"\D", "", str(number))
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        raise ConfigError(f"expected the provider's 10-digit number like '1-800-844-6591', got {number!r}")
    return digits


def request_user(uri: str) -> str:
    """The user part of a Request-URI (``sip:18008446591@host`` -> ``18008446591``)."""
    text = str(uri).strip().strip("<>")
    text = text.split(":", 1)[1] if ":" in text else text
    return text.split("@", 1)[0].split(";", 1)[0] if "@" in text else ""


@dataclass
class _Call:
    """One answered call, loop side."""

    incoming: Any
    session: Any
    rtp: Any
    port: int
    worker: ThreadPoolExecutor
    rx: collections.deque = field(default_factory=collections.deque)
    rx_samples: int = 0
    starved_ticks: int = 0
    pacer: asyncio.Task | None = None
    ended: bool = False


class FamilyIvrServer:
    """A SIP user agent server that answers the provider's number with the family IVR.

    Parameters
    ----------
    listen : str
        ``HOST:PORT`` to bind (``127.0.0.1:5070``).
    provider_number : str
        The number families call; INVITEs to any other user get 404.
    session_factory : callable
        ``session_factory(caller_uri, call_id)`` -> a new
        :class:`~phonesim.facility.family_ivr.FamilyIvrSession`.
    rtp_ports : str or (int, int)
        ``LOW-HIGH`` for the calls' RTP ports.
    max_calls : int
        Calls answered at once; more get 486 Busy Here.

    :attr:`sessions` keeps every session answered (its log says what each caller heard)
    and :attr:`refused` every refused INVITE as ``(user, status)``.
    """

    def __init__(self, listen: str, *, provider_number: str, session_factory: Callable[[str, str], Any],
                 rtp_ports: Any = None, max_calls: int = DEFAULT_MAX_CALLS) -> None:
        host, port = _split_host_port(str(listen), 5060, what="listen address")
        if not host:
            raise InvalidInput(f"expected --listen HOST:PORT like 127.0.0.1:5070, got {listen!r}")
        if int(max_calls) < 1:
            raise InvalidInput(f"expected max_calls >= 1, got {max_calls!r}")
        self.listen = (host, port)
        self.provider = provider_user(provider_number)
        self.session_factory = session_factory
        self.max_calls = int(max_calls)
        self._rtp_ports = _port_range(rtp_ports) if rtp_ports is not None else DEFAULT_RTP_PORTS
        self.sessions: list[Any] = []
        self.refused: list[tuple[str, int]] = []
        self.local_addr: tuple[str, int] | None = None
        self._calls: dict[str, _Call] = {}
        self._tasks: set[asyncio.Task] = set()
        self._closed = False
        self._aiosipua, self._aiortp, self._codec_cls, self._ulaw_encode = _load_stack()
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_udp_assertion)
        self._thread = threading.Thread(target=self._run_loop, name=f"family-ivr-sip-{next(_server_ids)}",
                                        daemon=True)

    def __repr__(self) -> str:
        return (f"<FamilyIvrServer sip:{self.provider}@{self.listen[0]}:{self.listen[1]} "
                f"calls={len(self._calls)} answered={len(self.sessions)}>")

    @property
    def uri(self) -> str:
        """The SIP URI families call (after :meth:`start`, with the bound port)."""
        host, port = self.local_addr or self.listen
        return f"sip:{self.provider}@{host}:{port}"

    # --- life cycle (any thread) ---------------------------------------------------------
    def start(self) -> FamilyIvrServer:
        """Bind and start answering; :class:`FarEndError` if the address cannot be bound."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            future.result(timeout=5.0)
        except BaseException:
            self.close()
            raise
        log.info("family line listening at %s", self.uri)
        return self

    def active_calls(self) -> int:
        return len(self._calls)

    def close(self) -> None:
        """Hang up every call (BYE), stop listening, stop the thread.  Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            try:
                future.result(timeout=5.0)
            except Exception as err:  # noqa: BLE001 - closing: report, go on
                log.warning("family line did not shut down cleanly: %r", err)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5.0)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()

    def __enter__(self) -> FamilyIvrServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
            log.error("family line task failed: %r", task.exception())

    async def _start(self) -> None:
        sip = self._aiosipua
        self._transport = sip.UdpSipTransport(local_addr=self.listen)
        self._uas = sip.SipUAS(self._transport, user_agent=USER_AGENT)
        self._uas.on_invite = self._on_invite
        self._uas.on_bye = self._on_bye
        self._uas.on_reinvite = self._on_reinvite
        self._uas.on_ack_timeout = self._on_ack_timeout
        try:
            await self._uas.start()
        except OSError as err:
            raise FarEndError(f"cannot bind the family line's SIP to {self.listen}: {err}") from err
        bound = self._transport._udp_transport.get_extra_info("sockname")
        self.local_addr = (self.listen[0], bound[1])
        self._uas.advertised_addr = self.local_addr
        self._port_allocator = self._aiortp.PortAllocator(self._rtp_ports)

    async def _shutdown(self) -> None:
        for call in list(self._calls.values()):
            self._end(call, bye=True)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=2.0)
        await self._uas.stop()

    def _on_invite(self, incoming) -> None:
        user = request_user(incoming.invite.uri)
        digits = user[1:] if len(user) == 11 and user.startswith("1") else user
        if digits != self.provider:
            self._refuse(incoming, user, 404, "Not Found")
            return
        offer = incoming.sdp_offer
        audio = offer.audio if offer is not None else None
        if audio is None or not any(c.payload_type == PCMU_PAYLOAD_TYPE for c in audio.codecs):
            self._refuse(incoming, user, 488, "Not Acceptable Here")
            return
        if len(self._calls) >= self.max_calls:
            self._refuse(incoming, user, 486, "Busy Here")
            return
        self._spawn(self._answer(incoming))

    def _refuse(self, incoming, user: str, status: int, reason: str) -> None:
        incoming.reject(status, reason)
        self.refused.append((user, status))
        log.info("family line refused a call to %r from %s: %d %s", user, incoming.caller, status, reason)

    async def _answer(self, incoming) -> None:
        sip, offer = self._aiosipua, incoming.sdp_offer
        port, _ = await self._port_allocator.allocate()
        event_pt = next((c.payload_type for c in offer.audio.codecs
                         if c.encoding_name.lower() == "telephone-event"), 0)
        remote = offer.rtp_address or (incoming.source_addr[0], 9)
        if remote[0] in ("0.0.0.0", ""):
            remote = (incoming.source_addr[0], remote[1])
        rtp = await self._aiortp.RTPSession.create(
            local_addr=(self.listen[0], port), remote_addr=remote, payload_type=PCMU_PAYLOAD_TYPE,
            codec=self._codec_cls(), dtmf_payload_type=event_pt or 101, jitter_prefetch=0)
        answer, _ = sip.negotiate_sdp(offer, self.local_addr[0], port, supported_codecs=[PCMU_PAYLOAD_TYPE],
                                      dtmf_payload_type=event_pt, ptime=20)
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="family-ivr-call")
        try:
            session = await self._loop.run_in_executor(worker, self.session_factory, incoming.caller,
                                                       incoming.call_id)
        except Exception:
            await self._give_up(rtp, port, worker)
            incoming.reject(500, "Server Internal Error")
            raise
        if incoming.dialog.state.value == "terminated":  # the caller's CANCEL came first (487 sent)
            await self._give_up(rtp, port, worker)
            log.info("family line call %s cancelled before the answer", incoming.call_id)
            return
        call = _Call(incoming, session, rtp, port, worker)
        rtp.on_audio = lambda pcm, _ts: self._on_audio(call, pcm)
        rtp.on_dtmf = lambda digit, _duration: self._on_key(call, digit)
        incoming.accept(answer)
        self._calls[incoming.call_id] = call
        self.sessions.append(session)
        call.pacer = self._loop.create_task(self._pace(call))
        call.pacer.add_done_callback(lambda task: self._pacer_done(call, task))
        log.info("family line answered %s from %s", incoming.call_id, incoming.caller)

    async def _give_up(self, rtp, port: int, worker: ThreadPoolExecutor) -> None:
        """Release what an unanswered call took."""
        worker.shutdown(wait=False)
        await rtp.close()
        await self._port_allocator.release(port)

    def _on_audio(self, call: _Call, pcm: bytes) -> None:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
        call.rx.append(samples)
        call.rx_samples += samples.size
        while call.rx_samples > RX_MAX_FRAMES * FRAME_SAMPLES:  # the caller runs ahead: drop the oldest
            call.rx_samples -= call.rx.popleft().size

    def _on_key(self, call: _Call, digit: str) -> None:
        if not call.ended:
            call.worker.submit(call.session.key, digit, "rfc4733")

    def _take_frames(self, call: _Call) -> list[np.ndarray]:
        """The caller's audio for this tick, in whole frames: what arrived (never cut into
        pieces: a key tone must reach the detector whole), or silence once it stopped coming."""
        ready = min(call.rx_samples // FRAME_SAMPLES, CATCH_UP_FRAMES)
        if ready == 0:
            call.starved_ticks += 1
            if call.starved_ticks < STARVED_TICKS:
                return []
            return [np.zeros(FRAME_SAMPLES, dtype=np.int16)]
        call.starved_ticks = 0
        joined = np.concatenate(list(call.rx))
        call.rx.clear()
        taken, rest = joined[:ready * FRAME_SAMPLES], joined[ready * FRAME_SAMPLES:]
        if rest.size:
            call.rx.append(rest)
        call.rx_samples = rest.size
        return list(taken.reshape(ready, FRAME_SAMPLES))

    @staticmethod
    def _feed_session(session: Any, frames: list[np.ndarray]) -> list[np.ndarray]:
        return [session.feed(frame) for frame in frames]

    async def _pace(self, call: _Call) -> None:
        """Every 20 ms: the caller's new frames in, as many frames of prompts out (one RTP
        packet each), until the IVR has said goodbye."""
        period_s = FRAME_SAMPLES / SAMPLE_RATE_HZ
        timestamp = 0
        next_at = self._loop.time()
        while not call.ended:
            frames = self._take_frames(call)
            if frames:
                outs = await self._loop.run_in_executor(call.worker, self._feed_session, call.session, frames)
                if call.ended:
                    return
                for out in outs:
                    call.rtp.send_audio(self._ulaw_encode(out).tobytes(), timestamp)
                    timestamp = (timestamp + FRAME_SAMPLES) & 0xFFFFFFFF
                if call.session.finished:
                    self._end(call, bye=True)
                    return
            next_at += period_s
            delay = next_at - self._loop.time()
            if delay < -0.2:  # the machine stalled: do not burst to catch up
                next_at, delay = self._loop.time(), 0.0
            await asyncio.sleep(max(0.0, delay))

    def _pacer_done(self, call: _Call, task: asyncio.Task) -> None:
        """A call whose session failed is ended (BYE), never left open and silent."""
        if task.cancelled() or task.exception() is None:
            return
        log.error("family line call %s failed: %r", call.incoming.call_id, task.exception())
        self._end(call, bye=True)

    def _end(self, call: _Call, *, bye: bool) -> None:
        if call.ended:
            return
        call.ended = True
        self._calls.pop(call.incoming.call_id, None)
        if call.pacer is not None and call.pacer is not asyncio.current_task():
            call.pacer.cancel()
        if bye:
            call.incoming.hangup()
        else:
            call.worker.submit(call.session.caller_hung_up)
        call.worker.shutdown(wait=False)
        self._spawn(self._close_rtp(call))
        log.info("family line call %s ended (%s)", call.incoming.call_id, "our BYE" if bye else "caller")

    async def _close_rtp(self, call: _Call) -> None:
        await call.rtp.close()
        await self._port_allocator.release(call.port)

    def _on_bye(self, incoming, request) -> None:
        call = self._calls.get(incoming.call_id)
        if call is not None:
            self._end(call, bye=False)

    def _on_ack_timeout(self, incoming) -> None:
        call = self._calls.get(incoming.call_id)
        if call is not None:
            self._end(call, bye=False)

    def _on_reinvite(self, incoming) -> None:
        """A re-INVITE (hold, a media move): follow the new media address, keep our answer."""
        call = self._calls.get(incoming.call_id)
        if call is None or incoming.sdp_answer is None:
            incoming.reject(481, "Call/Transaction Does Not Exist")
            return
        if incoming.sdp_offer is not None and incoming.sdp_offer.rtp_address:
            call.rtp.update_remote(incoming.sdp_offer.rtp_address)
        incoming.accept(incoming.sdp_answer)
