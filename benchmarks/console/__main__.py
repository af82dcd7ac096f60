"""How late the console's live board and listened audio reach a client (printed, nothing asserted).

A facility runs in this process in real time — one wall phone whose scripted caller places a
prepaid call to a robot called party — with the console served from the same process, on
127.0.0.1.  Two clients follow it over real sockets:

1. the **board**: a signed-in client reads ``/board/events`` (server-sent events); each row's
   delay is its arrival minus the calendar time of the line's event that changed it.  Side by
   side, in the same run, a bare :class:`~phonesim.facility.live.LiveFollower` (what
   ``phonesim calls --follow`` uses) polling the same database: the console's delay over the
   follower's is the cost of the hub and the HTTP stream.  (A row is timed from the newest event
   folded into it, the follower from each event, so a batch's earlier events make the
   follower's figure the larger.)
2. the **audio**: a signed-in WebSocket client listens from before the call is connected; each
   message's delay is its arrival minus the calendar time of its last sample (the call's
   ``accepted_s`` plus the samples before it).  A page plays it 150 ms later (its jitter buffer).

    python -m benchmarks.console [--database postgresql://...] [--talk-s 30]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from phonesim.commands.facility import DEMO_OVERRIDES, seed_demo_facility
from phonesim.config import load_config
from phonesim.console.server import serve_console
from phonesim.console.staff import StaffStore
from phonesim.facility.live import LiveFollower
from phonesim.facility.platform import Platform
from phonesim.terminals.facility_host import FacilityHost

PASSWORD = "benchmark-password-1"


def summary(name: str, delays_s: list[float]) -> str:
    if not delays_s:
        return f"{name:<34} no samples"
    ms = sorted(d * 1000 for d in delays_s)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    return (f"{name:<34} n={len(ms):<5} median {statistics.median(ms):6.0f} ms   p95 {p95:6.0f} ms   "
            f"max {ms[-1]:6.0f} ms")


def sign_in(client: httpx.Client) -> None:
    token = re.search(r'name="login_token" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "bench", "password": PASSWORD, "login_token": token, "next": "/"})


def follow_board(url: str, until: threading.Event, delays: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=120, follow_redirects=True) as client:
        sign_in(client)
        with client.stream("GET", "/board/events") as stream:
            kind = ""
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "row":
                    delays.append(time.time() - json.loads(line[6:])["row"]["updated_at_s"])
                if until.is_set():
                    return


def follow_bare(db, until: threading.Event, delays: list[float]) -> None:
    follower = LiveFollower(db)
    while not until.is_set():
        for event in follower.poll():
            delays.append(time.time() - event.at_s)
        follower.wait(0.25)
    follower.close()


async def listen(url: str, cookie: str, csrf: str, arrivals: list[tuple[float, int]]) -> int | None:
    import websockets

    ws_url = url.replace("http://", "ws://") + f"/ws/listen/A-1-phone-1?csrf={csrf}"
    call_id = None
    async with websockets.connect(ws_url, additional_headers={"Cookie": cookie, "Origin": url}) as ws:
        async for message in ws:
            if isinstance(message, bytes):
                arrivals.append((time.time(), len(message) // 4))
                continue
            data = json.loads(message)
            call_id = data.get("call_id", call_id)
            if "ended" in data or "refused" in data:
                return call_id
    return call_id


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.console", description=__doc__.split("\n")[0])
    ap.add_argument("--database", help="a database URL (default: a SQLite file in a temporary folder)")
    ap.add_argument("--talk-s", type=int, default=30, help="how long the called party talks (default 30)")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="phonesim-bench-console-"))
    database = args.database or f"sqlite:///{root / 'facility.sqlite3'}"
    cfg = load_config(None, search=False, overrides=DEMO_OVERRIDES)
    terminals = [{"name": "A-1-phone-1", "kind": "phone", "unit": "A-1",
                  "keypad": "script://,,,,,,,,,,h5000%23,,3,,5735552000%23?interval_ms=100&hold_ms=60",
                  "audio": "loopback://bench", "far_end": f"robot://accept?answer_after=0&key_delay_s=0.5"
                                                          f"&talk_s={args.talk_s}&seed=1"}]
    with Platform.open(cfg, database=database) as platform:
        seed_demo_facility(platform, 1)
        staff = StaffStore(platform.ledger.db)
        if not staff.exists("bench"):
            staff.add("bench", "administrator", PASSWORD)
        host = FacilityHost(cfg, platform, terminals=terminals, realtime=True, recordings_dir=root / "recordings")
        host.register()
        server = serve_console(cfg, database, root / "recordings", host=host, port=0, out=io.StringIO())
        until = threading.Event()
        board: list[float] = []
        bare: list[float] = []
        threads = [threading.Thread(target=follow_board, args=(server.url, until, board), daemon=True),
                   threading.Thread(target=follow_bare, args=(platform.ledger.db, until, bare), daemon=True)]
        for t in threads:
            t.start()
        with httpx.Client(base_url=server.url, timeout=60, follow_redirects=True) as client:
            sign_in(client)
            page = client.get("/board").text
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
        runner = threading.Thread(target=host.run, kwargs={"max_s": args.talk_s + 60}, daemon=True)
        runner.start()
        arrivals: list[tuple[float, int]] = []
        while "A-1-phone-1" not in host.lines() or host.lines()["A-1-phone-1"].state.phase.value == "idle":
            time.sleep(0.01)                         # until the caller lifts the handset
        call_id = asyncio.run(listen(server.url, cookie, csrf, arrivals))
        until.set()
        host.stop()
        runner.join(timeout=60)
        server.close()
        cdr = platform.cdrs.get(call_id) if call_id else None
    audio, samples = [], 0
    for at, n in arrivals:
        samples += n
        if cdr is not None and cdr.accepted_s is not None:
            audio.append(at - (cdr.accepted_s + samples / 8000))
    print(f"benchmarks.console on {'PostgreSQL' if database.startswith('postgres') else 'SQLite'}, "
          f"{args.talk_s} s of talk")
    print(summary("board: bare LiveFollower", bare))
    print(summary("board: console SSE client", board))
    if bare and board:
        print(f"{'':<34} console / bare median: {statistics.median(board) / statistics.median(bare):.2f}")
    print(summary("listened audio: WebSocket client", audio))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
