"""A hub scaled out on a 3-node NATS cluster, under load, while a worker dies and a NATS node restarts.

Used by tests/test_cluster.py (a short run in CI) and by ``python -m tests.soak`` (as long as you like).
Everything is real: three nats-server processes joined by routes with JetStream streams of three
replicas, the four agency sandboxes on loopback sockets, and `mpp-hub up` (the HTTP edge and one worker)
plus two `mpp-hub worker` processes. The load goes through the portal API:

- sync calls (identity.lookup, health.coverage, vehicle.tax_due), each of which must end with a result
  or a typed retryable contract error within its deadline;
- vehicle tax renewals (durable commands): submitted, paid at the bank sandbox (the bank notifies
  twice), posted at Samsat. None may be lost, and no vehicle may be posted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from nats.errors import Error as NatsError

from hub import HubClient, SandboxContext, load_plugins
from hub._bus_access import BusAccess
from hub._cluster_config import MACHINES, Node, cluster_url, write_cluster_config
from hub._nats_server import EmbeddedNats
from hub._roles import Role
from hub.testing._bus import add_consumer
from plugins.samsat import _data as samsat_data
from tests._processes import HubProcess, free_port, run_cli, start_cli
from tests._servers import ThreadedServer
from tests._until import until, until_sync
from tests.conftest import TEST_AUDIT_KEY, TEST_PURPOSE, purpose_for

AGENCIES = ("dukcapil", "bpjs", "samsat", "bank")
#: The deadline every portal request runs under (the hub's request_timeout), and the slack allowed on top
#: of it for the HTTP round trip itself.
DEADLINE = 5.0
_SLACK = 1.0


class NatsCluster:
    """Three nats-server processes on loopback, each started from the configuration `mpp-hub bus credentials`
    writes for it: TLS and one nkey user per role for clients, mutual TLS on the routes, JetStream on each."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.specs = [Node(f"n{i + 1}", "127.0.0.1", free_port(), free_port()) for i in range(size)]
        # No store_dir in the configurations: EmbeddedNats gives each node its own on the command line.
        self.files = write_cluster_config(root / "bus", self.specs, store_dir=None)
        #: Every role's credentials, as the operator holds them; each hub process gets its machine's share only.
        self.access = BusAccess(cluster_url(self.specs), self.files.credentials, self.files.ca_cert)
        self.monitor_ports = [free_port() for _ in range(size)]  # /routez, on loopback
        self.nodes = []
        for spec, files, monitor in zip(self.specs, self.files.nodes, self.monitor_ports, strict=True):
            node = EmbeddedNats(root / spec.name, port=spec.client_port, extra_args=["--http_port", str(monitor)])
            node.config_file = files.config
            self.nodes.append(node)

    @property
    def url(self) -> str:
        return self.access.url

    def machine_credentials(self, kind: str, directory: Path) -> Path:
        """The role files `mpp-hub bus credentials` says go to a ``kind`` machine, copied into ``directory``."""
        machine = next(m for m in MACHINES if m.kind == kind)
        directory.mkdir(mode=0o700, parents=True)
        for name in machine.files:
            shutil.copy2(self.files.credentials / name, directory / name)
        return directory

    async def start(self) -> None:
        for node in self.nodes:
            await node.astart()
        await self.wait_for_jetstream()

    async def wait_for_jetstream(self, timeout: float = 30) -> None:
        """Until the cluster has a JetStream meta leader, i.e. can create streams."""
        nc = await self.access.connect(Role.ADMIN)
        try:

            async def leader() -> bool:
                await nc.jetstream().account_info()  # fails until there is a meta leader
                return True

            await until(leader, "the cluster's JetStream meta leader", timeout, ignoring=(NatsError,))
        finally:
            await nc.close()

    async def route_checks(self) -> list[RouteCheck]:
        return await asyncio.to_thread(lambda: [self._route_check(i) for i in range(len(self.nodes))])

    def _route_check(self, index: int) -> RouteCheck:
        spec = self.specs[index]
        other = self.files.nodes[(index + 1) % len(self.nodes)]  # a neighbour's certificate, signed by the bus CA
        return RouteCheck(
            node=spec.name,
            routed_to=self._routed_to(index, {s.name for s in self.specs} - {spec.name}),
            plain_answer=_plain_route_answer(spec.cluster_port),
            without_certificate=_route_tls_info(spec.cluster_port, self.files.ca_cert, None),
            with_certificate=_route_tls_info(spec.cluster_port, self.files.ca_cert, (other.cert, other.key)),
        )

    def _routed_to(self, index: int, expected: set[str], timeout: float = 15.0) -> list[str]:
        """The nodes ``index`` has routes to (its /routez), once they are ``expected`` or ``timeout`` passed."""
        try:
            return until_sync(lambda: sorted(expected) if self._routes(index) == expected else None, "", timeout)
        except AssertionError:
            return sorted(self._routes(index))  # the report says what the node is routed to instead

    def _routes(self, index: int) -> set[str]:
        routez = httpx.get(f"http://127.0.0.1:{self.monitor_ports[index]}/routez", timeout=5).json()
        return {route["remote_name"] for route in routez.get("routes") or []}

    async def restart(self, index: int, down_for: float = 2.0) -> None:
        node = self.nodes[index]
        await node.astop()
        await asyncio.sleep(down_for)
        await node.astart()

    async def stop(self) -> None:
        for node in self.nodes:
            await node.astop()


