"""Translation between Samsat Jawa Tengah's wire format and the contract (see docs/agencies/samsat.md).

Replies are flat JSON with a string ``Status``; amounts are integers of rupiah and dates ``DD-MM-YYYY``.
The partner token, two of the endpoints and several ``Status`` codes are our design, tagged [I] in
``plugins/samsat/sandbox.py``, which documents the wire this module speaks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from contracts import (
    ErrorCode,
    FieldIssue,
    HubError,
    TaxPayment,
    TaxPaymentReceipt,
    TaxStatus,
    Vehicle,
    VehicleCategory,
    VehicleList,
    VehicleTax,
    mask_text,
)
from hub import WIB

AGENCY = "samsat"

KBM_PATH = "/info/kendaraan/api/api_req_info_kbm"
PAJAK_PATH = "/info/kendaraan/api/api_req_info_pajak"
NIK_PATH = "/info/kendaraan/api/api_req_kendaraan_nik"
PAYMENT_PATH = "/info/kendaraan/api/api_accept_payment"

OK = "000"
DUPLICATE = "094"
NOT_FOUND = "99999"

_DATE = "%d-%m-%Y"
_STAMP = "%d-%m-%Y %H:%M:%S"
_REQ_TIME = "%Y%m%d%H%M%S"

# Samsat's jenis texts, most specific first ("MINIBUS" holds "BUS").
_CATEGORIES = (
    ("SEPEDA MOTOR", VehicleCategory.MOTORCYCLE),
    ("SPM", VehicleCategory.MOTORCYCLE),
    ("PICK UP", VehicleCategory.PICKUP),
    ("MINIBUS", VehicleCategory.CAR),
    ("SEDAN", VehicleCategory.CAR),
    ("JEEP", VehicleCategory.CAR),
    ("TRUK", VehicleCategory.TRUCK),
    ("TRUCK", VehicleCategory.TRUCK),
    ("BUS", VehicleCategory.BUS),
)


def now_wib() -> dt.datetime:
    return dt.datetime.now(WIB)


def request_time(now: dt.datetime) -> str:
    """``req``: the request time as Samsat's clock reads it (WIB), ``yyyyMMddHHmmss``."""
    return now.astimezone(WIB).strftime(_REQ_TIME)


def token(secret: str, key: str, fields: Sequence[str], req: str) -> str:
    """The partner token [I]: hex HMAC-SHA256 of ``key|field|...|req`` under the shared secret."""
    return hmac.new(secret.encode(), "|".join([key, *fields, req]).encode(), hashlib.sha256).hexdigest()


def plate_fields(plate: str) -> dict[str, str]:
    """A normalised plate (``G 1234 AB``) split into Samsat's ``na``, ``nb`` and ``nc``."""
    letters, digits, *suffix = plate.split(" ")
    return {"na": letters, "nb": digits, "nc": suffix[0] if suffix else ""}


def payment_fields(payment: TaxPayment) -> dict[str, Any]:
    """The payment as Samsat takes it; raises ``invalid_input`` for sen, which Samsat's bills never have."""
    if payment.amount != payment.amount.to_integral_value():
        message = "Samsat bills are whole rupiah: the amount must have no sen"
        raise HubError.of(
            ErrorCode.INVALID_INPUT, message, issues=[FieldIssue(field="amount", message=message)], agency=AGENCY
        )
    # A payment time without a zone is taken as WIB, the banks' and Samsat's clock [I].
    paid_at = payment.paid_at if payment.paid_at.tzinfo else payment.paid_at.replace(tzinfo=WIB)
    return {
        **plate_fields(payment.plate),
        "kode_bayar": payment.bill_code,
        "nobb": payment.payment_reference,
        "jumlah": int(payment.amount),
        "dt": request_time(paid_at),
    }


def signed_payment(fields: dict[str, Any]) -> list[str]:
    return [fields["na"], fields["nb"], fields["nc"], fields["kode_bayar"], fields["nobb"], str(fields["jumlah"]),
            fields["dt"]]  # fmt: skip


# --- refusals ------------------------------------------------------------------------------------


