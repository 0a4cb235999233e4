"""The dashboard in headless chromium against a live service with simulated devices: log in,
the fleet, a device's objects and inference results, rollouts started from the page, errors
shown in the page, and every page at desktop and phone width. Each page's screenshot is kept
in test-artifacts/dashboard/."""

from __future__ import annotations

from dataclasses import replace

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from lwm2m_mlaas.app import MlaasService
from lwm2m_mlaas.sim import SimulatedDevice
from tests.helpers import wait_for
from tests.helpers.service import Devices, provisioned

from .conftest import DESKTOP, PHONE, Browser, Driver

pytestmark = pytest.mark.slow

PAGES = {"fleet": "#/", "devices": "#/devices", "device": "#/devices/{ep}", "models": "#/models",
         "deliveries": "#/deliveries", "rollouts": "#/rollouts"}  # fmt: skip
ROWS = """return [...document.querySelectorAll(arguments[0] + ' tbody tr')]
  .map((tr) => [...tr.cells].map((td) => td.textContent.trim()))"""
UNLABELLED = """return [...document.querySelectorAll('input, select, textarea')]
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map((e) => e.id || e.name || e.outerHTML)"""


def other_variant(service: MlaasService, device: SimulatedDevice) -> str:
    """A sine variant the device does not run."""
    model = service.provisioning.status[device.config.endpoint].model
    return next(v for v in ("sine-s", "sine-m", "sine-l") if v != model)


async def test_log_in_then_the_fleet_overview(
    browser: Browser, devices: Devices, service: MlaasService
) -> None:
    await provisioned(devices, service, "web-1", "web-2", "web-3")
    await browser.open()
    await browser.element("#login[open]")
    await browser.fill("#token", "not-the-token")
    await browser.click("#login-form button[type=submit]")
    assert "not the service's" in await browser.text("#login-error")
    await browser.log_in()
    await browser.until_text("#fleet-devices", lambda t: t == "3")
    await browser.until_text("#fleet-running", lambda t: t == "3")
    assert "mps2-an386" in await browser.text("[aria-label='devices by class']")
    assert "sine" in await browser.text("[aria-label='devices by model']")
    await browser.until_text("#live", lambda t: t == "live")
    # the token is in session storage, never in a URL
    assert browser.token not in await browser.run(lambda d: d.current_url)
    assert await browser.script("return sessionStorage.getItem('mlaas-token')") == browser.token
    await browser.screenshot("fleet")
    # (the refused token's 401 is the one console message)
    errors = await browser.console_errors()
    assert all("401" in message for message in errors), errors


async def test_a_device_page_reads_writes_executes_and_plots_inference(
    browser: Browser, devices: Devices, service: MlaasService
) -> None:
    device, _ = await provisioned(devices, service, "web-a", "web-b")
    listeners = service.server.events.listener_count
    await browser.log_in()
    await browser.open("#/devices")
    await browser.until_text("#device-count", lambda t: t == "2 of 2 devices")
    await browser.fill("#filter-search", "web-a")
    await browser.until_text("#device-count", lambda t: t == "1 of 2 devices")
    await browser.click("a[href='#/devices/web-a']")
    await browser.click("details[data-path='/3'] > summary")
    await browser.click("details[data-path='/3/0'] > summary")
    manufacturer = await browser.until_text("span[data-path='/3/0/0']", bool)
    assert manufacturer == device.tree.get("/3/0/0")
    await browser.fill("[id='write-/3/0/14']", "+02:00")
    await browser.click("button[aria-label='Write /3/0/14']")
    await wait_for(lambda: device.tree.get("/3/0/14") == "+02:00", 10)
    await browser.until_text("span[data-path='/3/0/14']", lambda t: t == "+02:00")
    await browser.click("details[data-path='/1'] > summary")
    await browser.click("details[data-path='/1/0'] > summary")
    updated = len(device.messages)
    await browser.click("button[aria-label='Execute /1/0/8']")  # Registration Update Trigger
    await wait_for(lambda: any(m.path == "/1/0/8" for m in device.messages[updated:]), 10)
    # the inference results, live: the count the page shows keeps growing
    counts: list[int] = []

    def count(d: Driver) -> bool:
        values = d.find_element(By.ID, "inference-values").text.split("\n")
        if "Inference Count" in values:
            counts.append(int(values[values.index("Inference Count") + 1]))
        return len(set(counts)) >= 3

    await browser.until(count)
    assert counts == sorted(counts)
    assert await browser.run(lambda d: len(d.find_elements(
        By.CSS_SELECTOR, "section[aria-labelledby=ml] svg path"))) == 2  # score and latency
    await browser.screenshot("device")
    # three pages seen, one event stream open
    await wait_for(lambda: service.server.events.listener_count == listeners + 1)
    assert await browser.console_errors() == []


