"""Bank Indonesia's SNAP standard, the parts both the plugin and the sandbox speak.

See docs/agencies/bank.md for the wire format and its public sources.

Signatures, timestamps, minified-body hashing, amounts and response codes. Nothing here knows the
contract or a particular bank: it is the wire standard only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hub import WIB, utcnow

__all__ = [
    "CREATE_VA",
    "INQUIRY_VA",
    "PAYMENT",
    "TOKEN",
    "ResponseCode",
    "amount",
    "asymmetric_string",
    "body_hash",
    "hmac_signature",
    "load_private_key",
    "load_public_key",
    "minify",
    "pad_service_id",
    "parse_amount",
    "parse_timestamp",
    "reply",
    "rsa_sign",
    "rsa_verify",
    "symmetric_string",
    "timestamp",
    "token_string",
]

#: Service codes: the middle two digits of every responseCode.
TOKEN = 73
PAYMENT = 25
CREATE_VA = 27
INQUIRY_VA = 30


_MESSAGES: dict[tuple[int, int], str] = {
    (200, 0): "Successful",
    (400, 0): "Bad Request",
    (400, 1): "Invalid Field Format {{{detail}}}",
    (400, 2): "Invalid Mandatory Field {{{detail}}}",
    (401, 0): "Unauthorized. [{detail}]",
    (401, 1): "Invalid Token (B2B)",
    (404, 12): "Invalid Bill/Virtual Account [{detail}]",
    (404, 13): "Invalid Amount",
    (404, 14): "Paid Bill",
    (404, 19): "Invalid Bill/Virtual Account",
    (409, 0): "Conflict",
    (409, 1): "Duplicate partnerReferenceNo",
    (500, 0): "General Error",
}
_AMOUNT = re.compile(r"^\d{1,16}\.\d{2}$")


@dataclass(frozen=True, slots=True)
class ResponseCode:
    """A 7-character SNAP responseCode: HTTP status (3) + service code (2) + case code (2)."""

    http: int
    service: int
    case: int

    def __str__(self) -> str:
        return f"{self.http:03d}{self.service:02d}{self.case:02d}"

    @property
    def ok(self) -> bool:
        return 200 <= self.http < 300

    @classmethod
    def parse(cls, value: object) -> ResponseCode | None:
        # One official sample writes the code as a JSON number; a string is the norm.
        text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
        if len(text) != 7 or not text.isdigit():
            return None
        return cls(int(text[:3]), int(text[3:5]), int(text[5:]))


def reply(http: int, service: int, case: int, detail: str = "", **extra: Any) -> dict[str, Any]:
    """A SNAP answer body: ``responseCode``, the standard ``responseMessage`` and any extra fields."""
    message = _MESSAGES.get((http, case), "General Error").format(detail=detail)
    return {"responseCode": str(ResponseCode(http, service, case)), "responseMessage": message, **extra}


# --- time ----------------------------------------------------------------------------------------


def timestamp(now: dt.datetime | None = None) -> str:
    """``yyyy-MM-ddTHH:mm:ss+07:00``, the X-TIMESTAMP and expiredDate format (SNAP samples write Jakarta time)."""
    moment = (now or utcnow()).astimezone(WIB)
    return moment.strftime("%Y-%m-%dT%H:%M:%S+07:00")


def parse_timestamp(text: object) -> dt.datetime | None:
    """An ISO-8601 time with an offset, or None; banks vary milliseconds and offsets, so both are read."""
    if not isinstance(text, str) or "T" not in text:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


# --- bodies and amounts --------------------------------------------------------------------------


def minify(body: Any) -> str:
    """The body as SNAP hashes it.

    [I] The standard says "minify" without a rule: we keep the key order as sent and do not escape
    non-ASCII characters (``ensure_ascii=False``), which is what most public client code does.
    """
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def body_hash(minified: str | bytes) -> str:
    """Lower-case hex SHA-256 of the minified body (of the empty string when there is no body)."""
    data = minified.encode() if isinstance(minified, str) else minified
    return hashlib.sha256(data).hexdigest()


def amount(value: Decimal) -> dict[str, str]:
    """``{"value": "10000.00", "currency": "IDR"}``: a string with exactly two decimals, never a float."""
    return {"value": format(value.quantize(Decimal("0.01")), "f"), "currency": "IDR"}


def parse_amount(data: object) -> Decimal | None:
    """The rupiah in a SNAP amount object, or None when its value or currency breaks the 16,2 IDR format."""
    if not isinstance(data, dict) or data.get("currency") != "IDR":
        return None
    value = data.get("value")
    if not isinstance(value, str) or not _AMOUNT.match(value):
        return None
    return Decimal(value)


def pad_service_id(company_code: str) -> str:
    """partnerServiceId: the company code left-padded with spaces to 8 characters."""
    return company_code.rjust(8)


# --- signatures ----------------------------------------------------------------------------------


def token_string(client_id: str, stamp: str) -> str:
    """What the B2B access-token signature covers."""
    return f"{client_id}|{stamp}"


def symmetric_string(method: str, path: str, token: str, digest: str, stamp: str) -> str:
    """What a transaction's HMAC-SHA512 signature covers; ``path`` is the relative URL with its query."""
    return f"{method.upper()}:{path}:{token}:{digest}:{stamp}"


def asymmetric_string(method: str, path: str, digest: str, stamp: str) -> str:
    """What a tokenless SHA256withRSA signature covers (how banks sign their calls to a biller)."""
    return f"{method.upper()}:{path}:{digest}:{stamp}"


def hmac_signature(secret: str, string_to_sign: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha512).digest()).decode()


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """An RSA private key from PEM; ValueError (naming no key material) when it is not one."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):
        raise ValueError("not a PEM public key") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def rsa_sign(key: rsa.RSAPrivateKey, string_to_sign: str) -> str:
    """SHA256withRSA (PKCS#1 v1.5), base64."""
    return base64.b64encode(key.sign(string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def _signature_bytes(signature: str) -> list[bytes]:
    # Banks vary: the ASPI sandbox sends base64, an older sample 512 hex characters. Try both readings.
    readings = []
    text = signature.strip()
    with contextlib.suppress(ValueError):
        readings.append(bytes.fromhex(text))
    with contextlib.suppress(binascii.Error):
        readings.append(base64.b64decode(text, validate=True))
    return readings


def rsa_verify(key: rsa.RSAPublicKey, string_to_sign: str, signature: str) -> bool:
    for candidate in _signature_bytes(signature):
        try:
            key.verify(candidate, string_to_sign.encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            continue
        return True
    return False
