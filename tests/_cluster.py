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
import signal
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats

from hub import SandboxContext, load_plugins
from hub._consumers import ConsumerRegistry
from hub._nats_server import EmbeddedNats
from plugins.samsat import _data as samsat_data
from tests._processes import HubProcess, free_port, start_cli
from tests._servers import ThreadedServer
from tests.conftest import TEST_AUDIT_KEY, TEST_PURPOSE

AGENCIES = ("dukcapil", "bpjs", "samsat", "bank")
#: The deadline every portal request runs under (the hub's request_timeout), and the slack allowed on top
#: of it for the HTTP round trip itself.
DEADLINE = 5.0
_SLACK = 1.0


class NatsCluster:
    """Three nats-server processes on loopback, routed to each other, JetStream on each."""

    def __init__(self, root: Path, size: int = 3) -> None:
        cluster_ports = [free_port() for _ in range(size)]
        self.ports = [free_port() for _ in range(size)]
        self.nodes = []
        for i in range(size):
            routes = ",".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i)
            args = ["--server_name", f"n{i + 1}", "--cluster_name", "mpp", "--routes", routes,
                    "--cluster", f"nats://127.0.0.1:{cluster_ports[i]}"]  # fmt: skip
            self.nodes.append(EmbeddedNats(root / f"n{i + 1}", port=self.ports[i], extra_args=args))

    @property
    def url(self) -> str:
        return ",".join(f"nats://127.0.0.1:{port}" for port in self.ports)

    async def start(self) -> None:
        for node in self.nodes:
            await node.astart()
        await self.wait_for_jetstream()

    async def wait_for_jetstream(self, timeout: float = 30) -> None:
        """Until the cluster has a JetStream meta leader, i.e. can create streams."""
        nc = await nats.connect(self.url.split(","))
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await nc.jetstream().account_info()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    async def restart(self, index: int, down_for: float = 2.0) -> None:
        node = self.nodes[index]
        await node.astop()
        await asyncio.sleep(down_for)
        await node.astart()

    async def stop(self) -> None:
        for node in self.nodes:
            await node.astop()


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
        }


def _renewable(count: int) -> list[tuple[str, str]]:
    """(owner NIK, plate) of vehicles in arrears, one application each."""
    overdue = [v for v in samsat_data.by_plate().values() if v.standing is samsat_data.Standing.OVERDUE]
    return [(v.owner_nik, v.plate) for v in overdue[:count]]


class ScaledOutHub:
    """The sandboxes, a NATS cluster, `mpp-hub up` (edge + worker 1) and workers 2 and 3."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cluster = NatsCluster(root / "nats")
        self.sandboxes: dict[str, ThreadedServer] = {}
        self.edge: HubProcess | None = None
        self.workers: list[HubProcess] = []
        self.edge_url = ""
        self.key = ""
        self._env: dict[str, str] = {}

    async def start(self) -> None:
        await self.cluster.start()
        plugins = load_plugins(only=set(AGENCIES) | {"vehicle_tax_renewal"})
        context = SandboxContext()
        port = free_port()
        context.hub_url = f"http://127.0.0.1:{port}"  # where the bank sends its payment notifications
        for code in AGENCIES:
            self.sandboxes[code] = ThreadedServer(plugins.sandboxes[code].app(context)).start()
        self._env = {
            "MPP_HUB_NATS_URL": self.cluster.url,
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
        self.edge = start_cli("up", "--port", str(port), cwd=self.root / "edge", env=self._env)
        self.edge_url = context.hub_url
        await self._until_ready()
        self.workers = [self._start_worker(i) for i in (2, 3)]
        nc = await nats.connect(self.cluster.url.split(","))
        try:
            registry = await ConsumerRegistry.open(nc.jetstream())
            _, self.key = await registry.add("cluster-load", ["*"])
            await registry.close()
        finally:
            await nc.close()
        await asyncio.sleep(3)  # the workers join their queue groups

    async def stream_replicas(self) -> dict[str, int]:
        nc = await nats.connect(self.cluster.url.split(","))
        try:
            streams = await nc.jetstream().streams_info()
            return {info.config.name or "?": info.config.num_replicas or 1 for info in streams}
        finally:
            await nc.close()

    def _start_worker(self, number: int) -> HubProcess:
        folder = self.root / f"worker{number}"
        folder.mkdir(exist_ok=True)
        return start_cli("worker", cwd=folder, env=self._env)

    async def _until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                assert self.edge is not None
                if self.edge.poll() is not None:
                    raise RuntimeError(f"mpp-hub up exited: {self.edge.communicate()[1][-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.edge_url}/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.2)
        raise RuntimeError("the edge did not become ready")

    def kill_worker(self, index: int = 0) -> None:
        self.workers[index].send_signal(signal.SIGKILL)
        self.workers[index].wait(10)

    def restart_worker(self, index: int = 0) -> None:
        self.workers[index] = self._start_worker(index + 2)

    def samsat_postings(self) -> dict[str, str]:
        stats: dict[str, Any] = httpx.get(f"{self.sandboxes['samsat'].url}/_sandbox/stats").json()
        return dict(stats["payments"])  # bank reference -> plate

    async def stop(self) -> str:
        """Stop everything; returns what the hub processes wrote on stderr."""
        errors = []
        for process in [*self.workers, *([self.edge] if self.edge else [])]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                errors.append(process.communicate(timeout=20)[1])
        await self.cluster.stop()
        for server in self.sandboxes.values():
            server.stop()
        return "\n".join(errors)


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
                answer = await http.post(f"/v1/{operation}", json=body, headers=self.headers)
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                answer = await http.get(f"/v1/applications/{tracking_no}", headers=self.headers)
                if answer.status_code == 200 and answer.json()["status"] in wanted:
                    return answer.json()  # type: ignore[no-any-return]
            await asyncio.sleep(0.5)
        return None

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
    return load_plugins(only={code}).sandboxes[code].samples()


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
    try:
        await hub.start()
        report.replicas = await hub.stream_replicas()
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
