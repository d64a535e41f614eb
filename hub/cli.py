"""The ``mpp-hub`` command line."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import getpass
import json
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx
from nats.js.client import JetStreamContext
from pydantic import BaseModel, ValidationError

from contracts import (
    CONTRACT_VERSION,
    AgencyKind,
    Application,
    ApplicationStatus,
    Catalogue,
    Channel,
    ContractError,
    ErrorCode,
    HubError,
    TrafficRecord,
    export_json_schema,
)
from contracts._diff import diff_contracts
from hub import __version__, _headers, _watch
from hub._access import parse_subject
from hub._audit import AuditLog, VerifyReport
from hub._bus_access import BusAccess
from hub._checkpoints import CheckpointStore, verify_tree
from hub._client import HubClient
from hub._consumers import Consumer, ConsumerRegistry, allow_issues
from hub._credentials import CredentialsError
from hub._dlq import DeadLetter, DeadLetters, NoSuchLetter
from hub._embedded_bus import bus_access
from hub._logging import configure_logging
from hub._loop import run as run_loop
from hub._note import CosignatureVerifier, NoteError, NoteVerifier
from hub._plugins import PluginError, check_plugin_names, load_plugins, register_contracts
from hub._receipts import Receipt, ReceiptError, check_receipt, make_receipt
from hub._roles import Role
from hub._scaffold import EXAMPLE_OPERATION, ScaffoldError, new_plugin
from hub._secrets import (
    MissingSecretError,
    audit_key,
    audit_log_vkey,
    checkpoint_file,
    cli_key_file,
    sandbox_token,
)
from hub._settings import HubSettings, load_settings
from hub._site_cli import site
from hub._traffic import trace
from hub._up import Started, read_state, run
from hub._usage_report import Period, usage_report
from hub._witness_client import WitnessConfig

T = TypeVar("T")

#: Exit code for a contract error (click itself uses 2 for usage errors).
EXIT_CONTRACT_ERROR = 1
#: Exit code when the hub cannot start (bad settings, a broken plugin, a port in use).
EXIT_CANNOT_START = 3

_DEFAULT_NATS_URL = "tls://127.0.0.1:4222"


class _SettingsError(click.ClickException):
    """Bad settings, in one line: a usage error's usage text would say nothing about a settings file."""

    exit_code = 2


def _settings(**overrides: Any) -> HubSettings:
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        raise _SettingsError(HubError.from_validation(exc, "settings").error.message) from None
    except HubError as exc:  # the settings file itself cannot be read
        raise _SettingsError(exc.error.message) from None


def _register_contract(settings: HubSettings) -> None:
    """Make the contract packages of the plugins this hub loads known here, for a command that names operations."""
    try:
        register_contracts(disabled=settings.disabled_plugins, only=settings.load_plugins)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None


def _nats_url(settings: HubSettings) -> str:
    """An explicit URL, else the one of the hub running on this data dir, else the embedded default."""
    if settings.nats_url:
        return settings.nats_url
    if (state := read_state(settings.data_dir)) is not None:
        return str(state["nats_url"])
    return f"tls://{settings.nats_host}:{settings.nats_port}" if settings.nats_port > 0 else _DEFAULT_NATS_URL


def _api_key(settings: HubSettings) -> str | None:
    """--api-key or MPP_HUB_API_KEY, else the key `up` made for the local CLI in sandbox mode."""
    if settings.api_key is not None:
        return settings.api_key.get_secret_value()
    path = cli_key_file(settings)
    return path.read_text().strip() if path.exists() else None


def _bus(settings: HubSettings) -> BusAccess:
    """The bus this command talks to, with this machine's credentials for it."""
    try:
        return bus_access(settings, _nats_url(settings))
    except CredentialsError as exc:
        raise click.UsageError(str(exc)) from None


def _run_client(
    settings: HubSettings, work: Callable[[HubClient], Awaitable[T]], as_json: bool, *, as_consumer: bool = True
) -> T:
    """Run ``work`` with a client on the bus as the CLI role; ``as_consumer``: calls speak for the key's consumer."""
    bus = _bus(settings)

    async def main() -> T:
        client = await HubClient.connect(bus, Role.CLI, timeout=settings.request_timeout, purpose=settings.purpose)
        async with client:
            if as_consumer:
                registry = await ConsumerRegistry.open(client.nc.jetstream())
                try:
                    consumer = await registry.authenticate(_api_key(settings))
                finally:
                    await registry.close()
                client.consumer = consumer.name
                client.issuer = bus.issuer(Role.CLI, audit_key(settings))
            return await work(client)

    return _run_command(main(), as_json)


def _run_command(main: Coroutine[Any, Any, T], as_json: bool) -> T:
    """Run a command's work on the bus; contract errors and missing secrets end it cleanly, as the user's to fix."""
    try:
        return asyncio.run(main)
    except (MissingSecretError, CredentialsError) as exc:
        raise click.UsageError(str(exc)) from None
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
#: A TCP port to listen on, as a flag gives it (0, "any free", is only for the hubs tests embed).
PORT = click.IntRange(1, 65535)


def _nats_port(_: click.Context, __: click.Parameter, port: int | None) -> int | None:
    if port == 0:  # nats-server would take 0 for its default, 4222: say what means "any free port"
        raise click.BadParameter("0 is not a port: give 1-65535, or -1 for any free port")
    return port


def _known_plugins(_: click.Context, __: click.Parameter, names: tuple[str, ...]) -> tuple[str, ...]:
    try:
        check_plugin_names(names)
    except PluginError as exc:
        raise click.BadParameter(str(exc)) from None
    return names


disable_option = click.option(
    "--disable", "disabled", multiple=True, callback=_known_plugins, help="Plugin not to load (repeatable)."
)


@click.group()
@click.version_option(__version__, prog_name="mpp-hub")
def main() -> None:
    """MPP Hub: one contract and one NATS bus for every agency of a public service mall."""
    # Commands print their results on stdout (often as JSON); logs go to stderr, and only when they matter.
    configure_logging("warning", "console")


