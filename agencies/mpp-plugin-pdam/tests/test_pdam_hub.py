"""water.bill through a hub serving only this plugin: the package's operation is served like a core one, and
the customer number, the name and the address reach no log line."""

from __future__ import annotations

from decimal import Decimal

from contracts import ErrorCode
from hub.testing import Harness

from mpp_plugin_pdam.contract import WaterBills

_NUMBER = "9900000101"
_PERSONAL = (_NUMBER, "WARGA CONTOH SATU", "JL. CONTOH NO. 1")


class TestPdamThroughTheHub:
    """A hub serving only this plugin (named here, so the tests run under any pytest configuration)."""

    plugin = "pdam"

    def test_the_hub_serves_the_package_operation(self, mpp_hub: Harness) -> None:
        assert mpp_hub.operations == ["water.bill"]
        bills = mpp_hub.call("water.bill", {"customer_number": _NUMBER})
        assert isinstance(bills, WaterBills)
        assert [bill.period for bill in bills.bills] == ["2026-09", "2026-10"]
        assert bills.total_due == Decimal("78300.00")

    def test_the_reply_carries_amounts_as_strings_with_sen(self, mpp_hub: Harness) -> None:
        reply = mpp_hub.request("water.bill", {"customer_number": _NUMBER})
        assert reply.error is None
        body = reply.json()
        assert body["total_due"] == "78300.00"
        assert body["bills"][0]["penalty"] == "10000.00"

    def test_a_malformed_number_is_refused_before_the_pdam_is_asked(self, mpp_hub: Harness) -> None:
        reply = mpp_hub.request("water.bill", {"customer_number": "99-0000-0101"})
        assert reply.error is not None and reply.error.code is ErrorCode.INVALID_INPUT
        assert "6 to 12 digits" in reply.error.message

    def test_the_customer_number_name_and_address_reach_no_log_line(self, mpp_hub: Harness) -> None:
        mark = mpp_hub.logs.mark()
        for number in (_NUMBER, "9900009999"):
            mpp_hub.request("water.bill", {"customer_number": number})
        lines = mpp_hub.logs.lines_since(mark)
        assert any("water.bill" in line for line in lines), "no log line of the calls was captured"
        leaked = [line for line in lines for value in (*_PERSONAL, "9900009999") if value in line]
        assert leaked == []
