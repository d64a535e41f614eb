"""Sandbox of a regional bank's SNAP BI virtual-account API (Bank Jateng style), over real HTTP.

It follows the wire format in ``docs/agencies/bank.md``: a B2B access token signed SHA256withRSA, transactions
signed HMAC-SHA512 with the client secret, 7-character response codes, closed virtual-account bills,
and payment notifications the bank signs with its own RSA key and sends to the biller. Bank Jateng
publishes no SNAP document, so this is plain SNAP; what the standard leaves open is marked ``[I]``.

Two clocks: bill expiry and payment times follow ``SandboxConfig.clock`` (tests move it); message
freshness (X-TIMESTAMP) follows the wall clock, which both sides keep in sync with NTP.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub import WIB, SandboxContext
from plugins.bank import _data, _keys, _snap

__all__ = ["CONTOH", "PAYMENT_CALLBACK", "SandboxConfig", "create_app"]

#: Where, under the hub's callback base URL for the bank, payment notifications go.
PAYMENT_CALLBACK = "/v1.0/transfer-va/payment"
_TOKEN_PATH = "/v1.0/access-token/b2b"
_CREATE_PATH = "/v1.0/transfer-va/create-va"
_INQUIRY_PATH = "/v1.0/transfer-va/inquiry-va"
_TRANSACTION_HEADERS = ("X-TIMESTAMP", "X-SIGNATURE", "X-PARTNER-ID", "X-EXTERNAL-ID", "CHANNEL-ID", "Authorization")
_ATM = 6011  # ISO 18245 channel code of the simulated payments


def _wall_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """What the sandbox bank registered for the hub; every credential is an obvious fake.

    The hub's RSA public key and the bank's own key pair come from :mod:`plugins.bank._keys`, by ``provider``:
    the name the hub knows this bank by, which also picks the hub's callback path (``/callbacks/<provider>``).
    """

    provider: str = "bank"
    bank_name: str = "Bank Jateng"

    client_id: str = "mpp-hub-sandbox-client"
    client_secret: str = "sandbox-client-secret-not-a-secret"
    partner_id: str = "MPP-TEGAL-SANDBOX"
    channel_id: str = "95221"
    company_code: str = _data.COMPANY_CODE
    token_ttl: float = 900.0
    #: [I] SNAP names no tolerance; five minutes either way is common in bank guides.
    timestamp_tolerance: float = 300.0
    #: Callback base URL for payment notifications (``.../callbacks/bank``); else the hub's, from the context.
    callback_base_url: str | None = None
    clock: Callable[[], dt.datetime] = field(default=_wall_clock)
    seed_bills: int = 5


#: The second sandbox bank: fictional (no bank of this name exists), with credentials and a company code of its own.
CONTOH = SandboxConfig(
    provider="bank_contoh",
    bank_name="Bank Contoh Syariah (synthetic)",
    client_id="mpp-hub-sandbox-contoh",
    client_secret="sandbox-contoh-secret-not-a-secret",
    partner_id="MPP-TEGAL-CONTOH",
    company_code=_data.CONTOH_COMPANY_CODE,
)


class _Refused(Exception):
    """A SNAP refusal: HTTP status, case code and the detail that fills the standard message.

    ``error``, when given, is a sentence for the person at the sandbox's admin routes (not a SNAP field).
    """

    def __init__(self, http: int, case: int, detail: str = "", *, error: str = "") -> None:
        super().__init__(detail)
        self.http, self.case, self.detail, self.error = http, case, detail, error

    def response(self, service: int) -> JSONResponse:
        extra = {"error": self.error} if self.error else {}
        return _answer(self.http, _snap.reply(self.http, service, self.case, self.detail, **extra))


def _answer(status: int, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"X-TIMESTAMP": _snap.timestamp()})


@dataclass(frozen=True, slots=True)
class _Payment:
    request_id: str
    reference_no: str
    amount: Decimal
    at: dt.datetime


@dataclass(slots=True)
class _Bill:
    service_id: str
    customer_no: str
    name: str
    trx_id: str
    amount: Decimal
    expires_at: dt.datetime
    details: list[Any]
    payment: _Payment | None = None

    @property
    def account(self) -> str:
        return self.service_id + self.customer_no

    def status(self, now: dt.datetime) -> str:
        if self.payment is not None:
            return "PAID"
        return "EXPIRED" if now >= self.expires_at else "UNPAID"

    def data(self, now: dt.datetime) -> dict[str, Any]:
        """virtualAccountData as create-va and inquiry-va answer it."""
        info: dict[str, Any] = {"status": self.status(now)}
        if self.payment is not None:
            info |= {
                "paymentRequestId": self.payment.request_id,
                "referenceNo": self.payment.reference_no,
                "paidAmount": _snap.amount(self.payment.amount),
                "trxDateTime": _snap.timestamp(self.payment.at),
            }
        return {
            "partnerServiceId": self.service_id,
            "customerNo": self.customer_no,
            "virtualAccountNo": self.account,
            "virtualAccountName": self.name,
            "trxId": self.trx_id,
            "totalAmount": _snap.amount(self.amount),
            "billDetails": self.details,
            "virtualAccountTrxType": "C",
            "expiredDate": _snap.timestamp(self.expires_at),
            # [I] SNAP leaves an account's payment state to additionalInfo; one public inquiry-va sample
            # puts a "status" there, so ours does too, with the payment's details once it is paid.
            "additionalInfo": info,
        }


@dataclass(slots=True)
class _Counters:
    requests: int = 0
    tokens_issued: int = 0
    notifications_sent: int = 0


# --- field checks --------------------------------------------------------------------------------


def _text(body: dict[str, Any], key: str, limit: int, *, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise _Refused(400, 2, key)
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _Refused(400, 1, key)
    return value


def _account(body: dict[str, Any], company_code: str) -> tuple[str, str]:
    service_id = _text(body, "partnerServiceId", 8)
    number = _text(body, "customerNo", 20)
    assert service_id is not None and number is not None
    if service_id != _snap.pad_service_id(company_code):
        raise _Refused(400, 1, "partnerServiceId")
    if not number.isdigit():
        raise _Refused(400, 1, "customerNo")
    if _text(body, "virtualAccountNo", 28, required=False) not in (None, service_id + number):
        raise _Refused(400, 1, "virtualAccountNo")
    return service_id, number


def _bill_amount(body: dict[str, Any]) -> Decimal:
    if "totalAmount" not in body:
        raise _Refused(400, 2, "totalAmount")  # closed bills need one
    value = _snap.parse_amount(body["totalAmount"])
    if value is None or value <= 0:
        raise _Refused(400, 1, "totalAmount.value")
    return value


def _expiry(body: dict[str, Any], now: dt.datetime) -> dt.datetime:
    if not body.get("expiredDate"):
        return now + dt.timedelta(days=1)  # [I] a bank default for an account without an expiry
    moment = _snap.parse_timestamp(body["expiredDate"])
    if moment is None or moment <= now:
        raise _Refused(400, 1, "expiredDate")
    return moment


def _numeric_header(value: str, name: str, limit: int) -> str:
    if not value.isascii() or not value.isdigit() or len(value) > limit:
        raise _Refused(400, 1, name)
    return value


def _json_object(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


# --- the bank ------------------------------------------------------------------------------------


class _Bank:
    def __init__(self, config: SandboxConfig, ctx: SandboxContext) -> None:
        self.config = config
        self.ctx = ctx
        self.hub_key = _keys.hub_key(config.provider).public_key()
        self.counters = _Counters()
        self.bills: dict[str, _Bill] = {}  # by account number, digits only
        self.tokens: dict[str, float] = {}  # token -> monotonic expiry
        self.external_ids: set[tuple[dt.date, str, str]] = set()
        self._serial = itertools.count(1)
        self._seed()

    def _seed(self) -> None:
        now, service_id = self.config.clock(), _snap.pad_service_id(self.config.company_code)
        for seed in _data.seed_bills(self.config.seed_bills):
            description = {"english": seed.description, "indonesia": seed.description}
            bill = _Bill(
                service_id,
                seed.customer_no,
                seed.customer_name,
                seed.reference,
                seed.amount,
                now + dt.timedelta(days=seed.days_valid),
                [{"billDescription": description, "billAmount": _snap.amount(seed.amount)}],
            )
            self.bills[bill.account.replace(" ", "")] = bill

    def reset(self) -> None:
        self.counters = _Counters()
        self.bills.clear()
        self.tokens.clear()
        self.external_ids.clear()
        self._seed()

    # --- authentication ---

    def _fresh(self, stamp: str, unauthorized: int = 401) -> None:
        moment = _snap.parse_timestamp(stamp)
        if moment is None:
            raise _Refused(400, 1, "X-TIMESTAMP")
        if abs((_wall_clock() - moment).total_seconds()) > self.config.timestamp_tolerance:
            raise _Refused(unauthorized, 0, "Timestamp")

    def issue_token(self, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        for name in ("X-TIMESTAMP", "X-CLIENT-KEY", "X-SIGNATURE"):
            if not headers.get(name):
                # [I] SNAP's wording; the ASPI sandbox answers 4000000 "The timestamp field is required."
                raise _Refused(400, 2, name)
        stamp = headers["X-TIMESTAMP"]
        self._fresh(stamp)
        if not secrets.compare_digest(headers["X-CLIENT-KEY"].encode(), self.config.client_id.encode()):
            raise _Refused(401, 0, "Unknown Client")
        if not _snap.rsa_verify(self.hub_key, _snap.token_string(self.config.client_id, stamp), headers["X-SIGNATURE"]):
            raise _Refused(401, 0, "Signature")
        body = _json_object(raw)
        if not isinstance(body, dict) or not body.get("grantType"):
            raise _Refused(400, 2, "grantType")
        if body["grantType"] != "client_credentials":
            raise _Refused(400, 1, "grantType")
        token = secrets.token_urlsafe(48)
        self.tokens[token] = time.monotonic() + self.config.token_ttl
        self.counters.tokens_issued += 1
        return _snap.reply(
            200,
            _snap.TOKEN,
            0,
            accessToken=token,
            tokenType="Bearer",
            expiresIn=str(int(self.config.token_ttl)),
            additionalInfo={},
        )

    def _token(self, authorization: str) -> str:
        scheme, _, token = authorization.partition(" ")
        expiry = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if expiry is None or time.monotonic() >= expiry:
            raise _Refused(401, 1)
        return token.strip()

    def authenticate(self, headers: dict[str, str], method: str, path: str, raw: bytes) -> dict[str, Any]:
        """Check a transaction's headers and symmetric signature; the JSON body object when all is well."""
        for name in _TRANSACTION_HEADERS:
            if not headers.get(name):
                raise _Refused(400, 2, name)
        stamp = headers["X-TIMESTAMP"]
        self._fresh(stamp)
        token = self._token(headers["Authorization"])
        if headers["X-PARTNER-ID"] != self.config.partner_id:
            raise _Refused(401, 0, "Unknown Partner")
        body = _json_object(raw)
        # The bank hashes its own minified reading of the body, as SNAP prescribes.
        digest = _snap.body_hash(_snap.minify(body) if body is not None else raw)
        expected = _snap.hmac_signature(
            self.config.client_secret, _snap.symmetric_string(method, path, token, digest, stamp)
        )
        if not secrets.compare_digest(expected.encode(), headers["X-SIGNATURE"].strip().encode()):
            raise _Refused(401, 0, "Signature")
        self._once_a_day(_numeric_header(headers["X-EXTERNAL-ID"], "X-EXTERNAL-ID", 36))
        if not isinstance(body, dict):
            raise _Refused(400, 0)
        return body

    def _once_a_day(self, external_id: str) -> None:
        key = (_wall_clock().astimezone(WIB).date(), self.config.partner_id, external_id)
        if key in self.external_ids:
            raise _Refused(409, 0)  # "Cannot use same X-EXTERNAL-ID in same day"
        self.external_ids.add(key)

    # --- services ---

    def create_va(self, body: dict[str, Any]) -> dict[str, Any]:
        service_id, number = _account(body, self.config.company_code)
        name = _text(body, "virtualAccountName", 255)
        trx_id = _text(body, "trxId", 64)
        assert name is not None and trx_id is not None
        if body.get("virtualAccountTrxType", "C") != "C":
            raise _Refused(400, 1, "virtualAccountTrxType")  # [I] this bank issues closed bills only
        now = self.config.clock()
        details = body.get("billDetails")
        bill = _Bill(
            service_id,
            number,
            name,
            trx_id,
            _bill_amount(body),
            _expiry(body, now),
            details if isinstance(details, list) else [],
        )
        if any(b.trx_id == trx_id for b in self.bills.values()):
            raise _Refused(409, 1)
        key = bill.account.replace(" ", "")
        if key in self.bills:
            raise _Refused(400, 1, "virtualAccountNo")  # [I] one bill per account number, never reused
        self.bills[key] = bill
        return _snap.reply(200, _snap.CREATE_VA, 0, virtualAccountData=bill.data(now))

    def inquiry_va(self, body: dict[str, Any]) -> dict[str, Any]:
        service_id, number = _account(body, self.config.company_code)
        trx_id = _text(body, "trxId", 64, required=False)
        bill = self.bills.get((service_id + number).replace(" ", ""))
        if bill is None:
            raise _Refused(404, 12, "Not Found")
        if trx_id is not None and trx_id != bill.trx_id:
            raise _Refused(404, 12, "trxId")
        return _snap.reply(200, _snap.INQUIRY_VA, 0, virtualAccountData=bill.data(self.config.clock()))

    # --- payments (the simulated ATM and teller side) ---

    def pay(self, body: dict[str, Any]) -> _Bill:
        """Mark a bill paid as a customer would at an ATM; refuses unknown, paid and expired bills."""
        account = str(body.get("virtualAccountNo", "")).replace(" ", "")
        bill = self.bills.get(account)
        now = self.config.clock()
        if bill is None:
            raise _Refused(404, 12, "Not Found")
        if bill.payment is not None:
            raise _Refused(404, 14)
        if now >= bill.expires_at:
            raise _Refused(404, 19)
        if (
            body.get("amount") is not None
            and _snap.parse_amount({"value": body["amount"], "currency": "IDR"}) != bill.amount
        ):
            raise _Refused(404, 13)  # closed bill: exactly the billed amount, to the sen
        request_id = f"{self.config.company_code}{now.astimezone(WIB):%Y%m%d}{uuid.uuid4().hex[:16]}"
        bill.payment = _Payment(request_id, f"{secrets.randbelow(10**12):012d}", bill.amount, now)
        return bill

    def notification(self, bill: _Bill, advise: bool) -> dict[str, Any]:
        """The service-25 payment body; a repeat carries the same paymentRequestId and flagAdvise Y."""
        assert bill.payment is not None
        return {
            "partnerServiceId": bill.service_id,
            "customerNo": bill.customer_no,
            "virtualAccountNo": bill.account,
            "virtualAccountName": bill.name,
            "paymentRequestId": bill.payment.request_id,
            "channelCode": _ATM,
            "paidAmount": _snap.amount(bill.payment.amount),
            "totalAmount": _snap.amount(bill.amount),
            "trxDateTime": _snap.timestamp(bill.payment.at),
            "referenceNo": bill.payment.reference_no,
            "trxId": bill.trx_id,
            "flagAdvise": "Y" if advise else "N",
            "additionalInfo": {},
        }

    def external_id(self) -> str:
        return f"{time.time_ns() // 1_000_000}{next(self._serial):06d}"


