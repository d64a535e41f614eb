"""The hub's conformance suite, run against this plugin and its sandbox, through a hub serving only it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from contracts import ErrorCode
from hub.testing import Case, Conformance, Harness

#: A tracking id the sandbox's LAPOR! does not hold.
UNKNOWN_TRACKING_ID = "12345"
#: The sample complaint's reference: a valid tracking number (the sandbox files it once, however often it is sent).
REFERENCE = "K7Q3-9XH2-9"


def _filing(category: str, **changes: object) -> dict[str, object]:
    return {
        "reference": REFERENCE, "title": "Antrean perekaman KTP-el",
        "text": "Nomor antrean perekaman KTP-el tidak dipanggil selama tiga jam tanpa penjelasan petugas.",
        "category": category, "agency": "Disdukcapil Kota Sandbox", "concerns": "A-017",
        "reporter": {"nik": "3328010107960001", "full_name": "WARGA CONTOH PELAPOR", "phone": "081234567890",
                     "email": "warga.pelapor@example.org"},
        **changes,
    }  # fmt: skip


class TestLaporConformance(Conformance):
    plugin = "lapor"

    def cases(self, samples: Mapping[str, Sequence[str]], hub: Harness) -> Mapping[str, Case]:
        """Sample requests per operation: one LAPOR! answers, and the ones it refuses."""
        category = samples["category"][-1]
        return {
            "complaint.file": Case(
                _filing(category),
                # A category the contract takes (digits) and LAPOR!'s topic list does not have.
                refusals={ErrorCode.INVALID_INPUT: _filing("999999")},
            ),
            "complaint.status": Case(
                {"tracking_id": samples["tracking_id"][1]},
                refusals={ErrorCode.NOT_FOUND: {"tracking_id": UNKNOWN_TRACKING_ID}},
            ),
        }
