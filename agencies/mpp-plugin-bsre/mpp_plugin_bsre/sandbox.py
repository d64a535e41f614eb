"""Sandbox of BSrE's eSign Client Service API (v1): it signs PDFs for real, with its own throw-away test CA.

Routes, all behind HTTP Basic auth (see README.md for the public sources and what is a guess):

- ``POST /api/sign/pdf`` (multipart: ``file``, ``nik``, ``passphrase``, ``tampilan`` and, optionally,
  ``reason`` and ``location``): 200 with the signed PDF (``application/pdf``) and its id in the ``id_dokumen``
  header, or 400 ``{"error": ..., "status_code": ...}``. Wrong passphrases are counted per signer; the fifth
  in a row locks the signer (``SUSPEND``) for the sandbox's lifetime, as BSrE locks a real account.
- ``POST /api/sign/verify`` (multipart: ``signed_file``): the signatures, each validated with pyHanko against
  the sandbox's own CA.
- ``GET /api/user/status/{nik}``: ``{"status_code": 1111, "status": "ISSUE", "message": ...}``.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mpp_plugin_bsre import _pdf
from mpp_plugin_bsre._data import SIGNERS, UNREGISTERED_NIK, CertificateState, Signer
from mpp_plugin_bsre._pki import SandboxPki, sandbox_pki

__all__ = [
    "SANDBOX_PASSWORD",
    "SANDBOX_USERNAME",
    "UNREGISTERED_NIK",
    "CertificateState",
    "Signer",
    "ca_certificate_pem",
    "create_app",
    "sample_document",
    "sample_signers",
]

#: The eSign client account the sandbox accepts: obviously fake, never a real credential.
SANDBOX_USERNAME = "sandbox-esign-client"
SANDBOX_PASSWORD = "sandbox-esign-password-not-a-secret"
#: Wrong passphrases in a row that lock a signer (guess: BSrE locks after a few; the number is not public).
LOCK_AFTER = 5
_WIB = dt.timezone(dt.timedelta(hours=7))
#: User-status codes: 1111 ISSUE and 1110 NOT_REGISTERED are in public clients; the others are guesses.
_STATUS_CODES = {
    CertificateState.ISSUE: 1111, CertificateState.EXPIRED: 1112, CertificateState.REVOKE: 1113,
    CertificateState.SUSPEND: 1114, CertificateState.NEW: 1115,
}  # fmt: skip
_STATUS_MESSAGES = {
    CertificateState.ISSUE: "User sudah terdaftar dan memiliki sertifikat dengan status ISSUE",
    CertificateState.EXPIRED: "Sertifikat user sudah kedaluwarsa (EXPIRED)",
    CertificateState.REVOKE: "Sertifikat user telah dicabut (REVOKE)",
    CertificateState.SUSPEND: "User ditangguhkan (SUSPEND) karena passphrase salah berulang kali",
    CertificateState.NEW: "User sudah terdaftar, sertifikat belum diterbitkan",
}


def _refused(message: str, code: int, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message, "status_code": code}, status_code=status)


@dataclass
class _Desk:
    """The sandbox's state: its PKI, each signer's standing and count of wrong passphrases in a row."""

    pki: SandboxPki
    states: dict[str, CertificateState] = field(default_factory=lambda: {n: s.state for n, s in SIGNERS.items()})
    wrong_tries: dict[str, int] = field(default_factory=dict)

    def authorised(self, request: Request) -> bool:
        expected = base64.b64encode(f"{SANDBOX_USERNAME}:{SANDBOX_PASSWORD}".encode()).decode()
        return secrets.compare_digest(request.headers.get("authorization", "").encode(), f"Basic {expected}".encode())

    def check_passphrase(self, signer: Signer, passphrase: str) -> JSONResponse | None:
        """None when it is right (the count starts again); a refusal, and one more wrong try, when not."""
        if secrets.compare_digest(passphrase.encode(), signer.passphrase.encode()):
            self.wrong_tries.pop(signer.nik, None)
            return None
        tries = self.wrong_tries[signer.nik] = self.wrong_tries.get(signer.nik, 0) + 1
        if tries >= LOCK_AFTER:
            self.states[signer.nik] = CertificateState.SUSPEND
        return _refused("Passphrase anda salah", 2031)


async def _form(request: Request) -> FormData | None:
    try:
        return await request.form()
    except (ValueError, KeyError, AssertionError):  # not multipart, or a broken one
        return None


async def _upload(form: FormData, name: str) -> tuple[bytes, str] | None:
    item = form.get(name)
    if not isinstance(item, UploadFile):
        return None
    return await item.read(), item.filename or "dokumen.pdf"


def _raw(form: FormData, name: str) -> str:
    """A text field exactly as sent (a passphrase's spaces are its own), or "" when absent or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


class _Routes:
    def __init__(self, desk: _Desk) -> None:
        self.desk = desk

    async def sign(self, request: Request) -> Response:
        if not self.desk.authorised(request):
            return _refused("Unauthorized", 401, status=401)
        form = await _form(request)
        if form is None:
            return _refused("Request harus multipart/form-data", 2001)
        try:
            return await self._sign(form)
        finally:
            await form.close()  # the upload's spooled temporary file

    async def _sign(self, form: FormData) -> Response:
        missing = next((name for name in ("nik", "passphrase", "tampilan") if _text(form, name) is None), None)
        uploaded = await _upload(form, "file")
        if missing is not None or uploaded is None:
            return _refused(f"Parameter {missing or 'file'} wajib diisi", 2002)
        signer = SIGNERS.get(_text(form, "nik") or "")
        refusal = _appearance_refusal(form) or self._signer_refusal(signer)
        if refusal is not None:
            return refusal
        assert signer is not None  # an unknown signer is refused above
        return self.desk.check_passphrase(signer, _raw(form, "passphrase")) or await self._signed(
            uploaded[0], signer, form
        )

    def _signer_refusal(self, signer: Signer | None) -> JSONResponse | None:
        if signer is None:
            return _refused("User tidak terdaftar", 2021)
        state = self.desk.states[signer.nik]
        if state == CertificateState.SUSPEND:
            return _refused("User ditangguhkan karena passphrase salah berulang kali, hubungi admin BSrE", 2023)
        if state != CertificateState.ISSUE:
            return _refused(f"Sertifikat user tidak aktif ({state.value})", 2022)
        return None

    async def _signed(self, pdf: bytes, signer: Signer, form: FormData) -> Response:
        credential = self.desk.pki.signer(signer.name)
        try:
            signed, _ = await _pdf.sign(
                pdf, credential, self.desk.pki, reason=_text(form, "reason"), location=_text(form, "location")
            )
        except _pdf.NotAPdf:
            return _refused("Dokumen bukan file PDF yang valid", 2041)
        return Response(signed, media_type="application/pdf", headers={"id_dokumen": uuid.uuid4().hex})

    async def verify(self, request: Request) -> Response:
        if not self.desk.authorised(request):
            return _refused("Unauthorized", 401, status=401)
        form = await _form(request)
        if form is None:
            return _refused("Request harus multipart/form-data", 2001)
        try:
            uploaded = await _upload(form, "signed_file")
        finally:
            await form.close()
        if uploaded is None:
            return _refused("Parameter signed_file wajib diisi", 2002)
        try:
            reports = await _pdf.inspect(uploaded[0], self.desk.pki.ca)
        except _pdf.NotAPdf:
            return _refused("Dokumen bukan file PDF yang valid", 2041)
        return JSONResponse(_verification(uploaded[1], reports))

    async def status(self, request: Request) -> Response:
        if not self.desk.authorised(request):
            return _refused("Unauthorized", 401, status=401)
        nik = request.path_params["nik"]
        if nik not in SIGNERS:
            return JSONResponse({"status_code": 1110, "status": "NOT_REGISTERED", "message": "User belum terdaftar"})
        state = self.desk.states[nik]
        return JSONResponse(
            {"status_code": _STATUS_CODES[state], "status": state.value, "message": _STATUS_MESSAGES[state]}
        )


def _appearance_refusal(form: FormData) -> JSONResponse | None:
    """``tampilan`` is invisible, or visible with a QR link or a signature image (drawn: not by the sandbox)."""
    appearance = _text(form, "tampilan")
    if appearance == "invisible":
        return None
    if appearance == "visible":
        if _text(form, "linkQR") is None and not isinstance(form.get("imageTTD"), UploadFile):
            return _refused("Tampilan visible membutuhkan linkQR atau imageTTD", 2003)
        return None
    return _refused("Parameter tampilan harus visible atau invisible", 2003)


def _wib(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(_WIB).strftime("%Y-%m-%d %H:%M:%S")


def _detail(report: _pdf.SignatureReport) -> dict[str, Any]:
    return {
        "info_tsa": {"name": "SANDBOX Timestamp Authority" if report.timestamped else None, "tsa_cert_validity": None},
        "signature_field": report.field,
        "info_signer": {
            "issuer_dn": report.issuer_dn,
            "signer_name": report.signer_name,
            "signer_cert_validity": f"{_wib(report.not_before)} to {_wib(report.not_after)}",
            "signer_dn": report.signer_dn,
            "cert_user_certified": report.trusted,
        },
        "signature_document": {
            "signed_using_tsa": report.timestamped,
            "reason": report.reason,
            "document_integrity": report.intact,
            "signature_value": None,
            "signed_in": _wib(report.signed_at),
            "location": report.location,
            "hash_value": None,
        },
    }


def _verification(name: str, reports: list[_pdf.SignatureReport]) -> dict[str, Any]:
    if not reports:
        return {"nama_dokumen": name, "jumlah_signature": 0, "notes": None, "details": [], "summary": None}
    if not all(r.intact for r in reports):
        notes, summary = "Konten Dokumen mengalami perubahan oleh pihak yang tidak berhak", "DOCUMENT NOT VALID !!!"
    elif not all(r.trusted for r in reports):
        notes, summary = "Sertifikat penanda tangan tidak diterbitkan oleh CA yang dipercaya", "DOCUMENT NOT VALID !!!"
    else:
        notes = "Tanda tangan elektronik valid dan dokumen merupakan dokumen asli sejak ditandatangani"
        summary = "DOCUMENT VALID !!!"
    return {
        "nama_dokumen": name,
        "jumlah_signature": len(reports),
        "notes": notes,
        "details": [_detail(r) for r in reports],
        "summary": summary,
    }


def sample_document(size: int = 0) -> str:
    """A synthetic permit as base64 (padded to ``size`` bytes), for sample calls and the tests."""
    lines = ["SURAT IZIN (SANDBOX, DATA SINTETIS)", "DPMPTSP Kota Contoh", "Nomor 503/0001/SANDBOX/2026"]
    return base64.b64encode(_pdf.minimal_pdf(lines, size=size)).decode()


def sample_signers() -> list[Signer]:
    """The sandbox's signers (NIK, name, position, visibly fake passphrase, and the state their certificate
    starts in), those able to sign first and the one the lock-out test locks last."""
    return list(SIGNERS.values())


def ca_certificate_pem() -> bytes:
    """The root certificate (PEM) of this process's sandbox CA: the one trust root a verifier independent of
    BSrE's needs to check what this process's sandbox signed (each process makes its own CA)."""
    return sandbox_pki().ca_pem


def create_app(pki: SandboxPki | None = None) -> Starlette:
    """The sandbox app over ``pki`` (this process's sandbox PKI by default)."""
    # pyHanko logs an untrusted or broken signature as a warning with a traceback naming the certificate's
    # subject (a signer's name); for the sandbox that is an expected verdict, answered in the JSON instead.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.ERROR)
    routes = _Routes(_Desk(pki or sandbox_pki()))
    return Starlette(
        routes=[
            Route("/api/sign/pdf", routes.sign, methods=["POST"]),
            Route("/api/sign/verify", routes.verify, methods=["POST"]),
            Route("/api/user/status/{nik}", routes.status, methods=["GET"]),
        ]
    )
