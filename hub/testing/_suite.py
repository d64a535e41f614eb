"""The conformance suite: what every agency plugin must do, checked against its real sandbox.

A plugin's tests subclass :class:`Conformance`, name the plugin and give sample requests per operation;
the suite's tests are parametrized over the operations the plugin declares, so a new operation is
checked the day it is served.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ValidationError

from contracts import OPERATIONS, ContractError, ErrorCode, HealthStatus, HubError, PersonalData, personal_fields
from hub.testing._harness import Harness, Reply, load_target, only_agency, secret_fields, secret_values

__all__ = ["FAULTS", "Case", "Conformance"]


@dataclass(frozen=True)
class Case:
    """Sample requests for one operation, on the sandbox's synthetic data.

    ``request`` is one the agency answers. ``refusals`` maps a contract error to a request the agency refuses
    that way, e.g. ``{ErrorCode.NOT_FOUND: {"nik": "3328100101019999"}}``: the plugin must answer that code.
    """

    request: Mapping[str, Any]
    refusals: Mapping[ErrorCode, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Fault:
    config: Mapping[str, Any]
    what: str
    expected: ErrorCode


#: The agency failures the suite injects through the sandbox's fault endpoint, and what each must become.
FAULTS: dict[str, _Fault] = {
    "outage": _Fault({"outage": True}, "the agency cannot be reached", ErrorCode.AGENCY_UNAVAILABLE),
    "error": _Fault({"error_rate": 1}, "the agency answers HTTP 503", ErrorCode.AGENCY_UNAVAILABLE),
    "drop": _Fault({"drop_rate": 1}, "the agency hangs up without answering", ErrorCode.AGENCY_UNAVAILABLE),
    "truncate": _Fault({"truncate_rate": 1}, "the agency's answer is cut short", ErrorCode.AGENCY_UNAVAILABLE),
    "garbage": _Fault(
        {"garbage_rate": 1, "seed": 7}, "the agency answers 200 with a body that is not JSON", ErrorCode.AGENCY_ERROR
    ),
}

#: The caller's deadline in the timeout check, and how much later than it the answer may come on a busy machine.
_DEADLINE = 0.6
_SLACK = 1.5
# Every marked value is looked for in log lines, a package's own categories included, but a place of birth:
# a regency's name also stands in non-personal fields (a region, an office) and in the agencies' messages.
_NOT_LOOKED_FOR = {PersonalData.BIRTH_PLACE.value}
_SECRET_NAME = re.compile(r"password|passwd|secret|token|private|api_?key|(^|_)key$")
_FIX_BOUNDARY = (
    "translate the agency's answer at the plugin's one error boundary: raise "
    "HubError.of(ErrorCode.{code}, '<what happened, no personal data>', agency='{agency}')"
)


def _fail(message: str) -> None:
    pytest.fail(message, pytrace=False)


def _describe(error: ContractError) -> str:
    return f"{error.code.value} ({error.message!r})"


class Conformance:
    """Subclass it in the plugin's tests (the class name must start with ``Test``)::

        class TestConformance(Conformance):
            plugin = "landoffice"          # entry-point name, or "package.module[:object]"

            def cases(self, samples, hub):
                nik = samples["nik"][0]
                return {"identity.lookup": Case({"nik": nik}, {ErrorCode.NOT_FOUND: {"nik": "3376010101010009"}})}

    ``samples`` are the sandbox's sample identifiers (``mpp-hub sandbox sample``); ``hub`` is the running
    :class:`~hub.testing.Harness`, for a case that needs an earlier call (a bill code, say).
    """

    #: The plugin under test; empty means the ``mpp_plugin`` ini option (or ``--mpp-plugin``).
    plugin: ClassVar[str] = ""

    def cases(self, samples: Mapping[str, Sequence[str]], hub: Harness) -> Mapping[str, Case]:
        """Sample requests for every operation the plugin serves."""
        return {}

    # --- declarations --------------------------------------------------------------------------------------

    def test_plugin_declares_one_agency_and_its_sandbox(self, mpp_plugin: str) -> None:
        """The plugin loads, serves only contract operations at this contract's schema, and has a sandbox."""
        only_agency(load_target(mpp_plugin), mpp_plugin)

    def test_operation_is_in_the_contract(self, mpp_hub: Harness, operation: str) -> None:
        """Every operation served exists in the contract, pinned at the schema hash this hub speaks."""
        if operation not in OPERATIONS:
            known = ", ".join(o.name for o in OPERATIONS)
            _fail(f"{operation!r} is not a contract operation; the contract has: {known}")
        pinned, current = mpp_hub.agency.operations[operation].schema_hash, OPERATIONS.get(operation).schema_hash
        if pinned != current:
            _fail(f"{operation}: the plugin pins schema {pinned}, this contract has {current}")

    def test_operation_has_sample_requests(self, mpp_cases: Mapping[str, Case], operation: str) -> None:
        """The plugin's tests give a sample request for every operation, so every check below runs on it."""
        _case(mpp_cases, operation)

    # --- replies and refusals --------------------------------------------------------------------------------

    def test_reply_validates_against_the_contract(
        self, mpp_hub: Harness, mpp_cases: Mapping[str, Case], operation: str
    ) -> None:
        """The sample request is answered, and the answer validates against the operation's output model."""
        reply = mpp_hub.request(operation, _case(mpp_cases, operation).request)
        _check_reply(operation, reply)

    def test_agency_refusals_map_to_contract_errors(
        self, mpp_hub: Harness, mpp_cases: Mapping[str, Case], operation: str
    ) -> None:
        """Each request the agency refuses is answered with the contract error the plugin's tests name."""
        case = _case(mpp_cases, operation)
        if not case.refusals:
            pytest.skip(f"no refusal samples for {operation} (Case(refusals={{ErrorCode.NOT_FOUND: ...}}))")
        for code, request in case.refusals.items():
            reply = mpp_hub.request(operation, request)
            _expect(mpp_hub, operation, reply, code, f"the agency refuses the {code.value} sample request")

    @pytest.mark.parametrize("fault", list(FAULTS))
    def test_agency_failures_map_to_contract_errors(
        self, mpp_hub: Harness, mpp_cases: Mapping[str, Case], operation: str, fault: str
    ) -> None:
        """Unreachable, failing, hanging up, cut short or talking garbage: each becomes its contract error."""
        request = _case(mpp_cases, operation).request
        chosen = FAULTS[fault]
        mpp_hub.faults(**chosen.config)
        try:
            # Garbage comes in several shapes (a WAF page, cut JSON, binary, nothing): meet a few of them.
            for _ in range(3 if fault == "garbage" else 1):
                _expect(mpp_hub, operation, mpp_hub.request(operation, request), chosen.expected, chosen.what)
        finally:
            mpp_hub.clear_faults()

    def test_deadline_is_honoured(self, mpp_hub: Harness, mpp_cases: Mapping[str, Case], operation: str) -> None:
        """A caller that waits 0.6 s on a slow agency gets agency_timeout when its time is up, not later."""
        request = _case(mpp_cases, operation).request
        mpp_hub.faults(latency_ms=(_DEADLINE + 2.5) * 1000)
        try:
            reply = mpp_hub.request(operation, request, deadline=_DEADLINE)
        finally:
            mpp_hub.clear_faults()
        what = f"the agency answers only after {_DEADLINE + 2.5:g}s and the caller waits {_DEADLINE:g}s"
        _expect(mpp_hub, operation, reply, ErrorCode.AGENCY_TIMEOUT, what)
        if reply.seconds > _DEADLINE + _SLACK:
            _fail(
                f"{operation}: {what}, but the answer came after {reply.seconds:.1f}s: pass ctx.remaining() to "
                "every agency call (AgencyHttp.request(..., budget=ctx.remaining()))"
            )

    # --- health ------------------------------------------------------------------------------------------

    def test_health_is_up_while_the_sandbox_answers(self, mpp_hub: Harness) -> None:
        """With the sandbox answering, the agency's health (asked on the bus) is up."""
        health = mpp_hub.health()
        if health.status is not HealthStatus.UP:
            _fail(f"health of {mpp_hub.code} is {health.status.value} ({health.detail!r}) while its sandbox answers")

    def test_health_is_down_while_the_sandbox_is_unreachable(self, mpp_hub: Harness) -> None:
        """With the sandbox unreachable, a newly connected link reports down, with a reason and no secret."""
        mpp_hub.faults(outage=True)
        try:
            health = mpp_hub.fresh_health()
        finally:
            mpp_hub.clear_faults()
        if health.status is not HealthStatus.DOWN:
            _fail(
                f"health of {mpp_hub.code} is {health.status.value} ({health.detail!r}) while its sandbox cannot be "
                "reached: the health check must prove the link (call the agency), not assume it"
            )
        if not health.detail.strip():
            _fail(f"health of {mpp_hub.code} is down with no detail: say why (the HubError's message)")
        for secret in secret_values(mpp_hub.agency, mpp_hub.settings):
            if secret in health.detail:
                _fail(f"the health detail of {mpp_hub.code} contains a secret setting")

    # --- personal data and secrets -----------------------------------------------------------------------

    def test_no_personal_data_reaches_the_logs(self, mpp_hub: Harness, mpp_cases: Mapping[str, Case]) -> None:
        """Calls, refusals and failures of every operation: no NIK, name, card or plate in any log line."""
        mark = mpp_hub.logs.mark()
        looked_for: dict[str, str] = {}
        for operation in mpp_hub.operations:
            case = _case(mpp_cases, operation)
            for request in [case.request, *case.refusals.values()]:
                reply = mpp_hub.request(operation, request)
                looked_for.update(_personal_values(operation, request))
                if reply.error is None:
                    looked_for.update(_personal_values(operation, reply.json()))
            mpp_hub.faults(**FAULTS["garbage"].config)
            try:
                mpp_hub.request(operation, case.request)
            finally:
                mpp_hub.clear_faults()
        lines = mpp_hub.logs.lines_since(mark)
        if not lines:
            _fail("no log line was captured during the calls: the suite cannot vouch for the logs")
        for line in lines:
            for value, what in looked_for.items():
                if value in line:
                    _fail(
                        f"personal data ({what}) reached a log line: {line.replace(value, '<' + what + '>')!r}. "
                        "Log through structlog with the value under its contract field name (it is masked), or "
                        "not at all"
                    )

    def test_settings_never_print_secrets(self, mpp_hub: Harness) -> None:
        """Secret settings are SecretStr: never in repr, dumps, settings errors or log lines."""
        agency = mpp_hub.agency
        typed = set(secret_fields(agency))
        for name in agency.settings.model_fields:
            if _SECRET_NAME.search(name) and "public" not in name and name not in typed:
                _fail(f"settings field {name!r} of {agency.code} looks like a secret but is not typed SecretStr")
        values = mpp_hub.settings
        secrets = secret_values(agency, values)
        model = agency.settings.model_validate(values)
        shown = {
            "repr": repr(model), "str": str(model), "model_dump_json": model.model_dump_json(),
            "model_dump": str(model.model_dump()),
        }  # fmt: skip
        for how, text in shown.items():
            if any(secret in text for secret in secrets):
                _fail(f"{how}() of the {agency.code} settings shows a secret: type it SecretStr")
        for name in typed:
            marker = f"conformance-secret-{name}"
            try:
                agency.settings.model_validate({**values, name: marker, "conformance_unknown_setting": 1})
            except ValidationError as exc:
                message = HubError.from_validation(exc, f"settings of plugin {agency.code!r}").error.message
                if marker in message or any(secret in message for secret in secrets):
                    _fail(f"a settings error of {agency.code} echoes the secret {name!r}: {message!r}")
            else:
                _fail(f"the {agency.code} settings accept unknown fields: use AgencySettings (extra='forbid')")
        for line in mpp_hub.logs.lines():
            if any(secret in line for secret in secrets):
                _fail(f"a secret setting of {agency.code} reached a log line")


