"""The tests' one way to wait for a state that nothing announces: poll a probe until it gives a truthy value.

Prefer awaiting an event or a counter where the code offers one; poll only what can be seen from outside (an
HTTP status, a stream's consumer, a file a child process writes). On timeout the error says what was waited
for and what the probe saw last, so a failure on a loaded CI machine reads as a finding, not a bare timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

__all__ = ["until", "until_sync"]

T = TypeVar("T")

#: The first pause between probes, doubled up to the longest: quick when the state is near, cheap when not.
_FIRST_PAUSE = 0.01
_LONGEST_PAUSE = 0.2


class _Seen:
    """What the probe gave or raised last, for the timeout's message."""

    def __init__(self) -> None:
        self.last: object = "nothing yet"

    def describe(self, what: str, timeout: float) -> str:
        return f"timed out after {timeout:g} s waiting for {what}; the probe last gave {self.last!r}"


@overload
async def until(
    probe: Callable[[], Awaitable[T | None]],
    what: str,
    timeout: float = ...,
    *,
    ignoring: tuple[type[BaseException], ...] = ...,
) -> T: ...


@overload
async def until(
    probe: Callable[[], T | None],
    what: str,
    timeout: float = ...,
    *,
    ignoring: tuple[type[BaseException], ...] = ...,
) -> T: ...


async def until(
    probe: Callable[[], Any],
    what: str,
    timeout: float = 20.0,
    *,
    ignoring: tuple[type[BaseException], ...] = (),
) -> Any:
    """The probe's first truthy value (None, False, an empty list: not yet); ``ignoring``: exceptions that mean
    "not yet" too.

    ``probe`` may be a plain function or a coroutine function.
    """
    seen, pause = _Seen(), _FIRST_PAUSE
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
        except ignoring as exc:
            value, seen.last = None, exc
        else:
            seen.last = value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(seen.describe(what, timeout))
        await asyncio.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)


def until_sync(
    probe: Callable[[], T | None],
    what: str,
    timeout: float = 20.0,
    *,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """:func:`until` for code with no event loop (a child process's files, a server thread starting)."""
    seen, pause = _Seen(), _FIRST_PAUSE
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except ignoring as exc:
            value, seen.last = None, exc
        else:
            seen.last = value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(seen.describe(what, timeout))
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)
