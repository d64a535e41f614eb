"""The bank sandbox over real HTTP (SNAP BI refusals), and SNAP signatures against self-made vectors."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from plugins.bank import _data, _keys, _snap
from plugins.bank.sandbox import SandboxConfig, create_app
from tests._servers import serving
from tests.conftest import Clock

CONFIG = SandboxConfig()
TOKEN = "/v1.0/access-token/b2b"
CREATE = "/v1.0/transfer-va/create-va"
INQUIRY = "/v1.0/transfer-va/inquiry-va"
SERVICE_ID = "   88123"
_ids = itertools.count(1)


@contextmanager
def _serve(config: SandboxConfig = CONFIG) -> Iterator[httpx.Client]:
    with serving(create_app(config)) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def bank() -> Iterator[httpx.Client]:
    """The default sandbox bank on a real socket, shared by this module."""
    with _serve() as client:
        yield client


def _external_id() -> str:
    return f"{dt.datetime.now(dt.UTC):%H%M%S%f}{next(_ids):06d}"


def _token_request(
    client: httpx.Client, *, key: rsa.RSAPrivateKey | None = None, stamp: str | None = None, hex_signature: bool = False
) -> httpx.Response:
    stamp = stamp or _snap.timestamp()
    signature = _snap.rsa_sign(key or _keys.hub_key(), f"{CONFIG.client_id}|{stamp}")
    if hex_signature:
        signature = base64.b64decode(signature).hex()
    headers = {"X-TIMESTAMP": stamp, "X-CLIENT-KEY": CONFIG.client_id, "X-SIGNATURE": signature}
    return client.post(TOKEN, json={"grantType": "client_credentials", "additionalInfo": {}}, headers=headers)


def _token(client: httpx.Client) -> str:
    token: str = _token_request(client).json()["accessToken"]
    return token


def _call(
    client: httpx.Client,
    path: str,
    body: dict[str, Any],
    token: str,
    *,
    secret: str = CONFIG.client_secret,
    stamp: str | None = None,
    external_id: str | None = None,
    drop: str | None = None,
) -> httpx.Response:
    """A transaction signed as SNAP prescribes, computed here independently of the plugin."""
    stamp = stamp or _snap.timestamp()
    minified = _snap.minify(body)
    digest = hashlib.sha256(minified.encode()).hexdigest()
    string = f"POST:{path}:{token}:{digest}:{stamp}"
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {token}",
        "X-TIMESTAMP": stamp,
        "X-SIGNATURE": base64.b64encode(hmac.new(secret.encode(), string.encode(), hashlib.sha512).digest()).decode(),
        "X-PARTNER-ID": CONFIG.partner_id,
        "X-EXTERNAL-ID": external_id or _external_id(),
        "CHANNEL-ID": CONFIG.channel_id,
    }
    headers.pop(drop or "", None)
    return client.post(path, content=minified.encode(), headers=headers)


def _new_bill(
    customer_no: str, trx_id: str, value: str = "150000.55", expires: dt.datetime | None = None
) -> dict[str, Any]:
    expires = expires or dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    return {
        "partnerServiceId": SERVICE_ID,
        "customerNo": customer_no,
        "virtualAccountNo": SERVICE_ID + customer_no,
        "virtualAccountName": "SITI AMINAH",
        "trxId": trx_id,
        "totalAmount": {"value": value, "currency": "IDR"},
        "virtualAccountTrxType": "C",
        "expiredDate": _snap.timestamp(expires),
    }


def _inquiry(customer_no: str) -> dict[str, str]:
    return {"partnerServiceId": SERVICE_ID, "customerNo": customer_no, "virtualAccountNo": SERVICE_ID + customer_no}


def _refusal(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["responseCode"], body["responseMessage"]


# --- SNAP signatures against self-made vectors ---------------------------------------------------


def test_hmac_signature_matches_an_independent_computation() -> None:
    """The symmetric signature is base64 HMAC-SHA512 over METHOD:path:token:bodyhash:timestamp."""
    body = {"partnerServiceId": SERVICE_ID, "customerNo": "0001", "virtualAccountName": "Dwi Hartono"}
    digest = hashlib.sha256(b'{"partnerServiceId":"   88123","customerNo":"0001","virtualAccountName":"Dwi Hartono"}')
    assert _snap.body_hash(_snap.minify(body)) == digest.hexdigest()
    string = f"POST:/v1.0/transfer-va/inquiry-va:tok-123:{digest.hexdigest()}:2025-01-02T03:04:05+07:00"
    assert _snap.symmetric_string("post", INQUIRY, "tok-123", digest.hexdigest(), "2025-01-02T03:04:05+07:00") == string
    expected = base64.b64encode(hmac.new(b"k3y", string.encode(), hashlib.sha512).digest()).decode()
    assert _snap.hmac_signature("k3y", string) == expected


def test_minify_keeps_key_order_and_unicode() -> None:
    """Minifying keeps the keys in the order sent and leaves non-ASCII characters unescaped."""
    assert _snap.minify({"b": 1, "a": {"x": "Ngémplak"}}) == '{"b":1,"a":{"x":"Ngémplak"}}'
    assert _snap.body_hash("") == hashlib.sha256(b"").hexdigest()


def test_rsa_signature_round_trip_in_base64_and_hex() -> None:
    """SHA256withRSA verifies in base64 and in hex, and fails for another string or another key."""
    key = _keys.bank_key()
    signature = _snap.rsa_sign(key, "POST:/x:abc:2025-01-02T03:04:05+07:00")
    assert _snap.rsa_verify(key.public_key(), "POST:/x:abc:2025-01-02T03:04:05+07:00", signature)
    assert _snap.rsa_verify(
        key.public_key(), "POST:/x:abc:2025-01-02T03:04:05+07:00", base64.b64decode(signature).hex()
    )
    assert not _snap.rsa_verify(key.public_key(), "POST:/x:abd:2025-01-02T03:04:05+07:00", signature)
    assert not _snap.rsa_verify(_keys.hub_key().public_key(), "POST:/x:abc:2025-01-02T03:04:05+07:00", signature)
    assert not _snap.rsa_verify(key.public_key(), "anything", "not a signature!")


def test_amounts_keep_every_sen_and_refuse_floats() -> None:
    """Amounts are strings with exactly two decimals; a float or a third decimal is refused."""
    assert _snap.amount(Decimal("10000")) == {"value": "10000.00", "currency": "IDR"}
    assert _snap.parse_amount({"value": "9999999999999999.99", "currency": "IDR"}) == Decimal("9999999999999999.99")
    assert _snap.parse_amount({"value": 10000.0, "currency": "IDR"}) is None
    assert _snap.parse_amount({"value": "10000.001", "currency": "IDR"}) is None
    assert _snap.parse_amount({"value": "10000.00", "currency": "USD"}) is None


def test_timestamps_are_jakarta_time() -> None:
    """X-TIMESTAMP is written yyyy-MM-ddTHH:mm:ss+07:00 and read back to the same instant."""
    moment = dt.datetime(2025, 1, 1, 20, 30, 15, tzinfo=dt.UTC)
    assert _snap.timestamp(moment) == "2025-01-02T03:30:15+07:00"
    assert _snap.parse_timestamp("2025-01-02T03:30:15+07:00") == moment
    assert _snap.parse_timestamp("2025-01-02T03:30:15") is None


# --- the access token ----------------------------------------------------------------------------


def test_token_is_issued_for_a_good_signature(bank: httpx.Client) -> None:
    """A correctly signed token request gets 2007300, a Bearer token and expiresIn as a string; hex works too."""
    response = _token_request(bank)
    body = response.json()
    assert response.status_code == 200 and body["responseCode"] == "2007300"
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == "900" and body["accessToken"]
    assert response.headers["X-TIMESTAMP"].endswith("+07:00")
    assert _token_request(bank, hex_signature=True).json()["responseCode"] == "2007300"


def test_token_signed_with_another_key_is_unauthorized(bank: httpx.Client) -> None:
    """A token request signed with a key the bank does not hold gets 401 4017300 [Signature]."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _refusal(_token_request(bank, key=stranger)) == (401, "4017300", "Unauthorized. [Signature]")


