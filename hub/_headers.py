"""Checks of caller-supplied HTTP headers the hub stores or echoes: ``X-Correlation-Id`` and ``X-Purpose``.

Both end up in logs, audit records and answers, so a malformed value is refused rather than kept: it may
hold control characters (an ESC starts a terminal escape in whoever tails the log) or personal data a
caller pasted by mistake. A refusal never repeats the value; it says what a valid one looks like.
"""

from __future__ import annotations

import re
import uuid

from starlette.requests import Request

from contracts import ErrorCode, HubError

__all__ = [
    "CORRELATION_ID_MAX",
    "PURPOSE_MAX",
    "client_address",
    "correlation_id",
    "purpose",
    "refuse_bad_headers",
    "request_correlation_id",
]

#: Longest correlation id kept: room for a UUID, a ULID or a W3C trace id with a prefix.
CORRELATION_ID_MAX = 64
#: Longest purpose code: the hub's codes (``layanan-kependudukan``) are well under it.
PURPOSE_MAX = 48

# Explicit ASCII classes: \w would let through letters of any script, and fullmatch (not $) keeps a
# trailing newline out.
_CORRELATION_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{CORRELATION_ID_MAX}}}")
_PURPOSE = re.compile(rf"[a-z0-9-]{{1,{PURPOSE_MAX}}}")

_BAD_CORRELATION_ID = (
    f"The X-Correlation-Id header must be 1 to {CORRELATION_ID_MAX} characters, each an ASCII letter, a digit, "
    "or one of . _ : - (a UUID fits); send a valid one, or leave the header out and the hub makes one"
)
_BAD_PURPOSE = (
    f"The X-Purpose header must be one of the hub's purpose codes: 1 to {PURPOSE_MAX} characters of lowercase "
    "letters, digits and '-', such as layanan-kependudukan"
)


def correlation_id(value: str | None) -> str | None:
    """The caller's correlation id if well formed, None if not given; anything else is invalid_input."""
    return _checked(value, _CORRELATION_ID, _BAD_CORRELATION_ID)


def purpose(value: str | None) -> str | None:
    """The caller's purpose code if well formed, None if not given; whether it is a known one is checked elsewhere."""
    return _checked(value, _PURPOSE, _BAD_PURPOSE)


def _checked(value: str | None, rule: re.Pattern[str], message: str) -> str | None:
    if not value:
        return None
    if rule.fullmatch(value) is None:
        raise HubError.of(ErrorCode.INVALID_INPUT, message)
    return value


def client_address(request: Request) -> str:
    """The caller's address as the edge counts failed authentications by it."""
    return request.client.host if request.client else "unknown"


def request_correlation_id(request: Request) -> str:
    """The request's X-Correlation-Id if it is valid, else one made up for it; the same wherever it is asked.

    Never raises, so error handlers can use it; a malformed header is kept aside for :func:`refuse_bad_headers`.
    """
    state = request.state
    if not hasattr(state, "correlation_id"):
        try:
            given = correlation_id(request.headers.get("x-correlation-id"))
        except HubError as exc:
            given, state.bad_header = None, exc
        state.correlation_id = given or uuid.uuid4().hex
    cid: str = state.correlation_id
    return cid


def refuse_bad_headers(request: Request) -> None:
    """Raise the refusal of a malformed X-Correlation-Id or X-Purpose, if the request has one."""
    request_correlation_id(request)
    if (bad := getattr(request.state, "bad_header", None)) is not None:
        raise bad
    purpose(request.headers.get("x-purpose"))
