"""The hub's streams and buckets, created (or brought to the replica count asked for) by the admin role.

Running roles only bind to what exists: a worker cannot change the audit stream's limits or recreate it, and
nobody but the admin writes consumers. `mpp-hub up` provisions its embedded NATS at start with the admin
credentials it made, then closes that connection; on a cluster `mpp-hub bus setup` does it once.
"""

from __future__ import annotations

from nats.js.api import KeyValueConfig
from nats.js.client import JetStreamContext

from hub._applications import APPLICATIONS_KV
from hub._assertions import AssertionLedger
from hub._audit import audit_stream_config, checkpoints_stream_config
from hub._consumers import CONSUMERS_KV, QUOTA_KV
from hub._dlq import DLQ_CONFIG
from hub._events import EVENT_IDS_KV, EVENTS_STREAM
from hub._process import PROCESS_STREAM
from hub._queue import FRONT_KV
from hub._roles import ASSERTIONS_BUCKET
from hub._site_state import SITES_KV
from hub._streams import ensure_key_value, ensure_stream
from hub._traffic import TRAFFIC_STREAM

__all__ = ["ASSERTIONS_KV", "BUCKETS", "STREAMS", "provision"]

ASSERTIONS_KV = KeyValueConfig(bucket=ASSERTIONS_BUCKET, history=1, ttl=AssertionLedger.TTL)
STREAMS = (
    EVENTS_STREAM, TRAFFIC_STREAM, PROCESS_STREAM, DLQ_CONFIG, audit_stream_config(), checkpoints_stream_config(),
)  # fmt: skip
BUCKETS = (CONSUMERS_KV, QUOTA_KV, APPLICATIONS_KV, EVENT_IDS_KV, ASSERTIONS_KV, FRONT_KV, SITES_KV)


async def provision(js: JetStreamContext, replicas: int | None = None) -> None:
    """Create every stream and bucket the hub uses, or adopt the existing ones (moving them to ``replicas``)."""
    for stream in STREAMS:
        await ensure_stream(js, stream, replicas)
    for bucket in BUCKETS:
        await ensure_key_value(js, bucket, replicas)
