"""A citizen's access log: who read their personal data, when, why, on what legal basis, each read with a
receipt that proves it stands in the hub's witnessed audit log (UU 27/2022 gives the data subject the right
to know who processed their data)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field

from contracts._base import Contract

__all__ = ["AccessLog", "AccessLogEntry", "AccessReceipt"]


class AccessReceipt(Contract):
    """One audit record with the RFC 6962 inclusion proof to a signed, witness-cosigned checkpoint.

    Checked offline with only the log's and the witness's public keys (`mpp-hub audit check-receipt`).
    """

    # Not stripped: every byte of the record and the checkpoint is hashed or signed (the note ends in a newline).
    model_config = ConfigDict(str_strip_whitespace=False)

    format: Literal["mpp-hub-audit-receipt/v1"] = "mpp-hub-audit-receipt/v1"
    record: str = Field(description="The audit record as the log hashed it (canonical JSON).")
    index: int = Field(ge=0, description="Its leaf index in the log.")
    checkpoint: str = Field(description="A checkpoint covering it: the log's signed note, with cosignatures.")
    proof: list[str] = Field(description="The inclusion proof, base64 hashes from the leaf up to the root.")


class AccessLogEntry(Contract):
    """One read of the citizen's data (or one refused attempt), as the audit log recorded it."""

    time: datetime = Field(description="When the data was read.")
    consumer: str | None = Field(description="The system that asked (a desk application, the portal, a kiosk).")
    operation: str = Field(description="The operation that read it, e.g. identity.lookup.")
    agency: str | None = Field(default=None, description="The agency the data came from.")
    purpose: str | None = Field(default=None, description="The purpose of access the caller stated.")
    legal_basis: str | None = Field(default=None, description="The legal basis of that purpose.")
    channel: str | None = Field(default=None, description="Where the citizen was served: desk, portal, kiosk, mobile.")
    officer: str | None = Field(default=None, description="The officer who served the citizen, if named.")
    fields: list[str] | None = Field(default=None, description="The fields released, where a right limits them.")
    outcome: str = Field(description='"ok", or the contract error code of a refused attempt.')
    receipt: AccessReceipt | None = Field(
        description="The proof that this entry is in the witnessed log; null until the next checkpoint covers it "
        "(a few seconds)."
    )


class AccessLog(Contract):
    """A citizen's access log: every read of their personal data, oldest first, each with its proof."""

    subject_masked: str = Field(description="Whose log this is: the NIK, masked.")
    entries: list[AccessLogEntry] = Field(description="Every read, oldest first.")
    checkpoint_size: int | None = Field(description="Records the latest signed checkpoint covers.")
