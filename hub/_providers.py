"""Providers: several configured instances of a plugin, or several agencies, serving one contract operation.

A mall may have several banks that all speak SNAP BI: one plugin, configured once per bank. An agency's own table,
``[plugins.<code>]``, is its provider named by its code (what every hub had before providers); each table under
``[plugins.<code>.providers.<name>]`` is one more, with settings of its own (a second bank's keys never come from
the first bank's table). An agency whose table holds nothing but ``providers`` serves only those.

A request names its provider in the operation's ``provider`` field; one that names none goes to the operation's
default: ``default_provider`` in an agency's table (a name, for all it serves, or a table of operation = name),
otherwise the alphabetically first provider serving the operation. Every provider is served on
``mpp.v1.<operation>.<provider>``; the default one also on ``mpp.v1.<operation>``, so a caller needs no
configuration to reach it, and picking the subject costs a string join, not a look-up on the bus.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from contracts._catalogue import PROVIDER_RULE
from hub._agency import Agency, Sandbox
from hub._plugins import PluginError, PluginSet

__all__ = [
    "DEFAULTS_KEY",
    "PROVIDERS_KEY",
    "PROVIDER_FIELD",
    "Provider",
    "ProviderSandbox",
    "Providers",
    "sandbox_settings",
]

#: ``[plugins.<code>.providers.<name>]``: one more configured instance of the agency's plugin.
PROVIDERS_KEY = "providers"
#: ``[plugins.<code>] default_provider``: where a request that names no provider goes.
DEFAULTS_KEY = "default_provider"
#: The settings field the hub fills with the provider's name (a request names one in its field of that name, which
#: hub._client reads).
PROVIDER_FIELD = "provider"
_RESERVED = (PROVIDERS_KEY, DEFAULTS_KEY)
_NAME = re.compile(PROVIDER_RULE)


@dataclass(frozen=True, slots=True)
class Provider:
    """One configured instance of an agency's plugin: its name, its settings as given, what it serves by default."""

    name: str
    agency: Agency[Any, Any]
    values: Mapping[str, Any]
    defaults: frozenset[str]  # the operations it also serves on their bare subject

    @property
    def where(self) -> str:
        """Where its settings live, in mpp-hub.toml and the environment, for messages."""
        code = self.agency.code
        if self.name == code:
            return f"[plugins.{code}] in mpp-hub.toml or as MPP_HUB_PLUGINS__{code.upper()}__<FIELD>"
        table, env = f"{code}.{PROVIDERS_KEY}.{self.name}", f"{code}__{PROVIDERS_KEY}__{self.name}".upper()
        return f"[plugins.{table}] in mpp-hub.toml or as MPP_HUB_PLUGINS__{env}__<FIELD>"


@dataclass(frozen=True)
class ProviderSandbox(Sandbox):
    """A sandbox of one more provider of agency ``of``'s plugin; ``agency`` is the provider's name.

    ``mpp-hub up`` starts it on a port of its own, like any sandbox, and puts its ``settings`` under
    ``[plugins.<of>.providers.<agency>]``.
    """

    of: str = ""


def sandbox_settings(sandbox: Sandbox, values: Mapping[str, Any], into: dict[str, dict[str, Any]]) -> None:
    """Merge a sandbox's settings into the plugin settings: its agency's own table, or its provider's."""
    if isinstance(sandbox, ProviderSandbox):
        table = into.setdefault(sandbox.of, {})
        providers = dict(table.get(PROVIDERS_KEY) or {})
        providers[sandbox.agency] = {**(providers.get(sandbox.agency) or {}), **values}
        table[PROVIDERS_KEY] = providers
    else:
        into.setdefault(sandbox.agency, {}).update(values)


