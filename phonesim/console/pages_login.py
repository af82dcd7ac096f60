"""Signing in and out, and the first page of each role.

The login form is protected against login CSRF (a site signing a victim into the
attacker's account) by a double-submit token: a random value both in a ``SameSite=Strict``
cookie and in the form.  A successful login gets a fresh session token (no fixation);
the cookie is ``HttpOnly`` and ``SameSite=Strict`` (and ``Secure`` over HTTPS).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from phonesim.console.app import (
    HOME,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Console,
    _safe_next,
    page,
    redirect,
    render,
)
from phonesim.console.staff import SESSION_MAX_S, LoginRefused, LoginThrottled


async def home(request: Request) -> Response:
    console: Console = request.app.state.console
    session = await run_in_threadpool(console.session_of, request)
    if session is None:
        return redirect("/login")
    return redirect(HOME[session.role])


async def login_form(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, login_token=token,
                      next=_safe_next(request.query_params.get("next", "/")), error="")
    _set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
    return response


async def login(request: Request) -> Response:
    console: Console = request.app.state.console
    async with request.form(max_files=0, max_fields=10) as data:
        form = {k: v for k, v in data.items() if isinstance(v, str)}
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    next_path = _safe_next(form.get("next", "/"))
    if not cookie or not hmac.compare_digest(cookie, form.get("login_token", "")):
        return await _again(request, next_path, "The login form expired or was not this site's: try again.",
                            status_code=403)
    username = form.get("username", "").strip()[:64]
    address = request.client.host if request.client else "unknown"
    try:
        session = await run_in_threadpool(console.staff.login, username, form.get("password", ""), address=address)
    except LoginRefused as err:
        if not isinstance(err, LoginThrottled):      # a flood from one address is not logged line by line
            await run_in_threadpool(console.oversight.audit, username or "(none)", "login-refused",
                                    target=address, reason=str(err))
        return await _again(request, next_path, str(err), status_code=401)
    await run_in_threadpool(console.audit, session, "login", address)
    home_path = HOME[session.role] if next_path == "/" else next_path
    response = RedirectResponse(home_path, status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, session.token, max_age=int(SESSION_MAX_S))
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


async def _again(request: Request, next_path: str, error: str, *, status_code: int) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", None, login_token=token, next=next_path, error=error,
                      status_code=status_code)
    _set_cookie(request, response, LOGIN_COOKIE, token, max_age=3600)
    return response


@page(None)
def logout(request: Request, console: Console, session, form) -> Response:
    console.staff.logout(request.cookies.get(SESSION_COOKIE, ""))
    console.audit(session, "logout")
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _set_cookie(request: Request, response: Response, name: str, value: str, *, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


ROUTES = [
    Route("/", home),
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
]