@main.command()
@nats_option
@click.option(
    "--nats-port",
    type=click.IntRange(-1, 65535),
    callback=_nats_port,
    help="Client port of the embedded NATS server, -1 for any free one [default: 4222].",
)
@click.option("--host", help="Address to bind [default: 127.0.0.1].")
@click.option("--port", type=PORT, help="HTTP port of the portal API and /healthz [default: 8080].")
@click.option(
    "--edges",
    "edge_processes",
    type=click.IntRange(1, 64),
    help="Processes serving the portal on that one port, 1-64 (env MPP_HUB_EDGE_PROCESSES) [default: 1].",
)
@click.option("--data-dir", type=click.Path(path_type=Path), help="Embedded NATS data [default: ./.mpp-hub].")
@click.option(
    "--sandbox/--no-sandbox", default=None, help="Start agency sandboxes [default: on when NATS is embedded]."
)
@disable_option
@click.option("--log-format", type=click.Choice(["json", "console"]))
def up(disabled: tuple[str, ...], **options: Any) -> None:
    """Start the hub: embedded NATS (unless --nats-url), sandboxes, plugins and the HTTP API."""
    if disabled:
        options["disabled_plugins"] = list(disabled)
    _serve(_settings(**options), http=True)


@main.command()
@nats_option
@click.option("--sandbox/--no-sandbox", default=None, help="Start agency sandboxes for this worker.")
@click.option("--metrics-port", type=PORT, help="Serve this worker's /metrics (Prometheus) on this port.")
@disable_option
@click.option("--log-format", type=click.Choice(["json", "console"]))
def worker(disabled: tuple[str, ...], **options: Any) -> None:
    """Serve every plugin's operations on an existing NATS, with no HTTP edge; start as many as you like."""
    if disabled:
        options["disabled_plugins"] = list(disabled)
    settings = _settings(**options)
    if settings.nats_url is None:  # join the hub running on this data dir (its bus, its credentials)
        settings = settings.model_copy(update={"nats_url": _nats_url(settings)})
    _serve(settings, http=False)


def _serve(settings: HubSettings, *, http: bool) -> None:
    configure_logging(settings.log_level, settings.log_format)
    try:
        run_loop(run(settings, http=http, on_started=_report))  # uvloop: see hub/_loop.py
    except (PluginError, MissingSecretError, OSError, RuntimeError) as exc:
        click.secho(f"mpp-hub cannot start: {exc}", fg="red", err=True)
        sys.exit(EXIT_CANNOT_START)
    except KeyboardInterrupt:
        pass  # Ctrl-C before the hub's own SIGINT handler was in place: nothing had started yet
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
        lines.append(f"  HTTP      {started.http_url}  (POST /v1/<operation>, GET /docs, GET /healthz)")
    if started.cli_consumer:
        lines.append(f"  consumer  {started.cli_consumer:<10} all operations; the local CLI's key is in the data dir")
    if started.audit_log is not None:
        lines.append(f"  audit     log key {started.audit_log.vkey}")
        if started.audit_log.problem:
            lines.append(f"  AUDIT LOG DOES NOT VERIFY, no checkpoint is signed: {started.audit_log.problem}")
    lines += ["Try:  mpp-hub sandbox sample", "      mpp-hub services", "Press Ctrl-C to stop."]
    click.echo("\n".join(lines))


@main.command()
@nats_option
@json_option
def services(nats_url: str | None, as_json: bool) -> None:
    """List the agencies and operations served on the bus, with their health."""
    settings = _settings(nats_url=nats_url)
    _register_contract(settings)  # the operations of contract packages too
    catalogue: Catalogue = _run_client(settings, lambda client: client.catalogue(), as_json, as_consumer=False)
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
@click.option("--api-key", help="Call as this consumer (env MPP_HUB_API_KEY) [default: the local CLI's key].")
@click.option("--purpose", help="Purpose of access, for personal data (env MPP_HUB_PURPOSE).")
@click.option("--channel", type=click.Choice([c.value for c in Channel]), help="The channel the call serves.")
@click.option("--officer", help="The officer serving the citizen (a consumer allowed to name officers).")
@click.option("--consent-ref", "consent", help="The reference of the citizen's consent, where there is one.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="The data dir of the hub to call (env MPP_HUB_DATA_DIR): its bus, credentials and CLI key "
    "[default: ./.mpp-hub].",
)
def call(
    operation: str,
    payload: str,
    nats_url: str | None,
    as_json: bool,
    timeout: float | None,
    api_key: str | None,
    purpose: str | None,
    channel: str | None,
    officer: str | None,
    consent: str | None,
    data_dir: Path | None,
) -> None:
    """Call a contract OPERATION with a JSON PAYLOAD through the bus, e.g.

    mpp-hub call identity.lookup '{"nik": "3328104505900001"}' --purpose layanan-kependudukan
    """
    settings = _settings(
        nats_url=nats_url, request_timeout=timeout, api_key=api_key, purpose=purpose, data_dir=data_dir
    )
    _register_contract(settings)
    try:
        json.loads(payload)
        officer, consent = _headers.officer(officer), _headers.consent_ref(consent)
    except json.JSONDecodeError as exc:
        _print_error(HubError.of(ErrorCode.INVALID_INPUT, f"PAYLOAD is not JSON: {exc.msg} at char {exc.pos}"), as_json)
        sys.exit(EXIT_CONTRACT_ERROR)
    except HubError as exc:
        _print_error(exc, as_json)
        sys.exit(EXIT_CONTRACT_ERROR)
    result: BaseModel = _run_client(
        settings,
        lambda client: client.call(operation, payload, channel=channel, officer=officer, consent=consent),
        as_json,
    )
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
@click.option("--bank", help="The bank (provider) that issued the bill, e.g. bank_contoh [default: the first bank].")
@json_option
def pay(virtual_account: str, times: int, bank: str | None, as_json: bool) -> None:
    """Have the sandbox bank pay VIRTUAL_ACCOUNT, as a citizen at an ATM would.

    The bank then notifies the running hub, which publishes one payment.paid event.
    """
    settings = _settings()
    state = read_state(settings.data_dir)
    if state is None:
        raise click.UsageError(f"no hub is running on {settings.data_dir}: start `mpp-hub up` first")
    plugins = load_plugins(disabled=settings.disabled_plugins, only=settings.load_plugins)
    payer = bank or next((a.code for a in plugins.agencies.values() if "payment.create_bill" in a.operations), None)
    url = state["sandboxes"].get(payer) if payer else None
    if url is None:
        known = ", ".join(sorted(state["sandboxes"])) or "none"
        raise click.UsageError(f"the running hub has no sandbox bank {payer!r} (its sandboxes: {known})")
    try:
        body = {"virtualAccountNo": virtual_account, "times": times}
        token = {"Authorization": f"Bearer {sandbox_token(settings)}"}
        response = httpx.post(f"{url}/_sandbox/pay", json=body, headers=token, timeout=30)
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
def consumer() -> None:
    """Portal consumers (the portal, kiosks, desk apps): their API keys, rights and quotas."""


