"""Sandbox of Samsat Jawa Tengah's partner back end, shaped on the "New Sakpole" app's API.

It follows the wire format in ``docs/agencies/samsat.md``: POST JSON with the plate split into ``na``/``nb``/
``nc``, flat JSON replies with a string ``Status`` (``000`` ok, ``99999`` not found, ``498`` bad token, ``6001``
chassis number missing), integer rupiah amounts and ``DD-MM-YYYY`` dates. Every agency answer, refusals
included, is HTTP 200 [I].

What the public material lacks is ours, tagged [I]:

- partner authentication. The real token algorithm is unpublished. Here ``key`` names the partner,
  ``req`` is the request time ``yyyyMMddHHmmss`` in WIB, and ``token`` is the hex HMAC-SHA256, under the
  partner's secret, of ``key|<signed fields>|req``; ``req`` must be within ``clock_tolerance`` seconds.
  The signed fields are the plate ``na|nb|nc`` (vehicle and tax detail), the ``nik`` (vehicles by owner),
  or ``na|nb|nc|kode_bayar|nobb|jumlah|dt`` (payment).
- two endpoints: vehicles by owner NIK, and posting a payment (after the bank channel's ``accept_payment``:
  the bill code (kode bayar), the bank's reference ``nobb``, the amount and the time), idempotent by ``nobb``.
- ``Status`` codes ``094`` (payment already recorded: ISO 8583's "duplicate transmission"), ``400``,
  ``496``/``497``/``499`` (stale time, unknown key, missing token) and ``6101``-``6104`` (payment refusals).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub import WIB
from plugins._synthetic.residents import DEFAULT_SEED
from plugins.samsat import _data
from plugins.samsat._data import Assessment, VehicleRecord

__all__ = [
    "BAD_REQUEST",
    "BAD_TOKEN",
    "BILL_CODE_STALE",
    "DUPLICATE",
    "KBM_PATH",
    "MISSING_TOKEN",
    "NIK_PATH",
    "NOKA_MISSING",
    "NOT_FOUND",
    "OK",
    "PAID_UP",
    "PAJAK_PATH",
    "PAYMENT_PATH",
    "REFERENCE_REUSED",
    "STALE_TIME",
    "UNKNOWN_KEY",
    "WIB",
    "WRONG_AMOUNT",
    "SandboxConfig",
    "create_app",
    "sign",
]

KBM_PATH = "/info/kendaraan/api/api_req_info_kbm"
PAJAK_PATH = "/info/kendaraan/api/api_req_info_pajak"
NIK_PATH = "/info/kendaraan/api/api_req_kendaraan_nik"  # [I]
PAYMENT_PATH = "/info/kendaraan/api/api_accept_payment"  # [I]

OK = "000"
DUPLICATE = "094"
NOT_FOUND = "99999"
BAD_TOKEN = "498"
NOKA_MISSING = "6001"
BAD_REQUEST = "400"
STALE_TIME = "496"
UNKNOWN_KEY = "497"
MISSING_TOKEN = "499"
REFERENCE_REUSED = "6101"
WRONG_AMOUNT = "6102"
BILL_CODE_STALE = "6103"
PAID_UP = "6104"

_MESSAGES = {
    OK: "Sukses",
    DUPLICATE: "Pembayaran sudah tercatat",
    NOT_FOUND: "Data kendaraan tidak ditemukan",
    BAD_TOKEN: "Token tidak valid",
    NOKA_MISSING: "Silahkan update aplikasi",
    STALE_TIME: "Waktu request di luar toleransi",
    UNKNOWN_KEY: "Key tidak terdaftar",
    MISSING_TOKEN: "Token atau waktu request tidak ada",
    REFERENCE_REUSED: "No. bukti bayar sudah dipakai untuk transaksi lain",
    WRONG_AMOUNT: "Jumlah bayar tidak sesuai tagihan",
    BILL_CODE_STALE: "Kode bayar tidak berlaku",
    PAID_UP: "Pajak kendaraan sudah lunas",
}

_DATE = "%d-%m-%Y"
_STAMP = "%d-%m-%Y %H:%M:%S"
_REQ_TIME = "%Y%m%d%H%M%S"
# Black-on-white plates replaced white-on-black ones from June 2022 [I: the month].
_WHITE_PLATES_FROM = dt.date(2022, 6, 1)

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """A fake partner the sandbox accepts, and the sandbox's "today" (``None``: the real date in WIB)."""

    key_id: str = "MPP-TEGAL-SANDBOX"
    secret: str = "sandbox-secret-not-a-real-one"
    today: dt.date | None = None
    clock_tolerance: float = 300.0
    seed: int = DEFAULT_SEED


