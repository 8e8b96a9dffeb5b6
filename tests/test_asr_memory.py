"""Memory of a loaded model: one copy of each weight, a loader that holds the checkpoint once.

The peak-RSS tests run a fresh process (the number is the process's high-water mark, VmHWM), so
what earlier tests allocated does not count.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from whisper.model import ModelDimensions, Whisper

from asr_fixtures import cache_dir, model
from tts_temp.asr import weights
from tts_temp.asr.decoder_plan import DecoderPlan

ROOT = Path(__file__).resolve().parents[1]


def _tensors(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(m.named_parameters()), **dict(m.named_buffers())}


def test_loaded_model_equals_whisper_built_from_the_same_checkpoint(monkeypatch):
    """Built on the meta device and taken over from the file, the model is exactly what whisper's own
    constructor and `load_state_dict` give: every parameter and buffer (the unsaved ones too), dtypes,
    requires_grad, eval mode."""
    ours = model()
    monkeypatch.setenv("TTS_TEMP_CACHE", cache_dir())
    ckpt = torch.load(weights.converted_checkpoint(), weights_only=True)
    ref = Whisper(ModelDimensions(**ckpt["dims"]))
    ref.load_state_dict(ckpt["model_state_dict"])
    a, b = _tensors(ours), _tensors(ref)
    assert a.keys() == b.keys()
    for name, t in b.items():
        if name == "alignment_heads":  # ours are config.json's, whisper's the default
            continue
        assert t.dtype == a[name].dtype and t.requires_grad == a[name].requires_grad, name
        assert torch.equal(a[name], t), name
    assert not ours.training


def test_a_checkpoint_without_alignment_heads_gets_whispers_default(monkeypatch):
    model()
    monkeypatch.setenv("TTS_TEMP_CACHE", cache_dir())
    ckpt = torch.load(weights.converted_checkpoint(), weights_only=True)
    ckpt.pop("alignment_heads")
    ours = weights.load_state(ckpt, "cpu", "test")
    ref = Whisper(ours.dims)
    assert torch.equal(ours.alignment_heads.to_dense(), ref.alignment_heads.to_dense())
    assert torch.equal(ours.decoder.mask, ref.decoder.mask)


def test_a_truncated_state_is_a_damaged_checkpoint(monkeypatch):
    model()
    monkeypatch.setenv("TTS_TEMP_CACHE", cache_dir())
    ckpt = torch.load(weights.converted_checkpoint(), weights_only=True)
    del ckpt["model_state_dict"]["decoder.ln.bias"]
    with pytest.raises(weights.DamagedCheckpoint, match="not a usable openai-whisper checkpoint"):
        weights.load_state(ckpt, "cpu", "test")


def test_one_copy_of_the_vocabulary_matrix():
    """The float32 projection reads the embedding's transpose; the loaded embedding is a view of it,
    so the plan holds no second copy of the largest matrix."""
    m = model()
    embedding = m.decoder.token_embedding.weight
    assert embedding.T.is_contiguous()
    plan = DecoderPlan.of(m, torch.float32)
    assert plan.project.matrix.data_ptr() == embedding.data_ptr()
    # lookups through the view are the same numbers
    ids = torch.tensor([[0, 1, 50257, 51863]])
    assert torch.equal(torch.nn.functional.embedding(ids, embedding), embedding.contiguous()[ids])


def test_split_model_bin_reads_as_the_whole(tmp_path):
    """Parts are read one variable at a time as one stream, cut anywhere (inside a header, inside a
    weight), with the same result as the whole file."""
    whole = weights.bundled_model_dir() / "model.bin"
    data = whole.read_bytes()
    cuts = [0, 7, 1_000_003, len(data) // 2, len(data)]
    parts = []
    for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
        parts.append(tmp_path / f"model.bin.part{i + 1}")
        parts[-1].write_bytes(data[a:b])
    del data
    expected, got = weights.read_ctranslate2(whole), weights.read_ctranslate2(parts)
    assert expected.keys() == got.keys()
    for name, array in expected.items():
        assert array.dtype == got[name].dtype and np.array_equal(array, got[name]), name
    parts[-1].write_bytes(parts[-1].read_bytes()[:-5])
    with pytest.raises(ValueError, match="unexpected end of file"):
        weights.read_ctranslate2(parts)


_PEAK = """
import json, sys, torch
from tts_temp.asr import weights
def peak():
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
before = peak()
m = weights.load_model("tiny.en", device="cpu", compute_type=sys.argv[1])
print(json.dumps({"added": peak() - before, "float32_bytes": sum(p.numel() * 4 for p in m.parameters())}))
"""


def _peak(tmp_path: Path, compute_type: str) -> dict:
    env = {**os.environ, "TTS_TEMP_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _PEAK, compute_type], env=env, check=True, capture_output=True,
                         text=True, timeout=600).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads VmHWM from /proc")
def test_loading_holds_the_model_about_once(tmp_path):
    """Peak RSS that loading adds over the imports, against the float32 model's size. From the cache:
    the file's half-precision tensors (mapped, dropped after) beside the float32 model they become,
    1.5x; before, the file's bytes, the unpickled checkpoint and a second, randomly initialised model
    gave 2x. Converting first (a cold cache) holds the CTranslate2 weights once."""
    cold = _peak(tmp_path, "float32")
    warm = _peak(tmp_path, "float32")
    int8 = _peak(tmp_path, "int8")
    size = warm["float32_bytes"]
    ratios = {k: round(v["added"] / size, 2) for k, v in dict(cold=cold, warm=warm, int8=int8).items()}
    assert ratios["warm"] <= 1.65 and ratios["int8"] <= 1.75 and ratios["cold"] <= 1.75, ratios
