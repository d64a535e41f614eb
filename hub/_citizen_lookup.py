"""The citizen's own way into an application: its tracking number and the applicant's birth date.

A wrong birth date answers exactly as an unknown number does, so numbers cannot be tried out. Birth dates can:
a person is born on one of some 36,500 days of a century. So each tracking number takes at most ``per_number``
wrong birth dates in ``window`` seconds, from whatever address or key they come; past that, every lookup of
that number, the right date's too, is ``rate_limited`` until the oldest miss ages out. A portal, a kiosk and the
citizen page all come here (``/v1/applications/lookup`` and ``/document``, the survey, ``/warga``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from contracts import ErrorCode, HubError
from hub._applications import ApplicationStore, StoredApplication
from hub._auth_limit import AuthFailureLimiter

__all__ = ["NO_APPLICATION", "CitizenLookup"]

#: What an unknown number and a wrong birth date both answer.
NO_APPLICATION = "Tidak ada permohonan dengan nomor pelacakan dan tanggal lahir ini; periksa keduanya pada tanda terima"


class CitizenLookup:
    """Find an application by tracking number and birth date, counting the wrong dates tried on each number."""

    def __init__(
        self, per_number: int = 10, window: float = 3600.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # The limiter's "address" is the tracking number here: the name the misses are counted under.
        self._misses = AuthFailureLimiter(per_address=per_number, per_key=1, window=window, clock=clock)

    async def find(
        self, store: ApplicationStore, tracking_no: str, birth_date: dt.date, *, not_found: str = NO_APPLICATION
    ) -> StoredApplication:
        """The application, or ``not_found`` for an unknown number or a wrong date alike."""
        wait = self._misses.check(tracking_no, None)
        if wait is not None:
            raise HubError.of(
                ErrorCode.RATE_LIMITED,
                f"Terlalu banyak tanggal lahir yang salah untuk nomor {tracking_no}; coba lagi nanti",
                retry_after=wait,
            )
        found = await store.get(tracking_no)
        if found is None or not store.born_on(found[0], birth_date):
            self._misses.failed(tracking_no, None)
            raise HubError.of(ErrorCode.NOT_FOUND, not_found)
        return found[0]
