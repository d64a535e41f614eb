"""A new operation from a plugin's own contract package, end to end, with no change to the hub.

`mpp-hub new-plugin tirta --operation water.bill` (a PDAM) in a throwaway directory, pip-installed (offline) into a
fresh virtualenv built once for the module, and `mpp-hub up` from that venv beside the built-in agencies:
the operation answers through the portal API, the bus (`mpp-hub call --data-dir`) and the CLI, is documented
in /openapi.json and listed in the catalogue at the hash the plugin pins, and `contract diff` tells a breaking
change to its models from an additive one. A package that breaks the contract's rules is refused at start,
with the fix in the message.

Variants of the package are copies of the plugin's folder, edited, put ahead of the installed one with
PYTHONPATH: the installed plugin itself never changes under the running hub.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._plugin_venv import BUILT_IN_PLUGINS, isolated_venv, venv_env
from tests._processes import HubProcess, free_port
from tests._servers import healthz
from tests._until import until_sync

PURPOSE = "layanan-water"
CODE = "tirta"
#: Every command loads the built-in plugins and this one, not whatever else is installed (agencies/ has a PDAM
#: of its own, whose package already holds the namespace water).
_ONLY_THESE = {"MPP_HUB_LOAD_PLUGINS": json.dumps([*BUILT_IN_PLUGINS, CODE])}
CUSTOMER = "1001234567"
UNKNOWN_CUSTOMER = "1009999999"
_STARTS_IN = 90.0
_ANSWER_LINE = '    amount: Rupiah = Field(description="The amount the customer owes now, in rupiah.")\n'


@dataclass(frozen=True)
class Plugin:
    """The scaffolded plugin, installed in its own venv."""

    venv: Path
    folder: Path

    @property
    def contract_file(self) -> Path:
        return self.folder / f"mpp_plugin_{CODE}" / "contract.py"

    @property
    def pinned_hash(self) -> str:
        found = re.search(
            r'schema_hash="([0-9a-f]{16})"', (self.folder / f"mpp_plugin_{CODE}" / "plugin.py").read_text()
        )
        assert found, "plugin.py pins no schema hash"
        return found[1]

    def command(self, *args: str) -> list[str]:
        return [str(self.venv / "bin" / "python"), "-m", "hub", *args]

    def cli(
        self, *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """`mpp-hub ARGS` as the venv runs it; ``env`` adds to (or, for PYTHONPATH, sets in) its environment."""
        return subprocess.run(
            self.command(*args),
            cwd=cwd,
            env=venv_env(self.venv, _ONLY_THESE | (env or {})),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def variant(self, where: Path, old: str, new: str) -> dict[str, str]:
        """A copy of the plugin with ``old`` replaced by ``new`` in contract.py; the env that loads it instead."""
        copy = where / "variant"
        shutil.copytree(self.folder, copy, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
        contract = copy / f"mpp_plugin_{CODE}" / "contract.py"
        text = contract.read_text()
        assert text.count(old) == 1, f"{old!r} is not in the generated contract.py once"
        contract.write_text(text.replace(old, new))
        return {"PYTHONPATH": str(copy)}


@dataclass(frozen=True)
class RunningHub:
    http: str
    data_dir: Path
    key: str


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Plugin:
    root = tmp_path_factory.mktemp("contract-package")
    venv = isolated_venv(root / "venv")
    workspace = root / "work"
    workspace.mkdir()
    made = Plugin(venv, workspace / f"mpp-plugin-{CODE}")
    done = made.cli(
        "new-plugin", CODE, "--name", "PDAM Tirta Bahari Kota Tegal", "--operation", "water.bill", cwd=workspace
    )
    assert done.returncode == 0, done.stderr
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
    ]
    subprocess.run([*pip, "-e", str(made.folder)], check=True, timeout=300, capture_output=True, env=venv_env(venv))
    return made


@pytest.fixture(scope="module")
def hub(plugin: Plugin, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    """`mpp-hub up` from the plugin's venv, on free ports, with every built-in agency and the new one."""
    workdir = tmp_path_factory.mktemp("hub")
    data_dir = workdir / "data"
    port = free_port()
    args = plugin.command("up", "--port", str(port), "--nats-port", "-1", "--data-dir", str(data_dir))
    process = HubProcess(args, cwd=workdir, env=venv_env(plugin.venv, _ONLY_THESE))
    try:
        until_sync(lambda: healthz(f"http://127.0.0.1:{port}/healthz"), "/healthz to answer 200", _STARTS_IN)
    except AssertionError:
        process.kill()
        raise AssertionError(process.communicate()[1][-4000:]) from None
    key = (data_dir / "secrets" / "cli.key").read_text().strip()
    yield RunningHub(f"http://127.0.0.1:{port}", data_dir, key)
    process.terminate()
    process.communicate(timeout=30)


