"""The PDAM sandbox on a real loopback socket, for the tests that talk to it without a hub."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hub.testing import serving

from mpp_plugin_pdam import sandbox


@pytest.fixture
async def pdam_sandbox() -> AsyncIterator[str]:
    """The sandbox's base URL (the service root is ``sandbox.SERVICE_PATH`` under it)."""
    async with serving(sandbox.create_app()) as url:
        yield url