def sign(secret: str, key: str, fields: Sequence[str], req: str) -> str:
    """The partner token [I]: hex HMAC-SHA256 of ``key|field|...|req`` under the shared secret."""
    message = "|".join([key, *fields, req]).encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(slots=True)
class _Standing:
    due_date: dt.date
    stnk_date: dt.date


@dataclass(frozen=True, slots=True)
class _Payment:
    plate: str
    bill_code: str
    amount: int
    reply: Record


@dataclass(slots=True)
class _State:
    requests: int = 0
    standings: dict[str, _Standing] = field(default_factory=dict)
    payments: dict[str, _Payment] = field(default_factory=dict)


def _reply(status: str, **fields: Any) -> JSONResponse:
    return JSONResponse({"Status": status, "Msg": _MESSAGES.get(status, "Parameter tidak valid"), **fields})


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _plate(body: Mapping[str, object]) -> str:
    parts = (_text(body.get(k)).upper() for k in ("na", "nb", "nc"))
    return " ".join(p for p in parts if p)


def _plate_fields(body: Mapping[str, object]) -> list[str]:
    return [_text(body.get(k)).upper() for k in ("na", "nb", "nc")]


def _bill_code(plate: str, assessment: Assessment) -> str:
    # Kode bayar [I]: 16 digits that change whenever the bill does (a payment, a new penalty month).
    digest = hashlib.sha256(f"{plate}|{assessment.due_date}|{assessment.total}".encode()).hexdigest()
    return f"33{int(digest, 16) % 10**14:014d}"


