"""Sandbox of BPJS Kesehatan's VClaim participant lookup, speaking its wire format over synthetic participants.

It follows the wire format in ``docs/agencies/bpjs.md``: ``GET {base}/Peserta/nokartu/{noKartu}/tglSEP/{date}`` and
``GET {base}/Peserta/nik/{nik}/tglSEP/{date}``, signed headers on every call, a ``metaData`` envelope, and
successful answers encrypted with a key bound to the caller's ``X-timestamp``. What the public material does
not settle is marked ``[I]`` (our inference) where it is decided.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from plugins._synthetic.residents import DEFAULT_SEED
from plugins.bpjs import _crypto, _data
from plugins.bpjs._data import Participant

__all__ = [
    "BAD_CARD",
    "BAD_DATE",
    "BAD_NIK",
    "BAD_SIGNATURE",
    "BAD_TIMESTAMP",
    "BAD_USER_KEY",
    "CARD_NOT_FOUND",
    "MISSING_HEADER",
    "NIK_NOT_FOUND",
    "UNKNOWN_CONSUMER",
    "SandboxConfig",
    "create_app",
]

# Gateway refusals: HTTP 403 is [U] for bad credentials; the texts, the code "403" in metaData and the
# use of 403 for every header problem are our guess [I].
MISSING_HEADER = "Header {} tidak ditemukan"
UNKNOWN_CONSUMER = "Consumer ID tidak terdaftar"
BAD_TIMESTAMP = "Timestamp tidak valid atau kedaluwarsa"
BAD_SIGNATURE = "Signature tidak sesuai"
BAD_USER_KEY = "User key tidak valid"
# Lookup failures, HTTP 200 with metaData code 201: "No.Kartu Tidak Sesuai" is [U]; the rest are [I].
CARD_NOT_FOUND = "No.Kartu Tidak Sesuai"
NIK_NOT_FOUND = "Data Peserta Tidak Ditemukan"
BAD_CARD = "No.Kartu harus 13 digit"
BAD_NIK = "NIK harus 16 digit"
BAD_DATE = "Format Tanggal SEP salah (yyyy-MM-dd)"

_HEADERS = ("X-cons-id", "X-timestamp", "X-signature", "user_key")
_CLASS_NAMES = {1: "KELAS I", 2: "KELAS II", 3: "KELAS III"}


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Fake consumer credentials the sandbox accepts; none of them is a real secret."""

    cons_id: str = "1234"
    secret: str = "sandbox-secret-not-real"
    user_key: str = "sandbox-user-key-not-real"
    base_path: str = "/vclaim-rest"
    #: Seconds an X-timestamp may differ from the sandbox's clock; the real limit is "a few minutes" [U].
    timestamp_tolerance: float = 300.0
    #: Seconds the sandbox's clock runs ahead of the host's (simulates a hub whose clock drifted).
    clock_skew: float = 0.0
    #: Encrypt answers with this secret instead of ``secret`` (simulates keys that do not match).
    encryption_secret: str | None = None
    seed: int = DEFAULT_SEED


def _envelope(code: str, message: str, response: Any = None, status: int = 200) -> JSONResponse:
    return JSONResponse({"metaData": {"code": code, "message": message}, "response": response}, status)


def _refusal(message: str) -> JSONResponse:
    return _envelope("403", message, status=403)


def _failure(message: str) -> JSONResponse:
    # Every lookup failure seen in public material carries code 201 with HTTP 200.
    return _envelope("201", message)


# --- the participant record ----------------------------------------------------------------------


