"""Access receipts: one audit record with the proof that it is in the log a witness has seen.

A receipt holds the record exactly as the log hashed it, its leaf index, a cosigned checkpoint, and the
RFC 6962 inclusion proof from the leaf to that checkpoint's root. Anyone with the log's public key (and the
witness's) checks it offline: no hub, no NATS, no trust in whoever handed it over.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from contracts import AccessReceipt
from hub._audit import AuditRecord
from hub._merkle import MerkleTree, ProofError, leaf_hash, verify_inclusion
from hub._note import Checkpoint, CosignatureVerifier, NoteError, NoteVerifier, open_note

__all__ = ["RECEIPT_FORMAT", "Receipt", "ReceiptCheck", "ReceiptError", "check_receipt", "make_receipt"]

RECEIPT_FORMAT = "mpp-hub-audit-receipt/v1"


class ReceiptError(ValueError):
    """The receipt does not prove what it claims; the message says which part failed."""


#: A receipt is the contract's :class:`~contracts.AccessReceipt` (the portal hands it to the citizen).
Receipt = AccessReceipt


@dataclass(frozen=True)
class ReceiptCheck:
    """What a receipt that checks out proves."""

    record: AuditRecord
    checkpoint: Checkpoint
    cosigned_by: tuple[str, ...]


def make_receipt(leaf: bytes, index: int, tree: MerkleTree, note: str, size: int) -> Receipt:
    """The receipt of leaf ``index`` (its ``leaf`` data) against the checkpoint ``note`` of tree ``size``."""
    proof = tree.inclusion_proof(index, size)
    return Receipt(
        record=leaf.decode(),
        index=index,
        checkpoint=note,
        proof=[base64.b64encode(node).decode() for node in proof],
    )


def _decoded(proof: Sequence[str]) -> list[bytes]:
    try:
        return [base64.b64decode(node, validate=True) for node in proof]
    except (binascii.Error, ValueError):
        raise ReceiptError("the receipt's proof is not base64") from None


def check_receipt(
    data: bytes | str, log_key: NoteVerifier, witness_keys: Sequence[CosignatureVerifier] = ()
) -> ReceiptCheck:
    """Check a receipt offline; raises :class:`ReceiptError` naming the part that does not hold."""
    try:
        receipt = Receipt.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        raise ReceiptError(f"not a receipt: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    try:
        text, names = open_note(receipt.checkpoint, [log_key, *witness_keys])
        checkpoint = Checkpoint.parse(text)
    except NoteError as exc:
        raise ReceiptError(f"the receipt's checkpoint does not verify: {exc}") from None
    if log_key.name not in names:
        raise ReceiptError(f"the receipt's checkpoint is not signed by the log key {log_key.name}")
    missing = [key.name for key in witness_keys if key.name not in names]
    if missing:
        raise ReceiptError(f"the receipt's checkpoint is not cosigned by {', '.join(missing)}")
    try:
        verify_inclusion(
            leaf_hash(receipt.record.encode()), receipt.index, checkpoint.size, _decoded(receipt.proof),
            checkpoint.root,
        )  # fmt: skip
    except ProofError as exc:
        raise ReceiptError(f"the record is not in the log at that checkpoint: {exc}") from None
    try:
        record = AuditRecord.model_validate_json(receipt.record)
    except ValidationError:
        raise ReceiptError("the receipt's record is not an audit record") from None
    if record.index != receipt.index:
        raise ReceiptError(f"the record says it is leaf {record.index}, the receipt says {receipt.index}")
    return ReceiptCheck(record, checkpoint, tuple(n for n in names if n != log_key.name))
