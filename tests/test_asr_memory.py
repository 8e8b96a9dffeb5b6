"""Memory of a loaded model: one copy of each weight, a loader that holds the checkpoint once.

The peak-RSS tests run a fresh process (the number is the process's high-water mark, VmHWM), so
what earlier tests allocated does not count.
"""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from whisper.model import ModelDimensions, Whisper

from asr_fixtures import cache_dir, clip, model, window_mel
from tts_temp.asr import transcribe, weights
from tts_temp.asr.decoder_plan import DecoderPlan
from tts_temp.asr.inference import CachedInference, EncodedWindow
from tts_temp.asr.pages import MappedPages
from tts_temp.asr.quantize import Int8Linear, apply_compute_type

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
        if name == "decoder.token_embedding.weight":  # kept in the file's half precision: the same numbers
            assert a[name].dtype == torch.float16 and torch.equal(a[name].float(), t)
            assert a[name].requires_grad == t.requires_grad
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


def test_one_float32_matrix_of_vocabulary_bytes_after_a_beam_decode():
    """A float32 model from a half-precision checkpoint keeps its token embedding in that precision
    (lookups widen it exactly) and projects with fbgemm's packed half-precision copy of it, for one
    row and for beam search's five: the two take the bytes of one float32 vocabulary matrix, where
    the float32 matrix and oneDNN's packed float32 copy for beam search took two. The packed copy
    holds the embedding's numbers exactly."""
    m = model()
    embedding = m.decoder.token_embedding.weight
    assert embedding.dtype == torch.float16 and embedding.T.is_contiguous()
    transcribe(m, clip("jfk"), temperature=0.0, beam_size=5, language="en")   # five-row projections
    project = DecoderPlan.of(m, torch.float32).project
    assert project.matrix is None and project.packed is None   # no float32 vocabulary matrix held
    unpacked = torch.cat([torch.ops.quantized.linear_unpack_fp16(block)[0] for block in project.blocks])
    assert torch.equal(unpacked, embedding.float())
    # lookups through the view are the same numbers
    ids = torch.tensor([[0, 1, 50257, 51863]])
    assert torch.equal(torch.nn.functional.embedding(ids, embedding), embedding.contiguous()[ids])


def test_the_embedding_stays_float32_where_the_half_precision_projection_cannot_serve():
    half, bf16 = torch.zeros(2, 2, dtype=torch.float16), torch.zeros(2, 2, dtype=torch.bfloat16)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert weights._lookup_dtype(half, "float32", cpu) == torch.float16
    assert weights._lookup_dtype(half, "float32", cuda) == torch.float32   # FloatProjection's fbgemm path is the CPU's
    assert weights._lookup_dtype(bf16, "float32", cpu) == torch.float32    # not every bfloat16 fits float16
    assert weights._lookup_dtype(torch.zeros(2, 2), "float32", cpu) == torch.float32
    assert weights._lookup_dtype(bf16, "int8", cpu) == torch.bfloat16


def _int8_layers(m: torch.nn.Module) -> dict[str, tuple]:
    """Every int8 product of a model as stored: integers, per-row scales and zero points, bias."""
    out = {}
    for name, layer in m.named_modules():  # int8_qkv and int8_projection are submodules too
        if isinstance(layer, Int8Linear):
            weight, bias = torch.ops.quantized.linear_unpack(layer._packed)
            out[name] = (weight.int_repr(), weight.q_per_channel_scales(), weight.q_per_channel_zero_points(), bias)
    return out


def test_int8_quantised_while_loading_is_the_int8_of_the_float32_model(monkeypatch):
    """`load_model(compute_type="int8")` quantises each linear layer from the checkpoint's tensor as it
    takes it over (no float32 model is ever made) and keeps the lookup embedding in the file's half
    precision: every int8 weight, scale and bias, every other tensor, the logits of the planned
    decoder and of whisper's modules, and the transcripts are exactly those of the loaded float32
    model converted afterwards."""
    reference = model()
    monkeypatch.setenv("TTS_TEMP_CACHE", cache_dir())
    loaded = weights.load_model("tiny.en", device="cpu", compute_type="int8")
    converted = apply_compute_type(copy.deepcopy(reference), "int8", "cpu")
    assert loaded.compute_type == converted.compute_type == "int8"
    assert loaded.attention_dtype == converted.attention_dtype

    got, want = _int8_layers(loaded), _int8_layers(converted)
    assert got.keys() == want.keys() and len(got) == 4 * 6 + 4 * 11 + 1, sorted(got)  # + q/k/v, projection
    for name, parts in want.items():
        for a, b in zip(got[name], parts, strict=True):
            assert (a is None and b is None) or torch.equal(a, b), name

    embedding = loaded.decoder.token_embedding.weight
    assert embedding.dtype == torch.float16  # the checkpoint's own precision: exact, half the bytes
    assert embedding.T.is_contiguous()  # the layout whisper's module path multiplies with, as before
    assert torch.equal(embedding, converted.decoder.token_embedding.weight)  # as the float32 model's
    a, b = _tensors(loaded), _tensors(converted)
    assert a.keys() == b.keys()
    for name, t in b.items():
        if name != "decoder.token_embedding.weight":
            assert a[name].dtype == t.dtype and torch.equal(a[name].to_dense(), t.to_dense()), name

    windows = [EncodedWindow.encode(m, window_mel("jfk")) for m in (loaded, converted)]
    assert torch.equal(windows[0].features, windows[1].features)
    tokens = torch.tensor([[50257, 50362, 843, 523, 3290]])
    logits = [CachedInference(m, w, 2).logits(tokens, w.features) for m, w in zip((loaded, converted), windows)]
    assert torch.equal(*logits)
    with torch.no_grad():  # language detection and word alignment run whisper's modules
        modules = [m.decoder(tokens, w.features) for m, w in zip((loaded, converted), windows)]
    assert torch.equal(*modules)
    for options in (dict(temperature=0.0), dict(temperature=0.0, beam_size=5), dict(temperature=0.8, seed=3)):
        x, y = (transcribe(m, clip("jfk"), **options) for m in (loaded, converted))
        assert x.to_dict() == y.to_dict(), options


