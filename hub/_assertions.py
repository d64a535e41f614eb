"""Caller assertions: what travels on the bus instead of a consumer's API key.

The edge (or `mpp-hub call`, or a worker running a process step) checks who calls, then signs a short
statement of it with its role's Ed25519 key: which consumer, which operation, the SHA-256 of the exact request
body, the keyed hash of the data subject, the purpose, the correlation id, an expiry no later than the
caller's deadline, and a unique id; where the call has them, the channel, the officer at the desk, the consent
reference and the reply fields the consumer's rights release (the worker records them). The worker that serves
the request checks the signature against the issuer's public key, every binding, the expiry, and then spends
the id in a bucket every worker shares, so an assertion captured on the bus is useless for another operation,
another citizen, after its deadline, or a second time.

Ed25519 comes from libsodium (PyNaCl): measured here, its verify takes half the time of OpenSSL's through
``cryptography``, and a verify is on the path of every call. The framing is JWS compact without a header
(one fixed algorithm, so there is no algorithm to confuse): ``base64url(claims) "." base64url(signature)``,
signed with a domain prefix so that no other use of the key can produce a valid assertion.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

import orjson
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from contracts import ErrorCode, HubError

__all__ = [
    "ASSERTION_HEADER",
    "MAX_LIFETIME",
    "NOTHING_STATED",
    "SITE_ISSUER_PREFIX",
    "AssertionLedger",
    "Claims",
    "Issuer",
    "Statement",
    "Verifier",
    "body_hash",
    "site_subject_key",
    "subject_key",
]

ASSERTION_HEADER = "Mpp-Assertion"
#: No assertion lives longer than this, whatever the deadline; the ledger keeps spent ids a little longer.
MAX_LIFETIME = 60.0
#: Clock difference tolerated between the machine that signs and the one that checks.
CLOCK_LEEWAY = 1.0
_DOMAIN = b"mpp-hub caller assertion v1\n"
_MAX_TOKEN = 4096


def body_hash(body: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()


def subject_key(audit_key: bytes) -> bytes:
    """The key of data-subject hashes in assertions, derived from the hub's audit key."""
    return hmac.new(audit_key, b"mpp-hub assertion subjects", hashlib.sha256).digest()


#: How a site's assertions name their issuer: ``site.<name>``.
SITE_ISSUER_PREFIX = "site."


def site_subject_key(subjects: bytes, site: str) -> bytes:
    """A site's own key of data-subject hashes, derived from the hub's: a site never holds the hub's."""
    return hmac.new(subjects, f"site {site}".encode(), hashlib.sha256).digest()


def _subject_hash(key: bytes, subject: str | None) -> str | None:
    return None if subject is None else hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Claims:
    """What an assertion says (the field names are its wire names)."""

    iss: str  # the signing role
    con: str  # the consumer, or process-<service>
    op: str
    bdy: str  # body_hash of the request
    cid: str
    iat: float
    exp: float
    jti: str
    pur: str | None = None
    dsub: str | None = None  # keyed hash of the data subject (a NIK, a card or account number)
    app: str | None = None  # the application a process step acts for
    ch: str | None = None  # the channel: desk, portal, kiosk, mobile
    ofc: str | None = None  # the officer serving the citizen, where there is one
    cns: str | None = None  # the reference of the data subject's consent, where there is one
    fld: tuple[str, ...] | None = None  # the reply fields the consumer may receive; None: all


@dataclass(frozen=True, slots=True)
class Statement:
    """What a caller states about one call, beyond who calls what: signed into its assertion, kept in the audit.

    ``data_subject`` is the identifier the call is about (a NIK, a card or account number), in clear here;
    the assertion carries only its keyed hash.
    """

    purpose: str | None = None
    data_subject: str | None = None
    application: str | None = None  # the application a process step acts for
    channel: str | None = None
    officer: str | None = None
    consent: str | None = None
    fields: tuple[str, ...] | None = None  # the reply fields the consumer's rights release; None: all


#: A call that states nothing beyond who calls what.
NOTHING_STATED = Statement()


_CLAIMS = tuple(field.name for field in fields(Claims))


def _wire(claims: Claims) -> bytes:
    # Absent claims are left out: an assertion without the newer ones reads the same to a worker that predates them.
    return orjson.dumps({name: value for name in _CLAIMS if (value := getattr(claims, name)) is not None})


def _claims(fields: object) -> Claims:
    if not isinstance(fields, dict):
        raise ValueError("claims are not an object")
    claims = Claims(**fields)
    released = claims.fld
    if released is not None:
        if not isinstance(released, list) or not all(isinstance(name, str) for name in released):
            raise ValueError("fld is not a list of field names")
        claims = replace(claims, fld=tuple(released))
    return claims


