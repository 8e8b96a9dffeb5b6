"""Kernel choices measured at load (asr/kernels.py): what is chosen is what runs, the cache is read
back and keyed by what the choice depends on, a broken cache is measured again, `rule` is the old
fixed rule, and both attention dtypes of an int8 model give the float32 model's words."""
from __future__ import annotations

import copy
import json

import pytest
import torch
import whisper

from asr_fixtures import DATA, cache_dir
from tts_temp.asr import kernels, load_model, transcribe
from tts_temp.asr import decoder_plan
from tts_temp.asr.decoder_plan import DecoderPlan
from tts_temp.asr.inference import EncodedWindow
from tts_temp.audio import load
from tts_temp.errors import UserError
from tts_temp.score import wer

needs_bf16 = pytest.mark.skipif(not kernels.bf16_native(), reason="this CPU has no native bfloat16: nothing to choose")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path))
    monkeypatch.delenv(kernels.ENV, raising=False)
    return tmp_path


def _load(compute_type: str):
    """A model converted into the tests' private cache (never the user's)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TTS_TEMP_CACHE", cache_dir())
        return load_model("tiny.en", device="cpu", compute_type=compute_type)


@pytest.fixture(scope="module")
def int8():
    return _load("int8")


def test_cpu_info_names_the_cpu_and_only_known_flags():
    info = kernels.cpu_info()
    assert info.model and set(info.flags) <= set(kernels.ISA_FLAGS)
    assert info.model in info.describe()


@needs_bf16
def test_a_measured_choice_is_cached_and_read_back_by_the_next_load(cache, int8):
    first = kernels.choose(int8, "int8")
    assert first.how == "measure"
    assert set(first.seconds) == ({f"encoder block, {k}" for k in kernels.ENCODER_KERNELS}
                                  | {f"decoding steps, {k}" for k in kernels.DECODER_KERNELS})
    assert all(v > 0 for v in first.seconds.values())
    # the fastest is chosen; another than float32 only when clearly faster than float32
    for part, name, candidates in (("encoder", "encoder block", kernels.ENCODER_KERNELS),
                                   ("decoder", "decoding steps", kernels.DECODER_KERNELS)):
        chosen = getattr(first, f"{part}_attention")
        t = {c: first.seconds[f"{name}, {c}"] for c in candidates}
        if chosen == "float32":
            assert all(t[c] >= kernels.MARGIN * t["float32"] or t[c] > min(t.values()) for c in candidates)
        else:
            assert t[chosen] == min(t.values()) and t[chosen] < kernels.MARGIN * t["float32"]
    entries = json.loads((cache / "kernels.json").read_text())
    assert len(entries) == 1 and next(iter(entries.values()))["cpu"] == kernels.cpu_info().describe()
    again = kernels.choose(int8, "int8")
    assert again.how == "cached"
    assert (again.encoder_attention, again.decoder_attention) == (first.encoder_attention, first.decoder_attention)


def test_the_key_follows_threads_compute_type_and_model_shape(int8):
    k = kernels.key(int8, "int8")
    assert k == kernels.key(int8, "int8")
    assert k != kernels.key(int8, "float32")
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        assert kernels.key(int8, "int8") != k
    finally:
        torch.set_num_threads(threads)


@needs_bf16
def test_a_broken_cache_is_measured_again(cache, int8):
    (cache / "kernels.json").write_text("{not json")
    assert kernels.choose(int8, "int8").how == "measure"
    json.loads((cache / "kernels.json").read_text())   # and written whole again
    for entry in ({"no_such_field": 1}, {"choice": {"no_such_field": 1}},
                  {"choice": {"decoder_attention": "float8"}}, {"choice": 3}):
        (cache / "kernels.json").write_text(json.dumps({kernels.key(int8, "int8"): entry}))
        assert kernels.choose(int8, "int8").how == "measure"


def test_rule_is_the_fixed_choice_and_a_bad_mode_is_one_line(cache, int8, monkeypatch):
    monkeypatch.setenv(kernels.ENV, "rule")
    choice = kernels.choose(int8, "int8")
    low = "bfloat16" if kernels.bf16_native() else "float32"
    assert (choice.how, choice.encoder_attention, choice.decoder_attention) == ("rule", low, low)
    assert not (cache / "kernels.json").exists()
    monkeypatch.setenv(kernels.ENV, "fastest")
    with pytest.raises(UserError, match=r"^\$TTS_TEMP_KERNELS must be one of measure, rule, got 'fastest'$"):
        kernels.choose(int8, "int8")


@pytest.mark.parametrize("kernel", kernels.DECODER_KERNELS)
def test_the_chosen_attention_is_what_runs_and_gives_the_words(int8, kernel):
    saved = int8.kernels
    try:
        kernels.apply(int8, kernels.KernelChoice(kernel.split("-")[0], kernel, False, "measure"))
        audio = load(DATA / "jfk.wav")
        t = transcribe(int8, audio, temperature=0.0, language="en")
        beams = transcribe(int8, audio, temperature=0.0, language="en", beam_size=5)
        window = EncodedWindow.encode(int8, whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(audio))))
        low = kernel != "float32"
        assert window.cross_kv[0][0].dtype == (torch.bfloat16 if low else torch.float32)
        assert int8.cross_attention_kernel == ("matmul" if kernel.endswith("-matmul") else "sdpa")
        assert all(b.attn.attention_dtype == (torch.bfloat16 if low else None) for b in int8.encoder.blocks)
        for text in (t.text, beams.text):
            assert "ask not what your country can do for you" in text.lower()
    finally:
        kernels.apply(int8, saved)


def test_matmul_cross_attention_is_attention():
    """The two-matmul path equals SDPA's float32 attention up to bfloat16 rounding, for 1 and 5 rows."""
    from tts_temp.asr.inference import _heads, _matmul_attention, _merge

    g = torch.Generator().manual_seed(0)
    n_head, c = 6, 384
    k, v = (torch.randn(1, n_head, 1500, c // n_head, generator=g) for _ in range(2))
    for rows in (1, 5):
        q = torch.randn(rows, 1, c, generator=g)
        exact = _merge(torch.nn.functional.scaled_dot_product_attention(
            _heads(q.reshape(1, rows, c), n_head), k, v)).reshape(rows, 1, c)
        got = _matmul_attention(q, k.bfloat16(), v.bfloat16(), n_head)
        assert got.dtype == torch.float32 and got.shape == (rows, 1, c)
        assert (got - exact).abs().max() < 0.05 * exact.abs().max()


def test_a_float32_embedding_packs_its_projection_only_when_chosen():
    """oneDNN's packed float32 copy is for a float32 embedding (a float32 checkpoint); one kept in
    half precision projects with fbgemm's half-precision copy whatever the choice, and packs nothing else."""
    loaded = _load("float32")
    wide = copy.deepcopy(loaded)
    wide.decoder.token_embedding.weight = torch.nn.Parameter(loaded.decoder.token_embedding.weight.float(),
                                                             requires_grad=False)
    for model in (loaded, wide):
        saved = model.kernels
        try:
            for pack in (False, True):
                kernels.apply(model, kernels.KernelChoice(pack_projection=pack, how="measure"))
                decoder_plan._PLANS.pop(model, None)   # the plan reads the choice when it is made
                plan = DecoderPlan.of(model, torch.float32)
                x = torch.randn(5, 1, model.dims.n_text_state, generator=torch.Generator().manual_seed(0))
                exact = x @ model.decoder.token_embedding.weight.float().T
                assert (plan.project(x) - exact).abs().max() < 1e-4
                if model is loaded:
                    assert plan.project.blocks and plan.project.packed is None
                else:
                    assert (plan.project.packed is not None) == (pack and torch.backends.mkldnn.is_available())
                    # a float32 embedding stored as a view of its transpose is the projection's matrix: no copy
                    assert plan.project.matrix.data_ptr() == model.decoder.token_embedding.weight.data_ptr()
        finally:
            kernels.apply(model, saved)
            decoder_plan._PLANS.pop(model, None)


def test_a_half_precision_embedding_is_widened_where_fbgemm_cannot_pack():
    """Under an engine without fbgemm's half-precision products (qnnpack) the projection widens the
    embedding instead: the same logits to rounding, from MKL's float32 product."""
    embedding = torch.randn(1000, 64, generator=torch.Generator().manual_seed(0)).half()
    x = torch.randn(5, 1, 64, generator=torch.Generator().manual_seed(1))
    exact = x @ embedding.float().T
    saved = torch.backends.quantized.engine
    try:
        if "qnnpack" in torch.backends.quantized.supported_engines:
            torch.backends.quantized.engine = "qnnpack"
            widened = decoder_plan.FloatProjection(embedding, torch.float32, pack=False)
            assert widened.blocks is None and widened.matrix.dtype == torch.float32
            assert (widened(x) - exact).abs().max() < 1e-5
    finally:
        torch.backends.quantized.engine = saved
    if decoder_plan.half_products():
        packed = decoder_plan.FloatProjection(embedding, torch.float32)
        assert packed.blocks and (packed(x) - exact).abs().max() < 1e-5


def test_int8_text_matches_float32_under_the_measured_choice(int8):
    model = _load("float32")
    audio = load(DATA / "librivox_sense_0870.wav")
    f32 = transcribe(model, audio, temperature=0.0, language="en").text
    q = transcribe(int8, audio, temperature=0.0, language="en").text
    assert wer(f32, q) <= 0.05, (f32, q)
