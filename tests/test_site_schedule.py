"""The sites' schedule (MPP bergerak) on a real bus: the store (put, on, upcoming, remove), `mpp-hub site
schedule` (add, list, remove; refusals with exit code 2 and no traceback), and ``GET /v1/sites/schedule`` over
real HTTP, public and bounded."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from nats.aio.client import Client

from contracts import ContractError, ErrorCode, SiteVisit
from hub._bus_access import BusAccess
from hub._roles import Role
from hub._routes_sites import MAX_DAYS
from hub._site_schedule import SiteSchedule, visit_key
from hub._site_schedule_cli import schedule
from hub._time import WIB, utcnow
from hub.testing._bus import TestBus
from tests._stack import Stack
from tests.conftest import bus_env, connect

_FAR = dt.date(2031, 3, 3)  # a Monday, far from today: the store's tests list days no other test fills


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BusAccess]:
    """A bus of this module's own: its listings cover whole weeks, which nothing else may fill."""
    server = TestBus(tmp_path_factory.mktemp("sites-bus"))
    yield server.start()
    server.stop()


@pytest.fixture
async def admin(bus: BusAccess) -> AsyncIterator[Client]:
    nc = await connect(bus, Role.ADMIN)
    yield nc
    await nc.close()


def _site() -> str:
    return f"van-{uuid.uuid4().hex[:6]}"


def _visit(site: str, day: dt.date, place: str = "Balai Desa Kedungbanteng", **changes: Any) -> SiteVisit:
    fields: dict[str, Any] = {
        "site": site, "day": day, "place": place, "opens": dt.time(8), "closes": dt.time(14),
        "services": ("dukcapil", "samsat"), **changes,
    }  # fmt: skip
    return SiteVisit(**fields)


def _today() -> dt.date:
    return utcnow().astimezone(WIB).date()


async def test_a_visit_is_put_read_listed_and_removed(bus: BusAccess, admin: Client) -> None:
    book = await SiteSchedule.open(admin.jetstream())
    van, kiosk = _site(), _site()
    days = [_FAR + dt.timedelta(days=n) for n in range(4)]
    for visit in (
        _visit(van, days[2]), _visit(kiosk, days[0], "Kantor Kecamatan Slawi"), _visit(van, days[0]),
        _visit(van, days[3]),
    ):  # fmt: skip
        await book.put(visit)
    assert await book.on(van, days[1]) is None
    assert await book.on(van, days[0]) == _visit(van, days[0])

    # Every site's, by day then site, from the start for the days asked; past days are kept.
    listed = await book.upcoming(days[0], days=3)
    assert [(v.day, v.site) for v in listed] == sorted([(days[0], van), (days[0], kiosk), (days[2], van)])
    assert [v.day for v in await book.upcoming(days[1], days=3, site=van)] == [days[2], days[3]]
    assert [v.site for v in await book.upcoming(days[0], days=1, site=kiosk)] == [kiosk]

    # A site has one entry a day: a second put replaces it.
    await book.put(_visit(van, days[2], "Pasar Banjaran", services=("bpjs",)))
    replaced = await book.on(van, days[2])
    assert replaced is not None and replaced.place == "Pasar Banjaran" and replaced.services == ("bpjs",)
    assert [v.place for v in await book.upcoming(days[2], days=1, site=van)] == ["Pasar Banjaran"]

    assert await book.remove(van, days[2]) is True
    assert await book.remove(van, days[2]) is False
    assert await book.on(van, days[2]) is None
    assert [v.day for v in await book.upcoming(days[0], days=4, site=van)] == [days[0], days[3]]

    # What the entry holds is the SiteVisit, at visit.<site>.<YYYYMMDD>; the roles that read it can.
    entry = await (await admin.jetstream().key_value("mpp_sites")).get(visit_key(van, days[0]))
    assert entry.key == f"visit.{van}.20310303" and SiteVisit.model_validate_json(entry.value or b"").site == van
    for role in (Role.EDGE, Role.CLI, Role.OPS, Role.WORKER):
        reader = await connect(bus, role)
        try:
            seen = await (await SiteSchedule.open(reader.jetstream())).on(van, days[0])
            assert seen == _visit(van, days[0]), role
        finally:
            await reader.close()


# --- the command line ------------------------------------------------------------------------------------------


