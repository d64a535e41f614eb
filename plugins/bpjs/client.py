"""The live link to BPJS Kesehatan's VClaim web service: one httpx client, one error boundary."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field, SecretStr

from contracts import Coverage, CoverageQuery, ErrorCode, HubError
from hub import CallContext, HttpAgencySettings, HttpConnector
from plugins.bpjs import _crypto, _wire
from plugins.bpjs._data import NO_CARD_HOLDER

__all__ = ["BpjsClient", "BpjsSettings"]


class BpjsSettings(HttpAgencySettings):
    base_url: str = Field(
        description="VClaim base URL including its service path, e.g. https://apijkn.bpjs-kesehatan.go.id/vclaim-rest."
    )
    cons_id: str = Field(description="Consumer ID (X-cons-id) issued by BPJS Kesehatan.")
    secret: SecretStr = Field(description="Consumer secret: signs each request and decrypts each answer.")
    user_key: SecretStr = Field(description="The user_key issued for the VClaim service.")


class BpjsClient(HttpConnector[BpjsSettings]):
    agency = _wire.AGENCY
    agency_name = "BPJS Kesehatan"

    async def coverage(self, query: CoverageQuery, ctx: CallContext) -> Coverage:
        day = query.service_date or _wire.today_wib()
        body, timestamp = await self._get(_wire.peserta_path(query, day), ctx.remaining())
        key = _crypto.response_key(self.settings.cons_id, self.settings.secret.get_secret_value(), timestamp)
        return _wire.to_coverage(_wire.decrypt_peserta(body, key), query, day)

    async def _probe(self) -> str:
        # A card number nobody holds: "not found" proves the link, the signature and the keys without
        # reading anyone's data.
        probe = CoverageQuery(card_number=NO_CARD_HOLDER)
        try:
            body, _ = await self._get(_wire.peserta_path(probe, _wire.today_wib()), None)
            _wire.check_envelope(body)
        except HubError as exc:
            if exc.code is not ErrorCode.NOT_FOUND:
                raise
        return "reachable, signature and keys accepted"

    def _headers(self, timestamp: str) -> dict[str, str]:
        secret = self.settings.secret.get_secret_value()
        return {
            "X-cons-id": self.settings.cons_id,
            "X-timestamp": timestamp,
            "X-signature": _crypto.signature(self.settings.cons_id, secret, timestamp),
            "user_key": self.settings.user_key.get_secret_value(),
            "Content-Type": "application/json; charset=utf-8",
        }

    async def _get(self, path: str, budget: float | None) -> tuple[Any, str]:
        """GET a VClaim resource; returns the envelope and the timestamp its answer is encrypted with."""
        timestamp = str(int(time.time()))
        response = await self._http.request("GET", path, headers=self._headers(timestamp), budget=budget)
        status = response.status_code
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
                f"(now {self.settings.base_url}; it should end in the service path, e.g. /vclaim-rest)",
                agency=_wire.AGENCY,
            )
        return self._http.json(response), timestamp
