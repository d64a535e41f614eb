"""Synthetic vehicles of the Tegal residents, and the Central Java tax rules the Samsat sandbox bills them by.

Every vehicle is derived from ``plugins._synthetic.residents`` with ``random.Random(f"samsat:{nik}")``, so
the owners are the same people the other sandboxes know. Nothing here depends on the clock: due dates are
drawn relative to an *anchor* date that the sandbox passes in (its "today" when it starts), so a sandbox
always holds some paid, some due and some overdue vehicles, whatever the date.

Amounts are integers of rupiah, as on the Samsat wire. The tariffs are the public ones as we understand
them; each is tagged [I] where it is our reading rather than a verified figure.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from types import MappingProxyType

from plugins._synthetic.residents import DEFAULT_SEED, MALE, REFERENCE_DATE, Resident, residents

__all__ = [
    "DUE_WINDOW_DAYS",
    "Assessment",
    "Class",
    "Model",
    "Period",
    "Standing",
    "VehicleRecord",
    "add_years",
    "assess",
    "by_owner",
    "by_plate",
    "first_due_date",
    "first_stnk_date",
    "njkb",
    "owners_without_vehicles",
    "samples",
    "vehicles",
]

# --- tariffs -------------------------------------------------------------------------------------

#: PKB rate of Perda Jateng 12/2023 for a first vehicle [I]; progressive rates for further vehicles are ignored.
PKB_RATE = Decimal("0.0105")
#: PKB opsen, the regency/city share added since 5 January 2025 (UU 1/2022 HKPD art. 83) [I].
OPSEN_RATE = Decimal("0.66")
#: Late PKB (and opsen) costs 1% a month, each started month counted, for at most 24 months (UU 1/2022) [I].
PENALTY_PER_MONTH = Decimal("0.01")
MAX_PENALTY_MONTHS = 24
#: A bill covers every period that starts within this many days: Samsat takes payment a month ahead [I].
DUE_WINDOW_DAYS = 30
_HUNDRED = Decimal(100)


class Class(StrEnum):
    """The vehicle class that sets SWDKLLJ, its penalty, the admin fees and the NJKB weight (bobot)."""

    MOTORCYCLE = "motorcycle"
    CAR = "car"
    PICKUP = "pickup"


@dataclass(frozen=True, slots=True)
class _Tariff:
    weight: Decimal  # bobot: the road-damage coefficient on NJKB
    swdkllj: int
    swdkllj_penalty: int
    stnk_fee: int
    tnkb_fee: int


# SWDKLLJ: Jasa Raharja's tariffs (PMK 16/2017) and late fees; STNK/TNKB fees: PP 76/2020 [I].
_TARIFFS = {
    Class.MOTORCYCLE: _Tariff(Decimal("1.0"), 35_000, 32_000, 100_000, 60_000),
    Class.CAR: _Tariff(Decimal("1.05"), 143_000, 100_000, 200_000, 100_000),
    Class.PICKUP: _Tariff(Decimal("1.3"), 163_000, 100_000, 200_000, 100_000),
}


def _round_hundred(amount: Decimal) -> int:
    # Samsat bills in whole hundreds of rupiah [I].
    return int((amount / _HUNDRED).quantize(Decimal(1), ROUND_HALF_UP) * _HUNDRED)


# --- the catalogue -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Model:
    brand: str
    name: str
    kind: str  # Samsat's jenis/model text, e.g. "SPM/SEPEDA MOTOR"
    vehicle_class: Class
    cc: int
    fuel: str
    new_njkb: int  # NJKB of a new one, in rupiah [I]: rough figures under the on-the-road price
    first_year: int
    weight: int  # how common it is in Tegal [I]
    wmi: str  # first three characters of the chassis number (world manufacturer id) [I]


_MOTORCYCLE, _MINIBUS, _PICKUP = "SPM/SEPEDA MOTOR", "MB/MINIBUS", "PU/PICK UP"
_MODELS: tuple[Model, ...] = (
    Model("HONDA", "BEAT", _MOTORCYCLE, Class.MOTORCYCLE, 110, "BENSIN", 14_500_000, 2008, 30, "MH1"),
    Model("HONDA", "VARIO 125", _MOTORCYCLE, Class.MOTORCYCLE, 125, "BENSIN", 19_000_000, 2012, 18, "MH1"),
    Model("HONDA", "SCOOPY", _MOTORCYCLE, Class.MOTORCYCLE, 110, "BENSIN", 18_000_000, 2010, 8, "MH1"),
    Model("HONDA", "SUPRA X 125", _MOTORCYCLE, Class.MOTORCYCLE, 125, "BENSIN", 15_500_000, 2006, 7, "MH1"),
    Model("HONDA", "PCX 160", _MOTORCYCLE, Class.MOTORCYCLE, 157, "BENSIN", 28_000_000, 2021, 3, "MH1"),
    Model("YAMAHA", "NMAX 155", _MOTORCYCLE, Class.MOTORCYCLE, 155, "BENSIN", 26_000_000, 2015, 9, "MH3"),
    Model("YAMAHA", "MIO M3 125", _MOTORCYCLE, Class.MOTORCYCLE, 125, "BENSIN", 14_000_000, 2014, 8, "MH3"),
    Model("YAMAHA", "AEROX 155", _MOTORCYCLE, Class.MOTORCYCLE, 155, "BENSIN", 23_000_000, 2016, 4, "MH3"),
    Model("YAMAHA", "JUPITER Z1", _MOTORCYCLE, Class.MOTORCYCLE, 113, "BENSIN", 15_000_000, 2010, 5, "MH3"),
    Model("SUZUKI", "SATRIA F150", _MOTORCYCLE, Class.MOTORCYCLE, 147, "BENSIN", 21_000_000, 2006, 3, "MH8"),
    Model("TOYOTA", "AVANZA 1.3 G", _MINIBUS, Class.CAR, 1329, "BENSIN", 190_000_000, 2006, 20, "MHF"),
    Model("DAIHATSU", "XENIA 1.3 R", _MINIBUS, Class.CAR, 1329, "BENSIN", 175_000_000, 2006, 14, "MHK"),
    Model("TOYOTA", "CALYA 1.2 G", _MINIBUS, Class.CAR, 1197, "BENSIN", 135_000_000, 2016, 10, "MHK"),
    Model("DAIHATSU", "SIGRA 1.2 R", _MINIBUS, Class.CAR, 1197, "BENSIN", 130_000_000, 2016, 9, "MHK"),
    Model("HONDA", "BRIO SATYA E", _MINIBUS, Class.CAR, 1199, "BENSIN", 145_000_000, 2013, 8, "MHR"),
    Model("SUZUKI", "ERTIGA GL", _MINIBUS, Class.CAR, 1462, "BENSIN", 200_000_000, 2012, 6, "MHY"),
    Model("MITSUBISHI", "XPANDER GLS", _MINIBUS, Class.CAR, 1499, "BENSIN", 235_000_000, 2017, 6, "MK2"),
    Model("TOYOTA", "KIJANG INNOVA 2.0 G", _MINIBUS, Class.CAR, 1998, "BENSIN", 320_000_000, 2006, 5, "MHF"),
    Model("DAIHATSU", "GRAN MAX PU 1.5", _PICKUP, Class.PICKUP, 1495, "BENSIN", 125_000_000, 2008, 5, "MHK"),
    Model("SUZUKI", "CARRY PU 1.5", _PICKUP, Class.PICKUP, 1462, "BENSIN", 120_000_000, 2006, 4, "MHY"),
    Model("MITSUBISHI", "L300 PU", _PICKUP, Class.PICKUP, 2477, "SOLAR", 200_000_000, 2006, 3, "MK2"),
)
_COLOURS = {
    Class.MOTORCYCLE: ("HITAM", "PUTIH", "MERAH", "BIRU", "ABU-ABU", "MERAH HITAM", "PUTIH BIRU", "HITAM DOFF"),
    Class.CAR: ("HITAM", "PUTIH", "SILVER METALIK", "ABU-ABU METALIK", "MERAH", "COKLAT METALIK"),
    Class.PICKUP: ("HITAM", "PUTIH", "BIRU", "SILVER METALIK"),
}
_LAST_YEAR_MADE = REFERENCE_DATE.year - 1


def njkb(model: Model, year_made: int) -> int:
    """The sale value Samsat taxes: the new value less 7% a year, never under 35%, in Rp100,000 [I]."""
    age = max(0, REFERENCE_DATE.year - year_made)
    share = max(Decimal("0.35"), Decimal("0.93") ** age)
    return int((model.new_njkb * share / 100_000).quantize(Decimal(1), ROUND_HALF_UP)) * 100_000


# --- vehicles ------------------------------------------------------------------------------------


class Standing(StrEnum):
    """Where a vehicle stood when the sandbox started; the bill itself is judged against "today"."""

    PAID = "paid"
    DUE = "due"
    OVERDUE = "overdue"


@dataclass(frozen=True, slots=True)
class VehicleRecord:
    """One registered vehicle as Samsat holds it."""

    plate: str  # normalised "G 1234 FA"
    owner_nik: str
    owner_name: str
    model: Model
    colour: str
    year_made: int
    chassis: str  # nomor rangka (noka)
    samsat_office: str
    standing: Standing
    years_overdue: int  # 1-3 when overdue, else 0
    due_days: int  # days after the anchor (less years_overdue years) that the tax falls due
    stnk_years: int  # 0-4: the five-yearly STNK renewal falls this many years after the first due date

    @property
    def plate_parts(self) -> tuple[str, str, str]:
        letters, digits, *suffix = self.plate.split(" ")
        return letters, digits, suffix[0] if suffix else ""


def add_years(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` later; due dates never fall after the 28th, so no month is too short."""
    return day.replace(year=day.year + years)


