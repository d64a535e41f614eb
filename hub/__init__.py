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

The built-in agencies (``plugins/dukcapil`` and friends) are registered exactly this way.
"""

import pluggy

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
from hub._agency_http import AgencyHttp, HealthProbe
from hub._client import HubClient
from hub._plugins import PluginError, PluginSet, load_plugins
from hub._process import Finish, Next, Process, ProcessContext, Wait
from hub.spec import NAME

__version__ = "0.1.0"

#: Marker for hook implementations: ``@hookimpl def mpp_hub_agency() -> Agency: ...``
hookimpl = pluggy.HookimplMarker(NAME)

__all__ = [
    "Agency",
    "AgencyHttp",
    "AgencySettings",
    "CallContext",
    "CallbackReply",
    "Connector",
    "Event",
    "Finish",
    "HealthProbe",
    "HubClient",
    "InboundRequest",
    "Next",
    "PluginError",
    "PluginSet",
    "Process",
    "ProcessContext",
    "Sandbox",
    "SandboxContext",
    "Served",
    "Wait",
    "__version__",
    "hookimpl",
    "load_plugins",
]
