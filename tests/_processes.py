"""Running the real ``mpp-hub`` command in child processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

MPP_HUB = str(Path(sys.executable).parent / "mpp-hub")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment minus any MPP_HUB_* of the developer's shell, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MPP_HUB_")}
    env.update(extra or {})
    return env


def run_cli(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MPP_HUB, *args], cwd=cwd, env=hub_env(env), capture_output=True, text=True, timeout=timeout)


class HubProcess(subprocess.Popen[str]):
    """A child `mpp-hub` writing to files, not pipes, so a chatty hub never blocks on a full pipe."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]) -> None:
        self.out_path = Path(tempfile.mkstemp(dir=cwd, prefix="mpp-hub-", suffix=".out")[1])
        self.err_path = Path(tempfile.mkstemp(dir=cwd, prefix="mpp-hub-", suffix=".err")[1])
        self.command = args  # Popen's own ``args`` is typed for every form a command may take
        with self.out_path.open("w") as out, self.err_path.open("w") as err:
            super().__init__(args, cwd=cwd, env=env, stdout=out, stderr=err, text=True)

    def communicate(self, input: str | None = None, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        return self.out_path.read_text(), self.err_path.read_text()


def start_cli(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> HubProcess:
    return HubProcess([MPP_HUB, *args], cwd=cwd, env=hub_env(env))


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ")[-1][:1]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found
