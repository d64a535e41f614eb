"""The conformance suite on the land office of tests/plugins/land_office.py (a contract package at major 2,
its identifier in the agency's URL path), as ``tests/test_package_served.py`` runs it in a child pytest::

    pytest -p hub.testing tests/conformance_land.py
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from contracts import ErrorCode
from hub.testing import Case, Conformance, Harness


class TestLandOffice(Conformance):
    plugin = "tests.plugins.land_office"

    def cases(self, samples: Mapping[str, Sequence[str]], hub: Harness) -> Mapping[str, Case]:
        known = samples["certificate_number"][0]
        return {
            "land.parcel": Case(
                {"certificate_number": known}, {ErrorCode.NOT_FOUND: {"certificate_number": "99999.99999"}}
            )
        }

    def test_the_package_is_served_on_its_major_version_subject(self, mpp_hub: Harness) -> None:
        from contracts import OPERATIONS

        assert OPERATIONS.get("land.parcel").subject == "mpp.v2.land.parcel"
        parcel = mpp_hub.call("land.parcel", {"certificate_number": "11001.00042"})
        assert parcel.model_dump()["area_m2"] == 312

    def test_a_read_is_audited_under_the_title_number(self, mpp_hub: Harness) -> None:
        before = len(mpp_hub.who_read("11001.00077"))
        mpp_hub.call("land.parcel", {"certificate_number": "11001.00077"})
        added = mpp_hub.who_read("11001.00077")[before:]
        assert [(r.operation, r.subject_kind, r.outcome) for r in added] == [("land.parcel", "land_certificate", "ok")]

    def test_the_title_number_in_the_agency_path_is_masked_in_the_log(self, mpp_hub: Harness) -> None:
        mark = mpp_hub.logs.mark()
        mpp_hub.faults(outage=True)  # the hub logs the agency path it could not reach
        try:
            reply = mpp_hub.request("land.parcel", {"certificate_number": "11001.00042"})
        finally:
            mpp_hub.clear_faults()
        assert reply.error is not None and reply.error.code is ErrorCode.AGENCY_UNAVAILABLE
        lines = mpp_hub.logs.lines_since(mark)
        assert any("/api/persil/11*******42" in line for line in lines), "the path is logged, masked"
        assert not [line for line in lines if "11001.00042" in line]
