"""The live link to SP4N-LAPOR!'s integration API: settings, one HTTP client, and the one boundary where its
answers become contract models or contract errors."""

from __future__ import annotations

from typing import Any

from contracts import ErrorCode, HubError
from hub import CallContext, HttpAgencySettings, HttpConnector
from pydantic import Field, SecretStr

from mpp_plugin_lapor import _wire
from mpp_plugin_lapor.contract import ComplaintFiling, ComplaintReceipt, ComplaintStatus, ComplaintStatusQuery

__all__ = ["LaporClient", "LaporSettings"]

NAME = _wire.NAME
AGENCY = _wire.AGENCY
_TOKEN_SETTING = "MPP_HUB_PLUGINS__LAPOR__TOKEN"
#: The fields LAPOR! may name in a refusal of a filing, and the contract's names for them.
_FIELDS = {
    "judul": "title", "isi": "text", "kategori": "category", "instansi": "agency", "terkait": "concerns",
    "pelapor": "reporter", "namadepan": "reporter.full_name", "referensi": "reference",
}  # fmt: skip


class LaporSettings(HttpAgencySettings):
    base_url: str = Field(description="SP4N-LAPOR!'s integration API host, e.g. https://www.lapor.go.id.")
    token: SecretStr = Field(
        min_length=1, description="The integration token LAPOR!'s administrators issued to this institution."
    )
    timeout: float = Field(default=10.0, gt=0, description="Seconds per call (LAPOR! is a national system).")


class LaporClient(HttpConnector[LaporSettings]):
    # HttpConnector owns the link (self._http), the cached health probe and closing. Its AgencyHttp maps
    # timeouts, refused connections, 5xx and 429 to contract errors; the rest is ours to read.
    agency = AGENCY
    agency_name = NAME

    async def file(self, filing: ComplaintFiling, ctx: CallContext) -> ComplaintReceipt:
        body = _wire.filing_body(filing, self._token())
        answer = await self._post(_wire.FILE_PATH, body, ctx.remaining())
        return _wire.to_receipt(answer, filing.reference)

    async def status(self, query: ComplaintStatusQuery, ctx: CallContext) -> ComplaintStatus:
        body = {"token": self._token(), "trackingid": query.tracking_id}
        answer = await self._post(_wire.STATUS_PATH, body, ctx.remaining())
        return _wire.to_status(answer)

    async def _probe(self) -> str:
        """The topic list: proves the link and the token, and reads no one's complaint."""
        response = await self._http.request("POST", _wire.TOPICS_PATH, json={"KEYTOKEN": self._token()})
        if response.status_code in (401, 403):
            raise _refused_token()
        if response.status_code != 200 or not isinstance(self._http.json(response), list):
            raise _refusal(response.status_code, None)
        return "reachable, token accepted"

    def _token(self) -> str:
        return self.settings.token.get_secret_value()

    async def _post(self, path: str, body: dict[str, Any], budget: float | None = None) -> dict[str, Any]:
        """POST ``body`` to LAPOR!; every refusal it can give becomes a contract error here."""
        response = await self._http.request("POST", path, json=body, budget=budget)
        if response.status_code in (401, 403):
            raise _refused_token()
        answer = self._http.json(response)  # not JSON: agency_error
        if not isinstance(answer, dict):
            raise _refusal(response.status_code, None)
        if response.status_code == 200 and answer.get("success") is True:
            return answer
        field = answer.get("field")
        raise _refusal(response.status_code, field if isinstance(field, str) else None)


def _refused_token() -> HubError:
    message = f"{NAME} refused the hub's token: an operator must set {_TOKEN_SETTING} to the token LAPOR! issued"
    return HubError.of(ErrorCode.AGENCY_ERROR, message, agency=AGENCY)


def _refusal(status: int, field: str | None) -> HubError:
    """The contract error for an answer that is not what was asked (LAPOR!'s own text is never quoted: it may
    repeat the complaint)."""
    if status == 404 and field is None:
        return HubError.of(
            ErrorCode.NOT_FOUND,
            f"{NAME} holds no complaint with this tracking id; check it against the receipt",
            agency=AGENCY,
        )
    if status in (400, 422):
        named = _FIELDS.get(field or "", "the complaint")
        return HubError.of(
            ErrorCode.INVALID_INPUT,
            f"{NAME} refused the complaint's {named}; correct it and file again (a category is a LAPOR! topic id)",
            agency=AGENCY,
        )
    return HubError.of(
        ErrorCode.AGENCY_ERROR,
        f"{NAME} answered HTTP {status} in a way the hub does not know; check the lapor base_url setting",
        agency=AGENCY,
    )
