"""The live link to OSS-RBA: settings, one HTTP client, and the one boundary where its answers become
contract models or contract errors."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Mapping
from typing import Any

import httpx
from contracts import ErrorCode, HubError, mask_text
from hub import CallContext, HttpAgencySettings, HttpConnector
from pydantic import Field, SecretStr

from mpp_plugin_oss import _wire
from mpp_plugin_oss._wire import AGENCY, CHECK_NIB, INQUERY_NIB, NAME, NIB_NOT_FOUND, Method
from mpp_plugin_oss.contract import BusinessList, NibConfirmation, NibLookup, NibQuery

__all__ = ["OssClient", "OssSettings"]

# An NIB no business holds: the health probe proves the link and both credentials without reading anyone's data.
_PROBE_NIB = "0000000000000"
_UNAVAILABLE = frozenset({500, 504})


class OssSettings(HttpAgencySettings):
    base_url: str = Field(
        description="OSS-RBA's API root, before the method name: https://api-prd.oss.go.id/v1/kl/rba in production, "
        "https://api-stg.oss.go.id/stg/v1/kl/rba on staging."
    )
    user_key: SecretStr = Field(description="The API gateway key OSS issued to this K/L/D (sent as user_key).")
    username: str = Field(min_length=1, description="The HTTP Basic user name OSS issued to this K/L/D.")
    password: SecretStr = Field(description="The HTTP Basic password OSS issued to this K/L/D.")


class _NotFound(Exception):
    """OSS answered kode 400 "Data NIB tidak ditemukan": each operation says what that means for it."""


class OssClient(HttpConnector[OssSettings]):
    # HttpConnector owns the link (self._http), the cached health probe and closing; its AgencyHttp maps
    # timeouts, refused connections, 5xx and 429 to contract errors. The rest is read here.
    agency = AGENCY
    agency_name = NAME

    def __init__(self, settings: OssSettings) -> None:
        super().__init__(settings)
        credentials = f"{settings.username}:{settings.password.get_secret_value()}".encode()
        self._basic = f"Basic {base64.b64encode(credentials).decode()}"

    async def lookup(self, query: NibLookup, ctx: CallContext) -> BusinessList:
        # Identifiers travel in the body, never the path, so no URL in any log carries them.
        if query.nib is not None:
            record = await self._known(INQUERY_NIB, query.nib, ctx)
            return BusinessList(businesses=[_wire.to_business(record)])
        # OSS has no look-up by NIK; a resident's NIK is their NPWP (PMK 112/2022), and a sole proprietor's
        # business is registered under their own NPWP.
        try:
            record = await self._call(INQUERY_NIB, {"npwp": query.owner_nik}, ctx.remaining())
        except _NotFound:
            return BusinessList(businesses=[])  # an owner with no NIB of their own: none, not an error
        return BusinessList(businesses=[_wire.to_business(record)])

    async def confirm(self, query: NibQuery, ctx: CallContext) -> NibConfirmation:
        return _wire.to_confirmation(await self._known(CHECK_NIB, query.nib, ctx))

    async def _known(self, method: Method, nib: str, ctx: CallContext) -> Any:
        """What ``method`` answers for this NIB; not_found when OSS has none."""
        try:
            return await self._call(method, {"nib": nib}, ctx.remaining())
        except _NotFound:
            raise HubError.of(
                ErrorCode.NOT_FOUND,
                f"{NAME} has no business with this NIB; check the 13 digits on the NIB document",
                agency=AGENCY,
            ) from None

    async def _probe(self) -> str:
        with contextlib.suppress(_NotFound):
            await self._call(CHECK_NIB, {"nib": _PROBE_NIB}, None)
        return "reachable, user_key and credentials accepted"

    async def _call(self, method: Method, fields: Mapping[str, object], budget: float | None) -> Any:
        """POST one method; its ``dataNIB`` on kode 200, every refusal a contract error (or _NotFound)."""
        headers = {"user_key": self.settings.user_key.get_secret_value(), "Authorization": self._basic}
        body = method.request(fields)
        response = await self._http.request("POST", method.path, json=body, headers=headers, budget=budget)
        envelope = self._envelope(method, response)
        kode, keterangan = _wire.code_of(envelope.get("kode")), str(envelope.get("keterangan") or "")
        if kode == 200:
            return envelope.get("dataNIB")
        if kode == 400 and keterangan.strip().lower() == NIB_NOT_FOUND.lower():
            raise _NotFound
        raise _refused(method, kode, keterangan)

    def _envelope(self, method: Method, response: httpx.Response) -> dict[str, Any]:
        """The ``respon<method>`` object; the gateway's plain-text refusals never get that far."""
        if response.status_code in (401, 403) and not _is_json(response):
            what = "found no user_key on the call" if response.status_code == 401 else "refused the hub's user_key"
            raise HubError.of(
                ErrorCode.AGENCY_ERROR,
                f"{NAME}'s API gateway {what}: an operator must set the {AGENCY} user_key setting to the key "
                "OSS issued",
                agency=AGENCY,
            )
        if response.status_code == 404 and not _is_json(response):
            raise HubError.of(
                ErrorCode.AGENCY_ERROR,
                f"{NAME} has no method at {method.path} (HTTP 404): check the {AGENCY} base_url "
                "(it ends in /v1/kl/rba)",
                agency=AGENCY,
            )
        body = self._http.json(response)  # not JSON: agency_error
        envelope = body.get(method.response_key) if isinstance(body, dict) else None
        if not isinstance(envelope, dict):
            raise HubError.of(
                ErrorCode.AGENCY_ERROR,
                f"{NAME} answered {method.path} (HTTP {response.status_code}) without its {method.response_key}",
                agency=AGENCY,
            )
        return envelope


def _is_json(response: httpx.Response) -> bool:
    media_type: str = response.headers.get("content-type", "")
    return media_type.split(";")[0].strip().lower() == "application/json"


def _refused(method: Method, kode: int | None, keterangan: str) -> HubError:
    """OSS's refusal (Lampiran 9) as a contract error that says who must do what; it quotes no personal data."""
    explained = mask_text(keterangan[:80]) or _wire.CODES.get(kode or 0, "no explanation")
    said = f"kode {kode if kode is not None else 'missing'}: {explained}"
    if kode in _UNAVAILABLE:
        return HubError.of(ErrorCode.AGENCY_UNAVAILABLE, f"{NAME} is failing ({said}); try again later", agency=AGENCY)
    if kode == 401:
        action = f"an operator must set the {AGENCY} username and password to the Basic credentials OSS issued"
    elif kode in (403, 405):
        action = f"this K/L/D's OSS account may not call {method.path}: ask OSS to grant it"
    elif kode == 404:
        action = f"check the {AGENCY} base_url (it ends in /v1/kl/rba)"
    elif kode == 400:
        action = "the hub sent a request OSS could not read: report it to the hub's maintainers"
    else:
        action = "report it to the hub's maintainers"
    return HubError.of(ErrorCode.AGENCY_ERROR, f"{NAME} refused {method.path} ({said}): {action}", agency=AGENCY)