def _months_after(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _age(born: dt.date, on: dt.date) -> str:
    """Age as VClaim spells it, odd spacing before the commas included: ``35 tahun ,1 bulan ,11 hari``."""
    months = (on.year - born.year) * 12 + on.month - born.month - (on.day < born.day)
    days = (on - _months_after(born, months)).days
    return f"{months // 12} tahun ,{months % 12} bulan ,{days} hari"


def _pair(code: _data.Code) -> dict[str, str]:
    return {"kode": code.kode, "keterangan": code.keterangan}


def _peserta(p: Participant, service_date: dt.date, today: dt.date) -> dict[str, Any]:
    # Nullable sub-objects are sent with null values rather than left out [C shows them present].
    return {
        "cob": {"nmAsuransi": None, "noAsuransi": None, "tglTAT": None, "tglTMT": None},
        "hakKelas": {"keterangan": _CLASS_NAMES[p.care_class], "kode": str(p.care_class)},
        "informasi": {"dinsos": None, "noSKTM": None, "prolanisPRB": None, "eSEP": None},
        "jenisPeserta": _pair(p.segment),
        "mr": {"noMR": None, "noTelepon": p.phone},
        "nama": p.name,
        "nik": p.nik,
        "noKartu": p.card_number,
        "pisa": p.pisa,
        "provUmum": {"kdProvider": p.provider.code, "nmProvider": p.provider.name},
        "sex": "P" if p.female else "L",
        "statusPeserta": _pair(p.status_on(service_date)),
        "tglCetakKartu": p.card_printed.isoformat(),
        "tglLahir": p.birth_date.isoformat(),
        "tglTAT": p.coverage_end.isoformat(),
        "tglTMT": p.coverage_start.isoformat(),
        "umur": {"umurSaatPelayanan": _age(p.birth_date, service_date), "umurSekarang": _age(p.birth_date, today)},
    }


# --- the server ----------------------------------------------------------------------------------


class _Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.requests = 0
        self.by_card = _data.by_card(config.seed)
        self.by_nik = _data.by_nik(config.seed)

    def now(self) -> float:
        return time.time() + self.config.clock_skew

    def refusal(self, headers: Mapping[str, str]) -> str | None:
        """Why the gateway refuses these headers, checked in the order: present, consumer, time, signature, key."""
        config = self.config
        for name in _HEADERS:
            if not headers.get(name, "").strip():
                return MISSING_HEADER.format(name)
        if headers["X-cons-id"] != config.cons_id:
            return UNKNOWN_CONSUMER
        timestamp = headers["X-timestamp"]
        if not timestamp.isdigit() or abs(self.now() - int(timestamp)) > config.timestamp_tolerance:
            return BAD_TIMESTAMP
        expected = _crypto.signature(config.cons_id, config.secret, timestamp)
        if not secrets.compare_digest(headers["X-signature"].encode(), expected.encode()):
            return BAD_SIGNATURE
        if not secrets.compare_digest(headers["user_key"].encode(), config.user_key.encode()):
            return BAD_USER_KEY
        return None

    def answer(self, participant: Participant, service_date: dt.date, timestamp: str) -> JSONResponse:
        config = self.config
        today = dt.datetime.fromtimestamp(self.now(), dt.UTC).date()
        text = json.dumps({"peserta": _peserta(participant, service_date, today)}, ensure_ascii=False)
        key = _crypto.response_key(config.cons_id, config.encryption_secret or config.secret, timestamp)
        return _envelope("200", "OK", _crypto.encrypt_response(text, key))


def _sandbox(request: Request) -> _Sandbox:
    sandbox = request.app.state.sandbox
    assert isinstance(sandbox, _Sandbox)
    return sandbox


def _service_date(text: str) -> dt.date | None:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None


async def _by_card(request: Request) -> JSONResponse:
    return _lookup(request, by_card=True)


async def _by_nik(request: Request) -> JSONResponse:
    return _lookup(request, by_card=False)


def _lookup(request: Request, by_card: bool) -> JSONResponse:
    sandbox = _sandbox(request)
    sandbox.requests += 1
    refusal = sandbox.refusal(request.headers)
    if refusal is not None:
        return _refusal(refusal)
    value = request.path_params["value"]
    service_date = _service_date(request.path_params["date"])
    if service_date is None:
        return _failure(BAD_DATE)
    if by_card:
        if len(value) != 13 or not value.isdigit():
            return _failure(BAD_CARD)
        participant = sandbox.by_card.get(value)
        missing = CARD_NOT_FOUND
    else:
        if len(value) != 16 or not value.isdigit():
            return _failure(BAD_NIK)
        participant = sandbox.by_nik.get(value)
        missing = NIK_NOT_FOUND
    if participant is None:
        return _failure(missing)
    return sandbox.answer(participant, service_date, request.headers["X-timestamp"])


async def _unknown(request: Request) -> JSONResponse:
    _sandbox(request).requests += 1
    # How the gateway answers an unknown resource is not public; a 404 envelope is our guess [I].
    return _envelope("404", "Resource tidak ditemukan", status=404)


async def _stats(request: Request) -> JSONResponse:
    return JSONResponse({"requests": _sandbox(request).requests})


async def _reset(request: Request) -> JSONResponse:
    sandbox = _sandbox(request)
    sandbox.requests = 0
    return JSONResponse({"requests": sandbox.requests})


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox as an ASGI app; ``GET /_sandbox/stats`` and ``POST /_sandbox/reset`` serve tests."""
    config = config or SandboxConfig()
    base = config.base_path.rstrip("/")
    app = Starlette(
        routes=[
            Route(base + "/Peserta/nokartu/{value}/tglSEP/{date}", _by_card, methods=["GET"]),
            Route(base + "/Peserta/nik/{value}/tglSEP/{date}", _by_nik, methods=["GET"]),
            Route("/_sandbox/stats", _stats, methods=["GET"]),
            Route("/_sandbox/reset", _reset, methods=["POST"]),
            Route(base + "/{path:path}", _unknown, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )
    app.state.sandbox = _Sandbox(config)
    return app