def _on_jetstream(
    settings: HubSettings,
    work: Callable[[JetStreamContext], Awaitable[T]],
    as_json: bool,
    role: Role = Role.CLI,
) -> T:
    """Run ``work`` against the hub's JetStream as ``role``; contract errors and missing secrets end the command
    cleanly."""
    bus = _bus(settings)

    async def main() -> T:
        client = await HubClient.connect(bus, role)
        try:
            return await work(client.nc.jetstream())
        finally:
            await client.close()

    return _run_command(main(), as_json)


def _registry_run(
    settings: HubSettings, work: Callable[[ConsumerRegistry], Awaitable[T]], as_json: bool, role: Role = Role.CLI
) -> T:
    async def with_registry(js: JetStreamContext) -> T:
        registry = await ConsumerRegistry.open(js)
        try:
            return await work(registry)
        finally:
            await registry.close()

    return _on_jetstream(settings, with_registry, as_json, role)


def _known_rights(_: click.Context, __: click.Parameter, allow: tuple[str, ...]) -> tuple[str, ...]:
    # The registry checks the same again; here a typo is refused before anything connects to the bus.
    _register_contract(_settings())
    if problems := [f"{text!r} {issue.message}" for text in allow for issue in allow_issues([text])]:
        raise click.BadParameter("; ".join(problems))
    return allow


def _provider_defaults(_: click.Context, __: click.Parameter, pairs: tuple[str, ...]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        operation, sep, provider = pair.partition("=")
        if not sep or not operation or not provider:
            raise click.BadParameter(f"{pair!r}: give OPERATION=PROVIDER, e.g. payment.create_bill=bank_contoh")
        found[operation.strip()] = provider.strip()
    return found


def _consumer_json(found: Consumer) -> dict[str, Any]:
    shown = {
        "name", "allow", "quota_per_minute", "channel", "names_officers", "providers", "created_at", "revoked_at"
    }  # fmt: skip
    return found.model_dump(mode="json", include=shown)


@consumer.command("add")
@click.argument("name")
@click.option(
    "--allow", "allow", multiple=True, required=True, callback=_known_rights,
    help="Operation or pattern (identity.*, *), or one operation with the reply fields it may receive "
    "('identity.lookup[full_name,birth_date]'); repeat.",
)  # fmt: skip
@click.option("--quota", type=click.IntRange(min=1), help="Requests per minute, across all hub workers.")
@click.option(
    "--channel", type=click.Choice([c.value for c in Channel]), help="The one channel it serves (a kiosk app: kiosk)."
)
@click.option("--names-officers", is_flag=True, help="It may name the officer serving the citizen (X-Officer).")
@click.option(
    "--provider", "providers", multiple=True, callback=_provider_defaults, metavar="OPERATION=PROVIDER",
    help="Its default provider of an operation several serve, for its requests that name none "
    "(payment.create_bill=bank_contoh); repeat.",
)  # fmt: skip
@nats_option
@json_option
def consumer_add(
    name: str,
    allow: tuple[str, ...],
    quota: int | None,
    channel: str | None,
    names_officers: bool,
    providers: dict[str, str],
    nats_url: str | None,
    as_json: bool,
) -> None:
    """Register consumer NAME and print its API key (shown once; only a hash of it is kept)."""
    settings = _settings(nats_url=nats_url)
    fixed = Channel(channel) if channel else None

    async def add(registry: ConsumerRegistry) -> tuple[Consumer, str]:
        return await registry.add(
            name, allow, quota_per_minute=quota, channel=fixed, names_officers=names_officers, providers=providers
        )

    # Only the admin role may write consumers: this command is the one place that uses it.
    found, key = _registry_run(settings, add, as_json, Role.ADMIN)
    if as_json:
        click.echo(json.dumps({**_consumer_json(found), "api_key": key}, indent=2))
        return
    click.echo(f"consumer {found.name} may call: {', '.join(found.allow)}")
    if found.providers:
        click.echo(f"  default providers: {', '.join(f'{op}={name}' for op, name in sorted(found.providers.items()))}")
    if found.channel or found.names_officers:
        click.echo(f"  {_context_text(found)}")
    click.echo(f"API key (shown once, store it now): {key}")


def _context_text(found: Consumer) -> str:
    channel = f"channel {found.channel.value}" if found.channel else "any channel"
    return f"{channel}, {'names officers' if found.names_officers else 'names no officer'}"


@consumer.command("list")
@nats_option
@json_option
def consumer_list(nats_url: str | None, as_json: bool) -> None:
    """List consumers, their rights, quotas and whether they are revoked."""
    settings = _settings(nats_url=nats_url)

    async def listing(registry: ConsumerRegistry) -> list[Consumer]:
        return registry.list()

    found = _registry_run(settings, listing, as_json)
    if as_json:
        click.echo(json.dumps([_consumer_json(c) for c in found], indent=2))
        return
    for c in found:
        quota = f"{c.quota_per_minute}/min" if c.quota_per_minute else "no quota"
        state = f"REVOKED {c.revoked_at:%Y-%m-%d %H:%M}" if c.revoked_at else "active"
        click.echo(f"{c.name:<24} {state:<22} {quota:<12} {', '.join(c.allow)}  ({_context_text(c)})")


@consumer.command("revoke")
@click.argument("name")
@nats_option
@json_option
def consumer_revoke(name: str, nats_url: str | None, as_json: bool) -> None:
    """Revoke consumer NAME: its key stops working on every hub worker."""
    settings = _settings(nats_url=nats_url)
    found = _registry_run(settings, lambda r: r.revoke(name), as_json, Role.ADMIN)
    click.echo(json.dumps(_consumer_json(found), indent=2) if as_json else f"consumer {found.name} revoked")


@main.group()
def audit() -> None:
    """The tamper-evident audit log of every access to personal data (UU 27/2022)."""


async def _verify_log(settings: HubSettings, js: JetStreamContext, log: AuditLog) -> VerifyReport:
    witnesses = [WitnessConfig.parse(text) for text in settings.audit_witnesses]
    store = CheckpointStore(js, checkpoint_file(settings))
    async with httpx.AsyncClient(timeout=10) as http:
        return (await verify_tree(log, store, audit_log_vkey(settings), witnesses, http)).report


def _audit_run(settings: HubSettings, work: Callable[[AuditLog], Awaitable[T]], as_json: bool = False) -> T:
    """Run ``work`` on the audit log once the log verifies: nothing answers from a log that does not."""

    async def with_log(js: JetStreamContext) -> T:
        log = AuditLog(js, audit_key(settings))
        report = await _verify_log(settings, js, log)
        if not report.ok:
            raise HubError.of(
                ErrorCode.INTERNAL,
                f"The audit log does not verify, so it cannot answer: {report.problem}. See `mpp-hub audit verify`",
            )
        return await work(log)

    return _on_jetstream(settings, with_log, as_json)


@audit.command("verify")
@nats_option
@json_option
def audit_verify(nats_url: str | None, as_json: bool) -> None:
    """Check every record against the signed checkpoints, their local copy and the witnesses' cosigned ones."""
    settings = _settings(nats_url=nats_url)

    async def check(js: JetStreamContext) -> VerifyReport:
        return await _verify_log(settings, js, AuditLog(js, audit_key(settings)))

    report = _on_jetstream(settings, check, as_json)
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        _print_verify(report)
    if not report.ok:
        sys.exit(EXIT_CONTRACT_ERROR)


def _print_verify(report: VerifyReport) -> None:
    for warning in report.warnings:
        click.secho(f"warning: {warning}", fg="yellow", err=True)
    if not report.ok:
        click.secho(f"audit log BROKEN: {report.problem}", fg="red", err=True)
        return
    covered = "no checkpoint signed yet" if report.checkpoint_size is None else (
        f"the latest checkpoint covers {report.checkpoint_size}"
        + (f", cosigned by {', '.join(report.witnessed_by)}" if report.witnessed_by else ", not witnessed")
    )  # fmt: skip
    click.echo(f"audit log intact: {report.records} records, root {report.root}; {covered}")


@audit.command("key")
@json_option
def audit_key_command(as_json: bool) -> None:
    """The audit log's public key: what witnesses trust (`mpp-hub witness --log`) and receipt checkers need."""
    try:
        vkey = audit_log_vkey(_settings()).vkey()
    except MissingSecretError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps({"vkey": vkey}) if as_json else vkey)


