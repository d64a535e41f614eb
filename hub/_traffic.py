"""The traffic tap: every exchange on the bus as a masked summary on ``mpp.traffic.<agency>.<operation>``,
kept for a day in a JetStream stream so that ``mpp-hub trace`` can follow one request afterwards.

Publishing is fire-and-forget (a core publish the stream captures), so the tap adds no round trip.
"""

from __future__ import annotations

import os
import socket

import structlog
from nats.aio.client import Client as NATS
from nats.js.api import StorageType, StreamConfig
from nats.js.client import JetStreamContext

from contracts import TrafficRecord

__all__ = ["TRAFFIC_STREAM", "WORKER", "TrafficTap", "trace", "traffic_subject"]

_STREAM = "MPP_TRAFFIC"
TRAFFIC_STREAM = StreamConfig(
    name=_STREAM,
    subjects=["mpp.traffic.>"],
    storage=StorageType.FILE,
    max_age=24 * 3600.0,  # a day of traffic for tracing; audit and metrics keep what must last longer
    max_bytes=512 * 1024 * 1024,
)
#: This process, as it appears in traffic, metrics and audit records.
WORKER = f"{socket.gethostname()}:{os.getpid()}"

_log = structlog.get_logger("hub.traffic")


def traffic_subject(agency: str | None, operation: str) -> str:
    return f"mpp.traffic.{agency or 'hub'}.{operation}"


class TrafficTap:
    def __init__(self, nc: NATS, *, enabled: bool = True) -> None:
        self._nc = nc
        self.enabled = enabled

    async def publish(self, record: TrafficRecord) -> None:
        if not self.enabled:
            return
        try:
            await self._nc.publish(traffic_subject(record.agency, record.operation), record.model_dump_json().encode())
        except Exception as exc:  # the tap must never fail a request
            _log.warning("traffic summary not published", error=type(exc).__name__)


async def trace(js: JetStreamContext, correlation_id: str) -> list[TrafficRecord]:
    """Every recorded exchange of one request (all its hops), oldest first, from the last day of traffic."""
    try:
        last = (await js.stream_info(_STREAM)).state.last_seq
    except Exception:  # no stream yet: nothing recorded
        return []
    found: list[TrafficRecord] = []
    if not last:
        return found
    sub = await js.subscribe("mpp.traffic.>", stream=_STREAM, ordered_consumer=True)
    try:
        while True:
            msg = await sub.next_msg(timeout=5)
            record = TrafficRecord.model_validate_json(msg.data)
            if record.correlation_id == correlation_id:
                found.append(record)
            if msg.metadata.sequence.stream >= last:
                break
    finally:
        await sub.unsubscribe()
    return found
