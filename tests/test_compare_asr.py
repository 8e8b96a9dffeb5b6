"""The transcript sweep end to end on one short real clip plus one broken file."""
import csv
import json
import zlib
from pathlib import Path

import numpy as np
import pytest

import tts_temp.asr
from browser import AVAILABLE, SKIP_REASON, check_report
from figures import capture_figures, table_shapes
from tts_temp.cli import main
from tts_temp.compare.asr_sweep import AsrSweepConfig, run_asr_sweep

DATA = Path(__file__).parent / "data"
CLIP = DATA / "librivox_sense_0880.wav"  # 3 s; its reference is the sidecar .txt
TEMPS = [0.0, 1.0]
SEEDS = 2


def _levenshtein(a, b):
    """An independent edit distance (full table), to recompute the stored WER/CER."""
    d = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
    d[:, 0] = np.arange(len(a) + 1)
    d[0, :] = np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
    return int(d[-1, -1])


def _norm(text):
    from whisper.normalizers import EnglishTextNormalizer

    return " ".join(EnglishTextNormalizer()(text).split())


def _read(path):
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    path = tmp_path_factory.mktemp("bad") / "broken.wav"
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    return path


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, whisper_tiny, broken):
    cfg = AsrSweepConfig(audio=[CLIP, broken], out_dir=tmp_path_factory.mktemp("asr-sweep"),
                         temperatures=TEMPS, seeds=SEEDS)
    with capture_figures() as shown:
        result = run_asr_sweep(cfg, model=whisper_tiny, log=lambda m: None)
    result.shown = shown  # what each figure showed, read from matplotlib before saving
    return cfg, result


def test_every_item_is_recorded_and_the_bad_file_does_not_stop_the_sweep(sweep):
    cfg, result = sweep
    rows = _read(cfg.out_dir / "results.jsonl")
    assert len(rows) == 2 * (len(TEMPS) + 1) * SEEDS
    good = [r for r in rows if r["name"] == CLIP.name]
    bad = [r for r in rows if r["name"] == "broken.wav"]
    assert all(not r.get("error") and r["text"] for r in good)
    assert all(r.get("error") for r in bad) and result.failed == len(bad)
    assert {(r["mode"], r["temperature"], r["seed"]) for r in good} == \
        {("fixed", t, s) for t in TEMPS for s in range(SEEDS)} | {("fallback", None, s) for s in range(SEEDS)}


def test_numbers_match_recomputation(sweep, whisper_tiny):
    cfg, _ = sweep
    reference = (DATA / "librivox_sense_0880.txt").read_text(encoding="utf-8")
    rows = [r for r in _read(cfg.out_dir / "results.jsonl") if not r.get("error")]
    for r in rows:
        ref, hyp = _norm(reference), _norm(r["text"])
        assert r["reference"] == " ".join(reference.split())
        assert r["wer"] == pytest.approx(_levenshtein(ref.split(), hyp.split()) / len(ref.split()))
        assert r["cer"] == pytest.approx(_levenshtein(list(ref), list(hyp)) / len(ref))
        raw = r["text"].encode("utf-8")
        assert r["compression_ratio"] == pytest.approx(len(raw) / len(zlib.compress(raw)))
        assert r["avg_logprob"] == pytest.approx(np.mean([w["avg_logprob"] for w in r["windows"]]))
        assert r["segment_temperatures"] == [s["temperature"] for s in r["segments"]]
        if r["mode"] == "fixed":
            assert all(t == r["temperature"] for t in r["segment_temperatures"])
            assert all(len(w["attempts"]) == 1 for w in r["windows"])  # exactly that T, no fallback
        else:
            kept = [next((a["temperature"] for a in w["attempts"] if a["accepted"]), w["attempts"][-1]["temperature"])
                    for w in r["windows"]]
            assert kept == [w["temperature"] for w in r["windows"]]

    # A sampled item is reproducible from its seed alone.
    sampled = next(r for r in rows if r["temperature"] == 1.0 and r["seed"] == 1)
    again = tts_temp.asr.transcribe(whisper_tiny, str(CLIP), temperature=1.0, seed=1)
    assert again.text.strip() == sampled["text"]

    # summary.csv: per temperature means, spreads and diversity, recomputed from the rows.
    with open(cfg.out_dir / "summary.csv", newline="") as f:
        summary = {s["temperature"]: s for s in csv.DictReader(f)}
    assert list(summary) == ["0", "1", "fallback"]
    for label, group in (("0", [r for r in rows if r["temperature"] == 0.0]),
                         ("1", [r for r in rows if r["temperature"] == 1.0]),
                         ("fallback", [r for r in rows if r["mode"] == "fallback"])):
        s = summary[label]
        wers = [r["wer"] for r in group]
        assert float(s["wer_mean"]) == pytest.approx(np.mean(wers), abs=1e-4)
        assert float(s["wer_std"]) == pytest.approx(np.std(wers), abs=1e-4)
        assert int(s["items"]) == 2 * SEEDS and int(s["errors"]) == SEEDS
        texts = [r["text"] for r in group]
        pairs = [(a, b) for a in range(len(texts)) for b in range(len(texts)) if a != b]
        div = np.mean([_levenshtein(_norm(texts[a]).split(), _norm(texts[b]).split()) / len(_norm(texts[a]).split())
                       for a, b in pairs])
        assert float(s["diversity"]) == pytest.approx(div, abs=1e-4)
        windows = [w for r in group for w in r["windows"] + r["skipped_windows"]]
        for criterion in ("compression_ratio", "logprob", "no_speech"):
            fired = sum(criterion in a["failed"] for w in windows for a in w["attempts"] if not a["accepted"])
            assert int(s.get(f"fired_{criterion}") or 0) == fired
    assert float(summary["0"]["diversity"]) == 0.0  # T=0 is deterministic whatever the seed


