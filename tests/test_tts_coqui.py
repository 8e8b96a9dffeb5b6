"""Coqui-TTS OverFlow, NeuralHMM-TTS and HiFi-GAN run natively: parity with coqui-tts 0.28.0 itself.

No real checkpoint can be fetched here, so the reference models are randomly initialised by
coqui-tts from its own config classes (weights perturbed so that no layer is the identity or
constant), saved as Coqui saves them (config.json + a torch file with the state dict under
"model"), loaded by tts_temp, and compared: token ids, log-likelihood of a mel given text, the
T=0 mel and HiFi-GAN's waveform.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import logging
import shutil
import sys
import types

import pytest
import torch

from tts_temp.errors import UserError

SENTENCES = [
    "Dr. Smith paid $5.20 for 3 apples at 12:30 pm, didn't he?",
    "In 1984, Mrs. Jones (aged 42) moved to St. Louis; it cost £1,250.50!",
    "The 21st century began in 2001 - or was it 2000? \"Yes\": said Capt. Hook.",
    "Hello... world!? It's 7:05 and 0.5 of 1,000,000 people - wow.",
    "  Glue the sheet to the dark blue background.  ",
]
TEXT = "The birch canoe slid on the smooth planks."
T0_SENTENCES = [TEXT, "In 1984 the 21st runner paid $5.20, didn't he?", "Glue it (now): 7:05 pm & later!"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small models on a shared 2-core machine: two intra-op threads mostly wait for each other."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def coqui():
    """coqui-tts's modules, imported once.

    coqui-tts 0.28 refuses to import unless modules named `torchaudio` and `torchcodec` can be
    found (TTS/__init__.py checks with importlib.util.find_spec); its OverFlow, tokenizer and
    HiFi-GAN code never call them, and torchaudio cannot be installed beside the CPU torch here.
    So empty stand-in modules are registered for the import only and removed again afterwards,
    so that no other test sees them.
    """
    if importlib.util.find_spec("TTS") is None:
        pytest.skip("coqui-tts (the test extra) is not installed")
    added = []
    for name in ("torchaudio", "torchcodec"):
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            stub = types.ModuleType(name)
            stub.__spec__ = importlib.machinery.ModuleSpec(name, None)
            sys.modules[name] = stub
            added.append(name)
    try:
        from TTS.tts.configs.neuralhmm_tts_config import NeuralhmmTTSConfig
        from TTS.tts.configs.overflow_config import OverflowConfig
        from TTS.tts.models.neuralhmm_tts import NeuralhmmTTS
        from TTS.tts.models.overflow import Overflow
        from TTS.vocoder.configs import HifiganConfig
        from TTS.vocoder.models.gan import GAN
        from trainer.io import save_model
    finally:
        for name in added:
            del sys.modules[name]
    logging.getLogger("TTS").setLevel(logging.ERROR)
    return types.SimpleNamespace(OverflowConfig=OverflowConfig, Overflow=Overflow,
                                 NeuralhmmTTSConfig=NeuralhmmTTSConfig, NeuralhmmTTS=NeuralhmmTTS,
                                 HifiganConfig=HifiganConfig, GAN=GAN, save_model=save_model)


def _perturb(model: torch.nn.Module, seed: int, scale: float = 0.05) -> None:
    """Random init leaves couplings at the identity and the HMM's output layer at zero weights (flat
    start): shake every tensor, the output layer strongly so that emissions depend on text and
    memory, except its transition row, so that states are left after a few frames as in a trained
    model."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g) * scale
            if name.endswith("last_layer.weight"):
                noise[:-1] *= 4
                noise[-1] /= 10
            p.add_(noise)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(1 + torch.rand(b.shape, generator=g))


def _save(coqui, model, config, folder, name="model_file.pth"):
    folder.mkdir(parents=True, exist_ok=True)
    config.save_json(str(folder / "config.json"))
    coqui.save_model(config, model, str(folder / name), current_step=1, epoch=0)
    return folder


def _build_tts(coqui, config, folder, seed, cls="Overflow"):
    torch.manual_seed(seed)  # coqui-tts initialises from the global generator
    model = getattr(coqui, cls)(config)
    _perturb(model, seed)
    model.update_mean_std({"mean": -3.5, "std": 2.25})
    model.eval()
    _save(coqui, model, model.config, folder)
    model.load_checkpoint(model.config, str(folder / "model_file.pth"), eval=True)  # as Coqui loads for inference
    return model


