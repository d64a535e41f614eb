"""`mpp-hub bus credentials`: the files an operator hands out for a cluster, and real nats-servers started from them."""

from __future__ import annotations

import asyncio
import json
import ssl
import stat
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
import nkeys
import pytest
from cryptography import x509
from nats.js.errors import NotFoundError

from hub._bus_access import BusAccess
from hub._cluster_config import Node, write_cluster_config
from hub._nats_server import nats_server_binary
from hub._roles import Role
from tests._processes import free_port, run_cli
from tests._until import until_sync

_NODES = ("--node", "n1=10.0.0.11", "--node", "n2=nats2.example", "--node", "n3=10.0.0.13")
_SECRET_SUFFIXES = (".key", ".nk", ".issuer")


def _credentials_cli(out: Path, *nodes: str) -> dict[str, Any]:
    done = run_cli("bus", "credentials", "--out", str(out), *nodes, "--json", cwd=out.parent)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _contents(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_writes_ca_node_configs_and_role_credentials_with_secrets_0600(tmp_path: Path) -> None:
    out = tmp_path / "bus"
    result = _credentials_cli(out, *_NODES)

    files = _contents(out)
    assert set(result["written"]) == set(files) and result["kept"] == []
    secrets = [name for name in files if name.endswith(_SECRET_SUFFIXES)]
    assert {"ca.key", "servers/n1.key", "credentials/admin.nk", "credentials/edge.issuer"} <= set(secrets)
    assert {name: _mode(out / name) for name in secrets} == dict.fromkeys(secrets, 0o600)
    assert {_mode(d) for d in (out, out / "servers", out / "credentials")} == {0o700}

    # Every role file has a kind of machine, the admin's alone, and no machine gets the CA's key.
    machines = {m["kind"]: m["files"] for m in result["machines"]}
    assert machines["admin"] == ["credentials/admin.nk"]
    assert set(machines["worker"]) == {"credentials/worker.nk", "credentials/worker.issuer", "credentials/issuers.json"}
    assert set(machines["edge"]) == {"credentials/edge.nk", "credentials/edge.issuer", *machines["worker"]}
    assert set(machines["ops"]) == {"credentials/ops.nk", "credentials/cli.nk", "credentials/cli.issuer"}
    assert {f for fs in machines.values() for f in fs} == {n for n in files if n.startswith("credentials/")}
    assert not any("ca.key" in f for fs in machines.values() for f in fs)

    # n1's configuration: TLS for clients (the nkey authenticates), mutual TLS on routes to the two others,
    # one user per role with its public nkey, JetStream at the default place.
    config = json.loads((out / "servers" / "n1.conf").read_text())
    assert config["port"] == 4222 and config["server_name"] == "n1"
    assert config["tls"]["verify"] is False and config["cluster"]["tls"]["verify"] is True
    assert config["cluster"]["tls"]["ca_file"] == str(out / "ca.pem")
    assert config["cluster"]["routes"] == ["nats-route://nats2.example:6222", "nats-route://10.0.0.13:6222"]
    publics = {
        nkeys.from_seed((out / "credentials" / f"{role.value}.nk").read_text().strip().encode()).public_key.decode()
        for role in Role
    }
    assert {user["nkey"] for user in config["authorization"]["users"]} == publics
    assert config["jetstream"]["store_dir"] == "/var/lib/nats/jetstream"

    # JetStream encrypted at rest, each node with its own key (kept beside its config for the next run); a
    # configuration holding a key is as secret as the key.
    keys = {n: (out / "servers" / f"{n}.jetstream.key").read_text().strip() for n in ("n1", "n2", "n3")}
    for name, key in keys.items():
        node_config = json.loads((out / "servers" / f"{name}.conf").read_text())["jetstream"]
        assert (node_config["cipher"], node_config["key"]) == ("chachapoly", key) and len(key) >= 32
        assert _mode(out / "servers" / f"{name}.conf") == 0o600
    assert len(set(keys.values())) == 3
    assert not any("jetstream.key" in f for node in result["nodes"] for f in node["files"])

    # n2's certificate: its DNS name and loopback, signed by the bus CA.
    ca = x509.load_pem_x509_certificate((out / "ca.pem").read_bytes())
    cert = x509.load_pem_x509_certificate((out / "servers" / "n2.pem").read_bytes())
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "nats2.example" in names.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}


