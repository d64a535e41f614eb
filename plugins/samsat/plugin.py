"""Samsat Jawa Tengah (vehicle tax: Bapenda, the police and Jasa Raharja) as an MPP Hub plugin.

Registered through the ``mpp_hub`` entry-point group like any third-party plugin.

``vehicle.tax_due`` of a paid-up vehicle answers a zero bill: every amount 0, status ``paid``, and a
period that starts and ends on the current due date. Posting a payment moves the due date on by the
number of years the bill covered (one, unless the vehicle was years in arrears).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts import AgencyKind
from hub import Agency, Sandbox, Served, hookimpl
from plugins.samsat import _data, sandbox
from plugins.samsat.client import SamsatClient, SamsatSettings

__version__ = "0.1.0"


@hookimpl
def mpp_hub_agency() -> Agency[SamsatSettings, SamsatClient]:
    return Agency(
        code="samsat",
        name="Samsat Jawa Tengah (vehicle tax)",
        kind=AgencyKind.REGIONAL,
        version=__version__,
        settings=SamsatSettings,
        connect=SamsatClient.connect,
        operations={
            # The schema hashes this plugin was written against (`mpp-hub contract export`).
            "vehicle.list_by_owner": Served(SamsatClient.list_by_owner, schema_hash="dead1d2b94c0166b"),
            "vehicle.tax_due": Served(SamsatClient.tax_due, schema_hash="d03e450ca0b20960"),
            "vehicle.record_payment": Served(SamsatClient.record_payment, schema_hash="ac15015fe20d34d0"),
        },
    )


def _sandbox_settings(base_url: str) -> Mapping[str, Any]:
    config = sandbox.SandboxConfig()
    return {"base_url": base_url, "key_id": config.key_id, "secret": config.secret}


def _samples() -> Mapping[str, Sequence[str]]:
    return _data.samples()


@hookimpl
def mpp_hub_sandbox() -> Sandbox:
    return Sandbox(agency="samsat", app=lambda _: sandbox.create_app(), settings=_sandbox_settings, samples=_samples)
