"""One agency sandbox in a process of its own: ``python -m bench._sandbox CODE``.

The bench runs every sandbox apart from the hub and from the load it generates, so that a sandbox's
CPU never counts against the hub's. It prints its URL on the first line of stdout, then serves until
stdin closes (the bench ending, even by a crash, ends it too). Latency is steered at runtime through
the fault injector's ``PUT /_sandbox/faults``.
"""

from __future__ import annotations

import asyncio
import sys

from hub import SandboxContext, load_plugins
from hub._asgi import AsgiServer
from hub._faults import with_faults


async def _serve(code: str) -> None:
    sandbox = load_plugins(only={code}).sandboxes[code]
    server = AsgiServer(with_faults(sandbox.app(SandboxContext())))
    print(await server.start(), flush=True)
    # Serve until the bench closes our stdin.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1]))
