"""Issue 7's defects on the open paths, each with a test that failed before the fix."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from cli_helpers import one_error_line as _one_line
from asr_fixtures import clip, model, waveform, window_mel, copy_bundled
from tts_temp.asr import transcribe, weights
from tts_temp.asr.sampler import SamplingOptions, SeededSampler
from tts_temp.cli import main
from tts_temp.errors import UserError


def _cli(capsys, *argv):
    code = main(["transcribe", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# 1. the drawn seed is reported and replays the run
def test_unseeded_run_reports_its_seed_and_replays(capsys):
    code, out, err = _cli(capsys, clip("jfk"), "--temperature", "0.7", "--best-of", "1")
    assert code == 0, err
    first = json.loads(out)
    assert isinstance(first["seed"], int)
    code, out, _ = _cli(capsys, clip("jfk"), "--temperature", "0.7", "--best-of", "1", "--seed", str(first["seed"]))
    assert json.loads(out)["text"] == first["text"]
    t = transcribe(model(), clip("jfk"), temperature=0.7, best_of=1)
    assert t.seed is not None and transcribe(model(), clip("jfk"), temperature=0.7, best_of=1, seed=t.seed).text == t.text


# 2. the converter cache is keyed by content; a corrupt cached file is rebuilt
def test_changed_weights_are_not_served_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path / "cache"))
    folder = copy_bundled(tmp_path)
    original = weights.load_model(str(folder), device="cpu")
    data = bytearray((folder / "model.bin").read_bytes())
    v = weights.read_ctranslate2(folder / "model.bin")
    # change the first weight of the encoder's conv1 (float16 1.0 = 0x3C00), same size
    target = v["encoder/conv1/weight"]
    offset = bytes(data).find(target.tobytes()[:64])
    data[offset:offset + 2] = np.float16(1.0).tobytes()
    (folder / "model.bin").write_bytes(bytes(data))
    changed = weights.load_model(str(folder), device="cpu")
    assert changed.encoder.conv1.weight.flatten()[0].item() == 1.0
    assert original.encoder.conv1.weight.flatten()[0].item() != 1.0
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_corrupt_cached_conversion_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path / "cache"))
    folder = copy_bundled(tmp_path)
    weights.load_model(str(folder), device="cpu")
    (cached,) = (tmp_path / "cache").glob("*.pt")
    cached.write_bytes(cached.read_bytes()[:1000])
    m = weights.load_model(str(folder), device="cpu")
    assert torch.equal(m.encoder.conv1.weight, model().encoder.conv1.weight)


# 3. quantized CTranslate2 folders are dequantized: encoder output close to ctranslate2's on the same file
def _quantized_copy(tmp_path, quantization: str):
    ctranslate2 = pytest.importorskip("ctranslate2")
    from ctranslate2.specs import whisper_spec

    v = weights.read_ctranslate2(weights.bundled_model_dir() / "model.bin")
    spec = whisper_spec.WhisperSpec(4, int(v["encoder/num_heads"]), 4, int(v["decoder/num_heads"]))
    from ctranslate2.specs.model_spec import index_spec

    for name in v:  # ctranslate2's own quantizer on the bundled weights
        owner, attr = name.rsplit("/", 1)
        setattr(index_spec(spec, owner), attr, np.array(v[name]).astype(np.float32)
                if np.issubdtype(v[name].dtype, np.floating) else v[name])
    vocabulary = (weights.bundled_model_dir() / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    spec.register_vocabulary(vocabulary)
    spec.validate()
    spec.optimize(quantization=quantization)
    folder = tmp_path / quantization
    folder.mkdir()
    spec._serialize(str(folder / "model.bin"))
    for extra in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copy(weights.bundled_model_dir() / extra, folder / extra)
    return ctranslate2, folder


@pytest.mark.parametrize("quantization", ["int8", "int8_float16", "int16"])
def test_quantized_folders_are_dequantized(tmp_path, monkeypatch, quantization):
    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path / "cache"))
    ctranslate2, folder = _quantized_copy(tmp_path, quantization)
    stored = {a.dtype for a in weights.read_ctranslate2(folder / "model.bin").values() if a.ndim == 2}
    assert stored & {np.dtype(np.int8), np.dtype(np.int16)}
    mel = window_mel("jfk")[None]
    with torch.no_grad():
        ours = weights.load_model(str(folder), device="cpu").encoder(mel).numpy()
        bundled = model().encoder(mel).numpy()
    ct2 = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    theirs = np.array(ct2.encode(ctranslate2.StorageView.from_array(mel.numpy())))
    assert np.abs(ours - theirs).max() < 1e-3, np.abs(ours - theirs).max()
    assert np.abs(ours - bundled).max() > 1e-3  # the quantization really changed the weights


def test_integer_weights_without_scales_are_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path / "cache"))
    _, folder = _quantized_copy(tmp_path, "int8")
    raw = (folder / "model.bin").read_bytes()
    name = b"encoder/layer_0/ffn/linear_0/weight_scale\0"
    assert name in raw
    (folder / "model.bin").write_bytes(raw.replace(name, b"encoder/layer_0/ffn/linear_0/weight_scalf\0"))
    with pytest.raises(UserError, match="without a scale"):
        weights.load_model(str(folder), device="cpu")


# 4. sampling draws on the logits' device; --device
def test_sampler_generator_follows_the_logits_device():
    sampler = SeededSampler(SamplingOptions(temperature=1.0, seed=3), eot=0)
    logits = torch.randn(2, 10)
    assert sampler.generator_for(logits).device == logits.device
    tokens, _ = sampler.update(torch.ones(2, 1, dtype=torch.long), logits, torch.zeros(2))
    assert tokens.shape == (2, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_sampled_transcription_is_reproducible():
    m = weights.load_model("tiny.en", device="cuda")
    a = transcribe(m, clip("jfk"), temperature=0.7, best_of=2, seed=11)
    b = transcribe(m, clip("jfk"), temperature=0.7, best_of=2, seed=11)
    assert a.text == b.text and a.segments[0].attempts[0].temperature == 0.7
    greedy = transcribe(m, clip("jfk"), temperature=0.0)
    assert "ask not what your country can do for you" in greedy.text.lower()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_cuda_without_cuda_is_one_line(capsys):
    code, _, err = _cli(capsys, clip("jfk"), "--device", "cuda")
    assert code == 2 and "CUDA is not available" in _one_line(err)


# 5. windows skipped as silence are recorded
def test_no_speech_windows_are_recorded():
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal(30 * 16000) * 0.01).astype(np.float32)
    silence = np.zeros(30 * 16000, dtype=np.float32)
    # thresholds that make whisper skip every decoded window as no-speech
    t = transcribe(model(), np.concatenate([silence, waveform("jfk"), noise]), temperature=0.0,
                   no_speech_threshold=0.0, logprob_threshold=0.0)
    assert t.segments == [] and t.text == ""
    assert [w.reason.split(":")[0] for w in t.skipped] == ["digital silence", "no speech", "no speech"]
    assert [w.window for w in t.skipped] == [0, 1, 2] and t.skipped[1].start == 30.0
    first = t.skipped[1]
    assert first.attempts and first.attempts[0].temperature == 0.0
    assert "no_speech" in first.attempts[0].failed
    assert t.to_dict()["skipped_windows"][1]["attempts"][0]["failed"] == ["logprob", "no_speech"]


# 6. an English-only model with another language: warn, use English
def test_english_only_model_with_french_warns_and_uses_english(capsys):
    with pytest.warns(UserWarning, match="English-only"):
        t = transcribe(model(), clip("jfk"), temperature=0.0, language="fr")
    assert t.language == "en"
    code, out, err = _cli(capsys, clip("jfk"), "--temperature", "0", "--language", "fr")
    assert code == 0 and json.loads(out)["language"] == "en"
    assert "English-only" in _one_line(err)


# 7. a malformed alignment_heads is one clear line
@pytest.mark.parametrize("heads", ["3", "[[1]]", "[[1, 99]]", '[["a", 0]]', "[1, 2]"])
def test_malformed_alignment_heads_is_one_line(tmp_path, monkeypatch, capsys, heads):
    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path / "cache"))
    folder = copy_bundled(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config["alignment_heads"] = json.loads(heads)
    (folder / "config.json").write_text(json.dumps(config))
    code, _, err = _cli(capsys, clip("jfk"), "--model", str(folder))
    assert code == 2 and "alignment_heads must be a list of [layer, head] integer pairs" in _one_line(err)


# bad input: one line, exit 2
@pytest.mark.parametrize("argv, message", [
    (["--model", "no-such-model"], "unknown model"),
    (["--language", "xx"], "unknown language"),
    (["--device", "tpu"], "device"),
    (["--model", "base", "--compute-type", "float16", "--device", "cpu"], "float16"),
    (["--vad-parameters", '{"nope": 1}'], "unknown vad_parameters"),
    (["--vad-parameters", "{bad json"], "Expecting property name"),
    (["--clip-timestamps", "1,x"], "clip_timestamps"),
])
def test_bad_input_is_one_line(capsys, argv, message):
    code, _, err = _cli(capsys, clip("jfk"), *argv)
    assert code == 2 and message in _one_line(err)


def test_missing_extra_names_the_extra(monkeypatch):
    from tts_temp.asr import packaged

    monkeypatch.setattr(packaged, "locate", lambda name: None)
    monkeypatch.setenv("XDG_CACHE_HOME", "/nonexistent")
    with pytest.raises(UserError, match=r"tts_temp\[base\]"):
        weights.load_model("base", device="cpu")


def test_unsupported_ctranslate2_folder_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path / "cache"))
    folder = copy_bundled(tmp_path)
    raw = bytearray((folder / "model.bin").read_bytes())
    name = b"encoder/conv1/weight\0"
    i = raw.find(name) + len(name)
    rank = raw[i]
    raw[i + 1 + 4 * rank] = 9  # an unknown dtype id
    (folder / "model.bin").write_bytes(bytes(raw))
    with pytest.raises(UserError, match="unsupported dtype"):
        weights.load_model(str(folder), device="cpu")
