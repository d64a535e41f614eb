"""A limit on failed authentications at the HTTP edge, so API keys cannot be guessed at speed.

The edge asks :meth:`AuthFailureLimiter.check` before it verifies a key, answers 429 with ``Retry-After``
when it returns a wait, and reports each refused key with :meth:`AuthFailureLimiter.failed`. Failures are
counted in a sliding window per client address and per key id (the public part of a key), so one address
cannot try many keys, and many addresses cannot try one key. Successes are not recorded: failures age out.

IPv6 clients are counted per /64, the block one subscriber is usually given, or one attacker could spread
its attempts over 2^64 addresses. Memory stays bounded: each kind tracks at most ``max_entries`` names (the
one that failed longest ago is forgotten first), each with at most its limit of failure times.

Not thread-safe: it is meant for the edge's event loop, where nothing awaits inside a call.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import NamedTuple

__all__ = ["AuthFailureLimiter", "Tracked", "key_id"]

# An API key reads mpp_<key id>_<secret>; the key id is 12 lowercase letters or digits (see hub._consumers).
_API_KEY = re.compile(r"mpp_([a-z0-9]{12})_[A-Za-z0-9_-]+")
_API_KEY_MAX = 256  # far above a real key (60 characters): longer input is not worth a regex
_IPV6_SUBSCRIBER_PREFIX = 64
_MIN_WAIT = 0.001


def key_id(api_key: str | None) -> str | None:
    """The key id of a key shaped ``mpp_<12 lowercase letters/digits>_<secret>``; None for any other input."""
    if not api_key or len(api_key) > _API_KEY_MAX:
        return None
    match = _API_KEY.fullmatch(api_key)
    return match.group(1) if match else None


class Tracked(NamedTuple):
    """How many client addresses and key ids the limiter remembers failures for."""

    addresses: int
    keys: int


class _Failures:
    """Recent failure times by name, the name that failed most recently last; bounded in names and times."""

    def __init__(self, limit: int, capacity: int) -> None:
        self._limit = limit
        self._capacity = capacity
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._times)

    def wait(self, name: str, now: float, window: float) -> float | None:
        """Seconds until ``name`` may fail again without passing its limit, or None if it may now."""
        times = self._times.get(name)
        if times is None:
            return None
        while times and times[0] <= now - window:
            times.popleft()
        if not times:
            del self._times[name]  # aged out entirely: nothing left worth remembering
            return None
        if len(times) < self._limit:
            return None
        # The oldest of the last `limit` failures leaving the window brings the count under the limit. It is
        # inside the window, so this is above 0; the floor keeps float rounding from making it 0 (no wait).
        return max(times[0] + window - now, _MIN_WAIT)

    def record(self, name: str, now: float) -> None:
        times = self._times.get(name)
        if times is None:
            # Only the last `limit` failures decide a wait, so no more are kept.
            times = self._times[name] = deque(maxlen=self._limit)
            if len(self._times) > self._capacity:
                self._times.popitem(last=False)
        else:
            self._times.move_to_end(name)
        times.append(now)


def _address_bucket(address: str) -> str:
    """The name an address is counted under: itself, its IPv4 form if IPv4-mapped, or its IPv6 /64."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address  # not an IP (a test client, a Unix socket): counted as given
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, _IPV6_SUBSCRIBER_PREFIX), strict=False))
    return str(parsed)


class AuthFailureLimiter:
    """At most ``per_address`` failures per client address and ``per_key`` per key id within ``window`` seconds."""

    def __init__(
        self,
        per_address: int = 20,
        per_key: int = 10,
        window: float = 60.0,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_address < 1 or per_key < 1 or max_entries < 1:
            raise ValueError("per_address, per_key and max_entries must each be at least 1")
        if not window > 0:
            raise ValueError("window must be a positive number of seconds")
        self._window = window
        self._clock = clock
        self._addresses = _Failures(per_address, max_entries)
        self._keys = _Failures(per_key, max_entries)

    def check(self, address: str, key_id: str | None) -> float | None:
        """None if the caller may try to authenticate; else the seconds to wait (for Retry-After), above 0."""
        now = self._clock()
        waits = [self._addresses.wait(_address_bucket(address), now, self._window)]
        if key_id is not None:
            waits.append(self._keys.wait(key_id, now, self._window))
        blocking = [wait for wait in waits if wait is not None]
        return max(blocking) if blocking else None

    def failed(self, address: str, key_id: str | None) -> None:
        """Count one failed authentication against the address and, if the key had a key id, against it."""
        now = self._clock()
        self._addresses.record(_address_bucket(address), now)
        if key_id is not None:
            self._keys.record(key_id, now)

    def tracked(self) -> Tracked:
        """How many addresses and key ids are remembered now (for tests and metrics)."""
        return Tracked(len(self._addresses), len(self._keys))
