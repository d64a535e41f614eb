"""The rough edges a new user hits on the command line (issue 15), each as that user meets it: the real `mpp-hub`
in a child process, a real nats-server, and what the terminal shows."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts import OPERATIONS, ErrorCode, HubError
from hub._bus_access import BusAccess
from hub._consumers import ConsumerRegistry
from hub._plugins import installed_plugins
from hub._roles import Role
from hub._up import LOCK_FILE
from tests._plugin_venv import BUILT_IN_PLUGINS
from tests._processes import MPP_HUB, free_port, hub_env, processes_mentioning, run_cli
from tests._until import until_sync
from tests.conftest import bus_env

#: How long a hub may take to come up on a busy 2-core machine.
_START = 60


class _Up:
    """`mpp-hub up` on free ports, in a process group of its own as a shell runs it, writing to files."""

    def __init__(self, workdir: Path, data_dir: Path) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.out, self.err = workdir / f"up-{self.port}.out", workdir / f"up-{self.port}.err"
        args = [MPP_HUB, "up", "--port", str(self.port), "--nats-port", "-1", "--data-dir", str(data_dir)]
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                args, cwd=workdir, env=hub_env(), stdout=out, stderr=err, start_new_session=True
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> dict[str, Any]:
        def healthy() -> dict[str, Any] | None:
            if self.process.poll() is not None:
                raise AssertionError(f"mpp-hub up exited with {self.process.returncode}: {self.err.read_text()}")
            try:
                answer = httpx.get(f"{self.url}/healthz", timeout=2)
            except httpx.TransportError:
                return None
            return answer.json() if answer.status_code == 200 else None

        return until_sync(healthy, "/healthz to answer 200", _START)

    def nats_servers(self) -> list[int]:
        # nats-server's command line names files under <data-dir>/nats; the hub's own names only <data-dir>.
        return processes_mentioning(str(self.data_dir / "nats"))

    def stopped(self, timeout: float = 30) -> tuple[int, str, str]:
        code = self.process.wait(timeout)
        return code, self.out.read_text(), self.err.read_text()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def ups(tmp_path: Path) -> Iterator[list[_Up]]:
    """Hubs a test starts; any left running at the end is killed (its nats-server follows it, PR_SET_PDEATHSIG)."""
    started: list[_Up] = []
    yield started
    for up in started:
        up.kill()


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{text}"
    return lines[0]


# --- 1. Ctrl-C ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_to_the_whole_process_group_stops_the_hub_cleanly(
    signum: signal.Signals, tmp_path: Path, ups: list[_Up]
) -> None:
    """Ctrl-C in a terminal signals the whole foreground group: the hub stops everything in order, its
    nats-server last, says "MPP Hub stopped." and exits 0, leaving no nats-server behind."""
    up = _Up(tmp_path, tmp_path / "data")
    ups.append(up)
    up.wait_ready()
    assert up.nats_servers(), "the embedded nats-server should be running"
    os.killpg(os.getpgid(up.process.pid), signum)
    code, out, err = up.stopped()
    assert code == 0, err
    assert out.strip().endswith("MPP Hub stopped.") and "Traceback" not in err
    assert up.nats_servers() == []
    assert not (up.data_dir / "hub.json").exists()


# --- 2. one hub per data dir ----------------------------------------------------------------------------------


def test_a_second_up_on_the_same_data_dir_refuses_and_a_killed_hub_blocks_no_restart(
    tmp_path: Path, ups: list[_Up]
) -> None:
    """A second `up` in the same folder refuses in one line naming the running hub, which serves on untouched;
    once that hub is SIGKILLed (its lock dies with it and its nats-server) a new `up` starts."""
    data_dir = tmp_path / "data"
    first = _Up(tmp_path, data_dir)
    ups.append(first)
    first.wait_ready()
    second = run_cli("up", "--port", str(free_port()), "--nats-port", "-1", "--data-dir", str(data_dir), cwd=tmp_path)
    assert second.returncode == 3
    refusal = _one_line(second.stderr)
    assert f"pid {first.process.pid}" in refusal and first.url in refusal and "--data-dir" in refusal
    assert json.loads((data_dir / LOCK_FILE).read_text()) == {"pid": first.process.pid, "http_url": first.url}
    assert httpx.get(f"{first.url}/healthz", timeout=5).status_code == 200

    first.kill()
    third = _Up(tmp_path, data_dir)
    ups.append(third)
    assert third.wait_ready()["status"] == "ok"
    assert json.loads((data_dir / LOCK_FILE).read_text())["pid"] == third.process.pid
    third.process.send_signal(signal.SIGTERM)
    code, out, err = third.stopped()
    assert code == 0 and "MPP Hub stopped." in out, err


def test_a_start_waits_for_the_nats_server_a_dead_hub_left_shutting_down(tmp_path: Path, ups: list[_Up]) -> None:
    """The lock a SIGKILLed hub's nats-server still holds (it stops on SIGTERM from the kernel, and until then
    it has the store open): a new `up` waits for it, saying so, and starts once it lets go, on the same store."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(data_dir / LOCK_FILE), dead.stdout.strip()],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as holder:  # fmt: skip
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        up = _Up(tmp_path, data_dir)
        ups.append(up)
        until_sync(lambda: "waiting for the nats-server of a hub that died" in up.err.read_text() or None,
                 "the new hub to say it waits", _START)  # fmt: skip
        assert up.process.poll() is None
        holder.stdin.close()  # the stand-in stops, and lets go of the lock
    assert up.wait_ready()["status"] == "ok"


