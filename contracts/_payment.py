"""Bills paid through a bank's virtual account (SNAP BI), and the payment event."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from contracts._base import Contract
from contracts._identity import FullName
from contracts._values import Rupiah, VirtualAccountNumber, check_plausible

__all__ = ["Bill", "BillQuery", "BillRequest", "BillStatus", "PaymentPaid"]


class BillStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    EXPIRED = "expired"


class BillRequest(Contract):
    """A closed-amount virtual-account bill. ``reference`` is the biller's own id: asking again is harmless."""

    reference: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-_.]+$", examples=["MPP-7K3Q9X"])
    amount: Rupiah
    customer_name: FullName
    description: str = Field(min_length=1, max_length=64, examples=["PKB G 1234 AB 2026"])
    expires_at: dt.datetime = Field(description="When the bill stops being payable (with a time zone).")

    @model_validator(mode="after")
    def _aware_expiry(self) -> Self:
        if self.expires_at.tzinfo is None:
            raise PydanticCustomError("naive_time", "expires_at needs a time zone, e.g. 2026-11-30T23:59:00+07:00")
        check_plausible(self.expires_at.date(), "expires_at")
        return self


class BillQuery(Contract):
    virtual_account: VirtualAccountNumber


class Bill(Contract):
    reference: str
    virtual_account: VirtualAccountNumber
    amount: Rupiah
    customer_name: FullName
    description: str
    expires_at: dt.datetime
    status: BillStatus
    paid_amount: Rupiah | None = None
    paid_at: dt.datetime | None = None
    payment_reference: str | None = Field(default=None, description="The bank's reference of the payment.")
    bank: str = Field(description="Code of the agency plugin that issued the bill.")


class PaymentPaid(Contract):
    """Event on ``mpp.events.payment.paid``: a bill was paid. Published exactly once per payment."""

    bank: str
    reference: str = Field(description="The biller's bill reference (BillRequest.reference).")
    virtual_account: VirtualAccountNumber
    amount: Rupiah
    paid_at: dt.datetime
    payment_reference: str = Field(description="The bank's unique reference of this payment.")
