"""The ``document`` contract package: certified electronic signatures on PDFs, as BSrE (BSSN) gives them.

Three operations: ``document.sign`` (a named signer signs a PDF with their passphrase), ``document.verify``
(is a PDF signed, intact, by whom, under which CA) and ``document.signer_status`` (may this NIK sign).

The passphrase is the one value here that must never be kept: it is a ``SecretStr`` (no ``repr``, ``str`` or
log line shows it), it carries a :class:`~contracts.Personal` marker that redacts it in every mask (logs,
traffic, errors, audit), and it is revealed only where the request is serialised to travel to the worker.
``document.sign`` is not idempotent: a repeat signs again (a second certified signature, counted by BSrE), so
the hub never retries it, and a refused passphrase is never sent twice (several wrong tries lock the account).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated, Any

from contracts import (
    NIK,
    Contract,
    ContractPackage,
    Mask,
    Operation,
    Personal,
    PersonalCategory,
    PersonalData,
    PurposeDeclaration,
)
from pydantic import AfterValidator, Field, PlainSerializer, SecretStr
from pydantic_core import PydanticCustomError

__all__ = [
    "CONTRACT",
    "DOCUMENT_CONTENT",
    "MAX_SIGN_BYTES",
    "MAX_VERIFY_BYTES",
    "PACKAGE_VERSION",
    "SIGNING_PASSPHRASE",
    "DocumentToVerify",
    "SignDocument",
    "SignatureCheck",
    "SignedDocument",
    "SignerState",
    "SignerStatus",
    "SignerStatusQuery",
    "VerificationResult",
]

PACKAGE_VERSION = "1.0.0"

#: The largest PDFs the package takes, decoded. Two limits meet here: the portal API takes request bodies of up
#: to 256 KiB (hub._http.MAX_BODY_BYTES) and NATS a message of up to its max_payload (1 MiB by default). A PDF
#: to verify may be 190 KiB (253 KiB as base64, with room for the rest of the request). One to sign may be
#: 160 KiB, leaving 30 KiB for the signature BSrE adds (about 15 KiB with its chain and timestamp), so that the
#: signed copy can be verified through the hub in its turn.
MAX_VERIFY_BYTES = 190 * 1024
MAX_SIGN_BYTES = 160 * 1024

#: A signer's BSrE passphrase: a credential, not a record about the person, yet marked like personal data so
#: that every mask the hub applies (logs, traffic, errors, audit) redacts it whole.
SIGNING_PASSPHRASE = PersonalCategory(
    "signing_passphrase", "A signer's electronic-signature passphrase (BSrE): redacted everywhere, never stored"
)

#: What a signed document says (a permit, a decree) is about people, so no mask ever shows a PDF's bytes.
DOCUMENT_CONTENT = PersonalCategory(
    "document_content", "The bytes of a document to sign or verify: it names applicants, so masks redact it"
)


def _base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


def _pdf_check(limit: int, what: str) -> Callable[[str], str]:
    """A check that a value is base64 of a PDF of at most ``limit`` bytes; its refusals never quote the content."""

    def too_large(size: int) -> PydanticCustomError:
        return PydanticCustomError(
            "pdf_too_large",
            "the PDF is {size} bytes; at most {limit} bytes ({kib} KiB) can be {what} through the hub: compress it",
            {"size": size, "limit": limit, "kib": limit // 1024, "what": what},
        )

    def check(value: str) -> str:
        if len(value) > _base64_length(limit):  # before decoding: the size alone refuses it
            raise too_large(len(value) * 3 // 4)
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise PydanticCustomError("pdf_base64", "must be the PDF encoded as standard base64 (RFC 4648)") from None
        if len(raw) > limit:
            raise too_large(len(raw))
        if not raw.startswith(b"%PDF-"):
            raise PydanticCustomError("pdf_magic", "is not a PDF: the decoded file must start with %PDF-")
        return value

    return check


def _pdf_field(limit: int) -> Any:
    return Field(
        min_length=8,
        description=f"A PDF file as standard base64, at most {limit} bytes before encoding.",
        # Published, but checked by _pdf_check, whose refusal states the limit in bytes a person can act on.
        json_schema_extra={"maxLength": _base64_length(limit)},
    )


_DOCUMENT = Personal(DOCUMENT_CONTENT, Mask())
PdfToSign = Annotated[str, _pdf_field(MAX_SIGN_BYTES), AfterValidator(_pdf_check(MAX_SIGN_BYTES, "signed")), _DOCUMENT]
PdfToVerify = Annotated[
    str, _pdf_field(MAX_VERIFY_BYTES), AfterValidator(_pdf_check(MAX_VERIFY_BYTES, "verified")), _DOCUMENT
]


def _reveal(secret: SecretStr) -> str:
    # Only the request's JSON (what travels to the worker over the bus, TLS-protected) carries the value; every
    # mask replaces it from the Personal marker, and the model's repr and str show asterisks.
    return secret.get_secret_value()


Passphrase = Annotated[
    SecretStr,
    Field(
        min_length=1,
        max_length=128,
        description="The signer's BSrE passphrase, used for this one signature: never stored, logged or echoed.",
    ),
    Personal(SIGNING_PASSPHRASE, Mask()),  # Mask(): redact whole
    PlainSerializer(_reveal, return_type=str, when_used="json"),
]

SignerName = Annotated[
    str,
    Field(min_length=1, max_length=200, description="The signer's name as the certificate gives it, personal data."),
    Personal(PersonalData.NAME, Mask(initials=True)),
]

_Reason = Annotated[
    str, Field(min_length=1, max_length=200, description="Why the document is signed, written into the signature.")
]
_Location = Annotated[str, Field(min_length=1, max_length=100, description="Where it is signed (a city, an office).")]


class SignDocument(Contract):
    """A PDF to sign, invisibly, as the signer holding ``nik`` with the signer's own passphrase."""

    nik: NIK
    passphrase: Passphrase
    document: PdfToSign
    reason: _Reason | None = None
    location: _Location | None = None


