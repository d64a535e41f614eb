"""What the board and the citizen page share on the web side: the page under a strict content security policy,
the device login's form reading and its CSRF check, and the per-address limit of the public API.

Like ``/ops``, every page is one file with everything inline and nothing from the network (a mall's hall may
have no internet); a fresh nonce per response keeps injected markup from running scripts or styles.
"""

from __future__ import annotations

import contextlib
import functools
import html
import json
import secrets
from collections.abc import Mapping
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse

from contracts import ErrorCode, HubError
from hub._auth_limit import AuthFailureLimiter
from hub._headers import client_address

__all__ = ["AddressLimit", "csp", "page", "posted_key", "same_origin"]

_MAX_LOGIN_BYTES = 4096
_MINUTE = 60.0


@functools.cache
def _template(name: str) -> str:
    return resources.files("hub").joinpath(f"front/{name}").read_text(encoding="utf-8")


def csp(nonce: str) -> str:
    """The pages' policy: their own inline script and style (by nonce), calls back to the hub only."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self'; "
        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )


def page(name: str, values: Mapping[str, str], *, status: int = 200) -> HTMLResponse:
    """The template ``hub/front/<name>`` with each ``{{key}}`` replaced by its value, HTML-escaped."""
    nonce = secrets.token_urlsafe(16)
    body = _template(name).replace("{{nonce}}", nonce)
    for key, value in values.items():
        body = body.replace("{{" + key + "}}", html.escape(value))
    headers = {
        "Cache-Control": "no-store",
        "Content-Security-Policy": csp(nonce),
        # Not no-referrer: browsers would then send "Origin: null" on the login form, which same_origin refuses.
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
    }
    return HTMLResponse(body, status_code=status, headers=headers)


def same_origin(request: Request) -> bool:
    """A form post from another site (login CSRF) carries its own Origin; clients without one are not browsers."""
    origin = request.headers.get("origin")
    hosts = {request.headers.get("host"), request.headers.get("x-forwarded-host")} - {None}
    return origin is None or urlsplit(origin).netloc in hosts


async def posted_key(request: Request) -> str | None:
    """The ``api_key`` of a login form (or of a JSON body); None when there is none or the body is too big."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_LOGIN_BYTES:
            return None
    if request.headers.get("content-type", "").startswith("application/json"):
        with contextlib.suppress(ValueError, AttributeError):
            key = json.loads(body).get("api_key")
            return key.strip() if isinstance(key, str) else None
        return None
    values = parse_qs(body.decode("utf-8", "replace")).get("api_key", [])
    return values[0].strip() if values else None


class AddressLimit:
    """At most ``per_minute`` requests a minute from one client address (an IPv6 client: its /64), counted in a
    sliding window by the edge's own failed-authentication limiter; over it, ``rate_limited`` with Retry-After.

    Behind a reverse proxy every citizen has the proxy's address: run the edge where it sees theirs."""

    def __init__(self, per_minute: int) -> None:
        self._limiter = AuthFailureLimiter(per_address=per_minute, per_key=1, window=_MINUTE)

    def admit(self, request: Request) -> None:
        address = client_address(request)
        wait = self._limiter.check(address, None)
        if wait is not None:
            raise HubError.of(
                ErrorCode.RATE_LIMITED,
                "Terlalu banyak permintaan dari perangkat ini; tunggu sebentar lalu coba lagi",
                retry_after=wait,
            )
        self._limiter.failed(address, None)  # every request counts: the limiter forgets them after a minute
