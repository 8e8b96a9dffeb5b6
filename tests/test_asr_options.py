"""TranscribeOptions: frozen groups, never changed by a run, the same result as whisper's keywords."""
from __future__ import annotations

import copy
from dataclasses import FrozenInstanceError, replace

import pytest
from whisper.decoding import DecodingOptions

from asr_fixtures import model, waveform
from tts_temp.asr import transcribe
from tts_temp.asr.options import DecodeOptions, TranscribeOptions, make_options, options_from_keywords
from tts_temp.asr.transcribe import attempt_options


def test_every_group_is_frozen_and_the_whole_is_hashable():
    options = options_from_keywords(temperature=0.0, beam_size=2, suppress_tokens=[-1, 5], prefix=[1, 2],
                                    vad_filter=True, initial_prompt="hi", word_timestamps=True, top_k=3)
    hash(options)
    for group in (options, options.decoding, options.policy, options.sampling, options.prompt, options.words,
                  options.audio, options.audio.vad):
        with pytest.raises(FrozenInstanceError):
            setattr(group, "verbose" if group is options else next(iter(vars(group))), None)
    assert options.decoding.suppress_tokens == (-1, 5) and options.decoding.prefix == (1, 2)


@pytest.mark.parametrize("keywords", [dict(beam_size=5, best_of=5, patience=2.0), dict(suppress_tokens=[-1, 7]),
                                      dict(prefix=[50257], sample_len=20, task="translate", language="French")])
def test_an_attempts_options_are_whispers_from_the_same_keywords(keywords):
    """What `transcribe` built before the groups: DecodingOptions(**keywords) less beams above 0, best-of at 0."""
    decoding = DecodeOptions(**keywords, fp16=False, prompt=[1, 2, 3])
    for t in (0.0, 0.6):
        stock = dict(keywords, fp16=False, prompt=[1, 2, 3], language="fr" if "language" in keywords else None)
        for dropped in (("beam_size", "patience") if t > 0 else ("best_of",)):
            stock.pop(dropped, None)
        assert attempt_options(decoding, t) == DecodingOptions(**stock, temperature=t)


def test_a_run_leaves_its_options_as_they_were_and_equals_the_keywords_run():
    m, audio = model(), waveform("jfk")[:16000 * 4]
    options = make_options(m, options_from_keywords(temperature=(0.0, 0.6), logprob_threshold=0.0, seed=5,
                                                    word_timestamps=True))
    before = copy.deepcopy(options)
    ours = transcribe(m, audio, options)
    assert options == before and options.decoding.language is None and options.decoding.prompt is None
    keywords = transcribe(m, audio, temperature=(0.0, 0.6), logprob_threshold=0.0, seed=5, word_timestamps=True)
    assert ours.to_dict() == keywords.to_dict()
    assert [a.temperature for a in ours.segments[0].attempts] == [0.0, 0.6]


def test_options_come_one_way_or_the_other():
    with pytest.raises(TypeError, match="not both"):
        transcribe(model(), waveform("jfk")[:1600], TranscribeOptions(), temperature=0.0)
    with pytest.raises(TypeError, match="unknown transcribe option"):
        options_from_keywords(temprature=0.0)
    with pytest.raises(ValueError, match="task"):
        replace(TranscribeOptions().decoding, task="summarise")
