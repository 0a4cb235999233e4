"""The dashboard in a real browser: Debian's chromium, headless, driven through chromedriver
(both installed by `make test`). Selenium blocks, so each browser step runs in a thread while
the service keeps serving on the test's event loop."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from lwm2m_mlaas.app import MlaasService

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
"""Where each page's screenshot is saved (kept after the run, ignored by git)."""
Driver = webdriver.Chrome
DESKTOP = (1280, 900)
PHONE = (390, 844)
T = TypeVar("T")


class Browser:
    """One headless chromium on the service's dashboard; every call runs off the event loop."""

    def __init__(self, driver: Driver, base: str, token: str) -> None:
        self.driver = driver
        self.base = base
        self.token = token

    async def run(self, step: Callable[[Driver], T]) -> T:
        return await asyncio.to_thread(step, self.driver)

    async def open(self, page: str = "#/") -> None:
        await self.run(lambda d: d.get(f"{self.base}/ui/{page}"))

    async def until(self, condition: Callable[[Driver], Any], timeout: float = 30) -> Any:
        """Wait until `condition(driver)` is truthy; its value. On a timeout the page's heading,
        its error banner and a screenshot (timeout.png) tell what it showed instead."""
        try:
            return await self.run(lambda d: WebDriverWait(
                d, timeout, 0.1, ignored_exceptions=(StaleElementReferenceException,),
            ).until(condition))  # (live pages redraw: an element found may be replaced)
        except TimeoutException:
            await self.screenshot("timeout")
            shown = await self.script(
                "return [location.hash, document.querySelector('h1')?.textContent,"
                " document.getElementById('error').textContent]")
            raise AssertionError(f"timed out on {shown} (see timeout.png)") from None

    async def element(self, css: str, timeout: float = 30) -> WebElement:
        found: WebElement = await self.until(lambda d: _displayed(d, css), timeout)
        return found

    async def text(self, css: str, timeout: float = 30) -> str:
        return await self.until_text(css, lambda _: True, timeout)

    async def until_text(self, css: str, expected: Callable[[str], bool],
                         timeout: float = 60) -> str:  # fmt: skip
        def seen(d: Driver) -> str | None:
            element = _displayed(d, css)
            text = None if element is None else str(element.text)
            return text if text is not None and expected(text) else None

        return str(await self.until(seen, timeout))

    async def click(self, css: str) -> None:
        def clicked(d: Driver) -> bool:
            element = _displayed(d, css)
            if element is None:
                return False
            element.click()
            return True

        await self.until(clicked)

    async def fill(self, css: str, text: str) -> None:
        element = await self.element(css)

        def type_in(_: Driver) -> None:
            element.clear()
            element.send_keys(text)

        await self.run(type_in)

    async def resize(self, width: int, height: int) -> None:
        await self.run(lambda d: d.set_window_size(width, height))

    async def log_in(self) -> None:
        await self.open()
        await self.fill("#token", self.token)
        await self.click("#login-form button[type=submit]")
        await self.until(lambda d: not d.find_element(By.ID, "login").get_attribute("open"))

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.run(lambda d: d.save_screenshot(str(path)))
        return path

    async def console_errors(self) -> list[str]:
        logs = await self.run(lambda d: d.get_log("browser"))  # type: ignore[no-untyped-call]
        return [entry["message"] for entry in logs if entry["level"] == "SEVERE"]

    async def script(self, source: str, *args: Any) -> Any:
        return await self.run(lambda d: d.execute_script(source, *args))


def _displayed(driver: Driver, css: str) -> WebElement | None:
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found and found[0].is_displayed() else None


@pytest.fixture
async def browser(service: MlaasService, tmp_path: Path) -> AsyncIterator[Browser]:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, "make test installs chromium and chromium-driver"
    options = Options()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
                     f"--user-data-dir={tmp_path / 'chromium'}"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = await asyncio.to_thread(webdriver.Chrome, options=options,
                                     service=Service(chromedriver))  # fmt: skip
    assert service.api is not None
    try:
        yield Browser(driver, service.api.url, service.api.token)
    finally:
        await asyncio.to_thread(driver.quit)
