"""The ``water`` contract package: a regional water utility's (PDAM's) bills, by customer number.

The core contract has no water billing, so this distribution brings its own operation, its own personal-data
category (the customer number, which names the household the connection is registered to) and the purpose of
access that covers it. The hub checks the package like the core before serving it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Self

from contracts import (
    Contract,
    ContractPackage,
    Mask,
    Operation,
    Personal,
    PersonalCategory,
    PersonalData,
    PurposeDeclaration,
    Rupiah,
)
from pydantic import BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

__all__ = [
    "CONTRACT",
    "PACKAGE_VERSION",
    "WATER_CUSTOMER",
    "WaterBill",
    "WaterBillQuery",
    "WaterBills",
]

#: The package's own version (semver): its major part names the subject, ``mpp.v1.water.bill``.
PACKAGE_VERSION = "1.0.0"

#: A customer number names the connection, and through it the household or person it is registered to.
WATER_CUSTOMER = PersonalCategory(
    code="water_customer",
    description="A water utility's customer number (nomor sambungan / nomor pelanggan PDAM): it names the "
    "person or household the connection is registered to",
    identifies_subject=True,
)

_MIN_DIGITS, _MAX_DIGITS = 6, 12


def _check_customer_number(value: object) -> str:
    # A number would already have lost its leading zeros, so only strings are accepted.
    if not isinstance(value, str):
        raise PydanticCustomError("customer_number_type", "customer_number must be a string of digits, not a number")
    text = value.strip()
    if not _MIN_DIGITS <= len(text) <= _MAX_DIGITS or not text.isascii() or not text.isdigit():
        raise PydanticCustomError(
            "customer_number_format",
            "customer_number must be 6 to 12 digits, as printed on the water bill or the meter; got {got} characters"
            + ("" if text.isdigit() else " including non-digits"),
            {"got": len(text)},
        )
    return text


#: The PDAM's customer number (nomor sambungan): 6-12 digits, always a string.
CustomerNumber = Annotated[
    str,
    BeforeValidator(_check_customer_number),
    Field(
        examples=["0100012345"],
        description="The PDAM customer number (nomor sambungan / ID pelanggan) printed on the water bill: 6-12 "
        "digits; personal data.",
        json_schema_extra={"pattern": "^[0-9]{6,12}$", "minLength": _MIN_DIGITS, "maxLength": _MAX_DIGITS},
    ),
    Personal(WATER_CUSTOMER, Mask(keep_start=4, keep_end=2)),
]
CustomerName = Annotated[
    str,
    Field(min_length=1, max_length=200, description="The name the connection is registered to; personal data."),
    Personal(PersonalData.NAME, Mask(initials=True)),
]
ServiceAddress = Annotated[
    str,
    Field(min_length=1, max_length=300, description="Where the connection is, as the PDAM writes it; personal data."),
    Personal(PersonalData.ADDRESS),
]
BillingPeriod = Annotated[
    str,
    Field(
        pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$",
        examples=["2026-10"],
        description="The month the bill (rekening) is for, as YYYY-MM.",
    ),
]


def _inconsistent(message: str) -> PydanticCustomError:
    return PydanticCustomError("inconsistent_amounts", message)


class WaterBillQuery(Contract):
    """The open water bills of one customer number."""

    customer_number: CustomerNumber


class WaterBill(Contract):
    """One unpaid monthly bill (rekening air): the meter readings, the usage and what is owed for it."""

    period: BillingPeriod
    meter_start: int = Field(ge=0, description="Meter reading at the start of the period (stand awal), in m3.")
    meter_end: int = Field(ge=0, description="Meter reading at the end of the period (stand akhir), in m3.")
    usage_m3: int = Field(ge=0, description="Water used in the period (pemakaian), in m3.")
    amount: Rupiah = Field(
        description="The period's bill before any penalty: water by tariff block, fixed charges and tax."
    )
    penalty: Rupiah = Field(description="The late-payment penalty (denda) charged on this bill so far; 0 if none.")
    total: Rupiah = Field(description="What settles this bill now: amount plus penalty.")
    due_date: dt.date | None = Field(
        default=None, description="The last day to pay without a penalty, where the utility states one."
    )

    @model_validator(mode="after")
    def _adds_up(self) -> Self:
        if self.total != self.amount + self.penalty:
            raise _inconsistent("total must be amount plus penalty")
        return self


class WaterBills(Contract):
    """A customer's open water bills, oldest first; a paid-up customer has none and owes 0."""

    customer_number: CustomerNumber
    customer_name: CustomerName
    service_address: ServiceAddress
    tariff_class: str | None = Field(
        default=None,
        max_length=20,
        examples=["R2"],
        description="The tariff class (golongan tarif) in the utility's own code, e.g. R2 for a household.",
    )
    bills: list[WaterBill] = Field(description="The unpaid bills, oldest period first; empty when paid up.")
    total_due: Rupiah = Field(description="What settles every open bill now: the sum of their totals.")

    @model_validator(mode="after")
    def _adds_up(self) -> Self:
        if self.total_due != sum((bill.total for bill in self.bills), Decimal(0)):
            raise _inconsistent("total_due must be the sum of the bills' totals")
        return self


CONTRACT = ContractPackage(
    namespace="water",
    version=PACKAGE_VERSION,
    summary="A regional water utility's (PDAM's) bills, by customer number.",
    operations=(
        Operation(
            name="water.bill",
            summary="The open water bills of a PDAM customer number: per month the meter readings, the usage in "
            "m3, the amount, the penalty and the due date; and whom and where the connection is registered to.",
            input=WaterBillQuery,
            output=WaterBills,
            idempotent=True,
            personal_data=True,
            version=PACKAGE_VERSION,
        ),
    ),
    categories=(WATER_CUSTOMER,),
    purposes={
        "layanan-air-minum": PurposeDeclaration(
            description="Pelayanan pelanggan air minum di MPP: informasi tagihan rekening air atas permintaan "
            "pelanggan",
            legal_basis="PP 122/2015 tentang Sistem Penyediaan Air Minum (hak pelanggan atas informasi pelayanan; "
            "pasal: guess); UU 27/2022 tentang PDP, Pasal 20 ayat (2) huruf b (perjanjian dengan pelanggan)",
            operations=("water.*",),
        ),
    },
)