# --- HTTP ----------------------------------------------------------------------------------------


def _bank(request: Request) -> _Bank:
    bank = request.app.state.bank
    assert isinstance(bank, _Bank)
    return bank


def _headers(request: Request) -> dict[str, str]:
    # Header names are case-insensitive; the checks use SNAP's spelling.
    names = {name.upper(): name for name in (*_TRANSACTION_HEADERS, "X-CLIENT-KEY")}
    return {names.get(key.upper(), key): value for key, value in request.headers.items()}


async def _token(request: Request) -> JSONResponse:
    bank = _bank(request)
    bank.counters.requests += 1
    try:
        return _answer(200, bank.issue_token(_headers(request), await request.body()))
    except _Refused as refused:
        return refused.response(_snap.TOKEN)


def _transaction(service: int, handle: Callable[[_Bank, dict[str, Any]], dict[str, Any]]) -> Callable[..., Any]:
    async def endpoint(request: Request) -> JSONResponse:
        bank = _bank(request)
        bank.counters.requests += 1
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        try:
            body = bank.authenticate(_headers(request), request.method, path, await request.body())
            return _answer(200, handle(bank, body))
        except _Refused as refused:
            return refused.response(service)

    return endpoint


def _callback_url(bank: _Bank, body: dict[str, Any]) -> str:
    hub = bank.ctx.callback_url(bank.config.provider)
    asked = body.get("callbackBaseUrl")
    if hub is not None and asked not in (None, "") and not _same_base(asked, hub):
        # A sandbox run by a hub notifies that hub only: anyone who can reach /_sandbox/pay could otherwise
        # make it send signed POSTs to any address it can reach. The caller's URL is not echoed back.
        raise _Refused(
            400,
            1,
            "callbackBaseUrl",
            error=f"callbackBaseUrl must be this sandbox's own hub, {hub}: it notifies no other. "
            "Leave callbackBaseUrl out to notify the hub.",
        )
    base = asked or bank.config.callback_base_url or hub
    if not isinstance(base, str) or not base:
        raise _Refused(400, 2, "callbackBaseUrl")  # no hub to notify yet
    return base.rstrip("/") + PAYMENT_CALLBACK


