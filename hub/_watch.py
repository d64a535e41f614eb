"""``mpp-hub tail`` and ``mpp-hub top``: the message traffic as it happens, from the ``mpp.traffic.>`` subjects.

Both listen on core NATS (no JetStream consumer is created), so watching costs the bus nothing durable and
sees every worker's exchanges. Records arrive already masked: nothing here handles personal data.

``top`` also shows how each site (MPP bergerak: a service van, a kiosk) stands with the hub, read from the
``mpp_sites`` bucket (:mod:`hub._site_state`): connected or offline, since when, what waits to be synced, the last
sync. A site's state counts messages and holds nothing personal.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sys
from typing import Any, TextIO

import structlog
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import ValidationError
from rich import box
from rich.console import Console, Group, JustifyMethod, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from contracts import SiteState, TrafficRecord
from hub._site_state import SiteBook
from hub._time import utcnow
from hub._traffic_stats import RowStats, TrafficStats

__all__ = ["CIRCUIT_STATE", "site_states", "sites_json", "sites_table", "tail", "tail_subject", "top", "top_rows"]

#: Circuit state lives in each worker's breaker, which traffic records do not carry: /ops and /metrics show it.
CIRCUIT_STATE = "-"
#: Outcomes that are the caller's doing, coloured apart from the hub's and agencies' failures.
_CALLER_ERRORS = frozenset({"not_found", "invalid_input", "unauthorized", "forbidden", "conflict", "rate_limited"})
#: Live, the sites' states are read again this often (seconds): a site shows offline 15 s after its last report.
_SITES_EVERY = 5.0

_log = structlog.get_logger("hub.watch")


def tail_subject(agency: str | None = None, operation: str | None = None) -> str:
    # The operation's dots are subject tokens, so the server filters on it as on the agency.
    return f"mpp.traffic.{agency or '*'}.{operation or '>'}"


def _record(msg: Msg) -> TrafficRecord | None:
    try:
        return TrafficRecord.model_validate_json(msg.data)
    except ValidationError:
        # Another hub version or someone publishing by hand: skip it, keep watching.
        _log.debug("unreadable traffic record skipped", subject=msg.subject)
        return None


def _outcome_style(outcome: str) -> str:
    if outcome == "ok":
        return "green"
    return "yellow" if outcome in _CALLER_ERRORS else "bold red"


def _line(record: TrafficRecord) -> Text:
    local = record.at.astimezone()
    return Text.assemble(
        (f"{local:%H:%M:%S}.{local.microsecond // 1000:03d}", "dim"),
        "  ",
        (f"{record.provider or record.agency or 'hub':<11}", "cyan"),
        f"{record.operation:<24}",
        f"{record.consumer or '-':<20} ",
        (f"{record.outcome:<18}", _outcome_style(record.outcome)),
        f"{record.latency_ms:>9.1f} ms  ",
        f"{record.subject or '-':<17} ",
        (record.correlation_id, "dim"),
    )


async def tail(
    nc: NATS,
    *,
    agency: str | None = None,
    operation: str | None = None,
    errors_only: bool = False,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    limit: int | None = None,
    ready: asyncio.Event | None = None,
) -> int:
    """Print each exchange as it happens, one line each; returns how many were printed.

    Runs until ``limit`` records were printed, or until cancelled (Ctrl-C). ``ready`` is set once the
    subscription is in place on the server, so a caller knows from when nothing is missed.
    """
    console = Console(file=out, highlight=False, soft_wrap=True)
    sub = await nc.subscribe(tail_subject(agency, operation))
    printed = 0
    try:
        await nc.flush()
        if ready is not None:
            ready.set()
        if limit is not None and limit <= 0:
            return 0
        async for msg in sub.messages:
            record = _record(msg)
            if record is None or (errors_only and record.outcome == "ok"):
                continue
            if as_json:
                out.write(record.model_dump_json() + "\n")
                out.flush()
            else:
                console.print(_line(record))
            printed += 1
            if limit is not None and printed >= limit:
                break
    finally:
        with contextlib.suppress(Exception):  # the connection may already be closing
            await sub.unsubscribe()
    return printed


def top_rows(stats: TrafficStats, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The rows ``top --json`` prints: each agency and operation's figures, in-flight and circuit state."""
    # In flight is a per-worker gauge (Prometheus), not something the records can tell: left out for now.
    return [{**row.as_json(), "in_flight": None, "circuit": CIRCUIT_STATE} for row in stats.snapshot(now)]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _errors_text(row: RowStats) -> Text:
    if not row.errors:
        return Text("-", style="dim")
    return Text(
        ", ".join(f"{code} {n}" for code, n in sorted(row.errors.items())),
        style="red" if set(row.errors) - _CALLER_ERRORS else "yellow",
    )


#: Below this many columns the placeholders (in flight, circuit) make way for the figures.
_NARROW = 110


