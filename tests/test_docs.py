"""The docs against what they describe: README.md's links and first two commands, the settings on their pages,
and the docs pages the code names.

The docs site's own links and anchors are checked by `mkdocs build --strict` (.ci/run); the README is not part
of that tree, so its relative links are checked here, rendered by the same Markdown library mkdocs uses.
"""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import markdown
import pytest

from hub import Agency
from hub._settings import HubSettings

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
CI_SCRIPT = REPO / ".ci" / "run"
#: The two commands the README opens with: run the hub; run the tests (the line whose test command CI runs).
FIRST_COMMANDS = [
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . -r agencies/requirements.txt && mpp-hub up",
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' -r agencies/requirements.txt && pytest",
]
DOCS = REPO / "docs"
_EXTENSIONS = ["fenced_code", "tables", "toc"]
_DOCS_NAMED = re.compile(r"docs/[A-Za-z0-9_./-]+?\.md")
_CODE_DIRS = ("hub", "contracts", "plugins", "bench", "tests")
_CODE_BLOCK = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)


class _Page(HTMLParser):
    """The links (href, src) of a rendered page, and the ids its headings got."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and name in ("href", "src"):
                self.links.append(value)
            elif value and name == "id":
                self.ids.add(value)


@cache
def _rendered(path: Path) -> _Page:
    page = _Page()
    page.feed(markdown.markdown(path.read_text(encoding="utf-8"), extensions=_EXTENSIONS))
    return page


def _relative_links() -> list[str]:
    return [link for link in _rendered(README).links if not urlsplit(link).scheme and not link.startswith("//")]


def _broken(link: str) -> str | None:
    """Why a relative link of the README leads nowhere, or None when it leads to a file (and heading) of ours."""
    parts = urlsplit(link)
    target = (README.parent / unquote(parts.path)).resolve() if parts.path else README
    if not target.is_relative_to(REPO):
        return "outside the repository"
    if not target.exists():
        return "no such file"
    if parts.fragment and target.suffix == ".md" and parts.fragment not in _rendered(target).ids:
        return f"no heading #{parts.fragment} in {target.relative_to(REPO)}"
    return None


def test_every_relative_link_in_the_readme_leads_to_a_file_of_the_repository() -> None:
    links = _relative_links()
    assert any(link.startswith("docs/") for link in links), "the README should link into docs/"
    broken = {link: why for link in links if (why := _broken(link)) is not None}
    assert not broken, f"README.md links that lead nowhere: {broken}"


def test_the_readme_opens_with_the_two_commands_and_ci_runs_the_second() -> None:
    text = README.read_text(encoding="utf-8")
    first_block = _CODE_BLOCK.search(text)
    assert first_block is not None, "README.md has no code block"
    assert first_block.group(1).splitlines()[:2] == FIRST_COMMANDS
    assert "pip install -e '.[dev]' -r agencies/requirements.txt && pytest" in CI_SCRIPT.read_text(encoding="utf-8")


def test_the_readme_is_a_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < 200, f"README.md has {len(lines)} lines: the manual belongs in docs/"


def _built_in_agencies() -> list[Agency[Any, Any]]:
    """The agencies this repository's own plugins declare (entry points into ``plugins.``, not test doubles)."""
    hooks = [ep.load() for ep in entry_points(group="mpp_hub") if ep.value.startswith("plugins.")]
    return [module.mpp_hub_agency() for module in hooks if hasattr(module, "mpp_hub_agency")]


def test_every_hub_setting_is_on_the_configuration_page() -> None:
    page = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in HubSettings.model_fields if f"| `{name}` |" not in page]
    assert not missing, f"docs/configuration.md does not describe these settings: {missing}"


@pytest.mark.parametrize("agency", _built_in_agencies(), ids=lambda agency: agency.code)
def test_every_built_in_agency_has_a_wire_format_page_with_its_settings(agency: Agency[Any, Any]) -> None:
    page = DOCS / "agencies" / f"{agency.code}.md"
    assert page.is_file(), f"the {agency.code} plugin has no wire-format page {page.relative_to(REPO)}"
    settings = page.read_text(encoding="utf-8").partition("## Settings")[2]
    missing = [name for name in agency.settings.model_fields if f"| `{name}` |" not in settings]
    assert not missing, f"{page.relative_to(REPO)}'s Settings section does not describe: {missing}"


def test_every_docs_page_the_code_names_exists() -> None:
    named = {
        (source.relative_to(REPO), found)
        for folder in _CODE_DIRS
        for source in (REPO / folder).rglob("*.py")
        for found in _DOCS_NAMED.findall(source.read_text(encoding="utf-8"))
    }
    assert named, "no code names a docs page: the pattern has gone stale"
    missing = sorted(f"{source}: {found}" for source, found in named if not (REPO / found).is_file())
    assert not missing, f"docs pages the code names that do not exist: {missing}"
