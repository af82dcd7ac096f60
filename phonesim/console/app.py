"""The console's web application: who may do what, sessions, CSRF, and the pages put together.

:class:`Console` holds what every page works on — the facility database (ledger, call
records, oversight, sites, staff), the live board (:class:`~phonesim.console.hub.LiveHub`)
and, when it runs inside the platform process, the :class:`FacilityHost` whose lines it
may listen to.  :func:`create_app` builds the Starlette application.

Every route goes through :func:`page` (or the streaming routes' own checks), which:

* finds the session from its cookie (``HttpOnly``, ``SameSite=Strict``) — none: the login
  page (or 401 for a script);
* checks the role against :data:`PERMISSIONS` — not allowed: 403, whatever the URL;
* on every state change (POST) checks the session's CSRF token (form field ``csrf`` or
  header ``X-CSRF-Token``) and the ``Origin`` header — a forged form gets 403;
* runs the page's work on a worker thread (the database never blocks the event loop).

Every page carries a Content Security Policy that allows only the console's own scripts,
styles and connections, and is never cached.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from phonesim.console.staff import ROLES, Session, StaffStore
from phonesim.exc import PhoneSimError
from phonesim.facility.cdr import CdrStore
from phonesim.facility.ledger import Ledger
from phonesim.facility.numbers import format_number
from phonesim.facility.oversight import Oversight
from phonesim.facility.rates import format_cents
from phonesim.facility.sites import Sites

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "phonesim_session"
LOGIN_COOKIE = "phonesim_login"

#: What each role may do.  Officers work the live board; investigators the records;
#: administrators everything.  Officers also review incidents, with their calls' evidence.
PERMISSIONS: dict[str, frozenset[str]] = {
    "board": frozenset({"officer", "administrator"}),
    "listen": frozenset({"officer", "administrator"}),
    "cut-off": frozenset({"officer", "administrator"}),
    "incidents": frozenset({"officer", "investigator", "administrator"}),
    "records": frozenset({"investigator", "administrator"}),
    "export": frozenset({"investigator", "administrator"}),
    "no-contact": frozenset({"investigator", "administrator"}),
    "reports": frozenset({"investigator", "administrator"}),
    "admin": frozenset({"administrator"}),
    "audit": frozenset({"administrator"}),
}
#: The first page of each role.
HOME = {"officer": "/board", "investigator": "/calls", "administrator": "/board"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


class Console:
    """What the console's pages work on (see the module docstring).

    Parameters
    ----------
    cfg
        The configuration (the facility, its profile).
    database
        The facility database's URL (the console opens its own connection to it).
    recordings_dir
        The only folder recordings are served from.
    host
        The :class:`~phonesim.terminals.facility_host.FacilityHost` of this process, whose
        lines may be listened to; ``None`` for a console on its own (no listening).
    """

    def __init__(self, cfg: Any, database: str | Path, *, recordings_dir: str | Path, host: Any = None,
                 poll_s: float = 0.25) -> None:
        from phonesim.console.hub import LiveHub

        self.cfg = cfg
        self.ledger = Ledger.open(database, cfg=cfg, create=False)
        self.db = self.ledger.db
        try:
            self.cdrs = CdrStore(self.ledger)
            self.oversight = Oversight(self.db)
            self.sites = Sites(self.db)
            self.staff = StaffStore(self.db)
            self.facility_id = cfg.facility["id"]
            self.facility = self.sites.facility(self.facility_id)
            self.tz = ZoneInfo(self.facility.timezone)
            self.recordings_dir = Path(recordings_dir).resolve()
            self.host = host
            self.hub = LiveHub(self.db, self.sites, self.facility_id, host=host, poll_s=poll_s)
        except BaseException:
            self.ledger.close()
            raise
        self._flash: dict[str, tuple[str, str]] = {}

    def __repr__(self) -> str:
        return f"<Console {self.facility_id} on {self.db.name}{' with its lines' if self.host else ''}>"

    def start(self) -> Console:
        self.hub.start()
        return self

    def close(self) -> None:
        self.hub.close()
        self.ledger.close()

    # --- who is asking ---------------------------------------------------------------------
    def session_of(self, conn: Any, *, touch: bool = True) -> Session | None:
        token = conn.cookies.get(SESSION_COOKIE, "")
        return self.staff.session(token, touch=touch) if token else None

    def audit(self, session: Session, action: str, target: Any = "", **detail: Any) -> None:
        self.oversight.audit(session.username, action, role=session.role, target=str(target), **detail)

    def flash(self, session: Session, kind: str, text: str) -> None:
        """A message for the next page this person sees (after a redirect)."""
        self._flash[session.username] = (kind, text)

    def take_flash(self, session: Session) -> tuple[str, str] | None:
        return self._flash.pop(session.username, None)

    # --- showing things ---------------------------------------------------------------------
    def local_time(self, wall_s: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
        if wall_s is None:
            return ""
        import datetime as dt

        return dt.datetime.fromtimestamp(float(wall_s), tz=self.tz).strftime(fmt)

    def privileged_numbers(self) -> set[str]:
        """Attorneys' numbers: shown only as "privileged" wherever a page would show a number."""
        return {r["number"] for r in self.ledger.privileged_numbers()}

    def can_listen_here(self) -> bool:
        return self.host is not None


