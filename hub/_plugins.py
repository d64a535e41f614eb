"""Plugin discovery: one strict path for built-in and third-party plugins alike.

Every plugin, the four reference agencies included, arrives through the ``mpp_hub``
entry-point group. A fresh manager is built per hub, disabled plugins are blocked before
import, and every declaration is checked against the contract before anything is served.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy
from nats.micro.service import SEMVER_REGEX

from contracts import OPERATIONS, ContractPackage, Operation, PackageError, register_package
from hub import spec
from hub._agency import Agency, Sandbox
from hub._process import Process

__all__ = [
    "PluginError",
    "PluginInfo",
    "PluginSet",
    "check_plugin_names",
    "installed_plugins",
    "load_plugins",
    "register_contracts",
]

_AGENCY_CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


class PluginError(Exception):
    """A plugin could not be loaded or breaks the contract; the message names the plugin and the fix."""


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...]


@dataclass
class PluginSet:
    """What the loaded plugins declared, checked against the contract."""

    packages: dict[str, ContractPackage] = field(default_factory=dict)  # by namespace
    agencies: dict[str, Agency[Any, Any]] = field(default_factory=dict)
    sandboxes: dict[str, Sandbox] = field(default_factory=dict)
    processes: dict[str, Process] = field(default_factory=dict)
    plugins: list[PluginInfo] = field(default_factory=list)

    @property
    def operations(self) -> list[Operation]:
        """The contract these plugins make up: the core's operations and their own packages' (in name order).

        What a hub built on them serves and documents, whatever other packages this process has registered.
        """
        return [op for op in OPERATIONS if OPERATIONS.package_of(op.name) in (None, *self.packages)]

    def agency_for(self, operation: str) -> Agency[Any, Any] | None:
        """The agency serving ``operation``; when several do (each a provider of it), the first by code."""
        return next((a for _, a in sorted(self.agencies.items()) if operation in a.operations), None)


def installed_plugins() -> list[str]:
    """The names of every installed plugin (its entry point in the ``mpp_hub`` group), sorted."""
    return sorted({ep.name for ep in importlib.metadata.entry_points(group=spec.NAME)})


def check_plugin_names(names: Iterable[str], *, extra: Iterable[str] = ()) -> None:
    """Refuse names no installed plugin (nor one of ``extra``) goes by: a typo would otherwise disable nothing."""
    known = [*installed_plugins(), *extra]
    unknown = [name for name in dict.fromkeys(names) if name not in known]
    if unknown:
        raise PluginError(
            f"no plugin is installed as {', '.join(map(repr, unknown))}; installed: {', '.join(sorted(known))}"
        )


def _manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(spec.NAME)
    pm.add_hookspecs(spec)
    if os.environ.get("MPP_HUB_TRACE_PLUGINS") == "1":
        pm.trace.root.setwriter(lambda text: sys.stderr.write(text))
        pm.enable_tracing()
    return pm


def _register_entry_points(
    pm: pluggy.PluginManager, disabled: Collection[str], only: Collection[str] | None
) -> dict[str, tuple[str | None, str | None]]:
    dists: dict[str, tuple[str | None, str | None]] = {}
    for ep in importlib.metadata.entry_points(group=spec.NAME):
        if ep.name in disabled or (only is not None and ep.name not in only) or pm.is_blocked(ep.name):
            pm.set_blocked(ep.name)
            continue
        if pm.has_plugin(ep.name):
            continue  # the same distribution seen twice on sys.path
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(f"plugin {ep.name!r} ({ep.value}) failed to import: {exc!r}") from exc
        pm.register(plugin, name=ep.name)
        dist = ep.dist
        dists[ep.name] = (dist.name if dist else None, dist.version if dist else None)
    return dists


def _register_packages(pm: pluggy.PluginManager, found: PluginSet) -> None:
    """Add every plugin's contract package to the contract, before any agency is checked against it."""
    for impl in pm.hook.mpp_hub_contract.get_hookimpls():
        package = impl.function()
        if package is None:
            continue
        if not isinstance(package, ContractPackage):
            raise PluginError(
                f"plugin {impl.plugin_name!r}: mpp_hub_contract must return contracts.ContractPackage, not {package!r}"
            )
        try:
            register_package(package)
        except PackageError as exc:
            raise PluginError(f"plugin {impl.plugin_name!r}: {exc}") from None
        found.packages[package.namespace] = package