@dataclass
class RouteCheck:
    """How a node's route port treats who connects to it, and whom it is routed to (its /routez)."""

    node: str
    routed_to: list[str]
    #: What a plain TCP client is sent before it says anything (a route port without TLS sends its INFO).
    plain_answer: str
    #: After a TLS handshake checked against the bus CA, with no client certificate: the server's first line, or
    #: the error that ended the connection.
    without_certificate: str
    #: The same, presenting a certificate the bus CA signed (as a node does).
    with_certificate: str

    def problems(self, others: set[str]) -> list[str]:
        found = []
        if set(self.routed_to) != others:
            found.append(f"{self.node} is routed to {self.routed_to}, not to {sorted(others)}")
        if self.plain_answer:
            found.append(f"{self.node}'s route port answers plain TCP: {self.plain_answer[:80]!r}")
        if "CERTIFICATE_REQUIRED" not in self.without_certificate:
            found.append(f"{self.node}'s route port does not demand a client certificate: {self.without_certificate}")
        info = _info(self.with_certificate)
        if not (info.get("tls_required") and info.get("tls_verify")):
            found.append(f"{self.node}'s route INFO does not require verified TLS: {self.with_certificate[:200]}")
        return found


def _plain_route_answer(port: int) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            return raw.recv(4096).decode(errors="replace")  # b"" once the server gives up waiting for TLS
        except TimeoutError:
            return ""