def test_running_it_again_keeps_every_key(tmp_path: Path) -> None:
    out = tmp_path / "bus"
    _credentials_cli(out, *_NODES)
    before = _contents(out)

    again = _credentials_cli(out, *_NODES)
    assert again["written"] == [] and set(again["kept"]) == set(before)
    assert _contents(out) == before

    # n2 moves: it gets a certificate for its new host, the others' routes to it follow; nothing else changes
    # (n2 itself listens on every interface, wherever it is).
    moved = _credentials_cli(out, "--node", "n1=10.0.0.11", "--node", "n2=10.0.0.12", "--node", "n3=10.0.0.13")
    assert set(moved["written"]) == {"servers/n2.pem", "servers/n2.key", "servers/n1.conf", "servers/n3.conf"}
    after = _contents(out)
    assert {k: v for k, v in after.items() if k not in moved["written"]} == {
        k: v for k, v in before.items() if k not in moved["written"]
    }

    # A node's key that no longer matches its certificate: both are made again.
    (out / "servers" / "n3.key").write_bytes((out / "servers" / "n1.key").read_bytes())
    mended = _credentials_cli(out, "--node", "n1=10.0.0.11", "--node", "n2=10.0.0.12", "--node", "n3=10.0.0.13")
    assert mended["written"] == ["servers/n3.pem", "servers/n3.key"]

    # Without the CA's key it refuses, rather than making a new CA that no machine trusts.
    (out / "ca.key").unlink()
    done = run_cli("bus", "credentials", "--out", str(out), *_NODES, cwd=tmp_path)
    assert done.returncode == 2 and "ca.key" in done.stderr, done.stderr
    assert (out / "ca.pem").read_bytes() == before["ca.pem"] and not (out / "ca.key").exists()


class _Server:
    """nats-server started from a generated configuration and nothing else (but a log file, and monitoring)."""

    def __init__(self, config: Path, log: Path, monitor_port: int | None = None) -> None:
        self.log = log
        self.monitor_port = monitor_port
        command = [nats_server_binary(), "--config", str(config), "--log", str(log)]
        if monitor_port is not None:
            command += ["--http_port", str(monitor_port)]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def until_log(self, text: str, timeout: float = 15.0) -> None:
        def logged() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"nats-server exited {self.process.returncode}:\n{self._log_text()[-3000:]}")
            return text in self._log_text()

        until_sync(logged, f"nats-server to log {text!r}", timeout)

    def routed_to(self) -> set[str]:
        routez = httpx.get(f"http://127.0.0.1:{self.monitor_port}/routez", timeout=5).json()
        return {route["remote_name"] for route in routez.get("routes") or []}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@contextmanager
def _servers(*servers: _Server) -> Iterator[Sequence[_Server]]:
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


def _loopback(*names: str) -> list[Node]:
    return [Node(name, "127.0.0.1", free_port(), free_port()) for name in names]


async def _refused(url: str, **options: Any) -> str:
    """The error with which the server turns a connection away (fails the test if it takes it)."""
    try:
        nc = await nats.connect(url, allow_reconnect=False, connect_timeout=3, **options)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await nc.close()
    raise AssertionError(f"the server took a connection with {sorted(options)}")