async def _prove(settings: HubSettings, js: JetStreamContext, index: int, wait: float) -> Receipt:
    log = AuditLog(js, audit_key(settings))
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        witnesses = [WitnessConfig.parse(text) for text in settings.audit_witnesses]
        store = CheckpointStore(js, checkpoint_file(settings))
        async with httpx.AsyncClient(timeout=10) as http:
            verified = await verify_tree(log, store, audit_log_vkey(settings), witnesses, http)
        if not verified.report.ok:
            raise HubError.of(ErrorCode.INTERNAL, f"The audit log does not verify: {verified.report.problem}")
        if index >= verified.tree.size:
            raise HubError.of(ErrorCode.NOT_FOUND, f"The audit log has {verified.tree.size} records; no record {index}")
        best = verified.best_covering(index)
        if best is not None:
            return make_receipt(
                verified.walk.leaves[index], index, verified.tree, best.stored.note, best.checkpoint.size
            )
        if asyncio.get_running_loop().time() > deadline:
            raise HubError.of(
                ErrorCode.NOT_FOUND, f"No signed checkpoint covers record {index} yet; is `mpp-hub up` running?",
                retryable=True,
            )  # fmt: skip
        click.echo(f"waiting for a checkpoint that covers record {index}...", err=True)
        await asyncio.sleep(1)


@audit.command("prove")
@click.argument("index", type=click.IntRange(min=0))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write the receipt here (else stdout).")
@click.option("--wait", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Seconds to wait for a checkpoint that covers the record.")  # fmt: skip
@nats_option
@json_option
def audit_prove(index: int, out: Path | None, wait: float, nats_url: str | None, as_json: bool) -> None:
    """Write the receipt of audit record INDEX (its leaf index, as `who-read --json` shows): the record, a
    cosigned checkpoint and the inclusion proof, for `audit check-receipt` to verify offline."""
    settings = _settings(nats_url=nats_url)
    receipt = _on_jetstream(settings, lambda js: _prove(settings, js, index, wait), as_json)
    text = receipt.model_dump_json(indent=2) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"receipt of record {index} written to {out}", err=True)


@audit.command("check-receipt")
@click.argument("receipt", type=click.File("rb"))
@click.option("--log-key", required=True, help="The audit log's public key (`mpp-hub audit key`).")
@click.option("--witness-key", "witness_keys", multiple=True,
              help="A witness's public key; the receipt must carry its cosignature (repeatable).")  # fmt: skip