class _Sandbox:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.vehicles = _data.by_plate(config.seed)
        self.owned = _data.by_owner(config.seed)
        # Due dates are laid out around the day the sandbox starts, so it always holds every standing.
        self.anchor = self.today()
        self.state = _State()

    def today(self) -> dt.date:
        return self.config.today or dt.datetime.now(WIB).date()

    def now(self) -> dt.datetime:
        clock = dt.datetime.now(WIB).replace(microsecond=0)
        return clock if self.config.today is None else dt.datetime.combine(self.config.today, clock.timetz())

    # --- authentication [I] ---

    def refusal(self, body: Mapping[str, object], signed: Sequence[str]) -> str | None:
        """The Status refusing the partner, checked in order: token present, key known, token right, time."""
        token, req, key = _text(body.get("token")), _text(body.get("req")), _text(body.get("key"))
        if not token or not req:
            return MISSING_TOKEN
        if not hmac.compare_digest(key.encode(), self.config.key_id.encode()):
            return UNKNOWN_KEY
        if not hmac.compare_digest(token.lower().encode(), sign(self.config.secret, key, signed, req).encode()):
            return BAD_TOKEN
        try:
            sent = dt.datetime.strptime(req, _REQ_TIME).replace(tzinfo=WIB)
        except ValueError:
            return STALE_TIME
        skew = abs((dt.datetime.now(WIB) - sent).total_seconds())
        return STALE_TIME if skew > self.config.clock_tolerance else None

    # --- the ledger ---

    def standing(self, vehicle: VehicleRecord) -> _Standing:
        standing = self.state.standings.get(vehicle.plate)
        if standing is None:
            standing = _Standing(
                _data.first_due_date(vehicle, self.anchor), _data.first_stnk_date(vehicle, self.anchor)
            )
            self.state.standings[vehicle.plate] = standing
        return standing

    def assess(self, vehicle: VehicleRecord) -> Assessment:
        standing = self.standing(vehicle)
        return _data.assess(vehicle, standing.due_date, standing.stnk_date, self.today())

    # --- records ---

    def vehicle_record(self, vehicle: VehicleRecord) -> Record:
        assessment, standing = self.assess(vehicle), self.standing(vehicle)
        na, nb, nc = vehicle.plate_parts
        model = vehicle.model
        plate_issued = _data.add_years(standing.stnk_date, -5)
        return {
            "na": na,
            "nb": nb,
            "nc": nc,
            "merek": model.brand,
            "tipe": model.name,
            "model": model.kind,
            "WarnaKB": vehicle.colour,
            "warna_tnkb": "PUTIH" if plate_issued >= _WHITE_PLATES_FROM else "HITAM",
            "thn_buat": str(vehicle.year_made),
            "bbm": model.fuel,
            "cylinder": str(model.cc),
            # The app must get the chassis number somewhere before it asks for the tax detail [I].
            "noka": vehicle.chassis,
            "tgl_jatuh_tempo": standing.due_date.strftime(_DATE),
            "tgl_stnk": standing.stnk_date.strftime(_DATE),
            "status_pajak": "LUNAS" if assessment.paid_up else "BELUM LUNAS",
            "lokasi_samsat": vehicle.samsat_office,
            # Here the PKB lines hold the provincial share and the opsen together [I].
            "pkb_pokok": assessment.total_of("pkb") + assessment.total_of("opsen"),
            "pkb_denda": assessment.total_of("pkb_penalty") + assessment.total_of("opsen_penalty"),
            "jr_pokok": assessment.total_of("swdkllj"),
            "jr_denda": assessment.total_of("swdkllj_penalty"),
            "total": assessment.total,
        }

    def tax_record(self, vehicle: VehicleRecord) -> Record:
        assessment = self.assess(vehicle)
        na, nb, nc = vehicle.plate_parts
        pkb = assessment.total_of("pkb") + assessment.total_of("opsen")
        pkb_penalty = assessment.total_of("pkb_penalty") + assessment.total_of("opsen_penalty")
        jr = assessment.total_of("swdkllj")
        jr_penalty = assessment.total_of("swdkllj_penalty")
        return {
            "na": na,
            "nb": nb,
            "nc": nc,
            "noka": vehicle.chassis,
            # The partner channel names the owner, unlike the public app [I].
            "nik_pemilik": vehicle.owner_nik,
            "nama_pemilik": vehicle.owner_name,
            "kode_bayar": _bill_code(vehicle.plate, assessment),
            "tgl_jatuh_tempo": assessment.due_date.strftime(_DATE),
            "tgl_jatuh_tempo_baru": assessment.new_due_date.strftime(_DATE),  # after Jabar's tg_akhir_pajak_baru
            "total_pkb_prov": assessment.total_of("pkb"),
            "total_pkb_denda_prov": assessment.total_of("pkb_penalty"),
            "total_pkb_opsen": assessment.total_of("opsen"),
            "total_pkb_denda_opsen": assessment.total_of("opsen_penalty"),
            "total_pkb_pokok": pkb,
            "total_pkb_denda": pkb_penalty,
            "jumlah_pkb": pkb + pkb_penalty,
            "total_jr_pokok": jr,
            "total_jr_denda": jr_penalty,
            "jumlah_jr": jr + jr_penalty,
            "pnbp": assessment.total_of("admin_fees"),
            "total": assessment.total,
            "sts_pajak": "LUNAS" if assessment.paid_up else "BELUM LUNAS",
            "th_tgk": assessment.years_in_arrears,
            "rincian": [_rincian(vehicle, period) for period in assessment.periods],
        }

    # --- payments [I] ---

    def accept_payment(self, body: Mapping[str, object]) -> JSONResponse:
        plate, bill_code, reference = _plate(body), _text(body.get("kode_bayar")), _text(body.get("nobb"))
        amount, paid_at = body.get("jumlah"), _paid_at(body.get("dt"))
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            return _reply(BAD_REQUEST, Msg="Parameter tidak valid: jumlah")
        if not reference or len(reference) > 64 or paid_at is None:
            return _reply(BAD_REQUEST, Msg="Parameter tidak valid: nobb/dt")
        vehicle = self.vehicles.get(plate)
        if vehicle is None:
            return _reply(NOT_FOUND)
        earlier = self.state.payments.get(reference)
        if earlier is not None:
            if (earlier.plate, earlier.bill_code, earlier.amount) != (plate, bill_code, amount):
                return _reply(REFERENCE_REUSED)
            return _reply(DUPLICATE, **{k: v for k, v in earlier.reply.items() if k not in ("Status", "Msg")})
        assessment = self.assess(vehicle)
        if assessment.paid_up:
            return _reply(PAID_UP, tgl_jatuh_tempo=assessment.due_date.strftime(_DATE))
        if bill_code != _bill_code(plate, assessment):
            return _reply(BILL_CODE_STALE)
        if amount != assessment.total:
            return _reply(WRONG_AMOUNT, tagihan=assessment.total, jumlah=amount)
        return self._record(vehicle, assessment, bill_code, reference, amount, paid_at)

    def _record(
        self,
        vehicle: VehicleRecord,
        assessment: Assessment,
        bill_code: str,
        reference: str,
        amount: int,
        paid_at: dt.datetime,
    ) -> JSONResponse:
        standing = self.standing(vehicle)
        standing.due_date = assessment.new_due_date
        if assessment.renews_stnk:
            standing.stnk_date = _data.add_years(standing.stnk_date, 5)
        na, nb, nc = vehicle.plate_parts
        reply = {
            "Status": OK,
            "Msg": _MESSAGES[OK],
            "na": na,
            "nb": nb,
            "nc": nc,
            "kode_bayar": bill_code,
            "nobb": reference,
            "jumlah": amount,
            # NTPD, the regional revenue transaction number [I: format]
            "ntpd": hashlib.sha256(f"ntpd|{reference}".encode()).hexdigest()[:16].upper(),
            "tgl_bayar": paid_at.strftime(_STAMP),
            "tgl_catat": self.now().strftime(_STAMP),
            "tgl_jatuh_tempo_baru": standing.due_date.strftime(_DATE),
        }
        self.state.payments[reference] = _Payment(vehicle.plate, bill_code, amount, reply)
        return JSONResponse(reply)


