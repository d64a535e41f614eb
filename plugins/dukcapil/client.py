"""The live link to Dukcapil's partner web service: one httpx client, one error boundary."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SecretStr

from contracts import (
    ErrorCode,
    FamilyCard,
    HubError,
    IdentityCheck,
    IdentityCheckResult,
    LookupByKK,
    LookupByNik,
    Resident,
)
from hub import CallContext, HttpAgencySettings, HttpConnector
from plugins.dukcapil import _wire

__all__ = ["DukcapilClient", "DukcapilSettings"]

# A NIK no one holds (province 00 does not exist): the health probe proves the link and the credentials
# without reading anyone's data.
_PROBE_NIK = "0000000000000000"


class DukcapilSettings(HttpAgencySettings):
    base_url: str = Field(description="Dukcapil web service, e.g. http://172.16.160.10:8080 on the closed network.")
    partner: str = Field(description="First path segment assigned in the PKS (partner or region code).")
    scope: str | None = Field(default=None, description="Optional second path segment (user scope).")
    user_id: str
    password: SecretStr
    ip_user: str = Field(description="The client IP registered with Dukcapil.")


class DukcapilClient(HttpConnector[DukcapilSettings]):
    agency = _wire.AGENCY
    agency_name = "Dukcapil"

    def __init__(self, settings: DukcapilSettings) -> None:
        super().__init__(settings)
        segments = "/".join(s for s in (settings.partner, settings.scope) if s)
        self._prefix = f"/dukcapil/get_json/{segments}"

    async def lookup(self, query: LookupByNik, ctx: CallContext) -> Resident:
        body = await self._post("CALL_NIK", {"nik": query.nik}, ctx.remaining())
        return _wire.to_resident(_wire.first_record(body))

    async def family(self, query: LookupByKK, ctx: CallContext) -> FamilyCard:
        body = await self._post("CALL_KK", {"no_kk": query.kk_number}, ctx.remaining())
        return _wire.to_family(query.kk_number, _wire.records(body, _wire.NO_FAMILY))

    async def verify(self, check: IdentityCheck, ctx: CallContext) -> IdentityCheckResult:
        body = await self._post("CALL_VERIFY_BY_ELEMEN", _wire.to_elements(check), ctx.remaining())
        return _wire.to_check_result(check, _wire.first_record(body))

    async def _probe(self) -> str:
        try:
            _wire.first_record(await self._post("CALL_NIK", {"nik": _PROBE_NIK}, None))
        except HubError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:
                raise
        return "reachable, credentials accepted"

    async def _post(self, service: str, elements: dict[str, Any], budget: float | None) -> Any:
        """POST to a Dukcapil service and return the envelope; refusals are the caller's to read."""
        payload = {
            "user_id": self.settings.user_id,
            "password": self.settings.password.get_secret_value(),
            "ip_user": self.settings.ip_user,
            **elements,
        }
        response = await self._http.request("POST", f"{self._prefix}/{service}", json=payload, budget=budget)
        # Dukcapil answers 200 even to refusals; any other status means the path (partner, scope) is wrong.
        if response.status_code != 200:
            raise HubError.of(
                ErrorCode.AGENCY_ERROR,
                f"Dukcapil refused the call to {service} with HTTP {response.status_code}: check the dukcapil "
                "base_url, partner and scope settings",
                agency=_wire.AGENCY,
            )
        return self._http.json(response)  # json.loads keeps 16-digit JSON numbers exact