@json_option
def audit_check_receipt(receipt: Any, log_key: str, witness_keys: tuple[str, ...], as_json: bool) -> None:
    """Check a receipt offline: the record is in the log whose checkpoint the log key signed and the
    witnesses cosigned. Needs no hub and no network."""
    try:
        checked = check_receipt(
            receipt.read(), NoteVerifier.from_vkey(log_key), [CosignatureVerifier.from_vkey(k) for k in witness_keys]
        )
    except NoteError as exc:
        raise click.UsageError(f"not a usable public key: {exc}") from None
    except ReceiptError as exc:
        if as_json:
            click.echo(json.dumps({"ok": False, "problem": str(exc)}))
        else:
            click.secho(f"receipt does NOT verify: {exc}", fg="red", err=True)
        sys.exit(EXIT_CONTRACT_ERROR)
    record = checked.record
    if as_json:
        click.echo(json.dumps({"ok": True, "record": record.model_dump(mode="json"), "checkpoint_size":
                               checked.checkpoint.size, "cosigned_by": list(checked.cosigned_by)}))  # fmt: skip
        return
    click.echo(
        f"receipt verifies: record {record.index} of {checked.checkpoint.origin} ({checked.checkpoint.size} records), "
        f"cosigned by {', '.join(checked.cosigned_by) or 'no witness'}\n"
        f"  {record.time:%Y-%m-%d %H:%M:%S}Z  {record.consumer or '(unknown caller)'}  {record.operation}  "
        f"purpose={record.purpose or '-'}  {record.outcome}"
        + (f" (amends record {record.amends})" if record.amends is not None else "")
    )


@audit.command("who-read")
@click.argument("identifier")
@click.option(
    "--kind",
    help="What IDENTIFIER is, when it is not a NIK, a BPJS card or a virtual account: kk_number, or an identifier "
    "a contract package declares (nib, ...).",
)
@nats_option
@json_option
def audit_who_read(identifier: str, kind: str | None, nats_url: str | None, as_json: bool) -> None:
    """Who read the personal data of the person IDENTIFIER names (a NIK, a BPJS card number, a virtual account
    number, or with --kind any identifier the contract marks), when, why and through which channel (what a
    citizen may ask under UU 27/2022)."""
    settings = _settings(nats_url=nats_url)
    _register_contract(settings)
    try:
        subject = parse_subject(identifier, kind)
    except HubError as exc:
        raise click.UsageError(exc.error.message) from None
    records = _audit_run(settings, lambda log: log.who_read(subject.value))
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    if not records:
        click.echo(f"no access to this {subject.kind.replace('_', ' ')} is recorded")
    for r in records:
        officer = f" officer={r.officer}" if r.officer else ""
        fields = f" fields={','.join(r.fields)}" if r.fields is not None else ""
        click.echo(
            f"{r.time:%Y-%m-%d %H:%M:%S}Z  {r.consumer or '(unknown caller)':<20} {r.operation:<24} "
            f"purpose={r.purpose or '-':<22} channel={r.channel or '-':<7} {r.outcome}{officer}{fields}"
        )


