"""Deterministic synthetic JKN participants for the BPJS Kesehatan sandbox.

Every participant is one of the synthetic residents of Tegal (``plugins._synthetic.residents``), with the
same NIK, name, sex and birth date, so composite views across agencies agree. What BPJS adds (card number,
segment, class, primary care facility, coverage dates) comes from ``random.Random(f"bpjs:<nik>")`` and, for
what a family shares, ``random.Random(f"bpjs:kk:<kk>")``. Dates are fixed relative to ``REFERENCE_DATE``,
never the clock: a participant's status depends only on the service date asked about.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from plugins._synthetic.residents import (
    DEFAULT_SEED,
    DISTRICTS,
    FEMALE,
    REFERENCE_DATE,
    District,
    Resident,
    residents,
    samples,
)

__all__ = [
    "ACTIVE",
    "NOT_YET_ACTIVE",
    "NO_CARD_HOLDER",
    "OPEN_END",
    "PROVIDERS",
    "Code",
    "Participant",
    "Provider",
    "by_card",
    "by_nik",
    "participants",
    "sample_ids",
]


@dataclass(frozen=True, slots=True)
class Code:
    """A ``{kode, keterangan}`` pair as VClaim sends them."""

    kode: str
    keterangan: str


@dataclass(frozen=True, slots=True)
class Provider:
    """A first-level facility (FKTP); only puskesmas here."""

    code: str
    name: str
    regency_code: int


ACTIVE = Code("0", "AKTIF")  # [C] the only statusPeserta code in the public material
# The other status codes and texts are our guess [I]: the texts are the ones seen on printed SEP/status
# checks, the numbers are invented.
NOT_YET_ACTIVE = Code("4", "BELUM AKTIF")
_DECEASED = Code("1", "MENINGGAL")
_PREMIUM_ARREARS = Code("9", "TIDAK AKTIF KARENA PREMI")
_EMPLOYER_ARREARS = Code("7", "PENANGGUHAN PESERTA")

# Segments: "21 PBI (APBN)" is [C]; the other codes are our guess [I].
_PBI_APBN = Code("21", "PBI (APBN)")
_PBI_APBD = Code("22", "PBI (APBD)")
_PPU = Code("14", "PEKERJA PENERIMA UPAH")
_PBPU = Code("15", "PEKERJA BUKAN PENERIMA UPAH")
_BP = Code("16", "BUKAN PEKERJA")

#: Coverage with no end date; VClaim's own sentinel for "no end" is unknown, this one is our guess [I].
OPEN_END = dt.date(2099, 12, 31)
#: A card number nobody holds (all participants' numbers have a non-zero serial part).
NO_CARD_HOLDER = "0000000000000"

_JKN_START = dt.date(2014, 1, 1)  # JKN began on 1 January 2014
_LAST_ENROLMENT = REFERENCE_DATE - dt.timedelta(days=180)
_CARD_HOLDERS = 0.9
_INACTIVE = 0.12

_WAGE_JOBS = frozenset({"KARYAWAN SWASTA", "PEGAWAI NEGERI SIPIL (PNS)", "GURU"})
_SMALL_TRADES = frozenset({"WIRASWASTA", "PEDAGANG", "SOPIR"})
_POOR_TRADES = frozenset({"PETANI/PEKEBUN", "BURUH HARIAN LEPAS", "NELAYAN/PERIKANAN"})


def _puskesmas_code(district: District) -> str:
    # Synthetic codes in the public shape ``0138U020`` (4 digits, a letter, 3 digits) [I].
    return f"{district.regency_code:02d}{district.code:02d}P001"


#: One puskesmas per district of Kab. Tegal and Kota Tegal, named after its district; codes are synthetic.
PROVIDERS: Mapping[tuple[int, int], Provider] = MappingProxyType(
    {(d.regency_code, d.code): Provider(_puskesmas_code(d), f"PUSKESMAS {d.name}", d.regency_code) for d in DISTRICTS}
)


@dataclass(frozen=True, slots=True)
class Participant:
    """One JKN participant as BPJS Kesehatan holds them."""

    card_number: str
    nik: str
    name: str
    female: bool
    birth_date: dt.date
    pisa: str
    segment: Code
    care_class: int
    provider: Provider
    card_printed: dt.date
    coverage_start: dt.date  # tglTMT
    coverage_end: dt.date  # tglTAT
    ended_because: Code | None  # the status once coverage_end has passed
    phone: str | None

    def status_on(self, day: dt.date) -> Code:
        """statusPeserta for a service on ``day``."""
        if day < self.coverage_start:
            return NOT_YET_ACTIVE
        if day > self.coverage_end and self.ended_because is not None:
            return self.ended_because
        return ACTIVE


@dataclass(frozen=True, slots=True)
class _Family:
    segment: Code
    care_class: int
    provider: Provider


def _weighted(rng: random.Random, choices: Sequence[tuple[Code, float]]) -> Code:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _family_segment(rng: random.Random, occupation: str) -> Code:
    if occupation in _WAGE_JOBS:
        return _PPU
    if occupation == "PENSIUNAN":
        return _BP
    if occupation in _SMALL_TRADES:
        return _weighted(rng, ((_PBPU, 80), (_PBI_APBD, 20)))
    if occupation in _POOR_TRADES:
        return _weighted(rng, ((_PBI_APBN, 55), (_PBI_APBD, 20), (_PBPU, 25)))
    return _weighted(rng, ((_PBI_APBN, 60), (_PBI_APBD, 20), (_PBPU, 20)))


def _care_class(rng: random.Random, segment: Code) -> int:
    # PBI is always class III; a PBPU family picks one class for all its members.
    if segment in (_PBI_APBN, _PBI_APBD):
        return 3
    if segment == _PBPU:
        return rng.choices((1, 2, 3), weights=(15, 25, 60))[0]
    return rng.choice((1, 2))


def _provider(rng: random.Random, head: Resident) -> Provider:
    home = PROVIDERS[(head.regency_code, head.district_code)]
    if rng.random() < 0.85:
        return home
    return rng.choice([p for p in PROVIDERS.values() if p.regency_code == head.regency_code])


def _family(head: Resident) -> _Family:
    rng = random.Random(f"bpjs:kk:{head.kk}")
    segment = _family_segment(rng, head.occupation)
    return _Family(segment, _care_class(rng, segment), _provider(rng, head))


def _card_number(rng: random.Random, taken: set[str]) -> str:
    # Public examples (0001234567890, 0011336526592) open with zeros; the serial part is never all zeros.
    while True:
        number = f"000{rng.randint(1, 10**10 - 1):010d}"
        if number not in taken:
            taken.add(number)
            return number


def _date_between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, max(0, (end - start).days)))


_PISA = {"KEPALA KELUARGA": "1", "ISTRI": "2", "ANAK": "3"}  # [I] the public sample only shows "1"


def _ending(rng: random.Random, resident: Resident, segment: Code) -> Code | None:
    if rng.random() >= _INACTIVE:
        return None
    if resident.birth_date.year < 1960 and rng.random() < 0.5:
        return _DECEASED
    if segment == _PPU:
        return _EMPLOYER_ARREARS
    return _PREMIUM_ARREARS


def _participant(resident: Resident, family: _Family, taken: set[str]) -> Participant | None:
    rng = random.Random(f"bpjs:{resident.nik}")
    if rng.random() >= _CARD_HOLDERS:
        return None
    card_number = _card_number(rng, taken)
    # Someone with a wage job of their own is enrolled through their employer, not their family.
    own_job = resident.occupation in _WAGE_JOBS and resident.family_relation != "KEPALA KELUARGA"
    segment = _PPU if own_job else family.segment
    care_class = _care_class(rng, segment) if own_job else family.care_class
    start = _date_between(rng, max(_JKN_START, resident.birth_date), _LAST_ENROLMENT)
    ended_because = _ending(rng, resident, segment)
    end = _date_between(rng, start + dt.timedelta(days=30), REFERENCE_DATE) if ended_because else OPEN_END
    phone = f"08{rng.choice('12581')}{rng.randint(10**7, 10**9 - 1)}" if rng.random() < 0.6 else None
    return Participant(
        card_number=card_number,
        nik=resident.nik,
        name=resident.full_name,
        female=resident.sex == FEMALE,
        birth_date=resident.birth_date,
        pisa=_PISA.get(resident.family_relation, "1"),
        segment=segment,
        care_class=care_class,
        provider=family.provider,
        card_printed=_date_between(rng, start, min(start + dt.timedelta(days=60), REFERENCE_DATE)),
        coverage_start=start,
        coverage_end=end,
        ended_because=ended_because,
        phone=phone,
    )


@functools.cache
def participants(seed: int = DEFAULT_SEED) -> tuple[Participant, ...]:
    """About 90% of the synthetic residents, in the residents' order."""
    families: dict[str, _Family] = {}
    taken: set[str] = set()
    found: list[Participant] = []
    for resident in residents(seed):
        # residents() lists each family head first, so the family is known before its members.
        if resident.kk not in families:
            families[resident.kk] = _family(resident)
        participant = _participant(resident, families[resident.kk], taken)
        if participant is not None:
            found.append(participant)
    return tuple(found)


@functools.cache
def by_card(seed: int = DEFAULT_SEED) -> Mapping[str, Participant]:
    return MappingProxyType({p.card_number: p for p in participants(seed)})


@functools.cache
def by_nik(seed: int = DEFAULT_SEED) -> Mapping[str, Participant]:
    return MappingProxyType({p.nik: p for p in participants(seed)})


def sample_ids(n: int = 4, seed: int = DEFAULT_SEED) -> dict[str, list[str]]:
    """Card numbers and NIKs worth calling: active holders among the residents' samples, plus one inactive."""
    holders = by_nik(seed)
    active = [holders[nik] for nik in samples(4 * n, seed) if nik in holders and holders[nik].ended_because is None]
    inactive = next(p for p in participants(seed) if p.ended_because is not None)
    return {
        "card_number": [p.card_number for p in active[:n]],
        "nik": [p.nik for p in active[:n]] + [inactive.nik],
    }
