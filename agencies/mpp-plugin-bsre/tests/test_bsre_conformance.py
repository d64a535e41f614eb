"""The hub's conformance suite, run against this plugin and its sandbox."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from contracts import ErrorCode
from hub.testing import Case, Conformance, Harness

#: A well-formed NIK (Kota Tegal, born 1 January 2001) that no sandbox signer holds.
UNKNOWN_NIK = "3376010101010009"
#: The signer whose certificate expired a month ago, in the sandbox.
EXPIRED_NIK = "3376010309800005"
#: "%PDF-1.7\nnot a real PDF": passes the contract's checks (base64, the PDF header), and BSrE cannot read it.
BROKEN = "JVBERi0xLjcKbm90IGEgcmVhbCBQREY="
#: Obviously not any signer's passphrase.
WRONG_PASSPHRASE = "sandbox-wrong-passphrase-conformance"


class TestConformance(Conformance):
    plugin = "bsre"

    def cases(self, samples: Mapping[str, Sequence[str]], hub: Harness) -> Mapping[str, Case]:
        """Sample requests per operation: one BSrE answers, and the ones it refuses."""
        # The second signer signs the samples: the first is left to the plugin's own tests.
        nik, passphrase, document = samples["nik"][1], samples["passphrase"][1], samples["document"][0]
        sign = {"nik": nik, "passphrase": passphrase, "document": document}
        return {
            "document.sign": Case(
                sign,
                refusals={
                    ErrorCode.FORBIDDEN: sign | {"passphrase": WRONG_PASSPHRASE},
                    ErrorCode.NOT_FOUND: sign | {"nik": UNKNOWN_NIK},
                    ErrorCode.INVALID_INPUT: sign | {"document": BROKEN},
                },
            ),
            "document.verify": Case({"document": document}, refusals={ErrorCode.INVALID_INPUT: {"document": BROKEN}}),
            # An unknown NIK is an answer (not_registered), not a refusal: BSrE refuses no well-formed status query.
            "document.signer_status": Case({"nik": nik}),
        }
