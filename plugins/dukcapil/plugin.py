"""Dukcapil (civil registry, Ditjen Dukcapil, Ministry of Home Affairs) as an MPP Hub plugin.

Registered through the ``mpp_hub`` entry-point group like any third-party plugin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts import AgencyKind
from hub import Agency, Sandbox, Served, hookimpl
from plugins._synthetic import residents as _population
from plugins.dukcapil import sandbox
from plugins.dukcapil.client import DukcapilClient, DukcapilSettings

__version__ = "0.1.0"


@hookimpl
def mpp_hub_agency() -> Agency[DukcapilSettings, DukcapilClient]:
    return Agency(
        code="dukcapil",
        name="Ditjen Dukcapil (civil registry)",
        kind=AgencyKind.VERTICAL,
        version=__version__,
        settings=DukcapilSettings,
        connect=DukcapilClient.connect,
        operations={
            # The schema hashes this plugin was written against (`mpp-hub contract export`).
            "identity.lookup": Served(DukcapilClient.lookup, schema_hash="18617aa53ea92f62"),
            "identity.verify": Served(DukcapilClient.verify, schema_hash="87f607f5d7513893"),
            "identity.family": Served(DukcapilClient.family, schema_hash="0b868464f1e22efa"),
        },
    )


def _sandbox_settings(base_url: str) -> Mapping[str, Any]:
    config = sandbox.SandboxConfig()
    return {
        "base_url": base_url,
        "partner": config.partner_segment,
        "user_id": config.user_id,
        "password": config.password,
        "ip_user": config.ip_user,
    }


def _samples() -> Mapping[str, Sequence[str]]:
    return {"nik": _population.samples(), "kk_number": _population.kk_samples()}


@hookimpl
def mpp_hub_sandbox() -> Sandbox:
    return Sandbox(agency="dukcapil", app=lambda _: sandbox.create_app(), settings=_sandbox_settings, samples=_samples)
