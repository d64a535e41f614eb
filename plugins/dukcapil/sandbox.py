"""Sandbox of Dukcapil's partner web service, speaking its wire format over synthetic residents.

It follows the wire format in ``docs/agencies/dukcapil.md``: ``POST /dukcapil/get_json/<seg1>[/<seg2>]/<SERVICE>``
with a JSON body, and every agency answer, refusals included, is HTTP 200 in a Spring-Data page.
What the public material does not settle is marked ``[I]`` (our inference) where it is decided.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub import WIB
from plugins._synthetic.residents import DEFAULT_SEED, Resident, by_kk, by_nik

__all__ = [
    "IP_NOT_REGISTERED",
    "LOGIN_FAILED",
    "NOT_FOUND",
    "QUOTA_EXHAUSTED",
    "SandboxConfig",
    "create_app",
]

LOGIN_FAILED = "Login Gagal"
IP_NOT_REGISTERED = "IP Client Tidak Terdaftar"
QUOTA_EXHAUSTED = "Kuota Akses Hari ini telah Habis"
NOT_FOUND = "Data Tidak Ditemukan"

DEFAULT_TRESHOLD = 90

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Fake partner credentials the sandbox accepts; none of them is a real secret."""

    user_id: str = "mpp-sandbox"
    password: str = "sandbox-password-not-a-secret"
    ip_user: str = "127.0.0.1"
    partner_segment: str = "MPP-TEGAL"
    daily_quota: int | None = None
    seed: int = DEFAULT_SEED


@dataclass(slots=True)
class _Counters:
    requests: int = 0
    quota_day: dt.date | None = None
    quota_used: int = 0


def _page(content: list[Record]) -> JSONResponse:
    count = len(content)
    return JSONResponse(
        {
            "content": content,
            "lastPage": True,
            "numberOfElements": count,
            "sort": None,
            "totalElements": count,
            "firstPage": True,
            "number": 0,
            "size": count,
        }
    )


def _refusal(message: str) -> JSONResponse:
    return _page([{"RESPON": message}])


