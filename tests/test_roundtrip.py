"""Verified synthesis (issue 12): the schedule, the record, batching of steps, and the command.

The recogniser is a plain callable, so most tests hand in a scripted one (it "hears" what the test
says it hears, call by call) and check every decision exactly; one test runs the real tiny.en.
"""
import json

import numpy as np
import pytest

from tts_temp import verify
from tts_temp.errors import UserError
from tts_temp.verify import Candidate, VerifyPolicy, default_retries, parse_schedule
from tts_temp.tts import load_voice
from tts_temp.tts import synthesize_batch as tts_batch

TEXT = "Glue the sheet to the dark blue background."
WIDE = (1e-3, 1e6)   # characters per second: no length is implausible


class Scripted:
    """Hears `script[k]` on the k-th call (the last entry from then on); counts calls."""

    def __init__(self, *script):
        self.script, self.calls = list(script), 0

    def __call__(self, wav, sr):
        assert wav.dtype == np.float32 and sr == 22050
        said = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return said


@pytest.fixture(scope="module")
def voice(tiny_voice_path):
    return load_voice(tiny_voice_path)


def test_default_retries_mirror_whispers_schedule():
    c = Candidate
    assert default_retries(0.667) == ((c(0.667, 1), c(0.667, 2)), (c(0.6), c(0.4), c(0.2), c(0.0)))
    assert default_retries(1.0) == ((c(1.0, 1), c(1.0, 2)), (c(0.8), c(0.6), c(0.4), c(0.2), c(0.0)))
    assert default_retries(0.2) == ((c(0.2, 1), c(0.2, 2)), (c(0.0),))
    assert VerifyPolicy().steps(0.5)[0] == (c(0.5),)   # the asked draw comes first, alone


def test_schedule_parsing_and_bad_policies():
    assert parse_schedule(["0.5,0.5@2", " 0 "]) == ((Candidate(0.5), Candidate(0.5, 2)), (Candidate(0.0),))
    for bad in (["-0.5"], ["x"], ["0.5@-1"], ["nan"], [","]):
        with pytest.raises(UserError):
            parse_schedule(bad)
    for cer in (0, -0.1, 1.5, float("nan")):
        with pytest.raises(UserError, match="verify-cer"):
            VerifyPolicy(max_cer=cer)
    VerifyPolicy(max_cer=1)


def test_a_first_draw_that_passes_is_the_plain_output(voice):
    rec = Scripted(TEXT)
    out = verify.synthesize_batch(voice, TEXT, [0.667], [3], verify=True, recogniser=rec,
                                     policy=VerifyPolicy(chars_per_second=WIDE))
    plain = tts_batch(voice, TEXT, [0.667], [3])
    assert np.array_equal(out.waveforms[0], plain.waveforms[0]) and rec.calls == 1 and out.batches == 1
    record = out.records[0].to_dict()
    assert record["outcome"] == "passed" and record["kept"] == 0 and not out.records[0].fired
    (a,) = record["attempts"]
    assert set(a) == {"temperature", "seed", "transcript", "cer", "seconds", "accepted", "reason"}
    assert (a["temperature"], a["seed"], a["cer"], a["accepted"]) == (0.667, 3, 0.0, True)
    assert a["seconds"] == pytest.approx(len(plain.waveforms[0]) / 22050, abs=1e-3)


def test_misses_draw_again_and_the_kept_draw_reproduces(voice):
    rec = Scripted("glue the", "sheet to", TEXT)
    out = verify.synthesize_batch(voice, TEXT, [0.667], [3], verify=True, recogniser=rec,
                                     policy=VerifyPolicy(chars_per_second=WIDE))
    r = out.records[0]
    assert [(a.temperature, a.seed, a.accepted) for a in r.attempts] == \
        [(0.667, 3, False), (0.667, 4, False), (0.667, 5, True)]
    assert r.attempts[0].reason.startswith("cer ") and "> 0.1" in r.attempts[0].reason
    assert r.kept == 2 and r.passed and r.fired and out.batches == 2
    # the same batch (float rounding of a batched model depends on the batch, so compare like with like)
    again = tts_batch(voice, TEXT, [0.667, 0.667], [4, 5])
    assert np.array_equal(out.waveforms[0], again.waveforms[1])