def _route_tls_info(port: int, ca: Path, certificate: tuple[Path, Path] | None) -> str:
    context = ssl.create_default_context(cafile=str(ca))
    if certificate is not None:
        context.load_cert_chain(*certificate)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                # In TLS 1.3 the server judges the client's certificate after the handshake: the refusal
                # arrives as an alert on the first read.
                return tls.recv(65536).decode(errors="replace").split("\r\n")[0]
        except (ssl.SSLError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"


def _info(line: str) -> dict[str, Any]:
    if not line.startswith("INFO "):
        return {}
    with contextlib.suppress(ValueError):
        return dict(json.loads(line[5:]))
    return {}


@dataclass
class Report:
    seconds: float = 0.0
    calls: int = 0
    results: Counter[str] = field(default_factory=Counter)  # "ok", or the contract error code
    violations: list[str] = field(default_factory=list)  # anything but a result or a typed retryable error
    latencies: list[float] = field(default_factory=list)
    submitted: int = 0
    submit_refused: Counter[str] = field(default_factory=Counter)
    paid: int = 0
    done: int = 0
    lost: list[str] = field(default_factory=list)  # paid applications that never finished
    double_postings: list[str] = field(default_factory=list)  # plates posted more than once
    faults: list[str] = field(default_factory=list)
    replicas: dict[str, int] = field(default_factory=dict)  # stream -> replicas, as the cluster reports them
    provisioned: dict[str, int] = field(default_factory=dict)  # stream -> replicas, as `mpp-hub bus setup` said
    routes: list[RouteCheck] = field(default_factory=list)
    start_seconds: float = 0.0  # the cluster, its setup and the hub processes, until all workers serve

    def route_problems(self) -> list[str]:
        names = {check.node for check in self.routes}
        found = [problem for check in self.routes for problem in check.problems(names - {check.node})]
        return found if self.routes else ["the routes were not checked"]

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies) or [0.0]
        return {
            "seconds": round(self.seconds, 1),
            "sync_calls": self.calls,
            "sync_results": dict(self.results),
            "sync_violations": len(self.violations),
            "sync_p50_ms": round(statistics.median(ordered) * 1000, 1),
            "sync_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1 if len(ordered) > 1 else 0] * 1000, 1),
            "sync_max_ms": round(ordered[-1] * 1000, 1),
            "renewals_submitted": self.submitted,
            "renewals_refused_retryable": dict(self.submit_refused),
            "renewals_paid": self.paid,
            "renewals_done": self.done,
            "lost": len(self.lost),
            "duplicates": len(self.double_postings),
            "faults": self.faults,
            "stream_replicas": self.replicas,
            "routes": {check.node: check.routed_to for check in self.routes},
            "route_problems": self.route_problems(),
            "start_seconds": round(self.start_seconds, 1),
        }


def _renewable(count: int) -> list[tuple[str, str]]:
    """(owner NIK, plate) of vehicles in arrears, one application each."""
    overdue = [v for v in samsat_data.by_plate().values() if v.standing is samsat_data.Standing.OVERDUE]
    return [(v.owner_nik, v.plate) for v in overdue[:count]]