def _same_base(asked: object, hub: str) -> bool:
    return isinstance(asked, str) and asked.rstrip("/") == hub.rstrip("/")


async def _deliver(bank: _Bank, http: httpx.AsyncClient, url: str, body: dict[str, Any]) -> dict[str, Any]:
    minified = _snap.minify(body)
    stamp = _snap.timestamp()
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    string = _snap.asymmetric_string("POST", path, _snap.body_hash(minified), stamp)
    headers = {
        "Content-Type": "application/json",
        "X-TIMESTAMP": stamp,
        "X-SIGNATURE": _snap.rsa_sign(_keys.bank_key(bank.config.provider), string),
        "X-PARTNER-ID": bank.config.partner_id,
        "X-EXTERNAL-ID": bank.external_id(),
        "CHANNEL-ID": bank.config.channel_id,
    }
    bank.counters.notifications_sent += 1
    try:
        response = await http.post(url, content=minified.encode(), headers=headers)
    except httpx.HTTPError as exc:
        return {"flagAdvise": body["flagAdvise"], "error": type(exc).__name__}
    answer = _json_object(response.content)
    return {
        "flagAdvise": body["flagAdvise"],
        "status": response.status_code,
        "body": answer if answer is not None else response.text,
    }


def _times(body: dict[str, Any]) -> int:
    times = body.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= 5:
        raise _Refused(400, 1, "times")
    return times


