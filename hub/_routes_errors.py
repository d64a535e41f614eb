"""How the HTTP edge answers whatever went wrong: always a contract error, never FastAPI's own forms (422,
``{"detail": ...}``) and never a traceback."""

from __future__ import annotations

import json
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from nats.errors import Error as NatsError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from contracts import ErrorCode, FieldIssue, HubError
from hub._audit import AuditError
from hub._door import contract_error, correlation_id, error_response

__all__ = ["BODY_FIELD", "install_error_handlers"]

#: The field an issue names when it is the body as a whole (not JSON, not an object), not one of its fields.
BODY_FIELD = "(body)"
#: Every method a client may try on a path, to say which ones it serves (HEAD comes with GET).
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_HTTP_CODES = {404: ErrorCode.NOT_FOUND, 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.FORBIDDEN}

_log = structlog.get_logger("hub.http")


def install_error_handlers(app: FastAPI, max_body_bytes: int) -> None:
    async def on_hub_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HubError)
        return error_response(exc.error, correlation_id(request))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        return _http_error(request, exc, max_body_bytes)

    app.add_exception_handler(HubError, on_hub_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, _on_invalid)
    for failure in (NatsError, TimeoutError, AuditError):
        app.add_exception_handler(failure, _on_bus_failure)


async def _on_bus_failure(request: Request, exc: Exception) -> JSONResponse:
    # JetStream or the audit log did not answer: a NATS node restarting, a leader being elected. The request may
    # be repeated; the hub's own state is as consistent as it was before it.
    _log.warning("bus failure at the edge", error=type(exc).__name__, path=request.url.path)
    error = HubError.of(
        ErrorCode.INTERNAL, "The hub's message bus did not answer in time; please retry", retryable=True,
        retry_after=2,
    ).error  # fmt: skip
    return error_response(error, correlation_id(request))


def _http_error(request: Request, exc: StarletteHTTPException, max_body_bytes: int) -> JSONResponse:
    """FastAPI's own refusals (unknown route, wrong method, unreadable or oversized body) in the contract's form."""
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.INVALID_INPUT)
    method, path = request.method, request.url.path
    message = {
        404: f"No such route: {method} {path}; see /docs for the routes",
        413: f"The request body is over {max_body_bytes} bytes",
    }.get(exc.status_code, f"The request could not be read ({exc.detail})")
    headers: dict[str, str] = {}
    if exc.status_code == 405:
        allowed = _served_methods(request)
        headers["Allow"] = ", ".join(allowed)
        message = f"{method} is not allowed on {path}; it serves {headers['Allow']} (see /docs)"
    status = exc.status_code if exc.status_code in (404, 405, 413) else None
    return error_response(contract_error(code, message), correlation_id(request), status=status, headers=headers)


def _served_methods(request: Request) -> list[str]:
    """The methods some route of the app serves on the request's path (RFC 9110: what a 405's Allow lists)."""
    routes = request.app.router.routes
    served = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            served.append(method)
    return served


async def _on_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [_issue(err, exc.body) for err in exc.errors()]
    summary = "; ".join(f"{i.field}: {i.message}" for i in issues)
    error = HubError.of(ErrorCode.INVALID_INPUT, f"Invalid request: {summary}", issues=issues).error
    return error_response(error, correlation_id(request))


def _issue(err: Any, body: Any) -> FieldIssue:
    if err.get("type") == "json_invalid":
        return FieldIssue(field=BODY_FIELD, message=_not_json(err, body))
    # FastAPI names where a value sits from the body's root ("body", "nik"): the body itself is no field.
    field = ".".join(str(part) for part in err["loc"] if part != "body")
    return FieldIssue(field=field or BODY_FIELD, message=err["msg"])


def _not_json(err: Any, body: Any) -> str:
    """Where the body stopped being JSON, by line and column (FastAPI only gives the character offset)."""
    reason = str(err.get("ctx", {}).get("error") or "not JSON")
    offset = err["loc"][-1]
    if not isinstance(body, str | bytes) or not isinstance(offset, int):
        return f"the body is not JSON ({reason})"
    text = body if isinstance(body, str) else body.decode("utf-8", "replace")
    where = json.JSONDecodeError(reason, text, offset)  # the standard library's own line and column reckoning
    return f"the body is not JSON: {reason} at line {where.lineno}, column {where.colno} (character {offset})"
