"""The sandbox's synthetic signers: officials of a fictional DPMPTSP, with visibly fake passphrases.

Names say SANDBOX, passphrases say sandbox and not-a-secret; the NIKs are well-formed (Kota Tegal codes, real
dates) so the contract accepts them, and belong to nobody the sandbox does not invent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["SIGNERS", "UNREGISTERED_NIK", "CertificateState", "Signer", "sample_niks"]


class CertificateState(StrEnum):
    """The user-status words of registered signers (``ISSUE`` is in public clients; the rest are guesses)."""

    ISSUE = "ISSUE"
    EXPIRED = "EXPIRED"
    REVOKE = "REVOKE"
    SUSPEND = "SUSPEND"
    NEW = "NEW"


@dataclass(frozen=True)
class Signer:
    nik: str
    name: str
    position: str
    passphrase: str
    state: CertificateState


SIGNERS: dict[str, Signer] = {
    signer.nik: signer
    for signer in (
        Signer("3376011204780003", "SANDBOX KEPALA DINAS SATU", "Kepala DPMPTSP Kota Contoh",
               "sandbox-passphrase-kepala-not-a-secret", CertificateState.ISSUE),
        Signer("3376015507820004", "SANDBOX SEKRETARIS DUA", "Sekretaris DPMPTSP Kota Contoh",
               "sandbox-passphrase-sekretaris-not-a-secret", CertificateState.ISSUE),
        Signer("3376010309800005", "SANDBOX KABID TIGA", "Kepala Bidang Perizinan (sertifikat kedaluwarsa)",
               "sandbox-passphrase-kabid-not-a-secret", CertificateState.EXPIRED),
        Signer("3376016102880006", "SANDBOX KASI EMPAT", "Kepala Seksi (sertifikat dicabut)",
               "sandbox-passphrase-kasi-not-a-secret", CertificateState.REVOKE),
        Signer("3376012008900007", "SANDBOX STAF LIMA", "Staf (pendaftaran belum selesai)",
               "sandbox-passphrase-staf-not-a-secret", CertificateState.NEW),
        # Kept for the lock-out test: wrong passphrases lock this one, and no other test signs as it.
        Signer("3376014411910008", "SANDBOX ANALIS ENAM", "Analis Perizinan",
               "sandbox-passphrase-analis-not-a-secret", CertificateState.ISSUE),
    )
}  # fmt: skip

#: A well-formed NIK (Kota Tegal, born 1 January 2001) that no sandbox signer holds.
UNREGISTERED_NIK = "3376010101010009"


def sample_niks() -> list[str]:
    """The signers in the order above (the two who can sign first, the lock-out test's last): what
    `mpp-hub sandbox sample` prints."""
    return list(SIGNERS)
