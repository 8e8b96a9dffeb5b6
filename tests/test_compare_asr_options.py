"""compare-asr takes transcribe's decoding options: checked once, used by every row, recorded, shown."""
import json
from pathlib import Path

import pytest

import tts_temp.asr.grid as grid_module
from tts_temp.asr import load_model, transcribe
from tts_temp.cli import main
from tts_temp.compare.asr_sweep import AsrDecoding, AsrSweepConfig, run_asr_sweep

DATA = Path(__file__).parent / "data"
CLIP = DATA / "librivox_sense_0880.wav"
OPTIONS = ["--beam-size", "2", "--best-of", "2", "--top-k", "20", "--top-p", "0.95", "--language", "English",
           "--task", "transcribe", "--vad-filter", "--compute-type", "float32", "--device", "cpu"]


def _read(path):
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]


def test_cli_options_reach_the_decoder_the_record_and_the_report(tmp_path, monkeypatch, whisper_tiny):
    seen = []
    real = grid_module.attempt_options

    def spying(decode, t):
        options = real(decode, t)
        seen.append(options)
        return options

    monkeypatch.setattr(grid_module, "attempt_options", spying)
    out = tmp_path / "run"
    code = main(["compare-asr", str(CLIP), "--temperatures", "0", "1", "--seeds", "2", "--no-fallback-row",
                 *OPTIONS, "--out", str(out)])
    assert code == 0
    greedy = [o for o in seen if o.temperature == 0]
    sampled = [o for o in seen if o.temperature > 0]
    assert greedy and all(o.beam_size == 2 and o.best_of is None and o.language == "en" for o in greedy)
    assert sampled and all(o.best_of == 2 and o.beam_size is None and o.task == "transcribe" for o in sampled)

    run = json.loads((out / "run.json").read_text())
    assert {k: run[k] for k in ("compute_type", "device", "beam_size", "best_of", "top_k", "top_p", "language",
                                "task", "vad_filter", "exact")} == {
        "compute_type": "float32", "device": "cpu", "beam_size": 2, "best_of": 2, "top_k": 20, "top_p": 0.95,
        "language": "en", "task": "transcribe", "vad_filter": True, "exact": True}
    page = (out / "report.html").read_text(encoding="utf-8")
    for shown in ("compute type float32", "beam size 2", "best of 2", "top-k 20", "top-p 0.95", "language en",
                  "VAD filter True"):
        assert shown in page, shown

    # every row is what transcribe gives alone with the same options
    records = _read(out / "results.jsonl")
    assert len(records) == 4
    for r in records:
        alone = transcribe(whisper_tiny, str(CLIP), temperature=r["temperature"], seed=r["seed"], beam_size=2,
                           best_of=2, top_k=20, top_p=0.95, language="en", vad_filter=True)
        assert r["text"] == alone.text.strip(), r["key"]
        assert r["grid"]["deterministic"] == (r["temperature"] == 0)
    t0 = [r for r in records if r["temperature"] == 0]
    assert [r["grid"]["shared_with"] for r in t0] == [["T=0 seed=1"], ["T=0 seed=0"]]
    assert "decoded once, shared with T=0 seed=1" in page

    # the folder's options are part of its settings: other options do not resume it
    code = main(["compare-asr", str(CLIP), "--temperatures", "0", "1", "--seeds", "2", "--no-fallback-row",
                 *OPTIONS[:-2], "--beam-size", "3", "--out", str(out)])
    assert code == 2


def test_python_api_compute_type_int8(tmp_path):
    cfg = AsrSweepConfig(audio=[CLIP], out_dir=tmp_path / "run", temperatures=[0.0, 1.0], seeds=1,
                         fallback_row=False, explain=False, decoding=AsrDecoding(compute_type="int8", top_k=10))
    result = run_asr_sweep(cfg, log=lambda m: None)
    assert result.failed == 0
    assert json.loads((tmp_path / "run" / "run.json").read_text())["compute_type"] == "int8"
    model = load_model("tiny.en", compute_type="int8")
    for r in result.records:
        alone = transcribe(model, str(CLIP), temperature=r["temperature"], seed=r["seed"], top_k=10)
        assert r["text"] == alone.text.strip()


@pytest.mark.parametrize("args, message", [
    (["--beam-size", "0"], "--beam-size"),
    (["--best-of", "-1"], "--best-of"),
    (["--top-k", "0"], "top_k"),
    (["--top-p", "1.5"], "top_p"),
    (["--compute-type", "int4"], "compute type"),
    (["--compute-type", "float16", "--device", "cpu"], "float16"),
    (["--device", "tpu"], "device"),
    (["--language", "klingon"], "unknown language"),
    (["--task", "dance"], "--task"),
])
def test_bad_decoding_options_give_one_clear_line_before_any_work(args, message, tmp_path, capsys):
    code = main(["compare-asr", str(CLIP), *args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()
