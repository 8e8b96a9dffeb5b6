"""Issue 18, item 12: every public transcription function is safe from several threads at once,
next to synthesis: results equal the same calls made one at a time."""
from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from asr_fixtures import clip, model, waveform, window_mel
from tts_temp.asr import transcribe
from tts_temp.asr.quantize import apply_compute_type

import tts_temp

ROOT = Path(tts_temp.__file__).resolve().parents[1]  # the tree under test (its own copy of tts_temp)


@functools.lru_cache(maxsize=None)
def int8_model():
    return apply_compute_type(copy.deepcopy(model()), "int8", "cpu")


@pytest.mark.parametrize("compute_type", ["float32", "int8"])
def test_encoder_ignores_whispers_process_wide_sdpa_flag(compute_type):
    """whisper's word alignment flips MultiHeadAttention.use_sdpa for the whole process: an encoder
    pass in another thread at that moment must give the same numbers."""
    from whisper.model import disable_sdpa

    m = model() if compute_type == "float32" else int8_model()
    transcribe(m, np.zeros(0, np.float32))  # what transcribe does to a model before its first window
    mel = window_mel("jfk").unsqueeze(0)
    with torch.inference_mode():
        plain = m.encoder(mel)
        with disable_sdpa():
            flipped = m.encoder(mel)
    assert torch.equal(plain, flipped), float((plain - flipped).abs().max())


_VAD_SCRIPT = """
import sys, threading, numpy as np, torch
from tts_temp.audio import load
from tts_temp.asr.vad import VadOptions, speech_chunks
torch.set_num_threads(1)
clips = [load(p, 16000) for p in sys.argv[1:]]
clips = [np.concatenate([np.zeros(16000 * (i + 1), np.float32), c, np.zeros(24000, np.float32), c])
         for i, c in enumerate(clips)]
alone = [speech_chunks(c, VadOptions()) for c in clips]
results, errors = {}, []
def work(i):
    try:
        results[i] = [speech_chunks(clips[i], VadOptions()) for _ in range(3)]
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=work, args=(i,)) for i in range(len(clips))]
[t.start() for t in threads]; [t.join() for t in threads]
assert not errors, errors
assert all(r == [alone[i]] * 3 for i, r in results.items()), "threads changed the VAD's chunks"
print("ok", [len(a) for a in alone])
"""


def test_vad_from_several_threads():
    """Silero's model is stateful: shared, two threads crashed the process. In a child process, so
    that a crash fails this test instead of ending the run."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    names = ["jfk", "librivox_sense_0870", "librivox_sense_0880", "librivox_sense_0930"]
    proc = subprocess.run([sys.executable, "-c", _VAD_SCRIPT, *map(clip, names)], capture_output=True, text=True,
                          env=env, timeout=600, cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.startswith("ok"), (proc.returncode, proc.stderr[-2000:])


TEXT = "The birch canoe slid on the smooth planks."


def _jobs():
    """Four transcriptions (float32 and int8, with and without VAD, with word timestamps, greedy
    and sampled) and two seeded syntheses with the shipped default voice."""
    from tts_temp import verify
    from tts_temp.tts.synthesize import synthesize
    from tts_temp.tts.voice import load_voice

    voice = load_voice()
    quiet_start = np.concatenate([np.zeros(16000 * 2, np.float32), waveform("librivox_sense_0870")])

    def asr(m, audio, **options):
        return lambda: json.dumps(transcribe(m, audio, **options).to_dict(), sort_keys=True)

    def tts():
        wav, sr = synthesize(voice, TEXT, temperature=0.667, seed=3)
        return wav.tobytes(), sr

    def verified():
        speech = verify.synthesize(voice, TEXT, temperature=0.5, seed=4)
        return speech.waveform.tobytes(), speech.sample_rate

    return {
        "float32 words": asr(model(), clip("jfk"), temperature=0.0, word_timestamps=True),
        "int8 vad words": asr(int8_model(), quiet_start, temperature=0.0, vad_filter=True, word_timestamps=True),
        "float32 vad sampled": asr(model(), clip("librivox_sense_0880"), temperature=(0.5, 1.0), seed=7, best_of=2,
                                   vad_filter=True),
        "int8 sampled words": asr(int8_model(), clip("librivox_sense_0930"), temperature=0.7, seed=9, best_of=2,
                                  word_timestamps=True),
        "tts synthesize": tts,
        "roundtrip synthesize": verified,
    }


def test_transcribing_and_synthesising_at_once_equals_one_at_a_time():
    jobs = _jobs()
    alone = {name: job() for name, job in jobs.items()}
    for _ in range(2):
        together, errors = {}, []
        barrier = threading.Barrier(len(jobs))

        def run(name, job):
            try:
                barrier.wait()
                together[name] = job()
            except Exception as exc:  # reported below with its name
                errors.append(f"{name}: {exc!r}")

        threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        different = [name for name in jobs if together[name] != alone[name]]
        assert not different, different


def test_word_alignment_leaves_the_callers_thread_count(tmp_path):
    """whisper's alignment (numba's first call in a thread) used to reset the torch thread count, so
    windows after the first ran with another count than the caller set, and the record said so."""
    import subprocess
    import sys
    script = (
        "import threading, torch\n"
        "from tts_temp.asr import load_model, transcribe\n"
        "from tts_temp.demo import demo_clip\n"
        "m = load_model('tiny.en')\n"
        "out = []\n"
        "def run():\n"
        "    torch.set_num_threads(1)\n"
        "    t = transcribe(m, str(demo_clip()), temperature=0.0, word_timestamps=True)\n"
        "    out.append((t.torch_threads, torch.get_num_threads()))\n"
        "th = threading.Thread(target=run); th.start(); th.join()\n"
        "print(out[0])\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip().splitlines()[-1] == "(1, 1)"
