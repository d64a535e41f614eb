"""The complaint process (pengaduan): a complaint filed at the mall goes to SP4N-LAPOR! and is followed there
until LAPOR! reports it finished, against the national working-day deadlines.

1. ``file``: ``complaint.file`` with the application's tracking number as the reference. While LAPOR! is down the
   engine keeps the application waiting and files it later; LAPOR! takes a reference once, so a filing sent again
   after an answer that was lost gets the same tracking id and makes no second complaint. The complaint's text
   and the reporter's contact details leave the working state once filed.
2. ``follow``: ``complaint.status`` every :data:`POLL_EVERY` seconds; its verification and its follow-up each get
   a history entry, and the application's details carry LAPOR!'s times (``filed_at``, ``verified_at``,
   ``followed_up_at``, ``closed_at``, ISO 8601), from which a dashboard tells where each working-day deadline stands
   (``hub._workdays.complaint_deadlines``; see docs/agencies/lapor.md). Closed: done; archived: rejected.
"""

from __future__ import annotations

import datetime as dt
from typing import Self

from contracts import ApplicationStatus, ErrorCode, HubError
from hub import WIB, Finish, Next, Outcome, Process, ProcessContext, Wait, hookimpl
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from mpp_plugin_lapor import _wire
from mpp_plugin_lapor.contract import (
    ComplaintReceipt,
    ComplaintState,
    ComplaintStatus,
    ComplaintText,
    Email,
    FullName,
    Phone,
)

__all__ = ["POLL_EVERY", "PUBLIC_SERVICE_TOPIC", "SERVICE", "ComplaintParams", "mpp_hub_process"]

SERVICE = "pengaduan"
#: How often an open complaint's status is read at LAPOR! (complaints move in days, not minutes).
POLL_EVERY = 30 * 60.0
#: LAPOR!'s topic "Pelayanan Publik" (a guess: the sandbox's topic list has it as 3).
PUBLIC_SERVICE_TOPIC = "3"
#: What the working state holds of the complaint until it is filed, and drops then.
_UNTIL_FILED = ("title", "text", "full_name", "phone", "email", "agency", "concerns")


class ComplaintParams(BaseModel):
    """What the desk files for the reporter (the applicant: their NIK, and through it their birth date, which the
    citizen follows the application with)."""

    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=5, max_length=150, description="The complaint's subject (judul laporan).")
    text: ComplaintText
    category: str = Field(
        default=PUBLIC_SERVICE_TOPIC,
        pattern=r"^[0-9]{1,6}$",
        description="LAPOR!'s topic id of the complaint; by default Pelayanan Publik, the topic a mall's falls under.",
    )
    agency: str | None = Field(
        default=None, min_length=2, max_length=200, description="The institution the complaint is about, if known."
    )
    concerns: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{2,39}$",
        description="The queue ticket id or application tracking number the complaint is about, if any.",
    )
    anonymous: bool = Field(default=False, description="The institution is not told who the reporter is.")
    confidential: bool = Field(default=False, description="The complaint is not published on lapor.go.id.")
    full_name: FullName | None = None
    phone: Phone | None = None
    email: Email | None = None

    @model_validator(mode="after")
    def _named_unless_anonymous(self) -> Self:
        if self.full_name is None and not self.anonymous:
            raise PydanticCustomError("full_name_missing", "full_name is required unless the complaint is anonymous")
        return self


def _filing(ctx: ProcessContext) -> dict[str, object]:
    state = ctx.state
    reporter = None
    if state.get("full_name"):  # LAPOR! knows who files; an anonymous complaint hides them from the institution
        reporter = {
            "nik": ctx.applicant_nik, "full_name": state["full_name"], "phone": state.get("phone"),
            "email": state.get("email"),
        }  # fmt: skip
    return {
        "reference": ctx.application.tracking_no, "title": state["title"], "text": state["text"],
        "category": state["category"], "agency": state.get("agency"), "concerns": state.get("concerns"),
        "anonymous": state.get("anonymous", False), "confidential": state.get("confidential", False),
        "reporter": reporter,
    }  # fmt: skip


