"""The live link to BSrE's eSign Client Service: settings, one HTTP client, and the one error boundary.

The signer's passphrase goes into one multipart field of one request and nowhere else: not into a log line
(the link logs paths only), not into an error (refusals are described, never quoted), not into any state
kept between calls.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx
from contracts import ErrorCode, HubError
from hub import CallContext, HttpAgencySettings, HttpConnector
from pydantic import Field, SecretStr

from mpp_plugin_bsre import _pdf, _wire
from mpp_plugin_bsre._wire import AGENCY, NAME
from mpp_plugin_bsre.contract import (
    DocumentToVerify,
    SignDocument,
    SignedDocument,
    SignerStatus,
    SignerStatusQuery,
    VerificationResult,
)

__all__ = ["BsreClient", "BsreSettings"]

_SIGN_PATH = "/api/sign/pdf"
_VERIFY_PATH = "/api/sign/verify"
_STATUS_PATH = "/api/user/status/{nik}"
#: The health probe asks the status of a NIK no person can hold (province 00): it proves the link and the
#: account and reads nobody's data (guess: BSrE answers NOT_REGISTERED for it, as for any unknown NIK).
_PROBE_NIK = "0000000000000000"
#: The name the PDF is sent under: a fixed one, since a file name can name the applicant.
_FILE_NAME = "dokumen.pdf"


class BsreSettings(HttpAgencySettings):
    base_url: str = Field(description="The eSign Client Service root (the agency's own BSrE gateway), before /api.")
    username: str = Field(description="The eSign client account's user name (HTTP Basic auth).")
    password: SecretStr = Field(description="The eSign client account's password (HTTP Basic auth).")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per BSrE call: signing takes a few seconds.")


class BsreClient(HttpConnector[BsreSettings]):
    agency = AGENCY
    agency_name = NAME

    # --- operations ---

    async def sign(self, request: SignDocument, ctx: CallContext) -> SignedDocument:
        passphrase = request.passphrase.get_secret_value()
        fields = {"nik": request.nik, "passphrase": passphrase, "tampilan": "invisible"}
        fields |= {k: v for k, v in (("reason", request.reason), ("location", request.location)) if v is not None}
        response = await self._post(_SIGN_PATH, fields, ("file", base64.b64decode(request.document)), ctx)
        if response.status_code != 200:
            raise self._refusal(response, passphrase)
        return _signed(response)

    async def verify(self, request: DocumentToVerify, ctx: CallContext) -> VerificationResult:
        response = await self._post(_VERIFY_PATH, {}, ("signed_file", base64.b64decode(request.document)), ctx)
        if response.status_code == 400:
            raise HubError.of(
                ErrorCode.INVALID_INPUT, f"{NAME} cannot read this file as a PDF; send the PDF itself", agency=AGENCY
            )
        if response.status_code != 200:
            raise _wire.refusal(response.status_code, _json_or_none(response))
        return _wire.to_verification(self._http.json(response))

    async def signer_status(self, query: SignerStatusQuery, ctx: CallContext) -> SignerStatus:
        body = await self._status(query.nik, ctx.remaining())
        return _wire.to_signer_status(query.nik, body)

    # --- health ---

    async def _probe(self) -> str:
        """A user-status call for a NIK nobody holds: proves the link and the account, reads nobody's data."""
        await self._status(_PROBE_NIK, None)
        return "reachable; eSign client account accepted"

    # --- calls ---

    def _auth(self) -> dict[str, str]:
        pair = f"{self.settings.username}:{self.settings.password.get_secret_value()}"
        return {"Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}"}

    async def _status(self, nik: str, budget: float | None) -> Any:
        # The NIK is in the path, as BSrE defines it; the link logs paths at debug level only (hub.AgencyHttp).
        response = await self._http.request("GET", _STATUS_PATH.format(nik=nik), headers=self._auth(), budget=budget)
        if response.status_code != 200:
            raise _wire.refusal(response.status_code, _json_or_none(response))
        return self._http.json(response)

    async def _post(
        self, path: str, fields: dict[str, str], upload: tuple[str, bytes], ctx: CallContext
    ) -> httpx.Response:
        name, pdf = upload
        request = self._http.build_request(
            "POST", path, data=fields, files={name: (_FILE_NAME, pdf, "application/pdf")}, headers=self._auth()
        )
        return await self._http.send(request, budget=ctx.remaining())

    def _refusal(self, response: httpx.Response, passphrase: str) -> HubError:
        body = _json_or_none(response)
        if response.status_code == 400:
            return _wire.sign_refusal(response.status_code, body, passphrase)
        return _wire.refusal(response.status_code, body)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _signed(response: httpx.Response) -> SignedDocument:
    """The signed PDF BSrE returned, its id (``id_dokumen``) and the signing time the signature states."""
    pdf = response.content
    if not pdf.startswith(b"%PDF-"):
        raise _wire.garbled("a signing without the signed PDF (a body that is not a PDF)")
    try:
        times = _pdf.signing_times(pdf)
    except _pdf.NotAPdf:
        times = []
    if not times:
        raise _wire.garbled("a signed PDF whose signature the hub cannot read")
    # Some gateways send no id_dokumen (guess); the PDF's own digest then names the signature.
    signature_id = response.headers.get("id_dokumen") or f"sha256:{hashlib.sha256(pdf).hexdigest()[:32]}"
    return SignedDocument(
        document=base64.b64encode(pdf).decode(),
        signature_id=signature_id[:100],
        signed_at=times[-1],
        size_bytes=len(pdf),
    )
