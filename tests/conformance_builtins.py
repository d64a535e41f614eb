"""The conformance suite for the four built-in agencies, with their sample requests.

Run as a plugin author would run it (``tests/test_conformance.py`` does, in a child pytest)::

    pytest -p hub.testing tests/conformance_builtins.py

The file name does not start with ``test_``, so the main test run does not collect it without the plugin.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

from contracts import ErrorCode, VehicleTax
from hub.testing import Case, Conformance, Harness

#: A well-formed NIK (Kabupaten Tegal, born 1 January 2001) that no synthetic resident holds.
UNKNOWN_NIK = "3328100101019999"
#: A well-formed KK number (Kabupaten Tegal, issued 1 January 2001) that no synthetic family holds.
UNKNOWN_KK = "3328100101019999"
PAID_AT = "2026-01-05T10:15:00+07:00"


class TestDukcapil(Conformance):
    plugin = "dukcapil"

    def cases(self, samples: Mapping[str, Sequence[str]], hub: Harness) -> Mapping[str, Case]:
        nik = samples["nik"][0]
        return {
            "identity.lookup": Case({"nik": nik}, {ErrorCode.NOT_FOUND: {"nik": UNKNOWN_NIK}}),
            "identity.verify": Case(
                {"nik": nik, "full_name": "Rokhman Setiawan"},
                {ErrorCode.NOT_FOUND: {"nik": UNKNOWN_NIK, "full_name": "Rokhman Setiawan"}},
            ),
            "identity.family": Case(
                {"kk_number": samples["kk_number"][0]}, {ErrorCode.NOT_FOUND: {"kk_number": UNKNOWN_KK}}
            ),
        }


class TestBpjs(Conformance):
    plugin = "bpjs"

    def cases(self, samples: Mapping[str, Sequence[str]], hub: Harness) -> Mapping[str, Case]:
        return {
            "health.coverage": Case(
                {"card_number": samples["card_number"][0]}, {ErrorCode.NOT_FOUND: {"nik": UNKNOWN_NIK}}
            ),
        }


class TestSamsat(Conformance):
    plugin = "samsat"

    def cases(self, samples: Mapping[str, Sequence[str]], hub: Harness) -> Mapping[str, Case]:
        plate = samples["plate"][0]
        tax = next(t for t in (_tax(hub, p) for p in samples["plate"][1:]) if t.total > 0)  # a bill still open
        paid_plate = tax.vehicle.plate
        payment = {
            "plate": paid_plate, "bill_code": tax.bill_code, "amount": str(tax.total),
            "payment_reference": f"CONF-{uuid.uuid4().hex[:10]}", "paid_at": PAID_AT,
        }  # fmt: skip
        unknown_plate = {**payment, "plate": "G 1 ZZZ", "bill_code": "3300000000000000"}
        stale_code = {**payment, "plate": plate, "bill_code": "3300000000000000", "payment_reference": "CONF-STALE"}
        return {
            "vehicle.list_by_owner": Case({"nik": samples["nik"][0]}),
            "vehicle.tax_due": Case({"plate": plate}, {ErrorCode.NOT_FOUND: {"plate": "G 1 ZZZ"}}),
            "vehicle.record_payment": Case(
                payment, {ErrorCode.NOT_FOUND: unknown_plate, ErrorCode.CONFLICT: stale_code}
            ),
        }


def _tax(hub: Harness, plate: str) -> VehicleTax:
    tax = hub.call("vehicle.tax_due", {"plate": plate})
    assert isinstance(tax, VehicleTax)
    return tax


class TestBank(Conformance):
    plugin = "bank"

    def cases(self, samples: Mapping[str, Sequence[str]], hub: Harness) -> Mapping[str, Case]:
        bill = {
            "reference": f"CONF-{uuid.uuid4().hex[:8]}", "amount": "150000.50", "customer_name": "SRI WAHYUNI",
            "description": "conformance", "expires_at": "2099-12-31T23:59:00+07:00",
        }  # fmt: skip
        hub.call("payment.create_bill", bill)  # so that another amount under its reference is a conflict
        known = samples["virtual_account"][0]
        unknown = known[:5] + "9" * (len(known) - 5)
        return {
            "payment.create_bill": Case(bill, {ErrorCode.CONFLICT: {**bill, "amount": "1.00"}}),
            "payment.bill_status": Case(
                {"virtual_account": known}, {ErrorCode.NOT_FOUND: {"virtual_account": unknown}}
            ),
        }
