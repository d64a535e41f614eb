"""The ops dashboard: ``/ops`` (the page), ``/ops/state`` (a JSON snapshot), ``/ops/stream`` (live, as SSE).

Only consumers with the right ``ops.dashboard`` (or ``*``) see it. Browsers cannot put a key in an
``EventSource``'s headers, so the page logs in with a form and the edge keeps **the API key itself** in a
cookie (HttpOnly, SameSite=Strict, Path=/ops, Secure over HTTPS). We chose that over a server-side session
because every worker's edge can then check the cookie with no session store to share, and a
``mpp-hub consumer revoke`` ends the session at once: the key is checked against the registry on every
request (and on every stream reconnect). HttpOnly keeps the key from page scripts, SameSite=Strict keeps
other sites' requests from carrying it. Give operators a consumer with only ``--allow ops.dashboard``, so
a cookie that leaks shows the dashboard and nothing else. API clients send ``Authorization: Bearer``.

What the page shows (``hub._routes_ops_state``) is already masked at the source.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import replace
from importlib import resources
from typing import TYPE_CHECKING

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sse_starlette import EventSourceResponse, ServerSentEvent

from contracts import ErrorCode, HubError
from hub._consumers import Consumer
from hub._door import Door, Privilege, bearer, contract_error, correlation_id, error_response, request_caller
from hub._routes_ops_state import SERVICE_STANDARDS, DashboardState, TrafficFeed, mall_view
from hub._runtime import Hub
from hub.front._web import posted_key, same_origin

if TYPE_CHECKING:
    from hub._edge import EdgeBus

__all__ = ["COOKIE", "OPS", "SERVICE_STANDARDS", "mall_view", "ops_router"]

#: The right a consumer needs to see the dashboard.
OPS = Privilege("ops.dashboard", "see the ops dashboard")
COOKIE = "mpp_ops_key"
_COOKIE_SECONDS = 12 * 3600  # one shift; the key itself stays valid, only this browser forgets it
_TICK = 1.0
# uvicorn waits for open responses before it stops, and a stream never finishes by itself: a stream
# ends after a few seconds and the browser reconnects at once (a fresh snapshot, a fresh key check),
# so a hub with a dashboard open still stops promptly.
_STREAM_SECONDS = 5.0
_RECONNECT_MS = 250

_log = structlog.get_logger("hub.ops")


@functools.cache
def _template() -> str:
    return resources.files("hub").joinpath("ops/dashboard.html").read_text(encoding="utf-8")


def _page(request: Request, view: str, *, status: int = 200, message: str = "", consumer: str = "") -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    body = (
        _template()
        .replace("{{view}}", view)
        .replace("{{base}}", html.escape(_home(request)))
        .replace("{{nonce}}", nonce)
        .replace("{{message}}", html.escape(message))
        .replace("{{consumer}}", html.escape(consumer))
    )
    headers = {
        "Cache-Control": "no-store",
        # Everything is inline and served from here; the nonce keeps injected markup from running scripts.
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
            "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        ),
        # Not no-referrer: that makes browsers send "Origin: null" on the login form, which the CSRF check refuses.
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
    }
    return HTMLResponse(body, status_code=status, headers=headers)


def _home(request: Request) -> str:
    return f"{request.scope.get('root_path', '')}/ops"


def ops_router(hub: Hub, edge: EdgeBus, door: Door) -> APIRouter:
    router = APIRouter(prefix="/ops", tags=["ops"], include_in_schema=False)
    feed = TrafficFeed(edge.nc)
    operators = _Operators(door, feed)
    _add_pages(router, operators)
    _add_data(router, operators, DashboardState(hub, feed, edge.front.settings.front_standards()), feed)
    return router


class _Operators:
    """The dashboard's door: the consumer behind a key if it may see the dashboard; else the refusal, audited like
    any 401/403. Failed keys count against the same per-address and per-key limits as the portal API's."""

    def __init__(self, door: Door, feed: TrafficFeed) -> None:
        self._door = door
        self._feed = feed

    async def admit(self, request: Request, key: str | None) -> Consumer:
        consumer = await self._door.admit_to(request, replace(request_caller(request), api_key=key), OPS)
        await self._feed.start()
        return consumer

    async def for_api(self, request: Request) -> Consumer | JSONResponse:
        """The operator behind the Bearer key or the session cookie, or the refusal to answer with."""
        try:
            return await self.admit(request, bearer(request) or request.cookies.get(COOKIE))
        except HubError as exc:
            return error_response(exc.error, correlation_id(request), headers={"Cache-Control": "no-store"})