def _small_config(coqui, **over):
    base = dict(encoder_in_out_features=48, memory_rnn_dim=40, prenet_dim=24, outputnet_size=[32],
                hidden_channels_dec=16, num_flow_blocks_dec=3, num_block_layers=2, kernel_size_dec=3,
                dilation_rate=2, sigmoid_scale=True, use_phonemes=True, phoneme_language="en-us",
                text_cleaner="phoneme_cleaners", add_blank=True, enable_eos_bos_chars=True,
                duration_threshold=0.45, sampling_temp=0.5,
                flat_start_params={"mean": 0.0, "std": 1.0, "transition_p": 0.4})
    base.update(over)
    return coqui.OverflowConfig(**base)


def _coqui_ids(model, text):
    names = model.language_manager.language_names
    return model.tokenizer.text_to_ids(text, language=names[0] if len(names) == 1 else None)


def _reference_t0(model, ids):
    out = model.inference(torch.tensor([ids]), aux_input={"x_lengths": torch.tensor([len(ids)]),
                                                          "sampling_temp": 0.0, "max_sampling_time": 1500,
                                                          "duration_threshold": model.config.duration_threshold})
    return out["model_outputs"][0, : int(out["model_outputs_len"][0])].T


def _check_model(coqui, model, folder, sentences=(TEXT,), ll_texts=("Glue the sheet to the dark blue background.",
                                                                     "Hi there.")):
    from tts_temp.tts import acoustic, load_voice

    voice = load_voice(folder)
    # Coqui's T=0 still drops prenet units when the config keeps dropout on at inference (the
    # NeuralHMM-TTS default): compare with its mean path, which is what tts_temp's T=0 is
    model.neural_hmm.prenet.dropout_at_inference = False
    for text in sentences:
        ids = _coqui_ids(model, text)
        assert voice.frontend.ids(text) == ids
        ref = _reference_t0(model, ids)
        got = acoustic(voice, text, temperature=0.0)
        assert got.shape == ref.shape, (got.shape, ref.shape)
        assert torch.allclose(got, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max())), (got - ref).abs().max()
    # log-likelihood of a mel given text; a batch of two, longest first (Coqui packs sorted)
    g = torch.Generator().manual_seed(1)
    id_lists = [_coqui_ids(model, t) for t in ll_texts]
    spp = model.config.state_per_phone
    n_frames = [3 * spp * len(id_lists[0]) + 1, 2 * spp * len(id_lists[1]) + 8]  # enough frames for every state
    ids = torch.zeros(2, len(id_lists[0]), dtype=torch.long)
    for i, l in enumerate(id_lists):
        ids[i, : len(l)] = torch.tensor(l)
    id_len = torch.tensor([len(l) for l in id_lists])
    mels = -3.5 + 2.25 * torch.randn(2, model.config.out_channels, max(n_frames), generator=g)
    with torch.no_grad():
        ref = model.forward(ids, id_len, mels.transpose(1, 2), torch.tensor(n_frames))["log_probs"]
    got = voice.model.log_likelihood(ids, id_len, mels, torch.tensor(n_frames))
    assert torch.allclose(got, ref, rtol=1e-4), (got, ref)
    return voice


def test_default_overflow_config_matches_coqui(coqui, tmp_path):
    """The default OverflowConfig (28.4 M parameters, graphemes, no cleaner)."""
    model = _build_tts(coqui, coqui.OverflowConfig(), tmp_path / "default", seed=0)
    assert sum(p.numel() for p in model.parameters()) > 28_000_000
    voice = _check_model(coqui, model, tmp_path / "default", [TEXT], ll_texts=("Glue the sheet.", "Hi there."))
    assert voice.default_temperature == pytest.approx(0.334) and voice.duration_threshold == pytest.approx(0.55)


def test_small_phoneme_overflow_matches_coqui(coqui, tmp_path):
    """Other sizes, 3 flow blocks, dilation 2, sigmoid scale, espeak-ng phonemes, blanks, bos/eos."""
    model = _build_tts(coqui, _small_config(coqui), tmp_path / "small", seed=1)
    voice = _check_model(coqui, model, tmp_path / "small", T0_SENTENCES)
    assert voice.default_temperature == pytest.approx(0.5)


def test_neuralhmm_tts_matches_coqui(coqui, tmp_path):
    """NeuralHMM-TTS (OverFlow without the flow), graphemes, English cleaners, 3 states per phone."""
    cfg = coqui.NeuralhmmTTSConfig(encoder_in_out_features=48, memory_rnn_dim=40, prenet_dim=24,
                                   outputnet_size=[32, 32], state_per_phone=3, text_cleaner="english_cleaners",
                                   flat_start_params={"mean": 0.0, "std": 1.0, "transition_p": 0.4})
    model = _build_tts(coqui, cfg, tmp_path / "nhmm", seed=2, cls="NeuralhmmTTS")
    voice = _check_model(coqui, model, tmp_path / "nhmm", T0_SENTENCES[:2])
    assert voice.prenet_dropout and voice.default_temperature == 0  # NeuralhmmTTSConfig's defaults
    assert voice.model.decoder is None