class Providers:
    """Every provider this hub serves, by name, and which one serves each operation by default."""

    def __init__(self, providers: Mapping[str, Provider]) -> None:
        self._by_name = dict(providers)
        self._serving = _serving({name: p.agency for name, p in self._by_name.items()})

    @classmethod
    def configured(cls, plugins: PluginSet, settings: Mapping[str, Mapping[str, Any]]) -> Providers:
        """The providers the ``[plugins]`` tables configure; a :class:`PluginError` says what is wrong."""
        found: dict[str, tuple[Agency[Any, Any], Mapping[str, Any]]] = {}
        wanted: dict[str, str] = {}  # operation -> the default provider a table names
        for code, agency in sorted(plugins.agencies.items()):
            table = settings.get(code, {})
            for name, values in _instances(agency, table):
                if name in found or (name != code and name in plugins.agencies):
                    raise PluginError(f"provider {name!r} of {code!r} is also another agency or provider: rename it")
                found[name] = (agency, values)
            for operation, name in _wanted_defaults(agency, table.get(DEFAULTS_KEY)).items():
                if wanted.setdefault(operation, name) != name:
                    raise PluginError(f"two agencies set default_provider for {operation}: keep one")
        serving = _serving({name: agency for name, (agency, _) in found.items()})
        defaults = {operation: names[0] for operation, names in serving.items()}
        for operation, name in wanted.items():
            if name not in serving.get(operation, []):
                known = ", ".join(serving.get(operation, []))
                raise PluginError(f"default_provider {name!r} does not serve {operation}; providers: {known}")
            defaults[operation] = name
        return cls({
            name: Provider(name, agency, values, frozenset(op for op, chosen in defaults.items() if chosen == name))
            for name, (agency, values) in found.items()
        })  # fmt: skip

    def __iter__(self) -> Iterator[Provider]:
        return iter(self._by_name.values())

    def get(self, name: str) -> Provider | None:
        return self._by_name.get(name)

    def serving(self, operation: str) -> list[str]:
        """The providers serving ``operation``, by name."""
        return list(self._serving.get(operation, ()))

    def default_for(self, operation: str) -> str | None:
        return next((p.name for p in self if operation in p.defaults), None)


def _serving(agencies: Mapping[str, Agency[Any, Any]]) -> dict[str, list[str]]:
    """Operation -> the providers serving it, in name order (the first is the default unless one is named)."""
    serving: dict[str, list[str]] = {}
    for name in sorted(agencies):
        for operation in agencies[name].operations:
            serving.setdefault(operation, []).append(name)
    return serving


def _instances(agency: Agency[Any, Any], table: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each provider an agency's table configures, with its settings (the provider's name filled in, if asked)."""
    own = {key: value for key, value in table.items() if key not in _RESERVED}
    extra = table.get(PROVIDERS_KEY) or {}
    if not isinstance(extra, Mapping) or not all(isinstance(v, Mapping) for v in extra.values()):
        raise PluginError(f"[plugins.{agency.code}.{PROVIDERS_KEY}] must hold one table per provider")
    if own or not extra:
        yield agency.code, _named(agency, agency.code, own)
    for name, values in extra.items():
        if not _NAME.match(name):
            raise PluginError(
                f"provider name {name!r} of {agency.code!r} must be 2-32 lower-case letters, digits or '_'"
            )
        yield name, _named(agency, name, values)


def _named(agency: Agency[Any, Any], name: str, values: Mapping[str, Any]) -> Mapping[str, Any]:
    """A provider's settings as its plugin's model takes them: text settings as text, its name filled in."""
    fields = agency.settings.model_fields
    # The environment reaches a provider's table a level deeper than pydantic-settings keeps text as text: there
    # MPP_HUB_PLUGINS__BANK__PROVIDERS__X__CHANNEL_ID=95221 arrives as the number 95221. A text setting takes its
    # digits, as it would from one level up.
    typed = {
        key: str(value) if key in fields and fields[key].annotation is str and _is_number(value) else value
        for key, value in values.items()
    }
    # A plugin that says which provider it is (in its bills, its events) declares a `provider` setting; the hub
    # fills it, so the name is given once, as the table's.
    return {**typed, PROVIDER_FIELD: name} if PROVIDER_FIELD in fields else typed


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _wanted_defaults(agency: Agency[Any, Any], value: object) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        return dict.fromkeys(agency.operations, value)
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        unknown = [op for op in value if op not in agency.operations]
        if unknown:
            raise PluginError(f"[plugins.{agency.code}] default_provider names {unknown}, which it does not serve")
        return {str(op): str(name) for op, name in value.items()}
    raise PluginError(f"[plugins.{agency.code}] default_provider must be a provider's name or operation = name")
