"""A citizen's access log, as the portal API answers it, from the audit records about them."""

from __future__ import annotations

from collections.abc import Sequence

from contracts import AccessLog, AccessLogEntry, Mask
from hub._audit import AuditRecord, settled
from hub._receipts import Receipt

__all__ = ["access_log"]

_NIK_MASK = Mask(keep_start=4, keep_end=2)


def _entry(record: AuditRecord, receipt: Receipt | None) -> AccessLogEntry:
    return AccessLogEntry(
        time=record.time, consumer=record.consumer, operation=record.operation, agency=record.agency,
        purpose=record.purpose, legal_basis=record.legal_basis, channel=record.channel, officer=record.officer,
        fields=list(record.fields) if record.fields is not None else None, outcome=record.outcome, receipt=receipt,
    )  # fmt: skip


def access_log(nik: str, found: Sequence[tuple[AuditRecord, Receipt | None]], checkpoint_size: int | None) -> AccessLog:
    """The answer of ``GET /v1/citizens/{nik}/access-log``: every call as it ended (:func:`settled`), with the
    receipt of its last record where a checkpoint covers it."""
    receipts = {record.index: receipt for record, receipt in found}
    return AccessLog(
        subject_masked=_NIK_MASK.apply(nik),
        entries=[_entry(record, receipts[record.index]) for record in settled(record for record, _ in found)],
        checkpoint_size=checkpoint_size,
    )
