"""Where a transcription's time goes, ours against faster-whisper: the encoder per 30 s window, and
the rest (decoding steps, features, bookkeeping) per text token.

Why: `bench_asr.py` times whole transcriptions, and two systems can read one recording as a
different number of windows (a segment boundary a few frames apart moves the next window's start).
This splits the time so that a gap can be put where it is: in the encoder, or in each decoding step.
Both transcribe the same audio (default: the first 29.9 s of bench_asr's clip, read by both as the
same windows); the encoder's seconds are timed around our encoder's forward, and for faster-whisper
around CTranslate2's `encode` on the same features, times its windows. Best of `--repeats`.

    python scripts/bench_asr_split.py [--model tiny.en|base] [--compute-type int8] [--beam-size 5]
                                      [--start 0] [--seconds 29.9] [--repeats 4]
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch
from whisper.audio import SAMPLE_RATE

from bench_asr import ct2_dir, speech_clip
from tts_temp.asr import kernels, load_model, packaged, transcribe
from tts_temp.asr.weights import BUNDLED


@dataclass
class Split:
    total: float     # seconds for the whole transcription
    encoder: float   # of which the encoder (all windows)
    windows: int
    tokens: int      # text and timestamp tokens of the segments

    def row(self, who: str) -> str:
        rest = self.total - self.encoder
        return (f"| {who} | {self.total:.3f} | {self.windows} | {self.encoder / self.windows:.3f} | {rest:.3f} "
                f"| {self.tokens} | {1000 * rest / self.tokens:.2f} |")


def ours(audio: np.ndarray, model: str, compute_type: str, beam: int | None, repeats: int) -> Split:
    m = load_model(model, device="cpu", compute_type=compute_type)
    spent = {"s": 0.0, "n": 0}
    forward = m.encoder.forward

    def timed(x):
        t0 = time.perf_counter()
        out = forward(x)
        spent["s"] += time.perf_counter() - t0
        spent["n"] += 1
        return out

    m.encoder.forward = timed
    best = None
    for _ in range(repeats):
        spent.update(s=0.0, n=0)
        t0 = time.perf_counter()
        r = transcribe(m, audio, language="en", temperature=0.0, beam_size=beam)
        split = Split(time.perf_counter() - t0, spent["s"], spent["n"], sum(len(s.tokens) for s in r.segments))
        best = split if best is None or split.total < best.total else best
    return best


def faster_whisper(audio: np.ndarray, model: str, compute_type: str, beam: int | None, repeats: int) -> Split:
    import ctranslate2
    from faster_whisper import WhisperModel
    from faster_whisper.feature_extractor import FeatureExtractor

    fw = WhisperModel(str(ct2_dir(model)), device="cpu", compute_type=compute_type, cpu_threads=1)
    padded = np.concatenate([audio, np.zeros(30 * SAMPLE_RATE, np.float32)])
    features = FeatureExtractor(feature_size=fw.model.n_mels)(padded)[:, :3000]
    window = ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None].astype(np.float32)))
    fw.model.encode(window)
    encodes = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fw.model.encode(window)
        encodes.append(time.perf_counter() - t0)
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        segments, _ = fw.transcribe(audio, language="en", temperature=0.0, beam_size=beam or 1, vad_filter=False)
        segments = list(segments)
        total = time.perf_counter() - t0
        n = len({s.seek for s in segments})
        split = Split(total, min(encodes) * n, n, sum(len(s.tokens) for s in segments))
        best = split if best is None or split.total < best.total else best
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=BUNDLED, choices=[BUNDLED, *packaged.MODELS])
    parser.add_argument("--compute-type", default="int8", choices=["int8", "float32"])
    parser.add_argument("--beam-size", type=int, default=5, help="1: greedy")
    parser.add_argument("--start", type=float, default=0.0, help="seconds into bench_asr's clip")
    parser.add_argument("--seconds", type=float, default=29.9)
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(1)
    audio = speech_clip()[int(args.start * SAMPLE_RATE):][:int(args.seconds * SAMPLE_RATE)]
    beam = args.beam_size if args.beam_size > 1 else None
    print(f"CPU: {kernels.cpu_info().describe()}, torch {torch.__version__}, 1 thread")
    print(f"{args.model} {args.compute_type}, beam {args.beam_size}, {len(audio) / SAMPLE_RATE:.1f} s from "
          f"{args.start:g} s, best of {args.repeats}")
    print("| system | total s | windows | encoder s / window | rest s | tokens | rest ms / token |")
    print("|---|---|---|---|---|---|---|")
    print(ours(audio, args.model, args.compute_type, beam, args.repeats).row("ours"))
    print(faster_whisper(audio, args.model, args.compute_type, beam, args.repeats).row("faster-whisper"))


if __name__ == "__main__":
    main()
