"""What the permit's tests share: the applicant (a Dukcapil sandbox resident with a business at the OSS sandbox),
the signing official (a BSrE sandbox signer), and an independent check of a signed PDF (pyHanko, the sandbox CA).

Run from the repository's root, so that the hub's own test helpers (``tests._stack`` ...) are importable.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from asn1crypto import pem, x509  # type: ignore[import-untyped]
from mpp_plugin_bsre import sandbox as bsre_sandbox
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
#: The NIB of the applicant's business at the OSS sandbox (its synthetic data: a sole proprietorship, KBLI 56102).
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
    signer = next(s for s in bsre_sandbox.sample_signers() if s.state is bsre_sandbox.CertificateState.ISSUE)
    return Official(signer.nik, signer.name, signer.passphrase)


@pytest.fixture
def permit_applicant() -> Applicant:
    """The Dukcapil sandbox resident who owns the OSS sandbox's business :data:`NIB`: the first by NIK at the
    Dukcapil sandbox's default seed (the OSS sandbox's data names the same NIK and name)."""
    residents = by_nik()
    resident = residents[min(residents)]
    return Applicant(resident.nik, resident.full_name, resident.birth_date.isoformat())


async def independently_valid(pdf: bytes) -> list[str]:
    """The signers' names of every signature pyHanko finds valid, intact and chaining to the BSrE sandbox's CA
    (in this process: the sandboxes the tests start are)."""
    kind, _, der = pem.unarmor(bsre_sandbox.ca_certificate_pem())
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