def first_due_date(vehicle: VehicleRecord, anchor: dt.date) -> dt.date:
    day = anchor + dt.timedelta(days=vehicle.due_days)
    # Keep every due date on day 1-28 (moving forward at most 3 days), so that adding years is exact.
    if day.day > 28:
        day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return add_years(day, -vehicle.years_overdue)


def first_stnk_date(vehicle: VehicleRecord, anchor: dt.date) -> dt.date:
    """The end of the current five-year STNK, on the anniversary of the tax due date."""
    return add_years(first_due_date(vehicle, anchor), vehicle.stnk_years)


# Plate suffixes of the old Pekalongan residency (G), by regency, as commonly listed [I].
_SUFFIX_LETTERS = {28: "FPY", 76: "ENX"}
_SAMSAT_OFFICES = {28: "SAMSAT KAB. TEGAL (SLAWI)", 76: "SAMSAT KOTA TEGAL"}
_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
_VIN_CHARACTERS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
# Standing of a vehicle when the sandbox starts, with its odds, and the days ahead it may fall due [I].
_STANDINGS: tuple[tuple[Standing, int, float, tuple[int, int]], ...] = (
    (Standing.PAID, 0, 50, (35, 360)),
    (Standing.DUE, 0, 12, (0, 26)),
    (Standing.OVERDUE, 1, 22, (5, 360)),
    (Standing.OVERDUE, 2, 9, (5, 360)),
    (Standing.OVERDUE, 3, 7, (5, 360)),
)


