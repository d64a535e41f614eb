"""The real components the bench measures: nats-server, the sandboxes, the echo responder and hub processes.

Everything runs in processes of its own on loopback sockets, as in production: the bench process only
generates load, so its own CPU use does not count against the hub's (it shares the machine, though).
The nats-server is the secured one `mpp-hub up` runs (TLS, one user per role), so every figure includes
what the bus's security costs. Two bench-only users are added to it: the echo responder, which may only
answer on the echo subject, and the load generator, which has the CLI role's rights (it calls as
`mpp-hub call` does, with the CLI's caller assertions) plus the echo subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import nats
import nkeys
from nats.aio.client import Client as NATS

from bench._cpu import CpuProbe
from bench._echo import SUBJECT as ECHO_SUBJECT
from hub import load_plugins
from hub._assertions import Issuer
from hub._bus_access import BusAccess, server_list
from hub._roles import Permissions, Role, permissions
from hub._secrets import write_secret
from hub.testing._bus import TestBus, add_consumer, issuer_for

__all__ = ["AGENCIES", "AUDIT_KEY", "BENCH_INBOX", "MPP_HUB", "Child", "HubProcess", "Stack", "bench_user", "rss_mb"]

AGENCIES = ("bank", "bpjs", "dukcapil", "samsat")
#: What the measured hubs load: the built-in plugins (the agencies and the renewal process), never a plugin
#: installed beside them, which would have no settings here and change what is measured.
_PLUGINS = (*AGENCIES, "vehicle_tax_renewal")
#: An obviously fake key: the bench's NATS server and its audit stream are thrown away after the run.
AUDIT_KEY = "bench-audit-key-not-a-secret"
MPP_HUB = str(Path(sys.executable).parent / "mpp-hub")
_START_TIMEOUT = 60.0
#: Replies to the load generator arrive here: the CLI role's inbox, since it has the CLI's rights.
BENCH_INBOX = "_INBOX_cli"


def bench_user() -> tuple[str, str]:
    """A fresh user nkey: (seed, public key)."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER).decode()
    return seed, nkeys.from_seed(seed.encode()).public_key.decode()


