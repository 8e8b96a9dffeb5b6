"""The sweep's numbers and its results file, on small hand-made inputs."""
import json
import math

import numpy as np
import pytest

from tts_temp.compare import metrics
from tts_temp.compare.results import ResultsFile, check_run_settings
from tts_temp.compare.checks import check_seeds, check_temperatures
from tts_temp.errors import UserError


def test_edit_distance_counts_each_kind_of_edit():
    assert metrics.edit_distance("kitten", "sitting") == 3
    assert metrics.edit_distance([], ["a", "b"]) == 2
    assert metrics.edit_distance(["a", "b"], []) == 2
    assert metrics.edit_distance("abc", "abc") == 0
    assert metrics.edit_distance("abc", "acb") == 2


def test_edit_distance_matches_a_full_table_on_random_word_lists():
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat"]
    for _ in range(200):
        a = list(rng.choice(words, rng.integers(0, 9)))
        b = list(rng.choice(words, rng.integers(0, 9)))
        table = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
        table[:, 0], table[0, :] = np.arange(len(a) + 1), np.arange(len(b) + 1)
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                table[i, j] = min(table[i - 1, j] + 1, table[i, j - 1] + 1, table[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
        assert metrics.edit_distance(a, b) == table[-1, -1]


def test_wer_and_cer_use_whispers_normaliser():
    # Case, punctuation and "Mr." vs "mister" are not errors after normalisation.
    assert metrics.wer("Mr. Smith went home.", "mister smith went home") == 0.0
    assert metrics.wer("the cat sat", "the cat sat down") == pytest.approx(1 / 3)
    assert metrics.wer("the cat sat", "a cat") == pytest.approx(2 / 3)
    assert metrics.cer("abc", "abd") == pytest.approx(1 / 3)
    assert metrics.wer("", "") == 0.0 and metrics.wer("", "word") == 1.0


def test_pairwise_wer_is_zero_for_identical_texts_and_symmetric():
    assert metrics.pairwise_wer(["a b c", "a b c", "a b c"]) == 0.0
    assert metrics.pairwise_wer(["only one"]) == 0.0
    d = metrics.pairwise_wer(["a b", "a c d"])
    assert d == pytest.approx((metrics.wer("a b", "a c d") + metrics.wer("a c d", "a b")) / 2)
    assert d == pytest.approx(metrics.pairwise_wer(["a c d", "a b"]))


def test_dtw_distance_is_zero_for_the_same_sound_and_ignores_timing():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(80, 50)) * 10
    assert metrics.dtw_distance(a, a) == 0.0
    stretched = np.repeat(a, 2, axis=1)  # same frames, twice as slow
    assert metrics.dtw_distance(a, stretched) == pytest.approx(0.0, abs=1e-12)
    b = a + 3.0  # every band 3 dB louder
    assert metrics.dtw_distance(a, b) == pytest.approx(3.0, abs=0.5)


def test_f0_of_a_pure_tone():
    sr = 22050
    t = np.arange(int(1.0 * sr)) / sr
    track = metrics.f0_track((0.5 * np.sin(2 * np.pi * 220.0 * t)).astype(np.float32), sr)
    mean, std = track.stats()
    assert mean == pytest.approx(220.0, rel=0.02) and std < 5.0
    assert math.isnan(metrics.f0_track(np.zeros(100, np.float32), sr).stats()[0])


def test_argument_checks():
    assert check_temperatures([0, 0.5, 0.5, 1]) == [0.0, 0.5, 1.0]
    for bad in ([-0.1], [float("nan")], [float("inf")], []):
        with pytest.raises(UserError):
            check_temperatures(bad)
    assert check_seeds(3) == 3
    for bad in (0, -1):
        with pytest.raises(UserError):
            check_seeds(bad)


def test_results_file_resumes_and_cuts_a_torn_line(tmp_path):
    path = tmp_path / "results.jsonl"
    res = ResultsFile(path)
    res.append({"key": "a", "value": 1.0})
    res.append({"key": "b", "value": float("nan")})   # stored as null: JSON has no NaN
    res.append({"key": "c", "error": "boom"})
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"key": "d", "val')                 # a run killed mid-write
    again = ResultsFile(path)
    assert again.done("a") and again.done("b") and not again.done("c") and not again.done("d")
    assert again.get("b")["value"] is None
    again.append({"key": "c", "value": 3})            # a failed item retried: last record wins
    lines = path.read_text(encoding="utf-8").splitlines()
    assert all(json.loads(l) for l in lines) and len(lines) == 4
    assert ResultsFile(path).done("c")


def test_run_settings_must_match_to_resume(tmp_path):
    check_run_settings(tmp_path, {"sweep": "asr", "model": "tiny.en"})
    check_run_settings(tmp_path, {"sweep": "asr", "model": "tiny.en"})
    with pytest.raises(UserError, match="model"):
        check_run_settings(tmp_path, {"sweep": "asr", "model": "base.en"})
