"""Per-agency resilience at the bus boundary, the same for every plugin: retries where safe, a circuit
breaker, and a bulkhead.

- **Retry** (tenacity, exponential backoff with jitter) only for idempotent operations, only on failures a
  retry can help (``agency_unavailable``, ``agency_timeout``), and never past the caller's deadline.
- **Circuit breaker**: after ``failure_threshold`` agency failures within ``failure_window`` seconds the
  circuit opens and calls fail at once with ``agency_unavailable`` and ``Retry-After``; after ``open_for``
  seconds one probe goes through (half-open): its success closes the circuit, its failure opens it again.
- **Bulkhead**: at most ``max_in_flight`` calls into one agency per worker; a call that cannot get a slot
  within ``queue_timeout`` fails fast, so a slow agency never takes every worker's capacity.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_after_delay, wait_exponential_jitter

from contracts import ErrorCode, HubError

__all__ = ["CircuitState", "Guard", "ResiliencePolicy"]

T = TypeVar("T")
_log = structlog.get_logger("hub.resilience")

#: Failures that say something about the agency link (not about the request).
_AGENCY_FAILURES = {ErrorCode.AGENCY_UNAVAILABLE, ErrorCode.AGENCY_TIMEOUT, ErrorCode.AGENCY_ERROR}
_RETRYABLE = {ErrorCode.AGENCY_UNAVAILABLE, ErrorCode.AGENCY_TIMEOUT}


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, HubError) and exc.code in _RETRYABLE and not isinstance(exc, _CircuitOpen)


class ResiliencePolicy(BaseModel):
    """One agency's policy; plugins may declare defaults and `[resilience.<code>]` in settings overrides them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retries: int = Field(default=2, ge=0, le=10, description="Extra attempts for idempotent operations.")
    backoff_initial: float = Field(default=0.05, gt=0, description="Seconds before the first retry.")
    backoff_max: float = Field(default=1.0, gt=0, description="Longest wait between retries.")
    failure_threshold: int = Field(default=5, ge=1, description="Agency failures that open the circuit...")
    failure_window: float = Field(default=30.0, gt=0, description="...within this many seconds.")
    open_for: float = Field(default=10.0, gt=0, description="Seconds the circuit stays open before a probe.")
    max_in_flight: int = Field(default=16, ge=1, description="Concurrent calls into the agency per worker.")
    queue_timeout: float = Field(default=1.0, ge=0, description="Seconds a call may wait for a free slot.")


class _CircuitOpen(HubError):
    """Failing fast: retrying at once would only fail fast again."""


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class _Breaker:
    def __init__(self, agency: str, policy: ResiliencePolicy, on_change: Callable[[CircuitState], None]) -> None:
        self._agency = agency
        self._policy = policy
        self._on_change = on_change
        self._failures: deque[float] = deque()
        self._opened_at = 0.0
        self._probing = False
        self.state = CircuitState.CLOSED

    def _set(self, state: CircuitState) -> None:
        if state is not self.state:
            _log.warning("circuit " + state.value, agency=self._agency)
            self.state = state
            self._on_change(state)

    def admit(self) -> None:
        """Let a call through, or fail fast while the circuit is open (one probe when it is due)."""
        if self.state is CircuitState.CLOSED:
            return
        waited = time.monotonic() - self._opened_at
        if self.state is CircuitState.OPEN and waited >= self._policy.open_for and not self._probing:
            self._set(CircuitState.HALF_OPEN)
        if self.state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return
        raise _CircuitOpen(
            HubError.of(
                ErrorCode.AGENCY_UNAVAILABLE,
                f"The link to {self._agency} is failing, so the hub is not calling it for a while (circuit open)",
                agency=self._agency,
                retry_after=max(1.0, self._policy.open_for - waited),
            ).error
        )

    def succeeded(self) -> None:
        self._probing = False
        self._failures.clear()
        self._set(CircuitState.CLOSED)

    def failed(self) -> None:
        now = time.monotonic()
        if self._probing or self.state is CircuitState.HALF_OPEN:
            self._probing = False
            self._open(now)
            return
        self._failures.append(now)
        while self._failures and now - self._failures[0] > self._policy.failure_window:
            self._failures.popleft()
        if len(self._failures) >= self._policy.failure_threshold:
            self._open(now)

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._failures.clear()
        self._set(CircuitState.OPEN)


class Guard:
    """The breaker, bulkhead and retry policy of one agency in one worker."""

    def __init__(
        self, agency: str, policy: ResiliencePolicy, on_circuit: Callable[[CircuitState], None] = lambda _: None
    ) -> None:
        self.agency = agency
        self.policy = policy
        self.breaker = _Breaker(agency, policy, on_circuit)
        self._slots = asyncio.Semaphore(policy.max_in_flight)

    @property
    def circuit(self) -> CircuitState:
        return self.breaker.state

    async def run(self, call: Callable[[], Awaitable[T]], *, idempotent: bool, remaining: Callable[[], float]) -> T:
        """Run ``call`` under the policy; ``remaining`` gives the seconds left of the caller's deadline."""
        if not idempotent or self.policy.retries == 0:
            return await self._once(call, remaining)
        try:
            return await self._once(call, remaining)  # most calls end here, with no retry loop built for them
        except HubError as exc:
            if not _retryable(exc):
                raise
            failed: HubError | None = exc
        async for attempt in self._retrying(remaining):
            with attempt:
                if failed is not None:
                    first, failed = failed, None
                    raise first  # the first attempt's failure, already met: tenacity waits, then tries again
                return await self._once(call, remaining)
        raise AssertionError("unreachable: tenacity re-raises the last failure")  # pragma: no cover

    def _retrying(self, remaining: Callable[[], float]) -> AsyncRetrying:
        return AsyncRetrying(
            stop=stop_after_attempt(self.policy.retries + 1) | stop_after_delay(max(0.0, remaining() - 0.05)),
            wait=wait_exponential_jitter(
                multiplier=self.policy.backoff_initial, max=self.policy.backoff_max, jitter=self.policy.backoff_initial
            ),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )

    async def _once(self, call: Callable[[], Awaitable[T]], remaining: Callable[[], float]) -> T:
        self.breaker.admit()
        try:
            async with asyncio.timeout(min(self.policy.queue_timeout, remaining())):
                await self._slots.acquire()
        except TimeoutError:
            raise HubError.of(
                ErrorCode.AGENCY_UNAVAILABLE,
                f"{self.agency} is slow and this worker's {self.policy.max_in_flight} calls to it are all taken",
                agency=self.agency,
                retry_after=1.0,
            ) from None
        try:
            result = await call()
        except HubError as exc:
            if exc.code in _AGENCY_FAILURES:
                self.breaker.failed()
            else:
                self.breaker.succeeded()  # the agency answered (a refusal is an answer)
            raise
        finally:
            self._slots.release()
        self.breaker.succeeded()
        return result