@audit.command("report")
@click.option("--agency", required=True, help="The agency whose data the report is about (dukcapil, bpjs, ...).")
@click.option("--from", "first", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Last day (included).")
@click.option("--format", "form", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file [default: stdout].")
@click.option("--utc-offset", type=click.IntRange(-12, 14), default=7, show_default=True, help="Hours (WIB: 7).")
@nats_option
def audit_report(
    agency: str, first: Any, last: Any, form: str, out: Path | None, utc_offset: int, nats_url: str | None
) -> None:
    """The usage report of one agency's data over a period (Permendagri 102/2019: every semester): reads per
    consumer, purpose and legal basis, operation and field; refusals counted apart."""
    try:
        period = Period(first.date(), last.date(), dt.timezone(dt.timedelta(hours=utc_offset)))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    report = _audit_run(_settings(nats_url=nats_url), lambda log: usage_report(log.records(), agency, period))
    text = json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n" if form == "json" else report.to_csv()
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"{report.total_reads} reads and {report.total_refusals} refusals of {agency} data written to {out}")


def _month(_: click.Context, __: click.Parameter, text: str) -> Period:
    from hub._mall_report import month_period

    try:
        return month_period(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@main.command("report")
@click.option("--month", required=True, callback=_month, help="The month, YYYY-MM (days in WIB), e.g. 2026-11.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="Directory to write mpp-report-<month>.csv and .pdf in [default: here].",
)
@nats_option
@json_option
def report_command(month: Period, out: Path, nats_url: str | None, as_json: bool) -> None:
    """The mall managers' monthly report: tickets taken, served, no-shows and cancelled, waiting and service times
    (p50, p90) against the standard, and the satisfaction index (IKM), per service and desk; a CSV, and a PDF
    with charts."""
    from hub._mall_report import MallReport, read_tickets, write_report
    from hub._queue import FRONT_BUCKET
    from hub._streams import NotProvisionedError, bind_key_value
    from hub._survey import SurveyBox

    settings = _settings(nats_url=nats_url)
    label = f"{month.first:%Y-%m}"

    def progress(day: dt.date, tickets: int) -> None:
        if not as_json:
            click.echo(f"  {day}: {tickets} tickets", err=True)

    async def read(js: JetStreamContext) -> MallReport:
        try:
            kv = await bind_key_value(js, FRONT_BUCKET)
        except NotProvisionedError as exc:
            raise HubError.of(ErrorCode.INTERNAL, str(exc)) from None
        tickets = await read_tickets(kv, month, progress)
        surveys = await SurveyBox(kv).of_month(month.first.year, month.first.month)  # kept beside the tickets
        return MallReport.of(label, tickets, surveys=surveys, standards=settings.front.front_standards())

    if not as_json:
        click.echo(f"reading the tickets and surveys of {label} (WIB) ...", err=True)
    report = _on_jetstream(settings, read, as_json)
    figures, why_not = _month_figures(settings, label)
    if figures is not None:
        report = report.with_figures(figures)
    elif not as_json:
        click.echo(f"applications and complaints left out: {why_not}", err=True)
    if not as_json:
        click.echo("drawing the charts and writing the PDF ...", err=True)
    files = write_report(report, out)
    if as_json:
        click.echo(json.dumps(report.summary(files), indent=2))
        return
    total = report.total
    click.echo(f"{total.taken if total else 0} tickets of {label} reported in {files[0]} and {files[1]}")


def _month_figures(settings: HubSettings, month: str) -> tuple[dict[str, Any] | None, str]:
    """The month's application and complaint figures from the running hub's edge (its ``/ops/figures``, with
    the CLI's key), or why there are none."""
    state = read_state(settings.data_dir)
    key = _api_key(settings)
    if state is None or key is None:
        return None, f"no hub runs on {settings.data_dir}, or no API key (api_key, MPP_HUB_API_KEY) to ask it with"
    try:
        answer = httpx.get(
            f"{state['http_url']}/ops/figures", params={"month": month}, headers={"Authorization": f"Bearer {key}"},
            timeout=settings.request_timeout * 3,
        )  # fmt: skip
    except httpx.HTTPError as exc:
        return None, f"the hub's edge did not answer ({type(exc).__name__})"
    if answer.status_code != 200:
        return None, f"the hub's edge refused: {answer.status_code} {answer.text[:200]} (the key needs ops.dashboard)"
    figures: dict[str, Any] = answer.json()
    return figures, ""


@main.group()
def dlq() -> None:
    """Dead letters: durable work (process steps, payment events) that kept failing, held for replay."""


def _dead_letters_run(settings: HubSettings, work: Callable[[DeadLetters], Awaitable[T]]) -> T:
    async def with_letters(js: JetStreamContext) -> T:
        return await work(DeadLetters(js))

    return _on_jetstream(settings, with_letters, False)


def _letter_json(letter: DeadLetter) -> dict[str, Any]:
    fields = dataclasses.asdict(letter)
    del fields["data"], fields["headers"]  # the message itself may hold personal data: a preview is masked
    return {**fields, "buried_at": letter.buried_at.isoformat(), "preview": letter.preview(), "size": len(letter.data)}


@dlq.command("list")
@nats_option
@json_option
def dlq_list(nats_url: str | None, as_json: bool) -> None:
    """Every dead letter not yet replayed: where it came from, how often it was tried, and why it failed."""
    letters = _dead_letters_run(_settings(nats_url=nats_url), lambda dead: dead.letters())
    if as_json:
        click.echo(json.dumps([_letter_json(letter) for letter in letters], indent=2))
        return
    if not letters:
        click.echo("no dead letters")
    for letter in letters:
        click.echo(
            f"{letter.seq:>5}  {letter.buried_at:%Y-%m-%d %H:%M:%S}Z  {letter.subject}  "
            f"({letter.stream}#{letter.stream_seq}, {letter.deliveries} deliveries)"
        )
        click.echo(f"       {letter.reason}")


@dlq.command("replay")
@click.argument("seqs", nargs=-1, type=click.IntRange(min=1))
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@click.option("--operator", help="Who replays, for the audit log [default: user@host].")
@nats_option
@json_option
def dlq_replay(
    seqs: tuple[int, ...], replay_all: bool, operator: str | None, nats_url: str | None, as_json: bool
) -> None:
    """Publish dead letters SEQS (or --all) to their subjects again; each replay is audited first."""
    if bool(seqs) == replay_all:
        raise click.UsageError("name the dead letters to replay (see `mpp-hub dlq list`), or give --all")
    settings = _settings(nats_url=nats_url)
    who = operator or f"{getpass.getuser()}@{socket.gethostname()}"

    async def replay(dead: DeadLetters) -> list[DeadLetter]:
        audit = AuditLog(dead.js, audit_key(settings))
        chosen = [letter.seq for letter in await dead.letters()] if replay_all else list(seqs)
        done = []
        for seq in chosen:
            try:
                done.append(await dead.replay(seq, audit=audit, operator=who))
            except NoSuchLetter as exc:
                click.secho(f"error: {exc}", fg="red", err=True)
        return done

    done = _dead_letters_run(settings, replay)
    if as_json:
        click.echo(json.dumps([_letter_json(letter) for letter in done], indent=2))
    else:
        for letter in done:
            click.echo(f"replayed {letter.seq}: {letter.subject} (audited as {who})")
    if len(done) < len(seqs):
        sys.exit(EXIT_CONTRACT_ERROR)


@main.group()
def applications() -> None:
    """Applications (permohonan) and where each stands, through the running hub's API as the CLI's consumer."""


def _edge_get(settings: HubSettings, path: str, params: Mapping[str, str | int] | None = None) -> Any:
    state = read_state(settings.data_dir)
    if state is None or not state.get("http_url"):
        raise click.UsageError(f"no hub with an HTTP API is running on {settings.data_dir}: start `mpp-hub up` first")
    headers = {"Authorization": f"Bearer {_api_key(settings) or ''}"}
    if settings.purpose:
        headers["X-Purpose"] = settings.purpose
    try:
        response = httpx.get(f"{state['http_url']}{path}", params=params, headers=headers, timeout=30)
    except httpx.TransportError as exc:
        raise click.ClickException(f"cannot reach the hub at {state['http_url']}: {exc}") from None
    if not response.is_success:
        _print_error(HubError(ContractError.model_validate_json(response.content)), False)
        sys.exit(EXIT_CONTRACT_ERROR)
    return response.json()


def _print_application(app: Application) -> None:
    click.echo(f"{app.tracking_no}  {app.title}  [{app.status.value}]  via {app.channel.value}")
    for key, value in app.details.items():
        click.echo(f"  {key}: {value}")
    for step in app.history:
        agency = f" ({step.agency})" if step.agency else ""
        click.echo(f"  {step.at:%Y-%m-%d %H:%M:%S}Z  {step.status.value:<17}{agency} {step.message}")


@applications.command("show")
@click.argument("tracking_no")
@click.option("--purpose", help="Purpose of access (env MPP_HUB_PURPOSE).")
@json_option
def applications_show(tracking_no: str, purpose: str | None, as_json: bool) -> None:
    """One application with its whole status history."""
    settings = _settings(purpose=purpose)
    found = Application.model_validate(_edge_get(settings, f"/v1/applications/{tracking_no}"))
    if as_json:
        click.echo(found.model_dump_json(indent=2))
    else:
        _print_application(found)


@applications.command("list")
@click.option("--nik", help="Only this citizen's applications.")
@click.option("--status", type=click.Choice([s.value for s in ApplicationStatus]), help="Only this status.")
@click.option("--limit", type=click.IntRange(1, 1000), help="At most this many, the oldest first (the hub's: 100).")
@click.option("--purpose", help="Purpose of access (env MPP_HUB_PURPOSE).")
@json_option
def applications_list(
    nik: str | None, status: str | None, limit: int | None, purpose: str | None, as_json: bool
) -> None:
    """Applications on this hub (or of one citizen), oldest first."""
    settings = _settings(purpose=purpose)
    path = f"/v1/citizens/{nik}/applications" if nik else "/v1/applications"
    query = {name: value for name, value in (("status", status), ("limit", limit)) if value is not None}
    found = [Application.model_validate(a) for a in _edge_get(settings, path, query or None)]
    found = [a for a in found if status is None or a.status.value == status]
    if as_json:
        click.echo(json.dumps([a.model_dump(mode="json") for a in found], indent=2))
        return
    for app in found:
        click.echo(f"{app.tracking_no}  {app.updated_at:%Y-%m-%d %H:%M}Z  {app.status.value:<17} {app.title}")


@main.command("trace")
@click.argument("correlation_id")
@nats_option
@json_option
def trace_command(correlation_id: str, nats_url: str | None, as_json: bool) -> None:
    """The path of one request through the hub, from the recorded traffic (the last day)."""
    settings = _settings(nats_url=nats_url)
    records: list[TrafficRecord] = _on_jetstream(settings, lambda js: trace(js, correlation_id), as_json, Role.OPS)
    if as_json:
        click.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    if not records:
        click.echo(f"no exchange with correlation id {correlation_id} in the recorded traffic")
    for r in records:
        click.echo(
            f"{r.at:%H:%M:%S.%f}Z  {r.worker:<24} {r.agency or 'hub':<9} {r.operation:<24} {r.outcome:<18} "
            f"{r.latency_ms:>8.1f} ms  {r.consumer or '-'}"
        )


def _on_bus(settings: HubSettings, work: Callable[[HubClient], Awaitable[T]]) -> T | None:
    """Run a watcher on the bus until it ends or Ctrl-C; None when it was interrupted."""

    bus = _bus(settings)

    async def main() -> T:
        client = await HubClient.connect(bus, Role.OPS, keep_reconnecting=True)
        try:
            return await work(client)
        finally:
            await client.close()

    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        return None
    except HubError as exc:
        _print_error(exc, False)
        sys.exit(EXIT_CONTRACT_ERROR)


@main.command("tail")
@click.option("--agency", help="Only this agency's exchanges (dukcapil, bpjs, ...).")
@click.option("--operation", help="Only this operation's exchanges (identity.lookup, ...).")
@click.option("--errors", "errors_only", is_flag=True, help="Only exchanges that ended in a contract error.")
@click.option("--limit", type=click.IntRange(min=1), help="Stop after N exchanges.")
@nats_option
@json_option
def tail_command(
    agency: str | None, operation: str | None, errors_only: bool, limit: int | None, nats_url: str | None, as_json: bool
) -> None:
    """Follow every exchange on the bus as it happens (personal data masked), until Ctrl-C."""
    settings = _settings(nats_url=nats_url)
    _on_bus(
        settings,
        lambda client: _watch.tail(
            client.nc, agency=agency, operation=operation, errors_only=errors_only, as_json=as_json, limit=limit
        ),
    )


@main.command("top")
@click.option("--once", is_flag=True, help="Collect for --seconds, print one snapshot and exit.")
@click.option(
    "--seconds", type=click.FloatRange(min=0.1), default=5.0, show_default=True, help="How long --once collects."
)
@nats_option
@json_option
def top_command(once: bool, seconds: float, nats_url: str | None, as_json: bool) -> None:
    """Rate, latency percentiles and errors per agency and operation, live (or --once)."""
    if as_json and not once:
        raise click.UsageError("--json prints one snapshot: use it with --once")
    settings = _settings(nats_url=nats_url)
    _on_bus(settings, lambda client: _watch.top(client.nc, once=once, seconds=seconds, as_json=as_json))


@main.group()
def contract() -> None:
    """The common service contract."""


@contract.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--package", help="Export this contract package (its namespace, e.g. water) instead of the core contract."
)
@json_option
def export(directory: Path, package: str | None, as_json: bool) -> None:
    """Write JSON Schema for every model and operation into DIRECTORY, and print the schema hashes a plugin pins."""
    _register_contract(_settings())
    try:
        written = export_json_schema(directory, package)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    index = json.loads((directory / "operations.json").read_text())
    if as_json:
        click.echo(json.dumps({"directory": str(directory), "files": len(written), **index}, indent=2))
        return
    what = f"package {package}" if package else "the core contract"
    click.echo(f"wrote {len(written)} files for {what} v{index['contract_version']} to {directory}")
    # The values a plugin pins: Served(handler, schema_hash="...") for the operation at this version.
    click.echo(f"  {'operation':<28} {'version':<8} schema hash")
    for op in index["operations"]:
        click.echo(f"  {op['name']:<28} {op['version']:<8} {op['schema_hash']}")


@contract.command("diff")
@click.argument("old", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, file_okay=False, path_type=Path))
@json_option
def contract_diff(old: Path, new: Path, as_json: bool) -> None:
    """Which changes between two `contract export` directories break which operations (exit 1 if any does)."""
    try:
        diff = diff_contracts(old, new)
    except (OSError, ValueError, KeyError) as exc:
        raise click.UsageError(f"cannot read the exported contracts: {exc}") from None
    click.echo(json.dumps(diff.to_json(), indent=2) if as_json else diff.render())
    if diff.breaking:
        sys.exit(EXIT_CONTRACT_ERROR)


