"""The event loop hub processes run on: uvloop where it is installed (it is a dependency), else asyncio's.

uvloop's libuv-based loop and transports cut the per-message cost of NATS, the portal edge and the agency
links: the bench (``python -m bench``) measures the hub on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["run"]

T = TypeVar("T")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:  # a platform without uvloop wheels (Windows): asyncio's own loop works, only slower
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the fastest loop available."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(main)
