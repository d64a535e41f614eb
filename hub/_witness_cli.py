"""``mpp-hub witness``: run a transparency-log witness for the hub's audit log, or print its key.

    mpp-hub witness --data-dir D --log <log vkey> [--log ...] [--name N] [--host 127.0.0.1] [--port 8090]
    mpp-hub witness key --data-dir D [--name N]

The witness needs no NATS and no hub settings: only its own data directory and the log keys it trusts.
docs/witness.md describes the protocol, the files and the security model.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from hub._asgi import AsgiServer
from hub._logging import configure_logging
from hub._loop import run as run_loop
from hub._witness import KEY_FILE, LOGS_FILE, Witness, WitnessSetupError, create_app, load_cosigner

__all__ = ["DEFAULT_DATA_DIR", "DEFAULT_PORT", "witness"]

#: The witness's own directory: never the hub's (``.mpp-hub``), whose account it is meant to check.
DEFAULT_DATA_DIR = Path(".mpp-witness")
DEFAULT_PORT = 8090
#: As hub.cli: 3 when it cannot start (bad configuration, a directory in use, a port taken).
EXIT_CANNOT_START = 3

_ROUTES = "POST /add-checkpoint, GET /<sha256 of origin>/checkpoint, GET /checkpoint/<origin>"

_data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help="The witness's own directory: its key (secrets/), the latest cosigned checkpoints, logs.txt.",
)
_name_option = click.option(
    "--name", help="Name of the witness key when it is first made [default: witness-<hostname>]; it cannot change."
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


def _cannot_start(message: str) -> None:
    click.secho(f"mpp-hub witness cannot start: {message}", fg="red", err=True)
    sys.exit(EXIT_CANNOT_START)


@click.group("witness", invoke_without_command=True)
@_data_dir_option
@click.option(
    "--log",
    "logs",
    multiple=True,
    metavar="VKEY",
    help=f"A log to witness, by its verifier key (<origin>+<id>+<key>; the key name is the checkpoints' origin). "
    f"Repeatable; added to the vkeys in <data dir>/{LOGS_FILE}, one per line.",
)
@_name_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback unless told).")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True, help="0: any free.")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info", show_default=True
)
@click.option("--log-format", type=click.Choice(["json", "console"]), default="console", show_default=True)
@_json_option
@click.pass_context
def witness(
    ctx: click.Context,
    data_dir: Path,
    logs: tuple[str, ...],
    name: str | None,
    host: str,
    port: int,
    log_level: str,
    log_format: str,
    as_json: bool,
) -> None:
    """Serve a C2SP tlog-witness: cosign the audit log's checkpoints only while it grows consistently.

    Prints the witness's vkey at start: configure it on the hub as audit_witnesses = ["<url>=<vkey>"].
    """
    if ctx.invoked_subcommand is not None:
        return
    configure_logging(log_level, log_format)
    try:
        opened = Witness.open(data_dir, logs, name=name)
    except WitnessSetupError as exc:
        _cannot_start(str(exc))
        return
    with opened:
        try:
            _probe(host, port)
            run_loop(_serve(opened, host, port, lambda url: _report(opened, url, as_json)))
        except OSError as exc:
            _cannot_start(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        except SystemExit:  # uvicorn exits (after logging why) if it still cannot bind, e.g. a port taken since
            _cannot_start(f"cannot listen on {host}:{port} (see the error above)")
    click.echo("MPP Hub witness stopped.", err=as_json)


def _probe(host: str, port: int) -> None:
    """Raise OSError now if `host`:`port` cannot be bound, rather than let uvicorn exit the process."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        probe.bind((host, port))


async def _serve(witness: Witness, host: str, port: int, on_started: Callable[[str], None]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    server = AsgiServer(create_app(witness), host=host, port=port)
    url = await server.start()
    try:
        on_started(url)
        await stop.wait()
    finally:
        await server.stop()


def _logs_json(witness: Witness) -> list[dict[str, Any]]:
    states = witness.states()
    return [
        {
            "origin": origin,
            "vkeys": [v.vkey() for v in verifiers],
            "size": states[origin].checkpoint.size if origin in states else None,
        }
        for origin, verifiers in sorted(witness.logs.items())
    ]


def _report(witness: Witness, url: str, as_json: bool) -> None:
    if as_json:
        report = {
            "name": witness.name,
            "vkey": witness.vkey,
            "url": url,
            "data_dir": str(witness.data_dir),
            "logs": _logs_json(witness),
        }
        click.echo(json.dumps(report), nl=True)
        sys.stdout.flush()
        return
    lines = [
        f"MPP Hub witness {witness.name} is up",
        f"  vkey      {witness.vkey}",
        f"  HTTP      {url}  ({_ROUTES})",
    ]
    for log in _logs_json(witness):
        held = "nothing cosigned yet" if log["size"] is None else f"cosigned up to size {log['size']}"
        lines.append(f"  log       {log['origin']}  ({held})")
    lines += [
        f"  data      {witness.data_dir} (key in {KEY_FILE}, 0600)",
        "On the hub, trust this witness with (use the address the hub reaches it at):",
        f'  audit_witnesses = ["{url}={witness.vkey}"]',
        "Press Ctrl-C to stop.",
    ]
    click.echo("\n".join(lines))
    sys.stdout.flush()


@witness.command("key")
@_data_dir_option
@_name_option
@_json_option
def witness_key(data_dir: Path, name: str | None, as_json: bool) -> None:
    """Print the witness's verifier key (vkey), making the key first if there is none yet; serve nothing."""
    try:
        cosigner, created = load_cosigner(data_dir, name)
    except WitnessSetupError as exc:
        _cannot_start(str(exc))
        return
    if as_json:
        click.echo(json.dumps({"name": cosigner.name, "vkey": cosigner.verifier_key(), "created": created}))
        return
    click.echo(cosigner.verifier_key())
    if created:
        click.echo(f"(a new witness key was made in {data_dir / KEY_FILE})", err=True)
