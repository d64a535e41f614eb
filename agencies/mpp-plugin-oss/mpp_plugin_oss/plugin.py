"""OSS-RBA (Kementerian Investasi/BKPM) as an MPP Hub plugin: the hooks the hub calls, and nothing else.

Registered through the ``mpp_hub`` entry-point group in pyproject.toml.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts import AgencyKind, ContractPackage
from hub import Agency, Sandbox, Served, hookimpl

from mpp_plugin_oss import sandbox
from mpp_plugin_oss._wire import AGENCY
from mpp_plugin_oss.client import OssClient, OssSettings
from mpp_plugin_oss.contract import CONTRACT

__version__ = "0.1.0"

NAME = "OSS-RBA (Kementerian Investasi/BKPM)"


@hookimpl
def mpp_hub_contract() -> ContractPackage:
    return CONTRACT


@hookimpl
def mpp_hub_agency() -> Agency[OssSettings, OssClient]:
    return Agency(
        code=AGENCY,
        name=NAME,
        kind=AgencyKind.VERTICAL,
        version=__version__,
        settings=OssSettings,
        connect=OssClient.connect,
        operations={
            # The schema hashes this plugin was written against: the hub refuses the plugin, rather than fail
            # on the wire, if the package's shape ever differs.
            "business.nib_lookup": Served(OssClient.lookup, schema_hash="461bdcb283aae7c9"),
            "business.nib_confirm": Served(OssClient.confirm, schema_hash="4b6acc2078893db3"),
        },
    )


def _sandbox_settings(base_url: str) -> Mapping[str, Any]:
    """Settings that point the plugin at a sandbox running at ``base_url`` (its obviously fake credentials)."""
    return {
        "base_url": f"{base_url.rstrip('/')}{sandbox.PREFIX}",
        "user_key": sandbox.SANDBOX_USER_KEY,
        "username": sandbox.SANDBOX_USERNAME,
        "password": sandbox.SANDBOX_PASSWORD,
    }


def _samples() -> Mapping[str, Sequence[str]]:
    return {"nib": sandbox.sample_nibs(), "owner_nik": sandbox.sample_owner_niks()}


@hookimpl
def mpp_hub_sandbox() -> Sandbox:
    return Sandbox(agency=AGENCY, app=lambda _: sandbox.create_app(), settings=_sandbox_settings, samples=_samples)