def _portal(hub: RunningHub, payload: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {hub.key}", "X-Purpose": PURPOSE}
    return httpx.post(f"{hub.http}/v1/water.bill", json=payload, headers=headers, timeout=20)


def test_the_new_agency_runs_beside_the_built_in_ones(hub: RunningHub) -> None:
    health = healthz(f"{hub.http}/healthz")
    assert health is not None
    assert health["agencies"][CODE] == "up" and health["agencies"]["dukcapil"] == "up"


def test_a_portal_calls_it_over_http(hub: RunningHub) -> None:
    """The answer in the package's terms (money as a string to the sen); refusals as contract errors."""
    answer = _portal(hub, {"customer_number": CUSTOMER})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"customer_number": CUSTOMER, "customer_name": "DEWI LESTARI", "amount": "125000.00"}
    unknown = _portal(hub, {"customer_number": UNKNOWN_CUSTOMER})
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found" and unknown.json()["agency"] == CODE
    malformed = _portal(hub, {"customer_number": "12-34"})  # refused by the package's model, never sent
    assert malformed.status_code == 400 and malformed.json()["code"] == "invalid_input"


def test_call_finds_the_hub_by_its_data_dir(hub: RunningHub, plugin: Plugin, tmp_path: Path) -> None:
    """From a folder with no hub of its own, `mpp-hub call` reaches one only when told its data dir."""
    samples = plugin.cli("sandbox", "sample", "--json", cwd=tmp_path, env={"MPP_HUB_DATA_DIR": str(hub.data_dir)})
    assert samples.returncode == 0, samples.stderr
    nik = json.loads(samples.stdout)["dukcapil"]["nik"][0]
    args = ("call", "identity.lookup", json.dumps({"nik": nik}), "--purpose", "layanan-kependudukan")
    found = plugin.cli(*args, "--data-dir", str(hub.data_dir), cwd=tmp_path)
    assert found.returncode == 0 and json.loads(found.stdout)["nik"] == nik, found.stderr
    lost = plugin.cli(*args, cwd=tmp_path)
    assert lost.returncode != 0 and "Traceback" not in lost.stderr, lost.stderr


def test_the_cli_calls_it_over_the_bus(hub: RunningHub, plugin: Plugin, tmp_path: Path) -> None:
    """`mpp-hub call --data-dir` from another folder, and with MPP_HUB_DATA_DIR; a refusal exits 1 with the error."""
    payload = json.dumps({"customer_number": "1007654321"})
    by_option = plugin.cli(
        "call", "water.bill", payload, "--purpose", PURPOSE, "--data-dir", str(hub.data_dir), cwd=tmp_path
    )
    assert by_option.returncode == 0, by_option.stderr
    assert json.loads(by_option.stdout)["amount"] == "87500.50"
    env = {"MPP_HUB_DATA_DIR": str(hub.data_dir), "MPP_HUB_PURPOSE": PURPOSE}
    refused = plugin.cli(
        "call", "water.bill", json.dumps({"customer_number": UNKNOWN_CUSTOMER}), "--json", cwd=tmp_path, env=env
    )
    assert refused.returncode == 1 and json.loads(refused.stdout)["code"] == "not_found", refused.stdout
    purposeless = plugin.cli("call", "water.bill", payload, "--data-dir", str(hub.data_dir), cwd=tmp_path)
    assert purposeless.returncode == 1 and PURPOSE in purposeless.stderr  # the refusal names the purpose that covers it


def test_the_audit_log_keys_reads_by_the_customer_number(hub: RunningHub, plugin: Plugin, tmp_path: Path) -> None:
    """The package's category identifies the subject, so `audit who-read --kind` finds the customer's reads."""
    assert _portal(hub, {"customer_number": CUSTOMER}).status_code == 200
    env = {"MPP_HUB_DATA_DIR": str(hub.data_dir)}
    found = plugin.cli("audit", "who-read", CUSTOMER, "--kind", "water_customer", "--json", cwd=tmp_path, env=env)
    assert found.returncode == 0, found.stderr
    records = json.loads(found.stdout)
    assert records and all(r["operation"] == "water.bill" and r["purpose"] == PURPOSE for r in records)


