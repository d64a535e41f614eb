"""`mpp-hub up --edges N`: several edge processes on one port (SO_REUSEPORT), as real processes on real sockets.

Which process answered a request is told by the process, not by a header: /metrics labels every series with
the worker's name, ``<host>:<pid>``. One TCP connection is served by one process from start to end, so a
/metrics read on a connection says which process takes the requests that follow on that same connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub._note import NoteVerifier
from hub._receipts import check_receipt
from plugins._synthetic import residents as _population
from tests._processes import HubProcess, free_port, processes_mentioning, run_cli, start_cli
from tests._until import until_sync

NIK = _population.samples()[0]
PURPOSE = "layanan-kependudukan"
OWN_DATA = "hak-subjek-data"
_START = 60.0
#: The worker label of a /metrics series: ``worker="<host>:<pid>"``.
_WORKER = re.compile(r'worker="[^"]*:(\d+)"')


@dataclass
class Up:
    """One `mpp-hub up --edges N` in its own process, and what it said about itself."""

    process: HubProcess
    data_dir: Path
    url: str
    port: int
    env: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return (self.data_dir / "secrets" / "cli.key").read_text().strip()

    def edge_pids(self) -> list[int]:
        """The other edge processes, as up logged them (one JSON line each once it listens)."""
        pids = []
        for line in self.process.err_path.read_text().splitlines():
            if '"edge process listening"' in line:
                pids.append(int(json.loads(line)["pid"]))
        return pids

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except Exception:
                self.process.kill()
                self.process.wait()


def _start(tmp: Path, edges: int, *, port: int | None = None) -> Up:
    data_dir = tmp / "data"
    # Port 0 ("any free port") is for hubs started programmatically; the command line asks for 1-65535, so
    # it comes through the environment here.
    env = {"MPP_HUB_AUDIT_CHECKPOINT_INTERVAL": "0.5", **({} if port else {"MPP_HUB_PORT": "0"})}
    args = ["up", "--edges", str(edges), "--nats-port", "-1", "--data-dir", str(data_dir)]
    process = start_cli(*args, *(["--port", str(port)] if port else []), cwd=tmp, env=env)

    def state() -> dict[str, Any] | None:
        if process.poll() is not None:
            raise AssertionError(f"up stopped: {process.communicate()[1][-3000:]}")
        try:
            found: dict[str, Any] = json.loads((data_dir / "hub.json").read_text())
        except (OSError, ValueError):
            return None
        return found if found.get("http_url") and process.err_path.read_text().count('"hub started"') else None

    try:
        url = str(until_sync(state, "up to start its edges", _START)["http_url"])
    except AssertionError:
        process.kill()
        raise
    return Up(process, data_dir, url, int(url.rsplit(":", 1)[1]), env)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    """`mpp-hub up --edges 2` on a free port, with embedded NATS and sandboxes."""
    hub = _start(tmp_path_factory.mktemp("edges"), 2, port=free_port())
    yield hub
    hub.stop()


def _serving_pid(http: httpx.Client, key: str) -> int:
    """Which process serves ``http``'s one connection: the pid in its own /metrics."""
    page = http.get("/metrics", headers={"Authorization": f"Bearer {key}"})
    assert page.status_code == 200, page.text
    pids = {int(pid) for pid in _WORKER.findall(page.text)}
    assert len(pids) == 1, f"one process's metrics name one worker, not {pids}"
    return pids.pop()


def _one_connection(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, timeout=15, limits=httpx.Limits(max_connections=1))


def _connection_to(up: Up, pid: int) -> httpx.Client:
    """A fresh connection that the kernel gave to process ``pid`` (new connections until one lands there)."""

    def probe() -> httpx.Client | None:
        http = _one_connection(up.url)
        if _serving_pid(http, up.key) == pid:
            return http
        http.close()
        return None

    return until_sync(probe, f"a connection served by process {pid}", 30)


def _pids_answering(up: Up, expected: set[int]) -> set[int]:
    """The processes that answer fresh connections (one request on each), until all of ``expected`` did."""
    seen: set[int] = set()

    def probe() -> set[int] | None:
        with httpx.Client(base_url=up.url, timeout=15, headers={"Connection": "close"}) as http:
            seen.add(_serving_pid(http, up.key))
        return seen if expected <= seen else None

    return until_sync(probe, f"fresh connections to reach processes {expected}", 30)


def _listening(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()  # no SO_REUSEPORT: fails while anyone listens
    except OSError:
        return True
    return False


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1]
    except (OSError, IndexError):
        return False
    return state != "Z"  # an orphan's zombie, not reaped by a PID 1 that reaps nothing, holds no socket


def test_fresh_connections_are_answered_by_both_processes(up: Up) -> None:
    """Two processes listen on the port, and the kernel hands new connections to each of them."""
    children = up.edge_pids()
    assert len(children) == 1 and children[0] != up.process.pid
    assert _pids_answering(up, {up.process.pid, *children}) == {up.process.pid, *children}