@pytest.mark.parametrize("over", [dict(use_phonemes=False, text_cleaner="english_cleaners", add_blank=False,
                                       enable_eos_bos_chars=False),
                                  dict()])
def test_token_ids_match_coqui(coqui, over):
    from tts_temp.tts.coqui.text import CoquiTokenizer

    torch.manual_seed(0)
    model = coqui.Overflow(_small_config(coqui, **over))
    ours = CoquiTokenizer.from_config(json.loads(model.config.to_json()))
    for text in SENTENCES:
        assert ours.ids(text) == _coqui_ids(model, text), text


def _hifigan(coqui, folder, seed, **params):
    gp = dict(upsample_factors=[8, 8, 2, 2], upsample_kernel_sizes=[16, 16, 4, 4], upsample_initial_channel=32,
              resblock_kernel_sizes=[3, 7, 11], resblock_dilation_sizes=[[1, 3, 5], [1, 3, 5], [1, 3, 5]],
              resblock_type="1")
    gp.update(params)
    cfg = coqui.HifiganConfig(generator_model_params=gp)
    torch.manual_seed(seed)
    model = coqui.GAN(cfg)
    _perturb(model.model_g, seed, scale=0.02)
    _save(coqui, model, cfg, folder)
    model.load_checkpoint(cfg, str(folder / "model_file.pth"), eval=True)
    return model


@pytest.mark.parametrize("params", [dict(), dict(resblock_type="2", resblock_kernel_sizes=[3, 5],
                                                 resblock_dilation_sizes=[[1, 2], [2, 6]])])
def test_hifigan_waveform_matches_coqui(coqui, tmp_path, params):
    from tts_temp.tts import load_vocoder

    model = _hifigan(coqui, tmp_path / "hifigan", 3, **params)
    voc = load_vocoder(tmp_path / "hifigan")
    mel = torch.randn(2, 80, 23, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        ref = model.inference(mel)
    got = voc.generate(mel)
    assert got.shape == ref.shape
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5), (got - ref).abs().max()
    # the vocoder interface trims Coqui's edge padding: frame i starts at sample i * hop
    ln = voc.audio.to_natural_log(mel)          # this config normalises dB mels to [-4, 4]
    back = voc.audio.from_natural_log(ln)
    assert torch.allclose(back, mel.clamp(-4, 4), atol=1e-5)
    wav = voc(ln)
    assert wav.shape == (2, 23 * 256)
    assert torch.equal(wav, voc.generate(back)[:, 0, 5 * 256: 28 * 256])