#: A stand-in for a dead hub's nats-server: holds the data-dir lock, recording the dead hub, until stdin closes.
_HOLD_LOCK = """
import fcntl, json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
os.pwrite(fd, json.dumps({"pid": int(sys.argv[2]), "http_url": None}).encode(), 0)
print("locked", flush=True)
sys.stdin.read()
"""


# --- 3. a busy NATS port --------------------------------------------------------------------------------------


def test_a_busy_nats_port_is_one_line_naming_the_port_and_the_flag(tmp_path: Path) -> None:
    """Another program on the NATS port: one line saying which port, that it is in use, and what changes it,
    instead of nats-server's start-up log."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("up", "--nats-port", str(port), "--port", str(free_port()), cwd=tmp_path, timeout=_START)
    assert result.returncode == 3
    line = _one_line(result.stderr)
    assert f"NATS port {port}" in line and "already in use" in line and "--nats-port" in line
    assert "[INF]" not in line and "Traceback" not in result.stderr


def test_a_busy_http_port_is_one_line_naming_the_port_and_the_flag(tmp_path: Path) -> None:
    """Another program on the edge's port: one line and the exit code for "cannot start", not uvicorn's log and
    its exit(1), and the nats-server started before it is stopped again."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("up", "--port", str(port), "--nats-port", "-1", cwd=tmp_path, timeout=_START)
    assert result.returncode == 3, result.stderr
    line = next(text for text in result.stderr.splitlines() if "cannot start" in text)
    assert f"HTTP port {port} on 127.0.0.1 is already in use" in line and "--port" in line, line
    assert "Traceback" not in result.stderr and "[Errno" not in result.stderr
    assert processes_mentioning(str(tmp_path / ".mpp-hub" / "nats")) == []


# --- 4. a TOML syntax error -----------------------------------------------------------------------------------


@pytest.mark.parametrize("config_name", ["mpp-hub.toml", "elsewhere.toml"])
def test_a_toml_syntax_error_names_the_file_line_and_column(tmp_path: Path, config_name: str) -> None:
    """A settings file that is not TOML: one line with the file, the line, the column and what is wrong."""
    (tmp_path / config_name).write_text("port = 8080\nsandbox = yes\n")
    env = {} if config_name == "mpp-hub.toml" else {"MPP_HUB_CONFIG": config_name}
    result = run_cli("up", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    line = _one_line(result.stderr)
    assert f"{config_name}, line 2, column 11: not valid TOML: Invalid value" in line


# --- 5. ports -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("up", "--port", "99999"), "--port"),
        (("up", "--port", "0"), "--port"),
        (("up", "--nats-port", "65536"), "--nats-port"),
        (("up", "--nats-port", "0"), "--nats-port"),
        (("up", "--nats-port", "-2"), "--nats-port"),
        (("worker", "--metrics-port", "99999"), "--metrics-port"),
    ],
)
def test_ports_out_of_range_are_refused(tmp_path: Path, args: tuple[str, ...], option: str) -> None:
    """A port option outside 1-65535 (the NATS port may also be -1, any free one) is a usage error, and nothing
    starts: no data dir is made."""
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2 and f"Invalid value for '{option}'" in result.stderr
    assert not (tmp_path / ".mpp-hub").exists()


