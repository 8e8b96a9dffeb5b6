"""Issue 18, items 4 and 7: Coqui voices and vocoders. Defaults per model type as Coqui's config classes
have them, every malformed value one line, the length limit seen through the decoder's flooring, and a
vocoder that cannot render a voice refused before anything is synthesised."""
from __future__ import annotations

import json
import shutil

import pytest

from test_tts_coqui import _build_tts, _hifigan, _small_config, coqui  # noqa: F401 (coqui is a fixture)
from cli_helpers import one_error_line
from test_tts_hardening import run
from tts_temp.errors import UserError


@pytest.fixture(scope="module")
def folders(coqui, tmp_path_factory):
    root = tmp_path_factory.mktemp("coqui-hardening")
    _build_tts(coqui, _small_config(coqui, use_phonemes=False, text_cleaner="english_cleaners", add_blank=False,
                                    enable_eos_bos_chars=False), root / "overflow", seed=3)
    cfg = coqui.NeuralhmmTTSConfig(encoder_in_out_features=48, memory_rnn_dim=40, prenet_dim=24,
                                   outputnet_size=[32], text_cleaner="english_cleaners",
                                   flat_start_params={"mean": 0.0, "std": 1.0, "transition_p": 0.4})
    _build_tts(coqui, cfg, root / "nhmm", seed=2, cls="NeuralhmmTTS")
    _hifigan(coqui, root / "hifigan", 6)
    _hifigan(coqui, root / "hifigan40", 6, in_channels=40)
    cfg40 = json.loads((root / "hifigan40" / "config.json").read_text())
    cfg40["audio"]["num_mels"] = 40
    (root / "hifigan40" / "config.json").write_text(json.dumps(cfg40))
    return root


def _edited(folders, tmp_path, name, edit):
    dest = shutil.copytree(folders / name, tmp_path / f"{name}-edited")
    cfg = json.loads((dest / "config.json").read_text())
    edit(cfg)
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest


def test_a_trimmed_neuralhmm_config_takes_neuralhmm_defaults(folders, tmp_path):
    from tts_temp.tts import load_voice

    def trim(cfg):
        for key in ("sampling_temp", "duration_threshold", "prenet_dropout_at_inference", "std_floor"):
            del cfg[key]

    voice = load_voice(_edited(folders, tmp_path, "nhmm", trim))
    # NeuralhmmTTSConfig (coqui-tts 0.28): sampling_temp 0, duration_threshold 0.43, dropout on, floor 0.001
    assert voice.default_temperature == 0.0
    assert voice.duration_threshold == pytest.approx(0.43)
    assert voice.prenet_dropout is True
    assert voice.model.settings.std_floor == pytest.approx(0.001)
    trimmed_overflow = load_voice(_edited(folders, tmp_path, "overflow", trim))
    assert trimmed_overflow.default_temperature == pytest.approx(0.334)
    assert trimmed_overflow.duration_threshold == pytest.approx(0.55)
    assert trimmed_overflow.prenet_dropout is False
    assert trimmed_overflow.model.settings.std_floor == pytest.approx(0.01)


@pytest.mark.parametrize("key, value, where", [
    ("memory_rnn_dim", "big", "memory_rnn_dim"), ("state_per_phone", 0, "state_per_phone"),
    ("sampling_temp", "hot", "sampling_temp"), ("sampling_temp", -1, "sampling_temp"),
    ("duration_threshold", 2.0, "duration_threshold"), ("deterministic_transition", "yes", "deterministic_transition"),
    ("outputnet_size", "wide", "outputnet_size"), ("prenet_dropout", 1.5, "prenet_dropout"),
    ("audio.sample_rate", "fast", "audio.sample_rate"), ("audio.hop_length", 0, "audio.hop_length"),
    ("audio.num_mels", 80.5, "audio.num_mels"), ("audio.mel_fmax", "high", "audio.mel_fmax"),
])
def test_each_malformed_config_value_is_one_line(key, value, where, folders, tmp_path, capsys):
    from tts_temp.tts import load_voice

    def edit(cfg):
        if key.startswith("audio."):
            cfg["audio"][key[6:]] = value
        else:
            cfg[key] = value

    bad = _edited(folders, tmp_path, "overflow", edit)
    with pytest.raises(UserError, match=where.replace(".", r"\.")):
        load_voice(bad)
    code, _, err = run(capsys, "Hello there.", "--voice", bad, "--out", tmp_path / "x.wav")
    assert code == 2 and where in one_error_line(err) and not (tmp_path / "x.wav").exists()


def test_the_length_limit_is_seen_although_the_decoder_floors_to_even(folders):
    from tts_temp.tts import load_voice, synthesize_batch
    from tts_temp.tts.synthesize import SynthesisOptions

    voice = load_voice(folders / "overflow")
    fps = voice.mel.frames_per_second
    # 87 frames (odd); a low duration threshold keeps every state for many frames
    opts = SynthesisOptions(max_seconds=87.5 / fps, duration_threshold=0.001)
    out = synthesize_batch(voice, "aaaaaaaa", [0.0], [1], opts)
    assert out.hit_max_length == [True]
    assert out.mels[0].shape[1] == 86


def test_a_hifigan_that_cannot_render_the_voice_is_refused_before_synthesis(folders, tmp_path, capsys):
    out = tmp_path / "x.wav"
    # the default voice makes WORLD frames
    code, stdout, err = run(capsys, "Hello there.", "--vocoder", folders / "hifigan", "--out", out)
    assert code == 2 and "WORLD" in one_error_line(err) and not out.exists() and not stdout
    # a 40-mel HiFi-GAN with an 80-mel voice
    code, stdout, err = run(capsys, "Hello there.", "--voice", folders / "overflow", "--vocoder",
                            folders / "hifigan40", "--out", out)
    assert code == 2 and "mel channels" in one_error_line(err) and not out.exists()
    # slt-small's mels stop at 8 kHz, this HiFi-GAN's at 11,025 Hz
    code, stdout, err = run(capsys, "Hello there.", "--voice", "slt-small", "--vocoder", folders / "hifigan",
                            "--out", out)
    assert code == 2 and "mel range" in one_error_line(err) and not out.exists()
    # and the library says the same before any synthesis
    from tts_temp.tts import load_vocoder, load_voice, synthesize

    with pytest.raises(UserError, match="WORLD"):
        synthesize(load_voice(), "Hello there.", vocoder=load_vocoder(folders / "hifigan"))
    # the matching pair still works
    code, _, err = run(capsys, "Hello there.", "--voice", folders / "overflow", "--vocoder", folders / "hifigan",
                       "--seed", "1", "--out", out)
    assert code == 0 and out.exists(), err
