"""A regional water utility (PDAM) as an MPP Hub plugin: the hooks the hub calls, and nothing else.

Registered through the ``mpp_hub`` entry-point group in pyproject.toml. It brings its own contract package
(``water.*``), so the hub serves a new agency's new operation with no change to the hub.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts import AgencyKind, ContractPackage
from hub import Agency, Sandbox, Served, hookimpl

from mpp_plugin_pdam import _data, _wire, sandbox
from mpp_plugin_pdam.client import PdamClient, PdamSettings
from mpp_plugin_pdam.contract import CONTRACT

__version__ = "0.1.0"


@hookimpl
def mpp_hub_contract() -> ContractPackage:
    return CONTRACT


@hookimpl
def mpp_hub_agency() -> Agency[PdamSettings, PdamClient]:
    return Agency(
        code=_wire.AGENCY,
        name=_wire.NAME,
        kind=AgencyKind.REGIONAL_OWNED,
        version=__version__,
        settings=PdamSettings,
        connect=PdamClient.connect,
        operations={
            # The schema hash this plugin was written against: the hub refuses the plugin, rather than fail
            # on the wire, if the package's shape of water.bill ever differs.
            "water.bill": Served(PdamClient.bill, schema_hash="fc30499ca1dd5a03"),
        },
    )


def _sandbox_settings(base_url: str) -> Mapping[str, Any]:
    """Settings that point the plugin at a sandbox running at ``base_url`` (its obviously fake key)."""
    return {"base_url": base_url, "service_path": sandbox.SERVICE_PATH, "api_key": sandbox.SANDBOX_API_KEY}


def _samples() -> Mapping[str, Sequence[str]]:
    return _data.samples()


@hookimpl
def mpp_hub_sandbox() -> Sandbox:
    return Sandbox(
        agency=_wire.AGENCY, app=lambda _: sandbox.create_app(), settings=_sandbox_settings, samples=_samples
    )
