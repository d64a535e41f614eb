"""The PDAM billing API's wire format, shared by the client and the sandbox: paths, codes, field names.

One customer-information call (``requestTagihanUnlimited``) answers a flat envelope (``error``,
``message_code``, ``message_text``, the customer's ``cust_*`` fields) and the customer's bill sheets
(``cust_data``), paid and unpaid, in the billing system's upper-case column names. The README lists the
public sources and which of these facts are guesses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from contracts import ErrorCode, HubError

from mpp_plugin_pdam.contract import WaterBills

__all__ = [
    "AGENCY",
    "BAD_NUMBER",
    "BILL_PATH",
    "NAME",
    "NOT_FOUND",
    "NUMBER_FIELD",
    "OK",
    "PROBE_NUMBER",
    "UNAUTHORISED",
    "to_water_bills",
]

AGENCY = "pdam"
NAME = "PDAM (regency water utility)"

#: Under the deployment's service root (``/servicesWithCmp`` at one PDAM, ``/wbServicesWithCmp`` at another).
BILL_PATH = "/requestTagihanUnlimited"
#: The form field that carries the customer number (the body is application/x-www-form-urlencoded).
NUMBER_FIELD = "nosambung"

# message_code values of the envelope.
OK = 100
NOT_FOUND = 102
BAD_NUMBER = 400  # (guess) a number the billing system cannot read
UNAUTHORISED = 401  # (guess) a missing or wrong Authorization key

#: A number no one holds: the health probe proves the link and the key without reading anyone's data.
PROBE_NUMBER = "0000000000"

# The sheet's charges that make up its amount before the penalty (guess: TAGIHAN_RP leaves DENDA_RP out).
_PENALTY = "DENDA_RP"


def _rupiah(sheet: Mapping[str, Any], column: str) -> Decimal:
    value = sheet.get(column)
    # Whole rupiah as JSON integers; a float, a bool or text would be a sheet the hub cannot read.
    if value is None:
        return Decimal(0)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(column)
    return Decimal(value)


def _period(bulan: object) -> tuple[int, int]:
    # BULAN is the bill's month as a number, YYYYMM (guess: the client only shows it formatted).
    if isinstance(bulan, bool) or not isinstance(bulan, int) or not 200001 <= bulan <= 209912:
        raise ValueError("BULAN")
    year, month = divmod(bulan, 100)
    if not 1 <= month <= 12:
        raise ValueError("BULAN")
    return year, month


def _bill(sheet: Mapping[str, Any], due_day: int | None) -> dict[str, Any]:
    year, month = _period(sheet["BULAN"])
    amount, penalty = _rupiah(sheet, "TAGIHAN_RP"), _rupiah(sheet, _PENALTY)
    return {
        "period": f"{year:04d}-{month:02d}",
        "meter_start": sheet["STAND_AWAL"],
        "meter_end": sheet["STAND_AKHIR"],
        "usage_m3": sheet["PEMAKAIANM3"],
        "amount": amount,
        "penalty": penalty,
        "total": amount + penalty,
        "due_date": None if due_day is None else dt.date(year, month, due_day),
    }


def _open_sheets(sheets: object) -> Sequence[Mapping[str, Any]]:
    if not isinstance(sheets, list) or not all(isinstance(sheet, dict) for sheet in sheets):
        raise ValueError("cust_data")
    # A paid sheet carries its payment date (TGLBAYAR); the open ones are the bill, oldest month first.
    unpaid = [sheet for sheet in sheets if not sheet.get("TGLBAYAR")]
    return sorted(unpaid, key=lambda sheet: _period(sheet.get("BULAN")))


def to_water_bills(body: Mapping[str, Any], asked: str, due_day: int | None) -> WaterBills:
    """The open bills of customer ``asked`` in the contract's terms; an answer that does not fit, or that is
    about another customer, is the agency's error."""
    if body.get("cust_code") != asked:
        # Passing it on would show one customer's bills to someone who asked about another.
        message = f"{NAME} answered with the record of another customer number than the one asked"
        raise HubError.of(ErrorCode.AGENCY_ERROR, message, agency=AGENCY)
    try:
        bills = [_bill(sheet, due_day) for sheet in _open_sheets(body.get("cust_data"))]
        return WaterBills.model_validate(
            {
                "customer_number": asked,
                "customer_name": body["cust_name"],
                "service_address": body["cust_address"],
                "tariff_class": body.get("tarif_class") or None,
                "bills": bills,
                "total_due": sum((bill["total"] for bill in bills), Decimal(0)),
            }
        )
    except (KeyError, TypeError, ValueError):
        # No detail: the answer is personal data, and so is any validation message quoting it.
        message = f"{NAME} answered with a customer record the hub cannot read"
        raise HubError.of(ErrorCode.AGENCY_ERROR, message, agency=AGENCY) from None
