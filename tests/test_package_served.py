"""A contract package served by a real hub, in a child pytest (tests/conformance_land.py), so that its operations
enter that process's contract and not this one's: the conformance suite passes on it, its subject carries its
major version, its reads are audited under its own identifier, and its identifier is masked in the agency path
the hub logs."""

from __future__ import annotations

from pathlib import Path

from tests.test_conformance import REPO, run_suite


def test_a_package_at_major_two_with_its_identifier_in_the_agency_path_passes_the_suite(tmp_path: Path) -> None:
    outcome = run_suite("tests/conformance_land.py", cwd=REPO, report=tmp_path / "report.xml")
    assert outcome.returncode == 0 and not outcome.failures, outcome.output[-4000:]
    for name in (
        "test_no_personal_data_reaches_the_logs",
        "test_the_package_is_served_on_its_major_version_subject",
        "test_a_read_is_audited_under_the_title_number",
        "test_the_title_number_in_the_agency_path_is_masked_in_the_log",
    ):
        assert f"TestLandOffice::{name}" in outcome.passed, sorted(outcome.passed)
