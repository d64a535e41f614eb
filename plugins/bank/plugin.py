"""A regional bank (Bank Jateng style) speaking Bank Indonesia's SNAP standard, as an MPP Hub plugin.

It issues closed virtual-account bills, answers their status, and receives the bank's signed payment
notification at ``POST /callbacks/bank/v1.0/transfer-va/payment``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts import AgencyKind
from hub import Agency, Sandbox, Served, hookimpl
from plugins.bank import _data, _keys, sandbox
from plugins.bank.client import BankClient, BankSettings

__version__ = "0.1.0"


@hookimpl
def mpp_hub_agency() -> Agency[BankSettings, BankClient]:
    return Agency(
        code="bank",
        name="Bank Jateng (SNAP BI virtual accounts)",
        kind=AgencyKind.REGIONAL_OWNED,
        version=__version__,
        settings=BankSettings,
        connect=BankClient.connect,
        operations={
            # The schema hashes this plugin was written against (`mpp-hub contract export`).
            "payment.create_bill": Served(BankClient.create_bill, schema_hash="383c8d6f80c86357"),
            "payment.bill_status": Served(BankClient.bill_status, schema_hash="200efce898887dcc"),
        },
        callbacks={"v1.0/transfer-va/payment": BankClient.on_payment},
    )


def _sandbox_settings(base_url: str) -> Mapping[str, Any]:
    config = sandbox.SandboxConfig()
    return {
        "base_url": base_url,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "private_key_pem": _keys.private_pem(_keys.hub_key()),
        "bank_public_key_pem": _keys.public_pem(_keys.bank_key()),
        "partner_id": config.partner_id,
        "channel_id": config.channel_id,
        "partner_service_id": config.company_code,
    }


def _samples() -> Mapping[str, Sequence[str]]:
    return {"virtual_account": _data.virtual_accounts()}


@hookimpl
def mpp_hub_sandbox() -> Sandbox:
    return Sandbox(
        agency="bank", app=lambda ctx: sandbox.create_app(ctx=ctx), settings=_sandbox_settings, samples=_samples
    )
