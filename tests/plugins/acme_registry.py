"""A third-party-style plugin: a regional population register serving identity.lookup from memory.

The tests install it through a fake ``*.dist-info`` with an ``mpp_hub`` entry point, exactly as a
pip-installed plugin would arrive, to prove the hub serves it with no change to hub/.
"""

from __future__ import annotations

from contracts import OPERATIONS, AgencyHealth, AgencyKind, ErrorCode, HealthStatus, HubError, LookupByNik, Resident
from hub import Agency, AgencySettings, CallbackReply, CallContext, Event, InboundRequest, Served, hookimpl, utcnow

PEOPLE = {
    "3376015203850002": {
        "nik": "3376015203850002",
        "kk_number": "3376011006100003",
        "full_name": "DEWI LESTARI",
        "birth_place": "TEGAL",
        "birth_date": "1985-03-12",
        "sex": "female",
        "address": {
            "street": "JL. KARTINI NO. 3",
            "rt": "001",
            "rw": "004",
            "village": {"code": "33.76.01.1001", "name": "KEJAMBON"},
            "district": {"code": "33.76.01", "name": "TEGAL SELATAN"},
            "regency": {"code": "33.76", "name": "KOTA TEGAL"},
            "province": {"code": "33", "name": "JAWA TENGAH"},
        },
    }
}


class AcmeSettings(AgencySettings):
    greeting: str = "hello"


class AcmeRegister:
    async def lookup(self, query: LookupByNik, ctx: CallContext) -> Resident:
        if query.nik not in PEOPLE:
            raise HubError.of(ErrorCode.NOT_FOUND, "not in the ACME register", agency="acme")
        return Resident.model_validate(PEOPLE[query.nik])

    async def on_notify(self, request: InboundRequest) -> CallbackReply:
        """ACME tells the hub a resident moved; it repeats itself until it gets a 200."""
        if request.headers.get("x-acme-token") != "let-me-in":
            return CallbackReply(status=401, body={"status": "who are you?"})
        if b"boom" in request.body:
            raise RuntimeError("plugin bug")
        notice = LookupByNik.model_validate_json(request.body)
        event = Event("acme.moved", notice, dedup_id=f"acme:{notice.nik}")
        return CallbackReply(status=200, body={"status": "noted"}, headers={"X-Acme": "1"}, events=[event])

    async def health(self) -> AgencyHealth:
        return AgencyHealth(agency="acme", status=HealthStatus.UP, detail="in memory", checked_at=utcnow())

    async def aclose(self) -> None:
        pass


async def _connect(settings: AcmeSettings) -> AcmeRegister:
    return AcmeRegister()


# A real third-party plugin pins the literal hash; reading it here keeps this fixture valid as the contract grows.
SCHEMA_HASH = OPERATIONS.get("identity.lookup").schema_hash


@hookimpl
def mpp_hub_agency() -> Agency[AcmeSettings, AcmeRegister]:
    return Agency(
        code="acme",
        name="ACME regional register",
        kind=AgencyKind.REGIONAL,
        version="2.0.0",
        settings=AcmeSettings,
        connect=_connect,
        operations={"identity.lookup": Served(AcmeRegister.lookup, schema_hash=SCHEMA_HASH)},
        callbacks={"notify": AcmeRegister.on_notify},
    )
