"""Emergency notices: one at a time, kept under ``e.notice`` in the shared ``mpp_front`` bucket.

Every display board, desk screen and citizen page follows that key (``$KV.mpp_front.e.notice``), so a notice
raised at one edge shows on every screen at once, and clearing it (deleting the key) clears them all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from nats.js.kv import KeyValue

from contracts import EmergencyNotice, ErrorCode, HubError, NoticeRequest
from hub._streams import kv_value

__all__ = ["NOTICE_KEY", "NoticeBoard"]

NOTICE_KEY = "e.notice"


class NoticeBoard:
    """Raise, read and clear the mall's emergency notice; ``clock`` is now in UTC."""

    def __init__(self, kv: KeyValue, clock: Callable[[], dt.datetime]) -> None:
        self._kv = kv
        self._clock = clock

    async def raise_notice(self, request: NoticeRequest) -> EmergencyNotice:
        """Show ``request`` on every screen, replacing any notice already up."""
        notice = EmergencyNotice(**request.model_dump(), raised_at=self._clock())
        await self._kv.put(NOTICE_KEY, notice.model_dump_json().encode())
        return notice

    async def current(self) -> EmergencyNotice | None:
        raw = await kv_value(self._kv, NOTICE_KEY)
        return EmergencyNotice.model_validate_json(raw) if raw else None

    async def clear(self) -> EmergencyNotice:
        """Take the notice down; ``not_found`` when none is up."""
        notice = await self.current()
        if notice is None:
            raise HubError.of(ErrorCode.NOT_FOUND, "No emergency notice is up")
        await self._kv.delete(NOTICE_KEY)
        return notice