def test_a_contract_call_works_through_either_edge(up: Up) -> None:
    """identity.lookup answers the resident through up's own edge and through the child's, and each call is
    in the audit log (the citizen's access log lists it)."""
    resident = _population.by_nik()[NIK]
    headers = {"Authorization": f"Bearer {up.key}", "X-Purpose": PURPOSE}
    for pid in (up.process.pid, *up.edge_pids()):
        with contextlib.closing(_connection_to(up, pid)) as http:
            answer = http.post("/v1/identity.lookup", json={"nik": NIK}, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json()["full_name"] == resident.full_name
            assert _serving_pid(http, up.key) == pid  # the same connection, the same process throughout
        correlation = answer.headers["X-Correlation-Id"]
        assert correlation in _who_read(up), f"the call through process {pid} is not in the audit log"


def _who_read(up: Up) -> str:
    """`mpp-hub audit who-read --json` of the sample resident, as the operator would ask."""
    result = run_cli(
        "audit", "who-read", NIK, "--json", cwd=up.data_dir.parent, env={"MPP_HUB_DATA_DIR": str(up.data_dir)}
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_child_edge_serves_the_access_log_with_receipts(up: Up) -> None:
    """The child signs nothing, but once up's checkpointer has signed a checkpoint over a read, the child's
    access log carries that read's receipt, and the receipt checks with the log's public key alone."""
    child = up.edge_pids()[0]
    headers = {"Authorization": f"Bearer {up.key}"}
    with contextlib.closing(_connection_to(up, child)) as http:
        read = http.post("/v1/identity.lookup", json={"nik": NIK}, headers={**headers, "X-Purpose": PURPOSE})
        assert read.status_code == 200, read.text

        def receipted() -> dict[str, Any] | None:
            answer = http.get(f"/v1/citizens/{NIK}/access-log", headers={**headers, "X-Purpose": OWN_DATA})
            assert answer.status_code == 200, answer.text
            reads = [e for e in answer.json()["entries"] if e["operation"] == "identity.lookup"]
            return reads[-1] if reads and reads[-1]["receipt"] is not None else None

        entry = until_sync(receipted, "the child's access log to carry a receipt", 30)
        assert _serving_pid(http, up.key) == child
    vkey = NoteVerifier.from_vkey((up.data_dir / "secrets" / "audit-log.pub").read_text().strip())
    checked = check_receipt(json.dumps(entry["receipt"]), vkey)
    assert checked.record.operation == "identity.lookup" and checked.record.purpose == PURPOSE


def test_children_stop_with_up_and_a_dead_child_is_reported(tmp_path: Path) -> None:
    """On port 0 the children join the port up got; a child killed is reported with its exit code while up
    serves on; SIGTERM to up stops the other child too, and nothing listens on the port afterwards."""
    up = _start(tmp_path, 3)
    try:
        children = up.edge_pids()
        assert len(children) == 2 and up.port != 0
        _pids_answering(up, {up.process.pid, *children})
        os.kill(children[0], signal.SIGKILL)
        until_sync(lambda: "edge process stopped" in up.process.err_path.read_text(), "up to report the death", 30)
        reported = [json.loads(line) for line in up.process.err_path.read_text().splitlines()
                    if '"edge process stopped' in line]  # fmt: skip
        assert reported[0]["exit_code"] == -signal.SIGKILL and reported[0]["pid"] == children[0]
        assert httpx.get(f"{up.url}/healthz", timeout=15).status_code == 200
        up.process.send_signal(signal.SIGTERM)
        assert up.process.wait(30) == 0
        assert not _alive(children[1]) and not _listening(up.port)
    finally:
        up.stop()


def test_children_stop_when_up_is_killed(tmp_path: Path) -> None:
    """up killed outright (SIGKILL) leaves no edge behind: each child sees its stdin from up end, and stops."""
    up = _start(tmp_path, 2)
    children = up.edge_pids()
    try:
        up.process.kill()
        up.process.wait(30)
        until_sync(lambda: not any(map(_alive, children)), "the orphaned edge process to stop", 30)
        until_sync(lambda: not _listening(up.port), "the port to be let go of", 30)
    finally:
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        for pid in processes_mentioning(str(up.data_dir)):  # the embedded nats-server, left by a hub killed
            os.kill(pid, signal.SIGTERM)


@pytest.mark.parametrize(("given", "env"), [(["--edges", "0"], {}), ([], {"MPP_HUB_EDGE_PROCESSES": "65"})])
def test_edges_out_of_range_are_refused(tmp_path: Path, given: list[str], env: dict[str, str]) -> None:
    """0 edges, or more than 64, stop `up` before it starts anything, with a message naming the setting."""
    result = run_cli("up", *given, "--data-dir", str(tmp_path / "data"), cwd=tmp_path, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("--edges" in result.stderr and "1<=x<=64" in result.stderr) or "edge_processes" in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_port_another_process_shares_is_not_joined(tmp_path: Path) -> None:
    """Another listener of the same user holding the port with SO_REUSEPORT (a second hub, say): `up --edges 2`
    refuses it as in use rather than quietly splitting its connections with that listener."""
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result = run_cli(
            "up", "--edges", "2", "--port", str(port), "--nats-port", "-1", "--data-dir", str(tmp_path / "data"),
            cwd=tmp_path,
        )  # fmt: skip
    assert result.returncode == 3, result.stderr[-2000:]
    assert f"HTTP port {port}" in result.stderr and "already in use" in result.stderr
    assert "Traceback" not in result.stderr
