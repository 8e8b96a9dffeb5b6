"""The synthesis sweep end to end with a tiny voice trained in the test session."""
import csv
import json

import numpy as np
import pytest
import soundfile as sf

import tts_temp.tts
from browser import AVAILABLE, SKIP_REASON, check_report
from figures import capture_figures, table_shapes
from tts_temp.cli import main
from tts_temp.compare import metrics
from tts_temp.compare.tts_sweep import TtsSweepConfig, run_tts_sweep

SENTENCES = ["The birch canoe slid on the smooth planks.", "...", "Glue the sheet to the dark blue background."]
TEMPS = [0.0, 1.0]
SEEDS = 2


def _levenshtein(a, b):
    d = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(b) + 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] != b[j - 1]))
    return d[-1]


def _dtw(a, b):
    """Independent DTW: full accumulated-cost table, then backtrack to count the path length."""
    cost = np.sqrt(((a.T[:, None, :] - b.T[None, :, :]) ** 2).mean(-1))
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            acc[i, j] = cost[i - 1, j - 1] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    i, j, steps = n, m, 1
    while (i, j) != (1, 1):
        moves = [(acc[i - 1, j - 1], i - 1, j - 1), (acc[i - 1, j], i - 1, j), (acc[i, j - 1], i, j - 1)]
        _, i, j = min(moves, key=lambda x: x[0])
        steps += 1
    return acc[n, m] / steps


def _read(path):
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def voice(tiny_voice_path):
    return tts_temp.tts.load_voice(tiny_voice_path)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_voice_path, voice, whisper_tiny):
    folder = tmp_path_factory.mktemp("tts-sweep")
    sentences = folder / "sentences.txt"
    sentences.write_text("\n".join(SENTENCES) + "\n\n", encoding="utf-8")
    cfg = TtsSweepConfig(out_dir=folder / "run", sentences=sentences, temperatures=TEMPS, seeds=SEEDS,
                         voice=tiny_voice_path, max_seconds=4.0)
    with capture_figures() as shown:
        result = run_tts_sweep(cfg, voice=voice, asr_model=whisper_tiny, log=lambda m: None)
    result.shown = shown  # what each figure showed, read from matplotlib before saving
    return cfg, result


def test_every_item_is_recorded_and_the_bad_sentence_does_not_stop_the_sweep(sweep):
    cfg, result = sweep
    rows = [r for r in _read(cfg.out_dir / "results.jsonl") if r["kind"] == "tts"]
    assert len(rows) == len(SENTENCES) * len(TEMPS) * SEEDS
    bad = [r for r in rows if r["text"] == "..."]
    assert len(bad) == len(TEMPS) * SEEDS and all("nothing pronounceable" in r["error"] for r in bad)
    good = [r for r in rows if r["text"] != "..."]
    assert all(not r.get("error") for r in good) and result.failed == len(bad)
    assert {(r["sentence"], r["temperature"], r["seed"]) for r in good} == \
        {(i, t, s) for i in (0, 2) for t in TEMPS for s in range(SEEDS)}