def _case(cases: Mapping[str, Case], operation: str) -> Case:
    case = cases.get(operation)
    if case is None:
        _fail(
            f"no sample requests for {operation}: return {{{operation!r}: Case(request={{...}}, "
            "refusals={ErrorCode.NOT_FOUND: {...}})} from cases() in the plugin's conformance test class"
        )
    assert case is not None
    return case


def _check_reply(operation: str, reply: Reply) -> BaseModel:
    if reply.error is not None:
        _fail(
            f"{operation}: the sample request was answered with {_describe(reply.error)}; give a request the "
            "sandbox answers (see `mpp-hub sandbox sample`)"
        )
    output = OPERATIONS.get(operation).output
    try:
        return output.model_validate_json(reply.data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(reply)'}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        )
        _fail(
            f"{operation}: the reply does not validate against {output.__name__}: {problems}. Build the reply "
            f"with {output.__name__}(...) or model_validate (never model_construct), from the agency's answer"
        )
        raise  # unreachable: _fail raises


def _expect(hub: Harness, operation: str, reply: Reply, code: ErrorCode, what: str) -> None:
    error = reply.error
    if error is None:
        _fail(f"{operation}: {what}, yet the plugin answered success; expected {code.value}")
    assert error is not None
    if error.code is not code:
        hint = (
            " (the plugin raised something other than HubError, which the hub can only call a fault)"
            if error.code is ErrorCode.INTERNAL
            else ""
        )
        fix = _FIX_BOUNDARY.format(code=code.name, agency=hub.code)
        _fail(f"{operation}: {what}, and the plugin answered {_describe(error)}{hint}; expected {code.value}: {fix}")
    if error.agency != hub.code:
        _fail(f"{operation}: the {code.value} error names agency {error.agency!r}, not {hub.code!r}: pass agency=")
    if error.retryable is not code.retryable:
        _fail(f"{operation}: {code.value} must have retryable={code.retryable} (the code's default)")


def _personal_values(operation: str, payload: Any) -> dict[str, str]:
    """Distinctive personal values in a request or reply, by what they are (the contract's markers say which)."""
    op = OPERATIONS.get(operation)
    personal = personal_fields([op.input, op.output])
    found: dict[str, str] = {}
    for key, value in _walk(payload):
        rule = personal.get(key)
        if rule is None or rule.category.value in _NOT_LOOKED_FOR or isinstance(value, bool):
            continue
        if isinstance(value, str | int) and len(str(value)) >= 5:
            found[str(value)] = f"{key} of {operation}"
    return found


def _walk(payload: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(payload, Mapping):
        for key, value in payload.items():
            yield str(key), value
            yield from _walk(value)
    elif isinstance(payload, list | tuple):
        for item in payload:
            yield from _walk(item)
