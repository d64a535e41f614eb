"""Fixtures of this distribution's own tests: its sandbox on a real loopback socket, and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from hub.testing import serving

from mpp_plugin_oss import plugin, sandbox
from mpp_plugin_oss.client import OssClient, OssSettings


@pytest.fixture
async def oss_sandbox_url() -> AsyncIterator[str]:
    """The sandbox served over HTTP on a free port; its root URL (the methods are under /v1/kl/rba)."""
    async with serving(sandbox.create_app()) as url:
        yield url


@pytest.fixture
def oss_settings(oss_sandbox_url: str) -> dict[str, Any]:
    """The plugin's settings for the running sandbox, as the hub's sandbox mode gives them."""
    return dict(plugin.mpp_hub_sandbox().settings(oss_sandbox_url))


@pytest.fixture
async def oss_client(oss_settings: dict[str, Any]) -> AsyncIterator[OssClient]:
    client = await OssClient.connect(OssSettings.model_validate(oss_settings))
    try:
        yield client
    finally:
        await client.aclose()
