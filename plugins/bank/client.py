"""The live link to the bank's SNAP BI API: one httpx client, one token cache, one error boundary."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import Field, SecretStr, field_validator

from contracts import Bill, BillQuery, BillRequest, ErrorCode, HubError
from hub import CallbackReply, CallContext, Event, HttpAgencySettings, HttpConnector, InboundRequest, utcnow
from plugins.bank import _snap, _wire

__all__ = ["BankClient", "BankSettings"]

_TOKEN_PATH = "/v1.0/access-token/b2b"
_CREATE_PATH = "/v1.0/transfer-va/create-va"
_INQUIRY_PATH = "/v1.0/transfer-va/inquiry-va"
#: Renew a token this long before the bank says it expires (at most), so no call carries a dying one.
_RENEW_MARGIN = 60.0


class BankSettings(HttpAgencySettings):
    provider: str = Field(
        default="bank",
        description="Which provider (bank) this is; the hub fills it with the table's name ([plugins.bank] is "
        "`bank`, [plugins.bank.providers.<name>] is <name>), and bills and payment events carry it.",
    )
    bank_name: str = Field(default="Bank Jateng", max_length=64, description="The bank's name, as messages say it.")
    base_url: str = Field(description="The bank's SNAP API root, before /v1.0 (with the bank's own prefix, if any).")
    client_id: str = Field(description="The client key the bank issued (sent as X-CLIENT-KEY).")
    client_secret: SecretStr = Field(description="The client secret that keys the HMAC-SHA512 request signatures.")
    private_key_pem: SecretStr = Field(description="The hub's RSA private key (PEM); the bank holds its public key.")
    bank_public_key_pem: str = Field(description="The bank's RSA public key (PEM), to verify its payment notices.")
    partner_id: str = Field(max_length=36, description="X-PARTNER-ID the bank assigned.")
    channel_id: str = Field(default="95221", max_length=5, description="CHANNEL-ID the bank assigned.")
    partner_service_id: str = Field(description="The company code for virtual accounts, e.g. 88123 (up to 8 digits).")
    timeout: float = Field(default=10.0, gt=0, description="Seconds per bank call.")
    health_ttl: float = Field(default=30.0, ge=0, description="Seconds a health result is reused.")
    timestamp_tolerance: float = Field(default=300.0, gt=0, description="Seconds a notification's time may be off.")

    @field_validator("private_key_pem")
    @classmethod
    def _private_key(cls, value: SecretStr) -> SecretStr:
        _snap.load_private_key(value.get_secret_value())  # its ValueError names no key material
        return value

    @field_validator("bank_public_key_pem")
    @classmethod
    def _public_key(cls, value: str) -> str:
        _snap.load_public_key(value)
        return value

    @field_validator("partner_service_id")
    @classmethod
    def _company_code(cls, value: str) -> str:
        if not value.isascii() or not value.isdigit() or not 1 <= len(value) <= 8:
            raise ValueError("must be the bank's company code: 1 to 8 digits, without padding")
        return value


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    renew_at: float  # monotonic


class _ExternalIds:
    """X-EXTERNAL-IDs unique within a day across hub workers: milliseconds, a worker tag and a counter."""

    def __init__(self) -> None:
        self._worker = secrets.randbelow(10**6)
        self._counter = itertools.count()

    def next(self) -> str:
        return f"{time.time_ns() // 1_000_000:013d}{self._worker:06d}{next(self._counter) % 10**6:06d}"


class BankClient(HttpConnector[BankSettings]):
    agency = _wire.AGENCY
    agency_name = "Bank Jateng"

    def __init__(self, settings: BankSettings) -> None:
        super().__init__(settings)
        self._http.name = settings.bank_name  # messages name the bank this provider is, not the plugin's first
        self._hub_key = _snap.load_private_key(settings.private_key_pem.get_secret_value())
        self._bank_key = _snap.load_public_key(settings.bank_public_key_pem)
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._ids = _ExternalIds()

    # --- operations ---

    async def create_bill(self, request: BillRequest, ctx: CallContext) -> Bill:
        body = _wire.create_va_body(self.settings.partner_service_id, request)
        code, answer = await self._transact(_CREATE_PATH, body, ctx)
        if code.ok:
            return _wire.to_bill(_wire.va_data(answer), self.settings.provider)
        if code.http == 409 and code.case == 1:
            return await self._existing_bill(request, body["customerNo"], ctx)
        raise _wire.refusal(code, answer)

    async def _existing_bill(self, request: BillRequest, number: str, ctx: CallContext) -> Bill:
        """The bill an earlier create with this reference made: the same one, unless the amount differs."""
        service_id = _snap.pad_service_id(self.settings.partner_service_id)
        code, answer = await self._transact(
            _INQUIRY_PATH, _wire.inquiry_va_body(service_id, number, request.reference), ctx
        )
        if code.http == 404:
            raise HubError.of(
                ErrorCode.CONFLICT,
                f"The bank already has a bill with reference {request.reference}, but not at the account the hub "
                "gives that reference; use a new reference",
                agency=_wire.AGENCY,
            )
        if not code.ok:
            raise _wire.refusal(code, answer)
        bill = _wire.to_bill(_wire.va_data(answer), self.settings.provider)
        if bill.amount != request.amount:
            raise HubError.of(
                ErrorCode.CONFLICT,
                f"Reference {request.reference} already names a bill of {bill.amount} rupiah, not {request.amount}: "
                "a new amount needs a new reference",
                agency=_wire.AGENCY,
            )
        return bill

    async def bill_status(self, query: BillQuery, ctx: CallContext) -> Bill:
        parts = _wire.split_va(query.virtual_account, self.settings.partner_service_id)
        if parts is None:
            raise HubError.of(
                ErrorCode.NOT_FOUND,
                "This virtual account number was not issued through this hub (its company code differs); check the "
                "number on the payment slip",
                agency=_wire.AGENCY,
            )
        code, answer = await self._transact(_INQUIRY_PATH, _wire.inquiry_va_body(*parts, None), ctx)
        if not code.ok:
            raise _wire.refusal(code, answer)
        return _wire.to_bill(_wire.va_data(answer), self.settings.provider)

    # --- the bank's payment notification ---

    async def on_payment(self, request: InboundRequest) -> CallbackReply:
        """SNAP service 25: verify the bank's signature, then acknowledge and raise ``payment.paid`` once."""
        headers = {key.lower(): value for key, value in request.headers.items()}
        stamp, signature = headers.get("x-timestamp", ""), headers.get("x-signature", "")
        try:
            body = json.loads(request.body)
        except (ValueError, RecursionError):  # RecursionError: absurdly nested JSON
            body = None
        try:
            self._check_notification(request, stamp, signature, body)
            payment = _wire.to_payment(body, self.settings.partner_service_id, utcnow(), self.settings.provider)
        except _wire.Malformed as refused:
            return CallbackReply(status=refused.status, body=refused.body, headers=self._reply_headers())
        assert isinstance(body, dict)
        # Two banks may reuse each other's payment references: the dedup id is the bank's and its reference.
        event = Event("payment.paid", payment, dedup_id=f"{self.settings.provider}:{payment.payment_reference}")
        return CallbackReply(status=200, body=_wire.payment_ack(body), headers=self._reply_headers(), events=[event])

    def _check_notification(self, request: InboundRequest, stamp: str, signature: str, body: Any) -> None:
        for name, value in (("X-TIMESTAMP", stamp), ("X-SIGNATURE", signature)):
            if not value:
                raise _wire.Malformed(400, 2, name)
        # SNAP hashes the minified body; a bank that signs the exact bytes it sent is accepted too [I].
        digests = {_snap.body_hash(request.body)}
        if body is not None:
            digests.add(_snap.body_hash(_snap.minify(body)))
        if not any(
            _snap.rsa_verify(self._bank_key, _snap.asymmetric_string(request.method, request.path, d, stamp), signature)
            for d in digests
        ):
            raise _wire.Malformed(401, 0, "Signature")
        moment = _snap.parse_timestamp(stamp)
        if moment is None:
            raise _wire.Malformed(400, 1, "X-TIMESTAMP")
        if abs((utcnow() - moment).total_seconds()) > self.settings.timestamp_tolerance:
            raise _wire.Malformed(401, 0, "Timestamp")

    @staticmethod
    def _reply_headers() -> dict[str, str]:
        return {"X-TIMESTAMP": _snap.timestamp()}

    # --- health ---

    async def _probe(self) -> str:
        """A fresh access token proves the link, the client id and the RSA key; no customer data is read."""
        await self._access_token(None, fresh=True)
        return "reachable; access token issued (client id and RSA key accepted)"

    # --- tokens and signed calls ---

    async def _access_token(self, budget: float | None, *, refused: str | None = None, fresh: bool = False) -> str:
        """A cached B2B token, renewed before it expires; ``refused`` is one the bank turned down."""
        async with self._token_lock:
            token = self._token
            # A concurrent call may have renewed it already: only fetch if the cached one is the refused one.
            if fresh or token is None or token.value == refused or time.monotonic() >= token.renew_at:
                self._token = token = await self._fetch_token(budget)
            return token.value

    async def _fetch_token(self, budget: float | None) -> _Token:
        stamp = _snap.timestamp()
        headers = {
            "Content-Type": "application/json",
            "X-TIMESTAMP": stamp,
            "X-CLIENT-KEY": self.settings.client_id,
            "X-SIGNATURE": _snap.rsa_sign(self._hub_key, _snap.token_string(self.settings.client_id, stamp)),
        }
        body = _snap.minify({"grantType": "client_credentials", "additionalInfo": {}})
        code, answer = await self._send(
            self._http.build_request("POST", _TOKEN_PATH, content=body.encode(), headers=headers), budget
        )
        if not code.ok:
            raise _wire.token_refusal(code, answer)
        value, expires_in = answer.get("accessToken"), str(answer.get("expiresIn", ""))
        if not isinstance(value, str) or not value or not expires_in.isdigit():
            raise _wire.garbled("a token answer without accessToken or a whole-second expiresIn")
        lifetime = float(expires_in)
        return _Token(value, time.monotonic() + lifetime - min(_RENEW_MARGIN, lifetime / 10))

    async def _transact(self, path: str, body: dict[str, Any], ctx: CallContext) -> tuple[_snap.ResponseCode, Any]:
        """A signed SNAP call; an Invalid Token refusal gets one retry with a fresh token.

        The retry is safe: the bank processed nothing it refused for the token.
        """
        budget = ctx.remaining()
        token = await self._access_token(budget)
        code, answer = await self._send(self._signed(path, body, token), ctx.remaining())
        if code.http == 401 and code.case == 1:
            token = await self._access_token(ctx.remaining(), refused=token)
            code, answer = await self._send(self._signed(path, body, token), ctx.remaining())
        return code, answer

    def _signed(self, path: str, body: dict[str, Any], token: str) -> httpx.Request:
        minified = _snap.minify(body)
        stamp = _snap.timestamp()
        request = self._http.build_request("POST", path, content=minified.encode())
        # The bank checks the path it received, so sign the one httpx will send (base_url prefix included).
        relative = request.url.raw_path.decode()
        string = _snap.symmetric_string("POST", relative, token, _snap.body_hash(minified), stamp)
        request.headers.update(
            {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "X-TIMESTAMP": stamp,
                "X-SIGNATURE": _snap.hmac_signature(self.settings.client_secret.get_secret_value(), string),
                "X-PARTNER-ID": self.settings.partner_id,
                "X-EXTERNAL-ID": self._ids.next(),
                "CHANNEL-ID": self.settings.channel_id,
            }
        )
        return request

    async def _send(self, request: httpx.Request, budget: float | None) -> tuple[_snap.ResponseCode, Any]:
        """Send one request and read its SNAP response code; an answer without one is an agency error."""
        response = await self._http.send(request, budget=budget)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        code = _snap.ResponseCode.parse(answer.get("responseCode")) if isinstance(answer, dict) else None
        if code is None:
            raise _wire.garbled(f"HTTP {response.status_code} without a SNAP responseCode")
        return code, answer
