"""The sandbox's synthetic customers, in the billing system's own field names (all of them fictitious).

Customer numbers start with 99, names read CONTOH (Indonesian for "example"), streets and villages are
made up. Amounts are whole rupiah, as the billing system gives them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CUSTOMERS", "samples"]

_ENTITY = {"entity_title": "PERUMDA AIR MINUM CONTOH", "entity_address": "JL. CONTOH RAYA NO. 1, KOTA CONTOH"}


def _sheet(number: str, bulan: int, stand: tuple[int, int], paid: str | None, **charges: int) -> dict[str, Any]:
    """One bill sheet: the charges make TAGIHAN_RP; DENDA_RP (the penalty) is kept apart."""
    water = {f"BLOK{i}_RP": charges.get(f"blok{i}", 0) for i in range(1, 5)}
    fixed = {"ADM_RP": 5000, "DWM_RP": 2500, "ABONEMEN_RP": 7500, "PPN_RP": 0}
    return {
        "NOSAMBUNG": number,
        "BULAN": bulan,
        "STATUS": "AKTIF",
        "KLS_TARIP": "R2",
        "STAND_AWAL": stand[0],
        "STAND_AKHIR": stand[1],
        "PEMAKAIANM3": stand[1] - stand[0],
        "PHOTO_FILE": None,
        **water,
        **fixed,
        "DISCOUNT_RP": 0,
        "ANGSURAN_RP": 0,
        "ANGSURAN_KE": "0",
        "TAGIHAN_RP": sum(water.values()) + sum(fixed.values()),
        "DENDA_RP": charges.get("denda", 0),
        "TGLBAYAR": paid,
    }


def _customer(number: str, name: str, address: str, sheets: Sequence[dict[str, Any]]) -> dict[str, Any]:
    for sheet in sheets:
        sheet.update({"NAMA": name, "ALAMAT": address})
    unpaid = [sheet for sheet in sheets if not sheet["TGLBAYAR"]]
    return {
        **_ENTITY,
        "cust_code": number,
        "cust_name": name,
        "cust_address": address,
        "cust_phone": "080000000000",
        "tarif_class": "R2",
        "total_sheets": len(sheets),
        "unpaid_sheets": str(len(unpaid)),
        "total_tagihan": sum(sheet["TAGIHAN_RP"] + sheet["DENDA_RP"] for sheet in unpaid),
        "cust_data": list(sheets),
    }


#: By customer number: two months open (the older with a penalty), paid up, and one month open.
CUSTOMERS: Mapping[str, dict[str, Any]] = {
    customer["cust_code"]: customer
    for customer in (
        _customer("9900000101", "WARGA CONTOH SATU", "JL. CONTOH NO. 1 RT 001 RW 002 DESA FIKTIF", [
            _sheet("9900000101", 202608, (1200, 1218), "2026-08-14 09:12:00", blok1=18000, blok2=9600),
            _sheet("9900000101", 202609, (1218, 1239), None, blok1=20000, blok2=3300, denda=10000),
            _sheet("9900000101", 202610, (1239, 1254), None, blok1=15000),
        ]),
        _customer("9900000202", "WARGA CONTOH DUA", "JL. SANDBOX NO. 22 RT 003 RW 001 DESA FIKTIF", [
            _sheet("9900000202", 202609, (530, 541), "2026-09-10 10:00:00", blok1=11000),
            _sheet("9900000202", 202610, (541, 550), "2026-10-09 08:30:00", blok1=9000),
        ]),
        _customer("9900000303", "WARGA CONTOH TIGA", "GG. PERCOBAAN NO. 3 RT 002 RW 004 DESA FIKTIF", [
            _sheet("9900000303", 202610, (88, 120), None, blok1=20000, blok2=26400, blok3=12000),
        ]),
    )
}  # fmt: skip


def samples() -> Mapping[str, Sequence[str]]:
    """Customer numbers the sandbox knows, for `mpp-hub sandbox sample` and the tests: open bills first."""
    return {"customer_number": ["9900000101", "9900000303", "9900000202"]}
