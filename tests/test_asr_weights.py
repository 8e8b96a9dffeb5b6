"""The CTranslate2 -> openai-whisper converter and model loading."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from asr_fixtures import cache_dir, model
from tts_temp.asr import weights
from tts_temp.errors import UserError


def test_reads_model_bin_with_the_documented_layout():
    v = weights.read_ctranslate2(weights.bundled_model_dir() / "model.bin")
    assert v["decoder/embeddings/weight"].shape == (51864, 384)
    assert v["decoder/embeddings/weight"].dtype == np.float16
    assert v["encoder/conv1/weight"].shape == (384, 80, 3)
    assert v["encoder/position_encodings/encodings"].shape == (1500, 384)
    assert v["decoder/position_encodings/encodings"].shape == (448, 384)
    assert int(v["encoder/num_heads"]) == 6 and int(v["decoder/num_heads"]) == 6
    # the output projection is only an alias of the token embedding
    assert v["decoder/projection/weight"] is v["decoder/embeddings/weight"]


def test_converted_checkpoint_is_a_plain_whisper_checkpoint(monkeypatch):
    model()  # makes sure the cached conversion exists
    monkeypatch.setenv("TTS_TEMP_CACHE", cache_dir())  # the tests' private cache also holds other models
    path = weights.converted_checkpoint()
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["dims"] == dict(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
                                n_vocab=51864, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4)
    m = model()
    expected = set(m.state_dict())
    assert set(ckpt["model_state_dict"]) == expected
    heads = m.alignment_heads.to_dense().nonzero().tolist()
    assert heads == [[1, 0], [2, 0], [2, 5], [3, 0], [3, 1], [3, 2], [3, 3], [3, 4]]


def test_fused_projections_are_split_in_the_right_order():
    v = weights.read_ctranslate2(weights.bundled_model_dir() / "model.bin")
    sd = model().state_dict()
    fused = torch.from_numpy(v["decoder/layer_2/self_attention/linear_0/weight"].astype(np.float32))
    assert torch.equal(sd["decoder.blocks.2.attn.query.weight"], fused[:384])
    assert torch.equal(sd["decoder.blocks.2.attn.key.weight"], fused[384:768])
    assert torch.equal(sd["decoder.blocks.2.attn.value.weight"], fused[768:])
    kv = torch.from_numpy(v["decoder/layer_1/attention/linear_1/weight"].astype(np.float32))
    assert torch.equal(sd["decoder.blocks.1.cross_attn.key.weight"], kv[:384])
    assert torch.equal(sd["decoder.blocks.1.cross_attn.value.weight"], kv[384:])


def test_encoder_matches_ctranslate2():
    ctranslate2 = pytest.importorskip("ctranslate2")
    from asr_fixtures import window_mel

    mel = window_mel("jfk")
    with torch.no_grad():
        ours = model().encoder(mel[None]).numpy()
    ct2 = ctranslate2.models.Whisper(str(weights.bundled_model_dir()), device="cpu", compute_type="float32")
    theirs = np.array(ct2.encode(ctranslate2.StorageView.from_array(mel[None].numpy())))
    assert ours.shape == theirs.shape == (1, 1500, 384)
    assert np.abs(ours - theirs).max() < 1e-4, np.abs(ours - theirs).max()  # measured 3e-5


def test_unknown_model_name_is_a_user_error():
    with pytest.raises(UserError, match="unknown model"):
        weights.load_model("no-such-model")


def test_uncached_whisper_name_is_a_user_error(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(UserError, match="cannot be downloaded"):
        weights.load_model("base.en")


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04broken zip"])
def test_corrupt_checkpoint_is_a_user_error(tmp_path, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    with pytest.raises(UserError, match="not a usable openai-whisper checkpoint"):
        weights.load_model(str(bad))


def test_checkpoint_with_wrong_contents_is_a_user_error(tmp_path):
    bad = tmp_path / "wrong.pt"
    torch.save({"dims": {"n_mels": 80}, "model_state_dict": {}}, bad)
    with pytest.raises(UserError):
        weights.load_model(str(bad))


def test_truncated_ctranslate2_model_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path / "cache"))
    src = weights.bundled_model_dir() / "model.bin"
    (tmp_path / "model.bin").write_bytes(src.read_bytes()[:100_000])
    with pytest.raises(UserError, match="cannot convert"):
        weights.load_model(str(tmp_path))
    assert not list((tmp_path / "cache").glob("**/*.pt"))  # nothing half-converted left behind
