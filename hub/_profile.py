"""The citizen profile: identity, health coverage and vehicles fetched side by side within one budget."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from contracts import (
    CitizenProfile,
    ContractError,
    ErrorCode,
    HubError,
    PartStatus,
)
from hub._access import Caller
from hub._client import HubClient
from hub._consumers import Consumer
from hub._plugins import PluginSet
from hub._time import utcnow

__all__ = ["PARTS", "fetch_profile"]

#: Profile part -> the contract operation that fills it.
PARTS = {"identity": "identity.lookup", "health": "health.coverage", "vehicles": "vehicle.list_by_owner"}


async def _part(
    client: HubClient, plugins: PluginSet, operation: str, nik: str, caller: Caller, consumer: Consumer, budget: float
) -> dict[str, Any]:
    agency = plugins.agency_for(operation)
    started = time.perf_counter()
    data, error = None, None
    try:
        if consumer.fields_for(operation) is not None:
            # A profile part is the whole reply; nothing is fetched that would be cut down to fit the rights.
            raise HubError.of(
                ErrorCode.FORBIDDEN,
                f"Consumer {consumer.name!r} may read only some fields of {operation}, and the profile gives whole "
                f"parts: call POST /v1/{operation} for those fields",
            )
        data = await client.call(
            operation, {"nik": nik}, correlation_id=caller.correlation_id, timeout=budget, consumer=consumer.name,
            purpose=caller.purpose, channel=caller.channel, officer=caller.officer, consent=caller.consent,
        )  # fmt: skip
    except HubError as exc:
        error = exc.error
    except Exception as exc:  # one part's fault must not take the others down
        error = ContractError(
            code=ErrorCode.INTERNAL, message=f"fetching this part failed ({type(exc).__name__})", retryable=False
        )
    return {
        "operation": operation,
        "agency": agency.code if agency else (error.agency if error else None),
        "status": PartStatus.FAILED if error else PartStatus.OK,
        "fetched_at": utcnow(),
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 2),
        "data": data,
        "error": error,
    }


async def fetch_profile(
    client: HubClient, plugins: PluginSet, nik: str, caller: Caller, consumer: Consumer, *, budget: float
) -> CitizenProfile:
    """Every part within ``budget`` seconds: a slow or failing agency costs its own part, never the others."""
    names = list(PARTS)
    results = await asyncio.gather(*(_part(client, plugins, PARTS[n], nik, caller, consumer, budget) for n in names))
    complete = all(part["status"] is PartStatus.OK for part in results)
    return CitizenProfile.model_validate({"nik": nik, "complete": complete, **dict(zip(names, results, strict=True))})
