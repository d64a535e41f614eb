"""A few unpaid bills the bank sandbox holds from the start, for sample residents of Tegal.

Derived from the synthetic residents with ``random.Random(f"bank:{nik}")``, so the same NIKs get the
same bills on every run. References are built like the hub's own (not from the NIK, which is personal).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

from plugins._synthetic.residents import DEFAULT_SEED, by_nik, samples
from plugins.bank import _wire

__all__ = ["COMPANY_CODE", "CONTOH_COMPANY_CODE", "SeedBill", "seed_bills", "virtual_accounts"]

#: The sandbox's company code (partnerServiceId before padding).
COMPANY_CODE = "88123"
#: The second sandbox bank's (Bank Contoh Syariah, fictional): its accounts never look like the first's.
CONTOH_COMPANY_CODE = "77456"

_DESCRIPTIONS = ("PBB-P2 TAHUN 2025", "RETRIBUSI PERSAMPAHAN", "BPHTB AJB", "RETRIBUSI PBG", "PKB TAHUNAN")
_REFERENCE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True, slots=True)
class SeedBill:
    reference: str
    customer_no: str
    customer_name: str
    description: str
    amount: Decimal
    days_valid: int


def _bill(nik: str, name: str) -> SeedBill:
    rng = random.Random(f"bank:{nik}")
    reference = "MPP-" + "".join(rng.choice(_REFERENCE_LETTERS) for _ in range(6))
    # Whole thousands plus odd sen on some bills, so the last digit of an amount is tested too.
    amount = Decimal(rng.randrange(25, 2500) * 1000) + Decimal(rng.choice((0, 0, 50, 99))).scaleb(-2)
    return SeedBill(
        reference=reference,
        customer_no=_wire.customer_no(reference),
        customer_name=name,
        description=rng.choice(_DESCRIPTIONS),
        amount=amount,
        days_valid=rng.randrange(7, 31),
    )


def seed_bills(n: int = 5, seed: int = DEFAULT_SEED) -> list[SeedBill]:
    population = by_nik(seed)
    return [_bill(nik, population[nik].full_name) for nik in samples(n, seed)]


def virtual_accounts(company_code: str = COMPANY_CODE, n: int = 5) -> list[str]:
    """The seeded bills' account numbers, digits only, as the contract writes them."""
    return [company_code + bill.customer_no for bill in seed_bills(n)]
