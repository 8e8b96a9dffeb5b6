"""Speed of tts_temp's transcribe (float32 and int8) against stock whisper and faster-whisper.

All systems run the same bundled tiny.en with the same options on the same audio: by default
a real-speech clip of >= 60 s made by concatenating the test clips (tests/data) twice. Runs are
interleaved (every system once per repeat, the order reversed on odd repeats) so that a busy
machine slows all columns alike; the table reports medians. With the fallback forced (logprob
threshold 0), all six temperatures run on every window (best_of 5 above T = 0): stock
re-encodes the audio for each, tts_temp encodes once. faster-whisper (CTranslate2 int8 and
float32, from the same CTranslate2 model.bin we convert) is a reference column when installed;
its float32 column is left out of the fallback mode (a long run that the targets do not use).

    python scripts/bench_asr.py [--audio clip.wav] [--repeats 3] [--threads 1 2] [--configs ...]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import whisper

from tts_temp.asr import load_model, transcribe
from tts_temp.asr.fallback import WHISPER_SCHEDULE
from tts_temp.asr.weights import bundled_model_dir
from tts_temp.audio import load

DATA = Path(__file__).resolve().parents[1] / "tests/data"
CONFIGS = {
    "T=0 greedy": dict(temperature=0.0),
    "T=0 beam 5": dict(temperature=0.0, beam_size=5),
    "fallback x6 (best_of 5)": dict(temperature=WHISPER_SCHEDULE, beam_size=5, best_of=5,
                                    logprob_threshold=0.0, no_speech_threshold=None),
}


def speech_clip() -> np.ndarray:
    """The English test clips (JFK, LibriVox), concatenated twice: 71.5 s of real speech over three
    30 s windows. The French and Spanish prompts stay out: tiny.en is English-only."""
    clips = [load(p) for p in sorted(DATA.glob("*.wav")) if not p.name.startswith(("asterisk_fr", "asterisk_es"))]
    return np.concatenate(clips + clips)


def _faster_whisper(audio: np.ndarray, compute_type: str, threads: int):
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        return None
    fw = WhisperModel(str(bundled_model_dir()), device="cpu", compute_type=compute_type, cpu_threads=threads)

    def run(opts: dict) -> str:
        segments, _ = fw.transcribe(audio, language="en", temperature=opts.get("temperature", 0.0),
                                    beam_size=opts.get("beam_size", 1), best_of=opts.get("best_of", 5),
                                    log_prob_threshold=opts.get("logprob_threshold", -1.0),
                                    no_speech_threshold=opts.get("no_speech_threshold", 0.6),
                                    vad_filter=False, without_timestamps=False)
        return "".join(s.text for s in segments)

    return run


def bench(audio: np.ndarray, threads: int, configs: list[str], repeats: int, fallback_repeats: int) -> None:
    torch.set_num_threads(threads)
    f32 = load_model()
    int8 = load_model(compute_type="int8")
    systems = {
        "stock": lambda o: whisper.transcribe(f32, audio, fp16=False, **o)["text"],
        "ours f32": lambda o: transcribe(f32, audio, seed=0, **o).text,
        "ours int8": lambda o: transcribe(int8, audio, seed=0, **o).text,
    }
    for ct in ("int8", "float32"):
        fw = _faster_whisper(audio, ct, threads)
        if fw is not None:
            systems[f"fw {ct}"] = fw
    for run in systems.values():  # warm-up: lazy imports, first-call allocations
        run(CONFIGS["T=0 greedy"])

    print(f"\naudio {audio.size / 16000:.1f} s, tiny.en, {threads} thread(s), median seconds of interleaved "
          f"runs ({repeats} repeats; fallback {fallback_repeats})")
    cols = list(systems)
    header = ["mode", *(f"{c} s" for c in cols), "f32/stock"]
    header += ["f32/fw f32"] if "fw float32" in cols else []
    header += ["int8/fw int8"] if "fw int8" in cols else []
    header += ["f32 text = stock", "int8 text = f32"]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name in configs:
        opts = CONFIGS[name]
        fallback = "fallback" in name
        names = [c for c in cols if not (fallback and c == "fw float32")]
        times: dict[str, list[float]] = {c: [] for c in names}
        texts: dict[str, str] = {}
        for r in range(fallback_repeats if fallback else repeats):
            for c in names if r % 2 == 0 else reversed(names):
                t0 = time.perf_counter()
                texts[c] = systems[c](opts)
                times[c].append(time.perf_counter() - t0)
                print(f"  {threads} thread(s) {name} repeat {r + 1}: {c} {times[c][-1]:.2f} s", file=sys.stderr,
                      flush=True)
        med = {c: statistics.median(v) for c, v in times.items()}
        row = [name, *(f"{med[c]:.2f}" if c in med else "–" for c in cols), f"{med['ours f32'] / med['stock']:.2f}"]
        if "fw float32" in cols:
            row.append(f"{med['ours f32'] / med['fw float32']:.2f}" if "fw float32" in med else "–")
        if "fw int8" in cols:
            row.append(f"{med['ours int8'] / med['fw int8']:.2f}")
        sampled = " (sampled)" if fallback else ""
        row.append(("yes" if texts["ours f32"] == texts["stock"] else "no") + sampled)
        row.append(("yes" if texts["ours int8"] == texts["ours f32"] else "no") + sampled)
        print("| " + " | ".join(row) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", default=None, help="a wav file (default: the test clips twice, 71.5 s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fallback-repeats", type=int, default=None, help="default: --repeats")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="one table per thread count")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="FP16 is not supported on CPU")
    audio = load(args.audio) if args.audio else speech_clip()
    for threads in args.threads:
        bench(audio, threads, args.configs, args.repeats, args.fallback_repeats or args.repeats)


if __name__ == "__main__":
    main()
