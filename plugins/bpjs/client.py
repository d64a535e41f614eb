"""The live link to BPJS Kesehatan's VClaim web service: one httpx client, one error boundary."""

from __future__ import annotations

import time
from typing import Any

import httpx
from pydantic import Field, SecretStr

from contracts import AgencyHealth, Coverage, CoverageQuery, ErrorCode, HealthStatus, HubError
from hub import AgencySettings, CallContext
from plugins.bpjs import _crypto, _wire
from plugins.bpjs._data import NO_CARD_HOLDER

__all__ = ["BpjsClient", "BpjsSettings"]

_UP = "reachable, signature and keys accepted"


class BpjsSettings(AgencySettings):
    base_url: str = Field(
        description="VClaim base URL including its service path, e.g. https://apijkn.bpjs-kesehatan.go.id/vclaim-rest."
    )
    cons_id: str = Field(description="Consumer ID (X-cons-id) issued by BPJS Kesehatan.")
    secret: SecretStr = Field(description="Consumer secret: signs each request and decrypts each answer.")
    user_key: SecretStr = Field(description="The user_key issued for the VClaim service.")
    timeout: float = Field(default=5.0, gt=0, description="Seconds per agency call.")
    health_ttl: float = Field(default=15.0, ge=0, description="Seconds a health result is reused.")


class BpjsClient:
    def __init__(self, settings: BpjsSettings) -> None:
        self.settings = settings
        self._http = httpx.AsyncClient(base_url=settings.base_url, timeout=settings.timeout)
        self._health: tuple[float, AgencyHealth] | None = None

    @classmethod
    async def connect(cls, settings: BpjsSettings) -> BpjsClient:
        return cls(settings)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def coverage(self, query: CoverageQuery, ctx: CallContext) -> Coverage:
        day = query.service_date or _wire.today_wib()
        body, timestamp = await self._get(_wire.peserta_path(query, day), ctx.remaining())
        key = _crypto.response_key(self.settings.cons_id, self.settings.secret.get_secret_value(), timestamp)
        return _wire.to_coverage(_wire.decrypt_peserta(body, key), query, day)

    async def health(self) -> AgencyHealth:
        now = time.monotonic()
        if self._health is not None and now - self._health[0] < self.settings.health_ttl:
            return self._health[1]
        started = time.perf_counter()
        # A card number nobody holds: "not found" proves the link, the signature and the keys without
        # reading anyone's data.
        probe = CoverageQuery(card_number=NO_CARD_HOLDER)
        try:
            body, _ = await self._get(_wire.peserta_path(probe, _wire.today_wib()), self.settings.timeout)
            _wire.check_envelope(body)
            status, detail = HealthStatus.UP, _UP
        except HubError as exc:
            if exc.code is ErrorCode.NOT_FOUND:
                status, detail = HealthStatus.UP, _UP
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

    def _headers(self, timestamp: str) -> dict[str, str]:
        secret = self.settings.secret.get_secret_value()
        return {
            "X-cons-id": self.settings.cons_id,
            "X-timestamp": timestamp,
            "X-signature": _crypto.signature(self.settings.cons_id, secret, timestamp),
            "user_key": self.settings.user_key.get_secret_value(),
            "Content-Type": "application/json; charset=utf-8",
        }

    async def _get(self, path: str, budget: float) -> tuple[Any, str]:
        """GET a VClaim resource; returns the envelope and the timestamp its answer is encrypted with.

        Every transport or HTTP failure leaves as a contract error.
        """
        timestamp = str(int(time.time()))
        timeout = min(self.settings.timeout, budget) if budget > 0 else self.settings.timeout
        try:
            response = await self._http.get(path, headers=self._headers(timestamp), timeout=timeout)
        except httpx.TimeoutException:
            raise HubError.of(
                ErrorCode.AGENCY_TIMEOUT, f"BPJS Kesehatan did not answer within {timeout:g}s", agency=_wire.AGENCY
            ) from None
        except httpx.TransportError as exc:
            raise HubError.of(
                ErrorCode.AGENCY_UNAVAILABLE,
                f"Cannot reach BPJS Kesehatan at {self.settings.base_url} ({type(exc).__name__})",
                agency=_wire.AGENCY,
            ) from None
        _raise_for_status(response, self.settings.base_url)
        try:
            return response.json(), timestamp
        except ValueError:
            raise _wire.garbled("the body is not JSON") from None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


def _raise_for_status(response: httpx.Response, base_url: str) -> None:
    status = response.status_code
    if status == 429 or status >= 500:
        raise HubError.of(
            ErrorCode.AGENCY_UNAVAILABLE,
            f"BPJS Kesehatan is {'rate-limiting the hub' if status == 429 else 'failing'} (HTTP {status}); "
            "try again later",
            agency=_wire.AGENCY,
            retry_after=_retry_after(response),
        )
    if status in (401, 403):
        try:
            message = _wire.refusal_message(response.json())
        except ValueError:
            message = ""  # the gateway may answer with a bare page
        raise _wire.gateway_refusal(message, status)
    if status != 200:
        raise HubError.of(
            ErrorCode.AGENCY_ERROR,
            f"BPJS Kesehatan refused the call with HTTP {status}: check the bpjs base_url setting "
            f"(now {base_url}; it should end in the service path, e.g. /vclaim-rest)",
            agency=_wire.AGENCY,
        )
