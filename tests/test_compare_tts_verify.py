"""`compare-tts --verify`: the per-temperature table of how often the fallback fired (issue 12)."""
import math

from tts_temp.compare.tts_verify import COLUMNS, add_to_report, run_verify, summarise


def _record(t, cers_transcripts, kept, accepted):
    attempts = [{"transcript": tr, "accepted": i == kept and accepted} for i, tr in enumerate(cers_transcripts)]
    return {"text": "glue the sheet", "temperature": t, "attempts": attempts, "kept": kept}


def test_summary_counts_fallbacks_and_cer_before_and_after(tmp_path):
    recs = [_record(0.5, ["glue the sheet"], 0, True),
            _record(0.5, ["glue", "glue the sheet"], 1, True),
            _record(1.0, ["x", "y", "z"], 0, False)]
    rows = summarise(recs, [0.5, 1.0])
    assert rows[0]["items"] == 2 and rows[0]["fired"] == 1 and rows[0]["fired_rate"] == 0.5
    assert rows[0]["passed"] == 2 and rows[0]["attempts_mean"] == 1.5
    assert math.isclose(rows[0]["cer_before"], (0 + 10 / 14) / 2) and rows[0]["cer_after"] == 0
    assert rows[1]["fired"] == 1 and rows[1]["passed"] == 0
    page = tmp_path / "report.html"
    page.write_text("<html><body><h1>x</h1></body></html>\n")
    add_to_report(page, rows)
    add_to_report(page, rows)  # a resumed run replaces its section
    text = page.read_text()
    assert text.count("Verified synthesis") == 1 and text.endswith("</body></html>\n")
    assert all(f"<th>{c}</th>" in text for c in COLUMNS)


def test_run_verify_on_the_tiny_voice(tiny_voice_path, whisper_tiny, tmp_path):
    from tts_temp.tts import SynthesisOptions, load_voice

    rows = run_verify(tmp_path, ["Glue the sheet."], [0.0], 1, load_voice(tiny_voice_path), whisper_tiny,
                      SynthesisOptions())
    assert rows[0]["items"] == 1 and rows[0]["attempts_mean"] == 1  # T=0: other seeds are the same draw
    assert (tmp_path / "verify.csv").exists() and (tmp_path / "verify.jsonl").exists()
