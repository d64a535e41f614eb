"""Translation between SNAP virtual-account messages and the contract, and SNAP refusals as contract errors.

Pure functions: no I/O. The bank keeps the bills; the plugin derives each bill's customer number from
the biller's reference, so asking again with the same reference always addresses the same account.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from contracts import Bill, BillRequest, BillStatus, ErrorCode, FieldIssue, HubError, PaymentPaid, mask_text
from plugins.bank import _snap

__all__ = [
    "AGENCY",
    "Malformed",
    "create_va_body",
    "customer_no",
    "garbled",
    "inquiry_va_body",
    "payment_ack",
    "refusal",
    "split_va",
    "to_bill",
    "to_payment",
    "token_refusal",
    "va_data",
]

AGENCY = "bank"

#: [I] 16 digits: a hash of the reference, so the same reference always gets the same account and two
#: references share one with odds of about 1 in 10^16 per pair (the bank refuses such a clash anyway).
_CUSTOMER_DIGITS = 16
_DETAIL = re.compile(r"[{\[]([^}\]]+)[}\]]")
#: SNAP fields that carry what the caller gave in BillRequest, so a refusal of one is the caller's to fix.
_CONTRACT_FIELDS = {
    "trxId": "reference",
    "virtualAccountName": "customer_name",
    "totalAmount": "amount",
    "totalAmount.value": "amount",
    "expiredDate": "expires_at",
    "billDetails": "description",
}
_STATUS = {"UNPAID": BillStatus.UNPAID, "PAID": BillStatus.PAID, "EXPIRED": BillStatus.EXPIRED}


def customer_no(reference: str) -> str:
    """The customerNo of the bill for ``reference``: the same on every hub worker and every retry."""
    digest = int.from_bytes(hashlib.sha256(reference.encode()).digest()[:8], "big")
    return str(digest % 10**_CUSTOMER_DIGITS).zfill(_CUSTOMER_DIGITS)


def split_va(virtual_account: str, company_code: str) -> tuple[str, str] | None:
    """``(partnerServiceId, customerNo)`` of a digits-only account number, or None if not under our code."""
    rest = virtual_account[len(company_code) :]
    if not virtual_account.startswith(company_code) or not 1 <= len(rest) <= 20:
        return None
    return _snap.pad_service_id(company_code), rest


def create_va_body(company_code: str, request: BillRequest) -> dict[str, Any]:
    service_id, number = _snap.pad_service_id(company_code), customer_no(request.reference)
    return {
        "partnerServiceId": service_id,
        "customerNo": number,
        "virtualAccountNo": service_id + number,
        "virtualAccountName": request.customer_name,
        "trxId": request.reference,
        "totalAmount": _snap.amount(request.amount),
        # [I] SNAP has no plain description field; the single bill line's description carries it.
        "billDetails": [
            {
                "billDescription": {"english": request.description, "indonesia": request.description},
                "billAmount": _snap.amount(request.amount),
            }
        ],
        "virtualAccountTrxType": "C",
        # expiredDate has whole seconds in WIB, so a sub-second expiry is truncated.
        "expiredDate": _snap.timestamp(request.expires_at),
        "additionalInfo": {},
    }


def inquiry_va_body(service_id: str, number: str, reference: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "partnerServiceId": service_id,
        "customerNo": number,
        "virtualAccountNo": service_id + number,
    }
    # [I] Public inquiry-va specs mark trxId mandatory, but BillQuery carries only the account number;
    # it is sent when known (an idempotent create), omitted otherwise.
    if reference is not None:
        body["trxId"] = reference
    return body


def garbled(what: str) -> HubError:
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        f"The bank sent an answer the hub cannot read ({what}); if it persists, report it to the bank's SNAP desk",
        agency=AGENCY,
    )


def va_data(answer: dict[str, Any]) -> dict[str, Any]:
    data = answer.get("virtualAccountData")
    if not isinstance(data, dict):
        raise garbled("no virtualAccountData")
    return data


def _description(data: dict[str, Any]) -> str:
    details = data.get("billDetails")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        text = (details[0].get("billDescription") or {}).get("indonesia")
        if isinstance(text, str) and text.strip():
            return text
    return "(no description from the bank)"


def _payment_fields(info: dict[str, Any]) -> dict[str, Any]:
    # [I] SNAP leaves a paid account's details to additionalInfo; ours carries the notification's fields.
    paid_at = _snap.parse_timestamp(info.get("trxDateTime"))
    paid_amount = _snap.parse_amount(info.get("paidAmount"))
    if paid_at is None or paid_amount is None or not isinstance(info.get("paymentRequestId"), str):
        raise garbled("a paid bill without its payment time, amount or paymentRequestId")
    return {"paid_amount": paid_amount, "paid_at": paid_at, "payment_reference": info["paymentRequestId"]}


def to_bill(data: dict[str, Any], bank: str) -> Bill:
    """A create-va echo or an inquiry-va answer as ``bank``'s Bill; an echo without a status is a new, unpaid bill."""
    extra = data.get("additionalInfo")
    info: dict[str, Any] = extra if isinstance(extra, dict) else {}
    status = _STATUS.get(str(info.get("status", "UNPAID")).upper())
    amount = _snap.parse_amount(data.get("totalAmount"))
    expires_at = _snap.parse_timestamp(data.get("expiredDate"))
    if status is None or amount is None or expires_at is None:
        raise garbled("a bill without a known status, a 16,2 IDR totalAmount or an expiredDate")
    try:
        return Bill(
            reference=data.get("trxId"),
            virtual_account=data.get("virtualAccountNo"),
            amount=amount,
            customer_name=data.get("virtualAccountName"),
            description=_description(data),
            expires_at=expires_at,
            status=status,
            bank=bank,
            **(_payment_fields(info) if status is BillStatus.PAID else {}),
        )
    except ValidationError as exc:
        fields = ", ".join(sorted({".".join(map(str, e["loc"])) for e in exc.errors(include_input=False)}))
        raise garbled(f"the bill breaks the contract in: {fields}") from None


