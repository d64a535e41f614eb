"""A simulated day against `mpp-hub up`: the dashboard, the satisfaction index and the monthly report agree with
the day's figures worked out here, independently, from what each ticket and survey came to."""

from __future__ import annotations

import csv
import datetime as dt
import json
import signal
from collections import defaultdict
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub._queue import DEFAULT_DESKS
from hub._time import WIB
from tests._plugin_venv import BUILT_IN_PLUGINS
from tests._processes import free_port, run_cli, start_cli
from tests._servers import healthz
from tests._until import until_sync

TICKETS = 160
COMPLAINTS = 3
pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`mpp-hub up` (the built-in agencies and LAPOR!), a simulated day run against it, and a manager's key."""
    workdir = tmp_path_factory.mktemp("day")
    env = {
        "MPP_HUB_DATA_DIR": str(workdir / "data"),
        "MPP_HUB_LOAD_PLUGINS": json.dumps([*BUILT_IN_PLUGINS, "lapor", "pengaduan"]),
    }
    port = free_port()
    process = start_cli("up", "--port", str(port), "--nats-port", "-1", cwd=workdir, env=env)
    try:
        until_sync(lambda: healthz(f"http://127.0.0.1:{port}/healthz"), "/healthz to answer 200", 90)
        ran = run_cli(
            "simulate-day", "--tickets", str(TICKETS), "--complaints", str(COMPLAINTS), "--json",
            cwd=workdir, env=env, timeout=400,
        )  # fmt: skip
        assert ran.returncode == 0, ran.stderr[-2000:]
        added = run_cli(
            "consumer", "add", "manager", "--allow", "ops.dashboard", "--allow", "survey.read", "--json",
            cwd=workdir, env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        yield {
            "result": json.loads(ran.stdout), "progress": ran.stderr, "url": f"http://127.0.0.1:{port}",
            "key": json.loads(added.stdout)["api_key"], "workdir": workdir, "env": env,
        }  # fmt: skip
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


def _nearest_rank(values: Iterable[int], percent: int) -> int:
    ordered = sorted(values)
    return ordered[-(-percent * len(ordered) // 100) - 1]


def _seconds(ticket: dict[str, Any], start: str, end: str) -> int:
    return int(
        dt.datetime.fromisoformat(ticket[end]).timestamp() - dt.datetime.fromisoformat(ticket[start]).timestamp()
    )


def _by_desk(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each desk's day, worked out from the tickets and surveys the simulation got back."""
    figures: dict[str, dict[str, Any]] = defaultdict(lambda: {"taken": 0, "served": 0, "no_show": 0, "waits": []})
    for ticket in result["tickets"]:
        row = figures[ticket["desk"]]
        row["taken"] += 1
        row["served" if ticket["status"] == "done" else "no_show"] += 1
        row["waits"].append(_seconds(ticket, "taken_at", "called_at"))
    answers: dict[str, list[dict[str, int]]] = defaultdict(list)
    for survey in result["surveys"]:
        answers[survey["desk"]].append(survey["answers"])
    for desk, given in answers.items():
        # The nine NRRs' mean: each element's mean score, averaged with equal weights (PermenPANRB 14/2017).
        nrr = [Fraction(sum(a[f"U{i}"] for a in given), len(given)) for i in range(1, 10)]
        figures[desk]["ikm"] = sum(nrr, Fraction(0)) / 9 * 25
        figures[desk]["respondents"] = len(given)
    return figures


def test_the_day_ran_clean_and_every_desk_called_only_its_own_queues(day: dict[str, Any]) -> None:
    result = day["result"]
    assert result["refused"] == []
    assert len(result["tickets"]) == TICKETS and len({t["id"] for t in result["tickets"]}) == TICKETS
    assert {t["status"] for t in result["tickets"]} == {"done", "no_show"}
    assert all(t["service"] in DEFAULT_DESKS[t["desk"]] for t in result["tickets"])
    assert len(result["complaints"]) == COMPLAINTS and result["surveys"]
    assert f"{TICKETS} of {TICKETS} tickets taken" in day["progress"]


def test_the_monthly_report_agrees_with_the_day(day: dict[str, Any], tmp_path: Path) -> None:
    month = dt.datetime.now(WIB).strftime("%Y-%m")
    ran = run_cli("report", "--month", month, "--out", str(tmp_path), "--json", cwd=day["workdir"], env=day["env"])
    assert ran.returncode == 0, ran.stderr
    summary = json.loads(ran.stdout)
    assert summary["tickets_taken"] == TICKETS
    # The complaints are pengaduan applications, which the CLI's role may not read: the edge gives their figures.
    assert summary["applications_read"] is True and summary["applications"] == COMPLAINTS
    assert [(row["filed"], row["overdue"]) for row in summary["complaints"]] == [(COMPLAINTS, 0)]
    with (tmp_path / f"mpp-report-{month}.csv").open(encoding="utf-8") as file:
        rows = {
            row["desk"]: row for row in csv.DictReader(file) if row["section"] == "tickets" and row["service"] == "all"
        }
    for desk, figures in _by_desk(day["result"]).items():
        row = rows[desk]
        assert (int(row["tickets_taken"]), int(row["tickets_served"]), int(row["no_shows"])) == (
            figures["taken"], figures["served"], figures["no_show"],
        ), desk  # fmt: skip
        assert int(row["wait_p50_seconds"]) == _nearest_rank(figures["waits"], 50), desk
        assert int(row["wait_p90_seconds"]) == _nearest_rank(figures["waits"], 90), desk
        if "ikm" in figures:
            assert int(row["ikm_respondents"]) == figures["respondents"], desk
            assert Fraction(row["ikm"]) == Fraction(int(figures["ikm"] * 100), 100), desk  # shown cut to 2 places


def test_the_dashboard_and_the_index_agree_with_the_day(day: dict[str, Any]) -> None:
    headers = {"Authorization": f"Bearer {day['key']}"}
    figures = _by_desk(day["result"])
    state = httpx.get(f"{day['url']}/ops/state", headers=headers, timeout=30).json()
    month = state["front"]["periods"]["month"]
    assert month["total"]["taken"] == TICKETS
    for row in month["desks"]:
        expected = figures[row["desk"]]
        assert (row["taken"], row["served"], row["no_show"]) == (
            expected["taken"],
            expected["served"],
            expected["no_show"],
        )
        assert (row["waiting"]["p50"], row["waiting"]["p90"]) == (
            _nearest_rank(expected["waits"], 50), _nearest_rank(expected["waits"], 90),
        )  # fmt: skip
    assert month["complaints"]["filed"] == COMPLAINTS and month["complaints"]["overdue"] == 0

    start = dt.datetime.now(WIB).replace(day=1).date().isoformat()
    index = httpx.get(
        f"{day['url']}/v1/survey/ikm", params={"start": start, "days": 31, "grouping": "desk"}, headers=headers
    ).json()
    for group in index["groups"]:
        assert Fraction(group["figure"]["converted"]["exact"]) == figures[group["key"]]["ikm"], group["key"]
        assert group["figure"]["respondents"] == figures[group["key"]]["respondents"]


def test_the_month_figures_need_the_dashboard_right_and_a_month(day: dict[str, Any]) -> None:
    month = dt.datetime.now(WIB).strftime("%Y-%m")
    anonymous = httpx.get(f"{day['url']}/ops/figures", params={"month": month}, timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthorized"
    headers = {"Authorization": f"Bearer {day['key']}"}
    for bad in ("2026-13", "nov"):
        refused = httpx.get(f"{day['url']}/ops/figures", params={"month": bad}, headers=headers, timeout=30)
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_input", refused.text
    figures = httpx.get(f"{day['url']}/ops/figures", params={"month": month}, headers=headers, timeout=30).json()
    assert COMPLAINTS in {row["total"] for row in figures["applications"]}
    assert "applicant_nik" not in json.dumps(figures) and "tracking_no" not in json.dumps(figures)  # figures only