@pytest.fixture
def cli(bus: BusAccess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """`mpp-hub site schedule` run in a directory without settings, on this module's bus, with its credentials."""
    monkeypatch.chdir(tmp_path)
    return CliRunner(env=bus_env(bus))


def _run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(schedule, list(args), catch_exceptions=False)


def test_the_cli_adds_lists_and_removes_a_visit(cli: CliRunner) -> None:
    van = _site()
    day = _today() + dt.timedelta(days=2)
    added = _run(
        cli, "add", van, "--day", day.isoformat(), "--place", "Balai Desa Dukuhwaru", "--opens", "08:00",
        "--closes", "13:30", "--services", "dukcapil, samsat", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout) == {
        "site": van, "day": day.isoformat(), "place": "Balai Desa Dukuhwaru", "opens": "08:00:00",
        "closes": "13:30:00", "services": ["dukcapil", "samsat"], "replaced": False,
    }  # fmt: skip
    human = _run(cli, "add", van, "--day", day.isoformat(), "--place", "Pasar Dukuhwaru", "--opens", "09:00",
                 "--closes", "12:00", "--services", "bpjs")  # fmt: skip
    assert human.exit_code == 0 and human.stdout.startswith("replaced: ") and "09:00-12:00 WIB" in human.stdout
    assert "is registered on the hub yet" in human.stderr  # nobody ran `mpp-hub site add` for it

    listed = _run(cli, "list", "--site", van, "--days", "3", "--json")
    assert listed.exit_code == 0, listed.output
    assert [(v["day"], v["place"], v["services"]) for v in json.loads(listed.stdout)] == [
        (day.isoformat(), "Pasar Dukuhwaru", ["bpjs"])
    ]
    assert json.loads(_run(cli, "list", "--site", van, "--days", "2", "--json").stdout) == []  # today, tomorrow
    table = _run(cli, "list", "--site", van)
    assert "Pasar Dukuhwaru" in table.stdout and van in table.stdout and "[bpjs]" in table.stdout

    removed = _run(cli, "remove", van, "--day", day.isoformat())
    assert removed.exit_code == 0 and f"removed: {van}" in removed.stdout
    again = _run(cli, "remove", van, "--day", day.isoformat(), "--json")
    assert again.exit_code == 1 and ContractError.model_validate_json(again.stdout).code is ErrorCode.NOT_FOUND
    assert "no visit scheduled" in _run(cli, "list", "--site", van).stdout


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"--services": "dukcapil,paspor"}, "paspor is not a queue service of this hub (front.services lists bank"),
        ({"--opens": "8am"}, "--opens '8am' is not a time: give HH:MM"),
        ({"--closes": "25:00"}, "--closes '25:00' is not a time"),
        ({"--opens": "14:00", "--closes": "08:00"}, "closes must be later than opens"),
        ({"--day": "04-05-2026"}, "--day '04-05-2026' is not a day: give YYYY-MM-DD"),
        ({"--day": "2026-02-30"}, "--day '2026-02-30' is not a day"),
        ({"--place": "  "}, "--place:"),
        ({"SITE": "Van 1"}, "'Van 1' is not a site's name"),
    ],
)
def test_the_cli_refuses_bad_input_with_exit_code_2(cli: CliRunner, changes: dict[str, str], says: str) -> None:
    options = {
        "SITE": _site(), "--day": _today().isoformat(), "--place": "Balai Desa", "--opens": "08:00",
        "--closes": "14:00", "--services": "dukcapil", **changes,
    }  # fmt: skip
    site = options.pop("SITE")
    args = ["add", site, *[part for pair in options.items() for part in pair]]
    human = _run(cli, *args)
    assert human.exit_code == 2, human.output
    assert human.stderr.startswith("error: invalid_input: ") and says in human.stderr, human.stderr
    assert "Traceback" not in human.output
    machine = _run(cli, *args, "--json")
    assert machine.exit_code == 2
    error = ContractError.model_validate_json(machine.stdout)
    assert error.code is ErrorCode.INVALID_INPUT and says in error.message
    if "SITE" not in changes:  # and nothing was written
        assert json.loads(_run(cli, "list", "--site", site, "--json").stdout) == []


# --- over HTTP -------------------------------------------------------------------------------------------------


@pytest.fixture
async def edge(bus: BusAccess) -> AsyncIterator[Stack]:
    async with Stack(bus) as stack:
        yield stack


async def test_the_schedule_is_public_over_http_from_today(edge: Stack, admin: Client) -> None:
    book = await SiteSchedule.open(admin.jetstream())
    van = _site()
    today = _today()
    for offset in (-1, 0, 3, MAX_DAYS - 1, MAX_DAYS):
        await book.put(_visit(van, today + dt.timedelta(days=offset), f"Tempat {offset}"))

    answer = await edge.http.get("/v1/sites/schedule")  # no key: nothing in it is personal
    assert answer.status_code == 200, answer.text
    mine = [SiteVisit.model_validate(v) for v in answer.json() if v["site"] == van]
    assert [v.place for v in mine] == ["Tempat 0", "Tempat 3"]  # 14 days from today; yesterday is not shown
    days = [v["day"] for v in answer.json()]
    assert days == sorted(days)
    for asked, places in ((1, ["Tempat 0"]), (MAX_DAYS, ["Tempat 0", "Tempat 3", f"Tempat {MAX_DAYS - 1}"])):
        found = await edge.http.get("/v1/sites/schedule", params={"days": asked})
        assert [v["place"] for v in found.json() if v["site"] == van] == places

    for bad in ("0", str(MAX_DAYS + 1), "lots"):
        refused = await edge.http.get("/v1/sites/schedule", params={"days": bad})
        assert refused.status_code == 400, refused.text
        error = ContractError.model_validate_json(refused.content)
        assert error.code is ErrorCode.INVALID_INPUT and [issue.field for issue in error.issues] == ["query.days"]

    document = (await edge.http.get("/openapi.json")).json()
    route = document["paths"]["/v1/sites/schedule"]["get"]
    schema = route["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["items"] == {"$ref": "#/components/schemas/SiteVisit"}
    days_param = next(p for p in route["parameters"] if p["name"] == "days")
    assert days_param["schema"]["minimum"] == 1 and days_param["schema"]["maximum"] == MAX_DAYS
    assert not [p for p in route["parameters"] if p["in"] == "header"]  # no key asked for