def _garbled(what: str) -> HubError:
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        f"Samsat sent an answer the hub cannot read ({what}); if it persists, report it to the Bapenda Jateng liaison",
        agency=AGENCY,
    )


def _rupiah(amount: Any) -> str:
    return f"Rp{int(amount):,}".replace(",", ".") if isinstance(amount, int) else "an unknown amount"


def _quote(text: object) -> str:
    """An agency's own words, fit to show: NIK-like numbers masked, length capped."""
    return mask_text(str(text).strip())[:200]


def refusal(body: dict[str, Any], amount: Decimal | None = None) -> HubError:
    """The contract error a ``Status`` other than ``000`` stands for."""
    status = str(body.get("Status"))
    if status == NOT_FOUND:
        return HubError.of(
            ErrorCode.NOT_FOUND,
            "Samsat has no vehicle with this plate; check the number on the STNK",
            agency=AGENCY,
        )
    if status in _SETUP:
        message = f"Samsat refused the hub (Status {status}): {_SETUP[status]}"
        return HubError.of(ErrorCode.AGENCY_ERROR, message, agency=AGENCY)
    if status == "6102":
        paid = _rupiah(int(amount)) if amount is not None else _rupiah(body.get("jumlah"))
        return HubError.of(
            ErrorCode.CONFLICT,
            f"The amount paid ({paid}) differs from the bill's total ({_rupiah(body.get('tagihan'))}); nothing was "
            "recorded: fetch the tax due again and post its total",
            agency=AGENCY,
        )
    if status in _CONFLICTS:
        return HubError.of(ErrorCode.CONFLICT, _CONFLICTS[status], agency=AGENCY)
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        f"Samsat refused the request (Status {_quote(status)}: {_quote(body.get('Msg', ''))})",
        agency=AGENCY,
    )


# Refusals that only an operator (or a plugin fix) can cure. No setting's value is ever quoted.
_SETUP = {
    "497": "the partner key is not registered: fix the samsat key_id setting",
    "498": "the request token is wrong: fix the samsat secret setting (it must be the secret Bapenda issued "
    "for this key_id)",
    "496": "the request time is outside Samsat's tolerance: synchronise this hub host's clock (NTP)",
    "499": "the request had no token or time: report this to the samsat plugin's maintainers",
    "6001": "Samsat asked for the chassis number (Silahkan update aplikasi): report this to the samsat "
    "plugin's maintainers",
    "400": "Samsat found a parameter invalid: report this to the samsat plugin's maintainers",
}
_CONFLICTS = {
    "6101": "This payment reference was already posted for another payment (another plate, bill code or "
    "amount); nothing was recorded: each payment needs the bank's own unique reference",
    "6103": "The bill code is no longer valid: the bill changed since it was issued (a payment was recorded or a "
    "penalty month began); nothing was recorded: fetch the tax due again for a fresh bill code",
    "6104": "The vehicle tax is already paid up: nothing is owed and nothing was recorded",
}


def expect(body: Any, accepted: Sequence[str] = (OK,), amount: Decimal | None = None) -> dict[str, Any]:
    """The reply when its ``Status`` is one of ``accepted``, else the refusal it stands for."""
    if not isinstance(body, dict) or "Status" not in body:
        raise _garbled("no Status in the reply")
    if str(body["Status"]) not in accepted:
        raise refusal(body, amount)
    return body


# --- values --------------------------------------------------------------------------------------


def _amount(value: Any) -> Decimal:
    # Integers of rupiah, exact; a float would already have lost precision, so it is refused.
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise _garbled(f"an amount is {type(value).__name__}, not whole rupiah")
    return Decimal(int(value))


def _date(value: Any) -> dt.date:
    try:
        return dt.datetime.strptime(str(value).strip(), _DATE).date()
    except ValueError:
        raise _garbled("a date is not DD-MM-YYYY") from None


def _stamp(value: Any) -> dt.datetime:
    try:
        return dt.datetime.strptime(str(value).strip(), _STAMP).replace(tzinfo=WIB)
    except ValueError:
        raise _garbled("a timestamp is not DD-MM-YYYY HH:MM:SS") from None


def _category(kind: Any) -> VehicleCategory:
    text = str(kind).upper()
    for word, category in _CATEGORIES:
        if word in text:
            return category
    raise _garbled(f"unknown vehicle kind {_quote(kind)!r}")


