"""Applications kept durably in a JetStream KV bucket that every hub worker shares.

Each change is a compare-and-set on the record's revision, so two workers can never both move one application
on. Of the applicant the record keeps no more than the work needs (UU 27/2022: less personal data at rest):

- the NIK as keyed hashes: the index that serves a citizen's list, the audit log's subject hash (so that a read
  of a closed application is still found by ``mpp-hub audit who-read``), and a hash of the birth date bound to
  the tracking number (the citizen's own lookup);
- the NIK masked, in the application a desk reads;
- while the application is open, the NIK and the process's working state (the owner's name, the plate, the
  bill) sealed with ChaCha20-Poly1305 under a key derived from the hub's audit key and bound to the tracking
  number, because the process's later steps need them. When the application reaches a final status the sealed
  part is erased: a closed application holds the hashes and what the citizen was told, nothing else.

The bucket keeps one revision per key, or an older revision would still hold what the newest one erased.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from typing import Any

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts import Application, parse_nik
from hub._kv_watch import current_entries
from hub._streams import bind_key_value

__all__ = [
    "APPLICATIONS_BUCKET",
    "APPLICATIONS_KV",
    "ApplicantKeys",
    "ApplicationStore",
    "BesideApplications",
    "SealError",
    "StaleApplication",
    "StoredApplication",
    "index_secret",
]

APPLICATIONS_BUCKET = "mpp_applications"
#: One revision per key: the sealed NIK and state an application held while open must not outlive its closing.
APPLICATIONS_KV = KeyValueConfig(bucket=APPLICATIONS_BUCKET, history=1, storage=StorageType.FILE)
_NONCE = 12  # ChaCha20-Poly1305's; random per seal (2^32 seals per key keep the collision odds negligible)

_log = structlog.get_logger("hub.applications")
#: What the store's own keys are derived for; a record kept beside the applications derives a key of its own.
_BORN_PURPOSE = "application birth date"
_SEAL_PURPOSE = "application seal"


class StaleApplication(Exception):
    """Another worker changed the application first; re-read it (or let that worker carry on)."""


class SealError(RuntimeError):
    """An application's sealed part does not open with this hub's key (its workers do not share one audit key)."""


def index_secret(audit_key: bytes) -> bytes:
    """The key of the applications' citizen index (the same on every worker and edge)."""
    return hmac.new(audit_key, b"mpp-hub application index", hashlib.sha256).digest()


def _derived_key(audit_key: bytes, purpose: str) -> bytes:
    # Every worker and edge holds the audit key already, so the seal needs no secret of its own to hand out.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"mpp-hub {purpose}".encode()).derive(audit_key)


def _hex_hmac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


class ApplicantKeys(BaseModel):
    """What an application keeps of its applicant for good: keyed hashes, none of them the NIK."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    citizen: str = Field(description="The NIK's hash in the citizen index.")
    subject: str = Field(description="The NIK's hash as the audit log keeps it (AuditLog.subject_hash).")
    born: str = Field(description="The birth date's hash, bound to the tracking number.")


class StoredApplication(BaseModel):
    """An application as the engine works with it. ``nik`` and ``state`` are in clear in memory only; at rest they
    are sealed while the application is open, and gone once it is closed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    application: Application
    keys: ApplicantKeys
    # Kept out of the repr, so that no traceback or debug print shows them.
    nik: str | None = Field(default=None, repr=False)
    state: dict[str, Any] = Field(default_factory=dict, repr=False)


class _AtRest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    application: Application
    keys: ApplicantKeys
    sealed: str | None = None  # base64 of nonce + ciphertext of _Sealed; None once the application is closed


class _Sealed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    nik: str
    state: dict[str, Any]


class _Legacy(BaseModel):
    """A record as hubs before sealing wrote it: the NIK and the state in clear. Read, and rewritten sealed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    application: dict[str, Any]
    state: dict[str, Any] = Field(default_factory=dict)


def _key(tracking_no: str) -> str:
    return "app." + tracking_no.replace("-", "")


@dataclass(frozen=True)
class BesideApplications:
    """Where a record kept beside the applications' own goes (a document, say): their bucket, and a 32-byte key
    derived from the same audit key for that record's purpose alone, so that every worker and edge opens it."""

    kv: KeyValue
    seal_key: bytes = field(repr=False)


