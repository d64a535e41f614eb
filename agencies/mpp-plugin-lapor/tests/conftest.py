"""The LAPOR! sandbox on a real loopback socket, behind the hub's fault injector and its admin token, for the tests
that talk to it without a hub."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hub._faults import with_faults
from hub.testing import serving

from mpp_plugin_lapor import sandbox

#: The admin token of the sandbox's /_sandbox/ routes in these tests (``mpp-hub up`` draws its own).
ADMIN_TOKEN = "sandbox-admin-token-for-tests"


@pytest.fixture
async def lapor_sandbox() -> AsyncIterator[str]:
    """The sandbox's base URL; its /_sandbox/ routes, faults included, need ``ADMIN_TOKEN`` as a bearer token."""
    async with serving(with_faults(sandbox.create_app(), admin_token=ADMIN_TOKEN)) as url:
        yield url


@pytest.fixture
def admin() -> dict[str, str]:
    """The headers of a request to the sandbox's /_sandbox/ routes."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
