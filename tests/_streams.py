"""Reading what a JetStream stream holds up to now, without waiting for a silence to prove that nothing follows."""

from __future__ import annotations

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

__all__ = ["messages_on", "messages_so_far"]


async def messages_so_far(js: JetStreamContext, stream: str, subject: str, timeout: float = 10.0) -> list[Msg]:
    """Every message of ``stream`` on ``subject`` (wildcards too), oldest first, up to the newest one there now.

    The newest message's sequence is read first, so the read ends on it, not after some quiet time: whatever was
    published before the call is all there, and nothing later is waited for.
    """
    try:
        last = (await js.get_last_msg(stream, subject)).seq or 0
    except NotFoundError:
        return []
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    found: list[Msg] = []
    try:
        while not found or found[-1].metadata.sequence.stream < last:
            found.append(await sub.next_msg(timeout=timeout))
    finally:
        await sub.unsubscribe()
    return found


async def messages_on(js: JetStreamContext, stream: str, subject: str) -> int:
    """How many messages ``stream`` holds on ``subject`` now (a work queue's: those not yet acknowledged)."""
    state = (await js.stream_info(stream, subjects_filter=subject)).state
    return sum((state.subjects or {}).values())
