"""SP4N-LAPOR! as an MPP Hub plugin: the hooks the hub calls, and nothing else.

Registered through the ``mpp_hub`` entry-point group in pyproject.toml. It brings its own contract package
(``complaint.*``), so the hub serves complaints with no change to the hub. The complaint process is the
distribution's second entry point (``mpp_plugin_lapor.process``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts import AgencyKind, ContractPackage
from hub import Agency, Sandbox, Served, hookimpl

from mpp_plugin_lapor import _wire, sandbox
from mpp_plugin_lapor.client import LaporClient, LaporSettings
from mpp_plugin_lapor.contract import CONTRACT

__version__ = "0.1.0"


@hookimpl
def mpp_hub_contract() -> ContractPackage:
    return CONTRACT


@hookimpl
def mpp_hub_agency() -> Agency[LaporSettings, LaporClient]:
    return Agency(
        code=_wire.AGENCY,
        name=_wire.NAME,
        kind=AgencyKind.VERTICAL,
        version=__version__,
        settings=LaporSettings,
        connect=LaporClient.connect,
        operations={
            # The schema hashes this plugin was written against (schema/operations.json): the hub refuses the
            # plugin, rather than fail on the wire, if the package's shape of an operation ever differs.
            "complaint.file": Served(LaporClient.file, schema_hash="169ee3674933716d"),
            "complaint.status": Served(LaporClient.status, schema_hash="562446dc0a151691"),
        },
    )


def _sandbox_settings(base_url: str) -> Mapping[str, Any]:
    """Settings that point the plugin at a sandbox running at ``base_url`` (its obviously fake token)."""
    return {"base_url": base_url, "token": sandbox.SANDBOX_TOKEN}


def _samples() -> Mapping[str, Sequence[str]]:
    return sandbox.samples()


@hookimpl
def mpp_hub_sandbox() -> Sandbox:
    return Sandbox(
        agency=_wire.AGENCY, app=lambda _: sandbox.create_app(), settings=_sandbox_settings, samples=_samples
    )