def _text(value: object) -> str:
    """A request value as text; clients send numbers for NIK, RT and the like as often as strings."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, str | int):
        return str(value).strip()
    return ""


def _normalised(value: object) -> str:
    return " ".join(_text(value).upper().split())


# --- CALL_NIK ------------------------------------------------------------------------------------


def _number(digits: str | None) -> int | None:
    return int(digits) if digits else None


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _nik_record(resident: Resident) -> Record:
    # Unknown values (no certificate, no hamlet, no parent on file) are null, not "": a guess [I],
    # since the public replies show the keys but not what an empty value looks like.
    return {
        "NIK": int(resident.nik),
        "NAMA_LGKP": resident.full_name,
        "JENIS_KLMIN": resident.sex,
        "TMPT_LHR": resident.birth_place,
        "TGL_LHR": resident.birth_date.isoformat(),
        "NO_AKTA_LHR": resident.birth_cert_no,
        "GOL_DARAH": resident.blood_type,
        "AGAMA": resident.religion,
        "STATUS_KAWIN": resident.marital_status,
        "TGL_KWN": _iso(resident.marriage_date),
        "NO_AKTA_KWN": resident.marriage_cert_no,
        "TGL_CRAI": _iso(resident.divorce_date),
        "NO_AKTA_CRAI": resident.divorce_cert_no,
        "PDDK_AKH": resident.education,
        "JENIS_PKRJN": resident.occupation,
        "STAT_HBKEL": resident.family_relation,
        "NO_KK": int(resident.kk),
        "ALAMAT": resident.street,
        "DUSUN": resident.dusun,
        "NO_RT": resident.rt,
        "NO_RW": resident.rw,
        "NO_KEL": resident.village_code,
        "NO_KEC": resident.district_code,
        "NO_KAB": resident.regency_code,
        "NO_PROP": resident.province_code,
        "KEL_NAME": resident.village_name,
        "KEC_NAME": resident.district_name,
        "KAB_NAME": resident.regency_name,
        "PROP_NAME": resident.province_name,
        "NIK_AYAH": _number(resident.father_nik),
        "NAMA_LGKP_AYAH": resident.father_name,
        "NIK_IBU": _number(resident.mother_nik),
        "NAMA_LGKP_IBU": resident.mother_name,
    }


# --- CALL_KK -------------------------------------------------------------------------------------

#: Every synthetic resident is an Indonesian citizen; the key and its values are a guess [I] (SIAK's own tables
#: call the column KWRNGRN, and the family card prints WNI or WNA).
_CITIZEN = "WNI"


def _family_records(members: tuple[Resident, ...]) -> list[Record]:
    # One CALL_NIK record per member, in the card's order (head first), plus the citizenship the card prints.
    return [{**_nik_record(member), "KWRNGRN": _CITIZEN} for member in members]


# --- CALL_VERIFY_BY_ELEMEN -----------------------------------------------------------------------

_FUZZY: dict[str, Callable[[Resident], str]] = {
    "NAMA_LGKP": lambda r: r.full_name,
    "TMPT_LHR": lambda r: r.birth_place,
    "ALAMAT": lambda r: r.street,
}
_NUMERIC: dict[str, Callable[[Resident], int]] = {
    "NO_KK": lambda r: int(r.kk),
    "NO_RT": lambda r: r.rt,
    "NO_RW": lambda r: r.rw,
    "NO_PROP": lambda r: r.province_code,
    "NO_KAB": lambda r: r.regency_code,
    "NO_KEC": lambda r: r.district_code,
    "NO_KEL": lambda r: r.village_code,
}
_EXACT_TEXT: dict[str, Callable[[Resident], str]] = {
    "JENIS_KLMIN": lambda r: r.sex,
    "JENIS_PKRJN": lambda r: r.occupation,
    "PROP_NAME": lambda r: r.province_name,
    "KAB_NAME": lambda r: r.regency_name,
    "KEC_NAME": lambda r: r.district_name,
    "KEL_NAME": lambda r: r.village_name,
}
_ELEMENTS = (
    "NO_KK", "NAMA_LGKP", "TMPT_LHR", "TGL_LHR", "JENIS_KLMIN", "JENIS_PKRJN", "ALAMAT", "NO_RT",
    "NO_RW", "NO_PROP", "NO_KAB", "NO_KEC", "NO_KEL", "PROP_NAME", "KAB_NAME", "KEC_NAME", "KEL_NAME",
)  # fmt: skip

MATCH = "Sesuai"
NO_MATCH = "Tidak Sesuai"


def _verdict(matched: bool, score: int | None = None) -> str:
    word = MATCH if matched else NO_MATCH
    return word if score is None else f"{word} ({score})"


def _similarity(claimed: object, actual: str) -> int:
    return round(100 * difflib.SequenceMatcher(None, _normalised(claimed), _normalised(actual)).ratio())


def _as_int(value: object) -> int | None:
    text = _text(value)
    return int(text) if text.isascii() and text.isdigit() else None


def _birth_date_matches(claimed: object, actual: dt.date) -> bool:
    # The agency takes DD-MM-YYYY here (unlike TGL_LHR in CALL_NIK replies); other shapes never match.
    try:
        return dt.datetime.strptime(_text(claimed), "%d-%m-%Y").date() == actual
    except ValueError:
        return False


def _check(element: str, claimed: object, resident: Resident, treshold: int) -> str:
    if element in _FUZZY:
        score = _similarity(claimed, _FUZZY[element](resident))
        return _verdict(score >= treshold, score)
    if element in _NUMERIC:
        return _verdict(_as_int(claimed) == _NUMERIC[element](resident))
    if element == "TGL_LHR":
        return _verdict(_birth_date_matches(claimed, resident.birth_date))
    return _verdict(_normalised(claimed) == _normalised(_EXACT_TEXT[element](resident)))


def _treshold(body: Mapping[str, object]) -> int | None:
    """The requested threshold, ``DEFAULT_TRESHOLD`` when absent, ``None`` when unusable."""
    raw = body.get("TRESHOLD")
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_TRESHOLD
    value = _as_int(raw)
    return value if value is not None and 0 <= value <= 100 else None


def _verify_failure(code: str, message: str, nik: str) -> JSONResponse:
    # The codes seen in the wild (08, 11-15) come without meanings; 13 and 15 are our assignment [I].
    return _page([{"RESPONSE_CODE": code, "RESPONSE": message, "NIK": nik}])


def _verify(body: Mapping[str, object], population: Mapping[str, Resident]) -> JSONResponse:
    treshold = _treshold(body)
    nik = _text(body.get("NIK"))
    if treshold is None:
        return _verify_failure("15", "Treshold tidak valid", nik)
    resident = population.get(nik)
    if resident is None:
        return _verify_failure("13", "NIK tidak ditemukan", nik)
    record: Record = {"NIK": MATCH}
    for element in _ELEMENTS:
        # Clients send " " for elements they do not want checked, so blank counts as not submitted [I].
        if _text(body.get(element)):
            record[element] = _check(element, body[element], resident, treshold)
    return _page([record])


# --- the server ----------------------------------------------------------------------------------


class _Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.counters = _Counters()
        self.population = by_nik(config.seed)
        self.families = by_kk(config.seed)

    def _quota_left(self) -> bool:
        today = dt.datetime.now(WIB).date()  # quotas roll over at midnight in Jakarta, where the agency runs
        if self.counters.quota_day != today:
            self.counters.quota_day, self.counters.quota_used = today, 0
        quota = self.config.daily_quota
        if quota is not None and self.counters.quota_used >= quota:
            return False
        self.counters.quota_used += 1
        return True

    def refusal(self, segment: str, body: Mapping[str, object]) -> str | None:
        """The agency's refusal text, in the order it checks: login, client IP, then daily quota."""
        config = self.config
        login_ok = (
            segment == config.partner_segment
            and secrets.compare_digest(_text(body.get("USER_ID")).encode(), config.user_id.encode())
            and secrets.compare_digest(_text(body.get("PASSWORD")).encode(), config.password.encode())
        )
        if not login_ok:
            return LOGIN_FAILED
        if _text(body.get("IP_USER", body.get("IP_ADDRESS"))) != config.ip_user:
            return IP_NOT_REGISTERED
        return None if self._quota_left() else QUOTA_EXHAUSTED

    def call_nik(self, body: Mapping[str, object]) -> JSONResponse:
        resident = self.population.get(_text(body.get("NIK")))
        return _refusal(NOT_FOUND) if resident is None else _page([_nik_record(resident)])

    def call_kk(self, body: Mapping[str, object]) -> JSONResponse:
        members = self.families.get(_text(body.get("NO_KK")))
        return _refusal(NOT_FOUND) if members is None else _page(_family_records(members))

    def verify(self, body: Mapping[str, object]) -> JSONResponse:
        return _verify(body, self.population)

    def service(self, name: str) -> Callable[[Mapping[str, object]], JSONResponse] | None:
        """The handler of a service; sites spell the names in either case (``call_nik``)."""
        services = {"CALL_NIK": self.call_nik, "CALL_KK": self.call_kk, "CALL_VERIFY_BY_ELEMEN": self.verify}
        return services.get(name.upper())