# --- refusals ------------------------------------------------------------------------------------


def _quote(message: object) -> str:
    """The bank's own words, fit to show: number runs that may be personal masked, length capped."""
    return mask_text(str(message).strip())[:150]


def _detail(message: str) -> str:
    match = _DETAIL.search(message)
    return match.group(1).strip() if match else ""


def token_refusal(code: _snap.ResponseCode, answer: dict[str, Any]) -> HubError:
    """Why the bank would not issue an access token: always the hub's own configuration."""
    message = str(answer.get("responseMessage", ""))
    reason = _detail(message)
    if code.http == 401 and reason.lower() == "timestamp":
        return _clock_skew()
    if code.http == 401:
        fix = "private_key_pem (the bank must hold its public key) and client_id"
    else:
        fix = "client_id and base_url"
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        f"The bank refused the hub's access-token request ({code}: {_quote(message)}): an operator must check the "
        f"bank {fix} settings",
        agency=AGENCY,
    )


def _clock_skew() -> HubError:
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        "The bank refused the request's X-TIMESTAMP as too far from its clock: synchronise this hub's clock (NTP)",
        agency=AGENCY,
        retryable=True,
    )


def _field_refusal(code: _snap.ResponseCode, message: str) -> HubError:
    field = _detail(message)
    if field in _CONTRACT_FIELDS:
        contract_field = _CONTRACT_FIELDS[field]
        issue = FieldIssue(field=contract_field, message=f"the bank refused it ({_quote(message)})")
        return HubError.of(
            ErrorCode.INVALID_INPUT,
            f"The bank refused {contract_field}: {_quote(message)}",
            issues=[issue],
            agency=AGENCY,
        )
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        f"The bank refused the hub's request ({code}: {_quote(message)}): check the bank partner_id, channel_id "
        "and partner_service_id settings, or report it to the plugin's maintainers",
        agency=AGENCY,
    )


def _unauthorized(code: _snap.ResponseCode, message: str) -> HubError:
    reason = _detail(message).lower()
    if code.case == 1:
        fix = "the bank keeps refusing freshly issued access tokens: check the bank client_id and base_url settings"
    elif reason == "timestamp":
        return _clock_skew()
    elif reason == "signature":
        fix = "the request signature is wrong: check the bank client_secret setting"
    else:
        fix = "check the bank client_id, client_secret and partner_id settings"
    return HubError.of(
        ErrorCode.AGENCY_ERROR, f"The bank refused the request ({code}: {_quote(message)}); {fix}", agency=AGENCY
    )