@main.command("new-plugin")
@click.argument("code")
@click.option("--name", help="The agency's name, as people know it [default: CODE].")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in AgencyKind]),
    default=AgencyKind.REGIONAL.value,
    show_default=True,
    help="What kind of agency it is.",
)
@click.option(
    "--operation",
    metavar="NAMESPACE.VERB",
    help=f"A new operation (e.g. water.bill) the plugin adds in a contract package of its own [default: serve "
    f"{EXAMPLE_OPERATION} as an example].",
)
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    help="Where to create the plugin's folder [default: here].",
)
def new_plugin_command(code: str, name: str | None, kind: str, operation: str | None, parent: Path) -> None:
    """Scaffold a new agency plugin CODE as its own package: hooks, client, sandbox, settings, tests."""
    try:
        folder = new_plugin(code, name=name, kind=AgencyKind(kind), operation=operation, parent=parent)
    except ScaffoldError as exc:
        raise click.UsageError(str(exc)) from None
    if operation is None:
        serves = f"serving {EXAMPLE_OPERATION} against its own sandbox"
        run = "mpp-hub up --disable dukcapil   (one agency per operation; see docs/writing-a-plugin.md)"
    else:
        serves = f"adding {operation} in its own contract package (contract.py)"
        run = "mpp-hub up   (beside the built-in agencies; see docs/writing-a-plugin.md)"
    click.echo(f"created {folder}: plugin {code!r} {serves}")
    click.echo(f"Next:  cd {folder} && pip install -e . && pytest\n       {run}")


