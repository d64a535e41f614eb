"""Regional banks speaking Bank Indonesia's SNAP standard, as one MPP Hub plugin serving each as a provider.

It issues closed virtual-account bills, answers their status, and receives each bank's signed payment
notification at ``POST /callbacks/<provider>/v1.0/transfer-va/payment``. ``[plugins.bank]`` configures the
mall's own bank (Bank Jateng in the sandbox), provider ``bank``; every ``[plugins.bank.providers.<name>]`` one
more bank, provider ``<name>``. Sandbox mode runs two: Bank Jateng and the fictional Bank Contoh Syariah.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts import AgencyKind
from hub import Agency, ProviderSandbox, Sandbox, Served, hookimpl
from plugins.bank import _data, _keys, sandbox
from plugins.bank.client import BankClient, BankSettings

__version__ = "0.2.0"


@hookimpl
def mpp_hub_agency() -> Agency[BankSettings, BankClient]:
    return Agency(
        code="bank",
        name="Banks (SNAP BI virtual accounts)",
        kind=AgencyKind.REGIONAL_OWNED,
        version=__version__,
        settings=BankSettings,
        connect=BankClient.connect,
        operations={
            # The schema hashes this plugin was written against (`mpp-hub contract export`).
            "payment.create_bill": Served(BankClient.create_bill, schema_hash="3f6f8c1ac5574480"),
            "payment.bill_status": Served(BankClient.bill_status, schema_hash="851eb25297f71c9e"),
        },
        callbacks={"v1.0/transfer-va/payment": BankClient.on_payment},
    )


def _sandbox_settings(base_url: str, config: sandbox.SandboxConfig | None = None) -> Mapping[str, Any]:
    """The settings that point the plugin at sandbox bank ``config`` (Bank Jateng's by default)."""
    config = config or sandbox.SandboxConfig()
    return {
        "base_url": base_url,
        "bank_name": config.bank_name,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "private_key_pem": _keys.private_pem(_keys.hub_key(config.provider)),
        "bank_public_key_pem": _keys.public_pem(_keys.bank_key(config.provider)),
        "partner_id": config.partner_id,
        "channel_id": config.channel_id,
        "partner_service_id": config.company_code,
    }


def _samples(config: sandbox.SandboxConfig | None = None) -> Mapping[str, Sequence[str]]:
    return {"virtual_account": _data.virtual_accounts((config or sandbox.SandboxConfig()).company_code)}


@hookimpl
def mpp_hub_sandbox() -> Sandbox:
    jateng = sandbox.SandboxConfig()
    return Sandbox(
        agency="bank",
        app=lambda ctx: sandbox.create_app(jateng, ctx=ctx),
        settings=lambda url: _sandbox_settings(url, jateng),
        samples=lambda: _samples(jateng),
    )


@hookimpl(specname="mpp_hub_sandbox")
def contoh_sandbox() -> Sandbox:
    """The second sandbox bank, a provider of its own: ``[plugins.bank.providers.bank_contoh]`` in sandbox mode."""
    contoh = sandbox.CONTOH
    return ProviderSandbox(
        agency=contoh.provider,
        of="bank",
        app=lambda ctx: sandbox.create_app(contoh, ctx=ctx),
        settings=lambda url: _sandbox_settings(url, contoh),
        samples=lambda: _samples(contoh),
    )