def test_explaining_figures_follow_the_temperature(sweep):
    cfg, result = sweep
    e = result.explain
    assert e is not None and json.loads((cfg.out_dir / "token_distribution.json").read_text())["step"] == e["step"]
    top = [e["probs"][t][0] for t in ("0.25", "0.5", "1", "2")]
    assert top == sorted(top, reverse=True)  # lower T piles more mass on the most likely token
    assert all(sum(p) <= 1 + 1e-6 for p in e["probs"].values())
    ent = e["entropy"]
    assert ent[0] == 0.0 and all(b >= a - 1e-6 for a, b in zip(ent, ent[1:]))
    shown = result.shown
    bars = shown["next_token_distribution.png"][0]
    assert bars["bars"] == pytest.approx([p for t in e["probs"] for p in e["probs"][t]])
    assert [t.replace("\u2423", " ") for t in bars["xticklabels"]] == e["tokens"]
    curves = shown["entropy_vs_temperature.png"][0]["lines"]
    red = [c for c in curves if c[2] == f"step {e['step']}"]
    assert len(red) == 1 and red[0][0] == pytest.approx(e["entropy_T"]) and red[0][1] == pytest.approx(e["entropy"])
    assert len(curves) == len(e["entropy_all_steps"]) + 2  # grey per step, red, the T = 1 marker
    for name in shown:
        assert (cfg.out_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_figures_show_the_summary(sweep):
    cfg, result = sweep
    summary = {r["temperature"]: r for r in result.summary}
    wer = result.shown["wer_vs_temperature.png"][0]
    assert wer["xlabel"] == "temperature T" and "WER" in wer["ylabel"]
    x, y, _ = wer["lines"][0]
    assert x == TEMPS and y == pytest.approx([summary[f"{t:g}"]["wer_mean"] for t in TEMPS])
    dashed = [l for l in wer["lines"] if l[2].startswith("fallback schedule")]
    assert len(dashed) == 1 and dashed[0][1][0] == pytest.approx(summary["fallback"]["wer_mean"])
    div = result.shown["diversity_vs_temperature.png"][0]["lines"][0]
    assert div[0] == TEMPS and div[1] == pytest.approx([summary[f"{t:g}"]["diversity"] for t in TEMPS])
    assert div[1][0] == 0.0  # T=0 is deterministic


def test_report_tables_line_up(sweep):
    cfg, result = sweep
    for table in table_shapes(result.report.read_text(encoding="utf-8")):
        assert table["rows"] and all(n == table["header"] for n in table["rows"]), table


def test_resume_skips_finished_items_and_loses_nothing(sweep, whisper_tiny, monkeypatch):
    cfg, _ = sweep
    path = cfg.out_dir / "results.jsonl"
    original = {r["key"]: r for r in _read(path)}
    import tts_temp.compare.asr_sweep as compare_asr

    calls = []
    real = compare_asr.transcribe_file

    def counting(model, waveform, rows, *args, **kwargs):  # a file's unfinished rows, as one grid
        calls.extend(rows)
        return real(model, waveform, rows, *args, **kwargs)

    monkeypatch.setattr(compare_asr, "transcribe_file", counting)
    run_asr_sweep(AsrSweepConfig(audio=cfg.audio, out_dir=cfg.out_dir, temperatures=TEMPS, seeds=SEEDS),
                  model=whisper_tiny, log=lambda m: None)
    assert calls == []  # everything was done

    # Simulate a run killed after two good items, in the middle of writing the third.
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:2]) + lines[2][: len(lines[2]) // 2], encoding="utf-8")
    run_asr_sweep(AsrSweepConfig(audio=cfg.audio, out_dir=cfg.out_dir, temperatures=TEMPS, seeds=SEEDS),
                  model=whisper_tiny, log=lambda m: None)
    good = sum(1 for r in original.values() if not r.get("error"))
    assert len(calls) == good - 2
    resumed = {r["key"]: r for r in _read(path)}
    assert set(resumed) == set(original)
    for key, r in original.items():
        assert resumed[key].get("text") == r.get("text") and resumed[key].get("wer") == r.get("wer")


def test_rerun_with_another_reference_or_more_files_redoes_only_those(sweep, whisper_tiny, tmp_path, monkeypatch):
    import shutil

    import tts_temp.compare.asr_sweep as compare_asr

    cfg, _ = sweep
    folder = tmp_path / "run"
    shutil.copytree(cfg.out_dir, folder)
    extra = tmp_path / "again.wav"
    shutil.copyfile(CLIP, extra)
    manifest = tmp_path / "refs.tsv"
    manifest.write_text(f"{CLIP.name}\tsomething else entirely\n", encoding="utf-8")
    done = []

    def fake(model, waveform, rows, reference, options=None, exact=True):
        done.extend([reference] * len(rows))
        return [{"text": "x", "wer": 1.0, "cer": 1.0, "avg_logprob": -1.0, "compression_ratio": 1.0,
                 "segment_temperatures": [], "fired": {}, "segments": [], "windows": []} for _ in rows]

    monkeypatch.setattr(compare_asr, "transcribe_file", fake)
    run_asr_sweep(AsrSweepConfig(audio=[CLIP, cfg.audio[1], extra], out_dir=folder, temperatures=TEMPS, seeds=SEEDS,
                                 references=manifest), model=whisper_tiny, log=lambda m: None)
    per_file = (len(TEMPS) + 1) * SEEDS
    assert done == ["something else entirely"] * per_file + [None] * per_file


@pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON)
def test_report_opens_in_chromium_with_every_image_and_audio(sweep):
    cfg, result = sweep
    seen = check_report(result.report)
    assert len(seen["images"]) == 4 and all(i["ok"] for i in seen["images"]), seen["images"]
    assert len(seen["audios"]) == 1 and all(a["ok"] for a in seen["audios"]), seen["audios"]
    assert seen["audios"][0]["duration"] == pytest.approx(3.0, abs=0.1)


@pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON)
def test_browser_check_notices_a_missing_file(tmp_path):
    """The check itself can fail: a report pointing at files that are not there."""
    (tmp_path / "report.html").write_text(
        "<!DOCTYPE html><html><body><img src='nope.png'><audio src='nope.wav'></audio></body></html>")
    seen = check_report(tmp_path / "report.html")
    assert [i["ok"] for i in seen["images"]] == [False] and [a["ok"] for a in seen["audios"]] == [False]


@pytest.mark.parametrize("args, message", [
    (["compare-asr", "missing.wav", "--out", "{out}"], "no such file"),
    (["compare-asr", str(CLIP), "--temperatures", "-0.5", "--out", "{out}"], "temperature"),
    (["compare-asr", str(CLIP), "--temperatures", "nan", "--out", "{out}"], "temperature"),
    (["compare-asr", str(CLIP), "--seeds", "0", "--out", "{out}"], "--seeds"),
    (["compare-asr", str(CLIP), "--references", "missing.tsv", "--out", "{out}"], "no such references"),
])
def test_bad_arguments_give_one_clear_line(args, message, tmp_path, capsys):
    code = main([a.format(out=tmp_path / "out") for a in args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
