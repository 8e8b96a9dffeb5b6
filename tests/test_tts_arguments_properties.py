"""Issue 18 ("Done means"): the argument checks of `synthesize`, property-based (hypothesis). Random
strings, numbers and paths never give a traceback: the Python API raises UserError (a ValueError) or
synthesises, and the command line prints one error line and exits non-zero, or writes its file."""
from __future__ import annotations

import math
import string

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tts_temp.errors import UserError

ANY = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8),
                st.sampled_from(["0.5", "inf", "nan", "-1", "1e400", "threshold", "sample", "", "0x10"]),
                st.binary(max_size=4), st.lists(st.integers(), max_size=2))
SMALL_TEXT = st.one_of(st.text(max_size=24), st.text(string.ascii_letters + " .,-$%0123456789", max_size=24),
                       st.sampled_from(["Glue the sheet.", "-h", "- Buy milk.", "$5", "1e6", "   ", "?!.", ""]))


@pytest.fixture(scope="module")
def voice():
    """A tiny letters voice whose states last one frame each: any valid call finishes in milliseconds."""
    from tts_temp.tts.mel import MelConfig
    from tts_temp.tts.model import ModelConfig, OverFlow
    from tts_temp.tts.text import SYMBOLS, FrontEnd
    from tts_temp.tts.voice import Voice

    torch.manual_seed(0)
    model = OverFlow(ModelConfig(n_symbols=len(SYMBOLS), encoder_dim=16, encoder_convs=1, prenet_dim=8,
                                 lstm_dim=16, flow_blocks=1, flow_hidden=8, flow_layers=1)).eval()
    with torch.no_grad():
        model.hmm.state_head.weight.zero_()
        model.hmm.state_head.bias[-1] = 0.0   # stay 0.5: one frame a state at the 0.55 threshold
    return Voice(model, MelConfig(), mean=-5.0, std=2.0, frontend=FrontEnd(phonemes=False))


@pytest.fixture(scope="module")
def voice_path(voice, tmp_path_factory):
    return voice.save(tmp_path_factory.mktemp("args-voice") / "v.pt")


class Zeros:
    sample_rate = 22050
    hop_length = 256

    def __call__(self, frames):
        return torch.zeros(frames.shape[0], frames.shape[-1] * 256)


OPTION_NAMES = ["duration", "duration_threshold", "speaking_rate", "max_seconds", "prenet_dropout",
                "griffin_lim_iters", "no_such_option"]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(text=st.one_of(SMALL_TEXT, ANY), temperature=ANY, seed=ANY,
       options=st.dictionaries(st.sampled_from(OPTION_NAMES), ANY, max_size=3))
def test_synthesize_never_raises_anything_but_a_user_error(voice, text, temperature, seed, options):
    from tts_temp.tts import synthesize

    try:
        wav, sr = synthesize(voice, text, temperature=temperature, seed=seed, vocoder=Zeros(), **options)
    except UserError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert sr == 22050 and wav.ndim == 1 and len(wav) > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(text=SMALL_TEXT,
       temperature=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                             st.sampled_from(["0", "0.667", "1", "inf", "nan", "-0.0", "1e400", "5e-324"])),
       seed=st.one_of(st.none(), st.integers(min_value=-2**80, max_value=2**80).map(str)),
       number=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                        st.sampled_from(["0", "0.001", "20", "1e9", "-3"])),
       which=st.sampled_from(["--max-seconds", "--speaking-rate", "--duration-threshold"]),
       out=st.one_of(st.sampled_from(["a.wav", "sub/dir/b.wav", "", ".", "..", "a.wav/c.wav", "/proc/x.wav",
                                      "-", "nul\u00e9.wav"]),
                     st.text(string.ascii_letters + "/._- ", min_size=1, max_size=12)))
def test_the_command_line_is_one_line_or_a_file(voice_path, tmp_path_factory, capsys, text, temperature, seed,
                                                number, which, out):
    from tts_temp.cli import main

    work = tmp_path_factory.mktemp("cli")
    (work / "a.wav").write_bytes(b"") if out.startswith("a.wav/") else None
    argv = ["synthesize", "--voice", str(voice_path), "--temperature", temperature, which, number,
            "--out", str(work / out) if out and not out.startswith("/") else out]
    if seed is not None:
        argv += ["--seed", seed]
    argv += ["--", text]            # the text last, after "--": text may start with "-"
    try:
        code = main(argv)
    except SystemExit as exc:       # argparse refused a value before our checks: its own two lines
        code = exc.code
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err and err.strip().splitlines()[-1].startswith("tts-temp synthesize: error:")
        return
    captured = capsys.readouterr()
    if code == 0:
        assert "Traceback" not in captured.err
        return
    lines = [l for l in captured.err.splitlines() if l.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("tts-temp synthesize: error:"), captured.err
    assert not any(p.suffix == ".wav" and p.stat().st_size > 0 for p in work.rglob("*") if p.is_file())
    assert math.isfinite(len(lines[0]))
