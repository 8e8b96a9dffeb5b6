"""Issue 18, transcription items 10-20: each defect reproduced through public behaviour."""
from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import whisper

from cli_helpers import one_error_line as _one_line
from asr_fixtures import base_model, cache_dir, clip, model, waveform, window_mel, copy_bundled
from tts_temp.asr import transcribe, weights
from tts_temp.cli import main

import tts_temp

ROOT = Path(tts_temp.__file__).resolve().parents[1]  # the tree under test (its own copy of tts_temp)
SPEECH = "ask not what your country can do for you"


def _cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(["transcribe", *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def converted_cache(monkeypatch):
    model()
    monkeypatch.setenv("TTS_TEMP_CACHE", cache_dir())


def _strict_json(text: str) -> dict:
    def refuse(name):
        raise AssertionError(f"{name} in the JSON output")
    return json.loads(text, parse_constant=refuse)


# 10. int8 on CPUs without VNNI: 7-bit activations, so fbgemm's 16-bit pair sums never saturate
_AVX2_SCRIPT = """
import json, sys, torch
import torch.nn.functional as F
from tts_temp.asr import load_model, transcribe
from tts_temp.asr.quantize import Int8Linear
torch.set_num_threads(1)
gen = torch.Generator().manual_seed(0)
weight = torch.rand(64, 384, generator=gen) + 0.5   # large weights of one sign ...
x = torch.rand(4, 384, generator=gen) + 0.5          # ... against large positive activations
layer = Int8Linear(weight, None)
exact = F.linear(x, weight)
error = float((layer(x) - exact).norm() / exact.norm())
f32 = transcribe(load_model("tiny.en"), sys.argv[1], temperature=0.0).text
i8 = transcribe(load_model("tiny.en", compute_type="int8"), sys.argv[1], temperature=0.0).text
print(json.dumps({"error": error, "reduce_range": getattr(layer, "reduce_range", None), "f32": f32, "i8": i8}))
"""


def test_int8_is_right_with_the_avx2_kernels():
    model()  # the conversion is in the test cache already
    env = {**os.environ, "FBGEMM_ENABLE_INSTRUCTIONS": "AVX2", "OMP_NUM_THREADS": "1",
           "TTS_TEMP_CACHE": cache_dir(), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", _AVX2_SCRIPT, clip("jfk")], capture_output=True, text=True,
                          env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["error"] < 0.02, result  # saturated 16-bit sums gave ~0.5 here
    assert result["reduce_range"] is True
    from tts_temp.score import whisper_normalise

    # the same words as float32 (7-bit activations may still move a full stop)
    assert whisper_normalise(result["i8"]) == whisper_normalise(result["f32"]), result


# 11. --vad-filter with --clip-timestamps: the clips name times of the original audio
def test_vad_with_clips_keeps_the_whole_clip():
    audio = np.concatenate([np.zeros(3 * 16000, np.float32), waveform("jfk")])
    seconds = len(audio) / 16000
    result = transcribe(model(), audio, temperature=0.0, vad_filter=True, clip_timestamps=f"3,{seconds}")
    assert "and so my fellow americans" in result.text.lower(), result.text
    assert SPEECH in result.text.lower().replace(",", "")
    assert all(3.0 - 0.5 <= s.start <= s.end <= seconds for s in result.segments), \
        [(s.start, s.end) for s in result.segments]
    # a clip that holds no speech decodes nothing
    silent = transcribe(model(), audio, temperature=0.0, vad_filter=True, clip_timestamps="0,2")
    assert silent.text == "" and silent.segments == []


# 13. a tiny temperature is the argmax, never NaN -> the last token; the JSON is JSON
def test_tiny_temperature_is_greedy_and_json_is_strict(capsys, converted_cache):
    code, out, err = _cli(capsys, clip("jfk"), "--temperature", "1e-40", "--seed", "1", "--best-of", "1")
    assert code == 0, err
    tiny = _strict_json(out)
    code, out, err = _cli(capsys, clip("jfk"), "--temperature", "0", "--beam-size", "None")
    greedy = _strict_json(out)
    assert tiny["text"] == greedy["text"] and SPEECH in tiny["text"].lower().replace(",", "")
    assert all(s["text"].strip() for s in tiny["segments"])


def test_sample_logits_at_a_vanishing_temperature_is_the_argmax():
    try:
        from tts_temp.sampling.temperature import sample_logits
    except ImportError:  # before the sampling package (5aa20ee)
        from tts_temp.temperature import sample_logits

    logits = torch.randn(3, 51864, generator=torch.Generator().manual_seed(0)) * 5
    logits[:, -1] = -math.inf  # a forbidden token (whisper's filters) must never be drawn
    for t in (1e-40, 1e-45, 1e-30):
        drawn = sample_logits(logits, t, torch.Generator().manual_seed(1))
        assert torch.equal(drawn, logits.argmax(dim=-1)), t


def test_non_finite_numbers_are_null_in_the_json():
    result = transcribe(model(), clip("jfk"), temperature=0.0)
    result.segments[0].attempts[0].avg_logprob = -math.inf
    result.segments[0].attempts[0].compression_ratio = math.nan
    text = json.dumps(result.to_dict(), allow_nan=False)
    attempt = _strict_json(text)["segments"][0]["attempts"][0]
    assert attempt["avg_logprob"] is None and attempt["compression_ratio"] is None


# 14. seeds: drawn below 2**53; per attempt its own seed and window; user seeds checked
def test_drawn_seeds_survive_json_doubles():
    seeds = [transcribe(model(), np.zeros(0, np.float32), temperature=0.5).seed for _ in range(40)]
    assert all(isinstance(s, int) and 0 <= s < 2**53 for s in seeds)
    assert len(set(seeds)) == len(seeds)


def test_each_attempt_records_what_replays_it():
    from tts_temp.sampling.seeds import derive_seed

    t = transcribe(model(), clip("librivox_sense_0930"), compression_ratio_threshold=0.1, logprob_threshold=None,
                   temperature=(0.0, 0.5, 1.0), seed=5, best_of=1)
    records = _strict_json(json.dumps(t.to_dict()))["segments"][0]["attempts"]
    assert [a["temperature"] for a in records] == [0.0, 0.5, 1.0]
    assert records[0]["seed"] is None  # T = 0 draws nothing
    for index, a in enumerate(records[1:], start=1):
        assert a["seek"] == 0 and a["frames"] == len(waveform("librivox_sense_0930")) // 160 and a["seed"] == derive_seed(5, 0, index) and a["seed"] < 2**53
    assert t.to_dict()["torch_threads"] == torch.get_num_threads()
    # the recorded seed and window alone replay the attempt: one decode of that window at that
    # temperature with that generator seed
    from tts_temp.asr.inference import EncodedWindow
    from tts_temp.asr.sampler import SamplingOptions
    from tts_temp.asr.transcribe import _WindowTask
    from whisper.decoding import DecodingOptions

    kept, record = t.segments[0].attempts[2], records[2]
    mel = whisper.log_mel_spectrogram(torch.from_numpy(waveform("librivox_sense_0930")), padding=whisper.audio.N_SAMPLES)
    window_mel_ = whisper.pad_or_trim(mel[:, record["seek"]:record["seek"] + record["frames"]], whisper.audio.N_FRAMES)
    window = EncodedWindow.encode(model(), window_mel_)
    task = _WindowTask(model(), DecodingOptions(temperature=1.0, best_of=1, fp16=False, language="en"), window,
                       SamplingOptions(temperature=1.0, seed=records[2]["seed"]))
    assert list(task.run(window.features)[0].tokens) == kept.tokens


@pytest.mark.parametrize("seed", ["-1", str(2**53), "18446744073709551616"])
def test_out_of_range_seeds_are_one_line(capsys, monkeypatch, seed):
    monkeypatch.setattr(weights, "load_model", _no_model)
    code, out, err = _cli(capsys, clip("jfk"), "--temperature", "0.5", "--seed", seed)
    assert code == 2 and out == "" and "2**53" in _one_line(err)


# 15. bad options: one line, exit 2, before any audio is read or a model is loaded
def _no_model(*args, **kwargs):
    raise AssertionError("a model was loaded before the options were checked")


@pytest.mark.parametrize("argv, words", [
    (["--patience", "-1"], "patience"),
    (["--length-penalty", "2"], "length_penalty"),
    (["--vad-filter", "--vad-parameters", '{"threshold": "high"}'], "threshold"),
    (["--vad-filter", "--vad-parameters", "[1,2]"], "JSON object"),
    (["--vad-filter", "--vad-parameters", '{"speech_pad_ms": -100000}'], "speech_pad_ms"),
    (["--vad-filter", "--vad-parameters", '{"max_speech_duration_s": 0}'], "max_speech_duration_s"),
    (["--best-of", "x"], "best-of"),
])
def test_bad_options_before_any_work(capsys, monkeypatch, argv, words):
    monkeypatch.setattr(weights, "load_model", _no_model)
    code, out, err = _cli(capsys, clip("jfk"), *argv)
    assert code == 2 and out == "" and words in _one_line(err)


def test_output_dir_below_a_file_is_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(weights, "load_model", _no_model)
    (tmp_path / "file").write_text("x")
    code, out, err = _cli(capsys, clip("jfk"), "-o", str(tmp_path / "file" / "out"))
    assert code == 2 and "file" in _one_line(err)


def test_all_formats_are_written_together_or_not_at_all(capsys, converted_cache, tmp_path):
    out_dir = tmp_path / "out"
    (out_dir / "jfk.srt").mkdir(parents=True)  # one output cannot be written
    code, out, err = _cli(capsys, clip("jfk"), "--temperature", "0", "-f", "all", "-o", str(out_dir))
    assert code == 2 and "jfk.srt" in err and "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["jfk.srt"]  # no txt, json, vtt, tsv, no temp files


# 16. the cache: device errors are not damage; a checksum on the output; unwritable -> memory
def test_device_error_is_not_a_damaged_checkpoint(tmp_path, monkeypatch):
    from whisper.model import Whisper

    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path / "cache"))
    folder = copy_bundled(tmp_path)
    weights.load_model(str(folder), device="cpu")
    (cached,) = (tmp_path / "cache").glob("*.pt")
    before = cached.stat().st_ino, cached.stat().st_mtime_ns
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)

    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 MiB")

    monkeypatch.setattr(Whisper, "to", out_of_memory)
    with pytest.raises(weights.UserError) as info:
        weights.load_model(str(folder), device="cuda", compute_type="float32")
    assert "out of memory" in str(info.value) and "not a usable" not in str(info.value)
    assert (cached.stat().st_ino, cached.stat().st_mtime_ns) == before  # the good conversion is kept
    with pytest.raises(weights.UserError, match="1 CUDA device"):
        weights.load_model(str(folder), device="cuda:1")


