"""`tts-temp demo` wires both sweeps together on shipped inputs (made smaller here to stay fast)."""
import tts_temp.demo as demo
import pytest

from browser import AVAILABLE, SKIP_REASON, check_report
from tts_temp.cli import main


def test_the_demo_clip_ships_with_the_package(whisper_tiny, tmp_path):
    """The clip is package data (found from any folder), real speech, and its text is what Whisper hears."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import tts_temp
    from tts_temp import score
    from tts_temp.asr import transcribe
    from tts_temp.audio import load

    clip = demo.demo_clip()
    assert clip.is_relative_to(Path(tts_temp.__file__).parent)   # inside the package, not tests/data
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    found = subprocess.run([sys.executable, "-c", "from tts_temp.demo import demo_clip; print(demo_clip())"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()) == clip and clip.is_file()
    text = clip.with_suffix(".txt").read_text()
    assert text.startswith("And so my fellow Americans")
    audio = load(clip, 16000)
    assert len(audio) == 11 * 16000 and float(abs(audio).max()) > 0.1   # the 11 s speech, not a stub
    heard = transcribe(whisper_tiny, audio, temperature=0.0)
    assert score.wer(text, heard.text) <= 0.05, heard.text


@pytest.fixture(scope="module")
def small_demo(tiny_voice_path, tmp_path_factory):
    """The demo made smaller (one T for Whisper, two for the voice, one seed) to stay fast."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo, "ASR_TEMPERATURES", [0.0])
        mp.setattr(demo, "TTS_TEMPERATURES", [0.0, 1.0])
        mp.setattr(demo, "SEEDS", 1)
        code = main(["demo", "--out", str(out), "--voice", str(tiny_voice_path)])
    return code, out


def test_demo_transcribes_synthesizes_and_writes_one_report(small_demo):
    code, out = small_demo
    assert code == 0
    for sub in ("asr", "tts"):
        assert (out / sub / "report.html").is_file() and (out / sub / "results.jsonl").is_file()
    rows = [l for l in (out / "asr" / "results.jsonl").read_text().splitlines() if l]
    assert len(rows) == 2 and all("And so my fellow Americans" in l for l in rows)  # T=0 and the fallback


@pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON)
def test_demo_report_opens_in_chromium_with_every_figure(small_demo):
    _, out = small_demo
    seen = check_report(out / "report.html")
    # ASR: WER, diversity, next token, entropy; TTS: mel grid, F0, CER/spread, naturalness, emission
    assert len(seen["images"]) == 9 and all(i["ok"] for i in seen["images"]), seen["images"]


def test_demo_without_a_voice_still_transcribes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "ASR_TEMPERATURES", [0.0])
    monkeypatch.setattr(demo, "SEEDS", 1)
    assert main(["demo", "--out", str(tmp_path / "d"), "--voice", str(tmp_path / "none.pt")]) == 0
    printed = capsys.readouterr().out
    assert "skipped: no voice" in printed
    assert "fallback" in printed and "And so my fellow Americans" in printed and "3/3  report:" in printed
    assert (tmp_path / "d" / "report.html").is_file()