class Issuer:
    """Signs assertions as one role."""

    def __init__(self, role: str, key: SigningKey, subjects: bytes) -> None:
        self.role = role
        self._key = key
        self._subjects = subjects

    def sign(
        self,
        *,
        consumer: str,
        operation: str,
        body: bytes,
        correlation_id: str,
        budget: float,
        statement: Statement = NOTHING_STATED,
    ) -> str:
        now = time.time()
        claims = Claims(
            iss=self.role, con=consumer, op=operation, bdy=body_hash(body), cid=correlation_id, iat=round(now, 3),
            exp=round(now + min(max(budget, 0.0), MAX_LIFETIME), 3), jti=uuid.uuid4().hex, pur=statement.purpose,
            dsub=_subject_hash(self._subjects, statement.data_subject), app=statement.application,
            ch=statement.channel, ofc=statement.officer, cns=statement.consent, fld=statement.fields,
        )  # fmt: skip
        payload = _b64(_wire(claims))
        signature = self._key.sign(_DOMAIN + payload.encode()).signature
        return f"{payload}.{_b64(signature)}"


def _refused(why: str) -> HubError:
    return HubError.of(
        ErrorCode.UNAUTHORIZED,
        f"The request's caller assertion {why}; call through the portal API or `mpp-hub call`, which sign a fresh "
        "one for every request",
    )


class Verifier:
    """Checks assertions against the public keys of the roles trusted to issue them.

    ``sites`` maps each site's issuer (``site.<name>``) to its key and the consumers it may assert for: a site's
    key vouches for its own consumers only, and hashes data subjects with a key of its own."""

    def __init__(
        self,
        trusted: Mapping[str, VerifyKey],
        subjects: bytes,
        sites: Mapping[str, tuple[VerifyKey, frozenset[str]]] | None = None,
    ) -> None:
        self._trusted = dict(trusted)
        self._subjects = subjects
        self._site_consumers: dict[str, frozenset[str]] = {}
        self.trust_sites(sites or {})

    def trust_sites(self, sites: Mapping[str, tuple[VerifyKey, frozenset[str]]]) -> None:
        """Trust these sites too (registered since this verifier was made)."""
        for name, (key, consumers) in sites.items():
            self._trusted[SITE_ISSUER_PREFIX + name] = key
            self._site_consumers[SITE_ISSUER_PREFIX + name] = consumers

    def _subjects_of(self, issuer: str) -> bytes:
        if issuer in self._site_consumers:
            return site_subject_key(self._subjects, issuer.removeprefix(SITE_ISSUER_PREFIX))
        return self._subjects

    def check(self, token: str | None, *, operation: str, body: bytes, correlation_id: str | None) -> Claims:
        """The claims of a valid assertion for this request; ``unauthorized`` otherwise."""
        claims = self._signed_claims(token)
        now = time.time()
        if claims.op != operation:
            raise _refused(f"is for {claims.op}, not {operation}")
        if claims.iss in self._site_consumers and claims.con not in self._site_consumers[claims.iss]:
            raise _refused(f"comes from {claims.iss}, which does not serve consumer {claims.con}")
        if not hmac.compare_digest(claims.bdy, body_hash(body)):
            raise _refused("was made for another request body")
        if correlation_id is not None and claims.cid != correlation_id:
            raise _refused("was made for another correlation id")
        if claims.exp < now - CLOCK_LEEWAY:
            raise _refused("has expired")
        if claims.iat > now + CLOCK_LEEWAY or claims.exp - claims.iat > MAX_LIFETIME:
            raise _refused(f"claims a lifetime that is not allowed (at most {MAX_LIFETIME:g}s, starting now)")
        return claims

    def check_subject(self, claims: Claims, subject: str | None) -> None:
        """The data subject the request names must be the one the assertion was made for."""
        if claims.dsub is not None and claims.dsub != _subject_hash(self._subjects_of(claims.iss), subject):
            raise _refused("was made for another data subject")

    def _signed_claims(self, token: str | None) -> Claims:
        if not token:
            raise _refused("is missing")
        payload, _, signature = token.partition(".")
        try:
            if len(token) > _MAX_TOKEN:
                raise ValueError("too long")
            fields = orjson.loads(_unb64(payload))
            key = self._trusted.get(str(fields.get("iss"))) if isinstance(fields, dict) else None
            if key is None:
                raise _refused("comes from an issuer this hub does not trust")
            key.verify(_DOMAIN + payload.encode(), _unb64(signature))
            return _claims(fields)
        except BadSignatureError:
            raise _refused("has an invalid signature") from None
        except (ValueError, TypeError, UnicodeError):
            raise _refused("is malformed") from None


class AssertionLedger:
    """The ids of spent assertions, shared by every worker (a KV bucket whose entries expire after the
    longest lifetime, when the assertion itself no longer verifies)."""

    TTL = MAX_LIFETIME + 4 * CLOCK_LEEWAY

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def spend(self, claims: Claims) -> None:
        """Mark the assertion used; ``unauthorized`` if it was used before (by this worker or any other)."""
        try:
            await self._kv.create(claims.jti, claims.op.encode())
        except KeyWrongLastSequenceError:
            raise _refused("was already used: an assertion is good for one request") from None
