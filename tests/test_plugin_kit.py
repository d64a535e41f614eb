"""The plugin developer kit: `mpp-hub new-plugin` (with and without `--operation`), its output as generated
(ruff, ruff format, mypy --strict), and docs/writing-a-plugin.md run command by command.

The scaffolded plugin is installed into a throwaway virtualenv of its own that sees this interpreter's
packages (never into the shared one), offline: `--no-deps --no-build-isolation --no-index`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tomllib
import typing
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from contracts import OPERATIONS, AgencyKind, PersonalData
from contracts._personal import personal_marker
from hub._scaffold import NewOperation, Scaffold
from tests._plugin_venv import REPO, isolated_venv, show_hub_to_mypy, venv_env
from tests._processes import free_port, run_cli

TUTORIAL = REPO / "docs" / "writing-a-plugin.md"
_BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)
#: Every template token, the operation's included: none may be left in a generated file or path.
_TOKENS = Scaffold("x", "x", AgencyKind.REGIONAL, NewOperation("x", "y")).replacements()


def tutorial_env(venv: Path, port: int, nats_port: int) -> dict[str, str]:
    return venv_env(venv, {"MPP_HUB_PORT": str(port), "MPP_HUB_NATS_PORT": str(nats_port)})


def tutorial_script(port: int) -> str:
    """Every bash block of the tutorial, in order, in one shell; only the HTTP port is swapped for a free one."""
    blocks = _BASH_BLOCK.findall(TUTORIAL.read_text())
    assert blocks, "the tutorial has no bash blocks"
    script = "\n".join(blocks).replace("localhost:8080", f"localhost:{port}")
    return "set -euo pipefail\n" + script


def test_new_plugin_writes_an_installable_package(tmp_path: Path) -> None:
    """The package has the entry point, hooks, client, sandbox, README and tests, pinned to this contract."""
    done = run_cli("new-plugin", "land_office", "--name", "BPN Kota Tegal", "--kind", "vertical", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "mpp-plugin-land-office"
    assert f"created {folder.name}" in done.stdout and "pip install -e ." in done.stdout
    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["mpp_hub"] == {"land_office": "mpp_plugin_land_office.plugin"}
    assert "-p hub.testing" in project["tool"]["pytest"]["ini_options"]["addopts"]
    package = folder / "mpp_plugin_land_office"
    for name in ("__init__.py", "plugin.py", "client.py", "sandbox.py", "py.typed"):
        assert (package / name).is_file(), name
    plugin = (package / "plugin.py").read_text()
    assert OPERATIONS.get("identity.lookup").schema_hash in plugin and "AgencyKind.VERTICAL" in plugin
    assert "class Land_officeClient" not in (package / "client.py").read_text()  # a proper class name
    assert (folder / "tests" / "test_conformance.py").is_file() and (folder / "README.md").is_file()
    _assert_no_tokens(folder)


def _assert_no_tokens(folder: Path) -> None:
    for path in folder.rglob("*"):
        assert path.suffix != ".tmpl" and not any(t in str(path) for t in _TOKENS), path
        if path.is_file():
            assert not any(t in path.read_text() for t in _TOKENS), f"a template token is left in {path}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Land-Office"], "lower-case letter"),
        (["x"], "2-32 characters"),
        (["ok", "--name", 'say "hi"'], "double quotes"),
        (["ok", "--kind", "federal"], "Invalid value for '--kind'"),
        (["ok", "--name", "x" * 81], "at most 80 characters"),
        (["ok", "--operation", "bill"], "must be NAMESPACE.VERB"),
        (["ok", "--operation", "Water.bill"], "must be NAMESPACE.VERB"),
        (["ok", "--operation", "identity.lookup"], "'identity' is a namespace of the hub's core contract"),
        (["ok", "--operation", "water.health"], "choose another verb"),
        (["ok", "--operation", "water.class"], "choose another verb"),
    ],
)
def test_new_plugin_refuses_what_would_not_load(tmp_path: Path, args: list[str], message: str) -> None:
    done = run_cli("new-plugin", *args, cwd=tmp_path)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert not list(tmp_path.iterdir())


def test_new_plugin_never_overwrites_a_folder(tmp_path: Path) -> None:
    (tmp_path / "mpp-plugin-landoffice").mkdir()
    done = run_cli("new-plugin", "landoffice", cwd=tmp_path)
    assert done.returncode == 2 and "already exists" in done.stderr
    assert not list((tmp_path / "mpp-plugin-landoffice").iterdir())


def _load_contract(path: Path) -> Any:
    """The generated contract.py as a module, imported from its file (it needs nothing of its plugin)."""
    spec = importlib.util.spec_from_file_location("_generated_contract", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_new_plugin_with_an_operation_brings_its_contract_package(tmp_path: Path) -> None:
    """--operation water.bill: a package under the namespace water, marked, with a purpose, pinned at its hash."""
    done = run_cli("new-plugin", "pdam", "--name", "PDAM Tirta Bahari", "--operation", "water.bill", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "adding water.bill in its own contract package" in done.stdout and "--disable" not in done.stdout
    package = tmp_path / "mpp-plugin-pdam" / "mpp_plugin_pdam"
    contract = _load_contract(package / "contract.py").CONTRACT
    assert (contract.namespace, contract.version) == ("water", "0.1.0")
    [operation] = contract.operations
    assert (operation.name, operation.version, operation.personal_data) == ("water.bill", "0.1.0", True)
    [category] = contract.categories
    assert category.code == "water_customer" and category.identifies_subject
    identifier = personal_marker(operation.input.model_fields["customer_number"])
    assert identifier is not None and identifier.category == category
    answer = operation.output.model_fields
    name = personal_marker(answer["customer_name"])
    assert name is not None and name.category == PersonalData.NAME
    assert operation.output.model_validate({"customer_number": "1001234567", "customer_name": "A", "amount": "1.5"})
    assert Decimal in typing.get_args(answer["amount"].annotation) or answer["amount"].annotation is Decimal
    assert contract.purposes["layanan-water"].operations == ("water.bill",)
    plugin = (package / "plugin.py").read_text()
    # The pin is the hash of the models as generated: what the hub computes when it loads the package.
    assert f'schema_hash="{operation.schema_hash}"' in plugin and "def mpp_hub_contract()" in plugin
    assert "identity.lookup" not in plugin
    _assert_no_tokens(tmp_path / "mpp-plugin-pdam")


def test_contract_export_prints_the_hashes_a_plugin_pins(tmp_path: Path) -> None:
    """A table of operation, version and schema hash for people; the index with the same hashes for machines."""
    core = {op.name: (op.version, op.schema_hash) for op in OPERATIONS if OPERATIONS.package_of(op.name) is None}
    done = run_cli("contract", "export", "schema", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    heading, *rows = done.stdout.splitlines()[1:]
    assert heading.split() == ["operation", "version", "schema", "hash"]
    assert {name: (version, digest) for name, version, digest in map(str.split, rows)} == core
    machines = run_cli("contract", "export", "again", "--json", cwd=tmp_path)
    assert machines.returncode == 0, machines.stderr
    exported = json.loads(machines.stdout)
    assert {op["name"]: (op["version"], op["schema_hash"]) for op in exported["operations"]} == core
    assert exported["operations"] == json.loads((tmp_path / "again" / "operations.json").read_text())["operations"]


def _lint(folder: Path) -> list[str]:
    """What ruff check and ruff format --check say of ``folder``, as generated; empty when both are clean."""
    problems = []
    for args in (["check", "--no-cache", "."], ["format", "--no-cache", "--check", "."]):
        done = subprocess.run([sys.executable, "-m", "ruff", *args], cwd=folder, capture_output=True, text=True)
        if done.returncode != 0:
            problems.append(f"ruff {args[0]} in {folder.name}:\n{done.stdout}{done.stderr}")
    return problems


def test_the_scaffold_is_clean_as_generated(tmp_path: Path) -> None:
    """Both variants pass ruff check, ruff format --check and mypy --strict, at the longest code, name and operation."""
    longest = {"name": "P" * 80, "code": "a" * 32, "operation": f"{'b' * 23}.{'c' * 32}"}
    variants = {
        "plain": ["plain"],
        "operation": ["with_op", "--operation", "water.bill"],
        "plain_longest": [longest["code"], "--name", longest["name"]],
        "operation_longest": [longest["code"], "--name", longest["name"], "--operation", longest["operation"]],
    }
    folders = {}
    for variant, args in variants.items():
        parent = tmp_path / variant
        parent.mkdir()
        done = run_cli("new-plugin", *args, cwd=parent)
        assert done.returncode == 0, done.stderr
        [folders[variant]] = parent.iterdir()
    problems = [problem for folder in folders.values() for problem in _lint(folder)]
    venv = isolated_venv(tmp_path / "venv")
    show_hub_to_mypy(venv)
    # mypy reads each plugin's own [tool.mypy] (strict, the pydantic plugin); the two run side by side.
    mypy = [sys.executable, "-m", "mypy", "--python-executable", str(venv / "bin" / "python"), "."]
    checks = {
        variant: subprocess.Popen(
            mypy, cwd=folders[variant], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for variant in ("plain", "operation")
    }
    for variant, check in checks.items():
        output, _ = check.communicate(timeout=300)
        if check.returncode != 0:
            problems.append(f"mypy --strict in the {variant} plugin:\n{output}")
    assert not problems, "\n".join(problems)


def _pinned_hash(plugin: Path) -> str:
    found = re.search(r'schema_hash="([0-9a-f]{16})"', plugin.read_text())
    assert found, f"{plugin} pins no schema hash"
    return found[1]


# Two plugins, each scaffolded, installed, tested by its conformance suite and served by `up`: more than the
# suite's two minutes a test on a busy machine.
@pytest.mark.timeout(600)
def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    """Scaffold, install, its tests pass, `up` serves it, and it answers on the bus and the portal API; then a
    plugin with its own contract package, served beside the built-ins, and a breaking change to it."""
    venv = isolated_venv(tmp_path / "venv")
    workspace = tmp_path / "work"
    workspace.mkdir()
    port = free_port()
    log = tmp_path / "tutorial.log"
    with log.open("w") as out:
        shell = subprocess.Popen(
            ["bash", "-c", tutorial_script(port)], cwd=workspace, env=tutorial_env(venv, port, free_port()),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            returncode = shell.wait(timeout=540)
        finally:
            if shell.poll() is None:
                os.killpg(shell.pid, signal.SIGKILL)  # the shell and the hubs it started, nothing else
    output = log.read_text()
    assert returncode == 0, output[-6000:]
    # pip put the plugins in the throwaway venv, not in the interpreter running this test; the first is gone.
    site_packages = next((venv / "lib").glob("python*/site-packages"))
    assert list(site_packages.glob("mpp_plugin_dlh*.dist-info"))
    assert not list(site_packages.glob("mpp_plugin_landoffice*.dist-info"))
    assert len(re.findall(r"\b\d+ passed\b", output)) == 2 and " failed" not in output, output[-6000:]
    _check_the_example(output, workspace)
    _check_the_contract_package(output, workspace)


def _check_the_example(output: str, workspace: Path) -> None:
    """Sections 1-5 and the core contract's diff: the land office serving identity.lookup in Dukcapil's place."""
    assert "landoffice  BPN Kota Tegal (land office) [vertical]" in output  # mpp-hub services
    assert "landoffice nik: 3376010507900001 3376015203850002" in output  # mpp-hub sandbox sample
    answers = [json.loads(m) for m in re.findall(r"^\{\n.*?^\}|^\{\"nik\"[^\n]*\}$", output, re.S | re.M)]
    residents = [a for a in answers if a.get("nik") == "3376015203850002"]
    assert len(residents) == 2, output[-6000:]  # one through the bus, one through the portal API
    assert all(r["full_name"] == "DEWI LESTARI" and r["address"]["regency"]["code"] == "33.76" for r in residents)
    assert "breaks 1 operation(s): identity.lookup" in output and "output.occupation: removed" in output
    assert output.count("contract diff exited 1") == 2  # the package's change, and the core's
    assert "MPP Hub stopped." in (workspace / "mpp-plugin-landoffice" / "hub.log").read_text()


def _check_the_contract_package(output: str, workspace: Path) -> None:
    """Section 6: waste.bill from the DLH's own package, beside every built-in agency, and a breaking change."""
    folder = workspace / "mpp-plugin-dlh"
    pinned = _pinned_hash(folder / "mpp_plugin_dlh" / "plugin.py")
    # The export prints the hash the scaffold pinned, and the page shows the very same one.
    assert re.search(rf"^  waste\.bill +0\.1\.0 +{pinned}$", output, re.M), output[-6000:]
    assert re.search(rf"^  waste\.bill +0\.1\.0 +{pinned}$", TUTORIAL.read_text(), re.M)
    assert "dlh  DLH Kota Tegal (waste collection) [regional]" in output  # mpp-hub services
    assert re.search(rf"^  waste\.bill +v0\.1\.0  schema {pinned}", output, re.M)
    assert re.search(r"^dukcapil  .* \[vertical\]", output, re.M)  # only the second `services` lists Dukcapil
    answers = [json.loads(m) for m in re.findall(r"^\{\n.*?^\}|^\{\"customer_number\"[^\n]*\}$", output, re.S | re.M)]
    bills = [a for a in answers if a.get("customer_number") == "1001234567"]
    assert len(bills) == 2, output[-6000:]  # one through the bus, one through the portal API
    assert all(
        b == {"customer_number": "1001234567", "customer_name": "DEWI LESTARI", "amount": "125000.00"} for b in bills
    )
    assert re.search(r" waste\.bill +purpose=layanan-waste +channel=", output)  # audit who-read --kind
    assert "breaks 1 operation(s): waste.bill" in output and "output.amount: removed" in output
    assert "MPP Hub stopped." in (folder / "hub.log").read_text()
