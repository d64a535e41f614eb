"""The hub's conformance suite, run against this plugin and its sandbox, through a hub serving only it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from contracts import ErrorCode
from hub.testing import Case, Conformance, Harness

#: A well-formed customer number the sandbox's PDAM does not know (code 102).
UNKNOWN_NUMBER = "9900009999"
#: Six digits: the contract takes it (other PDAMs' numbers are that short), this PDAM's system cannot read it.
SHORT_NUMBER = "990001"


class TestPdamConformance(Conformance):
    plugin = "pdam"

    def cases(self, samples: Mapping[str, Sequence[str]], hub: Harness) -> Mapping[str, Case]:
        """Sample requests per operation: one the PDAM answers, and the ones it refuses."""
        return {
            "water.bill": Case(
                {"customer_number": samples["customer_number"][0]},
                refusals={
                    ErrorCode.NOT_FOUND: {"customer_number": UNKNOWN_NUMBER},
                    ErrorCode.INVALID_INPUT: {"customer_number": SHORT_NUMBER},
                },
            ),
        }
