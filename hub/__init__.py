"""MPP Hub core.

A plugin is a module that implements the hooks in :mod:`hub.spec` with the :data:`hookimpl`
marker, and is announced in its distribution's ``pyproject.toml``::

    [project.entry-points.mpp_hub]
    myagency = "myagency_plugin.plugin"

    # myagency_plugin/plugin.py
    from hub import Agency, Served, hookimpl

    @hookimpl
    def mpp_hub_agency() -> Agency:
        return Agency(code="myagency", ..., operations={"identity.lookup": Served(MyClient.lookup, "<hash>")})

The built-in agencies (``plugins/dukcapil`` and friends) are registered exactly this way. An agency
reached over HTTP subclasses :class:`HttpConnector` and :class:`HttpAgencySettings`; a cross-agency
process returns a :class:`Process` whose steps answer with an :data:`Outcome`.

Everything a plugin, a process or a plugin's tests need is exported here (and from :mod:`contracts`
and :mod:`hub.testing`); the underscored modules behind it may change without notice.
"""

import pluggy

from hub._actions import OfficerAction
from hub._agency import (
    Agency,
    AgencySettings,
    CallbackReply,
    CallContext,
    Connector,
    Event,
    InboundRequest,
    Sandbox,
    SandboxContext,
    Served,
)
from hub._agency_http import AgencyHttp, HealthProbe, HttpAgencySettings, HttpConnector
from hub._client import HubClient
from hub._documents import Document
from hub._plugins import PluginError, PluginSet, load_plugins
from hub._process import Finish, Next, Outcome, Process, ProcessContext, Step, Wait
from hub._providers import ProviderSandbox
from hub._resilience import ResiliencePolicy
from hub._time import WIB, utcnow
from hub.spec import NAME

#: The hub's version: what a plugin's distribution requires (``mpp-hub>=0.1.0``) and ``mpp-hub --version`` prints.
__version__ = "0.1.0"

#: Marker for hook implementations: ``@hookimpl def mpp_hub_agency() -> Agency: ...``
hookimpl = pluggy.HookimplMarker(NAME)

__all__ = [
    "WIB",
    "Agency",
    "AgencyHttp",
    "AgencySettings",
    "CallContext",
    "CallbackReply",
    "Connector",
    "Document",
    "Event",
    "Finish",
    "HealthProbe",
    "HttpAgencySettings",
    "HttpConnector",
    "HubClient",
    "InboundRequest",
    "Next",
    "OfficerAction",
    "Outcome",
    "PluginError",
    "PluginSet",
    "Process",
    "ProcessContext",
    "ProviderSandbox",
    "ResiliencePolicy",
    "Sandbox",
    "SandboxContext",
    "Served",
    "Step",
    "Wait",
    "__version__",
    "hookimpl",
    "load_plugins",
    "utcnow",
]
