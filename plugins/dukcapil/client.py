"""The live link to Dukcapil's partner web service: one httpx client, one error boundary."""

from __future__ import annotations

import time
from typing import Any

import httpx
from pydantic import Field, SecretStr

from contracts import (
    AgencyHealth,
    ErrorCode,
    HealthStatus,
    HubError,
    IdentityCheck,
    IdentityCheckResult,
    LookupByNik,
    Resident,
)
from hub import AgencySettings, CallContext
from plugins.dukcapil import _wire

__all__ = ["DukcapilClient", "DukcapilSettings"]

# A NIK no one holds (province 00 does not exist): the health probe proves the link and the credentials
# without reading anyone's data.
_PROBE_NIK = "0000000000000000"


class DukcapilSettings(AgencySettings):
    base_url: str = Field(description="Dukcapil web service, e.g. http://172.16.160.10:8080 on the closed network.")
    partner: str = Field(description="First path segment assigned in the PKS (partner or region code).")
    scope: str | None = Field(default=None, description="Optional second path segment (user scope).")
    user_id: str
    password: SecretStr
    ip_user: str = Field(description="The client IP registered with Dukcapil.")
    timeout: float = Field(default=5.0, gt=0, description="Seconds per agency call.")
    health_ttl: float = Field(default=15.0, ge=0, description="Seconds a health result is reused.")


class DukcapilClient:
    def __init__(self, settings: DukcapilSettings) -> None:
        self.settings = settings
        segments = "/".join(s for s in (settings.partner, settings.scope) if s)
        self._prefix = f"/dukcapil/get_json/{segments}"
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.timeout)
        self._health: tuple[float, AgencyHealth] | None = None

    @classmethod
    async def connect(cls, settings: DukcapilSettings) -> DukcapilClient:
        return cls(settings)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def lookup(self, query: LookupByNik, ctx: CallContext) -> Resident:
        body = await self._post("CALL_NIK", {"nik": query.nik}, ctx.remaining())
        return _wire.to_resident(_wire.first_record(body))

    async def verify(self, check: IdentityCheck, ctx: CallContext) -> IdentityCheckResult:
        body = await self._post("CALL_VERIFY_BY_ELEMEN", _wire.to_elements(check), ctx.remaining())
        return _wire.to_check_result(check, _wire.first_record(body))

    async def health(self) -> AgencyHealth:
        now = time.monotonic()
        if self._health is not None and now - self._health[0] < self.settings.health_ttl:
            return self._health[1]
        started = time.perf_counter()
        try:
            _wire.first_record(await self._post("CALL_NIK", {"nik": _PROBE_NIK}, self.settings.timeout))
            status, detail = HealthStatus.UP, "reachable, credentials accepted"
        except HubError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                status, detail = HealthStatus.UP, "reachable, credentials accepted"
            else:
                status, detail = HealthStatus.DOWN, exc.error.message
        health = AgencyHealth(
            agency=_wire.AGENCY,
            status=status,
            detail=detail,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            checked_at=_wire.now_utc(),
        )
        self._health = (now, health)
        return health

    async def _post(self, service: str, elements: dict[str, Any], budget: float) -> Any:
        """POST to a Dukcapil service; every transport or HTTP failure leaves as a contract error."""
        payload = {
            "user_id": self.settings.user_id,
            "password": self.settings.password.get_secret_value(),
            "ip_user": self.settings.ip_user,
            **elements,
        }
        timeout = min(self.settings.timeout, budget) if budget > 0 else self.settings.timeout
        try:
            response = await self._http.post(f"{self._prefix}/{service}", json=payload, timeout=timeout)
        except httpx.TimeoutException:
            raise HubError.of(
                ErrorCode.AGENCY_TIMEOUT, f"Dukcapil did not answer within {timeout:g}s", agency=_wire.AGENCY
            ) from None
        except httpx.TransportError as exc:
            raise HubError.of(
                ErrorCode.AGENCY_UNAVAILABLE,
                f"Cannot reach Dukcapil at {self.settings.base_url} ({type(exc).__name__})",
                agency=_wire.AGENCY,
            ) from None
        if response.status_code >= 500:
            raise HubError.of(
                ErrorCode.AGENCY_UNAVAILABLE,
                f"Dukcapil is failing (HTTP {response.status_code}); try again later",
                agency=_wire.AGENCY,
            )
        if response.status_code != 200:
            raise HubError.of(
                ErrorCode.AGENCY_ERROR,
                f"Dukcapil refused the call to {service} with HTTP {response.status_code}: check the dukcapil "
                "base_url, partner and scope settings",
                agency=_wire.AGENCY,
            )
        try:
            return response.json()  # json.loads keeps 16-digit JSON numbers exact
        except ValueError:
            raise HubError.of(
                ErrorCode.AGENCY_ERROR, "Dukcapil answered with something that is not JSON", agency=_wire.AGENCY
            ) from None
