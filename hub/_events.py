"""Hub events on JetStream, published at most once per event id.

Agencies repeat themselves (a bank re-sends a payment notification until it is sure it arrived), so
every event carries a dedup id. JetStream's ``Nats-Msg-Id`` drops repeats inside the stream's
duplicate window; a key-value record of published ids drops the ones that come later than that.
"""

from __future__ import annotations

import hashlib

import structlog
from nats.js.api import KeyValueConfig, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from hub._agency import Event
from hub._streams import bind_key_value

__all__ = ["EVENTS_STREAM", "EVENT_IDS_BUCKET", "EVENT_IDS_KV", "EventPublisher", "event_subject"]

EVENT_IDS_BUCKET = "mpp_event_ids"
_KEEP_IDS_FOR = 400 * 24 * 3600.0  # longer than any agency's retry policy, and a year of audits
EVENT_IDS_KV = KeyValueConfig(bucket=EVENT_IDS_BUCKET, history=1, ttl=_KEEP_IDS_FOR)
#: Hub events (application status changes, payments notified by agencies).
EVENTS_STREAM = StreamConfig(name="MPP_EVENTS", subjects=["mpp.events.>"], max_age=90 * 24 * 3600.0)

_log = structlog.get_logger("hub.events")


def event_subject(name: str) -> str:
    return f"mpp.events.{name}"


def _key(dedup_id: str) -> str:
    # KV keys allow few characters; agency references allow many.
    return hashlib.sha256(dedup_id.encode()).hexdigest()


class EventPublisher:
    def __init__(self, js: JetStreamContext, published: KeyValue) -> None:
        self._js = js
        self._published = published

    @classmethod
    async def open(cls, js: JetStreamContext) -> EventPublisher:
        return cls(js, await bind_key_value(js, EVENT_IDS_BUCKET))

    async def publish(self, event: Event) -> bool:
        """Publish ``event`` unless one with its dedup id was published before; True if it was new.

        The stream write comes before the id record, so a crash in between can only cause a repeat
        that ``Nats-Msg-Id`` then drops, never a lost event.
        """
        key = _key(event.dedup_id)
        try:
            await self._published.get(key)
        except KeyNotFoundError:
            pass
        else:
            _log.debug("event repeated, dropped", event_name=event.name)
            return False
        ack = await self._js.publish(
            event_subject(event.name),
            event.payload.model_dump_json(by_alias=True).encode(),
            headers={"Nats-Msg-Id": key, "Mpp-Event": event.name, "Mpp-Event-Id": key},
        )
        await self._published.put(key, str(ack.seq).encode())
        if ack.duplicate:
            _log.info("event repeated, dropped", event_name=event.name)
        else:
            _log.info("event published", event_name=event.name, seq=ack.seq)
        return not ack.duplicate