def _rincian(vehicle: VehicleRecord, period: _data.Period) -> Record:
    return {
        "masa_akhir_berlaku_pajak": period.end.strftime(_DATE),
        "jatuh_tempo_pembayaran": period.start.strftime(_DATE),
        "lama_tunggakan": period.months_late,  # months [I]
        "pokok_pkb": period.pkb,
        "denda_pkb": period.pkb_penalty,
        "pokok_pkb_opsen": period.opsen,
        "denda_pkb_opsen": period.opsen_penalty,
        "pokok_jr": period.swdkllj,
        "denda_jr": period.swdkllj_penalty,
        "pnbp": period.admin_fees,
        "total": period.total,
        "terlambat": "YA" if period.months_late else "TIDAK",
        "no_skpd": f"SKPD/{period.start.year}/{vehicle.chassis[-6:]}",  # [I]
        "ket_pajak": "TUNGGAKAN" if period.months_late else "TAHUN BERJALAN",
    }


def _paid_at(value: object) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(_text(value), _REQ_TIME).replace(tzinfo=WIB)
    except ValueError:
        return None


# --- the endpoints -------------------------------------------------------------------------------

_Handler = Callable[["_Sandbox", Mapping[str, object]], JSONResponse]


def _kbm(sandbox: _Sandbox, body: Mapping[str, object]) -> JSONResponse:
    vehicle = sandbox.vehicles.get(_plate(body))
    return _reply(NOT_FOUND) if vehicle is None else _reply(OK, **sandbox.vehicle_record(vehicle))


