"""Business permit (izin usaha): Dukcapil, OSS-RBA and BSrE in one application.

dukcapil verifies the applicant → OSS-RBA gives the applicant's business (by the owner's NIK, the NIB confirmed
when the applicant names one) and the activity's KBLI → the application waits for a signing official → the
official signs the permit (a PDF made here) through BSrE with their passphrase → done; the citizen downloads the
signed permit by tracking number and birth date.

The signing is an officer action (:class:`hub.OfficerAction`), not a step: the passphrase is used for
the one ``document.sign`` call of the official's own request and is never stored, so nothing in storage could
sign again. The signed permit is kept once per application, so two officials cannot leave two permits.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Annotated, Any

from contracts import (
    NIK,
    Application,
    ApplicationStatus,
    ErrorCode,
    HubError,
    IdentityCheckResult,
    Mask,
    Personal,
    PersonalData,
)
from hub import WIB, Document, Finish, Next, OfficerAction, Outcome, Process, ProcessContext, Wait, hookimpl
from mpp_plugin_bsre.contract import SignedDocument
from mpp_plugin_oss.contract import Business, BusinessActivity, BusinessList, NibStatus
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from mpp_process_business_permit._pdf import PermitFacts, render

__all__ = ["SERVICE", "SIGN_WITHIN", "PermitParams", "SignPermit", "mpp_hub_process"]

SERVICE = "business-permit"
#: How long a verified application waits for a signing official before it expires.
SIGN_WITHIN = dt.timedelta(days=14)
#: How often a waiting application is looked at (only its expiry can change it without an official).
_LOOK_EVERY = 6 * 3600.0
#: An NIB in one of these statuses may carry a new permit; suspended, revoked or not yet active ones may not.
_USABLE = frozenset({NibStatus.ACTIVE, NibStatus.PERMITTED_TO_TRADE, NibStatus.PERMITTED_TO_OPERATE})

_FullName = Annotated[
    str,
    Field(min_length=1, max_length=200, description="The applicant's full name as on the KTP, personal data."),
    Personal(PersonalData.NAME, Mask(initials=True)),
]


class PermitParams(BaseModel):
    """What the desk files: who applies (their name, checked at Dukcapil), for which activity, under which NIB."""

    model_config = ConfigDict(extra="forbid")

    full_name: _FullName
    kbli: str = Field(pattern=r"^[0-9]{5}$", description="The KBLI 2020 code of the activity the permit is for.")
    nib: str | None = Field(
        default=None, pattern=r"^[0-9]{13}$", description="The NIB, if the applicant holds several businesses."
    )


class SignPermit(BaseModel):
    """What the signing official submits: who signs, and their BSrE passphrase (used once, never stored)."""

    model_config = ConfigDict(extra="forbid")

    signer_nik: NIK
    passphrase: SecretStr = Field(min_length=1, max_length=128)


async def verify(ctx: ProcessContext) -> Outcome:
    payload = {"nik": ctx.applicant_nik, "full_name": ctx.state["full_name"], "threshold": 90}
    try:
        check = await ctx.call("identity.verify", payload)
    except HubError as exc:
        if exc.code is not ErrorCode.NOT_FOUND:
            raise
        return Finish(ApplicationStatus.REJECTED, "NIK pemohon tidak ditemukan di Dukcapil.", agency="dukcapil")
    assert isinstance(check, IdentityCheckResult)
    if not check.matched:
        return Finish(
            ApplicationStatus.REJECTED,
            "Nama pemohon tidak sesuai dengan data Dukcapil; ajukan kembali dengan nama sesuai KTP-el.",
            agency="dukcapil",
        )
    return Next("business", "Identitas pemohon sesuai dengan data Dukcapil.", agency="dukcapil")


def _chosen(businesses: list[Business], nib: str | None) -> Business | Finish:
    """The applicant's business the permit is for, or why there is none."""
    if nib is not None:
        businesses = [b for b in businesses if b.nib == nib]
    if len(businesses) == 1:
        return businesses[0]
    if not businesses:
        message = "Pemohon tidak tercatat sebagai pemilik NIB tersebut di OSS" if nib else "Pemohon belum memiliki NIB"
        return Finish(
            ApplicationStatus.REJECTED, f"{message}; daftarkan usaha di oss.go.id terlebih dahulu.", agency="oss"
        )
    return Finish(
        ApplicationStatus.REJECTED,
        f"Pemohon memiliki {len(businesses)} NIB di OSS; ajukan kembali dengan menyebutkan NIB usaha yang dimaksud.",
        agency="oss",
    )


