"""The ``mpp-hub`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx
from pydantic import BaseModel, ValidationError

from contracts import CONTRACT_VERSION, OPERATIONS, Catalogue, ErrorCode, HubError, export_json_schema
from hub import __version__
from hub._client import HubClient
from hub._logging import configure_logging
from hub._plugins import PluginError, load_plugins
from hub._settings import HubSettings, load_settings
from hub._up import Started, read_state, run

T = TypeVar("T")

#: Exit code for a contract error (click itself uses 2 for usage errors).
EXIT_CONTRACT_ERROR = 1
#: Exit code when the hub cannot start (bad settings, a broken plugin, a port in use).
EXIT_CANNOT_START = 3

_DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


def _settings(**overrides: Any) -> HubSettings:
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False, include_url=False)
        )
        raise click.UsageError(f"invalid settings: {problems}") from None


def _nats_url(settings: HubSettings) -> str:
    """An explicit URL, else the one of the hub running on this data dir, else the embedded default."""
    if settings.nats_url:
        return settings.nats_url
    if (state := read_state(settings.data_dir)) is not None:
        return str(state["nats_url"])
    return f"nats://{settings.host}:{settings.nats_port}" if settings.nats_port > 0 else _DEFAULT_NATS_URL


def _run_client(settings: HubSettings, work: Callable[[HubClient], Awaitable[T]], as_json: bool) -> T:
    async def main() -> T:
        client = await HubClient.connect(_nats_url(settings), timeout=settings.request_timeout)
        async with client:
            return await work(client)

    try:
        return asyncio.run(main())
    except HubError as exc:
        _print_error(exc, as_json)
        sys.exit(EXIT_CONTRACT_ERROR)


def _print_error(exc: HubError, as_json: bool) -> None:
    if as_json:
        click.echo(exc.error.model_dump_json(indent=2))
        return
    error = exc.error
    where = f" ({error.agency})" if error.agency else ""
    click.secho(f"error: {error.code.value}{where}: {error.message}", fg="red", err=True)
    if error.retryable:
        after = f" after {error.retry_after:g}s" if error.retry_after else " later"
        click.echo(f"  a retry{after} may succeed", err=True)
    if error.correlation_id:
        click.echo(f"  correlation id: {error.correlation_id}", err=True)


nats_option = click.option("--nats-url", help="NATS server or cluster to use (env MPP_HUB_NATS_URL).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


@click.group()
@click.version_option(__version__, prog_name="mpp-hub")
def main() -> None:
    """MPP Hub: one contract and one NATS bus for every agency of a public service mall."""


@main.command()
@nats_option
@click.option("--nats-port", type=int, help="Client port of the embedded NATS server [default: 4222].")
@click.option("--host", help="Address to bind [default: 127.0.0.1].")
@click.option("--port", type=int, help="HTTP port of the portal API and /healthz [default: 8080].")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Embedded NATS data [default: ./.mpp-hub].")
@click.option(
    "--sandbox/--no-sandbox", default=None, help="Start agency sandboxes [default: on when NATS is embedded]."
)
@click.option("--disable", "disabled", multiple=True, help="Plugin not to load (repeatable).")
@click.option("--log-format", type=click.Choice(["json", "console"]))
def up(disabled: tuple[str, ...], **options: Any) -> None:
    """Start the hub: embedded NATS (unless --nats-url), sandboxes, plugins and the HTTP API."""
    if disabled:
        options["disabled_plugins"] = list(disabled)
    _serve(_settings(**options), http=True)


@main.command()
@nats_option
@click.option("--sandbox/--no-sandbox", default=None, help="Start agency sandboxes for this worker.")
@click.option("--disable", "disabled", multiple=True, help="Plugin not to load (repeatable).")
@click.option("--log-format", type=click.Choice(["json", "console"]))
def worker(disabled: tuple[str, ...], **options: Any) -> None:
    """Serve every plugin's operations on an existing NATS, with no HTTP edge; start as many as you like."""
    if disabled:
        options["disabled_plugins"] = list(disabled)
    settings = _settings(**options)
    if settings.nats_url is None:
        settings = settings.model_copy(update={"nats_url": _DEFAULT_NATS_URL})
    _serve(settings, http=False)


def _serve(settings: HubSettings, *, http: bool) -> None:
    configure_logging(settings.log_level, settings.log_format)
    try:
        asyncio.run(run(settings, http=http, on_started=_report))
    except (PluginError, OSError, RuntimeError) as exc:
        click.secho(f"mpp-hub cannot start: {exc}", fg="red", err=True)
        sys.exit(EXIT_CANNOT_START)
    click.echo("MPP Hub stopped.")


def _report(started: Started) -> None:
    where = f"embedded, JetStream in {started.nats_store}" if started.embedded_nats else "external"
    nats = f"{started.nats_url} ({where})"
    lines = [f"MPP Hub {__version__} is up (contract v{CONTRACT_VERSION})", f"  NATS      {nats}"]
    for code, url in sorted(started.sandboxes.items()):
        lines.append(f"  sandbox   {code:<10} {url}")
    for code, agency in sorted(started.plugins.agencies.items()):
        lines.append(
            f"  agency    {code:<10} {agency.name} [{agency.kind.value}]: {', '.join(sorted(agency.operations))}"
        )
    if started.http_url:
        lines.append(f"  HTTP      {started.http_url}  (GET /healthz, POST /callbacks/<agency>/...)")
    lines += ["Try:  mpp-hub sandbox sample", "      mpp-hub services", "Press Ctrl-C to stop."]
    click.echo("\n".join(lines))


