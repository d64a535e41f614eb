"""The BSrE sandbox and the plugin's client over real HTTP: real PAdES signatures, checked without the plugin.

Each test starts the sandbox on a free loopback port and talks to it through the plugin's own client (the
wire format) or raw multipart (what the sandbox refuses); signed PDFs are validated by pyHanko and by openssl
against the sandbox's CA as the only trust root, never by the plugin's own reading of them.
"""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from io import BytesIO
from pathlib import Path

import httpx
import pytest
from asn1crypto import pem, x509  # type: ignore[import-untyped]
from contracts import ErrorCode, HubError
from hub import CallContext
from hub.testing import serving
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from mpp_plugin_bsre import sandbox
from mpp_plugin_bsre._pki import SandboxPki  # another sandbox's CA, which the public functions do not give
from mpp_plugin_bsre.client import BsreClient, BsreSettings
from mpp_plugin_bsre.contract import DocumentToVerify, SignDocument, SignerState, SignerStatusQuery
from mpp_plugin_bsre.plugin import _sandbox_settings

KEPALA, SEKRETARIS = "3376011204780003", "3376015507820004"
EXPIRED, REVOKED, PENDING, ANALIS = "3376010309800005", "3376016102880006", "3376012008900007", "3376014411910008"
WRONG = "sandbox-wrong-passphrase-xyzzy"
PASSPHRASES = {signer.nik: signer.passphrase for signer in sandbox.sample_signers()}

Scenario = Callable[[BsreClient, str], Awaitable[None]]


@asynccontextmanager
async def _served(
    pki: SandboxPki | None = None, settings: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[BsreClient, str]]:
    async with serving(sandbox.create_app(pki)) as url:
        client = await BsreClient.connect(BsreSettings.model_validate({**_sandbox_settings(url), **(settings or {})}))
        try:
            yield client, url
        finally:
            await client.aclose()


def _run(scenario: Scenario, **settings: str) -> None:
    async def main() -> None:
        async with _served(settings=settings) as (client, url):
            await scenario(client, url)

    asyncio.run(main())


def _ctx() -> CallContext:
    return CallContext("document.sign", "test-bsre-sandbox")


def _sign_request(nik: str = KEPALA, passphrase: str | None = None, document: str | None = None) -> SignDocument:
    return SignDocument.model_validate(
        {
            "nik": nik,
            "passphrase": passphrase or PASSPHRASES[nik],
            "document": document or sandbox.sample_document(),
            "reason": "Penerbitan izin (sandbox)",
            "location": "Kota Contoh",
        }
    )


async def _refused(call: Awaitable[object]) -> HubError:
    with pytest.raises(HubError) as caught:
        await call
    return caught.value


async def _independent_check(pdf: bytes, trust_root: x509.Certificate) -> tuple[bool, bool]:
    """(intact, trusted) of the PDF's signature by pyHanko's own validation, the trust root alone trusted."""
    (signature,) = PdfFileReader(BytesIO(pdf), strict=False).embedded_signatures
    context = ValidationContext(trust_roots=[trust_root], allow_fetching=False, revocation_mode="soft-fail")
    status = await async_validate_pdf_signature(signature, context)
    return bool(status.intact and status.valid), bool(status.trusted)


def _ca(ca_pem: bytes) -> x509.Certificate:
    _, _, der = pem.unarmor(ca_pem)
    return x509.Certificate.load(der)


