"""Applications kept durably in a JetStream KV bucket that every hub worker shares.

Each change is a compare-and-set on the record's revision, so two workers can never both move
one application on; an index by NIK (keyed-hashed, never the NIK itself) serves a citizen's list.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field

from contracts import Application
from hub._streams import bind_key_value

__all__ = ["APPLICATIONS_BUCKET", "APPLICATIONS_KV", "ApplicationStore", "StaleApplication", "StoredApplication"]

APPLICATIONS_BUCKET = "mpp_applications"
APPLICATIONS_KV = KeyValueConfig(bucket=APPLICATIONS_BUCKET, history=5, storage=StorageType.FILE)


class StaleApplication(Exception):
    """Another worker changed the application first; re-read it (or let that worker carry on)."""


class StoredApplication(BaseModel):
    """The application as the citizen sees it, plus the process's own working state."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    application: Application
    state: dict[str, Any] = Field(default_factory=dict)


def _key(tracking_no: str) -> str:
    return "app." + tracking_no.replace("-", "")


class ApplicationStore:
    def __init__(self, kv: KeyValue, index_secret: bytes) -> None:
        self._kv = kv
        self._index_secret = index_secret

    @classmethod
    async def open(cls, js: JetStreamContext, index_secret: bytes) -> ApplicationStore:
        return cls(await bind_key_value(js, APPLICATIONS_BUCKET), index_secret)

    def _citizen(self, nik: str) -> str:
        return hmac.new(self._index_secret, nik.encode(), hashlib.sha256).hexdigest()[:32]

    async def create(self, stored: StoredApplication) -> int:
        """Store a new application; a clash of tracking numbers raises :class:`StaleApplication`."""
        app = stored.application
        try:
            revision = await self._kv.create(_key(app.tracking_no), stored.model_dump_json().encode())
        except KeyWrongLastSequenceError:
            raise StaleApplication(app.tracking_no) from None
        await self._kv.put(f"nik.{self._citizen(app.applicant_nik)}.{app.tracking_no.replace('-', '')}", b"")
        return revision

    async def get(self, tracking_no: str) -> tuple[StoredApplication, int] | None:
        try:
            entry = await self._kv.get(_key(tracking_no))
        except KeyNotFoundError:
            return None
        if entry.value is None or entry.revision is None:
            return None
        return StoredApplication.model_validate_json(entry.value), entry.revision

    async def replace(self, stored: StoredApplication, revision: int) -> int:
        try:
            new_revision: int = await self._kv.update(
                _key(stored.application.tracking_no), stored.model_dump_json().encode(), last=revision
            )
        except KeyWrongLastSequenceError:
            raise StaleApplication(stored.application.tracking_no) from None
        return new_revision

    async def _applications(self, keys: list[str]) -> list[Application]:
        found = []
        for key in keys:
            got = await self.get(key.rsplit(".", 1)[-1])
            if got is not None:
                found.append(got[0].application)
        return sorted(found, key=lambda a: a.created_at)

    async def _keys(self, pattern: str) -> list[str]:
        # A watch filtered on the server: nats-py's keys(filters=...) matches substrings, not wildcards.
        watcher = await self._kv.watch(pattern, ignore_deletes=True, meta_only=True)
        keys = []
        try:
            async for entry in watcher:
                if entry is None:  # the end of what is stored now
                    break
                keys.append(entry.key)
        finally:
            await watcher.stop()  # type: ignore[no-untyped-call]  # nats-py leaves it unannotated
        return keys

    async def for_citizen(self, nik: str) -> list[Application]:
        return await self._applications(await self._keys(f"nik.{self._citizen(nik)}.*"))

    async def every(self) -> list[Application]:
        return await self._applications(await self._keys("app.*"))
