"""The permit as a PDF (fpdf2): one A4 page naming the business, its NIB and KBLI, the owner, the issue date and
the tracking number, ready for BSrE to sign (an invisible signature, added incrementally by the signer).

Nothing else of the applicant goes on it: not the NIK, not the address. The page uses the PDF core fonts, which
cover Latin-1 only, so a character outside it is written without its accent (or as ``?``), never dropped.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from fpdf import FPDF
from fpdf.enums import XPos, YPos

__all__ = ["PermitFacts", "render"]

_MONTHS = (
    "Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November",
    "Desember",
)  # fmt: skip
_NOTE = (
    "Dokumen ini ditandatangani secara elektronik menggunakan sertifikat elektronik yang diterbitkan oleh "
    "Balai Besar Sertifikasi Elektronik (BSrE), BSSN. Keaslian dokumen dapat diperiksa melalui layanan "
    "verifikasi dokumen BSrE atau Mal Pelayanan Publik dengan nomor pelacakan di atas."
)


@dataclass(frozen=True)
class PermitFacts:
    """What the permit says, and nothing more."""

    tracking_no: str
    business_name: str
    nib: str
    kbli: str
    activity: str | None
    owner_name: str
    issued_on: dt.date


def _latin1(text: str) -> str:
    """``text`` in the core fonts' Latin-1: each other character without its accent, or ``?`` if even that is not."""
    return "".join(char if ord(char) < 256 else _plain(char) for char in text)


def _plain(char: str) -> str:
    base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
    return base if base and all(ord(c) < 256 for c in base) else "?"


def _date(day: dt.date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def _rows(facts: PermitFacts) -> list[tuple[str, str]]:
    kbli = f"{facts.kbli} - {facts.activity}" if facts.activity else facts.kbli
    return [
        ("Nama usaha", facts.business_name),
        ("Nomor Induk Berusaha (NIB)", facts.nib),
        ("Kegiatan usaha (KBLI)", kbli),
        ("Pemilik / penanggung jawab", facts.owner_name),
        ("Tanggal terbit", _date(facts.issued_on)),
        ("Nomor pelacakan", facts.tracking_no),
    ]


def render(facts: PermitFacts) -> bytes:
    """The permit's PDF; the same facts give the same page (its dates are the issue date's)."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(dt.datetime.combine(facts.issued_on, dt.time(), tzinfo=dt.UTC))
    pdf.set_title(f"Izin Usaha {facts.tracking_no}")
    pdf.set_subject(_latin1(f"Izin usaha {facts.business_name}"))
    pdf.set_creator("MPP Hub")
    pdf.set_compression(False)  # a small page, and its text readable as is (a reader, a test)
    pdf.set_margins(20, 20, 20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 7, "MAL PELAYANAN PUBLIK", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 12, "IZIN USAHA", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)
    for label, value in _rows(facts):
        pdf.set_font("Helvetica", "", 11)
        pdf.cell(65, 8, label)
        pdf.set_font("Helvetica", "B", 11)
        pdf.multi_cell(0, 8, _latin1(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(10)
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(0, 5, _NOTE, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