class ScaledOutHub:
    """The sandboxes, a NATS cluster, `mpp-hub up` (edge + worker 1) and workers 2 and 3.

    As on real machines: the admin sets up the streams (`mpp-hub bus setup`) and registers the consumer; the
    edge and the workers hold only the role files `mpp-hub bus credentials` assigns to their kind of machine.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cluster = NatsCluster(root / "nats")
        self.sandboxes: dict[str, ThreadedServer] = {}
        self.edge: HubProcess | None = None
        self.workers: list[HubProcess] = []
        self.edge_url = ""
        self.key = ""
        self.provisioned: dict[str, int] = {}
        self._env: dict[str, str] = {}
        self._credentials: dict[str, Path] = {}

    async def start(self) -> None:
        await self.cluster.start()
        for kind in ("edge", "worker", "admin"):
            self._credentials[kind] = self.cluster.machine_credentials(kind, self.root / "credentials" / kind)
        self.provisioned = await self._bus_setup()
        self.key = await add_consumer(self.cluster.access, "cluster-load", ["*"])
        plugins = load_plugins(only=set(AGENCIES) | {"vehicle_tax_renewal"})
        context = SandboxContext()
        port = free_port()
        context.hub_url = f"http://127.0.0.1:{port}"  # where the bank sends its payment notifications
        for code in AGENCIES:
            self.sandboxes[code] = ThreadedServer(plugins.sandboxes[code].app(context)).start()
        self._env = {
            "MPP_HUB_NATS_URL": self.cluster.url,
            "MPP_HUB_NATS_TLS_CA": str(self.cluster.files.ca_cert),
            "MPP_HUB_STREAM_REPLICAS": "3",
            "MPP_HUB_AUDIT_KEY": TEST_AUDIT_KEY.decode(),
            "MPP_HUB_SANDBOX": "false",
            "MPP_HUB_REQUEST_TIMEOUT": str(DEADLINE),
            "MPP_HUB_LOG_LEVEL": "warning",
            "MPP_HUB_LOAD_PLUGINS": json.dumps([*AGENCIES, "vehicle_tax_renewal"]),
        }
        for code in AGENCIES:
            for key, value in plugins.sandboxes[code].settings(self.sandboxes[code].url).items():
                self._env[f"MPP_HUB_PLUGINS__{code.upper()}__{key.upper()}"] = str(value)
        (self.root / "edge").mkdir()
        self.edge = start_cli("up", "--port", str(port), cwd=self.root / "edge", env=self._machine_env("edge"))
        self.edge_url = context.hub_url
        await self._until_ready()
        self.workers = [self._start_worker(i) for i in (2, 3)]
        await self.until_served(instances=3)

    def _machine_env(self, kind: str) -> dict[str, str]:
        return {**self._env, "MPP_HUB_NATS_CREDENTIALS": str(self._credentials[kind])}

    async def _bus_setup(self) -> dict[str, int]:
        """`mpp-hub bus setup --replicas 3` with the admin's files only; what it says it provisioned."""
        env = {
            "MPP_HUB_NATS_CREDENTIALS": str(self._credentials["admin"]),
            "MPP_HUB_NATS_TLS_CA": str(self.cluster.files.ca_cert),
        }
        (self.root / "admin").mkdir()
        done = await asyncio.to_thread(
            run_cli, "bus", "setup", "--nats-url", self.cluster.url, "--replicas", "3", "--json",
            cwd=self.root / "admin", env=env, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"mpp-hub bus setup failed ({done.returncode}): {done.stderr[-3000:]}")
        return {p["name"]: p["replicas"] for p in json.loads(done.stdout)["provisioned"]}

    async def until_served(self, instances: int, timeout: float = 60) -> None:
        """Until every agency answers discovery from ``instances`` hub processes (each in its queue groups)."""
        client = await HubClient.connect(self.cluster.access, Role.CLI)
        try:

            async def served() -> dict[str, int] | None:
                self._check_alive()
                catalogue = await client.catalogue()
                found = {agency.code: agency.instances for agency in catalogue.agencies}
                return found if all(found.get(code, 0) >= instances for code in AGENCIES) else None

            await until(served, f"every agency served by {instances} processes", timeout)
        finally:
            await client.close()

    def _check_alive(self) -> None:
        for process in [*([self.edge] if self.edge else []), *self.workers]:
            if process.poll() is not None:
                raise RuntimeError(f"{process.command[1]} exited: {process.communicate()[1][-3000:]}")

    async def stream_replicas(self) -> dict[str, int]:
        nc = await self.cluster.access.connect(Role.ADMIN)
        try:
            streams = await nc.jetstream().streams_info()
            return {info.config.name or "?": info.config.num_replicas or 1 for info in streams}
        finally:
            await nc.close()

    def _start_worker(self, number: int) -> HubProcess:
        folder = self.root / f"worker{number}"
        folder.mkdir(exist_ok=True)
        return start_cli("worker", cwd=folder, env=self._machine_env("worker"))

    async def _until_ready(self, timeout: float = 60) -> None:
        async with httpx.AsyncClient() as http:

            async def ready() -> bool:
                assert self.edge is not None
                if self.edge.poll() is not None:
                    raise RuntimeError(f"mpp-hub up exited: {self.edge.communicate()[1][-3000:]}")
                return (await http.get(f"{self.edge_url}/readyz")).status_code == 200

            await until(ready, "the edge's /readyz to answer 200", timeout, ignoring=(httpx.HTTPError,))

    def kill_worker(self, index: int = 0) -> None:
        self.workers[index].send_signal(signal.SIGKILL)
        self.workers[index].wait(10)

    def restart_worker(self, index: int = 0) -> None:
        self.workers[index] = self._start_worker(index + 2)

    def samsat_postings(self) -> dict[str, str]:
        stats: dict[str, Any] = httpx.get(f"{self.sandboxes['samsat'].url}/_sandbox/stats").json()
        return dict(stats["payments"])  # bank reference -> plate

    async def stop(self) -> str:
        """Stop everything, each piece even when stopping another fails (the hub processes first, then the NATS
        nodes, then the sandboxes); returns what the hub processes wrote on stderr."""
        errors: list[str] = []
        async with contextlib.AsyncExitStack() as exits:
            for server in self.sandboxes.values():
                exits.callback(server.stop)
            for node in self.cluster.nodes:
                exits.push_async_callback(node.astop)
            for process in [*self.workers, *([self.edge] if self.edge else [])]:
                exits.callback(_end, process, errors)
        return "\n".join(errors)