# --- the page wrapper -----------------------------------------------------------------------
def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:                     # no Origin (an old browser): the CSRF token decides
        return True
    return origin == f"{request.url.scheme}://{request.url.netloc}"


def csrf_ok(session: Session, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(str(given), session.csrf)


def page(permission: str | None) -> Callable:
    """Wrap ``fn(request, console, session, form) -> Response`` (run on a worker thread) with the
    session, role and CSRF checks of the module docstring.  ``permission`` None: any signed-in
    person."""

    def wrap(fn: Callable) -> Callable:
        async def endpoint(request: Request) -> Response:
            console: Console = request.app.state.console
            session = await run_in_threadpool(console.session_of, request)
            wants_html = "text/html" in request.headers.get("accept", "") or request.method == "GET"
            if session is None:
                if request.method == "GET" and wants_html:
                    return RedirectResponse("/login?next=" + _safe_next(request.url.path), status_code=303)
                return JSONResponse({"error": "not signed in"}, status_code=401)
            if permission is not None and not allowed(session.role, permission):
                return forbidden(request, session, f"a {session.role} may not do this ({permission})")
            form: dict[str, str] = {}
            if request.method == "POST":
                if "application/json" in request.headers.get("content-type", ""):
                    try:
                        body = await request.json()
                    except ValueError:
                        return JSONResponse({"error": "expected a JSON object"}, status_code=400)
                    form = {str(k): str(v) for k, v in (body.items() if isinstance(body, dict) else [])}
                else:
                    async with request.form(max_files=0, max_fields=200) as data:
                        form = {k: v for k, v in data.items() if isinstance(v, str)}
                given = request.headers.get("x-csrf-token") or form.get("csrf")
                if not _same_origin(request) or not csrf_ok(session, given):
                    return forbidden(request, session, "the form's security token is missing or wrong "
                                                       "(reload the page and try again)")
            try:
                return await run_in_threadpool(fn, request, console, session, form)
            except PhoneSimError as err:
                if isinstance(err, PermissionError):
                    return forbidden(request, session, str(err))
                if request.method == "POST" and request.headers.get("x-csrf-token"):
                    return JSONResponse({"error": str(err)}, status_code=400)
                if request.method == "POST":
                    console.flash(session, "error", str(err))
                    return RedirectResponse(_back(request), status_code=303)
                return render(request, "error.html", session, status_code=404 if isinstance(err, LookupError)
                              else 400, message=str(err))
        endpoint.__name__ = fn.__name__
        return endpoint
    return wrap


def _safe_next(path: str) -> str:
    """Only a path of this site (never //host or a scheme) is a place to come back to."""
    return path if path.startswith("/") and not path.startswith("//") else "/"


def _back(request: Request) -> str:
    """Where a POST returns to: the page that sent it (same site only), else its own path."""
    referer = request.headers.get("referer", "")
    prefix = f"{request.url.scheme}://{request.url.netloc}"
    if referer.startswith(prefix + "/"):
        return _safe_next(referer[len(prefix):])
    return _safe_next(request.url.path)


def forbidden(request: Request, session: Session, message: str) -> Response:
    if request.method == "POST" or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": message}, status_code=403)
    return render(request, "error.html", session, status_code=403, message=message)


def render(request: Request, template: str, session: Session | None, *, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    console: Console = request.app.state.console
    templates: Jinja2Templates = request.app.state.templates
    flash = console.take_flash(session) if session is not None else None
    return templates.TemplateResponse(request, template, {
        "session": session, "console": console, "flash": flash, "allowed": allowed,
        "facility": console.facility, "status": status_code, **context}, status_code=status_code)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


# --- the application --------------------------------------------------------------------------
class SecurityHeaders:
    """Adds the security headers of the module docstring to every HTTP response."""

    HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
               (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
               (b"cross-origin-opener-policy", b"same-origin"), (b"cache-control", b"no-store")]

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in self.HEADERS if k not in names]
            await send(message)
        await self.app(scope, receive, send_with_headers)


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters["cents"] = lambda c: format_cents(int(c or 0))
    env.filters["phone"] = lambda n: n if n == "privileged" else format_number(str(n or ""))
    env.filters["duration"] = _duration
    env.filters["urlencode_without"] = lambda params, key: urlencode(
        [(k, v) for k, v in params.multi_items() if k != key])
    env.globals["roles"] = ROLES
    return templates


def _duration(seconds: float | None) -> str:
    s = int(round(float(seconds or 0)))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def create_app(console: Console) -> Starlette:
    """The Starlette application of ``console`` (start the console's hub with ``console.start()``)."""
    from phonesim.console import (
        pages_admin,
        pages_board,
        pages_login,
        pages_oversight,
        pages_records,
    )

    routes: list[Any] = []
    for module in (pages_login, pages_board, pages_records, pages_oversight, pages_admin):
        routes += module.ROUTES
    routes.append(Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"))
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_found})
    app.state.console = console
    app.state.templates = _templates()
    app.state.started_s = time.time()
    app.add_middleware(SecurityHeaders)
    return app


async def _not_found(request: Request, exc: Exception) -> Response:
    return HTMLResponse("<!doctype html><title>Not found</title><p>Not found.</p>", status_code=404)

