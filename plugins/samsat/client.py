"""The live link to Samsat Jawa Tengah's partner back end: one httpx client, one error boundary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field, SecretStr

from contracts import (
    ErrorCode,
    HubError,
    PlateQuery,
    TaxPayment,
    TaxPaymentReceipt,
    VehicleList,
    VehiclesByOwner,
    VehicleTax,
)
from hub import CallContext, HttpAgencySettings, HttpConnector
from plugins.samsat import _wire

__all__ = ["SamsatClient", "SamsatSettings"]

# A plate no one holds (no region is "ZZ" and no plate number is 0): the health probe proves the link and
# the credentials without reading anyone's data.
_PROBE_PLATE = {"na": "ZZ", "nb": "0", "nc": ""}


class SamsatSettings(HttpAgencySettings):
    base_url: str = Field(description="Samsat's partner back end, e.g. https://samsat.jatengprov.go.id.")
    key_id: str = Field(min_length=1, description="The partner key Bapenda Jateng issued to this hub (sent as `key`).")
    secret: SecretStr = Field(min_length=1, description="The shared secret that signs each request's token.")


class SamsatClient(HttpConnector[SamsatSettings]):
    agency = _wire.AGENCY
    agency_name = "Samsat"

    async def list_by_owner(self, query: VehiclesByOwner, ctx: CallContext) -> VehicleList:
        body = await self._post(_wire.NIK_PATH, {"nik": query.nik}, [query.nik], ctx.remaining())
        return _wire.to_vehicle_list(query.nik, _wire.expect(body))

    async def tax_due(self, query: PlateQuery, ctx: CallContext) -> VehicleTax:
        plate = _wire.plate_fields(query.plate)
        signed = list(plate.values())
        # The tax detail wants the chassis number, which only the vehicle record gives.
        kbm = _wire.expect(await self._post(_wire.KBM_PATH, plate, signed, ctx.remaining()))
        fields = {**plate, "noka": str(kbm.get("noka") or "")}
        pajak = _wire.expect(await self._post(_wire.PAJAK_PATH, fields, signed, ctx.remaining()))
        return _wire.to_vehicle_tax(kbm, pajak)

    async def record_payment(self, payment: TaxPayment, ctx: CallContext) -> TaxPaymentReceipt:
        fields = _wire.payment_fields(payment)
        body = await self._post(_wire.PAYMENT_PATH, fields, _wire.signed_payment(fields), ctx.remaining())
        # Samsat is idempotent by the bank's reference: a repeat answers 094 with the original receipt.
        return _wire.to_receipt(_wire.expect(body, (_wire.OK, _wire.DUPLICATE), payment.amount))

    async def _probe(self) -> str:
        body = await self._post(_wire.KBM_PATH, _PROBE_PLATE, list(_PROBE_PLATE.values()), None)
        _wire.expect(body, (_wire.NOT_FOUND,))
        return "reachable, credentials accepted"

    async def _post(self, path: str, fields: dict[str, Any], signed: Sequence[str], budget: float | None) -> Any:
        """POST a signed request to Samsat and return its flat JSON answer."""
        key, req = self.settings.key_id, _wire.request_time(_wire.now_wib())
        token = _wire.token(self.settings.secret.get_secret_value(), key, signed, req)
        payload = {**fields, "req": req, "key": key, "token": token}
        response = await self._http.request("POST", path, json=payload, budget=budget)
        if response.status_code != 200:
            raise HubError.of(
                ErrorCode.AGENCY_ERROR,
                f"Samsat refused the call to {path} with HTTP {response.status_code}: check the samsat base_url "
                "setting",
                agency=_wire.AGENCY,
            )
        return self._http.json(response)
