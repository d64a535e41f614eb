"""Who may do what on the bus: one NATS identity per role, each with publish and subscribe allow-lists.

nats-server enforces these lists; nothing in the hub relies on a process behaving. Only workers may
subscribe to service subjects (so nobody else can answer for an agency), only the admin may change the
hub's streams or write the consumers bucket, and each role receives replies only on its own inbox prefix.
The tables below are the single source of the server configuration (and of the attack tests' roles);
docs/security.md's table summarises them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from contracts import OPERATIONS
from hub._applications import APPLICATIONS_BUCKET
from hub._audit import AUDIT_STREAM, AUDIT_SUBJECT, CHECKPOINTS_STREAM, CHECKPOINTS_SUBJECT
from hub._consumers import CONSUMERS_BUCKET, QUOTA_BUCKET
from hub._dlq import DLQ_STREAM
from hub._events import EVENT_IDS_BUCKET
from hub._queue import FRONT_BUCKET
from hub._site_state import SITES_BUCKET

__all__ = [
    "ASSERTIONS_BUCKET", "SITES_STREAM", "SITE_STREAM", "Permissions", "Role", "inbox_prefix", "permissions",
    "site_inbox", "site_leaf", "site_local",
]  # fmt: skip

#: Ids of caller assertions already used, so that none is accepted twice by any worker.
ASSERTIONS_BUCKET = "mpp_assertions"


class Role(enum.StrEnum):
    """A kind of process on the bus. A process holds the credentials of its role only."""

    EDGE = "edge"  # the HTTP edge: checks API keys, calls operations with signed caller assertions
    WORKER = "worker"  # serves agency operations and runs processes; the only role that answers requests
    OPS = "ops"  # tail, top, trace: the masked traffic, read-only
    CLI = "cli"  # the operator's commands: calls, consumers (read), dead letters, audit reading
    ADMIN = "admin"  # creates and changes streams, writes consumers; used by no running process


def inbox_prefix(role: Role) -> str:
    """Where replies to a role's requests arrive; only that role may subscribe there."""
    return f"_INBOX_{role.value}"


@dataclass(frozen=True)
class Permissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    #: May answer requests it received (once each) without publish rights on the requester's inbox.
    allow_responses: bool = False


_API = "$JS.API"
_HEALTH = "mpp.health.*"
_TRAFFIC = "mpp.traffic.>"
_EVENTS = "mpp.events.>"
_PROCESS = "mpp.process.>"
_DLQ = "mpp.dlq.>"
_EVENTS_STREAM = "MPP_EVENTS"
_PROCESS_STREAM = "MPP_PROCESS"
_TRAFFIC_STREAM = "MPP_TRAFFIC"
#: On the hub: what every site's stream is sourced into, and processed from (hub._site_sync).
SITES_STREAM = "MPP_SITES"
_SITE_REPORTS = "mpp.site.*.status"