def _check_agency(plugin: str, agency: Agency[Any, Any]) -> None:
    if not _AGENCY_CODE.match(agency.code):
        raise PluginError(
            f"plugin {plugin!r}: agency code {agency.code!r} must be 2-32 lower-case letters, digits or '_'"
        )
    if not SEMVER_REGEX.match(agency.version):
        # The bus's service API (NATS micro) announces it, and takes nothing but MAJOR.MINOR.PATCH.
        raise PluginError(f"plugin {plugin!r}: version {agency.version!r} must be MAJOR.MINOR.PATCH, e.g. '0.1.0'")
    for name, served in agency.operations.items():
        if name not in OPERATIONS:
            known = ", ".join(op.name for op in OPERATIONS)
            raise PluginError(f"plugin {plugin!r} serves {name!r}, which is not in the contract (known: {known})")
        expected = OPERATIONS.get(name).schema_hash
        if served.schema_hash != expected:
            raise PluginError(
                f"plugin {plugin!r} was built against {name} schema {served.schema_hash}, but this hub's "
                f"contract has {expected}: update the plugin (or the hub) so both speak the same contract"
            )


def register_contracts(*, disabled: Collection[str] = (), only: Collection[str] | None = None) -> list[str]:
    """Add the contract packages of the installed plugins to this process's contract, and nothing else.

    For the commands that name operations (``call``, ``consumer add``, ``contract export``) without serving any.
    Returns the namespaces added.
    """
    pm = _manager()
    _register_entry_points(pm, set(disabled), None if only is None else set(only))
    found = PluginSet()
    _register_packages(pm, found)
    return sorted(found.packages)


def load_plugins(
    *,
    disabled: Collection[str] = (),
    only: Collection[str] | None = None,
    extra: Iterable[tuple[str, object]] = (),
) -> PluginSet:
    """Discover, register and check plugins.

    :param disabled: plugin (entry-point) names never to import.
    :param only: if given, the only entry-point names to import (tests use this to pick plugins).
    :param extra: ``(name, plugin)`` pairs registered directly, after the entry points.
    """
    extra = list(extra)
    check_plugin_names(disabled, extra=[name for name, _ in extra])
    pm = _manager()
    dists = _register_entry_points(pm, set(disabled), None if only is None else set(only))
    for name, plugin in extra:
        if name not in disabled:
            pm.register(plugin, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from exc

    found = PluginSet()
    _register_packages(pm, found)
    for impl in pm.hook.mpp_hub_agency.get_hookimpls():
        agency = impl.function()
        if not isinstance(agency, Agency):
            raise PluginError(f"plugin {impl.plugin_name!r}: mpp_hub_agency must return hub.Agency, not {agency!r}")
        _check_agency(impl.plugin_name, agency)
        if agency.code in found.agencies:
            raise PluginError(f"two plugins declare agency {agency.code!r}; disable one of them")
        # Several agencies may serve one operation: each is a provider of it (hub._providers picks between them).
        found.agencies[agency.code] = agency
    for sandbox in pm.hook.mpp_hub_sandbox():
        found.sandboxes[sandbox.agency] = sandbox
    for process in pm.hook.mpp_hub_process():
        if process.service in found.processes:
            raise PluginError(f"two plugins define the process {process.service!r}; disable one of them")
        found.processes[process.service] = process
    for name, plugin in pm.list_name_plugin():
        dist, version = dists.get(name, (None, None))
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        found.plugins.append(PluginInfo(name=name, distribution=dist, version=version, hooks=hooks))
    return found