def test_when_nothing_passes_the_best_cer_is_kept_and_every_attempt_recorded(voice):
    rec = Scripted("x", "xx", "xxx", "glue the sheet to the dark blue", "x")
    out = verify.synthesize_batch(voice, TEXT, [0.667], [0], verify=True, recogniser=rec,
                                     policy=VerifyPolicy(chars_per_second=WIDE))
    r = out.records[0]
    assert [(a.temperature, a.seed) for a in r.attempts] == \
        [(0.667, 0), (0.667, 1), (0.667, 2), (0.6, 0), (0.4, 0), (0.2, 0), (0.0, 0)]
    assert not any(a.accepted for a in r.attempts) and r.kept == 3 and r.outcome.startswith("best by cer")
    step3 = tts_batch(voice, TEXT, [0.6, 0.4, 0.2, 0.0], [0] * 4)
    assert out.batches == 3 and np.array_equal(out.waveforms[0], step3.waveforms[0])


def test_candidates_of_one_step_are_one_batch_across_the_whole_call(voice, monkeypatch):
    import tts_temp.tts as tts

    calls = []

    def spy(voice, text, temperatures, seeds, *args):
        calls.append(list(zip(temperatures, seeds)))
        return tts_batch(voice, text, temperatures, seeds, *args)

    monkeypatch.setattr(tts, "synthesize_batch", spy)
    out = verify.synthesize_batch(voice, TEXT, [0.5, 0.0], [1, 7], verify=True, recogniser=Scripted("no"),
                                     policy=VerifyPolicy(chars_per_second=WIDE))
    assert calls == [[(0.5, 1), (0.0, 7)], [(0.5, 2), (0.5, 3)], [(0.4, 1), (0.2, 1), (0.0, 1)]]
    # T=0 with threshold durations is deterministic: other seeds are the same output, not retried
    assert [len(r.attempts) for r in out.records] == [6, 1]


def test_verified_synthesis_climbs_the_one_ladder(voice, monkeypatch):
    """The steps are `sampling.ladder`'s, and the record is its Climb (the type Whisper's fallback shares)."""
    import tts_temp.verify.synthesis as synthesis
    from tts_temp.sampling.ladder import Climb

    plans, real = [], synthesis.climb_many
    monkeypatch.setattr(synthesis, "climb_many", lambda p, *rest: plans.append(p) or real(p, *rest))
    out = verify.synthesize_batch(voice, TEXT, [0.5], [1], verify=True, recogniser=Scripted("no", TEXT),
                                  policy=VerifyPolicy(chars_per_second=WIDE))
    assert plans == [[[[(0.5, 1)], [(0.5, 2), (0.5, 3)], [(0.4, 1), (0.2, 1), (0.0, 1)]]]]   # one call, one item
    r = out.records[0]
    assert isinstance(r, Climb) and r.kept_attempt.seed == 2 and r.passed and len(r.attempts) == 2


def test_an_implausible_length_is_a_miss(voice):
    out = verify.synthesize_batch(voice, TEXT, [0.0], [None], verify=True, recogniser=Scripted(TEXT),
                                     policy=VerifyPolicy(chars_per_second=(1e4, 2e4)))
    (a,) = out.records[0].attempts
    assert not a.accepted and "duration" in a.reason and a.cer == 0
    assert isinstance(a.seed, int)   # an unseeded run records the seed it drew


