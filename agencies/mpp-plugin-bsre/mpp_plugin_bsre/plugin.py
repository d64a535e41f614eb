"""BSrE (BSSN) as an MPP Hub plugin: the hooks the hub calls, and nothing else.

Registered through the ``mpp_hub`` entry-point group in pyproject.toml. It brings its own contract package
(``document.*``, :mod:`mpp_plugin_bsre.contract`) and serves it against BSrE's eSign Client Service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts import AgencyKind, ContractPackage
from hub import Agency, Sandbox, Served, hookimpl

from mpp_plugin_bsre import _data, sandbox
from mpp_plugin_bsre.client import BsreClient, BsreSettings
from mpp_plugin_bsre.contract import CONTRACT

__version__ = "0.1.0"


@hookimpl
def mpp_hub_contract() -> ContractPackage:
    return CONTRACT


@hookimpl
def mpp_hub_agency() -> Agency[BsreSettings, BsreClient]:
    return Agency(
        code="bsre",
        name="BSrE (BSSN)",
        kind=AgencyKind.VERTICAL,
        version=__version__,
        settings=BsreSettings,
        connect=BsreClient.connect,
        operations={
            # The schema hashes this plugin was written against: the hub refuses the plugin, rather than fail on
            # the wire, if the package it loads ever differs.
            "document.sign": Served(BsreClient.sign, schema_hash="1a802055881c6e69"),
            "document.verify": Served(BsreClient.verify, schema_hash="5950836395341179"),
            "document.signer_status": Served(BsreClient.signer_status, schema_hash="fa4d3ddb6c66557e"),
        },
    )


def _sandbox_settings(base_url: str) -> Mapping[str, Any]:
    """Settings that point the plugin at a sandbox running at ``base_url`` (its obviously fake account)."""
    return {"base_url": base_url, "username": sandbox.SANDBOX_USERNAME, "password": sandbox.SANDBOX_PASSWORD}


def _samples() -> Mapping[str, Sequence[str]]:
    """Signers (those able to sign first), their sandbox passphrases in the same order, and a sample PDF."""
    niks = _data.sample_niks()
    return {
        "nik": niks,
        "passphrase": [_data.SIGNERS[nik].passphrase for nik in niks],
        "document": [sandbox.sample_document()],
    }


@hookimpl
def mpp_hub_sandbox() -> Sandbox:
    return Sandbox(agency="bsre", app=lambda _: sandbox.create_app(), settings=_sandbox_settings, samples=_samples)
