"""The conformance suite (``-p hub.testing``): the built-in plugins pass it, broken plugins fail it clearly.

Each run is a child pytest, exactly as a plugin author runs the suite, with a JUnit report to read outcomes from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Outcome:
    returncode: int
    output: str
    failures: dict[str, str]  # test id -> failure message
    passed: set[str]
    skipped: set[str]


def run_suite(*args: str, cwd: Path, report: Path, timeout: float = 240) -> Outcome:
    """Run pytest with the hub's plugin in a child process; the outcome of each test from its JUnit report."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MPP_HUB_", "PYTEST_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "pytest", "-p", "hub.testing", "-p", "no:cacheprovider", "-q"]
    done = subprocess.run(
        [*command, f"--junitxml={report}", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    failures, passed, skipped = {}, set(), set()
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            failures[test_id] = problem.get("message", "")
        elif case.find("skipped") is not None:
            skipped.add(test_id)
        else:
            passed.add(test_id)
    return Outcome(done.returncode, done.stdout + done.stderr, failures, passed, skipped)


def test_the_four_builtin_plugins_pass_the_suite(tmp_path: Path) -> None:
    """Dukcapil, BPJS, Samsat and the bank pass every check, each on its own hub and sandbox."""
    outcome = run_suite("tests/conformance_builtins.py", cwd=REPO, report=tmp_path / "report.xml")
    assert outcome.returncode == 0 and not outcome.failures, outcome.output[-4000:]
    for agency in ("TestDukcapil", "TestBpjs", "TestSamsat", "TestBank"):
        assert any(t.startswith(f"{agency}::test_reply_validates_against_the_contract[") for t in outcome.passed)
        assert f"{agency}::test_no_personal_data_reaches_the_logs" in outcome.passed
        assert f"{agency}::test_health_is_down_while_the_sandbox_is_unreachable" in outcome.passed


_BROKEN = """
from contracts import ErrorCode
from hub.testing import Case, Conformance

CASES = {
    "identity.lookup": Case({"nik": "3328080709870001"}, {ErrorCode.NOT_FOUND: {"nik": "3328100101019999"}}),
}


class TestUnvalidatedReply(Conformance):
    plugin = "tests.plugins.broken_dukcapil:unvalidated_reply"

    def cases(self, samples, hub):
        return CASES


class TestUnmappedRefusal(Conformance):
    plugin = "tests.plugins.broken_dukcapil:unmapped_refusal"

    def cases(self, samples, hub):
        return CASES


class TestLeakyLog(Conformance):
    plugin = "tests.plugins.broken_dukcapil:leaky_log"

    def cases(self, samples, hub):
        return CASES


class TestNoCases(Conformance):
    plugin = "tests.plugins.broken_dukcapil:leaky_log"
"""


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """The suite run once over three deliberately broken plugins, and one plugin with no sample requests."""
    folder = tmp_path_factory.mktemp("broken")
    (folder / "test_broken.py").write_text(_BROKEN)
    # Only the checks the mistakes concern, and the ones that must still pass around them.
    selection = "reply_validates or refusals or personal_data or sample_requests or declares"
    return run_suite("-k", selection, cwd=folder, report=folder / "report.xml")


def test_a_reply_that_does_not_validate_fails_with_the_field(broken: Outcome) -> None:
    message = broken.failures["TestUnvalidatedReply::test_reply_validates_against_the_contract[identity.lookup]"]
    assert "does not validate against Resident" in message and "nik:" in message, message
    assert "model_construct" in message
    assert "TestUnvalidatedReply::test_agency_refusals_map_to_contract_errors[identity.lookup]" in broken.passed


def test_an_unmapped_agency_refusal_fails_naming_the_expected_code(broken: Outcome) -> None:
    message = broken.failures["TestUnmappedRefusal::test_agency_refusals_map_to_contract_errors[identity.lookup]"]
    assert "answered internal" in message and "expected not_found" in message, message
    assert "HubError.of(ErrorCode.NOT_FOUND" in message
    assert "TestUnmappedRefusal::test_reply_validates_against_the_contract[identity.lookup]" in broken.passed


def test_a_nik_in_a_log_line_fails_without_printing_the_nik(broken: Outcome) -> None:
    message = broken.failures["TestLeakyLog::test_no_personal_data_reaches_the_logs"]
    assert "personal data (nik of identity.lookup) reached a log line" in message, message
    assert "<nik of identity.lookup>" in message and "3328080709870001" not in message
    assert "TestUnmappedRefusal::test_no_personal_data_reaches_the_logs" in broken.passed


def test_missing_sample_requests_fail_saying_what_to_give(broken: Outcome) -> None:
    message = broken.failures["TestNoCases::test_operation_has_sample_requests[identity.lookup]"]
    assert "no sample requests for identity.lookup" in message and "cases()" in message, message


def test_a_plugin_that_cannot_load_fails_every_check_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "test_missing.py").write_text(
        "from hub.testing import Conformance\n\n\nclass TestMissing(Conformance):\n    plugin = 'no_such_plugin'\n"
    )
    outcome = run_suite("-k", "declares or in_the_contract", cwd=tmp_path, report=tmp_path / "report.xml")
    assert outcome.returncode == 1 and not outcome.passed
    message = outcome.failures["TestMissing::test_plugin_declares_one_agency_and_its_sandbox"]
    assert "exactly one agency" in message and "found: none" in message, message
