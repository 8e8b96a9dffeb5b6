"""A file's (temperature, seed) grid decoded together equals each item transcribed alone.

Every check compares a grid row with `transcribe(model, audio, temperature=T, seed=S, **options)`
run on its own: the whole record (text, segments, every attempt's numbers), not just the text.
"""
from pathlib import Path

import numpy as np
import pytest

from tts_temp import audio as audio_io
from tts_temp.asr import transcribe
from tts_temp.asr.grid import GridRow, transcribe_grid
from tts_temp.asr.inference import EncodedWindow

DATA = Path(__file__).parent / "data"
SHORT = DATA / "librivox_sense_0880.wav"  # 3 s
LONG_PARTS = ["jfk", "librivox_sense_0870", "librivox_sense_0880", "librivox_sense_0890", "librivox_sense_0920",
              "librivox_sense_0930"]  # 35.7 s together: two windows or more, seeks that depend on the text


def _alone(model, wav, row: GridRow, **options):
    schedule = {} if row.temperature is None else {"temperature": row.temperature}
    return transcribe(model, wav, seed=row.seed, **schedule, **options)


def _check_rows_equal_alone(model, wav, rows, grid, **options):
    for row, got in zip(rows, grid.transcripts):
        assert not isinstance(got, BaseException), (row, got)
        want = _alone(model, wav, row, **options)
        assert got.to_dict() == want.to_dict(), row
        assert [[a.seed for a in s.attempts] for s in got.segments] == \
            [[a.seed for a in s.attempts] for s in want.segments], row  # the same seed rule per attempt


def _one_pass_per_window(grid, encodes):
    """Each distinct window (its start frame) encoded once for the whole grid."""
    seeks = [seek for stats in grid.stats for seek in stats.seeks]
    assert grid.encoder_passes == len(encodes) == len(set(seeks)) < len(seeks)


@pytest.fixture
def encodes(monkeypatch):
    """Counts encoder passes (EncodedWindow.encode calls)."""
    calls = []
    real = EncodedWindow.encode.__func__

    def counting(cls, model, mel):
        calls.append(1)
        return real(cls, model, mel)

    monkeypatch.setattr(EncodedWindow, "encode", classmethod(counting))
    return calls


def test_greedy_rows_are_identical_decoded_once_and_shared(whisper_tiny, encodes):
    wav = audio_io.load(SHORT, 16000)
    rows = [GridRow(0.0, s) for s in range(3)] + [GridRow(None, s) for s in range(2)]
    grid = transcribe_grid(whisper_tiny, wav, rows)
    assert len(encodes) == 1 and grid.encoder_passes == 1  # one window, one encoder pass for 5 rows
    for i, stats in enumerate(grid.stats):  # T = 0 was decoded once and every row says so
        assert stats.deterministic and stats.shared == stats.attempts == 1
        assert stats.shared_with == set(range(len(rows))) - {i}
    _check_rows_equal_alone(whisper_tiny, wav, rows, grid)


def test_beam_rows_are_identical(whisper_tiny):
    wav = audio_io.load(DATA / "librivox_sense_0930.wav", 16000)
    rows = [GridRow(0.0, s) for s in range(2)]
    grid = transcribe_grid(whisper_tiny, wav, rows, beam_size=3)
    assert all(s.deterministic and s.shared == 1 for s in grid.stats)
    _check_rows_equal_alone(whisper_tiny, wav, rows, grid, beam_size=3)


def test_sampled_rows_replay_alone_exactly(whisper_tiny, encodes):
    """Every sampled row, replayed alone, gives the same record: 0 differing rows of 12 here (the
    default computes each sampled row's decoder pass on its own, so the sums are the item's own)."""
    wav = audio_io.load(DATA / "librivox_sense_0890.wav", 16000)
    rows = [GridRow(t, s) for t in (0.3, 0.7, 1.0) for s in range(3)] + [GridRow(None, s) for s in range(3)]
    grid = transcribe_grid(whisper_tiny, wav, rows, top_k=50)
    _one_pass_per_window(grid, encodes)
    sampled = [s for s in grid.stats if not s.deterministic]
    assert len(sampled) == 9 and all(s.batched >= 1 and s.largest_batch == 9 for s in sampled)
    _check_rows_equal_alone(whisper_tiny, wav, rows, grid, top_k=50)


def test_best_of_rows_replay_alone(whisper_tiny):
    wav = audio_io.load(SHORT, 16000)
    rows = [GridRow(t, s) for t in (0.5, 1.0) for s in range(2)]
    grid = transcribe_grid(whisper_tiny, wav, rows, best_of=3, top_p=0.9)
    _check_rows_equal_alone(whisper_tiny, wav, rows, grid, best_of=3, top_p=0.9)


