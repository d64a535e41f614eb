"""Vehicles and the annual vehicle tax (PKB, with the SWDKLLJ road-accident contribution), as Samsat runs them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from contracts._base import Contract
from contracts._identity import FullName
from contracts._values import NIK, PlateNumber, Rupiah, check_plausible

__all__ = [
    "PlateQuery",
    "TaxPayment",
    "TaxPaymentReceipt",
    "TaxStatus",
    "Vehicle",
    "VehicleCategory",
    "VehicleList",
    "VehicleTax",
    "VehiclesByOwner",
]


class VehicleCategory(StrEnum):
    MOTORCYCLE = "motorcycle"
    CAR = "car"
    PICKUP = "pickup"
    TRUCK = "truck"
    BUS = "bus"


class TaxStatus(StrEnum):
    PAID = "paid"  # paid up to the current due date
    DUE = "due"  # the due date is near or today
    OVERDUE = "overdue"  # past the due date: penalties run


class Vehicle(Contract):
    plate: PlateNumber
    brand: str = Field(examples=["HONDA"])
    model: str = Field(examples=["VARIO 125"])
    category: VehicleCategory
    colour: str = Field(examples=["HITAM"])
    year_made: int = Field(ge=1900, le=2100)
    tax_due_date: dt.date = Field(description="The date the annual tax falls due (tanggal jatuh tempo).")
    tax_status: TaxStatus


class VehiclesByOwner(Contract):
    nik: NIK


class VehicleList(Contract):
    owner_nik: NIK
    vehicles: list[Vehicle]


class PlateQuery(Contract):
    plate: PlateNumber


class VehicleTax(Contract):
    """What is owed for one vehicle now: each component in rupiah, and the total."""

    vehicle: Vehicle
    owner_nik: NIK
    owner_name: FullName
    period_start: dt.date = Field(description="First day of the tax period being paid.")
    period_end: dt.date = Field(description="Last day of that period: the new due date once paid.")
    years_in_arrears: int = Field(ge=0)
    vehicle_tax: Rupiah = Field(description="PKB principal (provincial share).")
    vehicle_tax_penalty: Rupiah
    vehicle_tax_surcharge: Rupiah = Field(description="PKB opsen: the regency/city share, since 2025.")
    vehicle_tax_surcharge_penalty: Rupiah
    swdkllj: Rupiah = Field(description="SWDKLLJ road-accident contribution (Jasa Raharja).")
    swdkllj_penalty: Rupiah
    admin_fees: Rupiah = Field(description="STNK and plate administration fees (PNBP), when due.")
    total: Rupiah
    bill_code: str = Field(description="Samsat's payment code for this bill (kode bayar).")

    @model_validator(mode="after")
    def _total_is_the_sum(self) -> Self:
        parts = (
            self.vehicle_tax, self.vehicle_tax_penalty, self.vehicle_tax_surcharge,
            self.vehicle_tax_surcharge_penalty, self.swdkllj, self.swdkllj_penalty, self.admin_fees,
        )  # fmt: skip
        if sum(parts, Decimal(0)) != self.total:
            raise PydanticCustomError("total", "total is not the sum of its components")
        return self


class TaxPayment(Contract):
    """A payment to post to Samsat; the payment reference makes posting it again harmless."""

    plate: PlateNumber
    bill_code: str = Field(min_length=1, max_length=64)
    amount: Rupiah
    payment_reference: str = Field(min_length=1, max_length=64, description="The bank's unique payment reference.")
    paid_at: dt.datetime = Field(description="When the citizen paid, with a time zone.")

    @model_validator(mode="after")
    def _aware_time(self) -> Self:
        if self.paid_at.tzinfo is None:
            raise PydanticCustomError("naive_time", "paid_at needs a time zone, e.g. 2026-11-30T10:15:00+07:00")
        check_plausible(self.paid_at.date(), "paid_at")
        return self


class TaxPaymentReceipt(Contract):
    plate: PlateNumber
    payment_reference: str
    receipt_number: str = Field(description="Samsat's proof of payment (NTPD).")
    amount: Rupiah
    new_due_date: dt.date
    recorded_at: dt.datetime
    already_recorded: bool = Field(
        description="True when this payment reference had been posted before: nothing changed."
    )
