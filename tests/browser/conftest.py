"""Browser fixtures: Debian's headless Chromium driven by Selenium through Debian's
ChromeDriver (no browser download), against a real gunicorn + worker deployment.

`make test` skips these tests, saying why, while /usr/bin/chromium or
/usr/bin/chromedriver is missing; `make browser-deps` (root) installs both. With
BROWSER_TESTS=required (`make test-browser`, CI) a missing browser fails instead.
Screenshots go to var/browser-artifacts/<test name>/, and a failing test leaves one
there too, with the page's HTML."""

import os
import re
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import BASE_DIR

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = BASE_DIR / "var" / "browser-artifacts"
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    # The machine's network is closed: nothing may reach for Google's hosts.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--window-size=1400,1000",
]


_REPORTS = pytest.StashKey[dict]()


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives Debian's headless Chromium (needs `make browser-deps`)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def chromium_installed() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        reason = f"BROWSER TESTS NOT RUN: {', '.join(missing)} missing; install them with `sudo make browser-deps`"
        if os.environ.get("BROWSER_TESTS") == "required":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def artifacts(request) -> Path:
    """This test's folder under var/browser-artifacts/, emptied first."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    return folder


@pytest.fixture
def browser(chromium_installed, artifacts, request):
    """A fresh headless Chromium (its own empty profile); on failure, the page is saved."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not go looking online
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        driver.set_page_load_timeout(60)
        try:
            yield driver
            reports = request.node.stash.get(_REPORTS, {})
            if reports.get("call") is not None and reports["call"].failed:
                driver.save_screenshot(str(artifacts / "failure.png"))
                (artifacts / "failure.html").write_text(driver.page_source)
        finally:
            driver.quit()


@pytest.fixture
def screenshot(browser, artifacts):
    """`screenshot("login")` saves the page as NN-login.png in this test's artifacts;
    `screenshot.seconds` is the time spent taking them (to leave out of timings)."""
    taken = []

    def take(name: str) -> Path:
        started = time.monotonic()
        path = artifacts / f"{len(taken) + 1:02d}-{name}.png"
        assert browser.save_screenshot(str(path)), f"could not save {path}"
        taken.append(path)
        take.seconds += time.monotonic() - started
        return path

    take.seconds = 0.0
    return take