def test_openapi_and_the_catalogue_describe_it(hub: RunningHub, plugin: Plugin, tmp_path: Path) -> None:
    """/openapi.json documents the operation with its markers; the catalogue lists it at the pinned hash."""
    spec = httpx.get(f"{hub.http}/openapi.json", timeout=20).json()
    assert "post" in spec["paths"]["/v1/water.bill"]
    schemas = spec["components"]["schemas"]
    assert schemas["WaterBillQuery"]["properties"]["customer_number"]["x-personal-data"] == "water_customer"
    assert schemas["WaterBill"]["properties"]["customer_name"]["x-personal-data"] == "name"
    listed = plugin.cli("services", "--json", cwd=tmp_path, env={"MPP_HUB_DATA_DIR": str(hub.data_dir)})
    assert listed.returncode == 0, listed.stderr
    [agency] = [a for a in json.loads(listed.stdout)["agencies"] if a["code"] == CODE]
    [operation] = agency["operations"]
    assert (operation["name"], operation["version"]) == ("water.bill", "0.1.0")
    assert operation["schema_hash"] == plugin.pinned_hash


def _export(plugin: Plugin, directory: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    done = plugin.cli(
        "contract", "export", str(directory), "--package", "water", "--json", cwd=directory.parent, env=env
    )
    assert done.returncode == 0, done.stderr
    exported: dict[str, Any] = json.loads(done.stdout)
    return exported


def test_contract_diff_tells_a_breaking_change_from_an_additive_one(plugin: Plugin, tmp_path: Path) -> None:
    """Removing a reply field breaks water.bill's callers; a new optional one does not. Hashes follow the shape."""
    released = _export(plugin, tmp_path / "0.1.0")
    assert [(op["name"], op["schema_hash"]) for op in released["operations"]] == [("water.bill", plugin.pinned_hash)]
    removed = _export(plugin, tmp_path / "removed", plugin.variant(tmp_path / "a", _ANSWER_LINE, ""))
    added = _export(
        plugin,
        tmp_path / "added",
        plugin.variant(
            tmp_path / "b",
            _ANSWER_LINE,
            _ANSWER_LINE + '    period: str | None = Field(default=None, description="Month billed.")\n',
        ),
    )
    assert removed["operations"][0]["schema_hash"] != plugin.pinned_hash != added["operations"][0]["schema_hash"]
    breaking = plugin.cli("contract", "diff", str(tmp_path / "0.1.0"), str(tmp_path / "removed"), cwd=tmp_path)
    assert breaking.returncode == 1, breaking.stdout + breaking.stderr
    assert "water.bill: BREAKING" in breaking.stdout and "output.amount: removed" in breaking.stdout
    additive = plugin.cli("contract", "diff", str(tmp_path / "0.1.0"), str(tmp_path / "added"), cwd=tmp_path)
    assert additive.returncode == 0 and "BREAKING" not in additive.stdout, additive.stdout


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param(
            _ANSWER_LINE,
            _ANSWER_LINE + '    alamat: str = Field(default="", description="Where the meter is.")\n',
            "WaterBill.alamat looks like an address but carries no Personal marker: annotate it "
            "(Annotated[..., Personal(PersonalData.ADDRESS)]), or rename it if it is not personal data",
            id="an unmarked address",
        ),
        pytest.param(
            "    customer_number: CustomerNumber\n\n\nclass WaterBill(",
            '    customer_number: CustomerNumber\n    nik: str = Field(default="", description="The owner.")\n\n\n'
            "class WaterBill(",
            "WaterBillQuery.nik looks like a NIK but carries no Personal marker",
            id="an unmarked NIK",
        ),
        pytest.param(
            'name="water.bill",',
            'name="identity.lookup",',
            "operation 'identity.lookup' is already in the contract: a package cannot redefine or shadow it; "
            "name yours water.<verb>",
            id="a core operation",
        ),
    ],
)
def test_up_refuses_a_package_that_breaks_the_rules(
    plugin: Plugin, tmp_path: Path, old: str, new: str, message: str
) -> None:
    """The hub starts nothing: it exits as unable to start (3), naming the field or operation and the fix."""
    env = plugin.variant(tmp_path, old, new)
    args = ("up", "--port", str(free_port()), "--nats-port", "-1", "--data-dir", str(tmp_path / "data"))
    done = plugin.cli(*args, cwd=tmp_path, env=env, timeout=_STARTS_IN)
    assert done.returncode == 3, done.stderr[-4000:]
    assert "contract package 'water' is refused" in done.stderr and message in done.stderr, done.stderr[-4000:]