async def _pay(request: Request) -> JSONResponse:
    """``POST /_sandbox/pay``: pay a bill and notify the hub ``times`` times; answers what the hub said.

    ``callbackBaseUrl`` in the body picks where to notify, unless the sandbox runs under a hub: then it may
    only name that hub, and any other is refused before the bill is paid.
    """
    bank = _bank(request)
    body = _json_object(await request.body())
    try:
        if not isinstance(body, dict):
            raise _Refused(400, 0)
        times, url = _times(body), _callback_url(bank, body)
        bill = bank.pay(body)
    except _Refused as refused:
        return refused.response(_snap.PAYMENT)
    async with httpx.AsyncClient(timeout=10) as http:
        deliveries = [await _deliver(bank, http, url, bank.notification(bill, i > 0)) for i in range(times)]
    assert bill.payment is not None
    return _answer(
        200, _snap.reply(200, _snap.PAYMENT, 0, paymentRequestId=bill.payment.request_id, deliveries=deliveries)
    )


async def _stats(request: Request) -> JSONResponse:
    bank = _bank(request)
    counters = bank.counters
    return JSONResponse(
        {
            "requests": counters.requests,
            "tokens_issued": counters.tokens_issued,
            "notifications_sent": counters.notifications_sent,
            "bills": len(bank.bills),
            "bill_references": sorted(b.trx_id for b in bank.bills.values() if b.trx_id),
        }
    )


