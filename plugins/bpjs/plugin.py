"""BPJS Kesehatan (national health insurance, VClaim web service) as an MPP Hub plugin.

Registered through the ``mpp_hub`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts import AgencyKind
from hub import Agency, Sandbox, Served, hookimpl
from plugins.bpjs import _data, sandbox
from plugins.bpjs.client import BpjsClient, BpjsSettings

__version__ = "0.1.0"


@hookimpl
def mpp_hub_agency() -> Agency[BpjsSettings, BpjsClient]:
    return Agency(
        code="bpjs",
        name="BPJS Kesehatan (national health insurance)",
        kind=AgencyKind.STATE_OWNED,
        version=__version__,
        settings=BpjsSettings,
        connect=BpjsClient.connect,
        operations={
            # The schema hash this plugin was written against (`mpp-hub contract export`).
            "health.coverage": Served(BpjsClient.coverage, schema_hash="5a1980ba4e62a317"),
        },
    )


def _sandbox_settings(base_url: str) -> Mapping[str, Any]:
    config = sandbox.SandboxConfig()
    return {
        "base_url": base_url.rstrip("/") + config.base_path,
        "cons_id": config.cons_id,
        "secret": config.secret,
        "user_key": config.user_key,
    }


def _samples() -> Mapping[str, Sequence[str]]:
    return _data.sample_ids()


@hookimpl
def mpp_hub_sandbox() -> Sandbox:
    return Sandbox(agency="bpjs", app=lambda _: sandbox.create_app(), settings=_sandbox_settings, samples=_samples)
