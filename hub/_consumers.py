"""Registered API consumers (the portal, a kiosk, a desk app): their keys, rights and rate quotas.

Every hub worker shares one view of the consumers through JetStream KV: records live in
``mpp_consumers`` (one key per consumer name) and each worker keeps a local copy current with a KV
watcher, so a revoke on one worker reaches every other worker within a moment. Request counts live
in ``mpp_quota`` as one counter per consumer and minute, so a quota holds across all workers.

An API key reads ``mpp_<key_id>_<secret>``. The key id is public and finds the record; of the secret
only a salted scrypt hash is stored, so the bucket never holds anything that authenticates.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import hashlib
import hmac
import random
import re
import secrets
import string
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog
from nats.errors import ConnectionClosedError
from nats.js.api import KeyValueConfig
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from contracts import OPERATIONS
from contracts._applications import Channel
from contracts._catalogue import PROVIDER_RULE
from contracts._errors import ErrorCode, FieldIssue, HubError
from hub._kv_watch import KvWatcher, watch_from_current
from hub._queue import DEFAULT_DESKS, desk_right
from hub._rights import PERSONAL_EDGE_OPERATIONS, fields_for, matches, parse_right, right_issues
from hub._streams import bind_key_value

__all__ = [
    "CONSUMERS_BUCKET", "CONSUMERS_KV", "EDGE_OPERATIONS", "QUOTA_BUCKET", "QUOTA_KV", "Consumer", "ConsumerRegistry",
    "allow_issues",
]  # fmt: skip

CONSUMERS_BUCKET = "mpp_consumers"
QUOTA_BUCKET = "mpp_quota"

_NAME_RULE = r"^[a-z0-9][a-z0-9_-]{1,47}$"
_KEY_ID_LENGTH = 12
_KEY_ID_ALPHABET = string.ascii_lowercase + string.digits
_KEY_RULE = re.compile(rf"^mpp_([a-z0-9]{{{_KEY_ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")  # token_urlsafe(32): 43 chars

# scrypt parameters: n=2**14, r=8 costs ~50 ms and 16 MiB, the interactive-login setting.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SCRYPT_DKLEN = 32

_QUOTA_WINDOW = 60
# Longer than the window, so a counter outlives its minute; short, so old windows need no clean-up.
_QUOTA_TTL = 120.0
_CAS_ATTEMPTS = 25
_INITIAL_LOAD_TIMEOUT = 10.0
CONSUMERS_KV = KeyValueConfig(bucket=CONSUMERS_BUCKET, history=1)
QUOTA_KV = KeyValueConfig(bucket=QUOTA_BUCKET, history=1, ttl=_QUOTA_TTL)

_CREATE_HINT = "create one with `mpp-hub consumer add`"
#: What a right may name besides the contract's operations: what the HTTP edge serves itself (hub/_http.py,
#: hub/_ops.py). A right that matches none of these nor a contract operation is a typo that grants nothing.
EDGE_OPERATIONS = (
    *PERSONAL_EDGE_OPERATIONS, "application.lookup", "hub.services", "ops.dashboard", "ops.metrics", "queue.take",
    "queue.read", "queue.display", "queue.book", "front.notice", "survey.submit", "survey.read",
    *map(desk_right, DEFAULT_DESKS),
)  # fmt: skip
#: A desk's right names a desk the mall configures (``[front.desks]``): any desk code is a name the edge serves.
_DESK_RIGHT = re.compile(r"^queue\.desk\.[a-z][a-z0-9_]{0,31}$")

_log = structlog.get_logger("hub.consumers")

# Its own generator: jitter must not draw from (and so disturb) the random module an embedding program seeds.
_JITTER = random.Random()


class Consumer(BaseModel):
    """One registered API consumer; the stored form, holding only a salted hash of its secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME_RULE)
    key_id: str = Field(pattern=rf"^[a-z0-9]{{{_KEY_ID_LENGTH}}}$", description="Public part of the API key.")
    # Kept out of repr so a logged or raised record never carries them.
    salt: str = Field(pattern=r"^[0-9a-f]+$", repr=False)
    key_hash: str = Field(pattern=r"^[0-9a-f]+$", repr=False)
    allow: list[str] = Field(
        description='Operation names or patterns: "identity.lookup", "identity.*", "*"; a right on one operation '
        'may name the reply fields it releases: "identity.lookup[full_name,birth_date]".'
    )
    quota_per_minute: int | None = Field(default=None, ge=1, description="Across all workers; None = unlimited.")
    # Absent from records made before they existed: such a consumer states its channel per call, names no officer.
    channel: Channel | None = Field(
        default=None, description="The one channel this consumer serves (a kiosk app: kiosk); None: it says per call."
    )
    names_officers: bool = Field(
        default=False, description="May name the officer serving the citizen (X-Officer): desk apps only."
    )
    providers: dict[str, str] = Field(
        default_factory=dict,
        description="Its default provider by operation ({'payment.create_bill': 'bank_contoh'}): where its requests "
        "that name no provider go, instead of the catalogue's default.",
    )
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = None

    def may_call(self, operation: str) -> bool:
        return _may_call(tuple(self.allow), operation)

    def fields_for(self, operation: str) -> tuple[str, ...] | None:
        """The reply fields of ``operation`` this consumer may receive; None for all of them."""
        return fields_for(self.allow, operation)