def test_token_without_timestamp_names_the_field(bank: httpx.Client) -> None:
    """A token request without X-TIMESTAMP gets 400 4007302 naming the header."""
    response = bank.post(TOKEN, json={"grantType": "client_credentials"}, headers={"X-CLIENT-KEY": CONFIG.client_id})
    assert _refusal(response) == (400, "4007302", "Invalid Mandatory Field {X-TIMESTAMP}")


def test_stale_timestamps_are_unauthorized(bank: httpx.Client) -> None:
    """A timestamp ten minutes old is refused for a token and for a transaction."""
    old = _snap.timestamp(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    assert _refusal(_token_request(bank, stamp=old)) == (401, "4017300", "Unauthorized. [Timestamp]")
    response = _call(bank, INQUIRY, _inquiry("1"), _token(bank), stamp=old)
    assert _refusal(response) == (401, "4013000", "Unauthorized. [Timestamp]")


def test_expired_token_is_invalid() -> None:
    """A token used after its lifetime gets 401 4012701 Invalid Token (B2B)."""
    with _serve(SandboxConfig(token_ttl=0)) as bank:
        response = _call(bank, CREATE, _new_bill("7000000001", "T-EXPIRED"), _token(bank))
    assert _refusal(response) == (401, "4012701", "Invalid Token (B2B)")


# --- transactions --------------------------------------------------------------------------------


def test_wrong_client_secret_is_unauthorized(bank: httpx.Client) -> None:
    """An HMAC keyed with another secret gets 401 4012700 [Signature]."""
    response = _call(bank, CREATE, _new_bill("7000000002", "T-SECRET"), _token(bank), secret="not-the-secret")
    assert _refusal(response) == (401, "4012700", "Unauthorized. [Signature]")


@pytest.mark.parametrize("header", ["X-EXTERNAL-ID", "CHANNEL-ID", "X-SIGNATURE", "Authorization"])
def test_missing_header_names_it(bank: httpx.Client, header: str) -> None:
    """A transaction without a mandatory header gets 400 4002702 naming it."""
    response = _call(bank, CREATE, _new_bill("7000000003", "T-HEADER"), _token(bank), drop=header)
    assert _refusal(response) == (400, "4002702", f"Invalid Mandatory Field {{{header}}}")


def test_same_external_id_twice_a_day_is_a_conflict(bank: httpx.Client) -> None:
    """Reusing an X-EXTERNAL-ID the same day gets 409 4093000, even for a harmless inquiry."""
    token, external_id = _token(bank), _external_id()
    first = _call(bank, INQUIRY, _inquiry(_data.seed_bills()[0].customer_no), token, external_id=external_id)
    assert first.json()["responseCode"] == "2003000"
    again = _call(bank, INQUIRY, _inquiry(_data.seed_bills()[0].customer_no), token, external_id=external_id)
    assert _refusal(again) == (409, "4093000", "Conflict")


def test_unknown_virtual_account_is_invalid_bill(bank: httpx.Client) -> None:
    """An inquiry for an account the bank never issued gets 404 4043012."""
    response = _call(bank, INQUIRY, _inquiry("99999999999"), _token(bank))
    assert _refusal(response) == (404, "4043012", "Invalid Bill/Virtual Account [Not Found]")


def test_create_then_inquire_keeps_the_amount_to_the_sen(bank: httpx.Client) -> None:
    """A created bill is inquirable, unpaid, with its amount exactly as sent; its trxId cannot be reused."""
    token = _token(bank)
    created = _call(bank, CREATE, _new_bill("7000000004", "T-SEN"), token)
    assert created.status_code == 200 and created.json()["responseCode"] == "2002700"
    data = _call(bank, INQUIRY, {**_inquiry("7000000004"), "trxId": "T-SEN"}, token).json()["virtualAccountData"]
    assert data["totalAmount"] == {"value": "150000.55", "currency": "IDR"}
    assert data["virtualAccountNo"] == SERVICE_ID + "7000000004" and data["additionalInfo"]["status"] == "UNPAID"
    again = _call(bank, CREATE, _new_bill("7000000005", "T-SEN"), token)
    assert _refusal(again) == (409, "4092701", "Duplicate partnerReferenceNo")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"totalAmount": {"value": 150000.55, "currency": "IDR"}}, "totalAmount.value"),
        ({"partnerServiceId": "   99999", "virtualAccountNo": "   999997000000006"}, "partnerServiceId"),
        ({"virtualAccountNo": SERVICE_ID + "123"}, "virtualAccountNo"),
        ({"expiredDate": "2020-01-01T00:00:00+07:00"}, "expiredDate"),
    ],
)
def test_bad_create_fields_are_named(bank: httpx.Client, change: dict[str, Any], field: str) -> None:
    """A float amount, another company code, an inconsistent account or a past expiry get 4002701 naming it."""
    response = _call(bank, CREATE, {**_new_bill("7000000006", "T-FIELD"), **change}, _token(bank))
    assert _refusal(response) == (400, "4002701", f"Invalid Field Format {{{field}}}")