def _add_pages(router: APIRouter, operators: _Operators) -> None:
    """The dashboard page, and the login and logout a browser session goes through."""

    @router.get("", response_class=HTMLResponse)
    async def dashboard(request: Request) -> Response:
        """The dashboard, or the login form when this browser has no valid session."""
        key = bearer(request) or request.cookies.get(COOKIE)
        if key is None:
            return _page(request, "login", status=401)
        try:
            consumer = await operators.admit(request, key)
        except HubError as exc:
            page = _page(request, "login", status=exc.error.code.http_status, message=exc.error.message)
            page.delete_cookie(COOKIE, path=_home(request))
            return page
        return _page(request, "dashboard", consumer=consumer.name)

    @router.post("/session")
    async def login(request: Request) -> Response:
        """Check the posted API key; a key with the ops right gets the session cookie and the dashboard."""
        if not same_origin(request):
            return _page(request, "login", status=403, message="Log in from the dashboard's own page.")
        key = await posted_key(request)
        try:
            consumer = await operators.admit(request, key)
        except HubError as exc:
            return _page(request, "login", status=exc.error.code.http_status, message=exc.error.message)
        _log.info("ops session opened", consumer=consumer.name)
        response = RedirectResponse(_home(request), status_code=303)
        response.set_cookie(
            COOKIE, key or "", max_age=_COOKIE_SECONDS, path=_home(request), httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )  # fmt: skip
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        if not same_origin(request):
            return _page(request, "login", status=403, message="Log out from the dashboard's own page.")
        response = RedirectResponse(_home(request), status_code=303)
        response.delete_cookie(COOKIE, path=_home(request), httponly=True, samesite="strict")
        return response


def _add_data(router: APIRouter, operators: _Operators, snapshots: DashboardState, feed: TrafficFeed) -> None:
    """What the page reads: a snapshot as JSON, and the live stream."""

    @router.get("/state")
    async def state(request: Request) -> Response:
        """The dashboard's data as JSON: per-agency figures, health, the last exchanges, today's applications."""
        found = await operators.for_api(request)
        if isinstance(found, JSONResponse):
            return found
        return JSONResponse(await snapshots.get(), headers={"Cache-Control": "no-store"})

    @router.get("/figures")
    async def figures(request: Request, month: str) -> Response:
        """A month's (YYYY-MM, WIB) applications and complaints, as figures: what `mpp-hub report` adds to the
        tickets and surveys it reads itself."""
        found = await operators.for_api(request)
        if isinstance(found, JSONResponse):
            return found
        try:
            answer = await snapshots.month_figures(month)
        except ValueError as exc:
            return error_response(contract_error(ErrorCode.INVALID_INPUT, str(exc)), correlation_id(request))
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    @router.get("/stream")
    async def stream(request: Request) -> Response:
        """Server-sent events: ``snapshot`` every second, ``exchange`` as each one happens."""
        found = await operators.for_api(request)
        if isinstance(found, JSONResponse):
            return found
        return EventSourceResponse(_events(snapshots, feed), headers={"Cache-Control": "no-store"})


async def _events(snapshots: DashboardState, feed: TrafficFeed) -> AsyncIterator[ServerSentEvent]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _STREAM_SECONDS
    snapshot = await snapshots.get()
    seen = max((e["seq"] for e in snapshot["exchanges"]), default=0)  # the snapshot carries those already
    yield ServerSentEvent(data=json.dumps(snapshot), event="snapshot", retry=_RECONNECT_MS)
    next_tick = loop.time() + _TICK
    while (now := loop.time()) < deadline:
        await feed.wait(min(next_tick, deadline) - now)
        for exchange in feed.after(seen):
            seen = exchange["seq"]
            yield ServerSentEvent(data=json.dumps(exchange), event="exchange")
        if loop.time() >= next_tick:
            next_tick += _TICK
            yield ServerSentEvent(data=json.dumps(await snapshots.get()), event="snapshot")
