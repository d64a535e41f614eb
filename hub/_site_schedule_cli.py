"""`mpp-hub site schedule`: the sites' schedule, kept by the hub (:mod:`hub._site_schedule`).

    mpp-hub site schedule add van-1 --day 2026-05-04 --place "Balai Desa Kedungbanteng" --opens 08:00 \
        --closes 14:00 --services dukcapil,samsat
    mpp-hub site schedule remove van-1 --day 2026-05-04
    mpp-hub site schedule list [--site van-1] [--days 14] [--json]

Writing needs the admin role's NATS key (as `mpp-hub consumer add` does); listing reads as the CLI role. A
service must be one of the hub's queue services (``front.services``). Bad input ends the command with exit code
2 and an ``invalid_input`` message (as JSON on stdout with ``--json``), never a traceback.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from typing import IO, Any, TypeVar

import click
from nats.js.client import JetStreamContext
from pydantic import ValidationError

from contracts import SITE_NAME_PATTERN, ErrorCode, HubError, SiteVisit
from hub._roles import Role
from hub._site_schedule import SiteSchedule
from hub._site_state import SiteBook
from hub._time import WIB, utcnow

__all__ = ["schedule"]

T = TypeVar("T")

#: Exit code for input the command refuses (as click's usage errors).
EXIT_BAD_INPUT = 2
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_DAYS = ("Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu")
_FIELDS = {"site": "SITE", "day": "--day", "place": "--place", "opens": "--opens", "closes": "--closes"}


class _BadInput(click.ClickException):
    """Input the command refuses: ``invalid_input``, exit code 2; as a ContractError on stdout with ``--json``."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str, as_json: bool) -> None:
        super().__init__(message)
        self.as_json = as_json

    def show(self, file: IO[Any] | None = None) -> None:
        error = HubError.of(ErrorCode.INVALID_INPUT, self.message).error
        if self.as_json:
            click.echo(error.model_dump_json(indent=2))
        else:
            click.secho(f"error: {error.code.value}: {error.message}", fg="red", err=True)