class ConsumerRegistry:
    """The consumers as every worker sees them; open one per worker with :meth:`open`."""

    def __init__(self, records: KeyValue, quota: KeyValue | None) -> None:
        self._records = records
        self._quota = quota
        self._by_name: dict[str, Consumer] = {}
        self._revision: dict[str, int] = {}
        self._by_key_id: dict[str, str] = {}
        # SHA-256 of a full key that verified -> consumer name; a fast hash is fine here because the
        # entry only exists for a key already proven by scrypt.
        self._verified: dict[str, str] = {}
        self._verifying: dict[str, asyncio.Future[Consumer]] = {}  # key fingerprint -> its scrypt check
        self._watcher: KvWatcher | None = None
        self._follower: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @classmethod
    async def open(cls, js: JetStreamContext, *, charging: bool = False) -> ConsumerRegistry:
        """A live view of the consumers; ``charging``: this process also counts requests against quotas."""
        records = await bind_key_value(js, CONSUMERS_BUCKET)
        quota = await bind_key_value(js, QUOTA_BUCKET) if charging else None
        registry = cls(records, quota)
        await registry._start_watching()
        return registry

    async def close(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
            self._follower = None
        if self._watcher is not None:
            # Shutdown may close the connection first; the server drops the watch with it anyway.
            with contextlib.suppress(ConnectionClosedError):
                await self._watcher.stop()
            self._watcher = None

    async def add(
        self,
        name: str,
        allow: Sequence[str],
        *,
        quota_per_minute: int | None = None,
        channel: Channel | None = None,
        names_officers: bool = False,
        providers: dict[str, str] | None = None,
    ) -> tuple[Consumer, str]:
        """Register a consumer; returns its record and its API key, which is shown this once.

        ``channel``: the one channel it serves (its calls are recorded so; it may state no other).
        ``names_officers``: it may name the officer at the desk (``X-Officer``); others are refused if they try.
        ``providers``: its default provider by operation, for its requests that name none.
        """
        _check_new_consumer(name, allow, quota_per_minute, providers or {})
        key_id = self._new_key_id()
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        key_hash = await asyncio.to_thread(_scrypt, secret, salt)
        consumer = Consumer(
            name=name,
            key_id=key_id,
            salt=salt.hex(),
            key_hash=key_hash.hex(),
            allow=builtins.list(allow),
            quota_per_minute=quota_per_minute,
            channel=channel,
            names_officers=names_officers,
            providers=dict(providers or {}),
            created_at=datetime.now(UTC),
        )
        try:
            revision = await self._records.create(name, _encode(consumer))
        except KeyWrongLastSequenceError:
            raise HubError.of(
                ErrorCode.CONFLICT,
                f"A consumer named {name!r} already exists (revoked ones keep their name); choose another name, "
                "see `mpp-hub consumer list` for the taken ones",
            ) from None
        self._apply(name, consumer, revision)
        _log.info(
            "consumer added", consumer=name, allow=consumer.allow, quota_per_minute=quota_per_minute,
            channel=channel, names_officers=names_officers,
        )  # fmt: skip
        return consumer, f"mpp_{key_id}_{secret}"

    def list(self) -> builtins.list[Consumer]:
        return sorted(self._by_name.values(), key=lambda c: c.name)

    def get(self, name: str) -> Consumer | None:
        return self._by_name.get(name)

    async def fetch(self, name: str) -> Consumer | None:
        """The consumer as this worker knows it, else as the bucket has it now: one added a moment ago on
        another process may not have reached this worker's watch yet."""
        if (known := self._by_name.get(name)) is not None:
            return known
        try:
            consumer, revision = await self._read_record(name)
        except HubError:
            return None
        self._apply(name, consumer, revision)
        return self._by_name.get(name)

    async def wait_for(self, name: str, timeout: float = 10.0) -> Consumer:
        """Until this registry knows consumer ``name`` (for tests and tools that just added it elsewhere)."""
        async with asyncio.timeout(timeout):
            while (consumer := self._by_name.get(name)) is None:
                self._changed.clear()  # no await since the look-up: nothing can have arrived in between
                await self._changed.wait()
        return consumer

    async def revoke(self, name: str) -> Consumer:
        """Mark a consumer revoked; its key stops working on every worker. Revoking twice is harmless."""
        for _ in range(_CAS_ATTEMPTS):
            current, revision = await self._read_record(name)
            if current.revoked_at is not None:
                return current
            revoked = current.model_copy(update={"revoked_at": datetime.now(UTC)})
            try:
                new_revision = await self._records.update(name, _encode(revoked), last=revision)
            except KeyWrongLastSequenceError:
                continue  # changed by another worker meanwhile; decide again on the fresh record
            self._apply(name, revoked, new_revision)
            _log.info("consumer revoked", consumer=name)
            return revoked
        raise HubError.of(ErrorCode.CONFLICT, f"Consumer {name!r} kept changing while being revoked; try again")

    async def authenticate(self, api_key: str | None) -> Consumer:
        """The consumer the key belongs to; UNAUTHORIZED otherwise. Messages never echo the key."""
        if not api_key:
            raise _unauthorized(f"No API key: send `Authorization: Bearer <key>`; {_CREATE_HINT}")
        parsed = _KEY_RULE.fullmatch(api_key)
        if parsed is None:
            raise _unauthorized(
                "The API key is malformed: it reads `mpp_<key id>_<secret>` exactly as `mpp-hub consumer add` "
                "printed it; check it was copied whole"
            )
        fingerprint = hashlib.sha256(api_key.encode()).hexdigest()
        consumer = self._cached(fingerprint)
        if consumer is None:
            consumer = await self._verify_once(parsed.group(1), parsed.group(2), fingerprint)
        if consumer.revoked_at is not None:
            raise _unauthorized(f"This key was revoked: ask the hub operator for a new one ({_CREATE_HINT})")
        return consumer

    def proven(self, api_key: str | None) -> bool:
        """Whether this key was verified here before and still belongs to an active consumer (no scrypt)."""
        if not api_key:
            return False
        consumer = self._cached(hashlib.sha256(api_key.encode()).hexdigest())
        return consumer is not None and consumer.revoked_at is None

    async def charge(self, consumer: Consumer) -> None:
        """Count one request in the current minute; RATE_LIMITED when over the consumer's quota."""
        if consumer.quota_per_minute is None:
            return
        if self._quota is None:
            raise RuntimeError("this registry was opened without charging=True: it cannot count quotas")
        now = time.time()
        minute = int(now // _QUOTA_WINDOW)
        key = f"{consumer.name}.{minute}"
        for attempt in range(_CAS_ATTEMPTS):
            if await self._try_charge(key, consumer.quota_per_minute, retry_after=(minute + 1) * _QUOTA_WINDOW - now):
                return
            # Lost a race with another request; back off a little, jittered so the racers spread out.
            await asyncio.sleep(_JITTER.uniform(0, 0.002 * (attempt + 1)))
        _log.warning("quota counter contended, request refused", consumer=consumer.name)
        raise HubError.of(
            ErrorCode.RATE_LIMITED,
            "Too many simultaneous requests for this consumer; retry in a moment",
            retry_after=1.0,
        )

    async def _try_charge(self, key: str, quota: int, *, retry_after: float) -> bool:
        """One optimistic increment of the window counter; False when another request got there first."""
        assert self._quota is not None
        try:
            entry = await self._quota.get(key)
        except KeyNotFoundError:
            try:
                await self._quota.create(key, b"1")
            except KeyWrongLastSequenceError:
                return False
            return True
        count = int(entry.value or b"0")
        if count >= quota:
            raise HubError.of(
                ErrorCode.RATE_LIMITED,
                f"Over the quota of {quota} requests per minute; retry after the number of seconds given",
                retry_after=retry_after,
            )
        try:
            await self._quota.update(key, str(count + 1).encode(), last=entry.revision)
        except KeyWrongLastSequenceError:
            return False
        return True

    def _cached(self, fingerprint: str) -> Consumer | None:
        name = self._verified.get(fingerprint)
        return None if name is None else self._by_name.get(name)

    async def _verify_once(self, key_id: str, secret: str, fingerprint: str) -> Consumer:
        """:meth:`_verify`, shared by every request that presents the same key while it runs.

        A portal sending 64 requests at once to a fresh worker would otherwise run scrypt 64 times for one
        key (and hold a core for seconds); the outcome, a failure included, is the same for all of them.
        """
        pending = self._verifying.get(fingerprint)
        if pending is None:
            pending = asyncio.ensure_future(self._verify(key_id, secret, fingerprint))
            self._verifying[fingerprint] = pending
            pending.add_done_callback(lambda _: self._verifying.pop(fingerprint, None))
        return await asyncio.shield(pending)

    async def _verify(self, key_id: str, secret: str, fingerprint: str) -> Consumer:
        name = self._by_key_id.get(key_id)
        consumer = None if name is None else self._by_name.get(name)
        if consumer is None:
            # The key id is public, so answering at once reveals nothing; spending scrypt here would
            # only let anyone burn the hub's CPU with made-up keys.
            raise _invalid_key()
        # scrypt runs for every known key id, so a wrong secret costs as much as a right one.
        candidate = await asyncio.to_thread(_scrypt, secret, bytes.fromhex(consumer.salt))
        if not hmac.compare_digest(candidate, bytes.fromhex(consumer.key_hash)):
            # Failures are not cached, so a consumer added later works at once.
            raise _invalid_key()
        # Cache only if the record did not change during scrypt, so a revoke that landed meanwhile
        # is not hidden behind a stale entry.
        if self._by_name.get(consumer.name) is consumer:
            self._verified[fingerprint] = consumer.name
        return self._by_name.get(consumer.name, consumer)

    async def _read_record(self, name: str) -> tuple[Consumer, int]:
        if re.fullmatch(_NAME_RULE, name) is None:
            raise _not_found(name)
        try:
            entry = await self._records.get(name)
        except KeyNotFoundError:
            raise _not_found(name) from None
        return Consumer.model_validate_json(entry.value or b""), _revision(entry)

    def _new_key_id(self) -> str:
        while True:
            key_id = "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(_KEY_ID_LENGTH))
            if key_id not in self._by_key_id:  # a clash is near impossible, but would make a key ambiguous
                return key_id

    async def _start_watching(self) -> None:
        # Serve nothing before every current record is in (not up to nats-py's early "initial values done"
        # marker: see hub._kv_watch), or a fresh `mpp-hub call` would find its own key unknown.
        watcher = await watch_from_current(self._records, on_entry=self._on_entry, timeout=_INITIAL_LOAD_TIMEOUT)
        self._watcher = watcher
        self._follower = asyncio.create_task(self._follow(watcher), name="consumer-registry-watch")

    async def _follow(self, watcher: KvWatcher) -> None:
        try:
            async for entry in watcher:
                if entry is not None:
                    self._on_entry(entry)
        except Exception:
            # Without the watch this worker would silently keep honouring revoked keys; say so loudly.
            _log.exception("consumer watch stopped; changes made on other workers no longer arrive")
            raise

    def _on_entry(self, entry: KeyValue.Entry) -> None:
        if entry.operation in ("DEL", "PURGE"):
            self._apply(entry.key, None, _revision(entry))
            return
        try:
            consumer = Consumer.model_validate_json(entry.value or b"")
        except ValidationError:
            # Someone wrote to the bucket by hand; skip the record rather than stop following updates.
            _log.error("unreadable consumer record skipped", consumer=entry.key, revision=entry.revision)
            return
        self._apply(entry.key, consumer, _revision(entry))

    def _apply(self, name: str, consumer: Consumer | None, revision: int) -> None:
        # Our own writes are applied at once and come back through the watcher later; the revision
        # keeps a late echo from undoing a newer change.
        if revision <= self._revision.get(name, 0):
            return
        self._revision[name] = revision
        previous = self._by_name.pop(name, None)
        if previous is not None:
            self._by_key_id.pop(previous.key_id, None)
        self._verified = {fp: owner for fp, owner in self._verified.items() if owner != name}
        if consumer is not None:
            self._by_name[name] = consumer
            self._by_key_id[consumer.key_id] = name
        self._changed.set()


def _check_new_consumer(
    name: str, allow: Sequence[str], quota_per_minute: int | None, providers: dict[str, str]
) -> None:
    issues: list[FieldIssue] = []
    if re.fullmatch(_NAME_RULE, name) is None:
        issues.append(
            FieldIssue(
                field="name",
                message="must be 2-48 characters of lowercase letters, digits, '_' or '-', starting with a "
                "letter or digit",
            )
        )
    issues.extend(allow_issues(allow))
    if quota_per_minute is not None and quota_per_minute < 1:
        issues.append(FieldIssue(field="quota_per_minute", message="must be at least 1, or omitted for no quota"))
    issues.extend(
        FieldIssue(field=f"providers.{operation}", message="must name a contract operation and a provider's name")
        for operation, provider in providers.items()
        if operation not in OPERATIONS or re.fullmatch(PROVIDER_RULE, provider) is None
    )
    if issues:
        summary = "; ".join(f"{issue.field} {issue.message}" for issue in issues)
        raise HubError.of(ErrorCode.INVALID_INPUT, f"Invalid consumer: {summary}", issues=issues)


def allow_issues(allow: Sequence[str]) -> list[FieldIssue]:
    """What is wrong with a consumer's rights as written: each right's syntax, and that it names an operation."""
    if isinstance(allow, str) or not allow:
        return [FieldIssue(field="allow", message="must list at least one operation name or pattern")]
    issues: list[FieldIssue] = []
    for i, text in enumerate(allow):
        issues.extend(right_issues(f"allow.{i}", text) or _unknown_operation(f"allow.{i}", text))
    return issues


def _unknown_operation(where: str, text: str) -> list[FieldIssue]:
    right = parse_right(text)
    contract = [op.name for op in OPERATIONS]
    if right is None or any(matches(right.pattern, name) for name in (*contract, *EDGE_OPERATIONS)):
        return []
    if _DESK_RIGHT.match(right.pattern):
        return []
    message = (
        "names no operation the hub serves; the contract's operations are "
        f"{', '.join(contract)}, and the HTTP edge's {', '.join(sorted(EDGE_OPERATIONS))}"
    )
    return [FieldIssue(field=where, message=message)]


def _scrypt(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_SCRYPT_DKLEN)


def _encode(consumer: Consumer) -> bytes:
    return consumer.model_dump_json().encode()


def _revision(entry: KeyValue.Entry) -> int:
    # nats-py types it optional, yet every entry read from a stream has one.
    return entry.revision or 0


def _unauthorized(message: str) -> HubError:
    return HubError.of(ErrorCode.UNAUTHORIZED, message)


def _invalid_key() -> HubError:
    # One message for an unknown key id and a wrong secret: the caller's remedy is the same.
    return _unauthorized(f"The API key is not valid: check it was copied whole, or {_CREATE_HINT}")


def _not_found(name: str) -> HubError:
    return HubError.of(ErrorCode.NOT_FOUND, f"No consumer named {name!r}; see `mpp-hub consumer list`")


@functools.lru_cache(maxsize=4096)
def _may_call(allow: tuple[str, ...], operation: str) -> bool:
    # Asked on every call, at the edge and in the worker: the rights of a consumer change rarely, the answer never.
    return any(right is not None and matches(right.pattern, operation) for right in map(parse_right, allow))
