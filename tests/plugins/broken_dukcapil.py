"""Deliberately broken variants of the Dukcapil plugin, each with one mistake the conformance suite must catch.

Each is a plugin object (``tests.plugins.broken_dukcapil:unvalidated_reply`` and so on) serving
identity.lookup against Dukcapil's real sandbox; the suite runs them through ``-p hub.testing``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from contracts import OPERATIONS, AgencyKind, LookupByNik, Resident
from hub import Agency, CallContext, Sandbox, Served, hookimpl
from plugins.dukcapil import _wire
from plugins.dukcapil import plugin as dukcapil
from plugins.dukcapil.client import DukcapilClient, DukcapilSettings

_stdlib_log = logging.getLogger("broken_dukcapil")

Lookup = Callable[[DukcapilClient, LookupByNik, CallContext], Awaitable[Resident]]


async def _reply_that_does_not_validate(client: DukcapilClient, query: LookupByNik, ctx: CallContext) -> Resident:
    resident = await client.lookup(query, ctx)
    # model_construct skips validation: a NIK of five digits goes out on the bus.
    return Resident.model_construct(**{**dict(resident), "nik": "33280"})


async def _unmapped_refusal(client: DukcapilClient, query: LookupByNik, ctx: CallContext) -> Resident:
    body = await client._post("CALL_NIK", {"nik": query.nik}, ctx.remaining())
    # Reads the record without looking for Dukcapil's refusal ({"RESPON": "Data Tidak Ditemukan"}): a KeyError.
    nik = body["content"][0]["NIK"]
    return _wire.to_resident({**_wire.first_record(body), "NIK": nik})


async def _leaky_lookup(client: DukcapilClient, query: LookupByNik, ctx: CallContext) -> Resident:
    _stdlib_log.warning("looking up NIK %s", query.nik)  # the mistake under test: a NIK in a log line
    return await client.lookup(query, ctx)


class _Broken:
    def __init__(self, lookup: Lookup) -> None:
        self._lookup = lookup

    @hookimpl
    def mpp_hub_agency(self) -> Agency[DukcapilSettings, DukcapilClient]:
        served: Served[Any] = Served(self._lookup, schema_hash=OPERATIONS.get("identity.lookup").schema_hash)
        return Agency(
            code="dukcapil",
            name="Dukcapil (deliberately broken)",
            kind=AgencyKind.VERTICAL,
            version="0.0.1",
            settings=DukcapilSettings,
            connect=DukcapilClient.connect,
            operations={"identity.lookup": served},
        )

    @hookimpl
    def mpp_hub_sandbox(self) -> Sandbox:
        return dukcapil.mpp_hub_sandbox()


unvalidated_reply = _Broken(_reply_that_does_not_validate)
unmapped_refusal = _Broken(_unmapped_refusal)
leaky_log = _Broken(_leaky_lookup)