@main.group("bus")
def bus_group() -> None:
    """The bus of a hub on a NATS cluster: the credentials of its machines, and its streams."""


@bus_group.command("credentials")
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory to write (or update)."
)
@click.option(
    "--node",
    "nodes",
    multiple=True,
    required=True,
    metavar="NAME=HOST[:CLIENT_PORT:CLUSTER_PORT]",
    help="A nats-server of the cluster and the host the others reach it at (repeat for each).",
)
@click.option("--cluster-port", type=PORT, default=6222, show_default=True, help="Route port.")
@click.option("--client-port", type=PORT, default=4222, show_default=True, help="Client port.")
@click.option("--cluster-name", default="mpp", show_default=True, help="The NATS cluster's name.")
@click.option(
    "--store-dir",
    default="/var/lib/nats/jetstream",
    show_default=True,
    help="JetStream storage on each node; {name} stands for the node's name.",
)
@click.option(
    "--install-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where each node keeps ca.pem, <name>.pem and <name>.key, as its config names them [default: under --out].",
)
@json_option
def bus_credentials(
    out: Path,
    nodes: tuple[str, ...],
    cluster_port: int,
    client_port: int,
    cluster_name: str,
    store_dir: str,
    install_dir: Path | None,
    as_json: bool,
) -> None:
    """Write the bus CA, each node's certificate and nats-server config, and every role's credentials."""
    from hub._cluster_config import ClusterConfigError, parse_node, render_files, write_cluster_config

    _register_contract(_settings())  # the roles may call every major version of the contract the plugins make up
    try:
        parsed = [parse_node(spec, client_port=client_port, cluster_port=cluster_port) for spec in nodes]
        files = write_cluster_config(
            out, parsed, cluster_name=cluster_name, store_dir=store_dir, install_dir=install_dir
        )
    except ClusterConfigError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(json.dumps(files.to_json(), indent=2) if as_json else render_files(files))


@bus_group.command("setup")
@nats_option
@click.option("--replicas", type=click.IntRange(1, 5), help="Replicas of each stream and bucket (3 on 3 nodes).")
@json_option
def bus_setup(nats_url: str | None, replicas: int | None, as_json: bool) -> None:
    """As the admin role: create the hub's streams and buckets (or bring them to --replicas), then list them."""
    import nats.errors

    from hub._cluster_config import render_setup, setup_bus
    from hub._credentials import has_role

    settings = _settings(nats_url=nats_url, stream_replicas=replicas)
    if not has_role(credentials := _bus(settings).credentials, Role.ADMIN):
        raise click.UsageError(
            f"`mpp-hub bus setup` acts as the admin role, and {credentials} has no admin.nk: run it with the admin's "
            "credentials (nats_credentials, MPP_HUB_NATS_CREDENTIALS), kept offline"
        )
    try:
        found = _on_jetstream(settings, lambda js: setup_bus(js, settings.stream_replicas), as_json, Role.ADMIN)
    except (nats.errors.Error, OSError, TimeoutError) as exc:
        click.secho(f"mpp-hub bus setup: {type(exc).__name__}: {exc}", fg="red", err=True)
        sys.exit(EXIT_CANNOT_START)
    url = _nats_url(settings)
    if as_json:
        click.echo(json.dumps({"nats_url": url, "provisioned": [p.to_json() for p in found]}, indent=2))
    else:
        click.echo(render_setup(url, found))


@main.command("simulate-day")
@click.option("--tickets", type=click.IntRange(1, 2000), default=240, show_default=True, help="Tickets taken.")
@click.option("--complaints", type=click.IntRange(0, 50), default=4, show_default=True, help="Complaints filed.")
@click.option("--seed", type=int, default=2026, show_default=True, help="The same seed gives the same day.")
@json_option
def simulate_day_command(tickets: int, complaints: int, seed: int, as_json: bool) -> None:
    """A day in the hall against the sandbox hub `mpp-hub up` runs here: tickets at kiosks, on the portal and in
    the van, every desk calling at once, no-shows, surveys and complaints; then what it came to."""
    from hub._simulated_day import DayPlan, run_simulated_day

    settings = _settings()
    state = read_state(settings.data_dir)
    if state is None or not state.get("sandboxes"):
        raise click.UsageError(
            f"no sandbox hub runs on {settings.data_dir}: the simulated day writes a day of tickets into the mall's "
            "queue, so it runs only against `mpp-hub up` in sandbox mode (start it first, with the same data dir)"
        )
    plan = DayPlan(tickets=tickets, complaints=complaints, seed=seed)
    plugins = load_plugins(disabled=settings.disabled_plugins, only=settings.load_plugins)
    dukcapil = plugins.sandboxes.get("dukcapil")
    people = list(dukcapil.samples().get("nik", ())) if dukcapil and "pengaduan" in plugins.processes else []

    async def run(js: JetStreamContext) -> Any:
        registry = await ConsumerRegistry.open(js)
        try:
            return await run_simulated_day(
                registry, state["http_url"], settings.front, plan, people, _progress(as_json)
            )
        finally:
            await registry.close()

    result = _on_jetstream(settings, run, as_json, Role.ADMIN)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    click.echo(result.summary())
    if result.refused:
        sys.exit(1)


def _progress(as_json: bool) -> Callable[[str], None]:
    return (lambda line: click.echo(line, err=True)) if as_json else click.echo


from hub._witness_cli import witness  # noqa: E402  # last: it registers on `main`

main.add_command(witness)
main.add_command(site)
