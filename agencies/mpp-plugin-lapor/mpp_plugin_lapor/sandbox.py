"""Sandbox of SP4N-LAPOR!'s integration API: its wire format as far as public material shows it, over a book of
synthetic complaints.

- ``POST /api/stream/addstream``: a complaint, JSON with ``token``, ``referensi``, ``pelapor`` and ``laporan``;
  200 with ``trackingid`` and ``transaksiid``. The same ``referensi`` again answers the complaint already held
  (``duplikat: true``) and never makes a second one. A wrong token is 401, a malformed complaint 400 naming the
  field (guesses, like the JSON itself; see the README).
- ``POST /api/stream/getstream``: a complaint's status by ``trackingid``; 404 for one LAPOR! does not hold.
- ``POST /api/services/f01/gettopics``: the topic list, the token as ``KEYTOKEN`` (the health probe).

For tests and demos (behind the sandbox admin token when ``mpp-hub up`` runs it, like every ``/_sandbox/`` route):
``POST /_sandbox/advance`` moves a complaint on (verified, followed up, closed, archived), at a time given or now;
``POST /_sandbox/lose-answers`` makes the next filings be kept and then answered 503, as a reply lost on the way;
``GET /_sandbox/stats`` and ``POST /_sandbox/reset``. An outage is the fault injector's
(``PUT /_sandbox/faults`` ``{"outage": true}``), as for every sandbox.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from hub import utcnow
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mpp_plugin_lapor import _wire
from mpp_plugin_lapor._book import TOPICS, Book
from mpp_plugin_lapor.contract import ComplaintState

__all__ = ["SANDBOX_TOKEN", "create_app", "samples"]

#: The token the sandbox accepts: obviously fake, never a real secret.
SANDBOX_TOKEN = "sandbox-lapor-token-not-a-secret"
_TOPIC_IDS = frozenset(topic["id"] for topic in TOPICS)
_MIN_TEXT = 20  # LAPOR! asks for a description it can act on (guess at the number)


class _Refused(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"success": False, "message": self.message}
        if self.field:
            body["field"] = self.field
        return JSONResponse(body, self.status)


def _book(request: Request) -> Book:
    book: Book = request.app.state.book
    return book


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _Refused(400, "Format permintaan tidak valid: kirim JSON")
    return body


def _authorised(body: dict[str, Any], field: str = "token") -> None:
    token = body.get(field)
    if not isinstance(token, str) or not secrets.compare_digest(token.encode(), SANDBOX_TOKEN.encode()):
        raise _Refused(401, "Token tidak valid")


def _checked_filing(body: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
    reference, laporan, pelapor = body.get("referensi"), body.get("laporan"), body.get("pelapor")
    if not isinstance(reference, str) or not reference.strip():
        raise _Refused(400, "Referensi wajib diisi", "referensi")
    if not isinstance(laporan, dict):
        raise _Refused(400, "Laporan wajib diisi", "laporan")
    if not isinstance(laporan.get("judul"), str) or not laporan["judul"].strip():
        raise _Refused(400, "Judul laporan wajib diisi", "judul")
    if not isinstance(laporan.get("isi"), str) or len(laporan["isi"].strip()) < _MIN_TEXT:
        raise _Refused(400, f"Isi laporan minimal {_MIN_TEXT} karakter", "isi")
    if laporan.get("kategori") not in _TOPIC_IDS:
        raise _Refused(400, "Kategori tidak dikenal", "kategori")
    if pelapor is None and laporan.get("anonim") != 1:
        raise _Refused(400, "Data pelapor wajib diisi untuk laporan tidak anonim", "pelapor")
    if pelapor is not None and (not isinstance(pelapor, dict) or not pelapor.get("namadepan")):
        raise _Refused(400, "Nama pelapor wajib diisi", "namadepan")
    return reference.strip(), laporan, pelapor


async def _file(request: Request) -> JSONResponse:
    book = _book(request)
    try:
        body = await _body(request)
        _authorised(body)
        book.filings += 1
        reference, laporan, pelapor = _checked_filing(body)
    except _Refused as refused:
        return refused.response()
    duplicate = reference in book.by_reference
    complaint = book.file(reference, laporan, pelapor)
    if book.lose_answers > 0:
        book.lose_answers -= 1  # kept, and the answer never reaches the caller
        return JSONResponse({"success": False, "message": "Service Unavailable"}, 503)
    return JSONResponse(
        {
            "success": True, "message": "Laporan berhasil disimpan", "trackingid": complaint.tracking_id,
            "transaksiid": complaint.transaction_id, "status": _wire.WIRE_STATES[complaint.status],
            "tanggal_lapor": _wire.format_time(complaint.received_at), "duplikat": duplicate,
        }
    )  # fmt: skip


async def _status(request: Request) -> JSONResponse:
    try:
        body = await _body(request)
        _authorised(body)
    except _Refused as refused:
        return refused.response()
    complaint = _book(request).complaints.get(str(body.get("trackingid", "")))
    if complaint is None:
        return _Refused(404, "Laporan tidak ditemukan").response()
    return JSONResponse(complaint.wire())


async def _topics(request: Request) -> JSONResponse:
    try:
        _authorised(await _body(request), "KEYTOKEN")
    except _Refused as refused:
        return refused.response()
    return JSONResponse(list(TOPICS))


async def _advance(request: Request) -> JSONResponse:
    """``POST /_sandbox/advance`` ``{"trackingid", "to": "verified"|..., "at": "YYYY-MM-DD HH:MM:SS", "instansi"}``."""
    book = _book(request)
    try:
        body = await _body(request)
        complaint = book.complaints.get(str(body.get("trackingid", "")))
        if complaint is None:
            raise _Refused(404, "Laporan tidak ditemukan")
        to = ComplaintState(str(body.get("to")))
        at = _wire.parse_time(body.get("at")) or utcnow()
    except ValueError:
        return _Refused(400, "to must be a complaint state, at a time as YYYY-MM-DD HH:MM:SS").response()
    except _Refused as refused:
        return refused.response()
    book.move(complaint, to, at, body.get("instansi"))
    return JSONResponse(complaint.wire())


async def _lose_answers(request: Request) -> JSONResponse:
    """``POST /_sandbox/lose-answers`` ``{"count": n}``: the next n filings are kept, then answered 503."""
    try:
        count = (await _body(request)).get("count", 1)
    except _Refused as refused:
        return refused.response()
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 10:
        return _Refused(400, "count must be 0 to 10", "count").response()
    _book(request).lose_answers = count
    return await _stats(request)


async def _stats(request: Request) -> JSONResponse:
    return JSONResponse(_book(request).stats())


async def _reset(request: Request) -> JSONResponse:
    request.app.state.book = Book()
    return await _stats(request)


def create_app() -> Starlette:
    app = Starlette(
        routes=[
            Route(_wire.FILE_PATH, _file, methods=["POST"]),
            Route(_wire.STATUS_PATH, _status, methods=["POST"]),
            Route(_wire.TOPICS_PATH, _topics, methods=["POST"]),
            Route("/_sandbox/advance", _advance, methods=["POST"]),
            Route("/_sandbox/lose-answers", _lose_answers, methods=["POST"]),
            Route("/_sandbox/stats", _stats, methods=["GET"]),
            Route("/_sandbox/reset", _reset, methods=["POST"]),
        ]
    )
    app.state.book = Book()
    return app


def samples() -> dict[str, list[str]]:
    """The tracking ids of the seeded complaints (unverified, verified, followed up, closed) and the topic ids."""
    book = Book()
    return {"tracking_id": list(book.complaints), "category": sorted(_TOPIC_IDS, key=int)}
