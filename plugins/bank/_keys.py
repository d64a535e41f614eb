"""Sandbox key material: two RSA-2048 key pairs per sandbox bank, made once per process, never committed.

The *hub's* pair stands for the key the hub operator generates and registers with the bank (the
sandbox verifies token requests with its public half). The *bank's* pair stands for the key the bank
signs payment notifications with (the plugin's settings get its public half). Each sandbox bank (``bank`` for
Bank Jateng, ``bank_contoh`` for the second) has pairs of its own, as two real banks would.
"""

from __future__ import annotations

import functools

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["bank_key", "hub_key", "private_pem", "public_pem"]


def hub_key(bank: str = "bank") -> rsa.RSAPrivateKey:
    """The hub's key registered with sandbox ``bank``."""
    return _key("hub", bank)


def bank_key(bank: str = "bank") -> rsa.RSAPrivateKey:
    """Sandbox ``bank``'s own signing key."""
    return _key("bank", bank)


@functools.cache  # one cache entry per (whose, bank), however the caller spells the default
def _key(whose: str, bank: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