async def file(ctx: ProcessContext) -> Outcome:
    try:
        receipt = await ctx.call("complaint.file", _filing(ctx))
    except HubError as exc:
        if exc.code is not ErrorCode.INVALID_INPUT:
            raise  # an outage escapes: the engine keeps the complaint and files it later
        message = "SP4N-LAPOR! menolak pengaduan karena isinya tidak lengkap atau tidak sesuai; ajukan kembali."
        return Finish(ApplicationStatus.REJECTED, message, agency=_wire.AGENCY)
    assert isinstance(receipt, ComplaintReceipt)
    return Next(
        "follow",
        f"Pengaduan diteruskan ke SP4N-LAPOR! dengan nomor pelacakan {receipt.tracking_id}; LAPOR! memverifikasinya "
        "dalam 3 hari kerja, lalu instansi terkait menindaklanjutinya dalam 5 hari kerja.",
        agency=_wire.AGENCY,
        details={
            "lapor_tracking_id": receipt.tracking_id,
            "lapor_status": receipt.status.value,
            "filed_at": receipt.received_at.isoformat(),
        },
        state={"tracking_id": receipt.tracking_id, "filed_at": receipt.received_at.isoformat()}
        | dict.fromkeys(_UNTIL_FILED),
    )


def _status_details(status: ComplaintStatus) -> dict[str, str]:
    """The application's details for ``status``: where it is at LAPOR!, and when it got there."""
    times = {"verified_at": status.verified_at, "followed_up_at": status.followed_up_at, "closed_at": status.closed_at}
    details = {key: at.isoformat() for key, at in times.items() if at is not None}
    if status.agency:
        details["lapor_agency"] = status.agency
    return details | {"lapor_status": status.status.value}


def _wib(moment: dt.datetime) -> str:
    return f"{moment.astimezone(WIB):%d-%m-%Y %H:%M} WIB"


async def follow(ctx: ProcessContext) -> Outcome:
    status = await ctx.call("complaint.status", {"tracking_id": ctx.state["tracking_id"]})
    assert isinstance(status, ComplaintStatus)
    details = _status_details(status)
    lapor = _wire.AGENCY
    if status.verified_at is not None and not ctx.state.get("verified_noted"):
        where = f" dan diteruskan ke {status.agency}" if status.agency else ""
        message = f"Pengaduan diverifikasi SP4N-LAPOR! pada {_wib(status.verified_at)}{where}."
        return Next("follow", message, agency=lapor, details=details, state={"verified_noted": True})
    if status.followed_up_at is not None and not ctx.state.get("followed_up_noted"):
        message = (
            f"Pengaduan ditindaklanjuti instansi pada {_wib(status.followed_up_at)}; lihat tanggapannya di LAPOR!."
        )
        return Next("follow", message, agency=lapor, details=details, state={"followed_up_noted": True})
    if status.status is ComplaintState.CLOSED:
        return Finish(ApplicationStatus.DONE, "Pengaduan selesai ditangani melalui SP4N-LAPOR!.", lapor, details)
    if status.status is ComplaintState.ARCHIVED:
        message = "SP4N-LAPOR! tidak menindaklanjuti pengaduan ini (diarsipkan); tanyakan alasannya di LAPOR!."
        return Finish(ApplicationStatus.REJECTED, message, lapor, details)
    changed = {key: value for key, value in details.items() if ctx.application.details.get(key) != value}
    return Wait(POLL_EVERY, details=changed)


@hookimpl
def mpp_hub_process() -> Process:
    return Process(
        service=SERVICE,
        title="Pengaduan pelayanan publik (SP4N-LAPOR!)",
        params=ComplaintParams,
        agencies=(_wire.AGENCY,),
        purpose="pengaduan",  # the hub's default purpose, which this distribution's package extends to complaint.*
        first_step="file",
        steps={"file": file, "follow": follow},
        submitted_message="Pengaduan diterima di MPP dan akan diteruskan ke SP4N-LAPOR!.",
        retry_after=60.0,  # LAPOR! down: the complaint waits, and is filed a minute later at the earliest
    )
