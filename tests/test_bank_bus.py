"""The bank end to end: HubClient -> real NATS -> hub worker -> plugin -> real HTTP -> SNAP sandbox,
and the sandbox's signed payment notifications into ``BankClient.on_payment`` through a real connector."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contracts import Bill, BillStatus, ErrorCode, HealthStatus, HubError, PaymentPaid
from hub import CallbackReply, HubClient, InboundRequest, load_plugins
from hub._bus_access import BusAccess
from hub._runtime import Hub
from plugins.bank import _keys, _snap
from plugins.bank.client import BankClient, BankSettings
from plugins.bank.plugin import _sandbox_settings
from plugins.bank.sandbox import PAYMENT_CALLBACK, SandboxConfig, create_app
from tests._servers import ThreadedServer, serving
from tests._until import until
from tests.conftest import Clock, connect_client, make_hub

#: The purpose of access these calls state: paying a tax bill.
PURPOSE = "pembayaran-pajak"

CALLBACK_PATH = "/callbacks/bank" + PAYMENT_CALLBACK


class Receiver:
    """A stand-in for the hub's HTTP edge: hands each notification to ``BankClient.on_payment``."""

    def __init__(self, connector: BankClient) -> None:
        self.connector = connector
        self.replies: list[CallbackReply] = []

    async def payment(self, request: Request) -> JSONResponse:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        inbound = InboundRequest(request.method, path, request.headers, await request.body())
        reply = await BankClient.on_payment(self.connector, inbound)
        self.replies.append(reply)
        return JSONResponse(reply.body, status_code=reply.status, headers=dict(reply.headers))

    def app(self) -> Starlette:
        return Starlette(routes=[Route(CALLBACK_PATH, self.payment, methods=["POST"])])


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def bank(clock: Clock) -> Iterator[ThreadedServer]:
    with serving(create_app(SandboxConfig(clock=clock))) as server:
        yield server


def _settings(server: ThreadedServer, **overrides: Any) -> dict[str, Any]:
    return {**_sandbox_settings(server.url), **overrides}


async def _start_hub(bus: BusAccess, settings: dict[str, Any]) -> Hub:
    hub = make_hub(load_plugins(only={"bank"}), bus, {"bank": settings})
    await hub.start()
    return hub


@pytest.fixture
async def client(bus: BusAccess, bank: ThreadedServer) -> AsyncIterator[HubClient]:
    hub = await _start_hub(bus, _settings(bank))
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            yield client
    finally:
        await hub.stop()


@pytest.fixture
async def connector(bank: ThreadedServer) -> AsyncIterator[BankClient]:
    connector = await BankClient.connect(BankSettings.model_validate(_sandbox_settings(bank.url)))
    yield connector
    await connector.aclose()


@pytest.fixture
def receiver(connector: BankClient) -> Iterator[tuple[Receiver, str]]:
    receiver = Receiver(connector)
    with serving(receiver.app()) as server:
        yield receiver, f"{server.url}/callbacks/bank"


def _bill_request(amount: str = "150000.55", **overrides: Any) -> dict[str, Any]:
    return {
        "reference": f"MPP-{uuid.uuid4().hex[:10].upper()}",
        "amount": amount,
        "customer_name": "Siti Aminah",
        "description": "PKB G 1234 AB 2026",
        "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat(),
        **overrides,
    }


