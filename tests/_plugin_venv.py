"""Plugins beside the hub's own: which plugins are the built-in ones, and a throwaway virtualenv to pip-install
a scaffolded plugin into (never the shared one), offline.

The venv sees this interpreter's packages (the hub and its dependencies) behind its own, and its ``pip``,
``pytest`` and ``mpp-hub`` commands run with its interpreter, so they see what is installed there.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests._processes import hub_env

REPO = Path(__file__).resolve().parent.parent

#: The plugins the hub ships, the entry points of the ``mpp-hub`` distribution itself (its agencies and the
#: vehicle tax renewal): a test that expects exactly these selects them, so a plugin installed beside the hub
#: (a water utility's, say) changes nothing it checks.
BUILT_IN_PLUGINS = tuple(
    sorted(
        ep.name
        for ep in importlib.metadata.entry_points(group="mpp_hub")
        if ep.dist is not None and ep.dist.name.lower().replace("_", "-") == "mpp-hub"
    )
)


def only_built_in_plugins() -> dict[str, str]:
    """The environment setting that makes an ``mpp-hub`` command load the built-in plugins and no other."""
    return {"MPP_HUB_LOAD_PLUGINS": json.dumps(BUILT_IN_PLUGINS)}


# pip installs offline, with this interpreter's setuptools and wheel: `--no-deps --no-build-isolation --no-index`.
_SHIMS = {
    "pip": (
        'if [ "$1" = install ]; then shift; set -- install --no-deps --no-build-isolation --no-index "$@"; fi\n'
        'exec "{python}" -m pip "$@"\n'
    ),
    "pytest": 'exec "{python}" -m pytest "$@"\n',
    "mpp-hub": 'exec "{python}" -m hub "$@"\n',
}


def _purelib(python: Path) -> Path:
    found = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    return Path(found)


def isolated_venv(root: Path) -> Path:
    """A virtualenv whose own packages come first, then this interpreter's (the hub and its dependencies)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=60)
    python = root / "bin" / "python"
    parents = [*site.getsitepackages(), sysconfig.get_path("purelib")]
    # An `import` line in a .pth runs at start-up: addsitedir also runs the parents' own .pth files
    # (the hub's editable install among them).
    lines = [f"import site; site.addsitedir({p!r})" for p in dict.fromkeys(parents)]
    (_purelib(python) / "_mpp_hub_parent.pth").write_text("\n".join(lines) + "\n")
    for name, body in _SHIMS.items():
        shim = root / "bin" / name
        shim.write_text("#!/bin/sh\n" + body.format(python=python))
        shim.chmod(0o755)
    return root


def show_hub_to_mypy(venv: Path) -> None:
    """Put the hub's source folder on the venv's path, as a wheel (or ``editable_mode=compat``) would.

    setuptools' editable install finds the hub through an import hook, which mypy cannot follow: without
    this a plugin's ``mypy --strict`` would see no ``hub`` nor ``contracts`` at all.
    """
    (_purelib(venv / "bin" / "python") / "_mpp_hub_source.pth").write_text(f"{REPO}\n")


def venv_env(venv: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the venv's commands: its own first, then this interpreter's (for nats-server).

    This test run's PYTHONPATH and pytest settings are left out; ``extra`` may set its own.
    """
    path = os.pathsep.join([str(venv / "bin"), str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = hub_env({"PATH": path, "VIRTUAL_ENV": str(venv)})
    for name in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST"):
        env.pop(name, None)
    return env | (extra or {})
