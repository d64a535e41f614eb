"""The plugin developer kit's test side: a pytest plugin with fixtures and the conformance suite.

Enable it with ``-p hub.testing`` (``mpp-hub new-plugin`` puts it in the new plugin's ``addopts``), then::

    from contracts import ErrorCode
    from hub.testing import Case, Conformance

    class TestConformance(Conformance):
        plugin = "landoffice"

        def cases(self, samples, hub):
            return {"identity.lookup": Case({"nik": samples["nik"][0]}, {ErrorCode.NOT_FOUND: {"nik": "..."}})}

Every check runs against a real nats-server and the plugin's real sandbox. The fixtures (``mpp_nats_url``,
``mpp_hub``, ``mpp_sandbox_url``, ``mpp_api_key``, ``mpp_samples``) serve the plugin author's own tests too.
"""

from __future__ import annotations

import functools

import pytest

from hub import PluginError
from hub._audit import AuditRecord
from hub.testing._fixtures import (
    mpp_api_key,
    mpp_cases,
    mpp_hub,
    mpp_nats_url,
    mpp_plugin,
    mpp_samples,
    mpp_sandbox_url,
    plugin_reference,
)
from hub.testing._harness import Harness, Reply, load_target, only_agency, serving
from hub.testing._suite import FAULTS, Case, Conformance

__all__ = [
    "FAULTS",
    "AuditRecord",
    "Case",
    "Conformance",
    "Harness",
    "Reply",
    "mpp_api_key",
    "mpp_cases",
    "mpp_hub",
    "mpp_nats_url",
    "mpp_plugin",
    "mpp_samples",
    "mpp_sandbox_url",
    "pytest_addoption",
    "pytest_generate_tests",
    "serving",
]

#: Stands in for the operations of a plugin that does not load, so its tests report why instead of vanishing.
_NOT_LOADED = "plugin-not-loaded"


def pytest_addoption(parser: pytest.Parser) -> None:
    help_text = "the MPP Hub plugin under test: its entry-point name, or package.module[:object]"
    parser.addini("mpp_plugin", help_text, default="")
    parser.getgroup("mpp-hub").addoption("--mpp-plugin", dest="mpp_plugin", default=None, help=help_text)


@functools.cache
def _operations(reference: str) -> tuple[str, ...]:
    try:
        agency, _ = only_agency(load_target(reference), reference)
    except PluginError:
        return (_NOT_LOADED,)  # the fixtures raise the PluginError, with its message, in every test
    return tuple(sorted(agency.operations))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize the suite's ``operation`` over what the plugin under test serves."""
    cls = metafunc.cls
    if "operation" in metafunc.fixturenames and cls is not None and issubclass(cls, Conformance):
        metafunc.parametrize("operation", _operations(plugin_reference(metafunc.config, cls)))