nats_option = click.option("--nats-url", help="NATS server or cluster to use (env MPP_HUB_NATS_URL).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
day_option = click.option("--day", required=True, metavar="YYYY-MM-DD", help="The day, in WIB.")


@click.group()
def schedule() -> None:
    """Where and when each site (a service van, a kiosk) serves, and which services."""


def _on_schedule(
    nats_url: str | None, work: Callable[[SiteSchedule, JetStreamContext], Awaitable[T]], as_json: bool, role: Role
) -> T:
    """Run ``work`` on the schedule, as ``role``, the way every `mpp-hub` command reaches the bus."""
    from hub import cli  # here, not above: hub.cli attaches this group when it is imported

    async def with_schedule(js: JetStreamContext) -> T:
        return await work(await SiteSchedule.open(js), js)

    return cli._on_jetstream(cli._settings(nats_url=nats_url), with_schedule, as_json, role)


def _queue_services(nats_url: str | None) -> dict[str, str]:
    """The hub's queue services (``front.services``): code → name."""
    from hub import cli

    return {service.code: service.name for service in cli._settings(nats_url=nats_url).front.services}


def _day(text: str, as_json: bool) -> dt.date:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        with contextlib.suppress(ValueError):
            return dt.date.fromisoformat(text)
    raise _BadInput(f"--day {text!r} is not a day: give YYYY-MM-DD, as 2026-05-04", as_json)


def _time(option: str, text: str, as_json: bool) -> dt.time:
    if not _HHMM.fullmatch(text):
        raise _BadInput(f"{option} {text!r} is not a time: give HH:MM in WIB, as 08:00", as_json)
    return dt.time.fromisoformat(text)


def _site(site: str, as_json: bool) -> str:
    if not re.fullmatch(SITE_NAME_PATTERN, site):
        raise _BadInput(
            f"{site!r} is not a site's name: lowercase letters, digits and hyphens, 2 to 32 long (as van-1)", as_json
        )
    return site


def _services(text: str, known: dict[str, str], as_json: bool) -> tuple[str, ...]:
    codes = tuple(dict.fromkeys(code.strip() for code in text.split(",") if code.strip()))
    if not codes:
        raise _BadInput("--services names no service: give codes of front.services, as dukcapil,samsat", as_json)
    if unknown := [code for code in codes if code not in known]:
        verb = "is not a queue service" if len(unknown) == 1 else "are not queue services"
        listed = ", ".join(sorted(known))
        raise _BadInput(f"--services: {', '.join(unknown)} {verb} of this hub (front.services lists {listed})", as_json)
    return codes


def _refused(exc: ValidationError, as_json: bool) -> _BadInput:
    """A SiteVisit refused, naming each option (never a traceback)."""
    issues = []
    for error in exc.errors(include_input=False, include_url=False):
        where = _FIELDS.get(str(error["loc"][0]), str(error["loc"][0])) if error["loc"] else "--opens/--closes"
        issues.append(f"{where}: {str(error['msg']).removeprefix('Value error, ')}")
    return _BadInput("; ".join(issues), as_json)


def _line(visit: SiteVisit) -> str:
    hours = f"{visit.opens:%H:%M}-{visit.closes:%H:%M} WIB"
    day = f"{visit.day.isoformat()}  {_DAYS[visit.day.weekday()]:<7}"
    return f"{day} {visit.site:<12} {hours:<15} {visit.place}  [{', '.join(visit.services)}]"


def _today() -> dt.date:
    return utcnow().astimezone(WIB).date()


@schedule.command("add")
@click.argument("site")
@day_option
@click.option("--place", required=True, help="Where the site serves that day (as the citizen page shows it).")
@click.option("--opens", required=True, metavar="HH:MM", help="When it opens, in WIB.")
@click.option("--closes", required=True, metavar="HH:MM", help="When it closes, in WIB (later than --opens).")
@click.option(
    "--services", required=True, metavar="A,B", help="The queue services it offers that day (codes of front.services)."
)
@nats_option
@json_option
def schedule_add(
    site: str, day: str, place: str, opens: str, closes: str, services: str, nats_url: str | None, as_json: bool
) -> None:
    """Schedule SITE on a day: where, from when to when, which services; replaces the site's entry that day."""
    known = _queue_services(nats_url)
    try:
        visit = SiteVisit(
            site=_site(site, as_json), day=_day(day, as_json), place=place.strip(),
            opens=_time("--opens", opens, as_json), closes=_time("--closes", closes, as_json),
            services=_services(services, known, as_json),
        )  # fmt: skip
    except ValidationError as exc:
        raise _refused(exc, as_json) from None

    async def add(book: SiteSchedule, js: JetStreamContext) -> tuple[bool, bool]:
        replaced = await book.on(visit.site, visit.day) is not None
        await book.put(visit)
        registered = visit.site in await (await SiteBook.open(js)).names()
        return replaced, registered

    replaced, registered = _on_schedule(nats_url, add, as_json, Role.ADMIN)
    if as_json:
        click.echo(json.dumps({**visit.model_dump(mode="json"), "replaced": replaced}, indent=2))
        return
    click.echo(f"{'replaced' if replaced else 'scheduled'}: {_line(visit)}")
    if not registered:
        click.echo(f"  note: no site {visit.site} is registered on the hub yet (mpp-hub site add)", err=True)


@schedule.command("remove")
@click.argument("site")
@day_option
@nats_option
@json_option
def schedule_remove(site: str, day: str, nats_url: str | None, as_json: bool) -> None:
    """Take SITE's entry for a day off the schedule."""
    name, when = _site(site, as_json), _day(day, as_json)

    async def remove(book: SiteSchedule, _: JetStreamContext) -> bool:
        if not await book.remove(name, when):
            raise HubError.of(ErrorCode.NOT_FOUND, f"The schedule has no entry of {name} on {when.isoformat()}")
        return True

    _on_schedule(nats_url, remove, as_json, Role.ADMIN)
    if as_json:
        click.echo(json.dumps({"site": name, "day": when.isoformat(), "removed": True}, indent=2))
    else:
        click.echo(f"removed: {name} on {when.isoformat()}")


@schedule.command("list")
@click.option("--site", help="Only this site's entries.")
@click.option("--days", type=click.IntRange(1, 366), default=14, show_default=True, help="Days from today (WIB).")
@nats_option
@json_option
def schedule_list(site: str | None, days: int, nats_url: str | None, as_json: bool) -> None:
    """The schedule from today (WIB) for --days days, by day then site."""
    name = _site(site, as_json) if site is not None else None
    start = _today()

    async def listing(book: SiteSchedule, _: JetStreamContext) -> list[SiteVisit]:
        return await book.upcoming(start, days, name)

    found = _on_schedule(nats_url, listing, as_json, Role.CLI)
    if as_json:
        click.echo(json.dumps([visit.model_dump(mode="json") for visit in found], indent=2))
        return
    if not found:
        click.echo(f"no visit scheduled from {start.isoformat()} for {days} day{'s' if days > 1 else ''}")
    for visit in found:
        click.echo(_line(visit))