def _end(process: HubProcess, errors: list[str]) -> None:
    """SIGTERM, as an orchestrator stops a hub; killed when it does not end within 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        errors.append(process.communicate(timeout=20)[1])
    except subprocess.TimeoutExpired:
        process.kill()
        errors.append(process.communicate(timeout=20)[1] + "\n(killed: it did not stop within 20 s of SIGTERM)")


class Load:
    """Steady traffic through the portal API, recorded call by call."""

    def __init__(self, hub: ScaledOutHub, report: Report) -> None:
        self.hub = hub
        self.report = report
        self.headers = {"Authorization": f"Bearer {hub.key}", "X-Purpose": TEST_PURPOSE}
        samples = {code: hub_sandbox_samples(code) for code in ("dukcapil", "bpjs", "samsat")}
        self.calls: list[tuple[str, dict[str, str]]] = [
            ("identity.lookup", {"nik": samples["dukcapil"]["nik"][0]}),
            ("health.coverage", {"nik": samples["bpjs"]["nik"][0]}),
            ("vehicle.tax_due", {"plate": samples["samsat"]["plate"][0]}),
        ]
        self.paid: dict[str, str] = {}  # tracking number -> plate

    async def sync_caller(self, http: httpx.AsyncClient, number: int, running: Callable[[], bool]) -> None:
        turn = number
        while running():
            operation, body = self.calls[turn % len(self.calls)]
            turn += 1
            began = time.monotonic()
            try:
                headers = {**self.headers, "X-Purpose": purpose_for(operation)}
                answer = await http.post(f"/v1/{operation}", json=body, headers=headers)
            except httpx.HTTPError as exc:
                self.report.violations.append(f"{operation}: no HTTP answer ({type(exc).__name__})")
                continue
            elapsed = time.monotonic() - began
            self.report.calls += 1
            self.report.latencies.append(elapsed)
            outcome = _outcome(answer)
            self.report.results[outcome] += 1
            if elapsed > DEADLINE + _SLACK:
                self.report.violations.append(f"{operation}: answered after {elapsed:.2f}s")
            elif outcome != "ok" and not _typed_retryable(answer):
                self.report.violations.append(f"{operation}: {answer.status_code} {answer.text[:200]}")
            if outcome != "ok":
                await asyncio.sleep(0.2)  # as a client honouring Retry-After would, roughly

    async def renewal(self, http: httpx.AsyncClient, nik: str, plate: str) -> None:
        body = {"service": "vehicle-tax-renewal", "applicant_nik": nik, "channel": "kiosk", "params": {"plate": plate}}
        answer = await http.post("/v1/applications", json=body, headers=self.headers)
        if answer.status_code != 201:
            if not _typed_retryable(answer):
                self.report.violations.append(f"submit: {answer.status_code} {answer.text[:200]}")
            else:
                self.report.submit_refused[answer.json()["code"]] += 1
            return
        self.report.submitted += 1
        tracking_no = answer.json()["tracking_no"]
        application = await self._until(http, tracking_no, {"awaiting_payment"}, timeout=90)
        if application is None:
            self.report.lost.append(f"{tracking_no}: never billed")
            return
        va = application["details"]["virtual_account"]
        async with httpx.AsyncClient(timeout=30) as bank:
            paid = await bank.post(
                f"{self.hub.sandboxes['bank'].url}/_sandbox/pay", json={"virtualAccountNo": va, "times": 2}
            )
        if paid.status_code == 200:
            self.paid[tracking_no] = plate
            self.report.paid += 1

    async def _until(
        self, http: httpx.AsyncClient, tracking_no: str, wanted: set[str], timeout: float
    ) -> dict[str, Any] | None:

        async def reached() -> dict[str, Any] | None:
            answer = await http.get(f"/v1/applications/{tracking_no}", headers=self.headers)
            found: dict[str, Any] = answer.json()
            return found if answer.status_code == 200 and found["status"] in wanted else None

        try:
            return await until(reached, f"{tracking_no} to be {'/'.join(wanted)}", timeout, ignoring=(httpx.HTTPError,))
        except AssertionError:
            return None  # the report counts it as lost

    async def settle(self, http: httpx.AsyncClient, timeout: float) -> None:
        """Wait for every paid renewal to finish; count the ones that never do, and double postings."""
        outcomes = await asyncio.gather(*(self._until(http, t, {"done"}, timeout) for t in self.paid))
        posted = Counter(self.hub.samsat_postings().values())
        self.report.double_postings = [plate for plate, count in posted.items() if count > 1]
        for (tracking_no, plate), outcome in zip(self.paid.items(), outcomes, strict=True):
            if outcome is None:
                self.report.lost.append(f"{tracking_no}: paid, never posted")
                continue
            self.report.done += 1
            if posted[plate] == 0:
                self.report.lost.append(f"{tracking_no}: done, but Samsat has no posting")


def hub_sandbox_samples(code: str) -> dict[str, list[str]]:
    return {kind: list(found) for kind, found in load_plugins(only={code}).sandboxes[code].samples().items()}


def _typed_retryable(answer: httpx.Response) -> bool:
    """A contract error that says a retry may succeed: what a fault may cost a caller, and nothing worse."""
    return _outcome(answer) != "untyped" and bool(answer.json().get("retryable"))


def _outcome(answer: httpx.Response) -> str:
    if answer.status_code == 200:
        return "ok"
    try:
        code = answer.json()["code"]
    except (ValueError, KeyError, TypeError):
        return "untyped"
    return str(code)


async def run_scenario(
    root: Path, *, seconds: float, callers: int = 6, renewals: int = 12, log: Callable[[str], None] = print
) -> Report:
    """Load for ``seconds``; kill worker 2 at 30 % (restarted at 45 %), restart NATS node 1 at 60 %."""
    report = Report()
    hub = ScaledOutHub(root)
    stderr = ""
    began_start = time.monotonic()
    try:
        await hub.start()
        report.start_seconds = time.monotonic() - began_start
        report.replicas = await hub.stream_replicas()
        report.provisioned = hub.provisioned
        report.routes = await hub.cluster.route_checks()
        load = Load(hub, report)
        began = time.monotonic()
        stop_at = began + seconds

        def running() -> bool:
            return time.monotonic() < stop_at

        async with _portal(hub.edge_url) as http:
            tasks = [asyncio.create_task(load.sync_caller(http, i, running)) for i in range(callers)]
            vehicles = _renewable(renewals)
            spacing = seconds * 0.8 / max(len(vehicles), 1)

            async def submit_steadily() -> None:
                for nik, plate in vehicles:
                    tasks.append(asyncio.create_task(load.renewal(http, nik, plate)))
                    await asyncio.sleep(spacing)

            submitter = asyncio.create_task(submit_steadily())
            await asyncio.sleep(seconds * 0.3)
            hub.kill_worker(0)
            report.faults.append(f"t={time.monotonic() - began:.1f}s SIGKILL worker 2")
            log(report.faults[-1])
            await asyncio.sleep(seconds * 0.15)
            hub.restart_worker(0)
            report.faults.append(f"t={time.monotonic() - began:.1f}s worker 2 restarted")
            log(report.faults[-1])
            await asyncio.sleep(seconds * 0.15)
            report.faults.append(
                f"t={time.monotonic() - began:.1f}s NATS node n1 stopped (SIGTERM), restarted 2s later"
            )
            log(report.faults[-1])
            await hub.cluster.restart(0)
            await submitter
            await asyncio.gather(*tasks)
            report.seconds = time.monotonic() - began
            await load.settle(http, timeout=120)
    finally:
        stderr = await hub.stop()
    if "Traceback" in stderr:
        report.violations.append("a hub process printed a traceback:\n" + stderr[-3000:])
    return report


@contextlib.asynccontextmanager
async def _portal(url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, timeout=DEADLINE + 10) as http:
        yield http
