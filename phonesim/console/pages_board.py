"""The live board: every line of the facility as it happens, listening, cutting a call off.

* ``GET /board`` — the page; ``GET /board/events`` — its server-sent events: a
  ``snapshot`` of every row, then each ``row`` that changes (well under a second after the
  line logged it), and a ``ping`` every few seconds that keeps the session of a person
  watching the board alive, and ends the stream once it has expired (8 hours after login).
* ``GET /ws/listen/{terminal}`` — a WebSocket with the call's audio
  (:mod:`phonesim.console.listen`); only for lines this process serves, never a privileged
  call; checked like a state change (session, role, Origin, CSRF token in the query).
* ``POST /lines/{terminal}/cut-off`` — writes the officer's command; the host serving the
  terminal (this process or another) ends the call: both parties hear that the facility
  ended it, and the record keeps who did it.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from phonesim.console.app import SESSION_COOKIE, Console, allowed, csrf_ok, page, render
from phonesim.console.listen import lines_of, refusal, stream_call
from phonesim.exc import InvalidInput

#: A board stream sends a ping this often (and checks the session is still alive).
PING_S = 10.0
MAX_REASON = 200


@page("board")
def board(request: Request, console: Console, session, form) -> Response:
    return render(request, "board.html", session, can_listen_here=console.can_listen_here())


async def board_events(request: Request) -> Response:
    console: Console = request.app.state.console
    token = request.cookies.get(SESSION_COOKIE, "")
    session = await run_in_threadpool(console.session_of, request)
    if session is None or not allowed(session.role, "board"):
        return JSONResponse({"error": "not allowed"}, status_code=401 if session is None else 403)
    queue = console.hub.subscribe()

    async def stream():
        try:
            yield _event("snapshot", {"rows": console.hub.snapshot(), "now_s": time.time()})
            while True:
                try:
                    row = await asyncio.wait_for(queue.get(), PING_S)
                except TimeoutError:
                    # an open board is a person watching: it keeps the session (up to its expiry)
                    alive = await run_in_threadpool(console.staff.session, token)
                    if alive is None:
                        yield _event("expired", {})
                        return
                    yield _event("ping", {"now_s": time.time()})
                    continue
                if row is None:                       # the console is stopping
                    return
                yield _event("row", {"row": row, "now_s": time.time()})
        finally:
            console.hub.unsubscribe(queue)
    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def _event(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


async def listen(websocket: WebSocket) -> None:
    console: Console = websocket.app.state.console
    session = await run_in_threadpool(console.session_of, websocket)
    terminal = websocket.path_params["terminal"]
    origin = websocket.headers.get("origin")
    expected = f"{'https' if websocket.url.scheme == 'wss' else 'http'}://{websocket.url.netloc}"
    await websocket.accept()
    why = ""
    if session is None:
        why = "not signed in"
    elif not allowed(session.role, "listen"):
        why = f"a {session.role} may not listen to calls"
    elif origin is not None and origin != expected:
        why = "not this site's page"
    elif not csrf_ok(session, websocket.query_params.get("csrf")):
        why = "the page's security token is missing or wrong (reload the page)"
    elif console.host is None:
        why = "this console runs apart from the platform: it can listen only to lines of its own process"
    line = lines_of(console.host).get(terminal) if not why else None
    why = why or refusal(line)
    if why:
        if session is not None and allowed(session.role, "listen"):
            await run_in_threadpool(console.audit, session, "listen-refused", terminal, reason=why)
        await websocket.send_text(json.dumps({"refused": why}))
        await websocket.close(code=4403)
        return

    async def started(call_id) -> None:
        await run_in_threadpool(console.audit, session, "listened", terminal, call_id=call_id)
    try:
        sent = await stream_call(websocket, line, on_start=started)
    except WebSocketDisconnect:
        sent = {"why": "page closed"}
    if sent.get("frames"):
        await run_in_threadpool(console.audit, session, "listen-ended", terminal, call_id=sent.get("call_id"),
                                seconds=round(sent["seconds"], 1), why=sent["why"])
    try:
        await websocket.close()
    except (RuntimeError, WebSocketDisconnect):       # already closed by the page
        pass


@page("cut-off")
def cut_off(request: Request, console: Console, session, form) -> Response:
    terminal = request.path_params["terminal"]
    reason = form.get("reason", "").strip()
    if not reason or len(reason) > MAX_REASON or not reason.isprintable():
        raise InvalidInput(f"cut-off reason: expected 1 to {MAX_REASON} printable characters, got {reason!r}")
    known = {t.id for t in console.sites.terminals(console.facility_id)}
    if terminal not in known:
        raise InvalidInput(f"terminal: expected one of this facility's terminals, got {terminal!r}")
    row = console.hub.row(terminal)
    if row is None or not row["in_call"]:
        raise InvalidInput(f"{terminal}: expected a call in progress to cut off, the line is idle")
    command = console.oversight.request_cut_off(terminal, by=session.username, reason=reason)
    console.audit(session, "cut-off", terminal, reason=reason, command=command.id,
                  call_id=row.get("call_id") if row else None)
    return JSONResponse({"command": command.id, "terminal": terminal})


ROUTES = [
    Route("/board", board, methods=["GET"]),
    Route("/board/events", board_events, methods=["GET"]),
    WebSocketRoute("/ws/listen/{terminal}", listen),
    Route("/lines/{terminal}/cut-off", cut_off, methods=["POST"]),
]
