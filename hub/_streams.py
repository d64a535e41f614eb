"""Create or adopt the hub's JetStream streams and key-value buckets, with the replica count asked for.

Every worker and every CLI command ensures the streams it uses, so the first to start creates them and
the rest adopt them. A worker started with ``stream_replicas`` moves an existing stream to that count (a
single-node hub that grew into a cluster); a command that does not know (``replicas=None``) never
changes what it finds.
"""

from __future__ import annotations

import dataclasses

from nats.js.api import KeyValueConfig, StreamConfig
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, BucketNotFoundError, KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue

__all__ = ["NotProvisionedError", "bind_key_value", "ensure_key_value", "ensure_stream", "kv_value"]


class NotProvisionedError(RuntimeError):
    """A stream or bucket the hub needs does not exist; only the admin role may create them."""


async def bind_key_value(js: JetStreamContext, bucket: str) -> KeyValue:
    """The existing bucket; running roles never create one (see :mod:`hub._provision`)."""
    try:
        return await js.key_value(bucket)
    except (BucketNotFoundError, NotFoundError):
        raise NotProvisionedError(
            f"the bus has no bucket {bucket!r}: set up the hub's streams with `mpp-hub bus setup` (admin role), "
            "or start `mpp-hub up` on embedded NATS, which does it"
        ) from None


async def kv_value(kv: KeyValue, key: str) -> bytes | None:
    """What ``key`` holds now; None when it holds nothing (never written, deleted or purged)."""
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:  # KeyDeletedError too
        return None
    return entry.value or None


async def ensure_stream(js: JetStreamContext, config: StreamConfig, replicas: int | None = None) -> None:
    """Create ``config``'s stream, or bring an existing one to it (keeping its replicas unless given)."""
    try:
        await js.add_stream(dataclasses.replace(config, num_replicas=replicas or 1))
    except BadRequestError:
        # It exists with another configuration: an older hub's, or another replica count.
        current = (await js.stream_info(config.name or "")).config
        wanted = dataclasses.replace(config, num_replicas=replicas or current.num_replicas)
        await js.update_stream(wanted)


async def ensure_key_value(js: JetStreamContext, config: KeyValueConfig, replicas: int | None = None) -> KeyValue:
    """Create the bucket, or bind to the existing one (moving it to ``replicas`` when given)."""
    try:
        return await js.create_key_value(config.evolve(replicas=replicas or 1))
    except BadRequestError:
        current = (await js.stream_info(f"KV_{config.bucket}")).config
        wanted = dataclasses.replace(
            current,
            num_replicas=replicas or current.num_replicas,
            # A bucket now asked to keep fewer revisions (the applications': one) drops the older ones at once.
            max_msgs_per_subject=config.history,
        )
        if (wanted.num_replicas, wanted.max_msgs_per_subject) != (current.num_replicas, current.max_msgs_per_subject):
            await js.update_stream(wanted)
        return await js.key_value(config.bucket)
