"""Fault injection for agency sandboxes: one ASGI middleware for every agency, steered over HTTP.

A sandbox wrapped in :func:`with_faults` misbehaves the way real agency links do: it answers late, fails
with 503, answers 200 with a body that is not JSON, cuts a body short, hangs up without answering, or is
unreachable altogether. ``GET/PUT/DELETE /_sandbox/faults`` read and change the faults at runtime; the
sandboxes' own ``/_sandbox/*`` admin endpoints are never faulted, so tests and operators can always steer.

Given an admin token, every ``/_sandbox/*`` request (the fault routes and the sandbox's own, such as a
bank's simulated payment) must carry ``Authorization: Bearer <token>``: a sandbox listens on a port that
anyone on the machine can reach, and its admin routes pay bills and break the agency at will.
"""

from __future__ import annotations

import asyncio
import hmac
import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ADMIN_PATH",
    "SANDBOX_TOKEN_FILE",
    "FaultConfig",
    "FaultConfigError",
    "FaultInjector",
    "FaultKind",
    "initial_faults",
    "with_faults",
]

#: Where the faults of a sandbox are read (GET), replaced (PUT) and cleared (DELETE).
ADMIN_PATH = "/_sandbox/faults"
_ADMIN_PREFIX = "/_sandbox/"
#: The file, in the hub's secrets directory (``<data_dir>/secrets``), holding the sandboxes' admin token.
SANDBOX_TOKEN_FILE = "sandbox.token"
_UNAUTHORIZED = (
    "The sandbox's /_sandbox/ routes need the header 'Authorization: Bearer <token>'. The token is in the "
    f"hub's data dir, secrets/{SANDBOX_TOKEN_FILE}; send its contents as the bearer token."
)
_LENGTH_HEADERS = (b"content-length", b"transfer-encoding")
_MAX_LATENCY_MS = 300_000.0  # five minutes: anything longer is a typo, and would stall the server's shutdown


class FaultKind(StrEnum):
    LATENCY = "latency"  # answered late (counted when any delay was added)
    ERROR = "error"  # HTTP 503 with a small JSON body
    GARBAGE = "garbage"  # HTTP 200 with a body that is not JSON
    TRUNCATE = "truncate"  # a declared Content-Length, part of the body, then the connection closes
    DROP = "drop"  # the request is read, then the connection closes with no answer
    OUTAGE = "outage"  # every request hung up on at once, with no delay: the agency is unreachable


