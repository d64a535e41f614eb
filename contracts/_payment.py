"""Bills paid through a bank's virtual account (SNAP BI), and the payment event."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from contracts._base import Contract
from contracts._catalogue import ProviderName
from contracts._identity import FullName
from contracts._values import PositiveRupiah, Rupiah, ThisCenturyDateTime, VirtualAccountNumber, check_plausible

__all__ = ["Bill", "BillQuery", "BillRequest", "BillStatus", "PaymentPaid"]


class BillStatus(StrEnum):
    """Where a virtual-account bill stands."""

    UNPAID = "unpaid"
    PAID = "paid"
    EXPIRED = "expired"


class BillRequest(Contract):
    """A closed-amount virtual-account bill. ``reference`` is the biller's own id: asking again is harmless."""

    reference: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9\-_.]+$",
        examples=["MPP-7K3Q9X"],
        description="The biller's own id of the bill: letters, digits and - _ . (the same one returns the same bill).",
    )
    amount: PositiveRupiah = Field(description="The exact amount the citizen pays (a closed bill), more than 0.")
    customer_name: FullName = Field(description="Who pays, as the bank shows it at payment; personal data.")
    description: str = Field(
        min_length=1, max_length=64, examples=["PKB G 1234 AB 2026"], description="What the bill is for."
    )
    expires_at: ThisCenturyDateTime = Field(
        description="When the bill stops being payable, with a time zone, in 2000-2099; the bank refuses a time "
        "already past (invalid_input naming the bank)."
    )
    provider: ProviderName | None = Field(
        default=None,
        description="The bank to bill at (a provider of this operation, as GET /v1/services lists them); unset: the "
        "consumer's default, else the catalogue's. One the hub has not is invalid_input naming those it has.",
    )

    @model_validator(mode="after")
    def _aware_expiry(self) -> Self:
        if self.expires_at.tzinfo is None:
            raise PydanticCustomError("naive_time", "expires_at needs a time zone, e.g. 2026-11-30T23:59:00+07:00")
        check_plausible(self.expires_at.date(), "expires_at")
        return self


class BillQuery(Contract):
    """A look-up of one bill by its virtual account number."""

    virtual_account: VirtualAccountNumber = Field(description="The bill's virtual account number, personal data.")
    provider: ProviderName | None = Field(
        default=None,
        description="The bank to ask, the one that issued the bill (its `bank`); unset: the consumer's default, else "
        "the catalogue's. One the hub has not is invalid_input naming those it has.",
    )


class Bill(Contract):
    """A virtual-account bill at the bank, and whether it has been paid."""

    reference: str = Field(description="The biller's own id of the bill (BillRequest.reference).")
    virtual_account: VirtualAccountNumber
    amount: Rupiah = Field(description="The amount billed.")
    customer_name: FullName
    description: str = Field(description="What the bill is for.")
    expires_at: dt.datetime = Field(description="When the bill stops being payable.")
    status: BillStatus
    paid_amount: Rupiah | None = Field(default=None, description="The amount paid, once paid.")
    paid_at: dt.datetime | None = Field(default=None, description="When it was paid, once paid.")
    payment_reference: str | None = Field(default=None, description="The bank's reference of the payment.")
    bank: str = Field(description="The provider (bank) that issued the bill: name it in bill_status's `provider`.")


class PaymentPaid(Contract):
    """Event on ``mpp.events.payment.paid``: a bill was paid. Published exactly once per payment."""

    bank: str = Field(
        description="The provider (bank) that was paid, as the catalogue names it: the bank plugin's code `bank` for "
        "its own configuration, else the name its provider was configured under (`bank_contoh`)."
    )
    reference: str = Field(description="The biller's bill reference (BillRequest.reference).")
    virtual_account: VirtualAccountNumber
    amount: Rupiah = Field(description="The amount paid.")
    paid_at: dt.datetime = Field(description="When it was paid.")
    payment_reference: str = Field(description="The bank's unique reference of this payment.")