def test_numbers_match_recomputation(sweep):
    cfg, _ = sweep
    rows = _read(cfg.out_dir / "results.jsonl")
    items = {(r["sentence"], r["temperature"], r["seed"]): r for r in rows if r["kind"] == "tts" and not r.get("error")}
    from whisper.normalizers import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    for r in items.values():
        wav, sr = sf.read(str(cfg.out_dir / r["wav"]), dtype="float32")
        assert sr == 22050 and r["duration"] == pytest.approx(len(wav) / sr)
        voiced = [f for f in r["f0_hz"] if f is not None]
        if voiced:
            assert r["f0_mean"] == pytest.approx(np.mean(voiced)) and r["f0_std"] == pytest.approx(np.std(voiced))
        else:
            assert r["f0_mean"] is None
        ref, hyp = " ".join(norm(r["text"]).split()), " ".join(norm(r["transcript"]).split())
        assert r["cer"] == pytest.approx(_levenshtein(ref, hyp) / len(ref))

    # At T = 0 the seed does not matter: identical wavs, zero distance.
    for i in (0, 2):
        a, _ = sf.read(str(cfg.out_dir / items[(i, 0.0, 0)]["wav"]))
        b, _ = sf.read(str(cfg.out_dir / items[(i, 0.0, 1)]["wav"]))
        assert np.array_equal(a, b)

    spreads = [r for r in rows if r["kind"] == "tts_spread"]
    assert {(r["sentence"], r["temperature"]) for r in spreads} == {(i, t) for i in (0, 2) for t in TEMPS}
    for r in spreads:
        mels = [metrics.log_mel_db(*sf.read(str(cfg.out_dir / w), dtype="float32")) for w in r["wavs"]]
        for a, b, d in r["pairs"]:
            assert d == pytest.approx(_dtw(mels[a], mels[b]), rel=1e-6, abs=1e-9)
        if r["temperature"] == 0.0:
            assert all(d == 0.0 for *_, d in r["pairs"])
        else:
            assert all(d > 0.1 for *_, d in r["pairs"])  # different seeds sound different at T = 1

    with open(cfg.out_dir / "summary.csv", newline="") as f:
        summary = {s["temperature"]: s for s in csv.DictReader(f)}
    assert list(summary) == ["0", "1"]
    for t, s in zip(TEMPS, summary.values()):
        group = [r for r in items.values() if r["temperature"] == t]
        assert int(s["items"]) == len(SENTENCES) * SEEDS and int(s["errors"]) == SEEDS
        assert float(s["cer_mean"]) == pytest.approx(np.mean([r["cer"] for r in group]), abs=1e-4)
        assert float(s["duration_mean"]) == pytest.approx(np.mean([r["duration"] for r in group]), abs=1e-4)
        dists = [d for r in spreads if r["temperature"] == t for *_, d in r["pairs"]]
        assert float(s["seed_distance_db"]) == pytest.approx(np.mean(dists), abs=1e-4)


