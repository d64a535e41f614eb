"""Checks of caller-supplied HTTP headers the hub stores or echoes: ``X-Correlation-Id``, ``X-Purpose``,
``X-Channel``, ``X-Officer`` and ``X-Consent-Ref``.

All end up in logs, audit records and answers, so a malformed value is refused rather than kept: it may
hold control characters (an ESC starts a terminal escape in whoever tails the log) or personal data a
caller pasted by mistake. A refusal never repeats the value; it says what a valid one looks like.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.requests import Request

from contracts import Channel, ErrorCode, HubError

__all__ = [
    "CONSENT_REF_MAX",
    "CORRELATION_ID_MAX",
    "OFFICER_MAX",
    "PURPOSE_MAX",
    "channel",
    "client_address",
    "consent_ref",
    "correlation_id",
    "header_schema",
    "officer",
    "purpose",
    "refuse_bad_headers",
    "request_correlation_id",
]

#: Longest correlation id kept: room for a UUID, a ULID or a W3C trace id with a prefix.
CORRELATION_ID_MAX = 64
#: Longest purpose code: the hub's codes (``layanan-kependudukan``) are well under it.
PURPOSE_MAX = 48
#: Longest officer id: a NIP (18 digits) or a login such as ani.s@desk-3.mpp-tegal fits.
OFFICER_MAX = 64
#: Longest consent reference: a UUID, or a numbered document such as PDP/2026/000123 with a prefix.
CONSENT_REF_MAX = 64

# Explicit ASCII classes: \w would let through letters of any script, and fullmatch (not $) keeps a
# trailing newline out.
_CORRELATION_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{CORRELATION_ID_MAX}}}")
_PURPOSE = re.compile(rf"[a-z0-9-]{{1,{PURPOSE_MAX}}}")
_OFFICER = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._@-]{{0,{OFFICER_MAX - 1}}}")
_CONSENT_REF = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:/-]{{0,{CONSENT_REF_MAX - 1}}}")
_CHANNELS = tuple(c.value for c in Channel)
#: Each header's rule, as OpenAPI publishes it: so a generated client or test sends only what the checks pass.
_RULES: dict[str, tuple[re.Pattern[str], int]] = {
    "X-Correlation-Id": (_CORRELATION_ID, CORRELATION_ID_MAX),
    "X-Purpose": (_PURPOSE, PURPOSE_MAX),
    "X-Officer": (_OFFICER, OFFICER_MAX),
    "X-Consent-Ref": (_CONSENT_REF, CONSENT_REF_MAX),
}

_BAD_CORRELATION_ID = (
    f"The X-Correlation-Id header must be 1 to {CORRELATION_ID_MAX} characters, each an ASCII letter, a digit, "
    "or one of . _ : - (a UUID fits); send a valid one, or leave the header out and the hub makes one"
)
_BAD_PURPOSE = (
    f"The X-Purpose header must be one of the hub's purpose codes: 1 to {PURPOSE_MAX} characters of lowercase "
    "letters, digits and '-', such as layanan-kependudukan"
)
_BAD_CHANNEL = f"The channel (X-Channel) must be one of: {', '.join(_CHANNELS)}"
_BAD_OFFICER = (
    f"The officer (X-Officer) must be the officer's id at the mall: 1 to {OFFICER_MAX} characters, ASCII letters, "
    "digits and . _ @ -, starting with a letter or digit (a NIP or a login such as ani@desk-3)"
)
_BAD_CONSENT_REF = (
    f"The consent reference (X-Consent-Ref) must be 1 to {CONSENT_REF_MAX} characters, ASCII letters, digits and "
    ". _ : / -, starting with a letter or digit (a UUID or a document number such as PDP/2026/000123)"
)


def correlation_id(value: str | None) -> str | None:
    """The caller's correlation id if well formed, None if not given; anything else is invalid_input."""
    return _checked(value, _CORRELATION_ID, _BAD_CORRELATION_ID)


def purpose(value: str | None) -> str | None:
    """The caller's purpose code if well formed, None if not given; whether it is a known one is checked elsewhere."""
    return _checked(value, _PURPOSE, _BAD_PURPOSE)


def channel(value: str | None) -> str | None:
    """The channel the caller states (desk, portal, kiosk, mobile), None if not given; anything else is invalid."""
    if not value:
        return None
    if value not in _CHANNELS:
        raise HubError.of(ErrorCode.INVALID_INPUT, _BAD_CHANNEL)
    return value


def officer(value: str | None) -> str | None:
    """The officer's id if well formed; whether the caller may name officers is the gate's question."""
    return _checked(value, _OFFICER, _BAD_OFFICER)


def consent_ref(value: str | None) -> str | None:
    """The reference of the data subject's consent, if well formed."""
    return _checked(value, _CONSENT_REF, _BAD_CONSENT_REF)


def header_schema(header: str) -> dict[str, Any]:
    """The JSON schema of what the check of ``header`` passes (X-Channel, X-Correlation-Id, ...), for OpenAPI.

    A fresh dict on every call: whoever documents it may add to it. The pattern is the check's own, anchored at
    both ends, since a JSON schema's pattern may match anywhere in the value while the check matches it whole.
    """
    if header == "X-Channel":
        return {"type": "string", "enum": list(_CHANNELS)}
    rule, longest = _RULES[header]
    return {"type": "string", "pattern": f"^(?:{rule.pattern})$", "minLength": 1, "maxLength": longest}


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
    """Raise the refusal of a malformed X-Correlation-Id, X-Purpose, X-Channel, X-Officer or X-Consent-Ref."""
    request_correlation_id(request)
    if (bad := getattr(request.state, "bad_header", None)) is not None:
        raise bad
    headers = request.headers
    purpose(headers.get("x-purpose"))
    channel(headers.get("x-channel"))
    officer(headers.get("x-officer"))
    consent_ref(headers.get("x-consent-ref"))