def _pajak(sandbox: _Sandbox, body: Mapping[str, object]) -> JSONResponse:
    noka = _text(body.get("noka")).upper()
    if not noka:
        return _reply(NOKA_MISSING)
    vehicle = sandbox.vehicles.get(_plate(body))
    # A chassis number that is not this vehicle's finds nothing, as if the plate were unknown [I].
    if vehicle is None or vehicle.chassis != noka:
        return _reply(NOT_FOUND)
    return _reply(OK, **sandbox.tax_record(vehicle))


def _by_nik(sandbox: _Sandbox, body: Mapping[str, object]) -> JSONResponse:
    nik = _text(body.get("nik"))
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        return _reply(BAD_REQUEST, Msg="Parameter tidak valid: nik")
    # Samsat knows owners, not residents: a NIK with no vehicle has an empty list [I].
    owned = sandbox.owned.get(nik, ())
    return _reply(OK, nik=nik, jumlah=len(owned), kendaraan=[sandbox.vehicle_record(v) for v in owned])


def _payment(sandbox: _Sandbox, body: Mapping[str, object]) -> JSONResponse:
    return sandbox.accept_payment(body)


def _signed_nik(body: Mapping[str, object]) -> list[str]:
    return [_text(body.get("nik"))]


def _signed_payment(body: Mapping[str, object]) -> list[str]:
    """``na|nb|nc|kode_bayar|nobb|jumlah|dt``: the amount travels as a JSON integer and is signed in decimal."""
    amount = body.get("jumlah")
    return [
        *_plate_fields(body),
        _text(body.get("kode_bayar")),
        _text(body.get("nobb")),
        str(amount) if isinstance(amount, int) and not isinstance(amount, bool) else "",
        _text(body.get("dt")),
    ]


async def _json_body(request: Request) -> dict[str, object] | None:
    try:
        data = json.loads(await request.body())
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _sandbox(request: Request) -> _Sandbox:
    sandbox = request.app.state.sandbox
    assert isinstance(sandbox, _Sandbox)
    return sandbox


def _endpoint(
    handler: _Handler, signed: Callable[[Mapping[str, object]], list[str]]
) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def endpoint(request: Request) -> JSONResponse:
        sandbox = _sandbox(request)
        sandbox.state.requests += 1
        body = await _json_body(request)
        if body is None:
            # How Samsat answers a body that is not a JSON object is unknown: HTTP 400 is our guess [I].
            return JSONResponse({"Status": BAD_REQUEST, "Msg": "Body harus objek JSON"}, 400)
        refusal = sandbox.refusal(body, signed(body))
        return _reply(refusal) if refusal else handler(sandbox, body)

    return endpoint


async def _stats(request: Request) -> JSONResponse:
    state = _sandbox(request).state
    # The postings that took effect, by the bank's reference: a repeated posting is not a second one.
    payments = {reference: payment.plate for reference, payment in state.payments.items()}
    return JSONResponse({"requests": state.requests, "payments": payments})


async def _reset(request: Request) -> JSONResponse:
    """Forget every request and every payment: all vehicles stand as they did when the sandbox started."""
    sandbox = _sandbox(request)
    sandbox.state = _State()
    return JSONResponse({"requests": 0})


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """The sandbox as an ASGI app; ``GET /_sandbox/stats`` and ``POST /_sandbox/reset`` serve tests."""
    app = Starlette(
        routes=[
            Route(KBM_PATH, _endpoint(_kbm, _plate_fields), methods=["POST"]),
            Route(PAJAK_PATH, _endpoint(_pajak, _plate_fields), methods=["POST"]),
            Route(NIK_PATH, _endpoint(_by_nik, _signed_nik), methods=["POST"]),
            Route(PAYMENT_PATH, _endpoint(_payment, _signed_payment), methods=["POST"]),
            Route("/_sandbox/stats", _stats, methods=["GET"]),
            Route("/_sandbox/reset", _reset, methods=["POST"]),
        ]
    )
    app.state.sandbox = _Sandbox(config or SandboxConfig())
    return app
