"""The ``mpp-hub`` command as a user runs it: real processes, real ports."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from hub._bus_access import BusAccess
from plugins._synthetic import residents as _population
from tests._processes import HubProcess, free_port, processes_mentioning, run_cli, start_cli
from tests._servers import healthz
from tests._until import until_sync
from tests.conftest import bus_env

SAMPLE = _population.samples()[0]


@pytest.fixture(scope="module")
def running_hub(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`mpp-hub up` with embedded NATS and sandboxes, on free ports, in its own process."""
    workdir = tmp_path_factory.mktemp("up")
    port = free_port()
    process = start_cli(
        "up", "--port", str(port), "--nats-port", "-1", "--data-dir", str(workdir / "data"), cwd=workdir
    )
    try:
        health = until_sync(lambda: healthz(f"http://127.0.0.1:{port}/healthz"), "/healthz to answer 200", 30)
    except AssertionError:
        process.kill()
        raise AssertionError(process.communicate()[1]) from None
    # The CLI finds the local consumer's key and the bus credentials in the hub's data dir, and states a purpose
    # like a desk would. /healthz names no address: the state file `up` leaves says where NATS is.
    env = {"MPP_HUB_DATA_DIR": str(workdir / "data"), "MPP_HUB_PURPOSE": "layanan-kependudukan"}
    nats_url = json.loads((workdir / "data" / "hub.json").read_text())["nats_url"]
    yield {"process": process, "health": health, "workdir": workdir, "nats_url": nats_url, "env": env}
    if process.poll() is None:
        process.kill()
        process.wait()


def test_up_reports_what_it_started(running_hub: dict[str, Any]) -> None:
    """/healthz lists embedded NATS and the Dukcapil link, up, once everything has started."""
    health = running_hub["health"]
    assert health["status"] == "ok"
    assert health["nats"]["embedded"] is True and health["nats"]["connected"] is True
    assert health["agencies"]["dukcapil"] == "up"
    assert running_hub["nats_url"].startswith("tls://")  # the embedded NATS takes TLS connections only


def test_call_prints_the_resident(running_hub: dict[str, Any]) -> None:
    """`mpp-hub call identity.lookup` with a sample NIK prints that resident as contract JSON."""
    result = run_cli("call", "identity.lookup", json.dumps({"nik": SAMPLE}), "--nats-url", running_hub["nats_url"],
                     cwd=running_hub["workdir"], env=running_hub["env"])  # fmt: skip
    assert result.returncode == 0, result.stderr
    resident = json.loads(result.stdout)
    assert resident["nik"] == SAMPLE and resident["full_name"] == _population.by_nik()[SAMPLE].full_name


