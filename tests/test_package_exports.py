"""Each agency distribution in agencies/ keeps its contract package's export pinned (``schema/``), as the core keeps
``contracts/schema/v1``: a change to its models shows up here as a changed file, and `mpp-hub contract diff` against
the pin says whether it breaks a portal. Run through the CLI, as a package's author would, so the packages never
enter this process's contract."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests._processes import run_cli

REPO = Path(__file__).resolve().parent.parent
#: Each distribution with a contract package, and the package's namespace.
PACKAGES = {
    "mpp-plugin-oss": "business", "mpp-plugin-bsre": "document", "mpp-plugin-pdam": "water",
    "mpp-plugin-lapor": "complaint",
}  # fmt: skip


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=REPO, timeout=120)


def _files(directory: Path) -> dict[str, str]:
    return {str(path.relative_to(directory)): path.read_text() for path in sorted(directory.rglob("*.json"))}


@pytest.mark.parametrize(("distribution", "namespace"), PACKAGES.items())
def test_the_pinned_export_is_the_package_as_it_is(distribution: str, namespace: str, tmp_path: Path) -> None:
    pinned = REPO / "agencies" / distribution / "schema"
    exported = _cli("contract", "export", str(tmp_path), "--package", namespace, "--json")
    assert exported.returncode == 0, exported.stderr
    index = json.loads(exported.stdout)
    assert index["package"] == namespace and all(op["name"].startswith(f"{namespace}.") for op in index["operations"])
    fix = f"re-export it: mpp-hub contract export agencies/{distribution}/schema --package {namespace}"
    assert _files(tmp_path) == _files(pinned), f"agencies/{distribution}/schema is not the package as it is: {fix}"
    diff = _cli("contract", "diff", str(pinned), str(tmp_path), "--json")
    assert diff.returncode == 0 and json.loads(diff.stdout)["breaking"] is False, diff.stdout


def test_a_package_not_installed_is_named_with_those_that_are(tmp_path: Path) -> None:
    refused = _cli("contract", "export", str(tmp_path), "--package", "no_such_package")
    assert refused.returncode == 2 and "no contract package 'no_such_package' is registered" in refused.stderr
    assert all(namespace in refused.stderr for namespace in PACKAGES.values())