async def _reset(request: Request) -> JSONResponse:
    _bank(request).reset()
    return await _stats(request)


async def _revoke_tokens(request: Request) -> JSONResponse:
    """``POST /_sandbox/revoke-tokens``: forget every access token, as a bank restart would."""
    _bank(request).tokens.clear()
    return await _stats(request)


def create_app(config: SandboxConfig | None = None, ctx: SandboxContext | None = None) -> Starlette:
    """The sandbox bank as an ASGI app; ``/_sandbox/*`` endpoints serve tests and demos."""
    app = Starlette(
        routes=[
            Route(_TOKEN_PATH, _token, methods=["POST"]),
            Route(_CREATE_PATH, _transaction(_snap.CREATE_VA, _Bank.create_va), methods=["POST"]),
            Route(_INQUIRY_PATH, _transaction(_snap.INQUIRY_VA, _Bank.inquiry_va), methods=["POST"]),
            Route("/_sandbox/pay", _pay, methods=["POST"]),
            Route("/_sandbox/stats", _stats, methods=["GET"]),
            Route("/_sandbox/reset", _reset, methods=["POST"]),
            Route("/_sandbox/revoke-tokens", _revoke_tokens, methods=["POST"]),
        ]
    )
    app.state.bank = _Bank(config or SandboxConfig(), ctx or SandboxContext())
    return app
