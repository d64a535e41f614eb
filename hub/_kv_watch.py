"""Watching a JetStream KV bucket from everything it holds now, for the hub's watch-then-serve starts.

nats-py's watcher marks "initial values done" (a None entry) by comparing the consumer's pending count with what
the client has processed so far: under load the server has already handed every record to the client, so the
count is 0 while none is processed, and the marker comes *before* the records. A registry that served on that
marker would miss its own keys, and a listing would miss records. So the end of what the bucket holds is not taken
from the marker but from the stream: the newest revision among the watched keys is known before the watch starts,
and the watch is done once it has arrived. When the server says nothing is pending before that, the newest revision
is asked for again: it may have been removed meanwhile, or a key rewritten during the watch may still be on its way
(the server's pending count can miss it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

__all__ = ["KvWatcher", "current_entries", "watch_from_current"]

_LOAD_TIMEOUT = 10.0


class KvWatcher(Protocol):
    """The part of nats-py's (untyped) KV watcher the hub uses."""

    async def updates(self, timeout: float = ...) -> KeyValue.Entry | None: ...
    async def stop(self) -> None: ...
    def __aiter__(self) -> AsyncIterator[KeyValue.Entry | None]: ...


async def watch_from_current(
    kv: KeyValue,
    keys: str = ">",
    *,
    on_entry: Callable[[KeyValue.Entry], None],
    meta_only: bool = False,
    timeout: float = _LOAD_TIMEOUT,
) -> KvWatcher:
    """A watch on ``keys`` that has fed ``on_entry`` every record the bucket holds for them now (deletes and
    purges included, as entries); later changes are the caller's to follow on the watcher returned.

    Raises ``TimeoutError`` when the records do not all arrive within ``timeout`` seconds.
    """
    newest = await _newest_revision(kv, keys)
    watcher: KvWatcher = await kv.watch(keys, meta_only=meta_only)
    try:
        async with asyncio.timeout(timeout):
            while newest:
                entry = await watcher.updates(timeout=timeout)
                if entry is None:  # nats-py's marker, which may come early: see the module's docstring
                    continue
                on_entry(entry)
                seen = entry.revision or 0
                if seen >= newest:
                    break
                if entry.delta == 0:
                    # "Nothing pending" is not to be trusted while a key is rewritten during the watch (the
                    # server can report 0 with the rewritten key still to come), so ask the stream again: done
                    # only when nothing newer than what has arrived is left (the newest may have been removed).
                    newest = await _newest_revision(kv, keys)
                    if seen >= newest:
                        break
    except BaseException:
        await watcher.stop()
        raise
    return watcher


async def current_entries(kv: KeyValue, keys: str, *, meta_only: bool = True) -> list[KeyValue.Entry]:
    """Every record the bucket holds now for ``keys`` (a pattern filtered on the server), deletes left out."""
    entries: list[KeyValue.Entry] = []
    watcher = await watch_from_current(kv, keys, on_entry=entries.append, meta_only=meta_only)
    await watcher.stop()
    return [entry for entry in entries if entry.operation not in ("DEL", "PURGE")]


async def _newest_revision(kv: KeyValue, keys: str) -> int:
    """The revision of the newest record among ``keys``, 0 when there is none (the server matches wildcards)."""
    # nats-py's KeyValue has no public way to this: its stream, subject prefix and JetStream context are private.
    try:
        newest = await kv._js.get_last_msg(kv._stream, f"{kv._pre}{keys}")
    except NotFoundError:
        return 0
    return int(newest.seq or 0)
