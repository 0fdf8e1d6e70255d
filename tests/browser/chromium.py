"""Headless Chromium as the browser tests use it: Debian's ``chromium`` through ``chromium-driver``.

The binaries are given explicitly and ``SE_OFFLINE`` is set, so Selenium Manager never downloads a browser or
a driver. Override their paths with ``CHROMIUM_BINARY`` and ``CHROMEDRIVER``.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output" / "browser"
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
DESKTOP = (1280, 900)
PHONE = (390, 844)

Screenshot = Callable[[str], Path]


def require_browser() -> None:
    """Skip without the browser, except under CI (``CI`` set), where a missing browser is a failure."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not missing:
        return
    reason = f"browser tests need Debian's chromium and chromium-driver; missing {', '.join(missing)}"
    if os.environ.get("CI", "").lower() not in ("", "0", "false"):
        pytest.fail(f"{reason} (CI is set, so this fails: .ci/run installs them)", pytrace=False)
    pytest.skip(f"{reason} (apt-get install chromium chromium-driver)")


def start_chromium() -> webdriver.Chrome:
    """A new headless Chromium; the caller quits it and sets ``SE_OFFLINE=true`` around this call."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--lang=en-US"):
        options.add_argument(argument)
    options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    # The console log lets a test assert that a page raised no Content-Security-Policy violation.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    return driver


def reset(driver: webdriver.Chrome) -> None:
    """One blank tab, no cookies, no cache, no console backlog, the desktop window size."""
    first, *others = driver.window_handles
    for handle in others:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(first)
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.set_window_size(*DESKTOP)
    driver.get_log("browser")


def save_screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """The whole current page (not only the viewport) as ``test-output/browser/<name>.png``.

    The viewport is stretched to the page's height for the capture, so the page is laid out as on screen
    minus the scrollbar, instead of being cut to the width the scrollbar left.
    """
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    width = int(driver.execute_script("return window.innerWidth"))
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        height = int(driver.execute_script("return document.documentElement.scrollHeight"))
        clip = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def console_errors(driver: webdriver.Chrome) -> list[str]:
    """Console entries at SEVERE level since the last call (CSP violations are reported there)."""
    return [str(entry["message"]) for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