def _plate(rng: random.Random, regency: int, taken: set[str]) -> str:
    while True:
        digits = rng.randint(1000, 9999) if rng.random() < 0.9 else rng.randint(1, 999)
        suffix = rng.choice(_SUFFIX_LETTERS[regency])
        roll = rng.random()
        if roll < 0.85:
            suffix += rng.choice(_LETTERS)
        elif roll < 0.9:
            suffix += rng.choice(_LETTERS) + rng.choice(_LETTERS)
        plate = f"G {digits} {suffix}"
        if plate not in taken:
            taken.add(plate)
            return plate


def _vehicle(rng: random.Random, owner: Resident, vehicle_class: Class, taken: set[str]) -> VehicleRecord:
    models = [m for m in _MODELS if m.vehicle_class is vehicle_class]
    model = rng.choices(models, [m.weight for m in models])[0]
    # Nobody registers a vehicle before they are 17.
    first_year = max(model.first_year, min(owner.birth_date.year + 17, _LAST_YEAR_MADE))
    standing, years_overdue, _, (soonest, latest) = rng.choices(_STANDINGS, [s[2] for s in _STANDINGS])[0]
    return VehicleRecord(
        plate=_plate(rng, owner.regency_code, taken),
        owner_nik=owner.nik,
        owner_name=owner.full_name,
        model=model,
        colour=rng.choice(_COLOURS[vehicle_class]),
        year_made=rng.randint(first_year, _LAST_YEAR_MADE),
        chassis=model.wmi + "".join(rng.choice(_VIN_CHARACTERS) for _ in range(14)),
        samsat_office=_SAMSAT_OFFICES[owner.regency_code],
        standing=standing,
        years_overdue=years_overdue,
        due_days=rng.randint(soonest, latest),
        stnk_years=rng.randint(0, 4),
    )


