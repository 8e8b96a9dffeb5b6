"""Each ASR default is defined once (asr.fallback, asr.options, whisper's own DecodingOptions): the
CLI, the server, the sweep and the Python API start from the same values, and those are whisper's."""
from __future__ import annotations

import argparse
import inspect
from dataclasses import fields

import whisper

from tts_temp.asr.fallback import WHISPER_SCHEDULE, WHISPER_STEP, FallbackPolicy, schedule
from tts_temp.asr.options import TranscribeOptions, options_from_keywords


def _parse(register, *argv):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def test_the_fallback_defaults_are_whispers():
    stock = inspect.signature(whisper.transcribe).parameters
    policy = FallbackPolicy()
    assert policy.temperatures == WHISPER_SCHEDULE == tuple(stock["temperature"].default)
    assert schedule([0.0], WHISPER_STEP) == WHISPER_SCHEDULE
    for name in ("compression_ratio_threshold", "logprob_threshold", "no_speech_threshold"):
        assert getattr(policy, name) == stock[name].default, name


def test_the_python_api_keywords_start_from_the_dataclass_defaults():
    assert options_from_keywords() == TranscribeOptions()


def test_the_transcribe_cli_starts_from_the_one_definition():
    from tts_temp.asr.cli import BEAM_SIZE, BEST_OF, _options, register

    args = _parse(register, "transcribe", "x.wav")
    options = _options(args)
    assert options.policy == FallbackPolicy()
    assert (options.decoding.best_of, options.decoding.beam_size) == (BEST_OF, BEAM_SIZE)
    blank = TranscribeOptions()
    # beyond whisper CLI's own 5/5 beams and samples, the CLI adds nothing of its own
    assert options.prompt == blank.prompt and options.words == blank.words and options.audio.vad is None
    assert options.sampling == blank.sampling


def test_the_server_starts_from_the_cli():
    from tts_temp.asr.cli import _options, register
    from tts_temp.serve.cli_options import transcribe_options

    assert transcribe_options() == _options(_parse(register, "transcribe", "-"))
    assert transcribe_options().policy == FallbackPolicy()


def test_the_sweep_arguments_match_its_dataclasses():
    from tts_temp.compare.asr_sweep import AsrDecoding, AsrSweepConfig
    from tts_temp.compare.cli import register

    args = _parse(register, "compare-asr", "--out", "run")
    decoding = AsrDecoding()
    for f in fields(AsrDecoding):
        assert getattr(args, f.name) == getattr(decoding, f.name), f.name
    config = AsrSweepConfig(audio=[], out_dir=args.out)
    assert args.temperatures == config.temperatures == list(WHISPER_SCHEDULE)
    assert args.seeds == config.seeds and args.model == config.model and args.exact == config.exact
    # the sweep's decoding with no options is transcribe's own default decoding
    assert decoding.transcribe_options() == TranscribeOptions()


def test_every_command_defaults_to_the_bundled_model():
    from tts_temp.asr import load_model
    from tts_temp.asr.cli import register as transcribe_register
    from tts_temp.asr.weights import BUNDLED
    from tts_temp.compare.cli import register as compare_register

    assert inspect.signature(load_model).parameters["name_or_path"].default == BUNDLED
    assert _parse(transcribe_register, "transcribe", "x.wav").model == BUNDLED
    assert _parse(compare_register, "compare-asr", "--out", "run").model == BUNDLED
    assert _parse(compare_register, "compare-tts", "--out", "run").asr_model == BUNDLED