async def business(ctx: ProcessContext) -> Outcome:
    found = await ctx.call("business.nib_lookup", {"owner_nik": ctx.applicant_nik})
    assert isinstance(found, BusinessList)
    chosen = _chosen(found.businesses, ctx.state.get("nib"))
    if isinstance(chosen, Finish):
        return chosen
    kbli = ctx.state["kbli"]
    activity = next((a for a in chosen.activities if a.kbli == kbli), None)
    if activity is None:
        message = f"KBLI {kbli} tidak tercatat sebagai kegiatan usaha NIB pemohon di OSS."
        return Finish(ApplicationStatus.REJECTED, message, agency="oss")
    if chosen.status not in _USABLE:
        message = "Status NIB di OSS tidak memungkinkan izin diterbitkan."
        return Finish(ApplicationStatus.REJECTED, message, agency="oss")
    sign_before = ctx.now + SIGN_WITHIN
    return Next(
        "await_signature",
        f"Data usaha sesuai dengan OSS; izin menunggu tanda tangan elektronik pejabat hingga "
        f"{sign_before.astimezone(WIB):%d-%m-%Y}.",
        agency="oss",
        details={"kbli": kbli, "sign_before": sign_before.isoformat()},
        state=_permit_state(chosen, activity, ctx.state["full_name"], sign_before),
    )


def _permit_state(
    chosen: Business, activity: BusinessActivity, full_name: str, sign_before: dt.datetime
) -> dict[str, Any]:
    """What the permit will show (kept sealed until the application closes), and the signing deadline."""
    return {
        "nib": chosen.nib,
        "business_name": chosen.business_name,
        "activity": activity.description,
        "owner_name": chosen.owner_name or full_name,
        "sign_before": sign_before.isoformat(),
    }


async def await_signature(ctx: ProcessContext) -> Outcome:
    left = (dt.datetime.fromisoformat(ctx.state["sign_before"]) - ctx.now).total_seconds()
    if left <= 0:
        message = "Izin tidak ditandatangani pejabat dalam batas waktu; ajukan kembali."
        return Finish(ApplicationStatus.EXPIRED, message, agency="bsre")
    return Wait(min(_LOOK_EVERY, left + 1))


async def sign(ctx: ProcessContext, body: SignPermit) -> Document:
    """The permit, made and signed at once with the official's passphrase; only the signed PDF is kept."""
    tracking_no = ctx.application.tracking_no
    facts = PermitFacts(
        tracking_no=tracking_no, business_name=ctx.state["business_name"], nib=ctx.state["nib"],
        kbli=ctx.state["kbli"], activity=ctx.state["activity"], owner_name=ctx.state["owner_name"],
        issued_on=ctx.now.astimezone(WIB).date(),
    )  # fmt: skip
    signed = await ctx.call(
        "document.sign",
        {
            "nik": body.signer_nik, "passphrase": body.passphrase.get_secret_value(),
            "document": base64.b64encode(render(facts)).decode(), "reason": f"Penerbitan izin usaha {tracking_no}",
            "location": "Mal Pelayanan Publik",
        },
    )  # fmt: skip
    assert isinstance(signed, SignedDocument)
    pdf = base64.b64decode(signed.document)
    return Document(filename=f"izin-usaha-{tracking_no}.pdf", media_type="application/pdf", content=pdf)


def signed(application: Application, document: Document) -> Outcome:
    return Finish(
        ApplicationStatus.DONE,
        "Izin usaha terbit, ditandatangani secara elektronik (BSrE); unduh dengan nomor pelacakan dan tanggal lahir.",
        agency="bsre",
        details={"document": document.filename},
    )


@hookimpl
def mpp_hub_process() -> Process:
    return Process(
        service=SERVICE,
        title="Izin usaha",
        params=PermitParams,
        agencies=("dukcapil", "oss", "bsre"),
        purpose="layanan-perizinan",  # identity.* by default, business.* from the OSS package
        first_step="verify",
        steps={"verify": verify, "business": business, "await_signature": await_signature},
        submitted_message="Permohonan izin usaha diterima.",
        actions={
            # One document.sign call: 15 s bounds it, so a hub killed during it leaves a claim that lapses in 20 s.
            "sign": OfficerAction(
                step="await_signature", right="document.sign", body=SignPermit, make=sign, then=signed, timeout=15
            )
        },
    )
