"""Open a report in headless Chromium and ask the page whether every image and audio element loaded.

Chromium is driven through chromedriver's WebDriver HTTP API on 127.0.0.1 with plain urllib (no
selenium). WebDriver's navigation waits for the page's load event (so every <img> has loaded or
failed), then an async script checks each image (complete, with a natural width) and calls load()
on each <audio>, waiting in real time for `loadedmetadata` or `error`. (`--dump-dom` with a virtual
time budget was tried first: virtual time does not wait for media, so audio checks were flaky.)
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
AVAILABLE = CHROMIUM is not None and CHROMEDRIVER is not None
SKIP_REASON = "Chromium and chromedriver (Debian packages chromium, chromium-driver) are not installed"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--mute-audio",
         "--disable-dev-shm-usage"]

CHECK = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images).map(img => ({
  src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0}));
const audios = Array.from(document.querySelectorAll('audio')).map(a => new Promise(finish => {
  const report = ok => finish({src: a.getAttribute('src'), ok: ok, ready: a.readyState,
                               duration: a.duration, error: a.error ? a.error.code : null});
  a.addEventListener('loadedmetadata', () => report(true), {once: true});
  a.addEventListener('error', () => report(false), {once: true});
  setTimeout(() => report(a.readyState >= 1), 45000);
  a.load();
}));
Promise.all(audios).then(results => done({images: images, audios: results}));
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, method: str, path: str, body: dict | None = None, timeout: float = 90) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"WebDriver {method} {path}: {exc.read()[:500]!r}") from None


def check_report(report: Path, timeout: float = 90) -> dict:
    """{"images": [{src, ok}], "audios": [{src, ok, ready, duration, error}]} as Chromium saw them."""
    if not AVAILABLE:
        raise RuntimeError(SKIP_REASON)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                _call(base, "GET", "/status", timeout=2)
                break
            except (OSError, AssertionError):
                if time.monotonic() > deadline:
                    raise AssertionError("chromedriver did not start") from None
                time.sleep(0.2)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": CHROMIUM, "args": [*FLAGS, f"--user-data-dir={profile}"]}}}}
        session = _call(base, "POST", "/session", caps)["value"]["sessionId"]
        try:
            _call(base, "POST", f"/session/{session}/timeouts", {"script": int(timeout * 1000),
                                                                 "pageLoad": int(timeout * 1000)})
            _call(base, "POST", f"/session/{session}/url", {"url": Path(report).resolve().as_uri()})
            return _call(base, "POST", f"/session/{session}/execute/async", {"script": CHECK, "args": []},
                         timeout=timeout + 10)["value"]
        finally:
            _call(base, "DELETE", f"/session/{session}")
    finally:
        driver.terminate()
        try:
            driver.wait(10)
        except subprocess.TimeoutExpired:
            driver.kill()
        shutil.rmtree(profile, ignore_errors=True)
