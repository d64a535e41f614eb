"""The hooks an MPP Hub plugin implements.

Hooks are plain synchronous calls that *declare*: they return descriptions (the agency, its
operations and handlers, its settings model, its sandbox) and the async core executes them.
"""

from __future__ import annotations

from typing import Any

import pluggy

from contracts import ContractPackage
from hub._agency import Agency, Sandbox
from hub._process import Process

NAME = "mpp_hub"

_spec = pluggy.HookspecMarker(NAME)


# ---------------------------------------------------------------------------
# contract hooks
# ---------------------------------------------------------------------------


@_spec
def mpp_hub_contract() -> ContractPackage | None:
    """Return the contract package (operations under this plugin's own namespace) it adds, or None.

    Results are collected from all plugins and checked like the core contract before any agency is: a
    package cannot shadow a core operation or another package's namespace, and every personal field carries
    a marker of a known category.
    """


# ---------------------------------------------------------------------------
# agency hooks
# ---------------------------------------------------------------------------


@_spec
def mpp_hub_agency() -> Agency[Any, Any]:
    """Describe the agency this plugin connects: code, name, kind, settings model, how to connect
    (start-up; the returned connector's ``aclose`` is shutdown and ``health`` the health check),
    and the contract operations it serves with their handlers.

    Every plugin that implements it contributes one agency; results are collected from all plugins.
    """


@_spec
def mpp_hub_sandbox() -> Sandbox | None:
    """Return a simulator of the agency's real API for ``mpp-hub up`` in sandbox mode, or None.

    Results are collected from all plugins; the core starts each sandbox on a free loopback port
    and points the agency's plugin at it.
    """


# ---------------------------------------------------------------------------
# process hooks
# ---------------------------------------------------------------------------


@_spec
def mpp_hub_process() -> Process | None:
    """Return a cross-agency process (a saga over contract operations) this plugin defines, or None.

    Results are collected from all plugins; every hub worker runs every process, sharing the work.
    """