def test_a_port_out_of_range_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mpp-hub.toml").write_text("port = 99999\n")
    result = run_cli("up", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Invalid settings: port" in _one_line(result.stderr)


# --- 6. unknown plugins ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["up", "worker"])
def test_an_unknown_plugin_to_disable_is_refused_listing_the_installed_ones(tmp_path: Path, command: str) -> None:
    """`--disable dukcapi` (a typo) would disable nothing: it is refused, naming the plugins there are."""
    result = run_cli(command, "--disable", "dukcapil", "--disable", "dukcapi", cwd=tmp_path)
    assert result.returncode == 2 and "Invalid value for '--disable'" in result.stderr
    # Every installed plugin is named, the built-in ones and any installed beside them.
    assert "'dukcapi'" in result.stderr and f"installed: {', '.join(installed_plugins())}\n" in result.stderr
    assert set(BUILT_IN_PLUGINS) <= set(installed_plugins())


def test_an_unknown_plugin_in_the_settings_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = run_cli("up", cwd=tmp_path, env={"MPP_HUB_DISABLED_PLUGINS": '["samsat", "bjps"]'})
    assert result.returncode == 3 and "Traceback" not in result.stderr
    line = _one_line(result.stderr)
    assert "mpp-hub cannot start: no plugin is installed as 'bjps'" in line and "bpjs" in line
    assert not (tmp_path / ".mpp-hub").exists()


# --- 7. unknown operations in a consumer's rights -------------------------------------------------------------


def test_consumer_add_refuses_an_unknown_operation_naming_the_known_ones(tmp_path: Path) -> None:
    """`--allow idnetity.lookup` would grant nothing: refused before anything connects, with the contract's
    operations listed; a bad pattern says what a right looks like."""
    result = run_cli("consumer", "add", "desk", "--allow", "idnetity.lookup", "--allow", "vehicle.*", cwd=tmp_path)
    assert result.returncode == 2 and "Invalid value for '--allow'" in result.stderr
    assert "'idnetity.lookup' names no operation the hub serves" in result.stderr
    assert all(op.name in result.stderr for op in OPERATIONS) and "vehicle.*" not in result.stderr
    unknown_prefix = run_cli("consumer", "add", "desk", "--allow", "identiti.*", cwd=tmp_path)
    assert unknown_prefix.returncode == 2 and "'identiti.*' names no operation" in unknown_prefix.stderr


def test_consumer_add_takes_contract_and_edge_operations(bus: BusAccess, tmp_path: Path) -> None:
    """Rights on the edge's own operations (the ops dashboard, the citizen profile) and patterns that match
    contract operations register through the real bus."""
    name = f"desk-{free_port()}"
    rights = ("ops.dashboard", "citizen.*", "vehicle.*", "identity.lookup[full_name]")
    result = run_cli("consumer", "add", name, *(f"--allow={r}" for r in rights), "--json", cwd=tmp_path,
                     env=bus_env(bus))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["allow"] == list(rights)


async def test_the_registry_refuses_an_unknown_operation_too(bus: BusAccess) -> None:
    """The same check holds for every writer of consumers, not only the CLI: a typed invalid_input naming the
    right that is wrong."""
    nc = await bus.connect(Role.ADMIN)
    try:
        registry = await ConsumerRegistry.open(nc.jetstream())
        try:
            with pytest.raises(HubError) as refused:
                await registry.add(f"typo-{free_port()}", ["identity.lookup", "payment.create_bil"])
        finally:
            await registry.close()
    finally:
        await nc.close()
    error = refused.value.error
    assert error.code is ErrorCode.INVALID_INPUT and [issue.field for issue in error.issues] == ["allow.1"]
    assert "names no operation the hub serves" in error.message and "payment.create_bill" in error.message