def test_a_signed_pdf_verifies_against_the_sandbox_ca_and_a_tampered_one_does_not() -> None:
    async def scenario(client: BsreClient, _: str) -> None:
        signed = await client.sign(_sign_request(), _ctx())
        pdf = base64.b64decode(signed.document)
        assert signed.size_bytes == len(pdf) and signed.signature_id
        assert await _independent_check(pdf, _ca(sandbox.ca_certificate_pem())) == (True, True)
        # The same bytes against another CA: intact, but not trusted.
        assert await _independent_check(pdf, _ca(SandboxPki().ca_pem)) == (True, False)
        tampered = pdf.replace(b"DPMPTSP Kota Contoh", b"DPMPTSP Kota Palsu!")
        assert tampered != pdf
        assert (await _independent_check(tampered, _ca(sandbox.ca_certificate_pem())))[0] is False

    _run(scenario)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_the_cms_signature_over_the_signed_byte_range(tmp_path: Path) -> None:
    async def scenario(client: BsreClient, _: str) -> None:
        pdf = base64.b64decode((await client.sign(_sign_request(SEKRETARIS), _ctx())).document)
        match = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
        assert match is not None
        a, b, c, d = map(int, match.groups())
        (tmp_path / "signed.bin").write_bytes(pdf[a : a + b] + pdf[c : c + d])
        contents = pdf[a + b : c].strip(b"<>")
        (tmp_path / "sig.der").write_bytes(bytes.fromhex(contents.decode()))
        (tmp_path / "ca.pem").write_bytes(sandbox.ca_certificate_pem())

    _run(scenario)
    verify = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.der", "-content", "signed.bin"]
    trusted = subprocess.run([*verify, "-CAfile", "ca.pem", "-purpose", "any", "-out", "/dev/null"], cwd=tmp_path)
    assert trusted.returncode == 0
    (tmp_path / "signed.bin").write_bytes(b"X" + (tmp_path / "signed.bin").read_bytes()[1:])
    broken = subprocess.run([*verify, "-CAfile", "ca.pem", "-purpose", "any", "-out", "/dev/null"], cwd=tmp_path)
    assert broken.returncode != 0


def test_verify_reports_signers_integrity_and_trust() -> None:
    async def scenario(client: BsreClient, _: str) -> None:
        first = await client.sign(_sign_request(KEPALA), _ctx())
        second = await client.sign(_sign_request(SEKRETARIS, document=first.document), _ctx())
        result = await client.verify(DocumentToVerify(document=second.document), _ctx())
        assert (result.signed, result.intact, result.trusted, result.signature_count) == (True, True, True, 2)
        assert [s.signer_name for s in result.signatures] == ["SANDBOX KEPALA DINAS SATU", "SANDBOX SEKRETARIS DUA"]
        assert all(s.timestamped and s.certified and s.signed_at is not None for s in result.signatures)
        assert result.signatures[1].signed_at == second.signed_at
        assert result.summary == "DOCUMENT VALID !!!"
        unsigned = await client.verify(DocumentToVerify(document=sandbox.sample_document()), _ctx())
        assert (unsigned.signed, unsigned.intact, unsigned.signature_count, unsigned.signatures) == (
            False,
            False,
            0,
            [],
        )

    _run(scenario)


def test_verify_of_a_tampered_or_foreign_signature_is_not_intact_or_not_trusted() -> None:
    async def scenario(client: BsreClient, _: str) -> None:
        pdf = base64.b64decode((await client.sign(_sign_request(), _ctx())).document)
        tampered = base64.b64encode(pdf.replace(b"Nomor 503/0001", b"Nomor 503/9999")).decode()
        result = await client.verify(DocumentToVerify(document=tampered), _ctx())
        assert (result.signed, result.intact, result.summary) == (True, False, "DOCUMENT NOT VALID !!!")
        async with _served(SandboxPki()) as (other, _url):  # another sandbox, another CA
            foreign = await other.verify(DocumentToVerify(document=base64.b64encode(pdf).decode()), _ctx())
        assert (foreign.intact, foreign.trusted) == (True, False)

    _run(scenario)


def test_a_wrong_passphrase_is_forbidden_and_never_echoed() -> None:
    async def scenario(client: BsreClient, _: str) -> None:
        error = await _refused(client.sign(_sign_request(passphrase=WRONG), _ctx()))
        assert error.code is ErrorCode.FORBIDDEN and not error.error.retryable
        assert WRONG not in error.error.model_dump_json() and "passphrase" in error.error.message

    _run(scenario)


def test_wrong_passphrases_in_a_row_lock_the_signer_and_the_status_says_so() -> None:
    async def scenario(client: BsreClient, _: str) -> None:
        for _attempt in range(sandbox.LOCK_AFTER):
            assert (await _refused(client.sign(_sign_request(ANALIS, WRONG), _ctx()))).code is ErrorCode.FORBIDDEN
        locked = await _refused(client.sign(_sign_request(ANALIS), _ctx()))  # the right one, too late
        assert locked.code is ErrorCode.FORBIDDEN and "locked" in locked.error.message
        status = await client.signer_status(SignerStatusQuery(nik=ANALIS), _ctx())
        assert (status.state, status.can_sign) == (SignerState.SUSPENDED, False)

    _run(scenario)


