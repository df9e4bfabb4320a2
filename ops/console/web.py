"""The console's web application (Starlette): sessions, CSRF, roles, errors, security headers.

Page handlers are in ops/console/pages.py; they are plain functions run in a thread pool,
since the store code they call is blocking.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.config import Settings
from hub.errors import HubError
from hub.schema_catalog import SchemaCatalog
from ops.console.accounts import SESSION_LIFETIME, Accounts, ConsoleError, Session
from ops.console.audit import AuditLog
from ops.console.readings import StatusCache
from processors.pg_projections import PgProjectionStore
from processors.pg_store import PgEventStore

log = logging.getLogger("hub.console")
HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "hub_console_session"
LOGIN_COOKIE = "hub_console_login"  # the login form's CSRF token, before any session exists
# No script or style from anywhere but the console itself, no framing, no referrer.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


@dataclass
class Console:
    """What every handler needs: settings, stores, templates."""

    settings: Settings
    accounts: Accounts
    audit: AuditLog
    events: PgEventStore
    projections: PgProjectionStore
    catalog: SchemaCatalog
    status: StatusCache
    templates: Environment
    registry_dir: Path  # where the hub operator key and the registry journal are

    def page(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(**values)
        return HTMLResponse(html, status_code=status)


def when(value: Any, empty: str = "-") -> str:
    """A time as the pages show it (UTC, to the minute); projections give ISO text."""
    if value is None or value == "":
        return empty
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    return str(value)


class Refused(Exception):
    """A request the console turns down with a clear message and an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Call:
    """One request as a handler sees it: who asks, the query and (for POST) the form."""

    console: Console
    request: Request
    session: Session
    form: FormData | None

    def query(self, name: str) -> str | None:
        value = self.request.query_params.get(name, "").strip()
        return value or None

    def field(self, name: str, *, required: bool = True, limit: int = 500) -> str:
        value = str(self.form.get(name, "") if self.form is not None else "").strip()
        if required and not value:
            raise Refused(400, f"the form field '{name}' is required")
        if len(value) > limit:
            raise Refused(400, f"the form field '{name}' is longer than {limit} characters")
        return value

    def reason(self) -> str:
        """The operator's written reason: required for every reveal and action."""
        text = self.field("reason")
        if len(text) < 4:
            raise Refused(400, "write a reason of at least a few words")
        return text

    def must_act(self, action: str, target: str) -> None:
        if not self.session.operator.may_act:
            self.console.audit.write(self.session.operator.username, action, target,
                                     outcome="refused: auditors read only")
            raise Refused(403, "auditors may read but not act: this needs the operator role")

    def render(self, name: str, status: int = 200, **values: Any) -> HTMLResponse:
        return self.console.page(name, status, me=self.session.operator,
                                 csrf=self.session.csrf_token, **values)


Handler = Callable[[Call], Response]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_redirect(message: str | None = None) -> RedirectResponse:
    target = "/login" if message is None else f"/login?m={message}"
    return RedirectResponse(target, status_code=303)