def _mapped_rss(path: Path) -> int:
    """Resident bytes of this process's mappings of `path` (/proc/self/smaps)."""
    total, inside, target = 0, False, os.path.realpath(path)
    for line in open("/proc/self/smaps"):
        if re.match(r"[0-9a-f]+-[0-9a-f]+ ", line):  # a mapping's header: range perms offset dev inode [path]
            fields = line.rstrip("\n").split(maxsplit=5)
            inside = len(fields) == 6 and fields[5] == target
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1]) * 1024
    return total


@pytest.mark.skipif(not Path("/proc/self/smaps").is_file(), reason="reads /proc/self/smaps")
def test_mapped_pages_go_back_when_every_tensor_over_them_is_used(tmp_path):
    """A page of a mapped checkpoint goes back only when every tensor that reads it has been used (a
    storage's views, an alias); the tensors not yet used keep their values, and memory that is not the
    file's mapping (the heap) is never given back."""
    gen = torch.Generator().manual_seed(0)
    fused = torch.randn(3, 300_000, generator=gen)  # three rows of one storage, 1.2 MB each
    whole = torch.randn(400_000, generator=gen)
    state = {"q": fused[0], "k": fused[1], "v": fused[2], "whole": whole, "alias": whole[1000:2000]}
    path = tmp_path / "state.pt"
    torch.save(state, path)
    mapped = torch.load(path, weights_only=True, mmap=True)
    assert all(torch.equal(mapped[n], t) for n, t in state.items())  # every page read once
    pages = MappedPages(path, mapped)
    touched = _mapped_rss(path)
    assert touched >= fused.nbytes + whole.nbytes

    pages.used("q")
    assert pages.released >= fused[0].nbytes - 2 * 4096
    assert _mapped_rss(path) <= touched - pages.released
    assert torch.equal(mapped["k"], state["k"]) and torch.equal(mapped["v"], state["v"])
    before = pages.released
    pages.used("whole")  # the alias still reads some of its pages: nothing goes back yet
    assert pages.released == before and torch.equal(mapped["alias"], state["alias"])
    pages.used("alias")
    assert pages.released >= before + whole.nbytes - 2 * 4096

    heap = {name: t.clone() for name, t in state.items()}
    on_heap = MappedPages(path, heap)  # the file's name, but tensors that are not in its mapping
    for name in heap:
        on_heap.used(name)
    assert on_heap.released == 0 and all(torch.equal(heap[n], t) for n, t in state.items())


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
    """Peak RSS that loading adds over the imports, against the float32 model's size. From the cache,
    float32: the model and one tensor's pages of the mapped file (given back as each tensor is
    converted), 1.08x on 2026-12-06; before, the whole mapped half-precision file beside the model
    (1.5x), and before that the file's bytes, the unpickled checkpoint and a second model (2x). int8:
    each linear quantised as it is taken from the file and the lookup embedding kept in half
    precision, 0.85x; before, the float32 model was built first (1.5x). Converting first (a cold
    cache) holds the CTranslate2 weights once (1.08x). The first int8 load on a machine also times its
    attention kernels on a window's worth of activations (1.19-1.23x, 2026-12-06); later loads read the
    choice."""
    cold = _peak(tmp_path, "float32")
    warm = _peak(tmp_path, "float32")
    int8_first = _peak(tmp_path, "int8")   # the first int8 load on a machine also times its kernels
    int8 = _peak(tmp_path, "int8")         # every later one reads the choice (kernels.py)
    size = warm["float32_bytes"]
    ratios = {k: round(v["added"] / size, 2)
              for k, v in dict(cold=cold, warm=warm, int8_first=int8_first, int8=int8).items()}
    assert ratios["warm"] <= 1.2 and ratios["int8"] <= 0.95 and ratios["cold"] <= 1.2, ratios
    # the timing runs one window's activations (an encoder block, a 5-row cache): less than transcribing
    # adds (tiny.en int8 greedy: 1.44x the float32 model, docs/benchmarks.md); measured 1.19-1.23x
    assert ratios["int8_first"] <= 1.4, ratios
