"""SP4N-LAPOR!'s wire format, shared by the client and the sandbox: paths, field names, status words, times, and
the translation of its answers into the contract.

What is a public fact and what is a guess is in the README ("Wire facts and their sources"). In short: the token
in the request (fact: the legacy integration API's ``token`` and the data API's ``KEYTOKEN``), the reporter's
``namadepan``/``namabelakang``/``email``/``telpon``, the ``rahasia`` and ``anonim`` flags, ``isi``, and a
``trackingid`` with a ``transaksiid`` in the answer (fact: the legacy ``/api/stream/addstream``, which took XML);
JSON bodies for filing and status, the status endpoint, the other field names and the status words (guess).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from contracts import ErrorCode, HubError
from hub import WIB
from pydantic import ValidationError

from mpp_plugin_lapor.contract import ComplaintFiling, ComplaintReceipt, ComplaintState, ComplaintStatus

__all__ = [
    "AGENCY",
    "FILE_PATH",
    "NAME",
    "STATES",
    "STATUS_PATH",
    "TOPICS_PATH",
    "WIRE_STATES",
    "filing_body",
    "format_time",
    "parse_time",
    "to_receipt",
    "to_status",
]

AGENCY = "lapor"
NAME = "SP4N-LAPOR!"
#: Filing a complaint (the legacy integration API's path; fact), here with a JSON body (guess).
FILE_PATH = "/api/stream/addstream"
#: A complaint's status by tracking id (guess: the status API is documented to registered developers only).
STATUS_PATH = "/api/stream/getstream"
#: LAPOR!'s topic list, POST with the token as ``KEYTOKEN`` (fact, the data API): reads no one's complaint.
TOPICS_PATH = "/api/services/f01/gettopics"
#: LAPOR!'s times, in WIB without a zone (guess).
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

#: The status words LAPOR! shows a reporter, and the contract's states (the words are LAPOR!'s; their spelling on
#: the wire is a guess).
STATES: dict[str, ComplaintState] = {
    "Belum Terverifikasi": ComplaintState.UNVERIFIED,
    "Terverifikasi": ComplaintState.VERIFIED,
    "Ditindaklanjuti": ComplaintState.FOLLOWED_UP,
    "Selesai": ComplaintState.CLOSED,
    "Diarsipkan": ComplaintState.ARCHIVED,
}
WIRE_STATES: dict[ComplaintState, str] = {state: word for word, state in STATES.items()}


def format_time(moment: dt.datetime) -> str:
    return moment.astimezone(WIB).strftime(_TIME_FORMAT)


def parse_time(text: object) -> dt.datetime | None:
    """A LAPOR! time (WIB) as an aware datetime; None for an empty one; ValueError for anything else."""
    if text in (None, ""):
        return None
    if not isinstance(text, str):
        raise ValueError("a time must be a string")
    return dt.datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=WIB)


def _names(full_name: str) -> tuple[str, str]:
    # LAPOR! keeps a first and a last name; many Indonesians have one name only, which goes first (guess).
    first, _, last = full_name.rpartition(" ")
    return (first, last) if first else (last, "")


def filing_body(filing: ComplaintFiling, token: str) -> dict[str, Any]:
    """The JSON LAPOR! is sent for ``filing``: the reporter only when there is one."""
    reporter = filing.reporter
    pelapor = None
    if reporter is not None:
        first, last = _names(reporter.full_name)
        pelapor = {"nik": reporter.nik, "namadepan": first, "namabelakang": last}
        pelapor |= {"telpon": reporter.phone or "", "email": reporter.email or ""}
    laporan = {
        "judul": filing.title, "isi": filing.text, "kategori": filing.category, "instansi": filing.agency or "",
        "terkait": filing.concerns or "", "rahasia": int(filing.confidential), "anonim": int(filing.anonymous),
    }  # fmt: skip
    return {"token": token, "referensi": filing.reference, "pelapor": pelapor, "laporan": laporan}


def _unreadable(what: str) -> HubError:
    # The answer's content is never quoted: it may carry the complaint or the reporter.
    return HubError.of(
        ErrorCode.AGENCY_ERROR, f"{NAME} answered {what} in a shape the hub does not know", agency=AGENCY
    )


def to_receipt(body: dict[str, Any], reference: str) -> ComplaintReceipt:
    try:
        return ComplaintReceipt(
            reference=reference, tracking_id=str(body["trackingid"]), status=STATES[body["status"]],
            received_at=parse_time(body["tanggal_lapor"]), duplicate=bool(body.get("duplikat", False)),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, ValidationError):
        raise _unreadable("a filing") from None


def to_status(body: dict[str, Any]) -> ComplaintStatus:
    try:
        return ComplaintStatus(
            tracking_id=str(body["trackingid"]), status=STATES[body["status"]],
            received_at=parse_time(body["tanggal_lapor"]), verified_at=parse_time(body.get("tanggal_verifikasi")),
            followed_up_at=parse_time(body.get("tanggal_tindak_lanjut")),
            closed_at=parse_time(body.get("tanggal_selesai")), agency=body.get("instansi") or None,
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, ValidationError):
        raise _unreadable("a complaint's status") from None
