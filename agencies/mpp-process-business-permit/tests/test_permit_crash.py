"""A hub killed (SIGKILL) in any step of the business permit finishes it when restarted, with one permit: after
each step's agency call and before its record, and during the official's ``document.sign`` call itself (the
application still waits, and the official signs again)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hub import load_plugins
from hub._bus_access import BusAccess
from hub.testing._bus import TestBus, add_consumer
from mpp_plugin_bsre import sandbox as bsre_sandbox
from permit_mall import AGENCIES, KBLI, PLUGINS, Applicant, independently_valid, official, permit_applicant
from starlette.types import ASGIApp, Receive, Scope, Send
from tests._processes import HubProcess, free_port, start_cli
from tests._stack import Sandboxes
from tests._until import until_sync
from tests.conftest import TEST_AUDIT_KEY, all_rights_key, bus_env

__all__ = ["permit_applicant"]  # the fixture, imported so that pytest finds it

SIGNING = "tanda-tangan-elektronik"
#: What the desk states: the process's own purpose (applications, identity and business data).
PURPOSE = "layanan-perizinan"


class SigningDesk:
    """The BSrE sandbox, counting the sign requests it is sent and, while ``held``, keeping each one waiting."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.requests = 0
        self.arrived = threading.Event()
        self.released = threading.Event()
        self.released.set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/api/sign/pdf":
            self.requests += 1
            self.arrived.set()
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait)
        await self._app(scope, receive, send)