class ApplicationStore:
    def __init__(self, kv: KeyValue, audit_key: bytes) -> None:
        if not audit_key:
            raise ValueError("the audit key must not be empty: the applications' hashes and seal are keyed by it")
        self._kv = kv
        self._audit_key = audit_key
        self._index_secret = index_secret(audit_key)
        self._born_key = _derived_key(audit_key, _BORN_PURPOSE)
        self._aead = ChaCha20Poly1305(_derived_key(audit_key, _SEAL_PURPOSE))

    @classmethod
    async def open(cls, js: JetStreamContext, audit_key: bytes) -> ApplicationStore:
        return cls(await bind_key_value(js, APPLICATIONS_BUCKET), audit_key)

    def beside(self, purpose: str) -> BesideApplications:
        """The bucket and a sealing key for records of ``purpose`` kept beside the applications (their keys must
        not start ``app.`` or ``nik.``, which are the store's). ``purpose`` names what the key seals: two kinds
        of record never share one, and none shares the store's own."""
        if purpose in (_BORN_PURPOSE, _SEAL_PURPOSE):
            raise ValueError(f"{purpose!r} is the application store's own key: name the record's own purpose")
        return BesideApplications(self._kv, _derived_key(self._audit_key, purpose))

    # --- the applicant, hashed ---

    def _citizen(self, nik: str) -> str:
        return _hex_hmac(self._index_secret, nik)[:32]

    def _born(self, tracking_no: str, birth_date: dt.date) -> str:
        return _hex_hmac(self._born_key, f"{tracking_no}:{birth_date.isoformat()}")

    def applicant_keys(self, nik: str, tracking_no: str) -> ApplicantKeys:
        return ApplicantKeys(
            citizen=self._citizen(nik),
            subject=_hex_hmac(self._audit_key, nik.strip()),  # exactly as AuditLog.subject_hash makes it
            born=self._born(tracking_no, parse_nik(nik).birth_date),
        )

    def new(self, application: Application, nik: str, state: dict[str, Any]) -> StoredApplication:
        """A new application of the citizen ``nik`` (in clear: it is hashed, and sealed while open)."""
        keys = self.applicant_keys(nik, application.tracking_no)
        return StoredApplication(application=application, keys=keys, nik=nik, state=state)

    def is_applicant(self, stored: StoredApplication, nik: str) -> bool:
        return hmac.compare_digest(self._citizen(nik), stored.keys.citizen)

    def born_on(self, stored: StoredApplication, birth_date: dt.date) -> bool:
        return hmac.compare_digest(self._born(stored.application.tracking_no, birth_date), stored.keys.born)

    # --- sealing ---

    def _dump(self, stored: StoredApplication) -> bytes:
        app = stored.application
        sealed = None
        if not app.status.final:
            if stored.nik is None:
                raise ValueError(f"open application {app.tracking_no} has no applicant NIK to seal")
            nonce = os.urandom(_NONCE)
            plain = _Sealed(nik=stored.nik, state=stored.state).model_dump_json().encode()
            sealed = base64.b64encode(nonce + self._aead.encrypt(nonce, plain, app.tracking_no.encode())).decode()
        return _AtRest(application=app, keys=stored.keys, sealed=sealed).model_dump_json().encode()

    def _unseal(self, record: _AtRest) -> _Sealed | None:
        if record.sealed is None:
            return None
        blob = base64.b64decode(record.sealed)
        tracking_no = record.application.tracking_no
        try:
            plain = self._aead.decrypt(blob[:_NONCE], blob[_NONCE:], tracking_no.encode())
        except InvalidTag:
            raise SealError(
                f"application {tracking_no} was sealed under another key: every hub worker and edge must be given "
                "the same audit key (MPP_HUB_AUDIT_KEY)"
            ) from None
        return _Sealed.model_validate_json(plain)

    def _load(self, raw: bytes, *, unseal: bool = True) -> tuple[StoredApplication, bool]:
        """The application in ``raw`` (its sealed part opened if ``unseal``), and whether it was a legacy record."""
        try:
            record = _AtRest.model_validate_json(raw)
        except ValidationError:
            return self._from_legacy(_Legacy.model_validate_json(raw)), True
        sealed = self._unseal(record) if unseal else None
        if sealed is None:
            return StoredApplication(application=record.application, keys=record.keys), False
        opened = StoredApplication(application=record.application, keys=record.keys, nik=sealed.nik, state=sealed.state)
        return opened, False

    def _from_legacy(self, legacy: _Legacy) -> StoredApplication:
        nik = str(legacy.application["applicant_nik"])
        app = Application.model_validate(legacy.application)  # masks the NIK
        if app.status.final:  # nothing left to do: only the hashes are kept
            return StoredApplication(application=app, keys=self.applicant_keys(nik, app.tracking_no))
        return self.new(app, nik, legacy.state)

    # --- the bucket ---

    async def create(self, stored: StoredApplication) -> int:
        """Store a new application; a clash of tracking numbers raises :class:`StaleApplication`."""
        app = stored.application
        try:
            revision = await self._kv.create(_key(app.tracking_no), self._dump(stored))
        except KeyWrongLastSequenceError:
            raise StaleApplication(app.tracking_no) from None
        await self._kv.put(f"nik.{stored.keys.citizen}.{app.tracking_no.replace('-', '')}", b"")
        return revision

    async def get(self, tracking_no: str) -> tuple[StoredApplication, int] | None:
        try:
            entry = await self._kv.get(_key(tracking_no))
        except KeyNotFoundError:
            return None
        if entry.value is None or entry.revision is None:
            return None
        return self._load(entry.value)[0], entry.revision

    async def replace(self, stored: StoredApplication, revision: int) -> int:
        """Write the application's new revision: sealed while open, without NIK or state once closed."""
        try:
            new_revision: int = await self._kv.update(
                _key(stored.application.tracking_no), self._dump(stored), last=revision
            )
        except KeyWrongLastSequenceError:
            raise StaleApplication(stored.application.tracking_no) from None
        return new_revision

    async def rewrite_legacy(self) -> int:
        """Rewrite every record an older hub left with the NIK and state in clear; the number rewritten."""
        rewritten = 0
        for key in await self._keys("app.*"):
            entry = await self._kv.get(key)
            if entry.value is None or entry.revision is None:
                continue
            stored, legacy = self._load(entry.value, unseal=False)  # one unreadable seal must not stop a start
            if legacy:
                try:
                    await self.replace(stored, entry.revision)
                    rewritten += 1
                except StaleApplication:
                    pass  # moved on meanwhile, by a worker that wrote it sealed
        if rewritten:
            _log.info("applications sealed", rewritten=rewritten)
        return rewritten

    async def _applications(self, keys: list[str]) -> list[Application]:
        return [stored.application for stored in await self._stored(keys)]

    async def _stored(self, keys: list[str]) -> list[StoredApplication]:
        found = []
        for key in keys:
            with contextlib.suppress(KeyNotFoundError):  # removed between the listing and the read
                entry = await self._kv.get(_key(key.rsplit(".", 1)[-1]))
                if entry.value is not None:
                    found.append(self._load(entry.value, unseal=False)[0])  # a list needs no seal opened
        return sorted(found, key=lambda s: s.application.created_at)

    async def _keys(self, pattern: str) -> list[str]:
        # Filtered on the server (nats-py's keys(filters=...) matches substrings, not wildcards), and up to the
        # newest record, not nats-py's marker, which can come before the records (see hub._kv_watch).
        return [entry.key for entry in await current_entries(self._kv, pattern)]

    async def for_citizen(self, nik: str) -> list[Application]:
        return await self._applications(await self._keys(f"nik.{self._citizen(nik)}.*"))

    async def every(self) -> list[Application]:
        return await self._applications(await self._keys("app.*"))

    async def every_stored(self) -> list[StoredApplication]:
        """Every application with its applicant's keys (so a list can be audited per applicant), oldest first.

        No seal is opened: the NIK and the working state stay sealed, as a list needs neither.
        """
        return await self._stored(await self._keys("app.*"))