def _status(record: dict[str, Any]) -> TaxStatus:
    if str(record.get("status_pajak", "")).strip().upper() == "LUNAS":
        return TaxStatus.PAID
    # Penalties run from the day after the due date, so a penalty is what tells overdue from due [I].
    late = _amount(record.get("pkb_denda", 0)) + _amount(record.get("jr_denda", 0))
    return TaxStatus.OVERDUE if late else TaxStatus.DUE


def _plate(record: dict[str, Any]) -> str:
    return " ".join(str(record.get(k) or "").strip() for k in ("na", "nb", "nc")).strip()


def _contract_breach(exc: ValidationError) -> HubError:
    fields = ", ".join(sorted({".".join(map(str, e["loc"])) or "(record)" for e in exc.errors(include_input=False)}))
    return _garbled(f"the record breaks the contract in: {fields}")


def to_vehicle(record: dict[str, Any]) -> Vehicle:
    try:
        return Vehicle(
            plate=_plate(record),
            brand=str(record["merek"]).strip(),
            model=str(record["tipe"]).strip(),
            category=_category(record["model"]),
            colour=str(record["WarnaKB"]).strip(),
            year_made=int(str(record["thn_buat"]).strip()),
            tax_due_date=_date(record["tgl_jatuh_tempo"]),
            tax_status=_status(record),
        )
    except KeyError as exc:
        raise _garbled(f"the vehicle record lacks {exc.args[0]}") from None
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise _contract_breach(exc) from None
        raise _garbled("the year made is not a number") from None


def to_vehicle_list(nik: str, body: dict[str, Any]) -> VehicleList:
    records = body.get("kendaraan")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise _garbled("kendaraan is not a list of vehicles")
    return VehicleList(owner_nik=nik, vehicles=[to_vehicle(r) for r in records])


def to_vehicle_tax(kbm: dict[str, Any], pajak: dict[str, Any]) -> VehicleTax:
    """The bill: the vehicle from the vehicle reply, the owner and the amounts from the tax reply."""
    try:
        return VehicleTax(
            vehicle=to_vehicle(kbm),
            owner_nik=str(pajak["nik_pemilik"]).strip(),
            owner_name=str(pajak["nama_pemilik"]).strip(),
            period_start=_date(pajak["tgl_jatuh_tempo"]),
            period_end=_date(pajak["tgl_jatuh_tempo_baru"]),
            years_in_arrears=int(_amount(pajak["th_tgk"])),
            vehicle_tax=_amount(pajak["total_pkb_prov"]),
            vehicle_tax_penalty=_amount(pajak["total_pkb_denda_prov"]),
            vehicle_tax_surcharge=_amount(pajak["total_pkb_opsen"]),
            vehicle_tax_surcharge_penalty=_amount(pajak["total_pkb_denda_opsen"]),
            swdkllj=_amount(pajak["total_jr_pokok"]),
            swdkllj_penalty=_amount(pajak["total_jr_denda"]),
            admin_fees=_amount(pajak["pnbp"]),
            total=_amount(pajak["total"]),
            bill_code=str(pajak["kode_bayar"]).strip(),
        )
    except KeyError as exc:
        raise _garbled(f"the tax record lacks {exc.args[0]}") from None
    except ValidationError as exc:
        raise _contract_breach(exc) from None


def to_receipt(body: dict[str, Any]) -> TaxPaymentReceipt:
    """The receipt; ``094`` means Samsat had recorded this reference before and echoes the original."""
    try:
        return TaxPaymentReceipt(
            plate=_plate(body),
            payment_reference=str(body["nobb"]),
            receipt_number=str(body["ntpd"]).strip(),
            amount=_amount(body["jumlah"]),
            new_due_date=_date(body["tgl_jatuh_tempo_baru"]),
            recorded_at=_stamp(body["tgl_catat"]),
            already_recorded=str(body["Status"]) == DUPLICATE,
        )
    except KeyError as exc:
        raise _garbled(f"the payment reply lacks {exc.args[0]}") from None
    except ValidationError as exc:
        raise _contract_breach(exc) from None
