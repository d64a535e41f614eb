"""``[front]``: the documented example configures what it says, and each mistake is refused naming its key."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub._front import FrontSettings
from hub._settings import HubSettings

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _documented() -> dict[str, Any]:
    section = (DOCS / "configuration.md").read_text(encoding="utf-8").partition("## The front of house")[2]
    front: dict[str, Any] = tomllib.loads(section.partition("```toml\n")[2].partition("```")[0])["front"]
    return front


def test_the_documented_front_configures_three_queues_and_three_desks() -> None:
    front = HubSettings(front=_documented()).front
    assert [(s.code, s.prefix) for s in front.services] == [("dukcapil", "A"), ("samsat", "C"), ("pajak", "P")]
    assert front.desks == {"loket1": ("dukcapil",), "loket2": ("dukcapil",), "loket7": ("samsat", "pajak")}
    assert (front.booking.opens, front.booking.closes, front.booking.slot_minutes) == (dt.time(8), dt.time(14), 20)
    assert (front.booking.per_slot, front.booking.check_in_after) == (3, 10)
    standards = front.front_standards()
    assert standards["pajak"].waiting == dt.timedelta(minutes=10) and set(standards) == {"pajak"}


def test_left_out_the_embedded_mall_has_four_queues_and_five_desks() -> None:
    front = FrontSettings()
    assert [s.prefix for s in front.services] == ["A", "B", "C", "D"]
    assert front.front_standards()["bank"].service == dt.timedelta(minutes=5)  # the figures' placeholders
    assert sorted(front.desks) == ["loket1", "loket2", "loket3", "loket4", "loket5"]


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda f: f["desks"].update(loket9=["paspor"]), "front.desks.loket9 calls from paspor"),
        (lambda f: f["desks"].update(loket9=[]), "front.desks.loket9 calls from no service"),
        (lambda f: f["services"][2].update(prefix="A"), "share the ticket prefix A"),
        (lambda f: f["services"][2].update(code="samsat"), "lists samsat more than once"),
        (lambda f: f["desks"].update({"Loket 9": ["pajak"]}), "desks.Loket 9"),
        (lambda f: f["booking"].update(slot_minutes=1), "slot_minutes"),
        (lambda f: f.update(hours="08-15"), "hours"),
        (lambda f: f["standards"].update(paspor={"waiting_minutes": 5, "service_minutes": 5}), "names paspor"),
        (lambda f: f["standards"]["pajak"].update(waiting_minutes=0), "waiting_minutes"),
    ],
)
def test_a_mistake_is_refused_naming_its_key(change: Any, says: str) -> None:
    front = _documented()
    change(front)
    with pytest.raises(ValidationError) as refused:
        HubSettings(front=front)
    assert says in str(refused.value)