def test_figures_show_the_sweep(sweep):
    cfg, result = sweep
    shown = result.shown
    assert set(shown) == {"mel_grid.png", "f0_contours.png", "cer_spread_vs_temperature.png", "emission_gaussian.png",
                          "naturalness_vs_temperature.png"}
    for name in shown:
        assert (cfg.out_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    grid = shown["mel_grid.png"]
    assert len(grid) == len(TEMPS) * SEEDS and all(ax["images"] == 1 for ax in grid)
    assert [ax["title"] for ax in grid[:SEEDS]] == [f"seed {s}" for s in range(SEEDS)]
    summary = {r["temperature"]: r for r in result.summary}
    cer, spread = shown["cer_spread_vs_temperature.png"]
    assert cer["title"] == "Intelligibility vs T" and cer["lines"][0][0] == TEMPS
    assert cer["lines"][0][1] == pytest.approx([summary[f"{t:g}"]["cer_mean"] for t in TEMPS])
    assert spread["lines"][0][1] == pytest.approx([summary[f"{t:g}"]["seed_distance_db"] for t in TEMPS])
    f0 = shown["f0_contours.png"]
    first = [r for r in result.records if not r.get("error") and r["sentence"] == 0]
    for ax, t in zip(f0, TEMPS):
        assert ax["title"] == f"T = {t:g}"
        tracks = [r["f0_hz"] for r in first if r["temperature"] == t and r["f0_hz"]]
        assert len(ax["lines"]) == len(tracks)
        for (_, y, _), hz in zip(ax["lines"], tracks):
            assert np.allclose(y, [np.nan if v is None else v for v in hz], equal_nan=True)
    natural = shown["naturalness_vs_temperature.png"][0]
    assert natural["title"] == "Naturalness vs T" and natural["lines"][0][0] == TEMPS
    assert natural["lines"][0][1] == pytest.approx([summary[f"{t:g}"]["dnsmos_ovrl_mean"] for t in TEMPS])
    emission = shown["emission_gaussian.png"][0]
    assert [l[2] for l in emission["lines"]][0] == "T = 0 (the mean)" and len(emission["lines"]) == 5


def test_report_tables_line_up(sweep):
    cfg, result = sweep
    for table in table_shapes(result.report.read_text(encoding="utf-8")):
        assert table["rows"] and all(n == table["header"] for n in table["rows"]), table


def test_naturalness_column_and_figure(sweep):
    cfg, result = sweep
    items = [json.loads(l) for l in (cfg.out_dir / "results.jsonl").read_text().splitlines()]
    ok = [r for r in items if r.get("kind") == "tts" and not r.get("error")]
    assert ok and all(1.0 <= r["dnsmos_ovrl"] <= 5.0 for r in ok)
    with open(cfg.out_dir / "summary.csv", newline="") as f:
        summary = {s["temperature"]: s for s in csv.DictReader(f)}
    for t, s in zip(TEMPS, summary.values()):
        want = np.mean([r["dnsmos_ovrl"] for r in ok if r["temperature"] == t])
        assert float(s["dnsmos_ovrl_mean"]) == pytest.approx(want, abs=1e-4)
    png = cfg.out_dir / "naturalness_vs_temperature.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "naturalness_vs_temperature.png" in result.report.read_text()


def test_distill_mos_beside_dnsmos(sweep):
    from tts_temp.naturalness import distill_mos, distill_mos_available, dnsmos

    if not distill_mos_available():
        pytest.skip("distillmos is not installed (scripts/setup.sh installs it)")
    cfg, result = sweep
    ok = [r for r in _read(cfg.out_dir / "results.jsonl") if r.get("kind") == "tts" and not r.get("error")]
    assert ok and all(1.0 <= r["distill_mos"] <= 5.0 and 1.0 <= r["dnsmos_ovrl"] <= 5.0 for r in ok)
    wavs = [sf.read(str(cfg.out_dir / r["wav"]), dtype="float32") for r in ok]
    again = distill_mos([w for w, _ in wavs], wavs[0][1])   # from the written (16-bit) wavs, one batch
    assert [r["distill_mos"] for r in ok] == pytest.approx(again, abs=1e-3)   # the numbers are the files'
    assert [r["dnsmos_ovrl"] for r in ok] == pytest.approx([dnsmos(w, sr).ovrl for w, sr in wavs], abs=1e-3)
    with open(cfg.out_dir / "summary.csv", newline="") as f:
        summary = {s["temperature"]: s for s in csv.DictReader(f)}
    for t, s in zip(TEMPS, summary.values()):
        want = [r["distill_mos"] for r in ok if r["temperature"] == t]
        assert float(s["distill_mos_mean"]) == pytest.approx(np.mean(want), abs=1e-4)
        assert float(s["distill_mos_std"]) == pytest.approx(np.std(want), abs=1e-4)
    natural = result.shown["naturalness_vs_temperature.png"][0]
    named = {label: (x, y) for x, y, label in natural["lines"] if not label.startswith("_")}
    assert set(named) == {"DNSMOS OVRL", "Distill-MOS"} and named["Distill-MOS"][0] == TEMPS
    means = [float(summary[f"{t:g}"]["distill_mos_mean"]) for t in TEMPS]
    assert named["Distill-MOS"][1] == pytest.approx(means, abs=1e-4)   # summary.csv keeps 4 decimals
    page = result.report.read_text(encoding="utf-8")
    assert "distill_mos_mean" in page and "Distill-MOS" in page


def test_without_distillmos_one_line_and_dnsmos_still_scores(tmp_path, tiny_voice_path, voice, whisper_tiny,
                                                             monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distillmos" else real(name, *a))
    cfg = TtsSweepConfig(out_dir=tmp_path / "run", sentences=SENTENCES[:1], temperatures=[0.0], seeds=1,
                         voice=tiny_voice_path, max_seconds=4.0)
    said = []
    with capture_figures() as shown:
        result = run_tts_sweep(cfg, voice=voice, asr_model=whisper_tiny, log=said.append)
    assert result.failed == 0
    assert len(said) == 1 and "Distill-MOS is not installed" in said[0] and "--no-deps distillmos" in said[0]
    (row,) = [r for r in result.records if r["kind"] == "tts"]
    assert 1.0 <= row["dnsmos_ovrl"] <= 5.0 and "distill_mos" not in row
    assert np.isnan(result.summary[0]["distill_mos_mean"])
    labels = [label for *_, label in shown["naturalness_vs_temperature.png"][0]["lines"] if not label.startswith("_")]
    assert labels == ["DNSMOS OVRL"]


def test_emission_gaussian_is_the_voices_own(sweep, voice):
    import torch

    from tts_temp.compare.tts_sweep import emission_gaussian
    from tts_temp.tts.synthesize import text_ids

    e = emission_gaussian(voice, SENTENCES[0])
    ids = text_ids(voice, SENTENCES[0])[0]
    with torch.no_grad():
        states, _ = voice.model.encoder(ids[None], torch.tensor([len(ids)]))
        a, sigma, _ = voice.model.hmm.neutral_emissions(states)
    assert e["mean"] == pytest.approx(float(a[0, e["state"], e["channel"]]))
    assert e["std"] == pytest.approx(float(sigma[0, e["state"], e["channel"]])) and e["std"] > 0


def test_resume_skips_finished_items(sweep, voice, whisper_tiny, monkeypatch):
    cfg, _ = sweep
    path = cfg.out_dir / "results.jsonl"
    before = {r["key"]: r for r in _read(path)}
    batches = []
    real = tts_temp.tts.synthesize_batch

    def counting(voice, text, temperatures, seeds, options=None):
        batches.append(list(zip(temperatures, seeds)))
        return real(voice, text, temperatures, seeds, options)

    monkeypatch.setattr(tts_temp.tts, "synthesize_batch", counting)
    rerun = TtsSweepConfig(out_dir=cfg.out_dir, sentences=cfg.sentences, temperatures=TEMPS, seeds=SEEDS,
                           voice=cfg.voice, max_seconds=4.0)
    run_tts_sweep(rerun, voice=voice, asr_model=whisper_tiny, log=lambda m: None)
    # Only the bad sentence is tried again (failed items are retried); nothing good is redone.
    assert [len(b) for b in batches] == [len(TEMPS) * SEEDS]

    # Killed after the first sentence's T=0 items: only the missing pairs are synthesised again.
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    keep = [l for l in lines if json.loads(l).get("sentence") != 2 or
            (json.loads(l)["kind"] == "tts" and json.loads(l)["temperature"] == 0.0)]
    path.write_text("".join(keep), encoding="utf-8")
    batches.clear()
    run_tts_sweep(rerun, voice=voice, asr_model=whisper_tiny, log=lambda m: None)
    assert sorted(p for b in batches for p in b) == sorted([(1.0, s) for s in range(SEEDS)] +
                                                           [(t, s) for t in TEMPS for s in range(SEEDS)])
    after = {r["key"]: r for r in _read(path)}
    assert set(after) == set(before)
    for key, r in before.items():
        if r["kind"] == "tts" and not r.get("error") and r["temperature"] == 0.0:
            assert after[key]["duration"] == r["duration"]


@pytest.mark.skipif(not AVAILABLE, reason=SKIP_REASON)
def test_report_opens_in_chromium_with_every_image_and_audio(sweep):
    cfg, result = sweep
    seen = check_report(result.report)
    assert len(seen["images"]) == 5 and all(i["ok"] for i in seen["images"]), seen["images"]
    good = 2 * len(TEMPS) * SEEDS
    assert len(seen["audios"]) == good and all(a["ok"] and a["duration"] > 0 for a in seen["audios"]), seen["audios"]


@pytest.mark.parametrize("lines, args, message", [
    ("", [], "no sentences"),
    ("\n  \n", [], "no sentences"),
    ("Hello.", ["--temperatures", "0", "-1"], "temperature"),
    ("Hello.", ["--seeds", "0"], "--seeds"),
    (None, [], "no such sentences file"),
])
def test_bad_arguments_give_one_clear_line(lines, args, message, tmp_path, capsys):
    sentences = tmp_path / "s.txt"
    if lines is not None:
        sentences.write_text(lines, encoding="utf-8")
    code = main(["compare-tts", "--sentences", str(sentences), "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
