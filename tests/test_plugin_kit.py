"""The plugin developer kit: `mpp-hub new-plugin`, and docs/writing-a-plugin.md run command by command.

The scaffolded plugin is installed into a throwaway virtualenv of its own that sees this interpreter's
packages (never into the shared one), offline: `--no-deps --no-build-isolation --no-index`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import site
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from contracts import OPERATIONS, AgencyKind
from hub._scaffold import Scaffold
from tests._processes import free_port, hub_env, run_cli

REPO = Path(__file__).resolve().parent.parent
TUTORIAL = REPO / "docs" / "writing-a-plugin.md"
_BASH_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)

# Commands the tutorial types, bound to the throwaway virtualenv: pip installs there, offline, and
# pytest and mpp-hub run with its interpreter, so they see the plugin installed there.
_SHIMS = {
    "pip": (
        'if [ "$1" = install ]; then shift; set -- install --no-deps --no-build-isolation --no-index "$@"; fi\n'
        'exec "{python}" -m pip "$@"\n'
    ),
    "pytest": 'exec "{python}" -m pytest "$@"\n',
    "mpp-hub": 'exec "{python}" -m hub "$@"\n',
}


def isolated_venv(root: Path) -> Path:
    """A virtualenv whose own packages come first, then this interpreter's (the hub and its dependencies)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60)
    python = root / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    parents = [*site.getsitepackages(), sysconfig.get_path("purelib")]
    # An `import` line in a .pth runs at start-up: addsitedir also runs the parents' own .pth files
    # (the hub's editable install among them).
    lines = [f"import site; site.addsitedir({p!r})" for p in dict.fromkeys(parents)]
    (Path(purelib) / "_mpp_hub_parent.pth").write_text("\n".join(lines) + "\n")
    for name, body in _SHIMS.items():
        shim = root / "bin" / name
        shim.write_text("#!/bin/sh\n" + body.format(python=python))
        shim.chmod(0o755)
    return root


def tutorial_env(venv: Path, port: int, nats_port: int) -> dict[str, str]:
    # The throwaway venv's commands first; then this interpreter's scripts, for the nats-server binary.
    path = os.pathsep.join([str(venv / "bin"), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = hub_env({"PATH": path, "MPP_HUB_PORT": str(port), "MPP_HUB_NATS_PORT": str(nats_port)})
    env["VIRTUAL_ENV"] = str(venv)
    for name in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    return env


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
    tokens = Scaffold("x", "x", AgencyKind.REGIONAL).replacements()
    for path in folder.rglob("*"):
        assert path.suffix != ".tmpl" and not any(t in str(path) for t in tokens), path
        if path.is_file():
            assert not any(t in path.read_text() for t in tokens), f"a template token is left in {path}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Land-Office"], "lower-case letter"),
        (["x"], "2-32 characters"),
        (["ok", "--name", 'say "hi"'], "double quotes"),
        (["ok", "--kind", "federal"], "Invalid value for '--kind'"),
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


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    """Scaffold, install, its tests pass, `up` serves it, and it answers on the bus and the portal API."""
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
            returncode = shell.wait(timeout=300)
        finally:
            if shell.poll() is None:
                os.killpg(shell.pid, signal.SIGKILL)  # the shell and the hub it started, nothing else
    output = log.read_text()
    assert returncode == 0, output[-6000:]
    # pip put the plugin in the throwaway venv, not in the interpreter running this test.
    assert list((venv / "lib").glob("python*/site-packages/mpp_plugin_landoffice*.dist-info"))
    assert re.search(r"\b\d+ passed\b", output) and " failed" not in output, output[-6000:]
    assert "landoffice  BPN Kota Tegal (land office) [vertical]" in output  # mpp-hub services
    assert "landoffice nik: 3376010507900001 3376015203850002" in output  # mpp-hub sandbox sample
    answers = [json.loads(m) for m in re.findall(r"^\{\n.*?^\}|^\{\"nik\".*\}$", output, re.S | re.M)]
    residents = [a for a in answers if a.get("nik") == "3376015203850002"]
    assert len(residents) == 2, output[-6000:]  # one through the bus, one through the portal API
    assert all(r["full_name"] == "DEWI LESTARI" and r["address"]["regency"]["code"] == "33.76" for r in residents)
    assert "breaks 1 operation(s): identity.lookup" in output and "output.occupation: removed" in output
    assert "contract diff exited 1" in output
    assert "MPP Hub stopped." in (workspace / "mpp-plugin-landoffice" / "hub.log").read_text()