def test_synthesis_with_coqui_voice_and_vocoder_is_seeded_and_deterministic_at_zero(coqui, tmp_path):
    from tts_temp.tts import load_vocoder, load_voice, synthesize_batch

    model = _build_tts(coqui, _small_config(coqui, prenet_dropout_at_inference=True), tmp_path / "v", seed=5)
    _hifigan(coqui, tmp_path / "voc", 6)
    voice, voc = load_voice(tmp_path / "v"), load_vocoder(tmp_path / "voc")
    assert voice.prenet_dropout  # the config's choice: on at T > 0, never at T = 0
    a = synthesize_batch(voice, TEXT, [0.0, 0.0, 0.7, 0.7, 0.7], [1, 2, 1, 1, 2], vocoder=voc)
    b = synthesize_batch(voice, TEXT, [0.7], [1], vocoder=voc)
    assert torch.equal(a.mels[0], a.mels[1])                        # T=0: seeds do not matter
    ids = _coqui_ids(model, TEXT)
    torch.manual_seed(0)
    drop1, drop2 = _reference_t0(model, ids), _reference_t0(model, ids)
    assert drop1.shape != drop2.shape or not torch.allclose(drop1, drop2, atol=1e-2)  # Coqui's T=0 varies here
    model.neural_hmm.prenet.dropout_at_inference = False            # its mean path, to compare with
    ref = _reference_t0(model, ids)
    assert a.mels[0].shape == ref.shape
    assert torch.allclose(a.mels[0], ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    assert torch.equal(a.mels[2], a.mels[3])                        # same seed, same output
    assert not torch.equal(a.mels[3], a.mels[4])
    assert torch.allclose(a.mels[2], b.mels[0], atol=1e-5)           # an item depends on its own seed only
    assert a.sample_rate == 22050 and all(len(w) == m.shape[1] * 256 for w, m in zip(a.waveforms, a.mels))
    # the command line: voice default temperature (the config's 0.5) and two given ones
    from tts_temp.cli import main

    assert main(["synthesize", TEXT, "--voice", str(tmp_path / "v"), "--vocoder", str(tmp_path / "voc"),
                 "--seed", "1", "--out", str(tmp_path / "one.wav")]) == 0
    assert main(["synthesize", TEXT, "--voice", str(tmp_path / "v"), "--vocoder", str(tmp_path / "voc"),
                 "--temperature", "0", "0.5", "--seeds", "1", "2", "--out-dir", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "0001_T0.5_s1.wav", "0001_T0.5_s2.wav", "0001_T0_s1.wav", "0001_T0_s2.wav"]


def test_bad_coqui_folders_are_one_line_errors(coqui, tmp_path, capsys):
    from tts_temp.cli import main
    from tts_temp.tts import load_vocoder, load_voice

    _build_tts(coqui, _small_config(coqui, use_phonemes=False, text_cleaner=None, add_blank=False),
                       tmp_path / "ok", seed=7)
    state = torch.load(tmp_path / "ok" / "model_file.pth", weights_only=True)

    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        load_voice(tmp_path / "empty")
    other = shutil.copytree(tmp_path / "ok", tmp_path / "other")
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(dict(cfg, model="glow_tts")))
    with pytest.raises(UserError, match="not OverFlow"):
        load_voice(other)
    with pytest.raises(UserError, match="not a Coqui HiFi-GAN"):
        load_vocoder(tmp_path / "ok")
    noweights = shutil.copytree(tmp_path / "ok", tmp_path / "noweights")
    (noweights / "model_file.pth").unlink()
    with pytest.raises(UserError, match="no model file"):
        load_voice(noweights)
    missing = shutil.copytree(tmp_path / "ok", tmp_path / "missing")
    torch.save(dict(state, model={k: v for k, v in state["model"].items() if "memory_rnn" not in k}),
               missing / "model_file.pth")
    with pytest.raises(UserError, match="do not match"):
        load_voice(missing)
    code = shutil.copytree(tmp_path / "ok", tmp_path / "code")
    torch.save(dict(state, extra=shutil.copytree), code / "model_file.pth")  # a pickled function: refused
    with pytest.raises(UserError, match="Unsupported global"):
        load_voice(code)
    wrong = shutil.copytree(tmp_path / "ok", tmp_path / "wrong")
    (wrong / "config.json").write_text(json.dumps(dict(cfg, memory_rnn_dim=24)))
    with pytest.raises(UserError, match="do not match"):
        load_voice(wrong)
    # characters the table lacks: graphemes without a cleaner cannot say digits
    out = tmp_path / "a.wav"
    code = main(["synthesize", "Call 911 now.", "--voice", str(tmp_path / "ok"), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and not out.exists() and len(err.strip().splitlines()) == 1 and "'19'" in err
    code = main(["synthesize", "Call me now.", "--voice", str(tmp_path / "ok"), "--vocoder", str(tmp_path / "ok"),
                 "--out", str(out)])
    assert code == 2 and not out.exists() and len(capsys.readouterr().err.strip().splitlines()) == 1
    code = main(["synthesize", "Call me now.", "--voice", str(tmp_path / "ok" / "model_file.pth"), "--out", str(out),
                 "--temperature", "0", "--seed", "1"])
    assert code == 0 and out.exists()


def test_compare_emission_figure_reads_a_coqui_voice(coqui, tmp_path):
    from tts_temp.compare.tts_sweep import emission_gaussian
    from tts_temp.tts import load_voice

    _build_tts(coqui, _small_config(coqui, use_phonemes=False, add_blank=False), tmp_path / "v", seed=8)
    e = emission_gaussian(load_voice(tmp_path / "v"), TEXT)
    assert e["std"] > 0 and e["space"] == "latent (flow input)"


@pytest.mark.parametrize("name,channels", [("slt-world", 84), ("slt-small", 80)])
def test_acoustic_on_the_shipped_voice_is_the_synthesis_mel(name, channels):
    from tts_temp.tts import acoustic, load_voice, synthesize_batch

    voice = load_voice(name)
    mel = acoustic(voice, "Glue the sheet.", temperature=0.5, seed=4)
    assert mel.shape[0] == channels
    assert torch.equal(mel, synthesize_batch(voice, "Glue the sheet.", [0.5], [4]).mels[0])
    assert torch.equal(acoustic(voice, "Glue the sheet.", seed=4), acoustic(voice, "Glue the sheet.", 0.667, seed=4))
