"""The document an application ends with (a signed permit, say), kept for its citizen to download.

A document lives in the applications bucket (``mpp_applications``, which every worker and edge may already read
and write) under ``doc.<tracking number>``, beside its application's record:

- **once**: it is created, never replaced (a KV create), so an application never holds two different documents,
  whoever produced the second;
- **sealed**: ChaCha20-Poly1305 under a key derived from the audit key and bound to the tracking number, for it
  names its holder; what it holds is what the document itself must show, and nothing of the process's state;
- **small**: at most :data:`MAX_DOCUMENT_BYTES`, so that the sealed record, in base64 within JSON, fits one NATS
  message (1 MiB unless a mall's server says otherwise);
- **for as long as its application's record**: the bucket has no expiry, and a closed application keeps its
  birth-date hash, which the citizen's download checks.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from pydantic import BaseModel, ConfigDict, Field

from hub._applications import ApplicationStore, BesideApplications, SealError

__all__ = ["MAX_DOCUMENT_BYTES", "Document", "DocumentStore"]

#: The largest document kept: base64 (4/3) in a JSON record, sealed, must stay under NATS's 1 MiB message.
MAX_DOCUMENT_BYTES = 512 * 1024
_NONCE = 12
#: What the documents' key is derived for (changing it would leave every kept document unreadable).
_SEAL_PURPOSE = "application document seal"


class Document(BaseModel):
    """A file an application ends with, as its citizen downloads it."""

    # Bytes travel as base64 in JSON (pydantic's default would be UTF-8, which a PDF is not).
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_bytes="base64", val_json_bytes="base64")

    filename: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", description="What the download is saved as.")
    media_type: str = Field(pattern=r"^[a-z]+/[a-z0-9.+-]+$", examples=["application/pdf"])
    content: bytes = Field(repr=False, max_length=MAX_DOCUMENT_BYTES)


def _key(tracking_no: str) -> str:
    return "doc." + tracking_no.replace("-", "")


class DocumentStore:
    """Each application's one document, in the applications' bucket and under their audit key."""

    def __init__(self, place: BesideApplications) -> None:
        self._kv = place.kv
        self._aead = ChaCha20Poly1305(place.seal_key)

    @classmethod
    def beside(cls, applications: ApplicationStore) -> DocumentStore:
        """The documents of ``applications``: their bucket, and a seal of their own from the same audit key."""
        return cls(applications.beside(_SEAL_PURPOSE))

    async def keep(self, tracking_no: str, document: Document) -> bool:
        """Keep ``document`` as the application's; False (and nothing written) when it has one already."""
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, document.model_dump_json().encode(), tracking_no.encode())
        try:
            await self._kv.create(_key(tracking_no), sealed)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def get(self, tracking_no: str) -> Document | None:
        """The application's document, or None while it has none."""
        try:
            entry = await self._kv.get(_key(tracking_no))
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        try:
            plain = self._aead.decrypt(entry.value[:_NONCE], entry.value[_NONCE:], tracking_no.encode())
        except InvalidTag:
            raise SealError(
                f"the document of application {tracking_no} was sealed under another key: every hub worker and "
                "edge must be given the same audit key (MPP_HUB_AUDIT_KEY)"
            ) from None
        return Document.model_validate_json(plain)
