"""The tests' own stack and polling helper: what they promise the other test modules."""

from __future__ import annotations

import httpx
import pytest

from contracts import ErrorCode, HubError
from hub._bus_access import BusAccess
from tests._stack import Grant, Stack
from tests._until import until, until_sync


async def test_a_stack_that_fails_half_way_stops_what_it_started(bus: BusAccess) -> None:
    """A consumer the registry refuses fails the start after the sandbox, the hub and the edge are up: all three
    are stopped again, and the caller gets the registry's own typed error."""
    stack = Stack(bus, agencies=["dukcapil"], consumers={"broken": Grant(["not a right"])})
    with pytest.raises(HubError) as refused:
        async with stack:
            pytest.fail("the stack started with a consumer the registry refuses")
    assert refused.value.code is ErrorCode.INVALID_INPUT and "allow.0" in refused.value.error.message
    assert stack.url and stack.hub.nc.is_closed
    async with httpx.AsyncClient(timeout=5) as http:
        for url in (stack.url, stack.sandboxes.url("dukcapil")):
            with pytest.raises(httpx.ConnectError):
                await http.get(f"{url}/healthz")


async def test_until_says_what_it_waited_for_and_what_it_saw() -> None:
    with pytest.raises(AssertionError, match=r"waiting for a letter; the probe last gave \[\]"):
        await until(list, "a letter", timeout=0.05)
    with pytest.raises(AssertionError, match=r"waiting for a connection; the probe last gave ConnectError"):
        until_sync(lambda: httpx.get("http://127.0.0.1:9/"), "a connection", 0.05, ignoring=(httpx.ConnectError,))
    assert await until(lambda: [1], "a list") == [1]