def test_seeded_bills_are_unpaid_and_inquirable(bank: httpx.Client) -> None:
    """The seeded bills of sample residents are there from the start, unpaid, under the sample account numbers."""
    token = _token(bank)
    for account, seed in zip(_data.virtual_accounts(), _data.seed_bills(), strict=True):
        data = _call(bank, INQUIRY, _inquiry(seed.customer_no), token).json()["virtualAccountData"]
        assert data["virtualAccountNo"].replace(" ", "") == account
        assert data["trxId"] == seed.reference and data["additionalInfo"]["status"] == "UNPAID"


# --- payments and admin --------------------------------------------------------------------------


def test_paying_refuses_unknown_paid_expired_and_wrong_amounts() -> None:
    """The simulated payment refuses an unknown (404-12), paid (404-14) or expired (404-19) bill, or a wrong amount."""
    clock = Clock()
    with _serve(SandboxConfig(clock=clock, callback_base_url="http://127.0.0.1:9/callbacks/bank")) as bank:
        token = _token(bank)
        _call(bank, CREATE, _new_bill("7100000001", "T-PAY-1", expires=clock.now + dt.timedelta(hours=1)), token)
        _call(bank, CREATE, _new_bill("7100000002", "T-PAY-2", expires=clock.now + dt.timedelta(hours=1)), token)
        unknown = bank.post("/_sandbox/pay", json={"virtualAccountNo": "881239"})
        assert _refusal(unknown) == (404, "4042512", "Invalid Bill/Virtual Account [Not Found]")
        wrong = bank.post("/_sandbox/pay", json={"virtualAccountNo": "881237100000001", "amount": "150000.54"})
        assert _refusal(wrong) == (404, "4042513", "Invalid Amount")
        paid = bank.post("/_sandbox/pay", json={"virtualAccountNo": "881237100000001", "amount": "150000.55"})
        assert paid.json()["responseCode"] == "2002500"
        assert paid.json()["deliveries"][0]["error"]  # nobody listens on port 9: the bill is paid regardless
        again = bank.post("/_sandbox/pay", json={"virtualAccountNo": "881237100000001"})
        assert _refusal(again) == (404, "4042514", "Paid Bill")
        clock.now += dt.timedelta(hours=2)
        expired = bank.post("/_sandbox/pay", json={"virtualAccountNo": "   881237100000002"})
        assert _refusal(expired) == (404, "4042519", "Invalid Bill/Virtual Account")
        status = _call(bank, INQUIRY, _inquiry("7100000002"), _token(bank)).json()["virtualAccountData"]
        assert status["additionalInfo"]["status"] == "EXPIRED"


def test_stats_count_refused_requests_and_reset_restores_the_seed() -> None:
    """Stats count every agency request, refused ones included; reset forgets them and the bills made since."""
    with _serve() as bank:
        _token_request(bank, stamp="yesterday")
        _call(bank, CREATE, _new_bill("7200000001", "T-STATS"), _token(bank))
        stats = bank.get("/_sandbox/stats").json()
        references = stats.pop("bill_references")
        assert stats == {"requests": 3, "tokens_issued": 1, "notifications_sent": 0, "bills": 6}
        assert references.count("T-STATS") == 1
        reset = bank.post("/_sandbox/reset").json()
        assert "T-STATS" not in reset.pop("bill_references")
        assert reset == {"requests": 0, "tokens_issued": 0, "notifications_sent": 0, "bills": 5}
