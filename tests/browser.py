"""Open a report in headless Chromium and ask the page itself whether every image and audio loaded.

A copy of the report gets a small script that waits for the window's load event, checks every
<img> (complete, with a natural width) and every <audio> (load() called, then `loadedmetadata`
or `error`), and writes the verdict into the DOM; `chromium --dump-dom` prints that DOM. The
report itself has no script: the check is added to a sibling copy so relative paths still resolve.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required", "--mute-audio"]

CHECK = """
<script>
window.addEventListener('load', () => {
  const out = {images: [], audios: []};
  for (const img of document.images)
    out.images.push({src: img.getAttribute('src'), ok: img.complete && img.naturalWidth > 0});
  const audios = Array.from(document.querySelectorAll('audio'));
  const waits = audios.map(a => new Promise(done => {
    const finish = ok => done({src: a.getAttribute('src'), ok: ok, ready: a.readyState,
                               duration: a.duration, error: a.error ? a.error.code : null});
    a.addEventListener('loadedmetadata', () => finish(true), {once: true});
    a.addEventListener('error', () => finish(false), {once: true});
    setTimeout(() => finish(a.readyState >= 1), 8000);
    a.load();
  }));
  Promise.all(waits).then(results => {
    out.audios = results;
    const pre = document.createElement('pre');
    pre.id = 'load-check';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
});
</script>
"""


def check_report(report: Path, timeout: float = 120) -> dict:
    """{"images": [{src, ok}], "audios": [{src, ok, ready, duration, error}]} as Chromium saw them."""
    if CHROMIUM is None:
        raise RuntimeError("chromium is not installed")
    report = Path(report)
    probe = report.with_name("_load_check.html")
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", CHECK + "</body>"), encoding="utf-8")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=30000",
                               "--dump-dom", probe.resolve().as_uri()],
                              capture_output=True, text=True, timeout=timeout)
    finally:
        probe.unlink(missing_ok=True)
        shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'<pre id="load-check">(.*?)</pre>', proc.stdout, re.S)
    if not m:
        raise AssertionError(f"the page never reported its load state (chromium exit {proc.returncode}): "
                             f"{proc.stderr[-2000:]}")
    import html

    return json.loads(html.unescape(m.group(1)))