async def test_rollouts_started_from_the_page_complete_or_pause_on_failures(
    browser: Browser, devices: Devices, service: MlaasService
) -> None:
    group = await provisioned(devices, service, "g-1", "g-2", "b-1", "b-2")
    await browser.log_in()

    async def start_rollout(target: str, endpoints: str, threshold: str = "0.1") -> str:
        await browser.open("#/rollouts")
        element = await browser.element("#ro-target")
        await browser.run(lambda d: Select(element).select_by_value(target))
        await browser.fill("#ro-endpoint", endpoints)
        await browser.fill("#ro-threshold", threshold)
        await browser.click("#rollout-form button[type=submit]")
        await browser.until(lambda d: "#/rollouts/" in d.current_url)
        return str(await browser.run(lambda d: d.current_url.rsplit("/", 1)[1]))

    await start_rollout(other_variant(service, group[0]), "g-*")
    await browser.until_text("#rollout-state", lambda t: t == "completed", timeout=120)
    assert (await browser.text(".waves")).split("\n") == ["canary", "1/1", "wave 1", "1/1"]
    await browser.screenshot("rollout-completed")

    group[2].config = replace(group[2].config, corrupt_fraction=1.0)  # b-1, the canary, fails
    failing = await start_rollout(other_variant(service, group[2]), "b-*", threshold="0.3")
    await browser.until_text("#rollout-state", lambda t: t == "paused", timeout=60)
    assert "1 of 1 devices failed" in await browser.text("#rollout-reason")
    await browser.screenshot("rollout-paused")
    await browser.click(f"button[aria-label='resume rollout {failing}']")
    await browser.until_text("#rollout-state", lambda t: t == "completed", timeout=120)
    await browser.open("#/rollouts")
    await browser.until_text(f"[data-rollout-state='{failing}']", lambda t: t == "completed")
    await browser.screenshot("rollouts")
    assert await browser.console_errors() == []


async def test_the_models_page_compiles_for_a_class_with_both_backends_side_by_side(
    browser: Browser, service: MlaasService
) -> None:
    await browser.log_in()
    await browser.open("#/models")
    element = await browser.element("[id='compile-mps2-an386']")
    await browser.run(lambda d: Select(element).select_by_value("sine"))
    await browser.click("form[aria-label='Compile for mps2-an386'] button")
    rows = await browser.until(lambda d: d.execute_script(ROWS, "[data-compiled='mps2-an386']"),
                               timeout=180)  # fmt: skip
    # backend, model, fits, arena, package
    assert [row[0] for row in rows] == ["tflm", "native-armv7em-hardfp"], rows
    assert rows[0][1] == rows[1][1] and rows[0][1].startswith("sine-"), rows  # one variant
    assert all(row[2] == "yes" and row[3].endswith("B") for row in rows), rows
    await browser.screenshot("models-compiled")
    assert await browser.console_errors() == []


async def test_an_error_from_the_api_is_shown_in_the_page(
    browser: Browser, service: MlaasService
) -> None:
    await browser.log_in()
    await browser.open("#/rollouts")
    await browser.fill("#ro-waves", " ")
    await browser.click("#rollout-form button[type=submit]")
    assert "waves must be a list" in await browser.text("#error")
    assert await browser.text("h1") == "Rollouts"  # the page stays
    await browser.open("#/devices/nobody")
    assert "nobody" in await browser.text("#error")
    assert await browser.text("h1") == "Could not load this page"


async def test_every_page_fits_a_phone_is_labelled_and_works_by_keyboard(
    browser: Browser, devices: Devices, service: MlaasService
) -> None:
    (device,) = await provisioned(devices, service, "m-1")
    await browser.log_in()
    for (width, height), form in ((DESKTOP, "desktop"), (PHONE, "phone")):
        await browser.resize(width, height)
        for name, page in PAGES.items():
            await browser.open(page.format(ep=device.config.endpoint))
            await browser.until(lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"))
            overflow = await browser.script("return document.documentElement.scrollWidth"
                                            " - document.documentElement.clientWidth")  # fmt: skip
            assert overflow <= 0, f"{name} at {width} px is {overflow} px too wide"
            assert await browser.script(UNLABELLED) == [], name
            if name == "models":  # what m-1 runs was compiled for its class
                compiled = await browser.text("section[aria-labelledby='class-mps2-an386']")
                assert str(service.provisioning.status["m-1"].model) in compiled
            await browser.screenshot(f"{form}-{name}")
    # by keyboard: the skip link, then the pages' links in order; Enter follows one
    await browser.resize(*DESKTOP)
    await browser.open("#/")
    await browser.element("#fleet-devices")
    focused = []
    for _ in range(3):
        await browser.run(lambda d: d.switch_to.active_element.send_keys(Keys.TAB))
        focused.append(await browser.run(lambda d: d.switch_to.active_element.text))
    assert focused == ["Skip to content", "Fleet", "Devices"]
    await browser.run(lambda d: d.switch_to.active_element.send_keys(Keys.ENTER))
    await browser.until_text("h1", lambda t: t == "Devices")
    assert await browser.console_errors() == []
