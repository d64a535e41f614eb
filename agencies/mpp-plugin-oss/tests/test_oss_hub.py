"""The business package through a hub serving only this plugin: served like a core operation, malformed input
refused before OSS-RBA is asked, a look-up audited under the NIB (or the owner's NIK) it was about, and no NIB,
name or address in any log line."""

from __future__ import annotations

from contracts import ErrorCode
from hub.testing import Harness

from mpp_plugin_oss.contract import BusinessList

SOLE_PROPRIETOR = "9990000000013"
OWNER_NIK = "3376016503880001"
_PERSONAL = (SOLE_PROPRIETOR, OWNER_NIK, "SRI CONTOH SANDBOX", "JL. CONTOH NO. 1", "KEJAMBON")


class TestOssThroughTheHub:
    """A hub serving only this plugin (named here, so the tests run under any pytest configuration)."""

    plugin = "oss"

    def test_the_hub_serves_the_package_operations(self, mpp_hub: Harness) -> None:
        assert mpp_hub.operations == ["business.nib_confirm", "business.nib_lookup"]
        found = mpp_hub.call("business.nib_lookup", {"owner_nik": OWNER_NIK})
        assert isinstance(found, BusinessList) and [b.nib for b in found.businesses] == [SOLE_PROPRIETOR]

    def test_the_reply_carries_kbli_codes_risk_levels_and_dates_as_text(self, mpp_hub: Harness) -> None:
        reply = mpp_hub.request("business.nib_lookup", {"nib": "9990000000021"})
        assert reply.error is None
        (business,) = reply.json()["businesses"]
        assert [(a["kbli"], a["risk"]) for a in business["activities"]] == [
            ("10710", "medium_high"),
            ("01111", "high"),
        ]
        assert business["issued_on"] == "2021-08-12" and business["status"] == "permitted_to_operate"

    def test_neither_or_both_identifiers_are_refused_before_oss_is_asked(self, mpp_hub: Harness) -> None:
        mpp_hub.faults(outage=True)  # were OSS-RBA asked, the answer would be agency_unavailable
        try:
            for payload in ({}, {"nib": SOLE_PROPRIETOR, "owner_nik": OWNER_NIK}):
                reply = mpp_hub.request("business.nib_lookup", payload)
                assert reply.error is not None and reply.error.code is ErrorCode.INVALID_INPUT
                assert "give exactly one of nib" in reply.error.message
            reply = mpp_hub.request("business.nib_confirm", {"nib": SOLE_PROPRIETOR[:12]})
            assert reply.error is not None and reply.error.code is ErrorCode.INVALID_INPUT
            assert "NIB must be exactly 13 digits" in reply.error.message
        finally:
            mpp_hub.clear_faults()

    def test_a_lookup_is_audited_under_the_nib_or_the_owner_s_nik(self, mpp_hub: Harness) -> None:
        # The hub is shared by this class's tests: count what these two calls add.
        before = {s: len(mpp_hub.who_read(s)) for s in (SOLE_PROPRIETOR, OWNER_NIK)}
        by_nib = mpp_hub.request("business.nib_lookup", {"nib": SOLE_PROPRIETOR})
        by_owner = mpp_hub.request("business.nib_lookup", {"owner_nik": OWNER_NIK})
        assert by_nib.error is None and by_owner.error is None
        for subject, kind in ((SOLE_PROPRIETOR, "nib"), (OWNER_NIK, "nik")):
            added = mpp_hub.who_read(subject)[before[subject] :]
            assert [(r.operation, r.outcome, r.subject_kind) for r in added] == [("business.nib_lookup", "ok", kind)]
            assert added[0].subject_masked is not None and subject not in added[0].subject_masked

    def test_no_nib_nik_name_or_address_reaches_a_log_line(self, mpp_hub: Harness) -> None:
        mark = mpp_hub.logs.mark()
        mpp_hub.request("business.nib_lookup", {"nib": SOLE_PROPRIETOR})
        mpp_hub.request("business.nib_lookup", {"owner_nik": OWNER_NIK})
        mpp_hub.request("business.nib_confirm", {"nib": SOLE_PROPRIETOR})
        mpp_hub.request("business.nib_lookup", {"nib": "9990000000999"})
        lines = mpp_hub.logs.lines_since(mark)
        assert any("business.nib_lookup" in line for line in lines), "no log line of the calls was captured"
        leaked = [line for line in lines for value in (*_PERSONAL, "9990000000999") if value in line]
        assert leaked == []
