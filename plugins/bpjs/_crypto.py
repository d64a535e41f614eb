"""VClaim's request signature and response encryption, shared by the plugin and its sandbox.

Signature [C]: ``X-signature = base64(HMAC-SHA256(key=secret, msg=f"{cons_id}&{timestamp}"))``.
Response [C]: JSON text -> LZ-string ``compressToEncodedURIComponent`` -> AES-256-CBC (key = SHA-256 of
``cons_id + secret + timestamp``, IV = its first 16 bytes, PKCS#7 padding [I]) -> base64.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

import lzstring
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "DecryptionError",
    "aes_cbc_decrypt",
    "aes_cbc_encrypt",
    "decrypt_response",
    "encrypt_response",
    "lz_compress",
    "lz_decompress",
    "response_key",
    "sign",
    "signature",
]

_LZ = lzstring.LZString()
_URI_SAFE = re.compile(r"^[A-Za-z0-9+\-$]+$")
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class DecryptionError(Exception):
    """A response that does not decrypt to LZ-string-compressed text under the given key."""


def sign(message: str, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()).decode()


def signature(cons_id: str, secret: str, timestamp: str) -> str:
    """The ``X-signature`` header for one request."""
    return sign(f"{cons_id}&{timestamp}", secret)


def response_key(cons_id: str, secret: str, timestamp: str) -> bytes:
    """The AES-256 key of one response: it changes with the ``X-timestamp`` the client sent."""
    return hashlib.sha256(f"{cons_id}{secret}{timestamp}".encode()).digest()


def aes_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    if not ciphertext or len(ciphertext) % 16:
        raise DecryptionError("ciphertext is not a whole number of AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise DecryptionError("bad padding (wrong key or timestamp)") from None


# The agency's lz-string (JavaScript or Java) works on UTF-16 code units, the Python port on code points,
# and it silently truncates any character above U+FFFF. Splitting such characters into surrogate pairs
# before compressing, and joining them after decompressing, makes the two agree on every text.


def _surrogate_pair(match: re.Match[str]) -> str:
    offset = ord(match.group()) - 0x10000
    return chr(0xD800 + (offset >> 10)) + chr(0xDC00 + (offset & 0x3FF))


def lz_compress(text: str) -> str:
    """lz-string's ``compressToEncodedURIComponent``."""
    return str(_LZ.compressToEncodedURIComponent(_ASTRAL.sub(_surrogate_pair, text)))


def lz_decompress(compressed: str) -> str:
    """lz-string's ``decompressFromEncodedURIComponent``; refuses what is not a compressed text."""
    if not _URI_SAFE.match(compressed):
        raise DecryptionError("not an lz-string encoded URI component")
    try:
        units = _LZ.decompressFromEncodedURIComponent(compressed)
    except Exception:  # the port checks nothing: corrupt input ends in IndexError, UnboundLocalError...
        raise DecryptionError("lz-string data is corrupt") from None
    if not isinstance(units, str) or not units:
        raise DecryptionError("lz-string data is corrupt")
    try:
        return units.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeError:
        raise DecryptionError("lz-string data holds a broken surrogate pair") from None


def encrypt_response(text: str, key: bytes) -> str:
    """What the agency puts in ``response``: base64 of the AES-encrypted, LZ-compressed text."""
    return base64.b64encode(aes_cbc_encrypt(key, key[:16], lz_compress(text).encode("ascii"))).decode("ascii")


def decrypt_response(encrypted: str, key: bytes) -> str:
    """The JSON text inside an encrypted ``response``; ``DecryptionError`` unless the key is right."""
    try:
        ciphertext = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionError("response is not base64") from None
    plaintext = aes_cbc_decrypt(key, key[:16], ciphertext)
    try:
        compressed = plaintext.decode("ascii")
    except UnicodeDecodeError:
        raise DecryptionError("decrypted bytes are not lz-string text (wrong key or timestamp)") from None
    return lz_decompress(compressed)