def _table(stats: TrafficStats, width: int = _NARROW) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        title=f"MPP Hub traffic, last {stats.window:g} s, latency in ms (since {stats.started.astimezone():%H:%M:%S})",
        title_justify="left",
    )
    wide = width >= _NARROW
    columns: list[tuple[str, JustifyMethod]] = [
        ("agency", "left"), ("operation", "left"), ("req/s", "right"), ("p50", "right"), ("p95", "right"),
        ("p99", "right"), ("err%", "right"), ("total", "right"),
    ]  # fmt: skip
    columns += [("in flight", "right"), ("circuit", "left")] if wide else []
    columns += [("errors", "left")]  # last: the one column that may wrap
    for name, justify in columns:
        # Figures never wrap; the errors column wraps (and keeps some room) when space runs out.
        table.add_column(name, justify=justify, no_wrap=name != "errors", min_width=12 if name == "errors" else None)
    for row in stats.snapshot():
        cells: list[str | Text] = [
            Text(row.agency, style="cyan"),
            row.operation,
            f"{row.rate:.2f}",
            _ms(row.p50_ms),
            _ms(row.p95_ms),
            _ms(row.p99_ms),
            Text(f"{row.error_rate * 100:.1f}", style="red" if row.error_rate else "green"),
            str(row.total),
        ]
        cells += ["-", Text(CIRCUIT_STATE, style="dim")] if wide else []
        table.add_row(*cells, _errors_text(row))
    if not table.row_count:
        table.caption = "waiting for traffic on mpp.traffic.> ..."
    return table


async def site_states(nc: NATS, now: dt.datetime | None = None) -> list[SiteState] | None:
    """Every registered site's state, by name (empty when there is none); None when the ``mpp_sites`` bucket cannot
    be read (a bus set up before there were sites, or a role that may not read it)."""
    try:
        book = await SiteBook.open(nc.jetstream())
        return await book.states(await book.names(), now)
    except Exception as exc:  # the traffic is still worth showing
        _log.debug("sites not read", error=type(exc).__name__)
        return None


def sites_json(states: list[SiteState] | None) -> list[dict[str, Any]] | None:
    """The ``sites`` of ``top --json``: each site's state as the contract has it (``SiteState``)."""
    return None if states is None else [state.model_dump(mode="json") for state in states]


def _when(moment: dt.datetime | None, now: dt.datetime) -> str:
    """A time of today as 14:03:07, of another day with its date (local time, as top's title)."""
    if moment is None:
        return "-"
    local = moment.astimezone()
    return f"{local:%H:%M:%S}" if local.date() == now.astimezone().date() else f"{local:%Y-%m-%d %H:%M}"


def sites_table(states: list[SiteState], now: dt.datetime | None = None) -> Table:
    """One line per site: its name, connected or offline, since when, what waits to be synced, what was synced
    and when last. ``since`` is when it connected, or when it was last seen if it is offline."""
    moment = now or utcnow()
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, title="Sites (MPP bergerak)", title_justify="left"
    )
    columns: list[tuple[str, JustifyMethod]] = [
        ("site", "left"), ("link", "left"), ("since", "left"), ("waiting", "right"), ("synced", "right"),
        ("last sync", "left"),
    ]  # fmt: skip
    for name, justify in columns:
        table.add_column(name, justify=justify, no_wrap=True)
    for state in states:
        table.add_row(
            Text(state.site, style="cyan"),
            Text("connected", style="green") if state.connected else Text("offline", style="bold red"),
            _when(state.since, moment),
            Text(str(state.waiting), style="yellow" if state.waiting else ""),
            str(state.synced),
            _when(state.last_sync, moment),
        )
    return table


def _view(stats: TrafficStats, width: int, sites: list[SiteState] | None) -> RenderableType:
    """The traffic table, and the sites' under it (none when no site is registered)."""
    traffic = _table(stats, width)
    if sites is None:
        return Group(traffic, Text("sites: the mpp_sites bucket could not be read", style="dim"))
    return Group(traffic, sites_table(sites)) if sites else traffic


async def top(
    nc: NATS,
    *,
    once: bool = False,
    seconds: float = 5.0,
    as_json: bool = False,
    window: float = 60.0,
    out: TextIO = sys.stdout,
    ready: asyncio.Event | None = None,
) -> list[dict[str, Any]]:
    """A live table of rate, latency and errors per agency and operation, refreshed every second, and one of the
    sites' states (read every few seconds) under it.

    ``once``: collect for ``seconds``, print one snapshot (the tables, or JSON with ``as_json``: the traffic's
    ``rows`` and the ``sites``) and return the rows. Otherwise runs until cancelled (Ctrl-C).
    """
    stats = TrafficStats(window)

    async def on_message(msg: Msg) -> None:
        if (record := _record(msg)) is not None:
            stats.add(record)

    sub = await nc.subscribe(tail_subject(), cb=on_message)
    try:
        await nc.flush()
        if ready is not None:
            ready.set()
        if once:
            await asyncio.sleep(seconds)
            rows = top_rows(stats)
            sites = await site_states(nc)
            if as_json:
                snapshot = {"window_seconds": window, "seconds": seconds, "rows": rows, "sites": sites_json(sites)}
                out.write(json.dumps(snapshot, indent=2) + "\n")
                out.flush()
            else:
                console = Console(file=out)
                console.print(_view(stats, console.width, sites))
            return rows
        console = Console(file=out)
        loop = asyncio.get_running_loop()
        sites, read_at = await site_states(nc), loop.time()
        with Live(_view(stats, console.width, sites), console=console, auto_refresh=False, screen=False) as live:
            while True:
                await asyncio.sleep(1.0)
                if loop.time() - read_at >= _SITES_EVERY:
                    sites, read_at = await site_states(nc), loop.time()
                # The terminal may have been resized.
                live.update(_view(stats, console.width, sites), refresh=True)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
