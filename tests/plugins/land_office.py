"""A land office whose plugin brings its own contract package (``land``, at major version 2), for the hub's tests.

Two things the agencies in ``agencies/`` do not exercise: the identifier travels in the agency's URL path
(``GET /api/persil/<nomor sertipikat>``), which the hub logs when the agency cannot be reached, and the package's
major version is not 1, so its bus subject is ``mpp.v2.land.parcel``. ``tests/conformance_land.py`` runs the
conformance suite on it in a child process, so the package never enters the main test run's contract.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field, SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contracts import (
    AgencyKind,
    Contract,
    ContractPackage,
    ErrorCode,
    HubError,
    Mask,
    Operation,
    Personal,
    PersonalCategory,
    PersonalData,
    PurposeDeclaration,
)
from hub import Agency, CallContext, HttpAgencySettings, HttpConnector, Sandbox, Served, hookimpl

VERSION = "2.0.0"
CERTIFICATE = PersonalCategory(
    "land_certificate", "A land title's number: it names its holder", identifies_subject=True
)
SANDBOX_TOKEN = "sandbox-token-not-a-secret"
_CertificateNumber = Annotated[
    str, Field(pattern=r"^[0-9]{5}\.[0-9]{5}$"), Personal(CERTIFICATE, Mask(keep_start=2, keep_end=2))
]


class ParcelQuery(Contract):
    """A land parcel by its title number."""

    certificate_number: _CertificateNumber


class Parcel(Contract):
    """A land parcel as the land office registers it."""

    certificate_number: _CertificateNumber
    holder_name: Annotated[str, Personal(PersonalData.NAME, Mask(initials=True))]
    area_m2: int
    registered_on: dt.date


PARCEL = Operation(
    name="land.parcel", summary="A land parcel by its title number.", input=ParcelQuery, output=Parcel,
    idempotent=True, personal_data=True, version=VERSION,
)  # fmt: skip
CONTRACT = ContractPackage(
    namespace="land", version=VERSION, summary="Land titles (a test land office)", operations=[PARCEL],
    categories=[CERTIFICATE],
    purposes={"layanan-pertanahan": PurposeDeclaration("Pelayanan pertanahan", "Peraturan uji", ("land.*",))},
)  # fmt: skip

# Synthetic titles, in the office's own field names.
_TITLES = {
    "11001.00042": {"nomor": "11001.00042", "pemegang": "SITI AMINAH PERCOBAAN", "luas": 312, "tgl": "2011-04-02"},
    "11001.00077": {"nomor": "11001.00077", "pemegang": "AGUS PERCOBAAN", "luas": 95, "tgl": "2019-10-30"},
}


class LandSettings(HttpAgencySettings):
    token: SecretStr = Field(description="The office's API token (sent as a bearer token).")


class LandClient(HttpConnector[LandSettings]):
    agency = "landoffice"
    agency_name = "Kantor Pertanahan (test)"

    async def parcel(self, query: ParcelQuery, ctx: CallContext) -> Parcel:
        # The title number in the path, as many agencies' APIs put an identifier: the hub must mask it in its logs.
        response = await self._http.request(
            "GET", f"/api/persil/{query.certificate_number}", headers=self._auth(), budget=ctx.remaining()
        )
        if response.status_code == 404:
            raise HubError.of(ErrorCode.NOT_FOUND, "The land office has no title with this number", agency=self.agency)
        if response.status_code != 200:
            message = f"The land office answered HTTP {response.status_code}"
            raise HubError.of(ErrorCode.AGENCY_ERROR, message, agency=self.agency)
        return _to_parcel(self._http.json(response))

    async def _probe(self) -> str:
        response = await self._http.request("GET", "/api/status", headers=self._auth())
        if response.status_code != 200:
            message = f"The land office answered HTTP {response.status_code} to the health probe"
            raise HubError.of(ErrorCode.AGENCY_ERROR, message, agency=self.agency)
        return "reachable, token accepted"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}


def _to_parcel(record: Any) -> Parcel:
    try:
        return Parcel(
            certificate_number=record["nomor"], holder_name=record["pemegang"], area_m2=record["luas"],
            registered_on=record["tgl"],
        )  # fmt: skip
    except (KeyError, TypeError, ValueError):
        raise HubError.of(
            ErrorCode.AGENCY_ERROR, "The land office's record cannot be read", agency="landoffice"
        ) from None


async def _title(request: Request) -> JSONResponse:
    if not _authorised(request):
        return JSONResponse({"pesan": "token tidak valid"}, status_code=401)
    record = _TITLES.get(request.path_params["nomor"])
    return JSONResponse(record) if record else JSONResponse({"pesan": "tidak ditemukan"}, status_code=404)


async def _status(request: Request) -> JSONResponse:
    return JSONResponse({"status": "OK"} if _authorised(request) else {"pesan": "token tidak valid"},
                        status_code=200 if _authorised(request) else 401)  # fmt: skip


def _authorised(request: Request) -> bool:
    given = request.headers.get("authorization", "").removeprefix("Bearer ")
    return secrets.compare_digest(given.encode(), SANDBOX_TOKEN.encode())


def _app() -> Starlette:
    return Starlette(routes=[Route("/api/persil/{nomor}", _title), Route("/api/status", _status)])


@hookimpl
def mpp_hub_contract() -> ContractPackage:
    return CONTRACT


@hookimpl
def mpp_hub_agency() -> Agency[LandSettings, LandClient]:
    return Agency(
        code="landoffice", name="Kantor Pertanahan (test)", kind=AgencyKind.VERTICAL, version="0.1.0",
        settings=LandSettings, connect=LandClient.connect,
        operations={"land.parcel": Served(LandClient.parcel, schema_hash=PARCEL.schema_hash)},
    )  # fmt: skip


def _settings(base_url: str) -> Mapping[str, Any]:
    return {"base_url": base_url, "token": SANDBOX_TOKEN}


def _samples() -> Mapping[str, Sequence[str]]:
    return {"certificate_number": sorted(_TITLES)}


@hookimpl
def mpp_hub_sandbox() -> Sandbox:
    return Sandbox(agency="landoffice", app=lambda _: _app(), settings=_settings, samples=_samples)
