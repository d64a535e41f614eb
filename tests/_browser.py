"""A headless Chromium for the tests of the hub's pages (``/ops``, ``/papan``, ``/warga``), driven by Selenium.

Selenium drives Debian's ``chromium`` through its ``chromium-driver`` (CI installs both); tests that need it are
skipped where it is missing (:data:`NEEDS_CHROMIUM`). Screenshots land in ``tests/artifacts/``.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By

from tests._until import until

__all__ = ["ARTIFACTS", "CHROMIUM", "DRIVER", "NEEDS_CHROMIUM", "Browser", "save"]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
#: Debian's Chromium and its driver, where installed.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

#: The mark of a test that drives the browser.
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver; CI installs them)",
)


class Browser:
    """A headless Chromium driven by Selenium. Selenium blocks, and the hub under test runs in this very
    event loop, so every command goes to a thread."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self._driver = driver

    @classmethod
    async def open(cls, profile: str, size: tuple[int, int] = (1440, 1400), *, phone: bool = False) -> Browser:
        """``phone``: a touch screen of ``size`` CSS pixels (headless windows are at least 500 wide)."""
        options = webdriver.ChromeOptions()
        if phone:
            metrics = {"width": size[0], "height": size[1], "pixelRatio": 2, "touch": True}
            options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
            size = (max(size[0], 500), size[1])
        options.binary_location = str(CHROMIUM)
        for arg in (
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", "--force-device-scale-factor=1",
        ):  # fmt: skip
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "SEVERE"})  # for console_errors
        # The driver is Debian's, named explicitly, so Selenium never tries to download one.
        service = ChromeService(executable_path=str(DRIVER))
        return cls(await asyncio.to_thread(webdriver.Chrome, options=options, service=service))

    async def go(self, url: str) -> None:
        await asyncio.to_thread(self._driver.get, url)

    async def type(self, css: str, text: str) -> None:
        element = await asyncio.to_thread(self._driver.find_element, By.CSS_SELECTOR, css)
        await asyncio.to_thread(element.send_keys, text)

    async def click(self, css: str) -> None:
        element = await asyncio.to_thread(self._driver.find_element, By.CSS_SELECTOR, css)
        # Into the middle of the window first: a page's sticky header would take a click at its very top.
        await self.script("arguments[0].scrollIntoView({block: 'center'})", element)
        await asyncio.to_thread(element.click)

    async def script(self, source: str, *args: Any) -> Any:
        return await asyncio.to_thread(self._driver.execute_script, source, *args)

    async def until(self, source: str, *args: Any, timeout: float = 15.0) -> Any:
        """Poll a script until it returns something truthy; its last answer is in the error otherwise."""
        return await until(lambda: self.script(source, *args), f"the page to answer: {source}", timeout)

    async def console_errors(self) -> list[str]:
        """The page's script errors and policy violations so far (not the statuses of answers, which a login
        page's 401 or a missing favicon's 404 would be)."""
        logs = await asyncio.to_thread(self._driver.get_log, "browser")
        severe = [entry["message"] for entry in logs if entry.get("level") == "SEVERE"]
        return [message for message in severe if "Failed to load resource" not in message]

    async def screenshot(self) -> bytes:
        """The viewport as PNG."""
        png: bytes = await asyncio.to_thread(self._driver.get_screenshot_as_png)
        return png

    async def close(self) -> None:
        await asyncio.to_thread(self._driver.quit)


def save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
