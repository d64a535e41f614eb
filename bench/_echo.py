"""The floor: a raw nats-py echo responder in a process of its own, ``python -m bench._echo URL CA_FILE SEED_FILE``.

It answers every request on :data:`SUBJECT` with the request's own bytes, so one round trip through it
is what NATS request/reply costs between two processes, with nothing of the hub in the way. It connects as
the hub's processes do (TLS checked against the bus CA, an nkey user), as a bench-only user that may only
answer on :data:`SUBJECT`.
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from pathlib import Path

import nats
from nats.aio.msg import Msg

import hub._bus_access  # noqa: F401  (quiets asyncio's warning at every close of a TLS connection to NATS)

SUBJECT = "bench.echo"


async def _serve(url: str, ca_file: str, seed: str) -> None:
    tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    nc = await nats.connect(url, name="bench-echo", tls=tls, nkeys_seed_str=seed)

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data)

    await nc.subscribe(SUBJECT, cb=echo)
    await nc.flush()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await nc.drain()


if __name__ == "__main__":
    url, ca_file, seed_file = sys.argv[1:4]
    asyncio.run(_serve(url, ca_file, Path(seed_file).read_text().strip()))
