"""The console in a real browser: Debian's Chromium, driven by Selenium through Debian's
chromedriver (nothing is downloaded). A director signs in with the code mailed to them,
approves the step a real `dr drill` waits on, and watches the run go on without reloading.

Not skipped when Chromium is missing: CI installs it (scripts/install-system-packages.sh),
and a console nobody has seen work in a browser is not tested.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.console_site import ConsoleSite, make_site, serving
from tests.support.notify_receivers import MailBox

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    for needed in (CHROMIUM, CHROMEDRIVER):
        assert needed.exists(), f"{needed} is missing: apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        # The test's own self-signed certificate (the HTTP tests verify it for real).
        "--ignore-certificate-errors",
        "--window-size=1280,1400",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def site(tmp_path: Path, mailbox: tuple[MailBox, int]) -> Iterator[ConsoleSite]:
    box, port = mailbox
    box.clear()
    made = make_site(tmp_path, box, port)
    for _ in serving(made):
        yield made


def wait(driver: WebDriver, seconds: float = 30) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, seconds, poll_frequency=0.2)


def step_row(run_id: str, step: str, status: str) -> tuple[str, str]:
    return (
        By.CSS_SELECTOR,
        f'[data-run="{run_id}"] tr[data-step="{step}"][data-status="{status}"]',
    )


def test_an_approval_given_in_the_browser_unblocks_a_waiting_drill(
    site: ConsoleSite, browser: WebDriver, tmp_path: Path
) -> None:
    drill = pexpect.spawn(
        sys.executable,
        ["-m", "orchestrator.cli.main", "drill", "console-drill", "-i", str(site.inventory),
         "-p", f"effects={tmp_path / 'effects.log'}", "--lang", "en"],
        env=site.env,
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 200),
    )  # fmt: skip
    try:
        drill.expect("waiting for approval by role 'leadership'")
        [run] = json.loads(site.dr("runs", "list", "--json").stdout)
        run_id = run["id"]

        # Anonymous: the console sends the browser to sign in.
        browser.get(site.url + "/")
        wait(browser).until(ready.url_to_be(site.url + "/signin"))
        browser.find_element(By.ID, "name").send_keys("director-zhao")
        browser.find_element(By.ID, "send-code").click()
        wait(browser).until(ready.presence_of_element_located((By.ID, "code-sent")))
        code = site.wait_for_code("zhao@lab.invalid")
        browser.find_element(By.ID, "code").send_keys(code)
        browser.find_element(By.ID, "use-code").click()
        wait(browser).until(ready.text_to_be_present_in_element((By.ID, "who"), "director-zhao"))

        # The overview shows the waiting run; the approval link opens its page.
        wait(browser).until(
            ready.presence_of_element_located(step_row(run_id, "leadership-ok", "waiting"))
        )
        browser.find_element(
            By.CSS_SELECTOR, f'[data-run="{run_id}"] a[data-approve="leadership-ok"]'
        ).click()
        wait(browser).until(ready.presence_of_element_located((By.ID, "approve")))
        assert "Promote the standby" in browser.page_source
        browser.save_screenshot(str(tmp_path / "approval.png"))
        browser.find_element(By.ID, "approve").click()

        # The run's page: mark this document, then watch the steps change under it.
        wait(browser).until(ready.presence_of_element_located((By.ID, "done")))
        browser.execute_script("window.sameDocument = 'not reloaded';")
        promote_done = step_row(run_id, "promote", "succeeded")
        assert not browser.find_elements(*promote_done), "the run finished before the page watched"
        wait(browser, 60).until(ready.presence_of_element_located(promote_done))
        finished = (By.CSS_SELECTOR, f'[data-run="{run_id}"] .run-status[data-status="succeeded"]')
        wait(browser).until(ready.presence_of_element_located(finished))
        assert browser.execute_script("return window.sameDocument") == "not reloaded"
        browser.save_screenshot(str(tmp_path / "run.png"))

        drill.expect(pexpect.EOF)
    finally:
        drill.close(force=True)
    assert drill.exitstatus == 0, drill.before
    assert (tmp_path / "effects.log").read_text().split() == ["prepared", "promoted"]
    doc = json.loads(site.dr("runs", "show", run_id, "--json").stdout)
    steps = {s["id"]: s for s in doc["steps"]}
    assert steps["leadership-ok"]["result"]["approved_by"] == "director-zhao"

    # The page speaks Chinese on request, and keeps to it.
    browser.get(site.url + "/?lang=zh")
    wait(browser).until(ready.text_to_be_present_in_element((By.TAG_NAME, "h2"), "未结事件"))
    browser.get(site.url + "/")
    assert "执行中的预案" in browser.page_source