def _classes_owned(rng: random.Random, owner: Resident) -> list[Class]:
    # About 45% of adults ride a motorcycle and 15% keep a car or pick-up; a few have two motorcycles [I].
    owned: list[Class] = []
    if rng.random() < (0.5 if owner.sex == MALE else 0.4):
        owned.append(Class.MOTORCYCLE)
        if rng.random() < 0.08:
            owned.append(Class.MOTORCYCLE)
    if rng.random() < 0.15:
        owned.append(Class.PICKUP if rng.random() < 0.15 else Class.CAR)
    return owned


def _is_adult(resident: Resident) -> bool:
    born, on = resident.birth_date, REFERENCE_DATE
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day)) >= 17


@functools.cache
def vehicles(seed: int = DEFAULT_SEED) -> tuple[VehicleRecord, ...]:
    """Every registered vehicle, owner by owner in the residents' order."""
    taken: set[str] = set()
    found: list[VehicleRecord] = []
    for owner in filter(_is_adult, residents(seed)):
        rng = random.Random(f"samsat:{owner.nik}")
        found.extend(_vehicle(rng, owner, c, taken) for c in _classes_owned(rng, owner))
    return tuple(found)


@functools.cache
def by_plate(seed: int = DEFAULT_SEED) -> Mapping[str, VehicleRecord]:
    return MappingProxyType({v.plate: v for v in vehicles(seed)})


@functools.cache
def by_owner(seed: int = DEFAULT_SEED) -> Mapping[str, tuple[VehicleRecord, ...]]:
    owned: dict[str, list[VehicleRecord]] = {}
    for vehicle in vehicles(seed):
        owned.setdefault(vehicle.owner_nik, []).append(vehicle)
    return MappingProxyType({nik: tuple(found) for nik, found in owned.items()})


def samples(seed: int = DEFAULT_SEED) -> dict[str, list[str]]:
    """Plates worth calling (overdue 1 year, paid up, due soon, overdue 3 years) and their owners' NIKs."""
    wanted = ((Standing.OVERDUE, 1), (Standing.PAID, 0), (Standing.DUE, 0), (Standing.OVERDUE, 3))
    # Each sample is its owner's first vehicle, so listing a sample owner leads to that plate first.
    firsts = [owned[0] for owned in by_owner(seed).values()]
    plates = [next(v for v in firsts if (v.standing, v.years_overdue) == w).plate for w in wanted]
    owners = [by_plate(seed)[plate].owner_nik for plate in plates]
    two = next(nik for nik, owned in by_owner(seed).items() if len(owned) == 2)
    return {"plate": plates, "nik": list(dict.fromkeys([*owners, two]))}


