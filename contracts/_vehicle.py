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
from contracts._values import NIK, PlateNumber, Rupiah, ThisCenturyDateTime, check_plausible

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
    """The kind of vehicle, as the vehicle tax distinguishes them."""

    MOTORCYCLE = "motorcycle"
    CAR = "car"
    PICKUP = "pickup"
    TRUCK = "truck"
    BUS = "bus"


class TaxStatus(StrEnum):
    """Where a vehicle stands with its annual tax."""

    PAID = "paid"  # paid up to the current due date
    DUE = "due"  # the due date is near or today
    OVERDUE = "overdue"  # past the due date: penalties run


class Vehicle(Contract):
    """A registered vehicle as Samsat knows it, with where its annual tax stands."""

    plate: PlateNumber
    brand: str = Field(examples=["HONDA"], description="Make, as registered.")
    model: str = Field(examples=["VARIO 125"], description="Model, as registered.")
    category: VehicleCategory
    colour: str = Field(examples=["HITAM"], description="Colour, as registered (in Indonesian).")
    year_made: int = Field(ge=1900, le=2100, description="Year of manufacture.")
    tax_due_date: dt.date = Field(description="The date the annual tax falls due (tanggal jatuh tempo).")
    tax_status: TaxStatus


class VehiclesByOwner(Contract):
    """A look-up of the vehicles registered to one owner, by the owner's NIK."""

    nik: NIK = Field(description="The owner's NIK, personal data.")


class VehicleList(Contract):
    """The vehicles registered to one owner (none is an empty list, not an error)."""

    owner_nik: NIK
    vehicles: list[Vehicle] = Field(description="Each vehicle registered to the owner.")


class PlateQuery(Contract):
    """A look-up of one vehicle by its plate."""

    plate: PlateNumber


class VehicleTax(Contract):
    """What is owed for one vehicle now: each component in rupiah, and the total."""

    vehicle: Vehicle
    owner_nik: NIK
    owner_name: FullName
    period_start: dt.date = Field(description="First day of the tax period being paid.")
    period_end: dt.date = Field(description="Last day of that period: the new due date once paid.")
    years_in_arrears: int = Field(ge=0, description="Whole years of tax unpaid before this period.")
    vehicle_tax: Rupiah = Field(description="PKB principal (provincial share).")
    vehicle_tax_penalty: Rupiah = Field(description="Late-payment penalty on the PKB principal.")
    vehicle_tax_surcharge: Rupiah = Field(description="PKB opsen: the regency/city share, since 2025.")
    vehicle_tax_surcharge_penalty: Rupiah = Field(description="Late-payment penalty on the opsen.")
    swdkllj: Rupiah = Field(description="SWDKLLJ road-accident contribution (Jasa Raharja).")
    swdkllj_penalty: Rupiah = Field(description="Late-payment penalty on the SWDKLLJ.")
    admin_fees: Rupiah = Field(description="STNK and plate administration fees (PNBP), when due.")
    total: Rupiah = Field(description="The sum of every component above: what the citizen pays.")
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
    bill_code: str = Field(
        min_length=1, max_length=64, description="Samsat's payment code of the bill paid (VehicleTax.bill_code)."
    )
    amount: Rupiah = Field(description="The amount paid, in rupiah (Samsat's bills are whole rupiah).")
    payment_reference: str = Field(min_length=1, max_length=64, description="The bank's unique payment reference.")
    paid_at: ThisCenturyDateTime = Field(description="When the citizen paid, with a time zone, in 2000-2099.")

    @model_validator(mode="after")
    def _aware_time(self) -> Self:
        if self.paid_at.tzinfo is None:
            raise PydanticCustomError("naive_time", "paid_at needs a time zone, e.g. 2026-11-30T10:15:00+07:00")
        check_plausible(self.paid_at.date(), "paid_at")
        return self


class TaxPaymentReceipt(Contract):
    """Samsat's receipt for a vehicle-tax payment it has posted."""

    plate: PlateNumber
    payment_reference: str = Field(description="The bank's payment reference, as posted.")
    receipt_number: str = Field(description="Samsat's proof of payment (NTPD).")
    amount: Rupiah = Field(description="The amount posted.")
    new_due_date: dt.date = Field(description="The vehicle's next tax due date, now that this is paid.")
    recorded_at: dt.datetime = Field(description="When Samsat posted the payment.")
    already_recorded: bool = Field(
        description="True when this payment reference had been posted before: nothing changed."
    )
