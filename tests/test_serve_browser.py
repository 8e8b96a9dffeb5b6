"""The page at / in headless Chromium (Debian's chromium + chromium-driver, driven by selenium):
upload tests/data/jfk.wav and see its transcript; synthesize at two temperatures and see two audio
players holding audio. The page reaches everything through the API, as any client does."""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
from browser import AVAILABLE, CHROMEDRIVER, CHROMIUM, SKIP_REASON  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from serve_server import JFK, serve  # noqa: E402

from tts_temp.tts.defaults import DEFAULT_VOICE  # noqa: E402

pytestmark = pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio", "--disable-dev-shm-usage"]

AUDIO_STATE = """
const done = arguments[arguments.length - 1];
const players = Array.from(document.querySelectorAll('#tts-results audio'));
Promise.all(players.map(a => new Promise(finish => {
  const report = () => finish({ready: a.readyState, duration: a.duration, error: a.error ? a.error.code : null,
                               meta: a.parentElement.querySelector('.meta').textContent});
  if (a.readyState >= 1) return report();
  a.addEventListener('loadedmetadata', report, {once: true});
  a.addEventListener('error', report, {once: true});
  setTimeout(report, 20000);
}))).then(done);
"""


@pytest.fixture(scope="module")
def browser():
    os.environ.setdefault("SE_OFFLINE", "true")   # never let Selenium Manager look for drivers online
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _type(driver, element_id: str, text: str) -> None:
    box = driver.find_element(By.ID, element_id)
    box.clear()
    box.send_keys(text)


def test_page_transcribes_an_upload_and_plays_two_temperatures(browser):
    with serve("--model", "tiny.en", "--workers", "2") as s:
        browser.get(s.url + "/")
        wait = WebDriverWait(browser, 300, poll_frequency=0.5)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#stt-model option"))
        assert not browser.find_elements(By.CSS_SELECTOR, "script[src], link[href^='http']")   # nothing external

        browser.find_element(By.ID, "stt-file").send_keys(str(JFK))
        _type(browser, "stt-temps", "0")
        _type(browser, "stt-seeds", "1")
        browser.find_element(By.ID, "stt-go").click()
        transcript = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#stt-results .transcript"))
        assert "ask not what your country can do for you" in transcript[0].text
        meta = browser.find_element(By.CSS_SELECTOR, "#stt-results .meta").text
        assert meta.startswith("seed 1 ") and "tiny.en" in meta
        assert browser.find_elements(By.CSS_SELECTOR, "#stt-results details table.attempts")

        _type(browser, "tts-text", "The birch canoe slid on the smooth planks.")
        _type(browser, "tts-temps", "0, 0.667")
        _type(browser, "tts-seeds", "1")
        browser.find_element(By.ID, "tts-go").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#tts-results audio")) == 2
                   or d.find_elements(By.CSS_SELECTOR, "#tts-results .error"))
        assert not browser.find_elements(By.CSS_SELECTOR, "#tts-results .error")
        players = browser.execute_async_script(AUDIO_STATE)
        assert len(players) == 2
        for p in players:
            assert p["error"] is None and p["ready"] >= 1 and p["duration"] > 1.0, p
            assert p["meta"].startswith("seed 1 ") and DEFAULT_VOICE in p["meta"]
        titles = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#tts-results h3")]
        assert titles == ["T=0 seed=1", "T=0.667 seed=1"]
