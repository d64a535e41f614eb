"""Sandbox of the PDAM billing API: the same wire format as the real one, over a few synthetic customers.

``POST <service root>/requestTagihanUnlimited`` with the form field ``nosambung`` and the key in the
``Authorization`` header answers HTTP 200 with the envelope ``{"error": false, "message_code": 100, ...}``
and the customer's bill sheets, paid and unpaid; an unknown customer is ``error: true`` with code 102, a
number that is not 10 digits code 400 (guess), and a wrong or missing key HTTP 401 with code 401 (guess).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mpp_plugin_pdam import _data, _wire

__all__ = ["SANDBOX_API_KEY", "SERVICE_PATH", "create_app"]

#: The key the sandbox accepts: obviously fake, never a real secret.
SANDBOX_API_KEY = "sandbox-pdam-key-not-a-secret"
#: The sandbox's service root, the same as the plugin's default.
SERVICE_PATH = "/servicesWithCmp"
# This deployment's customer numbers are 10 digits (guess; the contract takes 6 to 12 for other PDAMs).
_DIGITS = 10


def _envelope(code: int, text: str, *, status: int = 200, **fields: Any) -> JSONResponse:
    return JSONResponse({"error": code != _wire.OK, "message_code": code, "message_text": text, **fields}, status)


def _authorised(request: Request) -> bool:
    return secrets.compare_digest(request.headers.get("authorization", "").encode(), SANDBOX_API_KEY.encode())


async def _number(request: Request) -> str:
    # The body is form-encoded (a Retrofit @FormUrlEncoded call in the public clients).
    fields = parse_qs((await request.body()).decode("latin-1"))
    return (fields.get(_wire.NUMBER_FIELD) or [""])[0].strip()


async def _bill(request: Request) -> JSONResponse:
    if not _authorised(request):
        return _envelope(_wire.UNAUTHORISED, "Unauthorized: API key tidak valid", status=401)
    number = await _number(request)
    if len(number) != _DIGITS or not number.isdigit():
        return _envelope(_wire.BAD_NUMBER, "Nomor sambungan tidak valid")
    customer = _data.CUSTOMERS.get(number)
    if customer is None:
        return _envelope(_wire.NOT_FOUND, "Pelanggan tidak ditemukan")
    return _envelope(_wire.OK, "Data pelanggan ditemukan", **customer)


def create_app() -> Starlette:
    return Starlette(routes=[Route(SERVICE_PATH + _wire.BILL_PATH, _bill, methods=["POST"])])