class Mall:
    """The sandboxes in this process, so they outlive the hub; the hub in a child process, ended on ``exits``."""

    def __init__(self, bus: BusAccess, workdir: Path, sandboxes: Sandboxes, desk: SigningDesk) -> None:
        self.bus, self.workdir, self.sandboxes, self.desk = bus, workdir, sandboxes, desk
        self.settings = sandboxes.settings(load_plugins(only=set(AGENCIES)))
        self.key, self.official_key, self.url = "", "", ""
        self._started: list[HubProcess] = []

    def start_hub(self, crash_after: str | None = None) -> HubProcess:
        port = free_port()
        env = {
            **bus_env(self.bus), "MPP_HUB_AUDIT_KEY": TEST_AUDIT_KEY.decode(),
            "MPP_HUB_LOAD_PLUGINS": json.dumps(list(PLUGINS)), "MPP_HUB_LOG_LEVEL": "warning",
        }  # fmt: skip
        for code, values in self.settings.items():
            env.update({f"MPP_HUB_PLUGINS__{code.upper()}__{k.upper()}": str(v) for k, v in values.items()})
        if crash_after:
            env["MPP_HUB_CRASH_AFTER_STEP"] = crash_after
        process = start_cli(
            "up", "--nats-url", self.bus.url, "--no-sandbox", "--port", str(port), cwd=self.workdir, env=env
        )
        self._started.append(process)
        self.url = f"http://127.0.0.1:{port}"
        until_sync(lambda: self._get("/healthz", self.key), "the hub to come up", 60)
        return process

    def logged(self) -> str:
        """Everything the hubs started wrote (their logs)."""
        return "".join(path.read_text() for p in self._started for path in (p.out_path, p.err_path))

    def stop_all(self) -> None:
        for process in self._started:
            if process.poll() is None:
                process.kill()
            process.wait(20)

    def _get(self, path: str, key: str) -> Any:
        try:
            answer = httpx.get(self.url + path, headers=self._headers(key), timeout=5)
        except httpx.TransportError:
            return None  # down, or dying: ask again
        return answer.json() if answer.status_code == 200 else None

    @staticmethod
    def _headers(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}", "X-Purpose": PURPOSE}

    def submit(self, applicant: Applicant) -> str:
        body = {
            "service": "business-permit", "applicant_nik": applicant.nik, "channel": "desk",
            "params": {"full_name": applicant.full_name, "kbli": KBLI},
        }  # fmt: skip
        answer = httpx.post(f"{self.url}/v1/applications", json=body, headers=self._headers(self.key), timeout=10)
        assert answer.status_code == 201, answer.text
        return str(answer.json()["tracking_no"])

    def until_step(self, tracking_no: str, step: str) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            found = self._get(f"/v1/applications/{tracking_no}", self.key)
            return found if found and found["step"] == step and found["status"] == "in_progress" else None

        return until_sync(reached, f"{tracking_no} to wait at {step}", 60)

    def sign(self, tracking_no: str) -> httpx.Response:
        signer = official()
        body = {"signer_nik": signer.nik, "passphrase": signer.passphrase}
        headers = {"Authorization": f"Bearer {self.official_key}", "X-Purpose": SIGNING}
        return httpx.post(
            f"{self.url}/v1/applications/{tracking_no}/actions/sign", json=body, headers=headers, timeout=60
        )

    def sign_once_free(self, tracking_no: str) -> httpx.Response:
        """Sign as soon as no earlier submission's claim holds (a killed hub's lapses after the action's timeout)."""

        def signed() -> httpx.Response | None:
            answer = self.sign(tracking_no)
            return None if answer.status_code == 409 and "under way" in answer.text else answer

        return until_sync(signed, f"{tracking_no}'s earlier signing claim to lapse", 60)

    def download(self, tracking_no: str, birth_date: str) -> bytes:
        body = {"tracking_no": tracking_no, "birth_date": birth_date}
        headers = {"Authorization": f"Bearer {self.key}"}
        answer = httpx.post(f"{self.url}/v1/applications/document", json=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.content


@pytest.fixture
def mall(tmp_path: Path, permit_applicant: Applicant) -> Iterator[Mall]:
    server = TestBus(tmp_path / "nats")
    bus = server.start()
    desk = SigningDesk(bsre_sandbox.create_app())
    try:
        with Sandboxes(AGENCIES, apps={"bsre": desk}) as sandboxes:
            opened = Mall(bus, tmp_path, sandboxes, desk)
            opened.key = asyncio.run(all_rights_key(bus))
            opened.official_key = asyncio.run(add_consumer(bus, "official", ["document.sign"]))
            try:
                yield opened
            finally:
                opened.stop_all()
    finally:
        server.stop()


def _killed(process: HubProcess) -> None:
    with contextlib.suppress(Exception):
        process.wait(timeout=60)
    if process.poll() is None:
        process.kill()
        process.wait(20)
        pytest.fail("the hub should have died on its own in the step")
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("step", ["verify", "business"])
def test_killed_after_a_step_finishes_with_one_signature(mall: Mall, permit_applicant: Applicant, step: str) -> None:
    """SIGKILL after the step's agency call and before its record; the restarted hub runs it again."""
    first = mall.start_hub(crash_after=step)
    tracking_no = mall.submit(permit_applicant)
    _killed(first)

    mall.start_hub()
    mall.until_step(tracking_no, "await_signature")
    answer = mall.sign(tracking_no)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "done"
    assert mall.desk.requests == 1
    pdf = mall.download(tracking_no, permit_applicant.birth_date)
    assert asyncio.run(independently_valid(pdf)) == [official().name]


def test_killed_during_the_signing_call_waits_for_the_official_to_sign_again(
    mall: Mall, permit_applicant: Applicant
) -> None:
    first = mall.start_hub()
    tracking_no = mall.submit(permit_applicant)
    mall.until_step(tracking_no, "await_signature")
    mall.desk.released.clear()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        interrupted = pool.submit(mall.sign, tracking_no)
        assert mall.desk.arrived.wait(30), "the sign request never reached BSrE"
        first.kill()
        first.wait(20)
        mall.desk.released.set()  # BSrE signs; the answer finds no hub
        with pytest.raises(httpx.TransportError):
            interrupted.result(60)

    mall.start_hub()
    waiting = mall.until_step(tracking_no, "await_signature")
    assert waiting["history"][-1]["step"] == "await_signature"
    answer = mall.sign_once_free(tracking_no)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "done"
    assert mall.desk.requests == 2  # the lost one, and the one kept
    assert official().passphrase not in mall.logged()
    pdf = mall.download(tracking_no, permit_applicant.birth_date)
    assert asyncio.run(independently_valid(pdf)) == [official().name]  # one signature: the kept request's