async def _admin(server: ThreadedServer, method: str, path: str, body: Any = None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        answer: dict[str, Any] = (await http.request(method, path, json=body)).json()
    return answer


async def _stats(server: ThreadedServer) -> dict[str, Any]:
    return await _admin(server, "GET", "/_sandbox/stats")


async def _pay(server: ThreadedServer, account: str, **extra: Any) -> dict[str, Any]:
    return await _admin(server, "POST", "/_sandbox/pay", {"virtualAccountNo": account, **extra})


async def _create(client: HubClient, request: dict[str, Any]) -> Bill:
    bill = await client.call("payment.create_bill", request)
    assert isinstance(bill, Bill)
    return bill


async def _status(client: HubClient, account: str) -> Bill:
    bill = await client.call("payment.bill_status", {"virtual_account": account})
    assert isinstance(bill, Bill)
    return bill


# --- bills through the bus -----------------------------------------------------------------------


async def test_bill_is_created_paid_and_reported_to_the_sen(
    client: HubClient, bank: ThreadedServer, receiver: tuple[Receiver, str]
) -> None:
    """create_bill -> unpaid; the bank's payment (notified 3 times) -> one event id; bill_status -> paid, exact."""
    target, callback_base = receiver
    request = _bill_request()
    bill = await _create(client, request)
    assert bill.status is BillStatus.UNPAID and bill.amount == Decimal("150000.55") and bill.bank == "bank"
    assert bill.virtual_account.startswith("88123") and bill.virtual_account.isdigit()
    assert bill.reference == request["reference"] and bill.description == request["description"]
    assert (await _status(client, bill.virtual_account)).status is BillStatus.UNPAID

    paid = await _pay(bank, bill.virtual_account, times=3, amount="150000.55", callbackBaseUrl=callback_base)
    assert paid["responseCode"] == "2002500"
    assert [d["status"] for d in paid["deliveries"]] == [200, 200, 200]
    assert [d["flagAdvise"] for d in paid["deliveries"]] == ["N", "Y", "Y"]
    assert all(d["body"]["responseCode"] == "2002500" for d in paid["deliveries"])
    assert paid["deliveries"][0]["body"]["virtualAccountData"]["paymentFlagStatus"] == "00"
    events = [event for reply in target.replies for event in reply.events]
    assert len(events) == 3 and {e.dedup_id for e in events} == {f"bank:{paid['paymentRequestId']}"}
    event = events[0].payload
    assert isinstance(event, PaymentPaid) and events[0].name == "payment.paid"
    assert event.amount == Decimal("150000.55") and event.reference == request["reference"]
    assert event.virtual_account == bill.virtual_account

    status = await _status(client, bill.virtual_account)
    assert status.status is BillStatus.PAID and status.paid_amount == Decimal("150000.55")
    assert status.payment_reference == paid["paymentRequestId"] == event.payment_reference
    assert status.paid_at == event.paid_at


async def test_same_reference_same_amount_is_the_same_bill(client: HubClient, bank: ThreadedServer) -> None:
    """Asking again with the same reference and amount returns the same virtual account."""
    request = _bill_request(amount="25000")
    first = await _create(client, request)
    before = await _stats(bank)
    again = await _create(client, request)
    assert (await _stats(bank))["requests"] == before["requests"] + 2  # create-va refused 409-01, then inquiry-va
    assert (await _stats(bank))["bills"] == before["bills"]
    assert again.virtual_account == first.virtual_account and again.amount == Decimal("25000.00")
    assert again.reference == first.reference and again.status is BillStatus.UNPAID


async def test_same_reference_other_amount_is_a_conflict(client: HubClient) -> None:
    """The same reference with a different amount is a conflict, not a second bill."""
    request = _bill_request(amount="25000.00")
    await _create(client, request)
    with pytest.raises(HubError) as caught:
        await _create(client, {**request, "amount": "25000.01"})
    assert caught.value.code is ErrorCode.CONFLICT and "new reference" in caught.value.error.message


async def test_seeded_sample_bill_is_unpaid(client: HubClient) -> None:
    """The sandbox's sample accounts answer bill_status as unpaid bills."""
    from plugins.bank.plugin import _samples

    account = _samples()["virtual_account"][0]
    bill = await _status(client, account)
    assert bill.status is BillStatus.UNPAID and bill.virtual_account == account and bill.amount > 0


async def test_expired_bill_is_reported_and_cannot_be_paid(
    client: HubClient, bank: ThreadedServer, clock: Clock
) -> None:
    """After its expiry on the bank's clock a bill reads expired, and the bank refuses to take payment for it."""
    bill = await _create(client, _bill_request(expires_at=(clock.now + dt.timedelta(hours=1)).isoformat()))
    clock.now += dt.timedelta(hours=2)
    assert (await _status(client, bill.virtual_account)).status is BillStatus.EXPIRED
    assert (await _pay(bank, bill.virtual_account, callbackBaseUrl="http://127.0.0.1:9"))["responseCode"] == "4042519"


async def test_unknown_accounts_are_not_found(client: HubClient) -> None:
    """An account the bank never issued, or one under another company code, is not_found."""
    for account in ("881230000000000000001", "9912345678901234"):
        with pytest.raises(HubError) as caught:
            await _status(client, account)
        assert caught.value.code is ErrorCode.NOT_FOUND and not caught.value.error.retryable


async def test_past_expiry_is_invalid_input(client: HubClient) -> None:
    """A bill that would expire before it is issued is refused by the bank as expires_at, the caller's to fix."""
    with pytest.raises(HubError) as caught:
        await _create(client, _bill_request(expires_at="2020-01-01T00:00:00+07:00"))
    assert caught.value.code is ErrorCode.INVALID_INPUT
    assert [issue.field for issue in caught.value.error.issues] == ["expires_at"]


# --- tokens --------------------------------------------------------------------------------------


async def test_token_is_reused_then_renewed_after_expiry(bus: BusAccess) -> None:
    """The plugin reuses its token while it lives and fetches a new one once it has expired."""
    with serving(create_app(SandboxConfig(token_ttl=1))) as server:
        hub = await _start_hub(bus, _settings(server))
        try:
            async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
                bill = await _create(client, _bill_request())
                await _status(client, bill.virtual_account)
                assert (await _stats(server))["tokens_issued"] == 1

                async def renewed() -> bool:  # calls reuse the token until it expires (1 s), then renew it once
                    assert (await _status(client, bill.virtual_account)).status is BillStatus.UNPAID
                    issued = (await _stats(server))["tokens_issued"]
                    assert issued <= 2, issued
                    return bool(issued == 2)

                await until(renewed, "the plugin to renew its expired token", timeout=10)
        finally:
            await hub.stop()


async def test_revoked_token_is_renewed_once_and_the_call_retried(client: HubClient, bank: ThreadedServer) -> None:
    """On 4012701 Invalid Token the plugin fetches a new token and repeats the call, once, transparently."""
    bill = await _create(client, _bill_request())
    before = await _stats(bank)
    await _admin(bank, "POST", "/_sandbox/revoke-tokens")
    assert (await _status(client, bill.virtual_account)).status is BillStatus.UNPAID
    after = await _stats(bank)
    assert after["tokens_issued"] == before["tokens_issued"] + 1
    assert after["requests"] == before["requests"] + 3  # refused inquiry, token, retried inquiry


# --- the hub's own misconfiguration --------------------------------------------------------------


async def test_wrong_client_secret_is_an_agency_error_naming_the_setting(bus: BusAccess, bank: ThreadedServer) -> None:
    """A wrong client secret gives agency_error naming client_secret, without the secret."""
    secret = "Wr0ng-Client-Secret-42"
    hub = await _start_hub(bus, _settings(bank, client_secret=secret))
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            with pytest.raises(HubError) as caught:
                await _create(client, _bill_request())
    finally:
        await hub.stop()
    assert caught.value.code is ErrorCode.AGENCY_ERROR and "client_secret" in caught.value.error.message
    assert secret not in caught.value.error.message


async def test_unregistered_rsa_key_is_an_agency_error_and_health_is_down(bus: BusAccess, bank: ThreadedServer) -> None:
    """A private key the bank does not know fails the token (agency_error naming private_key_pem); health is down."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    hub = await _start_hub(bus, _settings(bank, private_key_pem=_keys.private_pem(stranger)))
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            with pytest.raises(HubError) as caught:
                await _status(client, "881230000000000000001")
            health = await client.health("bank")
    finally:
        await hub.stop()
    assert caught.value.code is ErrorCode.AGENCY_ERROR and "private_key_pem" in caught.value.error.message
    assert "BEGIN" not in caught.value.error.message
    assert health.status is HealthStatus.DOWN


async def test_health_is_up_through_a_token(client: HubClient, bank: ThreadedServer) -> None:
    """Health asks for a token only (no customer data) and reports the link up."""
    before = await _stats(bank)
    health = await client.health("bank")
    assert health.status is HealthStatus.UP and "token" in health.detail
    assert (await _stats(bank))["requests"] == before["requests"] + 1


async def test_stopped_bank_is_agency_unavailable(bus: BusAccess) -> None:
    """When the bank cannot be reached the caller gets a retryable agency_unavailable."""
    with serving(create_app()) as server:
        settings = _settings(server)
    hub = await _start_hub(bus, settings)
    try:
        async with await connect_client(bus, timeout=5, purpose=PURPOSE) as client:
            with pytest.raises(HubError) as caught:
                await _create(client, _bill_request())
    finally:
        await hub.stop()
    assert caught.value.code is ErrorCode.AGENCY_UNAVAILABLE and caught.value.error.retryable


async def test_duplicate_external_id_reaches_the_caller_as_a_retryable_agency_error(
    bus: BusAccess, bank: ThreadedServer
) -> None:
    """A worker that reused an X-EXTERNAL-ID the same day gets the bank's 409-00 as a retryable agency_error."""
    hub = await _start_hub(bus, _settings(bank))
    try:
        connector = hub.services["bank"].connector
        assert isinstance(connector, BankClient)
        connector._ids.next = lambda: "20261122000000000001"  # type: ignore[method-assign]  # a broken id source
        async with await connect_client(bus, timeout=10, purpose=PURPOSE) as client:
            await _create(client, _bill_request(reference="DUP-ID-1"))
            with pytest.raises(HubError) as caught:
                await _create(client, _bill_request(reference="DUP-ID-2"))
    finally:
        await hub.stop()
    assert caught.value.code is ErrorCode.AGENCY_ERROR and caught.value.error.retryable
    assert "X-EXTERNAL-ID" in caught.value.error.message


# --- on_payment: what a forged or broken notification gets ---------------------------------------


def _notification(account: str = "   881230000000000000042", **changes: Any) -> dict[str, Any]:
    body = {
        "partnerServiceId": "   88123",
        "customerNo": account.strip()[5:],
        "virtualAccountNo": account,
        "paymentRequestId": "PAY-1",
        "paidAmount": {"value": "10000.01", "currency": "IDR"},
        "trxDateTime": "2025-01-02T03:04:05+07:00",
        "trxId": "MPP-TEST",
        "flagAdvise": "N",
    }
    return {**body, **changes}


def _inbound(body: dict[str, Any], *, key: rsa.RSAPrivateKey | None = None, stamp: str | None = None) -> InboundRequest:
    raw = _snap.minify(body).encode()
    stamp = stamp or _snap.timestamp()
    string = _snap.asymmetric_string("POST", CALLBACK_PATH, _snap.body_hash(raw), stamp)
    headers = {"X-TIMESTAMP": stamp, "X-SIGNATURE": _snap.rsa_sign(key or _keys.bank_key(), string)}
    return InboundRequest("POST", CALLBACK_PATH, headers, raw)


async def test_signed_notification_is_acknowledged_with_one_event(connector: BankClient) -> None:
    """A well-signed notification gets 2002500 with paymentFlagStatus 00 and one payment.paid event."""
    reply = await connector.on_payment(_inbound(_notification()))
    assert reply.status == 200 and reply.body["responseCode"] == "2002500"
    assert reply.body["virtualAccountData"]["paymentFlagReason"] == {"english": "Success", "indonesia": "Sukses"}
    [event] = reply.events
    assert event.dedup_id == "bank:PAY-1" and isinstance(event.payload, PaymentPaid)
    assert event.payload.amount == Decimal("10000.01") and event.payload.virtual_account == "881230000000000000042"


async def test_tampered_notifications_are_unauthorized_without_events(connector: BankClient) -> None:
    """A changed body, a foreign signature or a stale timestamp gets 401 4012500 and no event."""
    good = _inbound(_notification())
    tampered = InboundRequest("POST", CALLBACK_PATH, good.headers, good.body.replace(b"10000.01", b"99999.01"))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stale = _snap.timestamp(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    other_path = InboundRequest("POST", "/callbacks/bank/elsewhere", good.headers, good.body)
    cases = [
        (tampered, "Unauthorized. [Signature]"),
        (_inbound(_notification(), key=stranger), "Unauthorized. [Signature]"),
        (other_path, "Unauthorized. [Signature]"),
        (_inbound(_notification(), stamp=stale), "Unauthorized. [Timestamp]"),
    ]
    for inbound, message in cases:
        reply = await connector.on_payment(inbound)
        assert (reply.status, reply.body["responseCode"], reply.body["responseMessage"]) == (401, "4012500", message)
        assert not reply.events


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (_notification(paymentRequestId=None), "4002502", "Invalid Mandatory Field {paymentRequestId}"),
        (_notification(paidAmount={"value": 10000.01, "currency": "IDR"}), "4002501",
         "Invalid Field Format {paidAmount.value}"),
        (_notification(virtualAccountNo="   8812300"), "4002501", "Invalid Field Format {virtualAccountNo}"),
        (_notification(trxDateTime="kemarin"), "4002501", "Invalid Field Format {trxDateTime}"),
        ([1, 2, 3], "4002501", "Invalid Field Format {body}"),
    ],
)  # fmt: skip
async def test_malformed_notification_names_the_field(
    connector: BankClient, body: Any, code: str, message: str
) -> None:
    """A correctly signed but malformed notification gets 400 naming the SNAP field, and no event."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    stamp = _snap.timestamp()
    string = _snap.asymmetric_string("POST", CALLBACK_PATH, _snap.body_hash(raw), stamp)
    headers = {"x-timestamp": stamp, "x-signature": _snap.rsa_sign(_keys.bank_key(), string)}
    reply = await connector.on_payment(InboundRequest("POST", CALLBACK_PATH, headers, raw))
    assert (reply.status, reply.body["responseCode"], reply.body["responseMessage"]) == (400, code, message)
    assert not reply.events


async def test_notification_without_signature_header_is_refused(connector: BankClient) -> None:
    """A notification without X-SIGNATURE gets 400 4002502 and no event; garbage bytes never raise."""
    reply = await connector.on_payment(InboundRequest("POST", CALLBACK_PATH, {"X-TIMESTAMP": _snap.timestamp()}, b"{}"))
    assert (reply.status, reply.body["responseCode"]) == (400, "4002502") and not reply.events
    garbage = InboundRequest("POST", CALLBACK_PATH, {"X-TIMESTAMP": "x", "X-SIGNATURE": "y"}, b"\xff\xfe not json")
    assert (await connector.on_payment(garbage)).status == 401
