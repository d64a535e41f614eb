"""``mpp-hub site``: register a site (a service van, a kiosk) on the hub, run one, and keep the sites' schedule.

    mpp-hub site add van-1 --prefix V1 --ticket-letter V --consumer van-desk --hub-leaf tls://mall.example:7422 \\
        --out van-1-bundle            # on the hub's machine; then restart the hub (or it takes the site at its start)
    mpp-hub site up --bundle van-1-bundle --data-dir .mpp-site --port 8091     # on the van's laptop

docs/sites.md says how to set up a van or a kiosk, what works offline, and what the citizen sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import click

from hub._asgi import AsgiServer
from hub._queue import DEFAULT_QUEUE_SERVICES
from hub._site_schedule_cli import schedule
from hub._sites import SiteError, fingerprint, register_site

__all__ = ["site"]


@click.group()
def site() -> None:
    """Sites that serve away from the mall (MPP bergerak): a service van, a kiosk in a sub-district office."""


site.add_command(schedule)


@site.command("add")
@click.argument("name")
@click.option("--prefix", required=True, help="Two characters its tracking numbers begin with, like V1.")
@click.option("--ticket-letter", required=True, help="The first letter of its ticket prefixes, like V.")
@click.option("--consumer", "consumers", multiple=True, required=True, help="A consumer the site serves (repeat).")
@click.option("--hub-leaf", required=True, help="Where the site reaches the hub's leaf listener: tls://host:port.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Bundle directory.")
@click.option("--json", "as_json", is_flag=True, help="Print the site's record as JSON.")
def add(
    name: str, prefix: str, ticket_letter: str, consumers: tuple[str, ...], hub_leaf: str, out: Path, as_json: bool
) -> None:
    """Register a site and write its bundle (its keys: copy it to the site's machine, and keep it secret)."""
    from hub import cli  # the command line's settings and bus helpers; imported here, as cli imports this module
    from hub._consumers import ConsumerRegistry
    from hub._embedded_bus import bus_secrets
    from hub._secrets import audit_key

    settings = cli._settings()

    async def records(js: Any) -> list[Any]:
        registry = await ConsumerRegistry.open(js)
        try:
            found = [await registry.fetch(consumer) for consumer in consumers]
        finally:
            await registry.close()
        missing = [c for c, record in zip(consumers, found, strict=True) if record is None or record.revoked_at]
        if missing:
            raise SiteError(f"no live consumer {', '.join(missing)}: add it first with `mpp-hub consumer add`")
        return found

    try:
        consumer_records = cli._on_jetstream(settings, records, as_json)
        record = register_site(
            settings.data_dir, name=name, prefix=prefix, ticket_letter=ticket_letter, consumer_records=consumer_records,
            hub_leaf=hub_leaf, audit_key=audit_key(settings), bus_ca=bus_secrets(settings.data_dir) / "ca.pem", out=out,
        )  # fmt: skip
    except SiteError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(record.model_dump(mode="json") | {"fingerprint": fingerprint(record)}))
        return
    click.echo(f"site {record.name} registered (key fingerprint {fingerprint(record)}); its bundle is in {out}")
    click.echo("restart the hub (`mpp-hub up`) so that its NATS takes the site's leaf connection")


@site.command("up")
@click.option("--bundle", type=click.Path(file_okay=False, exists=True, path_type=Path), required=True)
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".mpp-site"))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address of the site's edge.")
@click.option("--port", default=8091, show_default=True, help="Port of the site's edge.")
def up(bundle: Path, data_dir: Path, host: str, port: int) -> None:
    """Run the site: its nats-server (a leaf node of the hub's), its agent, and its edge."""
    asyncio.run(_run_site(bundle, data_dir, host, port))


async def _run_site(bundle: Path, data_dir: Path, host: str, port: int) -> None:
    from hub._plugins import load_plugins
    from hub._site import Site
    from hub._site_edge import create_site_app

    running = Site(bundle, data_dir)
    await running.start()
    try:
        app, edge = create_site_app(running, DEFAULT_QUEUE_SERVICES, load_plugins().processes)
        await edge.start()
        server = AsgiServer(app, host=host, port=port)
        url = await server.start()
        click.echo(f"site {running.name} serving on {url}; reporting to the hub at {running.bundle.hub_leaf}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()
    finally:
        with contextlib.suppress(Exception):
            await running.stop()
