"""Access receipts end to end: `mpp-hub up` with a witness, a read through the portal, the citizen's access log
with its receipts, and the operator's `audit verify`, `prove` and `check-receipt` on that running hub."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from hub._asgi import AsgiServer
from hub._bus_access import BusAccess
from hub._checkpointer import Checkpointer
from hub._note import NoteVerifier
from hub._receipts import check_receipt
from hub._secrets import audit_log_signer
from hub._settings import HubSettings
from hub._up import Started, run
from hub._witness import Witness
from hub._witness import create_app as create_witness_app
from hub._witness_client import WitnessConfig
from hub.testing._bus import add_consumer
from tests._until import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

NIK = "3328080709870001"  # a synthetic Tegal resident in the Dukcapil sandbox
PURPOSE = "layanan-kependudukan"
OWN_DATA = "hak-subjek-data"  # the citizen's right to know who processed their data (UU 27/2022)


@dataclass
class Mall:
    started: Started
    data_dir: Path
    cli_key: str
    witness: WitnessConfig
    log_vkey: str

    @property
    def http(self) -> str:
        assert self.started.http_url is not None
        return self.started.http_url

    @property
    def checkpointer(self) -> Checkpointer:
        assert self.started.audit_log is not None and self.started.audit_log.checkpointer is not None
        return self.started.audit_log.checkpointer

    def bus(self) -> BusAccess:
        secrets_dir = self.data_dir / "secrets"
        return BusAccess(self.started.nats_url, secrets_dir / "bus" / "credentials", secrets_dir / "bus" / "ca.pem")

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MPP_HUB_DATA_DIR": str(self.data_dir),
            "MPP_HUB_AUDIT_WITNESSES": json.dumps([str(self.witness)]),
        }


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def mall(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mall]:
    data_dir = tmp_path_factory.mktemp("access-log")
    log_key = audit_log_signer(HubSettings(data_dir=data_dir)).verifier_key()  # made before `up`, as an operator would
    with Witness.open(tmp_path_factory.mktemp("witness"), logs=[log_key]) as witness:
        server = AsgiServer(create_witness_app(witness))
        config = WitnessConfig(await server.start(), witness.vkey)
        settings = HubSettings(
            data_dir=data_dir, nats_port=-1, port=0, log_level="warning", audit_witnesses=[str(config)],
            audit_checkpoint_interval=0.2,
        )  # fmt: skip
        stop, up = asyncio.Event(), asyncio.get_running_loop().create_future()
        task = asyncio.create_task(run(settings, stop=stop, on_started=up.set_result))
        try:
            started: Started = await asyncio.wait_for(asyncio.shield(up), 60)
            cli_key = (data_dir / "secrets" / "cli.key").read_text().strip()
            yield Mall(started, data_dir, cli_key, config, log_key)
        finally:
            stop.set()
            await task
            await server.stop()


def _headers(key: str, purpose: str = PURPOSE) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-Purpose": purpose}


async def _read_identity(mall: Mall) -> None:
    async with httpx.AsyncClient(base_url=mall.http, timeout=15) as http:
        answer = await http.post("/v1/identity.lookup", json={"nik": NIK}, headers=_headers(mall.cli_key))
    assert answer.status_code == 200, answer.text


async def _access_log(mall: Mall, key: str | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=mall.http, timeout=15) as http:
        return await http.get(f"/v1/citizens/{NIK}/access-log", headers=_headers(key or mall.cli_key, OWN_DATA))


async def _receipted_read(mall: Mall) -> dict[str, Any]:
    """The identity read's entry in the access log, once a checkpoint covers it (within the signing interval)."""

    async def receipted() -> dict[str, Any] | None:
        answer = await _access_log(mall)
        assert answer.status_code == 200, answer.text
        reads: list[dict[str, Any]] = [e for e in answer.json()["entries"] if e["operation"] == "identity.lookup"]
        return reads[-1] if reads and reads[-1]["receipt"] is not None else None

    return await until(receipted, "a checkpoint to cover the identity read", timeout=30)


async def test_a_citizen_sees_who_read_their_data_with_receipts_that_verify_offline(mall: Mall) -> None:
    """The portal's access log lists the read with its purpose and a receipt; the receipt checks with the log's
    and the witness's public keys alone; and reading the access log is itself recorded."""
    await _read_identity(mall)
    entry = await _receipted_read(mall)
    assert (entry["consumer"], entry["purpose"], entry["outcome"]) == (mall.started.cli_consumer, PURPOSE, "ok")
    checked = check_receipt(
        json.dumps(entry["receipt"]), NoteVerifier.from_vkey(mall.log_vkey), [mall.witness.verifier]
    )
    assert checked.record.operation == "identity.lookup" and checked.cosigned_by == (mall.witness.name,)
    assert NIK not in json.dumps(entry) and checked.record.subject_masked == "3328**********01"

    later = (await _access_log(mall)).json()["entries"]
    assert any(e["operation"] == "citizen.access_log" for e in later)


async def test_the_access_log_needs_its_own_right(mall: Mall) -> None:
    """A consumer allowed identity reads, but not the access log, is refused it (and nothing is released)."""
    key = await add_consumer(mall.bus(), "desk-no-log", ["identity.*"])
    answer = await _access_log(mall, key)
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    assert NIK not in answer.text


async def _cli(mall: Mall, *args: str) -> tuple[int, str, str]:
    # Not subprocess.run: the hub under test serves from this very event loop.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", *args, env=mall.env(), stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_operator_verifies_proves_and_checks_a_receipt(mall: Mall, tmp_path: Path) -> None:
    """`audit verify` finds the running hub's log intact and witnessed; `audit prove` writes a receipt that
    `audit check-receipt` accepts offline, and refuses once one byte of it is changed."""
    await _read_identity(mall)
    await _receipted_read(mall)

    code, out, err = await _cli(mall, "audit", "verify", "--json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["witnessed_by"] == [mall.witness.name], err

    receipt = tmp_path / "receipt.json"
    code, _, err = await _cli(mall, "audit", "prove", "0", "--out", str(receipt))
    assert code == 0, err
    keys = ("--log-key", mall.log_vkey, "--witness-key", mall.witness.vkey)
    code, out, err = await _cli(mall, "audit", "check-receipt", str(receipt), *keys)
    assert code == 0 and "receipt verifies: record 0" in out, err

    data = receipt.read_text()
    receipt.write_text(data.replace('"index": 0', '"index": 1', 1))
    code, _, err = await _cli(mall, "audit", "check-receipt", str(receipt), *keys)
    assert code == 1 and "does NOT verify" in err