# --- the bill ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """One tax year on a bill (a ``rincian`` line)."""

    start: dt.date  # the day it fell due (jatuh tempo pembayaran)
    months_late: int
    pkb: int
    pkb_penalty: int
    opsen: int
    opsen_penalty: int
    swdkllj: int
    swdkllj_penalty: int
    admin_fees: int

    @property
    def end(self) -> dt.date:
        return add_years(self.start, 1)

    @property
    def total(self) -> int:
        return (
            self.pkb + self.pkb_penalty + self.opsen + self.opsen_penalty
            + self.swdkllj + self.swdkllj_penalty + self.admin_fees
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Assessment:
    """What a vehicle owes on ``today``: every period that has started or starts within the due window."""

    due_date: dt.date
    periods: tuple[Period, ...]

    @property
    def new_due_date(self) -> dt.date:
        return add_years(self.due_date, len(self.periods))

    @property
    def years_in_arrears(self) -> int:
        return sum(1 for p in self.periods if p.months_late)

    @property
    def paid_up(self) -> bool:
        return not self.periods

    @property
    def renews_stnk(self) -> bool:
        return any(p.admin_fees for p in self.periods)

    def total_of(self, part: str) -> int:
        return sum(int(getattr(p, part)) for p in self.periods)

    @property
    def total(self) -> int:
        return sum(p.total for p in self.periods)


def _months_late(due: dt.date, today: dt.date) -> int:
    """Started months since the due date: one day late is one month (the due day itself is on time)."""
    if today <= due:
        return 0
    months = (today.year - due.year) * 12 + today.month - due.month + (today.day > due.day)
    return min(months, MAX_PENALTY_MONTHS)


def _period(vehicle: VehicleRecord, start: dt.date, renews_stnk: bool, today: dt.date) -> Period:
    tariff = _TARIFFS[vehicle.model.vehicle_class]
    pkb = _round_hundred(njkb(vehicle.model, vehicle.year_made) * tariff.weight * PKB_RATE)
    opsen = _round_hundred(pkb * OPSEN_RATE)
    months = _months_late(start, today)
    return Period(
        start=start,
        months_late=months,
        pkb=pkb,
        pkb_penalty=_round_hundred(pkb * PENALTY_PER_MONTH * months),
        opsen=opsen,
        opsen_penalty=_round_hundred(opsen * PENALTY_PER_MONTH * months),
        swdkllj=tariff.swdkllj,
        swdkllj_penalty=tariff.swdkllj_penalty if months else 0,
        # The STNK and the plate (TNKB) are renewed, and paid for, only every five years.
        admin_fees=tariff.stnk_fee + tariff.tnkb_fee if renews_stnk else 0,
    )


def assess(vehicle: VehicleRecord, due_date: dt.date, stnk_date: dt.date, today: dt.date) -> Assessment:
    """The bill of a vehicle paid up to ``due_date`` whose STNK runs to ``stnk_date``, as of ``today``."""
    horizon = today + dt.timedelta(days=DUE_WINDOW_DAYS)
    periods: list[Period] = []
    start = due_date
    while start <= horizon:
        periods.append(_period(vehicle, start, start == stnk_date, today))
        start = add_years(due_date, len(periods))
    return Assessment(due_date, tuple(periods))


def owners_without_vehicles(seed: int = DEFAULT_SEED) -> Sequence[str]:
    """Adults who own nothing: a valid NIK whose list of vehicles is empty."""
    owned = by_owner(seed)
    return [r.nik for r in residents(seed) if _is_adult(r) and r.nik not in owned]