def refusal(code: _snap.ResponseCode, answer: dict[str, Any]) -> HubError:
    """The contract error for a SNAP refusal of a create-va or inquiry-va."""
    message = str(answer.get("responseMessage", ""))
    if code.http == 400 and code.case in (1, 2):
        return _field_refusal(code, message)
    if code.http == 401:
        return _unauthorized(code, message)
    if code.http == 404 and code.case in (11, 12, 19):
        return HubError.of(
            ErrorCode.NOT_FOUND,
            "The bank has no bill with this virtual account number; check the number on the payment slip",
            agency=AGENCY,
        )
    if code.http == 409 and code.case == 0:
        return HubError.of(
            ErrorCode.AGENCY_ERROR,
            f"The bank refused a repeated X-EXTERNAL-ID ({code}: {_quote(message)}); retrying is safe and uses a "
            "new id",
            agency=AGENCY,
            retryable=True,
        )
    if code.http == 429 or code.http >= 500:
        return HubError.of(
            ErrorCode.AGENCY_UNAVAILABLE,
            f"The bank cannot serve the hub now ({code}: {_quote(message)})",
            agency=AGENCY,
        )
    return HubError.of(
        ErrorCode.AGENCY_ERROR, f"The bank refused the request ({code}: {_quote(message)})", agency=AGENCY
    )


# --- the payment notification (service 25, bank -> hub) --------------------------------------------


#: PaymentPaid's fields by the SNAP names the bank knows them under.
_SNAP_FIELDS = {
    "reference": "trxId",
    "virtual_account": "virtualAccountNo",
    "amount": "paidAmount.value",
    "paid_at": "trxDateTime",
    "payment_reference": "paymentRequestId",
}


class Malformed(Exception):
    """A payment notification the hub refuses; carries the SNAP answer to give the bank."""

    def __init__(self, http: int, case: int, detail: str) -> None:
        super().__init__(detail)
        self.status = http
        self.body = _snap.reply(http, _snap.PAYMENT, case, detail)


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if value is None or value == "":
        raise Malformed(400, 2, key)
    if not isinstance(value, str) or len(value) > limit:
        raise Malformed(400, 1, key)
    return value


def _account(body: dict[str, Any], company_code: str) -> str:
    service_id = _text(body, "partnerServiceId", 8)
    number = _text(body, "customerNo", 20)
    account = _text(body, "virtualAccountNo", 28)
    if not number.isdigit():
        raise Malformed(400, 1, "customerNo")
    if account != service_id + number:
        raise Malformed(400, 1, "virtualAccountNo")
    if service_id != _snap.pad_service_id(company_code):
        # [I] Not our company code: no bill of ours, so answered like an unknown account.
        raise Malformed(404, 12, "partnerServiceId")
    return account


def _paid_amount(body: dict[str, Any]) -> Decimal:
    if "paidAmount" not in body:
        raise Malformed(400, 2, "paidAmount")
    paid = _snap.parse_amount(body["paidAmount"])
    if paid is None:
        raise Malformed(400, 1, "paidAmount.value")
    return paid


def _paid_at(body: dict[str, Any], received_at: dt.datetime) -> dt.datetime:
    if body.get("trxDateTime") in (None, ""):
        return received_at  # optional in SNAP [I]: the time the hub heard of it is the best it has
    moment = _snap.parse_timestamp(body["trxDateTime"])
    if moment is None:
        raise Malformed(400, 1, "trxDateTime")
    return moment


def to_payment(body: object, company_code: str, received_at: dt.datetime, bank: str) -> PaymentPaid:
    """The PaymentPaid event a notification to ``bank`` stands for, or :class:`Malformed` naming the first bad
    field."""
    if not isinstance(body, dict):
        raise Malformed(400, 1, "body")
    account = _account(body, company_code)
    try:
        return PaymentPaid(
            bank=bank,
            # trxId is mandatory in SNAP when the account came from create-va, which all of ours do.
            reference=_text(body, "trxId", 64),
            virtual_account=account,
            amount=_paid_amount(body),
            paid_at=_paid_at(body, received_at),
            payment_reference=_text(body, "paymentRequestId", 128),
        )
    except ValidationError as exc:
        contract_field = str(exc.errors(include_input=False)[0]["loc"][0])
        raise Malformed(400, 1, _SNAP_FIELDS.get(contract_field, contract_field)) from None


_ECHOED = (
    "partnerServiceId", "customerNo", "virtualAccountNo", "virtualAccountName", "paymentRequestId", "trxId",
    "paidAmount", "totalAmount", "trxDateTime", "referenceNo", "billDetails", "freeTexts",
)  # fmt: skip


def payment_ack(body: dict[str, Any]) -> dict[str, Any]:
    """The SNAP success answer to a payment notification, echoing what the bank sent."""
    data: dict[str, Any] = {
        "paymentFlagReason": {"english": "Success", "indonesia": "Sukses"},
        **{key: body[key] for key in _ECHOED if key in body},
        "paymentFlagStatus": "00",
    }
    return _snap.reply(200, _snap.PAYMENT, 0, virtualAccountData=data, additionalInfo={})
