"""What a site takes in, as it travels to the hub: sealed to the hub, signed by the site.

A site keeps each application, ticket, survey and audit record it takes in as one message of its stream
(``mpp.site.<site>.out.<kind>``) until the hub has processed it. The message holds an envelope: the kind, a
unique id, when and for which consumer it was taken, and the content sealed to the hub's intake key (a libsodium
sealed box: X25519 and XSalsa20-Poly1305), so that the site's disk holds nothing it can read back. The site signs
the envelope with its Ed25519 key (a header); the hub checks that signature against the key of the site the subject
names before it opens anything, so that a message no site signed, or one site's message passed off as another's,
is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey
from pydantic import BaseModel, ValidationError

from hub._sites import SiteRecord
from hub._time import utcnow

__all__ = ["SIGNATURE_HEADER", "Envelope", "IntakeKind", "IntakeRefused", "SiteOpener", "SiteSealer", "out_subject"]

SIGNATURE_HEADER = "Mpp-Site-Signature"
_DOMAIN = b"mpp-hub site intake v1\n"


class IntakeKind(enum.StrEnum):
    APPLICATION = "application"
    TICKET = "ticket"
    SURVEY = "survey"
    AUDIT = "audit"


def out_subject(site: str, kind: IntakeKind | str = "*") -> str:
    return f"mpp.site.{site}.out.{kind}"


class Envelope(BaseModel):
    v: int = 1
    site: str
    kind: IntakeKind
    id: str
    at: dt.datetime
    consumer: str | None = None
    sealed: str


class IntakeRefused(Exception):
    """A message from a site that the hub will not process (never retried: it is dead-lettered)."""


class SiteSealer:
    """On the site: seals and signs what the site takes in."""

    def __init__(self, site: str, signing: SigningKey, intake_key: PublicKey) -> None:
        self.site = site
        self._signing = signing
        self._box = SealedBox(intake_key)

    def seal(
        self, kind: IntakeKind, payload: Mapping[str, Any], *, consumer: str | None, intake_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The message's data and headers (the id doubles as JetStream's de-duplication id)."""
        envelope = Envelope(
            site=self.site, kind=kind, id=intake_id or uuid.uuid4().hex, at=utcnow(), consumer=consumer,
            sealed=base64.b64encode(self._box.encrypt(orjson.dumps(payload))).decode(),
        )  # fmt: skip
        data = envelope.model_dump_json().encode()
        signature = self._signing.sign(_DOMAIN + data).signature
        headers = {"Nats-Msg-Id": f"{self.site}-{envelope.id}", SIGNATURE_HEADER: base64.b64encode(signature).decode()}
        return data, headers


class SiteOpener:
    """On the hub: checks a site's message and opens it."""

    def __init__(self, intake_key: PrivateKey, sites: Mapping[str, SiteRecord]) -> None:
        self._box = SealedBox(intake_key)
        self._sites = dict(sites)

    def add_sites(self, sites: Mapping[str, SiteRecord]) -> None:
        self._sites.update(sites)

    def open(self, subject: str, data: bytes, headers: Mapping[str, str] | None) -> tuple[Envelope, dict[str, Any]]:
        parts = subject.split(".")
        if len(parts) != 5 or parts[:2] != ["mpp", "site"] or parts[3] != "out":
            raise IntakeRefused(f"not a site's intake subject: {subject}")
        site = self._sites.get(parts[2])
        if site is None:
            raise IntakeRefused(f"no site {parts[2]} is registered on this hub")
        try:
            signature = base64.b64decode((headers or {}).get(SIGNATURE_HEADER, ""), validate=True)
            site.verify_key.verify(_DOMAIN + data, signature)
        except (BadSignatureError, ValueError):
            raise IntakeRefused(f"the message is not signed by site {site.name}") from None
        try:
            envelope = Envelope.model_validate_json(data)
            if envelope.site != site.name or envelope.kind != parts[4]:
                raise IntakeRefused(f"the envelope names {envelope.site}/{envelope.kind}, the subject {subject}")
            payload = orjson.loads(self._box.decrypt(base64.b64decode(envelope.sealed)))
        except (ValidationError, CryptoError, ValueError) as exc:
            raise IntakeRefused(f"the message from site {site.name} does not open ({type(exc).__name__})") from None
        if not isinstance(payload, dict):
            raise IntakeRefused(f"the message from site {site.name} holds no object")
        return envelope, payload
