"""PDF signatures with pyHanko: sign (PAdES, with a timestamp), read what a signed PDF claims, and validate it.

The sandbox signs and validates with these; the client only reads (the signing time of the copy BSrE returns).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from io import BytesIO

from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped]
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from mpp_plugin_bsre._pki import Credential, SandboxPki

__all__ = ["NotAPdf", "SignatureReport", "inspect", "minimal_pdf", "sign", "signing_times"]


class NotAPdf(ValueError):
    """The bytes are not a PDF pyHanko can read (or sign); the message names no content."""


@dataclass(frozen=True)
class SignatureReport:
    """What one embedded signature says and whether it holds, against one trust root."""

    field: str
    signer_name: str
    signer_dn: str
    issuer_dn: str
    not_before: dt.datetime
    not_after: dt.datetime
    signed_at: dt.datetime | None
    intact: bool
    trusted: bool
    timestamped: bool
    reason: str | None
    location: str | None


def _reader(pdf: bytes) -> PdfFileReader:
    try:
        return PdfFileReader(BytesIO(pdf), strict=False)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise NotAPdf(f"not a readable PDF ({type(exc).__name__})") from None


def _field_name(reader: PdfFileReader) -> str:
    """The next free field name: Signature1, Signature2... (a PDF may carry several signatures)."""
    taken = {sig.field_name for sig in reader.embedded_signatures}
    return next(f"Signature{n}" for n in range(1, len(taken) + 2) if f"Signature{n}" not in taken)


async def sign(
    pdf: bytes, signer: Credential, pki: SandboxPki, *, reason: str | None, location: str | None
) -> tuple[bytes, str]:
    """``pdf`` signed by ``signer`` (PAdES baseline with a timestamp), and the field that holds the signature."""
    try:
        writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
        field_name = _field_name(writer.prev)
        meta = signers.PdfSignatureMetadata(
            field_name=field_name, reason=reason, location=location, subfilter=fields.SigSeedSubFilter.PADES
        )
        registry = SimpleCertificateStore.from_certs([pki.ca])  # type: ignore[no-untyped-call]
        pdf_signer = signers.SimpleSigner(
            signing_cert=signer.certificate, signing_key=signer.key, cert_registry=registry
        )
        stamper = timestamps.DummyTimeStamper(
            tsa_cert=pki.tsa.certificate, tsa_key=pki.tsa.key, certs_to_embed=registry
        )
        out = await signers.async_sign_pdf(writer, meta, signer=pdf_signer, timestamper=stamper)
    except (PdfError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise NotAPdf(f"cannot sign this PDF ({type(exc).__name__})") from None
    return out.getvalue(), field_name


def signing_times(pdf: bytes) -> list[dt.datetime]:
    """The signing time each signature of ``pdf`` states (its /M entry), in field order."""
    found = []
    for sig in _reader(pdf).embedded_signatures:
        stamp = sig.self_reported_timestamp
        if stamp is not None:
            found.append(stamp.astimezone(dt.UTC))
    return found


async def inspect(pdf: bytes, trust_root: asn1_x509.Certificate) -> list[SignatureReport]:
    """Every signature of ``pdf``, each validated against ``trust_root`` only (no network fetching)."""
    return [await _report(sig, trust_root) for sig in _reader(pdf).embedded_signatures]


async def _report(sig: EmbeddedPdfSignature, trust_root: asn1_x509.Certificate) -> SignatureReport:
    context = ValidationContext(trust_roots=[trust_root], allow_fetching=False, revocation_mode="soft-fail")
    status = await async_validate_pdf_signature(sig, context, ts_validation_context=context)
    cert = sig.signer_cert
    tsa = status.timestamp_validity
    values = sig.sig_object
    return SignatureReport(
        field=sig.field_name,
        signer_name=cert.subject.native.get("common_name", ""),
        signer_dn=cert.subject.human_friendly,
        issuer_dn=cert.issuer.human_friendly,
        not_before=cert.not_valid_before,
        not_after=cert.not_valid_after,
        # The time the signature states (its /M, what signing answers too); the timestamp's own is within a second.
        signed_at=sig.self_reported_timestamp or (tsa.timestamp if tsa is not None else None),
        intact=bool(status.intact and status.valid),
        trusted=bool(status.trusted),
        timestamped=bool(tsa is not None and tsa.intact and tsa.valid),
        reason=_text(values.get("/Reason")),
        location=_text(values.get("/Location")),
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# Characters that would end or escape a PDF string literal, or leave ASCII.
_UNSAFE = re.compile(r"[^ -'*-\[\]-~]")


def minimal_pdf(lines: list[str], *, size: int = 0) -> bytes:
    """A one-page PDF showing ``lines`` (ASCII), byte offsets and all: the sandbox's sample documents.

    ``size``: the file padded to this many bytes with a comment after the header (a document to try limits on).
    """
    if not size:
        return _built(lines, 0)
    # A longer file has longer offsets: measure once with a first guess of the padding, then correct it.
    guess = size - len(_built(lines, 0))
    return _built(lines, guess - (len(_built(lines, guess)) - size))


def _built(lines: list[str], padding: int) -> bytes:
    text = "".join(f"({_UNSAFE.sub('', line)}) Tj 0 -18 Td " for line in lines)
    content = f"BT /F1 12 Tf 56 780 Td {text}ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    if padding >= 2:
        out += b"%" + b"0" * (padding - 2) + b"\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