def test_a_right_passphrase_starts_the_count_of_wrong_ones_again() -> None:
    async def scenario(client: BsreClient, _: str) -> None:
        for _round in range(2):
            for _attempt in range(sandbox.LOCK_AFTER - 1):
                await _refused(client.sign(_sign_request(SEKRETARIS, WRONG), _ctx()))
            await client.sign(_sign_request(SEKRETARIS), _ctx())

    _run(scenario)


def test_unknown_and_inactive_signers_are_refused() -> None:
    async def scenario(client: BsreClient, _: str) -> None:
        unknown = await _refused(client.sign(_sign_request(sandbox.UNREGISTERED_NIK, passphrase="x"), _ctx()))
        assert unknown.code is ErrorCode.NOT_FOUND and sandbox.UNREGISTERED_NIK not in unknown.error.message
        for nik in (EXPIRED, REVOKED, PENDING):
            inactive = await _refused(client.sign(_sign_request(nik), _ctx()))
            assert inactive.code is ErrorCode.FORBIDDEN and "not active" in inactive.error.message

    _run(scenario)


def test_signer_status_maps_every_state() -> None:
    expected = {
        KEPALA: SignerState.REGISTERED, EXPIRED: SignerState.CERTIFICATE_EXPIRED,
        REVOKED: SignerState.CERTIFICATE_REVOKED, PENDING: SignerState.PENDING,
        sandbox.UNREGISTERED_NIK: SignerState.NOT_REGISTERED,
    }  # fmt: skip

    async def scenario(client: BsreClient, _: str) -> None:
        for nik, state in expected.items():
            status = await client.signer_status(SignerStatusQuery(nik=nik), _ctx())
            assert (status.nik, status.state, status.can_sign) == (nik, state, state is SignerState.REGISTERED)

    _run(scenario)


def test_a_file_that_is_not_a_readable_pdf_is_invalid_input() -> None:
    broken = base64.b64encode(b"%PDF-1.7\nnot really a PDF").decode()

    async def scenario(client: BsreClient, _: str) -> None:
        assert (await _refused(client.sign(_sign_request(document=broken), _ctx()))).code is ErrorCode.INVALID_INPUT
        assert (
            await _refused(client.verify(DocumentToVerify(document=broken), _ctx()))
        ).code is ErrorCode.INVALID_INPUT

    _run(scenario)


def test_a_wrong_client_account_is_an_agency_error_for_an_operator() -> None:
    async def scenario(client: BsreClient, _: str) -> None:
        error = await _refused(client.signer_status(SignerStatusQuery(nik=KEPALA), _ctx()))
        assert error.code is ErrorCode.AGENCY_ERROR and "username/password" in error.error.message
        assert (await client.health()).status.value == "down"

    _run(scenario, password="not-the-sandbox-password")


def test_the_sandbox_refuses_what_bsre_refuses_on_the_wire() -> None:
    async def scenario(_: BsreClient, url: str) -> None:
        auth = (sandbox.SANDBOX_USERNAME, sandbox.SANDBOX_PASSWORD)
        pdf = base64.b64decode(sandbox.sample_document())
        async with httpx.AsyncClient(base_url=url, auth=auth) as http:
            missing = await http.post("/api/sign/pdf", data={"nik": KEPALA, "tampilan": "invisible"})
            assert missing.status_code == 400 and missing.json()["error"] == "Parameter passphrase wajib diisi"
            fields = {"nik": KEPALA, "passphrase": PASSPHRASES[KEPALA], "tampilan": "visible"}
            bare = await http.post("/api/sign/pdf", data=fields, files={"file": ("a.pdf", pdf, "application/pdf")})
            assert bare.status_code == 400 and "linkQR" in bare.json()["error"]
            fields |= {"linkQR": "https://verifikasi.example/sandbox"}
            drawn = await http.post("/api/sign/pdf", data=fields, files={"file": ("a.pdf", pdf, "application/pdf")})
            assert drawn.status_code == 200 and drawn.headers["content-type"] == "application/pdf"
            assert re.fullmatch(r"[0-9a-f]{32}", drawn.headers["id_dokumen"])
            anonymous = await http.get(f"/api/user/status/{KEPALA}", auth=("someone", "else"))
            assert anonymous.status_code == 401

    _run(scenario)
