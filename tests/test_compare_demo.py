"""`tts-temp demo` wires both sweeps together on shipped inputs (made smaller here to stay fast)."""
import tts_temp.demo as demo
from browser import AVAILABLE, check_report
from tts_temp.cli import main


def test_the_demo_clip_ships_with_the_package():
    clip = demo.demo_clip()
    assert clip.is_file() and clip.with_suffix(".txt").read_text().startswith("And so my fellow Americans")


def test_demo_transcribes_synthesizes_and_writes_one_report(tiny_voice_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "ASR_TEMPERATURES", [0.0])
    monkeypatch.setattr(demo, "TTS_TEMPERATURES", [0.0, 1.0])
    monkeypatch.setattr(demo, "SEEDS", 1)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--voice", str(tiny_voice_path)]) == 0
    printed = capsys.readouterr().out
    assert "fallback" in printed and "And so my fellow Americans" in printed and "3/3  report:" in printed
    for sub in ("asr", "tts"):
        assert (out / sub / "report.html").is_file() and (out / sub / "results.jsonl").is_file()
    if AVAILABLE:
        seen = check_report(out / "report.html")
        assert len(seen["images"]) == 8 and all(i["ok"] for i in seen["images"]), seen["images"]


def test_demo_without_a_voice_still_transcribes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "ASR_TEMPERATURES", [0.0])
    monkeypatch.setattr(demo, "SEEDS", 1)
    assert main(["demo", "--out", str(tmp_path / "d"), "--voice", str(tmp_path / "none.pt")]) == 0
    assert "skipped: no voice" in capsys.readouterr().out
    assert (tmp_path / "d" / "report.html").is_file()