@main.command()
@nats_option
@json_option
def services(nats_url: str | None, as_json: bool) -> None:
    """List the agencies and operations served on the bus, with their health."""
    settings = _settings(nats_url=nats_url)
    catalogue: Catalogue = _run_client(settings, lambda client: client.catalogue(), as_json)
    if as_json:
        click.echo(catalogue.model_dump_json(indent=2))
        return
    if not catalogue.agencies:
        click.echo("No agency is served on this bus (is a hub running with its plugins?)")
        return
    click.echo(f"contract v{catalogue.contract_version}")
    for agency in catalogue.agencies:
        health = agency.health
        state = f"{health.status.value}: {health.detail}" if health else "unknown"
        click.echo(
            f"\n{agency.code}  {agency.name} [{agency.kind.value}], plugin {agency.plugin_version}, "
            f"{agency.instances} worker(s)\n  health  {state}"
        )
        for op in agency.operations:
            flags = ", ".join(f for f, on in (("idempotent", op.idempotent), ("personal data", op.personal_data)) if on)
            click.echo(f"  {op.name:<24} v{op.version}  schema {op.schema_hash}  {flags}")


@main.command()
@click.argument("operation")
@click.argument("payload", default="{}")
@nats_option
@json_option
@click.option("--timeout", type=float, help="Seconds to wait for the answer [default: 10].")
def call(operation: str, payload: str, nats_url: str | None, as_json: bool, timeout: float | None) -> None:
    """Call a contract OPERATION with a JSON PAYLOAD through the bus, e.g.

    mpp-hub call identity.lookup '{"nik": "3328104505900001"}'
    """
    settings = _settings(nats_url=nats_url, request_timeout=timeout)
    try:
        json.loads(payload)
    except json.JSONDecodeError as exc:
        _print_error(HubError.of(ErrorCode.INVALID_INPUT, f"PAYLOAD is not JSON: {exc.msg} at char {exc.pos}"), as_json)
        sys.exit(EXIT_CONTRACT_ERROR)
    result: BaseModel = _run_client(settings, lambda client: client.call(operation, payload), as_json)
    click.echo(result.model_dump_json(indent=2, by_alias=True))


@main.group()
def sandbox() -> None:
    """The agency sandboxes: simulators of each agency's real API over synthetic residents."""


@sandbox.command()
@json_option
def sample(as_json: bool) -> None:
    """Print sample identifiers from the sandboxes' synthetic data, to have something real to call."""
    settings = _settings()
    plugins = load_plugins(disabled=settings.disabled_plugins, only=settings.load_plugins)
    samples = {
        code: {kind: list(ids) for kind, ids in sb.samples().items()} for code, sb in sorted(plugins.sandboxes.items())
    }
    if as_json:
        click.echo(json.dumps(samples, indent=2))
        return
    for code, kinds in samples.items():
        for kind, ids in kinds.items():
            click.echo(f"{code} {kind}: {' '.join(ids)}")
    if (nik := samples.get("dukcapil", {}).get("nik")) is not None and nik:
        click.echo(f'\nTry:  mpp-hub call identity.lookup \'{{"nik": "{nik[0]}"}}\'')


@sandbox.command()
@click.argument("virtual_account")
@click.option(
    "--times",
    type=click.IntRange(1, 5),
    default=1,
    show_default=True,
    help="How often the bank sends the notification (a real bank repeats until it is sure).",
)
@json_option
def pay(virtual_account: str, times: int, as_json: bool) -> None:
    """Have the sandbox bank pay VIRTUAL_ACCOUNT, as a citizen at an ATM would.

    The bank then notifies the running hub, which publishes one payment.paid event.
    """
    settings = _settings()
    state = read_state(settings.data_dir)
    if state is None:
        raise click.UsageError(f"no hub is running on {settings.data_dir}: start `mpp-hub up` first")
    plugins = load_plugins(disabled=settings.disabled_plugins, only=settings.load_plugins)
    payer = next((a.code for a in plugins.agencies.values() if "payment.create_bill" in a.operations), None)
    url = state["sandboxes"].get(payer) if payer else None
    if url is None:
        raise click.UsageError("the running hub has no sandbox bank (is it in sandbox mode?)")
    try:
        body = {"virtualAccountNo": virtual_account, "times": times}
        response = httpx.post(f"{url}/_sandbox/pay", json=body, timeout=30)
    except httpx.TransportError as exc:
        raise click.ClickException(f"cannot reach the sandbox bank at {url}: {exc}") from None
    if as_json:
        click.echo(json.dumps(response.json(), indent=2))
    elif response.is_success:
        click.echo(f"paid {virtual_account}; the bank notified the hub {times} time(s)")
    else:
        click.secho(f"the sandbox bank refused: {response.text}", fg="red", err=True)
    if not response.is_success:
        sys.exit(EXIT_CONTRACT_ERROR)


@main.group()
def contract() -> None:
    """The common service contract."""


@contract.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def export(directory: Path) -> None:
    """Write JSON Schema for every model and operation into DIRECTORY."""
    written = export_json_schema(directory)
    click.echo(
        f"wrote {len(written)} files for {len(OPERATIONS)} operations (contract v{CONTRACT_VERSION}) to {directory}"
    )
