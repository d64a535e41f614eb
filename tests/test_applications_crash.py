"""A hub killed (SIGKILL) right after each step's effect at an agency finishes the renewal when restarted:
one bill, one posting at Samsat, whatever step it died in."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub import load_plugins
from hub._bus_access import BusAccess
from tests._processes import HubProcess, free_port, start_cli
from tests._stack import Sandboxes
from tests._until import until_sync
from tests.conftest import TEST_AUDIT_KEY, TEST_PURPOSE, all_rights_key, bus_env

AGENCIES = ("dukcapil", "samsat", "bank")
STEPS = ("verify", "price", "bill", "await_payment", "post")


def _variables(prefix: str, values: dict[str, Any]) -> dict[str, str]:
    """Settings as environment variables, a nested table (a second bank's, under providers) with one more ``__``."""
    found: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}__{key.upper()}"
        found.update(_variables(name, value) if isinstance(value, dict) else {name: str(value)})
    return found


class Mall:
    """Sandboxes in this process, so they outlive the hub; the hub itself in a child process. Every hub process
    started is ended on ``exits`` (killed if it still runs), whatever the test did with it."""

    def __init__(self, bus: BusAccess, workdir: Path, sandboxes: Sandboxes, exits: contextlib.ExitStack) -> None:
        self.bus = bus
        self.workdir = workdir
        self.sandboxes = sandboxes
        self.context = sandboxes.context
        self._exits = exits
        plugins = load_plugins(only=set(AGENCIES))
        self.settings = sandboxes.settings(plugins)
        samples = plugins.sandboxes["samsat"].samples()
        self.owner, self.plate = samples["nik"][0], samples["plate"][0]  # a vehicle in arrears
        self.key = ""
        self.url = ""

    def start_hub(self, crash_after: str | None = None) -> HubProcess:
        port = free_port()
        env = {
            **bus_env(self.bus),
            "MPP_HUB_AUDIT_KEY": TEST_AUDIT_KEY.decode(),
            "MPP_HUB_LOAD_PLUGINS": json.dumps([*AGENCIES, "vehicle_tax_renewal"]),
            "MPP_HUB_LOG_LEVEL": "warning",
        }
        for code, values in self.settings.items():
            env.update(_variables(f"MPP_HUB_PLUGINS__{code.upper()}", values))
        if crash_after:
            env["MPP_HUB_CRASH_AFTER_STEP"] = crash_after
        args = ("up", "--nats-url", self.bus.url, "--no-sandbox", "--port", str(port))
        process = start_cli(*args, cwd=self.workdir, env=env)
        self._exits.callback(_end, process)
        self.url = self.context.hub_url = f"http://127.0.0.1:{port}"
        until_sync(lambda: self._get("/healthz"), "the hub to come up", 30)
        return process

    def _get(self, path: str) -> Any:
        try:
            response = httpx.get(self.url + path, headers=self.headers(), timeout=5)
        except httpx.TransportError:
            return None  # the hub is down (or dying): ask again
        return response.json() if response.status_code == 200 else None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}", "X-Purpose": TEST_PURPOSE}

    def submit(self) -> str:
        body = {
            "service": "vehicle-tax-renewal", "applicant_nik": self.owner, "channel": "desk",
            "params": {"plate": self.plate},
        }  # fmt: skip
        answer = httpx.post(f"{self.url}/v1/applications", json=body, headers=self.headers(), timeout=10)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["tracking_no"])

    def status(self, tracking_no: str) -> dict[str, Any] | None:
        return self._get(f"/v1/applications/{tracking_no}")  # type: ignore[no-any-return]

    def until(self, tracking_no: str, status: str) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            found = self.status(tracking_no)
            return found if found and found["status"] == status else None

        return until_sync(reached, f"{tracking_no} to be {status}", 30)

    def pay(self, virtual_account: str) -> None:
        body = {"virtualAccountNo": virtual_account, "times": 3}  # a bank that repeats itself
        answer = httpx.post(f"{self.sandboxes.url('bank')}/_sandbox/pay", json=body, timeout=30)
        assert answer.status_code == 200, answer.text

    def stats(self, code: str) -> dict[str, Any]:
        return self.sandboxes.stats(code)


def _end(process: HubProcess) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(20)


@pytest.fixture
def mall(bus: BusAccess, tmp_path: Path) -> Iterator[Mall]:
    with contextlib.ExitStack() as exits:
        sandboxes = exits.enter_context(Sandboxes(AGENCIES))
        yield Mall(bus, tmp_path, sandboxes, exits)


@pytest.mark.parametrize("step", STEPS)
def test_killed_in_any_step_finishes_with_one_bill_and_one_posting(mall: Mall, step: str) -> None:
    """SIGKILL after the step's agency effect and before its record; a restarted hub finishes the job once."""
    mall.key = asyncio.run(all_rights_key(mall.bus))
    first = mall.start_hub(crash_after=step)
    try:
        tracking_no = mall.submit()
        if step in ("await_payment", "post"):
            mall.pay(mall.until(tracking_no, "awaiting_payment")["details"]["virtual_account"])
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL, "the hub should have died in the step"

    second = mall.start_hub()
    try:
        if step not in ("await_payment", "post"):
            mall.pay(mall.until(tracking_no, "awaiting_payment")["details"]["virtual_account"])
        done = mall.until(tracking_no, "done")
    finally:
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=20)
    assert mall.stats("bank")["bill_references"].count(tracking_no) == 1
    assert list(mall.stats("samsat")["payments"].values()).count(mall.plate) == 1
    assert [h["status"] for h in done["history"]][-1] == "done"
    assert done["details"]["receipt_number"]
