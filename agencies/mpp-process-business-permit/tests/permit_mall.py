"""What the permit's tests share: the applicant (a Dukcapil sandbox resident with a business at the OSS sandbox),
the signing official (a BSrE sandbox signer), and an independent check of a signed PDF (pyHanko, the sandbox CA).

Run from the repository's root, so that the hub's own test helpers (``tests._stack`` ...) are importable.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from asn1crypto import pem, x509  # type: ignore[import-untyped]
from mpp_plugin_bsre._data import SIGNERS, CertificateState
from mpp_plugin_bsre._pki import sandbox_pki
from mpp_plugin_oss import sandbox as oss_sandbox
from plugins._synthetic.residents import by_nik
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

__all__ = [
    "AGENCIES", "KBLI", "NIB", "PLUGINS", "Applicant", "Official", "independently_valid", "official",
    "permit_applicant",
]  # fmt: skip

AGENCIES = ("dukcapil", "oss", "bsre")
PLUGINS = (*AGENCIES, "business_permit")
KBLI = "56102"
#: The NIB of the applicant's business (the OSS sandbox's synthetic NIBs start 999).
NIB = "9990000000985"


@dataclass(frozen=True)
class Applicant:
    nik: str
    full_name: str
    birth_date: str


@dataclass(frozen=True)
class Official:
    nik: str
    name: str
    passphrase: str


def official() -> Official:
    """A BSrE sandbox signer whose certificate is issued (and whom no lock-out test uses)."""
    signer = next(s for s in SIGNERS.values() if s.state is CertificateState.ISSUE)
    return Official(signer.nik, signer.name, signer.passphrase)


@pytest.fixture
def permit_applicant(monkeypatch: pytest.MonkeyPatch) -> Iterator[Applicant]:
    """A Dukcapil sandbox resident who owns a sole proprietorship at the OSS sandbox.

    The OSS sandbox's owners are not Dukcapil sandbox residents, so the test gives it one more synthetic business,
    in the sandbox's own wire format, for the first Dukcapil sample resident (until the OSS sandbox has one).
    """
    residents = by_nik()  # the Dukcapil sandbox's, at its default seed
    resident = residents[min(residents)]
    record = _business(resident.nik, resident.full_name)
    monkeypatch.setitem(oss_sandbox._BY_NIB, NIB, record)
    monkeypatch.setitem(oss_sandbox._BY_NPWP, resident.nik, record)
    yield Applicant(resident.nik, resident.full_name, resident.birth_date.isoformat())


def _business(nik: str, name: str) -> dict[str, Any]:
    person = {
        "flag_asing": "N", "jns_identitas_penanggung_jwb": "01", "no_identitas_penanggung_jwb": nik,
        "nama_penanggung_jwb": name, "jabatan_penanggung_jwb": "Pemilik", "kebangsaan_penanggung_jwb": "ID",
    }  # fmt: skip
    return {
        "nib": NIB, "tgl_pengajuan_nib": "2024-01-15", "tgl_terbit_nib": "2024-01-15", "oss_id": "P-SANDBOX-0985",
        "jenis_pelaku_usaha": "02", "skala_usaha": "01", "status_penanaman_modal": "02", "npwp_perseroan": nik,
        "nama_perseroan": f"WARUNG {name} SANDBOX", "jenis_perseroan": "17", "alamat_perseroan": "JL. CONTOH NO. 9",
        "rt_rw_perseroan": "008/008", "kelurahan_perseroan": "PENUJAH", "perseroan_daerah_id": "3328082002",
        "kode_pos_perseroan": "52152", "penanggung_jwb": [person],
        "data_proyek": [
            {"id_proyek": f"R-SANDBOX-{KBLI}", "kbli": KBLI, "uraian_usaha": "Warung makan", "skala_resiko": "Rendah"}
        ],
        "status_nib": "01", "tipe_dokumen": "9", "versi_pia": "4.3.22",
    }  # fmt: skip


async def independently_valid(pdf: bytes) -> list[str]:
    """The signers' names of every signature pyHanko finds valid, intact and chaining to the BSrE sandbox's CA
    (in this process: the sandboxes the tests start are)."""
    kind, _, der = pem.unarmor(sandbox_pki().ca_pem)
    assert kind == "CERTIFICATE"
    root = x509.Certificate.load(der)
    reader = PdfFileReader(io.BytesIO(pdf))
    names = []
    for signature in reader.embedded_signatures:
        context = ValidationContext(trust_roots=[root], allow_fetching=False)
        status = await async_validate_pdf_signature(signature, context)
        if status.bottom_line and status.intact and status.valid and status.trusted:
            names.append(str(status.signing_cert.subject.native["common_name"]))
    return names
