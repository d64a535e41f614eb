"""The sandbox's own test PKI, made with ``cryptography`` when the sandbox starts: obviously fake, never reused.

A root CA named as a sandbox, a timestamp authority under it, and one signing certificate per synthetic
signer (valid, expired or revoked as the signer's record says). Nothing is written to disk; each process
makes its own, so a PDF the sandbox signed verifies only against that sandbox's CA.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA_NAME", "Credential", "SandboxPki", "sandbox_pki"]

#: The CA's common name says what it is, so a PDF signed here can never pass for a real BSrE signature.
CA_NAME = "SANDBOX BSrE Test CA - NOT A REAL CA"
_ORG = "MPP Hub sandbox (synthetic, not BSSN)"
_YEAR = dt.timedelta(days=365)
#: Signers and the CA use P-256 (fast to make); the timestamp authority RSA, the only kind pyHanko's
#: in-process timestamper signs with.
_Key = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class Credential:
    """A certificate and its private key, in the asn1crypto form pyHanko signs with."""

    certificate: asn1_x509.Certificate
    key: asn1_keys.PrivateKeyInfo


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _asn1(cert: x509.Certificate, key: _Key) -> Credential:
    der_key = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return Credential(
        asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        asn1_keys.PrivateKeyInfo.load(der_key),
    )


@dataclass(frozen=True)
class _Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def issue(
        self,
        common: str,
        not_before: dt.datetime,
        not_after: dt.datetime,
        usage: x509.ExtendedKeyUsage | None = None,
        key: _Key | None = None,
    ) -> tuple[x509.Certificate, _Key]:
        key = key or ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(_usage(sign=True), critical=True)
        )
        if usage is not None:  # a timestamp authority's certificate must say so, critically (RFC 3161)
            builder = builder.add_extension(usage, critical=True)
        return builder.sign(self.key, hashes.SHA256()), key


def _usage(*, sign: bool) -> x509.KeyUsage:
    """A signer's (signatures, non-repudiation) or a CA's (certificates and CRLs) key usage."""
    return x509.KeyUsage(
        digital_signature=sign, content_commitment=sign, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=not sign, crl_sign=not sign, encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _root(now: dt.datetime) -> _Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(CA_NAME))
        .issuer_name(_name(CA_NAME))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _YEAR)
        .not_valid_after(now + 10 * _YEAR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_usage(sign=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return _Issuer(cert, key)


class SandboxPki:
    """The CA, the timestamp authority and a signing credential per signer name, made on first use."""

    def __init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self._now = now
        self._root = _root(now)
        self.ca = _asn1(self._root.cert, self._root.key).certificate
        tsa_usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
        tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.tsa = _asn1(
            *self._root.issue("SANDBOX Timestamp Authority", now - _YEAR, now + 5 * _YEAR, tsa_usage, tsa_key)
        )

    @property
    def ca_pem(self) -> bytes:
        return self._root.cert.public_bytes(serialization.Encoding.PEM)

    @functools.cache  # noqa: B019 - one PKI per sandbox process, kept for its lifetime on purpose
    def signer(self, common: str, *, expired: bool = False) -> Credential:
        """The signing credential of ``common`` (a valid one, or one that expired a month ago)."""
        if expired:
            start, end = self._now - 2 * _YEAR, self._now - dt.timedelta(days=30)
        else:
            start, end = self._now - dt.timedelta(days=1), self._now + 2 * _YEAR
        return _asn1(*self._root.issue(common, start, end))


@functools.cache
def sandbox_pki() -> SandboxPki:
    """This process's sandbox PKI: made once (a few milliseconds of EC key generation), at the first start."""
    return SandboxPki()
