"""The live link to the PDAM's billing API: settings, one HTTP client, and the one boundary where its answers
become contract models or contract errors."""

from __future__ import annotations

from typing import Any

from contracts import ErrorCode, HubError
from hub import CallContext, HttpAgencySettings, HttpConnector
from pydantic import Field, SecretStr

from mpp_plugin_pdam import _wire
from mpp_plugin_pdam.contract import WaterBillQuery, WaterBills

__all__ = ["PdamClient", "PdamSettings"]

NAME = _wire.NAME
AGENCY = _wire.AGENCY
_KEY_SETTING = "MPP_HUB_PLUGINS__PDAM__API_KEY"


class PdamSettings(HttpAgencySettings):
    base_url: str = Field(description="The PDAM billing system's host, e.g. https://pdam.example.go.id.")
    service_path: str = Field(
        default="/servicesWithCmp",
        pattern=r"^(/[A-Za-z0-9_\-]+)*$",
        description="The deployment's service root under base_url (/servicesWithCmp or /wbServicesWithCmp; "
        "empty when the call sits at the root).",
    )
    api_key: SecretStr = Field(min_length=1, description="The key the PDAM issued (sent as the Authorization header).")
    due_day: int | None = Field(
        default=20,
        ge=1,
        le=28,
        description="Day of the bill's month by which it is paid without a penalty (the PDAM's tariff rules); "
        "null leaves due_date out.",
    )


class PdamClient(HttpConnector[PdamSettings]):
    # HttpConnector owns the link (self._http), the cached health probe and closing. Its AgencyHttp maps
    # timeouts, refused connections, 5xx and 429 to contract errors; the rest is ours to read.
    agency = AGENCY
    agency_name = NAME

    async def bill(self, query: WaterBillQuery, ctx: CallContext) -> WaterBills:
        # The customer number travels in the form body, as the billing API takes it: no URL carries it.
        body = await self._call(query.customer_number, ctx.remaining())
        return _wire.to_water_bills(body, query.customer_number, self.settings.due_day)

    async def _probe(self) -> str:
        """Prove the link and the key with a number no one holds, so no one's bills are read."""
        try:
            await self._call(_wire.PROBE_NUMBER, None)
        except HubError as exc:
            # Unknown, or a length this PDAM does not use: either way the system read the call and took the key.
            if exc.code not in (ErrorCode.NOT_FOUND, ErrorCode.INVALID_INPUT):
                raise
        return "reachable, key accepted"

    async def _call(self, number: str, budget: float | None) -> dict[str, Any]:
        """POST the customer number to the billing API; every refusal it can give becomes a contract error here."""
        path = self.settings.service_path + _wire.BILL_PATH
        headers = {"Authorization": self.settings.api_key.get_secret_value()}
        response = await self._http.request(
            "POST", path, data={_wire.NUMBER_FIELD: number}, headers=headers, budget=budget
        )
        if response.status_code in (401, 403):
            raise _refused_key()
        if response.status_code == 404:
            raise HubError.of(
                ErrorCode.AGENCY_ERROR,
                f"{NAME} has no billing service at {path}: check the pdam base_url and service_path settings",
                agency=AGENCY,
            )
        body = self._http.json(response)  # not JSON: agency_error
        if not isinstance(body, dict):
            raise _refusal(response.status_code, None, number)
        code = body.get("message_code")
        if response.status_code == 200 and code == _wire.OK and not body.get("error"):
            return body
        raise _refusal(response.status_code, code, number)


def _refused_key() -> HubError:
    message = f"{NAME} refused the hub's key: an operator must set {_KEY_SETTING} to the key the PDAM issued"
    return HubError.of(ErrorCode.AGENCY_ERROR, message, agency=AGENCY)


def _refusal(status: int, code: object, number: str) -> HubError:
    """The contract error for an answer that is not a customer's bills (never quoting the agency's text)."""
    if code == _wire.NOT_FOUND:
        return HubError.of(
            ErrorCode.NOT_FOUND,
            f"{NAME} has no customer with this number; check it against the water bill or the meter",
            agency=AGENCY,
        )
    if code == _wire.BAD_NUMBER:
        return HubError.of(
            ErrorCode.INVALID_INPUT,
            f"{NAME} cannot read a customer number of {len(number)} digits; give it exactly as the water bill "
            "prints it, leading zeros included",
            agency=AGENCY,
        )
    if code == _wire.UNAUTHORISED:
        return _refused_key()
    if isinstance(code, int) and 500 <= code <= 599:
        return HubError.of(
            ErrorCode.AGENCY_UNAVAILABLE,
            f"{NAME}'s billing system reports a failure (code {code}); try again later",
            agency=AGENCY,
        )
    shown = code if isinstance(code, int) else "none"
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        f"{NAME} answered HTTP {status} with message_code {shown}, which the hub does not know",
        agency=AGENCY,
    )
