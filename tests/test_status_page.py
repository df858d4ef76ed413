"""The live status page in a real browser (Debian's chromium, headless, driven by Selenium through its
chromedriver), on a real run started with --status-port 0: the DOM as the run goes, the controls, and that
the page asks nothing of any address but its own. Keeps screenshots (their paths are printed)."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from status_run import make_workload, start_run, wait_for

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
                                reason="needs Debian's chromium and chromium-driver (.ci/run installs them: "
                                       "apt-get install chromium chromium-driver)")]
KEPT = Path("/work/status-screenshot.png")


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--window-size=1280,1400", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    # The driver's path is given: Selenium never looks for (or downloads) one.
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def text(driver, element_id: str) -> str:
    return driver.find_element("id", element_id).text


def progress(driver) -> float:
    return float(driver.find_element("id", "progress").get_attribute("aria-valuenow"))


def parts(driver) -> dict[str, str]:
    """Part number -> status, read in one go (the page replaces the list as it updates)."""
    return driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('#parts li')]"
        ".map(li => [li.dataset.n, li.dataset.status]))")


def jobs_done(driver) -> int:
    match = re.search(r"jobs (\d+) done · (\d+) failed", text(driver, "counts"))
    return int(match[1]) + int(match[2]) if match else -1


def requested_urls(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_the_page_follows_a_run_and_its_controls_work(tmp_path, browser):
    csv, movies = make_workload(tmp_path)
    output = tmp_path / "out"
    proc = start_run(csv, movies, output, "--status-port", "0")
    lines = []

    def page_address():
        line = proc.stderr.readline()
        lines.append(line)
        found = re.search(r"status page: (http://127\.0\.0\.1:\d+/#token=\S+)", line)
        return found[1] if found else None

    try:
        url = wait_for(page_address, proc, timeout_s=60, every_s=0)
        origin = urlparse(url)
        browser.get_log("performance")  # drop what the browser asked for on its own before (its start page)
        browser.get(url)
        wait_for(lambda: progress(browser) > 0, proc)
        seen = [progress(browser)]
        statuses_seen = {n: {status} for n, status in parts(browser).items()}

        # Pause: the running job ends, no other starts (the one a pool holds queued comes back).
        browser.find_element("id", "pause").click()
        wait_for(lambda: text(browser, "state") == "paused" and text(browser, "running-count") == "(none)", proc)
        held_done, held_progress = jobs_done(browser), progress(browser)
        assert 0 < held_progress < 100
        assert "Paused: no new job starts" in text(browser, "notice")
        assert text(browser, "eta") == "ETA: paused"
        time.sleep(2)  # the file is rewritten within a second of any change, and the page sees it in half a second
        assert jobs_done(browser) == held_done and progress(browser) == held_progress
        assert text(browser, "running-count") == "(none)"
        assert "paused" in browser.title and "%" in browser.title
        paused_shot = tmp_path / "status-page-paused.png"
        browser.save_screenshot(str(paused_shot))

        browser.find_element("id", "resume").click()
        deadline, etas, titles, running_shot = time.monotonic() + 90, set(), set(), None
        while text(browser, "state") != "failed":
            assert time.monotonic() < deadline, text(browser, "state")
            seen.append(progress(browser))
            for n, status in parts(browser).items():
                statuses_seen.setdefault(n, set()).add(status)
            etas.add(text(browser, "eta"))
            titles.add(browser.title)
            if not running_shot and parts(browser).get("1") == "written" and text(browser, "running-count") != "(none)":
                running_shot = tmp_path / "status-page-running.png"
                browser.save_screenshot(str(running_shot))
            time.sleep(0.2)
        assert proc.wait(timeout=30) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        out, err = proc.communicate()
    seen.append(progress(browser))
    # an ETA with its range while it rendered, and the progress in the tab's title
    assert any(re.fullmatch(r"ETA \S+ s \(\S+ s–\S+ s\)( · the last jobs)?", eta) for eta in etas), etas
    assert any(re.fullmatch(r"\d+% · ETA \d+ s — megacut", title) for title in titles), titles
    assert seen == sorted(seen) and seen[-1] == 100 and len(set(seen)) >= 3, seen  # rising, to the end

    final = parts(browser)
    assert final == {"1": "written", "2": "written", "3": "incomplete"}, final
    assert any(statuses_seen[n] - {"written"} for n in ("1", "2")), statuses_seen  # seen before written
    part_1 = browser.find_element("css selector", '#parts li[data-n="1"]').text
    assert "4/4 items" in part_1 and str(output / "mega_cut_part_1.mp4") in part_1

    failure = browser.find_element("css selector", "#failures details")
    summary = failure.find_element("tag name", "summary")
    assert "red frames: this effect refuses them ×1: scene 11 (line 12)" in summary.text
    assert not failure.find_element("tag name", "pre").is_displayed()
    summary.click()  # the whole error, one click away
    assert "ValueError: red frames" in failure.find_element("tag name", "pre").text

    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "filter")).select_by_visible_text("failed")
    rows = browser.find_elements("css selector", "#items tbody tr")
    assert [r.find_element("css selector", "td").text for r in rows] == ["scene 11"]
    assert "red frames" in rows[0].text
    assert text(browser, "item-count") == "(1 of 12)"
    Select(browser.find_element("id", "filter")).select_by_visible_text("all")
    assert "The run ended: failed (exit 1)" in text(browser, "notice")
    assert text(browser, "stale") == ""

    # Every request that left the browser went to the page's own address (data: is the empty icon, inline;
    # chrome:// pages are the browser's own, such as the new-tab page it may still load at its start).
    urls = [u for u in requested_urls(browser) if urlparse(u).scheme in ("http", "https", "ws", "wss", "ftp")]
    assert any(u.startswith(f"{origin.scheme}://{origin.netloc}/api/") for u in urls), urls
    assert all(urlparse(u).netloc == origin.netloc for u in urls), urls

    shot = tmp_path / "status-page.png"
    browser.save_screenshot(str(shot))
    print(f"\nstatus page screenshots: {running_shot} (rendering), {paused_shot} (paused), {shot} (ended); "
          f"the last copied to {KEPT}")
    for source, kept in ((shot, KEPT), (paused_shot, KEPT.with_name("status-screenshot-paused.png")),
                         (running_shot, KEPT.with_name("status-screenshot-running.png"))):
        if source is None:
            continue
        try:
            shutil.copyfile(source, kept)
        except OSError:
            pass  # no /work here: the paths above hold them
