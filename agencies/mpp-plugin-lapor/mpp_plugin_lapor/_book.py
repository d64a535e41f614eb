"""The sandbox's complaint book: what the simulated SP4N-LAPOR! holds, and how complaints move through it.

Synthetic only: the seeded complaints are anonymous and name no one. Each complaint is kept once per reference,
the hub's tracking number, so a filing sent again (after an answer that was lost) gets the same tracking id.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Any

from hub import utcnow

from mpp_plugin_lapor import _wire
from mpp_plugin_lapor.contract import ComplaintState

__all__ = ["TOPICS", "Book", "Complaint"]

#: The sandbox's topic list, as LAPOR!'s data API lists topics (id 13 and its name are from the public
#: documentation's example; the rest are made up).
TOPICS: tuple[dict[str, str], ...] = (
    {"id": "3", "parent": "0", "topic_name": "Pelayanan Publik"},
    {"id": "13", "parent": "3", "topic_name": "Teknologi Informasi dan Komunikasi"},
    {"id": "21", "parent": "3", "topic_name": "Administrasi Kependudukan"},
    {"id": "34", "parent": "3", "topic_name": "Perizinan"},
)
_ORDER = (ComplaintState.UNVERIFIED, ComplaintState.VERIFIED, ComplaintState.FOLLOWED_UP, ComplaintState.CLOSED)
#: The institution a verified complaint goes to when the admin route names none.
_DEFAULT_INSTITUTION = "Pemerintah Kota Sandbox"
_FIRST_ID = 90_000_001


@dataclass
class Complaint:
    tracking_id: str
    reference: str
    transaction_id: str
    laporan: dict[str, Any]
    pelapor: dict[str, Any] | None
    received_at: dt.datetime
    status: ComplaintState = ComplaintState.UNVERIFIED
    institution: str = ""
    times: dict[ComplaintState, dt.datetime] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        """The complaint's status as the status endpoint answers it (never the text or the reporter)."""
        stamp = {state: _wire.format_time(at) for state, at in self.times.items()}
        return {
            "success": True, "trackingid": self.tracking_id, "status": _wire.WIRE_STATES[self.status],
            "tanggal_lapor": _wire.format_time(self.received_at),
            "tanggal_verifikasi": stamp.get(ComplaintState.VERIFIED, ""),
            "tanggal_tindak_lanjut": stamp.get(ComplaintState.FOLLOWED_UP, ""),
            "tanggal_selesai": stamp.get(ComplaintState.CLOSED, stamp.get(ComplaintState.ARCHIVED, "")),
            "instansi": self.institution,
        }  # fmt: skip


class Book:
    """Every complaint the sandbox holds, by tracking id and by reference, and what it was asked."""

    def __init__(self) -> None:
        self.complaints: dict[str, Complaint] = {}
        self.by_reference: dict[str, str] = {}
        self.filings = 0  # filing requests that reached the book (a token refused never does)
        self.lose_answers = 0  # filings still to keep and then answer 503, as if the answer were lost
        self._ids = itertools.count(_FIRST_ID)
        self._seed()

    def _seed(self) -> None:
        """Four anonymous complaints, one per open state and one closed, for the status samples."""
        laporan = {"judul": "Contoh laporan sandbox", "isi": "Laporan contoh sandbox, tanpa data pribadi.",
                   "kategori": "3", "anonim": 1, "rahasia": 1}  # fmt: skip
        for index, state in enumerate(_ORDER):
            complaint = self.file(f"SANDBOX-SEED-{index}", laporan, None)
            self.move(complaint, state, utcnow())

    def file(self, reference: str, laporan: dict[str, Any], pelapor: dict[str, Any] | None) -> Complaint:
        """The complaint under ``reference``: the one already held, else a new one."""
        held = self.by_reference.get(reference)
        if held is not None:
            return self.complaints[held]
        number = next(self._ids)
        complaint = Complaint(
            tracking_id=str(number), reference=reference, transaction_id=f"TRX{number}", laporan=dict(laporan),
            pelapor=dict(pelapor) if pelapor else None, received_at=utcnow(),
        )  # fmt: skip
        self.complaints[complaint.tracking_id] = complaint
        self.by_reference[reference] = complaint.tracking_id
        return complaint

    def move(self, complaint: Complaint, to: ComplaintState, at: dt.datetime, institution: str | None = None) -> None:
        """Move ``complaint`` on to ``to`` at ``at``, stamping the steps it skipped with the same time."""
        if to is ComplaintState.ARCHIVED:
            complaint.times.setdefault(to, at)
        else:
            for state in _ORDER[1 : _ORDER.index(to) + 1]:
                complaint.times.setdefault(state, at)
        if to is not ComplaintState.UNVERIFIED and to is not ComplaintState.ARCHIVED:
            complaint.institution = complaint.institution or institution or _DEFAULT_INSTITUTION
        complaint.status = to

    def stats(self) -> dict[str, Any]:
        """What was filed (the seeded complaints left out): every complaint held, by reference, and the requests."""
        held: dict[str, list[str]] = {}
        for complaint in self.complaints.values():
            if not complaint.reference.startswith("SANDBOX-SEED-"):
                held.setdefault(complaint.reference, []).append(complaint.tracking_id)
        return {"complaints": sum(map(len, held.values())), "filings": self.filings, "by_reference": held}