def _extra_users(echo: str, loader: str) -> dict[str, Permissions]:
    cli = permissions(Role.CLI)
    return {
        echo: Permissions(publish=(), subscribe=(ECHO_SUBJECT,), allow_responses=True),
        loader: Permissions(publish=(*cli.publish, ECHO_SUBJECT), subscribe=cli.subscribe),
    }


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child:
    """A helper process that lives while its stdin is open and says it is ready on its first stdout line."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    async def first_line(self) -> str:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), _START_TIMEOUT)
        if not line:
            raise RuntimeError(f"{self.process.args!r} exited before it was ready")
        return line.strip()

    def stop(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class HubProcess:
    """A real ``mpp-hub up`` or ``mpp-hub worker``, its logs in files (a chatty hub never blocks on a pipe)."""

    def __init__(self, args: list[str], env: Mapping[str, str], workdir: Path, http_port: int | None) -> None:
        self.log = Path(tempfile.mkstemp(dir=workdir, prefix="hub-", suffix=".log")[1])
        self.http_url = f"http://127.0.0.1:{http_port}" if http_port else None
        with self.log.open("w") as out:
            self.process = subprocess.Popen([MPP_HUB, *args], cwd=workdir, env=dict(env), stdout=out, stderr=out)

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"hub process exited with code {self.process.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Stack:
    """nats-server, the four sandboxes and the echo responder; hub processes come and go on top."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="mpp-bench-"))
        self._echo_seed, echo_public = bench_user()
        self._seed, public = bench_user()
        # In the hubs' data dir: `mpp-hub up` and `worker` find the bus credentials there, as on one machine.
        self.nats = TestBus(self.workdir / "hub", extra_users=_extra_users(echo_public, public))
        self.bus: BusAccess | None = None
        self.nats_url = ""
        self.sandboxes: dict[str, str] = {}
        self.sandbox_pids: dict[str, int] = {}
        self.consumer = "bench"
        self.api_key = ""
        self.issuer: Issuer | None = None
        self.nc: NATS | None = None
        self._children: list[Child] = []
        self._hubs: list[HubProcess] = []

    async def start(self) -> None:
        self.bus = await self.nats.astart()
        self.nats_url = self.bus.url
        assert self.bus.ca_file is not None
        echo_seed = self.workdir / "echo.nk"
        write_secret(echo_seed, self._echo_seed)
        sandboxes = {code: Child("bench._sandbox", code) for code in AGENCIES}
        echo = Child("bench._echo", self.nats_url, str(self.bus.ca_file), str(echo_seed))
        self._children += [*sandboxes.values(), echo]
        for code, child in sandboxes.items():
            self.sandboxes[code] = await child.first_line()
            self.sandbox_pids[code] = child.process.pid
        await echo.first_line()
        self.nc = await self.connect()
        self.api_key = await add_consumer(self.bus, self.consumer, ["*"])
        self.issuer = issuer_for(self.bus, Role.CLI, AUDIT_KEY.encode())

    async def connect(self) -> NATS:
        """A connection as the load generator: TLS against the bus CA, its own nkey, the CLI's inbox."""
        assert self.bus is not None
        options = {**self.bus.connect_options(Role.CLI), "name": "bench", "nkeys_seed_str": self._seed}
        return await nats.connect(server_list(self.bus.url), **{**options, "inbox_prefix": BENCH_INBOX})

    @property
    def nats_pid(self) -> int:
        pid = self.nats.embedded.nats.pid
        if pid is None:
            raise RuntimeError("nats-server is not running")
        return pid

    def cpu_probe(self, hubs: Mapping[str, HubProcess] | None = None, *, loader: str = "loader") -> CpuProbe:
        """The processes a call of the bench's operation (identity.lookup, on Dukcapil) goes through: this
        process (the load generator, named ``loader``), nats-server, the Dukcapil sandbox, and ``hubs`` with
        the processes they start (an ``mpp-hub up`` with more than one edge process is a launcher)."""
        pids = {loader: os.getpid(), "nats": self.nats_pid, "sandbox": self.sandbox_pids["dukcapil"]}
        return CpuProbe.of(pids, trees={name: hub.pid for name, hub in (hubs or {}).items()})

    def plugin_settings(self, code: str) -> dict[str, Any]:
        """The plugin's settings pointing at its sandbox, as the hub builds them in sandbox mode."""
        return dict(load_plugins(only={code}).sandboxes[code].settings(self.sandboxes[code]))

    def hub_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # The developer's own MPP_HUB_* must not leak into the measured hubs.
        env = {k: v for k, v in os.environ.items() if not k.startswith("MPP_HUB_")}
        env.update(
            MPP_HUB_NATS_URL=self.nats_url, MPP_HUB_AUDIT_KEY=AUDIT_KEY, MPP_HUB_SANDBOX="false",
            MPP_HUB_DATA_DIR=str(self.workdir / "hub"), MPP_HUB_LOAD_PLUGINS=json.dumps(_PLUGINS),
        )  # fmt: skip
        for code in AGENCIES:
            for field, value in self.plugin_settings(code).items():
                env[f"MPP_HUB_PLUGINS__{code.upper()}__{field.upper()}"] = str(value)
        env.update(extra or {})
        return env

    async def start_hub(self, *, portal: bool, env: Mapping[str, str] | None = None, workers: int = 1) -> HubProcess:
        """``mpp-hub up`` (the portal API, serving the bus too) or one more ``mpp-hub worker``; returns when serving
        (``workers``: how many bus workers it brings, one per process of an ``mpp-hub up`` with more edges)."""
        target = await self.instances() + workers
        port = _free_port() if portal else None
        args = ["up", "--port", str(port)] if portal else ["worker"]
        hub = HubProcess(args, self.hub_env(env), self.workdir, port)
        self._hubs.append(hub)
        deadline = time.monotonic() + _START_TIMEOUT
        while await self.instances() < target or (portal and not await _healthy(hub.http_url)):
            hub.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"hub did not start within {_START_TIMEOUT:g}s (log: {hub.log})")
            await asyncio.sleep(0.1)
        return hub

    async def stop_hub(self, hub: HubProcess) -> None:
        await asyncio.to_thread(hub.stop)
        self._hubs.remove(hub)

    async def instances(self) -> int:
        """Hub processes serving every agency right now (the fewest instances over the four services)."""
        assert self.nc is not None
        inbox = self.nc.new_inbox()
        seen: dict[str, set[str]] = {code: set() for code in AGENCIES}
        sub = await self.nc.subscribe(inbox)
        try:
            await self.nc.publish("$SRV.PING", b"", reply=inbox)
            deadline = time.monotonic() + 0.2
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await sub.next_msg(timeout=left)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                if msg.data:
                    info = json.loads(msg.data)
                    code = info.get("name", "").removeprefix("mpp-")
                    if code in seen:
                        seen[code].add(info["id"])
        finally:
            await sub.unsubscribe()
        return min(len(ids) for ids in seen.values())

    async def set_latency(self, latency_ms: float) -> None:
        """A fixed added latency in every sandbox (0 clears it)."""
        async with httpx.AsyncClient() as http:
            for url in self.sandboxes.values():
                if latency_ms:
                    response = await http.put(f"{url}/_sandbox/faults", json={"latency_ms": latency_ms})
                else:
                    response = await http.delete(f"{url}/_sandbox/faults")
                response.raise_for_status()

    async def stop(self) -> None:
        for hub in list(self._hubs):
            await self.stop_hub(hub)
        if self.nc is not None:
            await self.nc.close()
        for child in self._children:
            await asyncio.to_thread(child.stop)
        await self.nats.astop()
        shutil.rmtree(self.workdir, ignore_errors=True)


async def _healthy(url: str | None) -> bool:
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            return (await http.get(f"{url}/healthz")).status_code == 200
    except httpx.HTTPError:
        return False