async def test_a_node_config_takes_each_role_over_tls_and_nobody_else(tmp_path: Path) -> None:
    (node,) = _loopback("n1")
    files = write_cluster_config(tmp_path / "bus", [node], store_dir=str(tmp_path / "{name}-store"))
    server = _Server(files.nodes[0].config, tmp_path / "n1.log")
    with _servers(server):
        await asyncio.to_thread(server.until_log, "Server is ready")
        url = f"tls://127.0.0.1:{node.client_port}"
        trusting = ssl.create_default_context(cafile=str(files.ca_cert))
        anonymous = await _refused(url, tls=trusting)
        assert "authorization" in anonymous.lower(), anonymous
        await _refused(f"nats://127.0.0.1:{node.client_port}")  # no TLS at all
        untrusting = await _refused(url, tls=ssl.create_default_context())  # a server it cannot check
        assert "certificate" in untrusting.lower(), untrusting

        bus = BusAccess(url, files.credentials, files.ca_cert)
        for role in Role:
            nc = await bus.connect(role, allow_reconnect=False)
            try:
                assert nc.is_connected
                await nc.flush(timeout=2)  # the server has taken its CONNECT (an nkey signature over TLS)
            finally:
                await nc.close()

        # JetStream runs from the configuration's store; `mpp-hub bus setup` creates the streams as the admin,
        # and only the admin may.
        env = {"MPP_HUB_NATS_CREDENTIALS": str(files.credentials), "MPP_HUB_NATS_TLS_CA": str(files.ca_cert)}
        setup = await asyncio.to_thread(run_cli, "bus", "setup", "--nats-url", url, cwd=tmp_path, env=env)
        assert setup.returncode == 0, setup.stderr
        assert "stream  MPP_AUDIT" in setup.stdout and "bucket  KV_mpp_consumers" in setup.stdout, setup.stdout
        worker_files = tmp_path / "worker-machine"
        worker_files.mkdir()
        (worker_files / "worker.nk").write_bytes((files.credentials / "worker.nk").read_bytes())
        env["MPP_HUB_NATS_CREDENTIALS"] = str(worker_files)
        refused = await asyncio.to_thread(run_cli, "bus", "setup", "--nats-url", url, cwd=tmp_path, env=env)
        assert refused.returncode == 2 and "admin" in refused.stderr, refused.stderr
        admin = await bus.connect(Role.ADMIN, allow_reconnect=False)
        worker = await bus.connect(Role.WORKER, allow_reconnect=False)
        try:
            assert (await admin.jetstream().stream_info("MPP_AUDIT")).config.name == "MPP_AUDIT"
            with pytest.raises((nats.errors.Error, TimeoutError)):
                await worker.jetstream(timeout=1).add_stream(name="INTRUDER", subjects=["intruder.>"])
            with pytest.raises(NotFoundError):
                await admin.jetstream().stream_info("INTRUDER")
        finally:
            await worker.close()
            await admin.close()
    assert (tmp_path / "n1-store" / "jetstream").is_dir()


def test_nodes_route_over_mutual_tls_and_refuse_a_node_of_another_ca(tmp_path: Path) -> None:
    nodes = _loopback("n1", "n2")
    files = write_cluster_config(tmp_path / "bus", nodes, store_dir=str(tmp_path / "{name}"))
    # An intruder with a configuration of its own making: the cluster's name, a route to n1, and the bus CA
    # (ca.pem is public) to trust n1 by; but its certificate is signed by a CA of its own.
    (intruder,) = _loopback("intruder")
    foreign = write_cluster_config(tmp_path / "foreign", [intruder, nodes[0]], store_dir=str(tmp_path / "{name}"))
    config = json.loads(foreign.nodes[0].config.read_text())
    config["tls"]["ca_file"] = config["cluster"]["tls"]["ca_file"] = str(files.ca_cert)
    foreign.nodes[0].config.write_text(json.dumps(config))
    ports = [free_port() for _ in range(3)]
    servers = [
        _Server(files.nodes[0].config, tmp_path / "n1.log", ports[0]),
        _Server(files.nodes[1].config, tmp_path / "n2.log", ports[1]),
    ]
    with _servers(*servers):
        for server in servers:
            server.until_log("Server is ready")
        wait_for_routes(servers[0], {"n2"})
        wait_for_routes(servers[1], {"n1"})
        stranger = _Server(foreign.nodes[0].config, tmp_path / "intruder.log", ports[2])
        with _servers(stranger):
            stranger.until_log("Server is ready")
            # n1 checked the intruder's certificate against the bus CA and turned its route away.
            servers[0].until_log("TLS route handshake error: tls: failed to verify certificate")
            assert servers[0].routed_to() == {"n2"} and stranger.routed_to() == set()


def wait_for_routes(server: _Server, names: set[str], timeout: float = 15.0) -> None:
    until_sync(lambda: server.routed_to() == names, f"routes to {sorted(names)}", timeout)
