"""The hub's conformance suite, run against this plugin and its sandbox, through a hub serving only it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from contracts import ErrorCode
from hub.testing import Case, Conformance, Harness

#: A well-formed NIB the sandbox's OSS-RBA does not have (kode 400 "Data NIB tidak ditemukan").
UNKNOWN_NIB = "9990000000999"


class TestOssConformance(Conformance):
    plugin = "oss"

    def cases(self, samples: Mapping[str, Sequence[str]], hub: Harness) -> Mapping[str, Case]:
        """Sample requests per operation: one OSS-RBA answers, and the ones refused."""
        nib = samples["nib"][0]
        return {
            # Malformed input never reaches OSS-RBA (the models refuse it): tests/test_oss_hub.py covers it.
            "business.nib_lookup": Case({"nib": nib}, refusals={ErrorCode.NOT_FOUND: {"nib": UNKNOWN_NIB}}),
            "business.nib_confirm": Case({"nib": nib}, refusals={ErrorCode.NOT_FOUND: {"nib": UNKNOWN_NIB}}),
        }
