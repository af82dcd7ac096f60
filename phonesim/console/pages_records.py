"""Call records: search, a call's page (timeline, recording, waveform, markers), export.

Investigators and administrators search every call; an officer reviewing an incident sees
the calls that incidents point at (their evidence), and nothing else.  The recording and
the export are reached by the call's id only (:mod:`phonesim.console.evidence`).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from phonesim.console.app import Console, allowed, page, render
from phonesim.console.evidence import export_package, markers, recording_file, waveform
from phonesim.exc import InvalidInput, NotFound, PhoneSimError
from phonesim.facility.cdr import DISPOSITIONS
from phonesim.facility.numbers import classify

PAGE_SIZE = 100


class NotYours(PhoneSimError, PermissionError):
    """A call this person's role may not see."""


def _date(text: str, what: str, tz) -> float | None:
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError as err:
        raise InvalidInput(f"{what}: expected a date YYYY-MM-DD, got {text!r}") from err
    return dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()


def search_filters(console: Console, q: dict[str, str]) -> dict:
    """The query string of the search form -> :meth:`CdrStore.list` filters (bad values named)."""
    f: dict = {"facility": q.get("facility") or console.facility_id}
    if q.get("inmate"):
        f["inmate_id"] = q["inmate"].strip()
    if q.get("number"):
        info = classify(q["number"])
        if info.kind == "invalid":
            raise InvalidInput(f"number: {info.reason}")
        f["number"] = info.digits
    if q.get("unit"):
        f["terminals"] = [t.id for t in console.sites.terminals(f["facility"]) if t.unit == q["unit"]]
    if q.get("disposition"):
        if q["disposition"] not in DISPOSITIONS:
            raise InvalidInput(f"disposition: expected one of {', '.join(DISPOSITIONS)}, got {q['disposition']!r}")
        f["disposition"] = q["disposition"]
    since = _date(q.get("since", ""), "from", console.tz)
    until = _date(q.get("until", ""), "to", console.tz)
    if since is not None:
        f["since_s"] = since
    if until is not None:
        f["until_s"] = until + 86_400
    if q.get("threeway") in ("yes", "no"):
        f["threeway"] = q["threeway"] == "yes"
    return f


@page("records")
def calls(request: Request, console: Console, session, form) -> Response:
    q = dict(request.query_params)
    try:
        offset = max(0, int(q.get("offset", "0") or 0))
    except ValueError as err:
        raise InvalidInput(f"offset: expected a whole number, got {q.get('offset')!r}") from err
    error, found = "", []
    try:
        filters = search_filters(console, q)
        found = console.cdrs.list(**filters, newest_first=True, limit=PAGE_SIZE + 1, offset=offset)
    except InvalidInput as err:
        error = str(err)
    units = sorted({t.unit for t in console.sites.terminals(console.facility_id) if t.unit})
    return render(request, "calls.html", session, nav="calls", q=q, calls=found[:PAGE_SIZE], error=error,
                  more=len(found) > PAGE_SIZE, offset=offset, page_size=PAGE_SIZE, units=units,
                  dispositions=DISPOSITIONS, facilities=console.sites.facilities())


def viewable_call(console: Console, session, call_id: int):
    """The call's record if this person may see it (:class:`NotYours` otherwise)."""
    cdr = console.cdrs.get(call_id)
    if allowed(session.role, "records"):
        return cdr
    if allowed(session.role, "incidents") and console.oversight.incidents(status=None, call_id=call_id, limit=1):
        return cdr
    raise NotYours(f"call {call_id}: a {session.role} may see only the calls of incidents")


@page("incidents")
def call_page(request: Request, console: Console, session, form) -> Response:
    call_id = request.path_params["call_id"]
    cdr = viewable_call(console, session, call_id)
    try:
        recording_file(cdr, console.recordings_dir)
        has_recording, why = True, ""
    except (NotFound, PermissionError) as err:
        has_recording, why = False, str(err)
    console.audit(session, "viewed-call", call_id)
    incidents = console.oversight.incidents(status=None, call_id=call_id)
    return render(request, "call.html", session, nav="calls", cdr=cdr, has_recording=has_recording,
                  no_recording_why=why, incidents=incidents, unit=_unit_of(console, cdr.terminal))


def _unit_of(console: Console, terminal: str) -> str:
    return console.sites.unit_of(terminal)[1]


@page("incidents")
def recording(request: Request, console: Console, session, form) -> Response:
    cdr = viewable_call(console, session, request.path_params["call_id"])
    path = recording_file(cdr, console.recordings_dir)
    return FileResponse(path, media_type="audio/wav", headers={"Cache-Control": "no-store"})


@page("incidents")
def waveform_json(request: Request, console: Console, session, form) -> Response:
    cdr = viewable_call(console, session, request.path_params["call_id"])
    data = waveform(recording_file(cdr, console.recordings_dir))
    data["markers"] = markers(cdr)
    return JSONResponse(data)


@page("export")
def export(request: Request, console: Console, session, form) -> Response:
    call_id = request.path_params["call_id"]
    cdr = console.cdrs.get(call_id)
    try:
        path = recording_file(cdr, console.recordings_dir)
    except NotFound:
        path = None
    except PermissionError:
        if not cdr.privileged:
            raise
        path = None               # a privileged call: the record only, there is no audio
    out = Path(tempfile.mkdtemp(prefix="phonesim-export-"))
    package = export_package(cdr, path, by=session.username, facility=console.facility_id, out_dir=out)
    console.audit(session, "exported", call_id, file=package.name, recording=path is not None)
    return FileResponse(package, media_type="application/zip", filename=f"call-{call_id}-evidence.zip",
                        background=BackgroundTask(shutil.rmtree, out, ignore_errors=True))


ROUTES = [
    Route("/calls", calls, methods=["GET"]),
    Route("/calls/{call_id:int}", call_page, methods=["GET"]),
    Route("/calls/{call_id:int}/recording.wav", recording, methods=["GET"]),
    Route("/calls/{call_id:int}/waveform.json", waveform_json, methods=["GET"]),
    Route("/calls/{call_id:int}/export", export, methods=["POST"]),
]