class SignedDocument(Contract):
    """The signed PDF and what identifies the signature."""

    document: Annotated[
        str, Field(description="The signed PDF as standard base64 (the input's size plus the signature)."), _DOCUMENT
    ]
    signature_id: str = Field(min_length=1, max_length=100, description="BSrE's id of the signed document.")
    signed_at: dt.datetime = Field(description="The signing time written into the signature (UTC).")
    size_bytes: int = Field(ge=1, description="Size of the signed PDF, decoded.")


class DocumentToVerify(Contract):
    """A PDF whose electronic signatures to check."""

    document: PdfToVerify


class SignatureCheck(Contract):
    """One signature found in the PDF, as BSrE's verifier reads it."""

    field: str = Field(description="The PDF signature field holding it.")
    signer_name: SignerName
    signed_at: dt.datetime | None = Field(description="The signing time the signature claims, if it gives one.")
    intact: bool = Field(description="The signed bytes are unchanged since this signature.")
    certified: bool = Field(description="The signer's certificate chains to the certification authority trusted.")
    timestamped: bool = Field(description="A timestamp authority countersigned the signing time.")
    issuer: str = Field(description="The distinguished name of the certificate's issuer (a CA, not a person).")
    reason: str | None = Field(default=None, description="The reason written into the signature.")
    location: str | None = Field(default=None, description="The location written into the signature.")


class VerificationResult(Contract):
    """Whether a PDF carries valid electronic signatures, and whose."""

    signed: bool = Field(description="The PDF carries at least one electronic signature.")
    intact: bool = Field(description="Signed, and no signature reports a change to the document after it.")
    trusted: bool = Field(description="Signed, and every signer's certificate chains to the trusted CA.")
    signature_count: int = Field(ge=0, description="How many signatures the PDF carries.")
    signatures: list[SignatureCheck] = Field(description="Each signature, in the order of the PDF's fields.")
    summary: str = Field(description="BSrE's verdict in its own words (e.g. DOCUMENT VALID).")


class SignerStatusQuery(Contract):
    """Whose signing status to ask: the signer's NIK."""

    nik: NIK


class SignerState(StrEnum):
    """A signer's standing at BSrE, from the status code its user-status endpoint answers."""

    REGISTERED = "registered"  # a certificate is issued and valid: the signer can sign
    NOT_REGISTERED = "not_registered"
    CERTIFICATE_EXPIRED = "certificate_expired"
    CERTIFICATE_REVOKED = "certificate_revoked"
    SUSPENDED = "suspended"  # e.g. locked after wrong passphrases
    PENDING = "pending"  # registered, certificate not yet issued


class SignerStatus(Contract):
    """A signer's standing at BSrE."""

    nik: NIK
    state: SignerState
    can_sign: bool = Field(description="The signer can sign now (state is registered).")
    agency_status: str = Field(max_length=40, description="BSrE's own status word (ISSUE, NOT_REGISTERED...).")
    message: str = Field(max_length=300, description="BSrE's message, as it answered it.")


_PURPOSE = PurposeDeclaration(
    description=(
        "Penandatanganan dan verifikasi dokumen elektronik (izin, surat keputusan) oleh pejabat yang berwenang "
        "dengan sertifikat elektronik BSrE"
    ),
    legal_basis=(
        "UU 11/2008 jo. UU 19/2016 jo. UU 1/2024 tentang ITE, Pasal 11; PP 71/2019 tentang PSTE, Pasal 59-62 "
        "(guess: articles); Perpres 95/2018 tentang SPBE"
    ),
    operations=("document.*",),
)

CONTRACT = ContractPackage(
    namespace="document",
    version=PACKAGE_VERSION,
    summary="Certified electronic signatures on PDFs (BSrE, BSSN): sign, verify, and a signer's status.",
    operations=(
        Operation(
            name="document.sign",
            summary="Sign a PDF as the signer with this NIK, with the signer's passphrase; a repeat signs again.",
            input=SignDocument,
            output=SignedDocument,
            # Not idempotent: a repeat makes a second certified signature, so the hub never retries it (and a
            # refused passphrase is never sent twice: wrong tries lock the signer's BSrE account).
            idempotent=False,
            personal_data=True,
            version=PACKAGE_VERSION,
        ),
        Operation(
            name="document.verify",
            summary="Check a PDF's electronic signatures: signed, intact, by whom, chaining to the trusted CA.",
            input=DocumentToVerify,
            output=VerificationResult,
            idempotent=True,
            personal_data=True,
            version=PACKAGE_VERSION,
        ),
        Operation(
            name="document.signer_status",
            summary="Whether the holder of a NIK is registered with BSrE and has a valid signing certificate.",
            input=SignerStatusQuery,
            output=SignerStatus,
            idempotent=True,
            personal_data=True,
            version=PACKAGE_VERSION,
        ),
    ),
    categories=(SIGNING_PASSPHRASE, DOCUMENT_CONTENT),
    purposes={"tanda-tangan-elektronik": _PURPOSE},
)