class FaultConfig(BaseModel):
    """What goes wrong, and how often. Each request meets at most one of error, garbage, truncate or drop."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    latency_ms: float = Field(default=0.0, ge=0, le=_MAX_LATENCY_MS, description="Added before every answer.")
    jitter_ms: float = Field(
        default=0.0, ge=0, le=_MAX_LATENCY_MS, description="Up to this much more, drawn per request (never less)."
    )
    error_rate: float = Field(default=0.0, ge=0, le=1, description="Share of requests answered 503.")
    garbage_rate: float = Field(default=0.0, ge=0, le=1, description="Share answered 200 with a non-JSON body.")
    truncate_rate: float = Field(default=0.0, ge=0, le=1, description="Share whose body is cut short.")
    drop_rate: float = Field(default=0.0, ge=0, le=1, description="Share hung up on without an answer.")
    outage: bool = Field(default=False, description="Every request is hung up on at once: the agency is unreachable.")
    seed: int | None = Field(default=None, description="Seed of the random stream, for repeatable runs.")

    @model_validator(mode="after")
    def _rates_fit(self) -> Self:
        # One draw per request picks the fault, so the rates are shares of one whole.
        total = self.error_rate + self.garbage_rate + self.truncate_rate + self.drop_rate
        if total > 1 + 1e-9:
            raise PydanticCustomError(
                "fault_rates",
                "error_rate + garbage_rate + truncate_rate + drop_rate is {total}, more than 1: "
                "each request meets at most one of these faults",
                {"total": round(total, 6)},
            )
        return self


class FaultConfigError(RuntimeError):
    """Initial faults that do not fit; a RuntimeError, so ``mpp-hub up`` reports it as why it cannot start."""


def initial_faults(
    configured: Mapping[str, Mapping[str, Any]], sandboxes: Mapping[str, object]
) -> dict[str, FaultConfig]:
    """The ``sandbox_faults`` setting checked: each entry names a running sandbox and is a valid config."""
    faults: dict[str, FaultConfig] = {}
    for code, values in configured.items():
        if code not in sandboxes:
            running = ", ".join(sorted(sandboxes)) or "none"
            raise FaultConfigError(f"sandbox_faults names {code!r}, which has no sandbox here (sandboxes: {running})")
        try:
            faults[code] = FaultConfig.model_validate(values)
        except ValidationError as exc:
            raise FaultConfigError(f"sandbox_faults.{code}: {_summary(exc)}") from None
    return faults


def with_faults(app: ASGIApp, *, initial: FaultConfig | None = None, admin_token: str | None = None) -> FaultInjector:
    """``app`` with faults injected as ``initial`` says (none by default); wrap the sandbox outermost.

    With ``admin_token``, ``/_sandbox/*`` answers 401 unless the request carries it as a bearer token.
    """
    return FaultInjector(app, initial, admin_token=admin_token)


@dataclass(frozen=True, slots=True)
class _Plan:
    kind: FaultKind | None
    delay: float
    garbage: int


# Non-JSON bodies a 200 can carry in real life: a WAF's block page, a body cut by a proxy, bytes that are
# not text at all, and nothing. Each claims to be JSON, so a client trusting the content type is caught too.
_GARBAGE: tuple[bytes, ...] = (
    b"<html><head><title>Request Rejected</title></head><body>The requested URL was rejected. "
    b"Please consult with your administrator.<br><br>Your support ID is: 0</body></html>",
    b'{"content": [{"RESPON": "Data Tid',
    b"\x00\xff\xfe\x1f\x8b\x08garbage\x80\x81",
    b"",
)


def _summary(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(body)'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    )


class FaultInjector:
    """The middleware: an ASGI app around a sandbox, with its faults, random stream and counters.

    State is changed only on the server's event loop, between awaits, so no lock is needed.
    """

    def __init__(self, app: ASGIApp, initial: FaultConfig | None = None, *, admin_token: str | None = None) -> None:
        if admin_token is not None and not admin_token.strip():
            # An empty token would match an empty bearer: refuse it rather than guard with nothing.
            raise ValueError("admin_token is empty; pass None to leave /_sandbox/ open, or a real token")
        self.app = app
        # Stripped: a token read from its file ends in a newline no client could send.
        self._admin_token = admin_token.strip().encode() if admin_token is not None else None
        self._requests = 0
        self._injected = dict.fromkeys(FaultKind, 0)
        self._in_flight = 0
        self._max_in_flight = 0
        self.configure(initial or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace the faults; the random stream restarts from the seed and the counters from zero."""
        self._config = config
        self._random = random.Random(config.seed)
        self._requests = 0
        self._injected = dict.fromkeys(FaultKind, 0)
        self._max_in_flight = self._in_flight

    def snapshot(self) -> dict[str, Any]:
        """The current config, the requests seen since it was set, and the faults injected by kind."""
        return {
            "config": self._config.model_dump(mode="json"),
            "requests": self._requests,
            "injected": {kind.value: count for kind, count in self._injected.items()},
            # How many requests the agency held at once: what a bulkhead in front of it should cap.
            "in_flight": self._in_flight,
            "max_in_flight": self._max_in_flight,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(_ADMIN_PREFIX) and not self._authorized(scope):
            await _refuse(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if path.rstrip("/") == ADMIN_PATH:
            await self._admin(scope, receive, send)
            return
        if path.startswith(_ADMIN_PREFIX):
            await self.app(scope, receive, send)
            return
        self._in_flight += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            await self._serve(scope, receive, send)
        finally:
            self._in_flight -= 1

    def _authorized(self, scope: Scope) -> bool:
        """No token configured, or the request's bearer token is it (compared in constant time)."""
        if self._admin_token is None:
            return True
        authorization = next((value for name, value in scope["headers"] if name.lower() == b"authorization"), b"")
        scheme, _, token = authorization.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._admin_token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        plan = self._plan()
        if plan.kind is FaultKind.OUTAGE:
            # The request is read first: closing on unread bytes makes the kernel reset the connection, and the
            # client would meet a reset one time and a clean hang-up the next.
            await _hang_up(receive, send, read_request=True)
            return
        if plan.delay:
            await asyncio.sleep(plan.delay)
        if plan.kind is FaultKind.ERROR:
            await _unavailable(scope, receive, send)
        elif plan.kind is FaultKind.GARBAGE:
            await _garbage(_GARBAGE[plan.garbage], send)
        elif plan.kind is FaultKind.TRUNCATE:
            await _truncated(self.app, scope, receive, send)
        elif plan.kind is FaultKind.DROP:
            await _hang_up(receive, send, read_request=True)
        else:
            await self.app(scope, receive, send)

    def _plan(self) -> _Plan:
        config = self._config
        self._requests += 1
        # Always three draws per request, so the fault of request n depends only on the seed and n.
        roll, spread, garbage = self._random.random(), self._random.random(), self._random.randrange(len(_GARBAGE))
        if config.outage:
            self._injected[FaultKind.OUTAGE] += 1
            return _Plan(FaultKind.OUTAGE, 0.0, garbage)
        kind = None
        bound = 0.0
        for candidate, rate in (
            (FaultKind.ERROR, config.error_rate),
            (FaultKind.GARBAGE, config.garbage_rate),
            (FaultKind.TRUNCATE, config.truncate_rate),
            (FaultKind.DROP, config.drop_rate),
        ):
            bound += rate
            if roll < bound:
                kind = candidate
                self._injected[candidate] += 1
                break
        delay = (config.latency_ms + spread * config.jitter_ms) / 1000
        if delay:
            self._injected[FaultKind.LATENCY] += 1
        return _Plan(kind, delay, garbage)

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response: Response
        if request.method == "GET":
            response = JSONResponse(self.snapshot())
        elif request.method == "PUT":
            try:
                config = FaultConfig.model_validate_json(await request.body())
            except ValidationError as exc:
                issues = [
                    {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
                    for err in exc.errors(include_input=False, include_url=False)
                ]
                body = {"error": "invalid_fault_config", "message": _summary(exc), "issues": issues}
                response = JSONResponse(body, status_code=400)
            else:
                self.configure(config)
                response = JSONResponse(self.snapshot())
        elif request.method == "DELETE":
            self.configure(FaultConfig())
            response = JSONResponse(self.snapshot())
        else:
            body = {"error": "method_not_allowed", "message": "use GET, PUT or DELETE"}
            response = JSONResponse(body, status_code=405, headers={"Allow": "GET, PUT, DELETE"})
        await response(scope, receive, send)


async def _refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """401 with the way to the token; a WebSocket is closed as a policy violation before it opens."""
    if scope["type"] == "websocket":
        await receive()  # websocket.connect: the handshake must be read before it can be refused
        await send({"type": "websocket.close", "code": 1008})
        return
    response = JSONResponse({"error": _UNAUTHORIZED}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    await response(scope, receive, send)


async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    body = {"error": "service_unavailable", "message": "Service temporarily unavailable (fault injected)"}
    await JSONResponse(body, status_code=503)(scope, receive, send)


async def _garbage(body: bytes, send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _truncated(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The sandbox's real answer, its full length declared, half of it sent, then the connection closed."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, capture)
    body = b"".join(chunks)
    declared = max(len(body), 1)  # an empty answer is cut short too: one byte is promised, none comes
    status, headers = 200, []
    if start is not None:
        status = start["status"]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in _LENGTH_HEADERS]
    headers.append((b"content-length", str(declared).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    await _hang_up(receive, send, read_request=False, started=True)


async def _hang_up(receive: Receive, send: Send, *, read_request: bool, started: bool = False) -> None:
    """Close the connection with nothing more sent, so the client meets a transport error.

    Raising would not do: uvicorn answers an exception raised before a response with a tidy 500. The
    server's transport is reached through ``send``, which uvicorn hands over as a bound method of its
    request cycle; behind other servers or middleware the fallback leaves a promised body unsent, and the
    server closes the connection on an unfinished response.
    """
    if read_request:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                break
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    # uvloop's transports are not asyncio.BaseTransport subclasses, though they behave as one here.
    if transport is not None and (isinstance(transport, asyncio.BaseTransport) or hasattr(transport, "is_closing")):
        transport.close()  # flushes what was written (a truncated body) before it closes
        # Wait for the server to see the connection gone, so it does not try to answer for us.
        while (await receive())["type"] != "http.disconnect":
            pass
        return
    if not started:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1")]})