def test_cli_finds_the_running_hub_without_flags(running_hub: dict[str, Any]) -> None:
    """`up` leaves a state file in its data dir, so `call` finds NATS (here on a random port) unaided."""
    result = run_cli(
        "call", "identity.lookup", json.dumps({"nik": SAMPLE}), cwd=running_hub["workdir"], env=running_hub["env"]
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["nik"] == SAMPLE


def test_call_with_a_bad_nik_prints_the_error_and_fails(running_hub: dict[str, Any]) -> None:
    """A contract error prints its code and message and exits non-zero; --json prints the error model."""
    args = ("call", "identity.lookup", '{"nik": "3328103102900001"}', "--nats-url", running_hub["nats_url"])
    human = run_cli(*args, cwd=running_hub["workdir"], env=running_hub["env"])
    assert human.returncode == 1
    assert "error: invalid_input" in human.stderr and "birth-date part" in human.stderr
    machine = run_cli(*args, "--json", cwd=running_hub["workdir"], env=running_hub["env"])
    assert machine.returncode == 1 and json.loads(machine.stdout)["code"] == "invalid_input"
    not_json = run_cli(
        "call", "identity.lookup", "{nik:", "--nats-url", running_hub["nats_url"], cwd=running_hub["workdir"]
    )
    assert not_json.returncode == 1 and "PAYLOAD is not JSON" in not_json.stderr


def test_services_lists_agencies_and_health(running_hub: dict[str, Any]) -> None:
    """`mpp-hub services` shows the agency, its operations with schema hashes, and its health."""
    machine = run_cli(
        "services", "--json", "--nats-url", running_hub["nats_url"], cwd=running_hub["workdir"], env=running_hub["env"]
    )
    assert machine.returncode == 0, machine.stderr
    catalogue = json.loads(machine.stdout)
    dukcapil = next(a for a in catalogue["agencies"] if a["code"] == "dukcapil")
    assert {op["name"] for op in dukcapil["operations"]} == {"identity.family", "identity.lookup", "identity.verify"}
    assert dukcapil["health"]["status"] == "up" and dukcapil["instances"] == 1
    human = run_cli(
        "services", "--nats-url", running_hub["nats_url"], cwd=running_hub["workdir"], env=running_hub["env"]
    )
    assert "identity.verify" in human.stdout and "health  up" in human.stdout


def test_cli_without_a_hub_says_how_to_fix_it(bus: BusAccess, tmp_path: Path) -> None:
    """With nothing listening, call explains that no hub is running instead of a traceback; without the bus
    credentials, it says where they come from."""
    nowhere = f"tls://127.0.0.1:{free_port()}"
    result = run_cli("call", "identity.lookup", json.dumps({"nik": SAMPLE}), "--nats-url", nowhere, cwd=tmp_path,
                     env=bus_env(bus))  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "is `mpp-hub up` running" in result.stderr
    bare = run_cli("call", "identity.lookup", json.dumps({"nik": SAMPLE}), "--nats-url", nowhere, cwd=tmp_path)
    assert bare.returncode == 2 and "Traceback" not in bare.stderr
    assert "no bus credentials" in bare.stderr and "mpp-hub up" in bare.stderr


def test_sandbox_sample_prints_callable_niks(tmp_path: Path) -> None:
    """`mpp-hub sandbox sample` gives NIKs from the sandbox data, as text and as JSON."""
    machine = run_cli("sandbox", "sample", "--json", cwd=tmp_path)
    assert machine.returncode == 0, machine.stderr
    niks = json.loads(machine.stdout)["dukcapil"]["nik"]
    assert niks and all(nik in _population.by_nik() for nik in niks)
    human = run_cli("sandbox", "sample", cwd=tmp_path)
    assert f'mpp-hub call identity.lookup \'{{"nik": "{niks[0]}"}}\'' in human.stdout


def test_contract_export_writes_json_schema(tmp_path: Path) -> None:
    """`mpp-hub contract export DIR` writes the operation index and model schemas."""
    result = run_cli("contract", "export", str(tmp_path / "schema"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    index = json.loads((tmp_path / "schema" / "operations.json").read_text())
    assert {op["name"] for op in index["operations"]} >= {"identity.lookup", "identity.verify"}


def test_broken_configuration_is_reported_not_raised(tmp_path: Path) -> None:
    """A bad setting stops start-up with a readable message and no traceback."""
    (tmp_path / "mpp-hub.toml").write_text('port = "eighty"\n')
    result = run_cli("up", cwd=tmp_path)
    assert result.returncode == 2 and "Invalid settings: port" in result.stderr and "Traceback" not in result.stderr


def test_up_joins_an_existing_nats(bus: BusAccess, tmp_path: Path) -> None:
    """`mpp-hub up --nats-url` (with that bus's credentials) starts no NATS of its own and serves on the given one."""
    port = free_port()
    secrets = {
        **bus_env(bus), "MPP_HUB_AUDIT_KEY": "test-audit-key-not-a-secret", "MPP_HUB_PURPOSE": "layanan-kependudukan",
    }  # fmt: skip
    process = start_cli("up", "--nats-url", bus.url, "--sandbox", "--port", str(port), cwd=tmp_path, env=secrets)
    try:
        health = until_sync(lambda: healthz(f"http://127.0.0.1:{port}/healthz"), "/healthz", 30)
        assert health["nats"] == {"embedded": False, "connected": True}
        assert json.loads((tmp_path / ".mpp-hub" / "hub.json").read_text())["nats_url"] == bus.url
        result = run_cli(
            "call", "identity.lookup", json.dumps({"nik": SAMPLE}), "--nats-url", bus.url, cwd=tmp_path, env=secrets
        )
        assert result.returncode == 0 and json.loads(result.stdout)["nik"] == SAMPLE
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "(external)" in out


def test_ctrl_c_stops_everything(running_hub: dict[str, Any]) -> None:
    """SIGINT stops the hub cleanly, embedded nats-server included: no process is left behind."""
    process: HubProcess = running_hub["process"]
    data_dir = str(running_hub["workdir"] / "data")
    assert processes_mentioning(data_dir), "the embedded nats-server should be running"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "MPP Hub" in out and "is up" in out and "MPP Hub stopped." in out
    assert processes_mentioning(data_dir) == []
    assert not (running_hub["workdir"] / "data" / "hub.json").exists()