def page(console: Console, handler: Handler, *, post: bool = False) -> Callable[
    [Request], Awaitable[Response]
]:
    """Wrap a handler: a live session, the CSRF token on POST, errors as plain pages."""

    async def endpoint(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        session = await run_in_threadpool(console.accounts.session, token)
        if session is None:
            return _login_redirect("expired" if token else None)
        if session.operator.must_change and request.url.path != "/password":
            return RedirectResponse("/password", status_code=303)
        form = None
        if post:
            form = await request.form()
            sent = str(form.get("csrf", ""))
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                await run_in_threadpool(console.audit.write, session.operator.username,
                                        "forged-post", request.url.path, outcome="refused")
                return console.page("error.html", 403, me=session.operator,
                                    csrf=session.csrf_token,
                                    message="This form was not sent from a console page of "
                                    "your session (its security token is missing or wrong); "
                                    "nothing was changed. Reload the page and try again.")
        call = Call(console, request, session, form)
        try:
            return await run_in_threadpool(handler, call)
        except Refused as err:
            return call.render("error.html", err.status, message=err.message)
        except HubError as err:
            return call.render("error.html", 400, message=str(err))

    return endpoint


async def _show_login(request: Request) -> Response:
    console: Console = request.app.state.console
    token = secrets.token_urlsafe(32)
    notes = {"expired": "Your session has expired or ended: log in again.",
             "out": "You are logged out."}
    response = console.page("login.html", csrf=token,
                            note=notes.get(request.query_params.get("m", ""), ""))
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", max_age=900)
    return response


async def _log_in(request: Request) -> Response:
    console: Console = request.app.state.console
    form = await request.form()
    expected = request.cookies.get(LOGIN_COOKIE, "")
    sent = str(form.get("csrf", ""))
    username = str(form.get("username", "")).strip().lower()[:64]
    password = str(form.get("password", ""))[:1024]

    def refuse(message: str, status: int) -> Response:
        token = secrets.token_urlsafe(32)
        response = console.page("login.html", status, csrf=token, error=message,
                                username=username)
        response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", max_age=900)
        return response

    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return refuse("This login form has expired or was not sent from the console: "
                      "try again.", 403)
    try:
        token, session = await run_in_threadpool(
            console.accounts.log_in, username, password, _client(request))
    except ConsoleError as err:
        await run_in_threadpool(console.audit.write, username or "-", "login", "",
                                outcome=f"refused: {err}")
        return refuse(str(err), 401)
    await run_in_threadpool(console.audit.write, username, "login")
    response = RedirectResponse("/", status_code=303)
    max_age = int((session.expires_at - session.expires_at.now(session.expires_at.tzinfo))
                  .total_seconds())
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="strict",
                        max_age=max(max_age, 1))
    response.delete_cookie(LOGIN_COOKIE)
    return response


async def _log_out(request: Request) -> Response:
    console: Console = request.app.state.console
    token = request.cookies.get(SESSION_COOKIE)
    session = await run_in_threadpool(console.accounts.session, token)
    form = await request.form()
    if session is not None and token is not None and hmac.compare_digest(
        str(form.get("csrf", "")).encode(), session.csrf_token.encode()
    ):
        await run_in_threadpool(console.accounts.log_out, token)
        await run_in_threadpool(console.audit.write, session.operator.username, "logout")
    response = _login_redirect("out")
    response.delete_cookie(SESSION_COOKIE)
    return response


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, sending)


def create_app(
    settings: Settings,
    *,
    session_lifetime: timedelta = SESSION_LIFETIME,
    status_every: float = 5.0,
    registry_dir: Path | None = None,
) -> Starlette:
    """The console application for the hub these settings point at."""
    from ops.console import pages

    events = PgEventStore(settings.pg_dsn)
    templates = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
    )
    templates.filters["when"] = when
    console = Console(
        settings=settings,
        accounts=Accounts(settings.pg_dsn, session_lifetime=session_lifetime),
        audit=AuditLog(events.db),
        events=events,
        projections=PgProjectionStore(settings.pg_dsn),
        catalog=SchemaCatalog.load(),
        status=StatusCache(settings, every=status_every),
        templates=templates,
        registry_dir=registry_dir or settings.data_dir,
    )
    routes = [
        Route("/login", _show_login, methods=["GET"]),
        Route("/login", _log_in, methods=["POST"]),
        Route("/logout", _log_out, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    for path, handler, post in pages.ROUTES:
        routes.append(Route(path, page(console, handler, post=post),
                            methods=["POST"] if post else ["GET"]))

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        words = {404: "There is no such page.", 405: "That page cannot be used this way."}
        return console.page("error.html", status, me=None,
                            message=words.get(status, f"The request was refused ({status})."))

    async def crashed(request: Request, exc: Exception) -> Response:
        log.exception("console request %s %s failed", request.method, request.url.path)
        return console.page("error.html", 500, me=None,
                            message="Something went wrong on the console's side; it is in "
                            "the console's log. Nothing was changed by this request.")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        console.status.start()
        try:
            yield
        finally:
            console.status.stop()
            console.status.db.close()
            console.accounts.close()
            console.projections.close()
            events.close()

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            # Refuses other Host headers: a page elsewhere cannot reach us by DNS rebinding.
            Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"]),
        ],
        exception_handlers={HTTPException: not_found, Exception: crashed},
        lifespan=lifespan,
        max_body_size=64 * 1024,  # forms are small; anything larger is refused unread
    )
    app.state.console = console
    return app
