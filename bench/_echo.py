"""The floor: a raw nats-py echo responder in a process of its own, ``python -m bench._echo NATS_URL``.

It answers every request on :data:`SUBJECT` with the request's own bytes, so one round trip through it
is what NATS request/reply costs between two processes, with nothing of the hub in the way.
"""

from __future__ import annotations

import asyncio
import sys

import nats
from nats.aio.msg import Msg

SUBJECT = "bench.echo"


async def _serve(url: str) -> None:
    nc = await nats.connect(url, name="bench-echo")

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    await nc.subscribe(SUBJECT, cb=echo)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await nc.drain()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1]))