def _read(stream: str) -> list[str]:
    """Read a stream: its info, single messages, and consumers of its own (ordered, or durable)."""
    return [
        f"{_API}.STREAM.INFO.{stream}",
        f"{_API}.STREAM.MSG.GET.{stream}",
        f"{_API}.DIRECT.GET.{stream}",
        f"{_API}.DIRECT.GET.{stream}.>",
        f"{_API}.CONSUMER.CREATE.{stream}",
        f"{_API}.CONSUMER.CREATE.{stream}.>",
        f"{_API}.CONSUMER.DURABLE.CREATE.{stream}.*",
        f"{_API}.CONSUMER.INFO.{stream}.*",
        f"{_API}.CONSUMER.MSG.NEXT.{stream}.*",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def _kv_read(bucket: str) -> list[str]:
    return _read(f"KV_{bucket}")


def _kv_write(bucket: str) -> list[str]:
    return [*_kv_read(bucket), f"$KV.{bucket}.>"]


def _services() -> list[str]:
    """The operations' subjects, one wildcard per major version the contract has (``mpp.v1.>``; a contract
    package at 0.x or 2.x adds ``mpp.v0.>``, ``mpp.v2.>``): NATS cannot wildcard part of a token."""
    return [f"mpp.v{major}.>" for major in sorted({"1", *(op.major for op in OPERATIONS)}, key=int)]


def _calls() -> list[str]:
    """Call operations and discover who serves them ($SRV is nats.micro's discovery)."""
    return [*_services(), _HEALTH, "$SRV.PING", "$SRV.PING.>", "$SRV.INFO", "$SRV.INFO.>", "$SRV.STATS", "$SRV.STATS.>"]


def _audit_append() -> list[str]:
    return [AUDIT_SUBJECT, *_read(AUDIT_STREAM)]


def _audit_read() -> list[str]:
    """The records and their checkpoints (`mpp-hub audit verify`, who-read, prove, the report)."""
    return [*_read(AUDIT_STREAM), *_read(CHECKPOINTS_STREAM)]


def _common() -> list[str]:
    return [f"{_API}.INFO", f"{_API}.STREAM.NAMES"]


def _unique(subjects: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(subjects))


def _worker() -> Permissions:
    publish = [
        *_common(), *_calls(), _TRAFFIC, *_audit_append(), *_kv_read(CONSUMERS_BUCKET),
        *_kv_write(QUOTA_BUCKET), *_kv_write(ASSERTIONS_BUCKET), *_kv_write(APPLICATIONS_BUCKET),
        *_kv_write(EVENT_IDS_BUCKET), _EVENTS, *_read(_EVENTS_STREAM), _PROCESS, *_read(_PROCESS_STREAM),
        _DLQ, *_read(DLQ_STREAM), CHECKPOINTS_SUBJECT, *_audit_read(), *_kv_write(FRONT_BUCKET),
        *_kv_write(SITES_BUCKET), *_read(SITES_STREAM),
    ]  # fmt: skip
    # Sites' reports arrive on mpp.site.<site>.status (each site may publish only its own).
    subscribe = [*_services(), _HEALTH, "$SRV.>", f"{inbox_prefix(Role.WORKER)}.>", _SITE_REPORTS]
    return Permissions(_unique(publish), _unique(subscribe), allow_responses=True)


def _edge() -> Permissions:
    # The edge submits applications and takes agencies' callbacks (events); it reads consumers to check keys,
    # appends its refusals to the audit, and follows the traffic for /ops.
    publish = [
        *_common(), *_calls(), *_audit_append(), *_kv_read(CONSUMERS_BUCKET),
        *_kv_write(APPLICATIONS_BUCKET), *_kv_write(EVENT_IDS_BUCKET), _EVENTS, _PROCESS,
        f"{_API}.CONSUMER.INFO.{_EVENTS_STREAM}.*", f"{_API}.CONSUMER.INFO.{_PROCESS_STREAM}.*",
        *_kv_write(FRONT_BUCKET), *_kv_read(SITES_BUCKET),
    ]  # fmt: skip
    subscribe = [_TRAFFIC, f"{inbox_prefix(Role.EDGE)}.>"]
    return Permissions(_unique(publish), _unique(subscribe))


def _ops() -> Permissions:
    publish = [*_common(), *_read(_TRAFFIC_STREAM), *_kv_read(SITES_BUCKET)]
    return Permissions(_unique(publish), (_TRAFFIC, f"{inbox_prefix(Role.OPS)}.>"))


#: A site's stream, on the site (each site's JetStream domain has its own of this name).
SITE_STREAM = "SITE_INTAKE"


def site_inbox(site: str) -> str:
    """Where replies to a site's requests arrive: its own prefix, so that no other site or role receives them."""
    return f"_INBOX_site_{site}"


def site_local(site: str) -> Permissions:
    """The one user of a site's own nats-server (its edge and its agent, one process): the site's streams and
    buckets in its own JetStream domain, calls to the hub's operations, and its reports. What of it may cross to
    the hub is :func:`site_leaf`'s to say, on the hub's side."""
    publish = [*_services(), f"mpp.site.{site}.>", f"{_API}.>", "$KV.>", "$JS.ACK.>", "$JS.FC.>"]
    return Permissions(_unique(publish), (f"{site_inbox(site)}.>",))


def site_leaf(site: str) -> Permissions:
    """What a site's leaf connection carries, as the hub's server sees that user: ``publish`` is what may flow
    from the site into the hub, ``subscribe`` what may flow from the hub to the site.

    Into the hub: operation calls (their caller assertions are checked by the workers, who also check that the
    site asserts only for its own consumers), the site's report, and the replies and deliveries of
    the hub's sourcing of the site's stream. Out to the site: replies on the site's own inbox, and the hub's calls
    into the site's JetStream domain. Not the hub's JetStream API (no ``$JS.API``, no ``$JS.<hub>.API``), no
    service subject (a site cannot answer for an agency), no other site's subjects.
    """
    publish = [*_services(), f"mpp.site.{site}.status", f"mpp.site.{site}.sync.>", "$JSC.R.>"]
    subscribe = [f"{site_inbox(site)}.>", f"$JS.{site}.API.>", f"$JS.FC.{SITE_STREAM}.>"]
    return Permissions(_unique(publish), _unique(subscribe))


def _cli() -> Permissions:
    # Replaying a dead letter publishes it to where it came from (process steps, events). The monthly report
    # reads the front of house's tickets (no personal data in them), and writes none.
    publish = [
        *_common(), *_calls(), *_audit_append(), *_audit_read(), *_kv_read(CONSUMERS_BUCKET), *_read(DLQ_STREAM),
        f"{_API}.STREAM.MSG.DELETE.{DLQ_STREAM}", _PROCESS, _EVENTS, *_read(_TRAFFIC_STREAM), *_kv_read(FRONT_BUCKET),
        *_kv_read(SITES_BUCKET),
    ]  # fmt: skip
    return Permissions(_unique(publish), (_TRAFFIC, f"{inbox_prefix(Role.CLI)}.>"))


def _admin() -> Permissions:
    # Streams and buckets, created and changed; consumers written. Nothing that answers for an agency.
    publish = [f"{_API}.>", f"$KV.{CONSUMERS_BUCKET}.>", f"$KV.{SITES_BUCKET}.>", "$JS.ACK.>", "$JS.FC.>"]
    return Permissions(_unique(publish), (f"{inbox_prefix(Role.ADMIN)}.>",))


_TABLE = {Role.WORKER: _worker, Role.EDGE: _edge, Role.OPS: _ops, Role.CLI: _cli, Role.ADMIN: _admin}


def permissions(role: Role) -> Permissions:
    return _TABLE[role]()
