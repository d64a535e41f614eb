"""Sandbox of OSS-RBA's API for K/L/D systems (PIA 4.3.22), in its wire format, over synthetic businesses.

Under ``/v1/kl/rba`` (the production path's prefix), as the real system does:

- ``POST inqueryNIB`` with ``{"INQUERYNIB": {"nib": "..."}}`` or ``{"INQUERYNIB": {"npwp": "..."}}`` answers
  ``{"responinqueryNIB": {"kode": 200, "keterangan": "Sukses", "dataNIB": {...}}}``;
- ``POST checkNIB`` with ``{"CHECKNIB": {"nib": "..."}}`` answers ``{"responcheckNIB": {..., "dataNIB":
  {"nib", "nama_perusahaan", "status"}}}``;
- an NIB (or NPWP) it does not have is ``kode`` 400 ``"Data NIB tidak ditemukan"``, a malformed request
  ``kode`` 400 ``"Data Parameter Salah"``, each with HTTP 400 (guess: the PIA gives the codes, not the status);
- the API gateway in front refuses a missing ``user_key`` with 401 and a wrong one with 403, in plain text
  (guess: 3scale APIcast's defaults, the gateway ``user_key`` is named after);
- behind it, wrong HTTP Basic credentials are ``kode`` 401 ``"User Akses Tidak Valid"`` with HTTP 401.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route

from mpp_plugin_oss import _data
from mpp_plugin_oss._wire import CHECK_NIB, CODES, INQUERY_NIB, NIB_NOT_FOUND, Method

__all__ = [
    "PREFIX",
    "SANDBOX_PASSWORD",
    "SANDBOX_USERNAME",
    "SANDBOX_USER_KEY",
    "create_app",
    "sample_nibs",
    "sample_owner_niks",
]

#: The credentials the sandbox accepts: obviously fake, never real secrets.
SANDBOX_USER_KEY = "sandbox-user-key-not-a-secret"
SANDBOX_USERNAME = "sandbox-kl"
SANDBOX_PASSWORD = "sandbox-password-not-a-secret"
#: Where the methods live, as in https://api-prd.oss.go.id/v1/kl/rba/<method>.
PREFIX = "/v1/kl/rba"

_BY_NIB: Mapping[str, dict[str, Any]] = {record["nib"]: record for record in _data.BUSINESSES}
_BY_NPWP: Mapping[str, dict[str, Any]] = {record["npwp_perseroan"]: record for record in _data.BUSINESSES}
_EMPTY_CHECK = {"nib": "", "nama_perusahaan": "", "status": ""}


def sample_nibs() -> list[str]:
    """NIBs the sandbox knows, for `mpp-hub sandbox sample` and the tests."""
    return sorted(_BY_NIB)


def sample_owner_niks() -> list[str]:
    """NIKs of sole proprietors whose NPWP is their NIK, so a look-up by the owner's NIK finds their NIB."""
    return sorted(r["npwp_perseroan"] for r in _data.BUSINESSES if r["jenis_pelaku_usaha"] == "02")


def _answer(method: Method, kode: int, data: Any, *, keterangan: str | None = None) -> JSONResponse:
    body = {"kode": kode, "keterangan": keterangan or CODES[kode], "dataNIB": data}
    return JSONResponse({method.response_key: body}, status_code=kode)


def _same(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode(), expected.encode())


def _basic_ok(header: str) -> bool:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return _same(user, SANDBOX_USERNAME) & _same(password, SANDBOX_PASSWORD)


def _refusal(request: Request, method: Method) -> Response | None:
    """The gateway's refusal of the user_key, then OSS's of the Basic credentials; None when both pass."""
    user_key = request.headers.get("user_key")
    if not user_key:
        return PlainTextResponse("Authentication parameters missing", status_code=401)
    if not _same(user_key, SANDBOX_USER_KEY):
        return PlainTextResponse("Authentication failed", status_code=403)
    if not _basic_ok(request.headers.get("authorization", "")):
        return _answer(method, 401, [])
    return None


async def _fields(request: Request, method: Method) -> dict[str, Any] | None:
    """The request's ``{"<METHOD>": {...}}`` fields, or None when the body is not that shape."""
    try:
        body = await request.json()
    except ValueError:
        return None
    fields = body.get(method.request_key) if isinstance(body, dict) else None
    return fields if isinstance(fields, dict) else None


def _digits(value: Any, length: int) -> str | None:
    return value if isinstance(value, str) and len(value) == length and value.isdigit() else None


async def _inquery_nib(request: Request) -> Response:
    if (refused := _refusal(request, INQUERY_NIB)) is not None:
        return refused
    fields = await _fields(request, INQUERY_NIB)
    nib, npwp = (_digits(fields.get("nib"), 13), _digits(fields.get("npwp"), 16)) if fields else (None, None)
    if nib is None and npwp is None:
        return _answer(INQUERY_NIB, 400, [])
    record = _BY_NIB.get(nib) if nib is not None else _BY_NPWP.get(npwp or "")
    if record is None:
        return _answer(INQUERY_NIB, 400, [], keterangan=NIB_NOT_FOUND)
    return _answer(INQUERY_NIB, 200, record)


async def _check_nib(request: Request) -> Response:
    if (refused := _refusal(request, CHECK_NIB)) is not None:
        return refused
    fields = await _fields(request, CHECK_NIB)
    nib = _digits(fields.get("nib"), 13) if fields else None
    if nib is None:
        return _answer(CHECK_NIB, 400, _EMPTY_CHECK)
    record = _BY_NIB.get(nib)
    if record is None:
        return _answer(CHECK_NIB, 400, _EMPTY_CHECK, keterangan=NIB_NOT_FOUND)
    found = {"nib": nib, "nama_perusahaan": record["nama_perseroan"], "status": record["status_nib"]}
    return _answer(CHECK_NIB, 200, found)


def _route(method: Method, endpoint: Callable[[Request], Any]) -> Route:
    return Route(f"/{method.path}", endpoint, methods=["POST"])


def create_app() -> Starlette:
    return Starlette(routes=[Mount(PREFIX, routes=[_route(INQUERY_NIB, _inquery_nib), _route(CHECK_NIB, _check_nib)])])