def test_flipped_byte_in_the_cache_is_caught(tmp_path, monkeypatch):
    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path / "cache"))
    folder = copy_bundled(tmp_path)
    weights.load_model(str(folder), device="cpu")
    (cached,) = (tmp_path / "cache").glob("*.pt")
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0x40  # inside the weights
    cached.write_bytes(bytes(data))
    m = weights.load_model(str(folder), device="cpu")
    reference = model().state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in m.state_dict().items())


def test_unwritable_cache_falls_back_to_memory(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("TTS_TEMP_CACHE", str(tmp_path / "file" / "cache"))
    folder = copy_bundled(tmp_path)
    m = weights.load_model(str(folder), device="cpu")
    assert "cannot write the model cache" in _one_line(capsys.readouterr().err)
    assert torch.equal(m.encoder.conv1.weight, model().encoder.conv1.weight)
    weights.load_model(str(folder), device="cpu")
    assert capsys.readouterr().err == ""  # warned once


# 17. VAD word times: both ends through the chunk that holds the word's middle
def test_vad_words_never_span_removed_silence():
    from tts_temp.asr.vad import VadOptions, speech_chunks

    speech = waveform("jfk")
    cut = int(5.2 * 16000)  # inside "fellow Americans, ask not ..."
    audio = np.concatenate([speech[:cut], np.zeros(6 * 16000, np.float32), speech[cut:]])
    chunks = [(c["start"] / 16000, c["end"] / 16000) for c in speech_chunks(audio, VadOptions())]
    assert len(chunks) == 2
    result = transcribe(model(), audio, temperature=0.0, vad_filter=True, word_timestamps=True)
    words = [w for s in result.segments for w in s.words]
    assert words
    gap = chunks[1][0] - chunks[0][1]  # the silence the VAD removed (6 s less the padding)
    for w in words:  # no word spans the removed silence (a word at a join may reach into its padding)
        assert w["end"] - w["start"] < gap / 2, (w, chunks)
    for s in result.segments:
        assert (s.start, s.end) == (s.words[0]["start"], s.words[-1]["end"])


# 18. quiet real speech is speech
def test_speech_at_minus_81_dbfs_is_transcribed():
    speech = waveform("jfk")
    quiet = speech / np.abs(speech).max() * 10 ** (-81 / 20)
    result = transcribe(model(), quiet.astype(np.float32), temperature=0.0)
    assert not result.skipped, result.skipped
    assert "what your country can do for you" in result.text.lower()  # the log-mel floor blurs a word or two
    assert transcribe(model(), np.zeros(16000 * 3, np.float32), temperature=0.0).skipped  # true silence still is


# 19. nothing to detect a language from: a multilingual model says so
def test_no_audio_has_no_detected_language():
    empty = transcribe(base_model(), np.zeros(0, np.float32), temperature=0.0)
    assert empty.language is None and empty.language_probability is None
    assert empty.to_dict()["language_source"] == "none"
    silent = transcribe(base_model(), np.zeros(16000 * 2, np.float32), temperature=0.0, vad_filter=True)
    assert silent.language is None and silent.to_dict()["language_source"] == "none"
    given = transcribe(base_model(), np.zeros(0, np.float32), temperature=0.0, language="fr")
    assert (given.language, given.to_dict()["language_source"]) == ("fr", "given")
    english = transcribe(model(), np.zeros(0, np.float32), temperature=0.0)
    assert (english.language, english.to_dict()["language_source"]) == ("en", "model")


# 20. the decoder plan follows in-place changes, also through .data and of the int8 embedding
def _logits(m, window) -> torch.Tensor:
    from tts_temp.asr.inference import CachedInference

    tokens = torch.tensor([[50257, 50362, 843, 523]])
    return CachedInference(m, window, 2).logits(tokens, window.features)


@pytest.mark.parametrize("compute_type", ["float32", "int8"])
def test_plan_follows_weight_changes(compute_type):
    from tts_temp.asr.inference import EncodedWindow
    from tts_temp.asr.quantize import apply_compute_type

    changed = apply_compute_type(copy.deepcopy(model()), compute_type, "cpu")
    window = EncodedWindow.encode(changed, window_mel("jfk"))
    _logits(changed, window)  # the plan is made and cached
    with torch.no_grad():
        changed.decoder.token_embedding.weight.data[:, :64] *= -1.5  # in place, through .data
        if compute_type == "float32":
            changed.decoder.blocks[0].mlp[0].weight.data.mul_(0.5)
    fresh_float = copy.deepcopy(model())
    with torch.no_grad():
        fresh_float.decoder.token_embedding.weight[:, :64] *= -1.5
        if compute_type == "float32":
            fresh_float.decoder.blocks[0].mlp[0].weight.mul_(0.5)
    fresh = apply_compute_type(fresh_float, compute_type, "cpu")
    assert torch.equal(_logits(changed, window), _logits(fresh, window))