async def _json_body(request: Request) -> dict[str, object] | None:
    """The body as a dict with upper-cased keys (sites vary the case), or None when it is not an object."""
    try:
        data = json.loads(await request.body())
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return {str(key).upper(): value for key, value in data.items()}


def _sandbox(request: Request) -> _Sandbox:
    sandbox = request.app.state.sandbox
    assert isinstance(sandbox, _Sandbox)
    return sandbox


async def _agency(request: Request) -> JSONResponse:
    sandbox = _sandbox(request)
    sandbox.counters.requests += 1
    service = sandbox.service(request.path_params["service"])
    if service is None:
        return JSONResponse({"error": "unknown service", "service": request.path_params["service"]}, 404)
    body = await _json_body(request)
    if body is None:
        # How the agency answers a body that is not a JSON object is unknown; a plain 400 is our guess [I].
        return JSONResponse({"error": "request body must be a JSON object"}, 400)
    refusal = sandbox.refusal(request.path_params["seg1"], body)
    return _refusal(refusal) if refusal else service(body)


async def _stats(request: Request) -> JSONResponse:
    return JSONResponse({"requests": _sandbox(request).counters.requests})


async def _reset(request: Request) -> JSONResponse:
    sandbox = _sandbox(request)
    sandbox.counters = _Counters()
    return JSONResponse({"requests": sandbox.counters.requests})


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox as an ASGI app; ``GET /_sandbox/stats`` and ``POST /_sandbox/reset`` serve tests."""
    app = Starlette(
        routes=[
            Route("/dukcapil/get_json/{seg1}/{service}", _agency, methods=["POST"]),
            Route("/dukcapil/get_json/{seg1}/{seg2}/{service}", _agency, methods=["POST"]),
            Route("/_sandbox/stats", _stats, methods=["GET"]),
            Route("/_sandbox/reset", _reset, methods=["POST"]),
        ]
    )
    app.state.sandbox = _Sandbox(config or SandboxConfig())
    return app