def test_batched_sampling_is_close_and_greedy_stays_identical(whisper_tiny):
    """One batched decoder pass for all sampled rows: float32 sums may round differently from a
    one-row pass, so a row may differ from its replay; where the tokens agree, the numbers agree
    to rounding, and greedy rows are untouched (they are never in the sampled batch)."""
    wav = audio_io.load(DATA / "librivox_sense_0890.wav", 16000)
    rows = [GridRow(0.0, 0)] + [GridRow(t, s) for t in (0.5, 1.0) for s in range(3)]
    grid = transcribe_grid(whisper_tiny, wav, rows, exact=False)
    assert not grid.exact
    _check_rows_equal_alone(whisper_tiny, wav, rows[:1], grid)
    same_tokens = 0
    for row, got in zip(rows[1:], grid.transcripts[1:]):
        want = _alone(whisper_tiny, wav, row)
        if [s.tokens for s in got.segments] == [s.tokens for s in want.segments]:
            same_tokens += 1
            for a, b in zip(got.segments, want.segments):
                assert a.avg_logprob == pytest.approx(b.avg_logprob, abs=1e-4)
                assert a.no_speech_prob == pytest.approx(b.no_speech_prob, abs=1e-4)
    assert same_tokens >= len(rows[1:]) - 1  # replay rate measured by scripts/bench_sweep.py --replay: 1 of 40 texts differ


def test_each_row_climbs_its_own_ladder(whisper_tiny):
    """With a log-prob threshold between the seeds' first attempts, some rows accept at their first
    temperature and stop while the others move on to their next; each row still equals its replay."""
    wav = audio_io.load(SHORT, 16000)
    ladder = (0.4, 0.7, 1.0)
    rows = [GridRow(ladder, s) for s in range(6)]
    every_step = transcribe_grid(whisper_tiny, wav, rows, logprob_threshold=0.0)  # nothing passes: full ladders
    firsts = sorted(t.segments[0].attempts[0].avg_logprob for t in every_step.transcripts)
    assert all(len(t.segments[0].attempts) == len(ladder) for t in every_step.transcripts)
    threshold = (firsts[2] + firsts[3]) / 2  # half the rows pass at 0.4
    grid = transcribe_grid(whisper_tiny, wav, rows, logprob_threshold=threshold)
    lengths = [len(t.segments[0].attempts) if t.segments else len(t.skipped[0].attempts) for t in grid.transcripts]
    assert lengths.count(1) == 3 and min(lengths[i] for i in range(6) if lengths[i] > 1) >= 2, lengths
    assert [s.attempts for s in grid.stats] == lengths
    _check_rows_equal_alone(whisper_tiny, wav, rows, grid, logprob_threshold=threshold)


def test_long_audio_rows_regroup_by_window(whisper_tiny, encodes):
    """On 36 s of speech the rows' second windows start where each row's own text ended: the rows
    are regrouped by window, a window is encoded once for all rows that reach it, and each row
    still equals its replay."""
    wav = np.concatenate([audio_io.load(DATA / f"{n}.wav", 16000) for n in LONG_PARTS])
    assert len(wav) / 16000 > 30
    rows = [GridRow(0.0, 0), GridRow(0.0, 1), GridRow(0.7, 0), GridRow(1.0, 0), GridRow(1.0, 1), GridRow(None, 0)]
    grid = transcribe_grid(whisper_tiny, wav, rows)
    seeks = [tuple(s.seeks) for s in grid.stats]
    assert all(len(s) >= 2 and s[0] == 0 for s in seeks)
    assert len({s[1] for s in seeks}) > 1  # the rows diverged after the first window
    _one_pass_per_window(grid, encodes)
    _check_rows_equal_alone(whisper_tiny, wav, rows, grid)


def test_options_are_checked_per_row_before_any_work(whisper_tiny):
    with pytest.raises(TypeError):
        transcribe_grid(whisper_tiny, np.zeros(16000, np.float32), [GridRow(0.0, 0)], temperature=0.5)
    with pytest.raises(ValueError):
        transcribe_grid(whisper_tiny, np.zeros(16000, np.float32), [])
    with pytest.raises(Exception, match="top_p"):
        transcribe_grid(whisper_tiny, str(DATA / "missing.wav"), [GridRow(1.0, 0)], top_p=2.0)


def test_word_timestamps_rows_equal_alone(whisper_tiny):
    """Word alignment runs in the rows' own loops (one at a time): the words and times are the item's."""
    wav = audio_io.load(SHORT, 16000)
    rows = [GridRow(0.0, 0), GridRow(1.0, 0), GridRow(1.0, 1)]
    grid = transcribe_grid(whisper_tiny, wav, rows, word_timestamps=True)
    # every segment with text has its words (whisper clears text, tokens and words of an empty one)
    assert all(s.words for t in grid.transcripts for s in t.segments if s.text.strip())
    assert sum(len(s.words) for t in grid.transcripts for s in t.segments) >= 3 * 8
    _check_rows_equal_alone(whisper_tiny, wav, rows, grid, word_timestamps=True)