def test_the_api_result_unpacks_like_tts_synthesize(voice):
    wav, sr = verify.synthesize(voice, TEXT, temperature=0.3, seed=2)
    speech = verify.synthesize(voice, TEXT, temperature=0.3, seed=2, verify=True, recogniser=Scripted(TEXT),
                                  policy=VerifyPolicy(chars_per_second=WIDE))
    assert sr == speech.sample_rate == 22050 and np.array_equal(wav, speech.waveform)
    assert speech.record.to_dict()["text"] == TEXT
    import tts_temp

    top = tts_temp.synthesize(voice, TEXT, temperature=0.3, seed=2, verify=True, recogniser=Scripted(TEXT),
                              policy=VerifyPolicy(chars_per_second=WIDE))
    assert np.array_equal(top.waveform, wav) and top.record.passed


def test_the_real_recogniser_listens(whisper_tiny):
    """tiny.en hears the shipped voice say the sentence, hears real speech as itself, and its CER is the record's.

    The shipped voice (not the tests' tiny one, which mumbles) speaks the sentence clearly at T=0, so
    what was heard must be the sentence; the JFK clip must be heard as its own words, not as TEXT.
    """
    from tts_temp import score
    from tts_temp.audio import load
    from tts_temp.demo import demo_clip

    listen = verify.WhisperRecogniser(whisper_tiny)
    out = verify.synthesize_batch(load_voice("slt-world"), TEXT, [0.0], [0], verify=True,
                                     policy=VerifyPolicy(retries=()), recogniser=listen)
    (a,) = out.records[0].attempts
    assert score.whisper_normalise(a.transcript) == score.whisper_normalise(TEXT), a.transcript
    assert a.cer == score.cer(TEXT, a.transcript) == 0.0 and a.accepted and out.records[0].outcome == "passed"
    heard = score.whisper_normalise(listen(load(demo_clip(), 16000), 16000))
    assert "ask not what your country can do for you" in heard and "glue" not in heard, heard


# --- the command ------------------------------------------------------------------------------------------


def run(capsys, *argv):
    from tts_temp.cli import main

    code = main(["synthesize", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_verify_writes_a_record_beside_each_wav(tiny_voice_path, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(verify, "load_recogniser", lambda name: Scripted("nothing like it", TEXT))
    out = tmp_path / "a.wav"
    code, stdout, _ = run(capsys, TEXT, "--voice", tiny_voice_path, "--seed", "1", "--out", out, "--verify",
                          "--verify-schedule", "0.3@1", "0")
    assert code == 0 and out.exists() and "verify:" in stdout
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["text"] == TEXT and [(a["temperature"], a["seed"]) for a in record["attempts"]] == \
        [(0.667, 1), (0.3, 2)]
    lines = tmp_path / "lines.txt"
    lines.write_text("Glue the sheet.\nThe box was thrown beside the truck.\n")
    code, _, _ = run(capsys, "--text-file", lines, "--voice", tiny_voice_path, "--out-dir", tmp_path / "o",
                     "--verify-cer", "1")
    assert code == 0 and sorted(p.name for p in (tmp_path / "o").iterdir()) == \
        ["0001.json", "0001.wav", "0002.json", "0002.wav"]


@pytest.mark.parametrize("argv, message", [
    (["--verify-cer", "0"], "--verify-cer must be in (0, 1]"),
    (["--verify-cer", "1.5"], "--verify-cer must be in (0, 1]"),
    (["--verify-cer", "nan"], "--verify-cer must be in (0, 1]"),
    (["--verify-schedule", "-0.5"], "--verify-schedule"),
    (["--verify-schedule", "0.5@x"], "--verify-schedule"),
    (["--verify", "--verify-model", "no-such-model"], "--verify-model"),
])
def test_bad_verify_options_are_one_line_and_no_file(argv, message, tiny_voice_path, tmp_path, capsys):
    out = tmp_path / "x.wav"
    code, _, err = run(capsys, TEXT, "--voice", tiny_voice_path, "--out", out, *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []
