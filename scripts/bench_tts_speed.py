#!/usr/bin/env python3
"""TTS speed on this machine: real-time factors of the acoustic model and the vocoder, and the
cost of a batch of temperatures relative to one.

    python scripts/bench_tts_speed.py [--voice PATH] [--vocoder DIR] [--sentences 10] [--repeats 3] [--threads 2]

--voice also takes a Coqui OverFlow folder and --vocoder a Coqui HiFi-GAN folder
(scripts/make_random_coqui.py writes both at Coqui's default sizes, for timing only).

RTF = seconds of compute / seconds of audio produced (lower is faster). Targets: issue 3 (the
Griffin-Lim voice) total RTF <= 0.2 and 4 temperatures in one batch <= 2x one; issue 11 (the WORLD
voice, 2 threads) total RTF <= 0.05 and 4 temperatures <= 1.5x one.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from tts_temp.tts import SynthesisOptions, load_vocoder, load_voice, synthesize_batch  # noqa: E402
from tts_temp.compare.tts_sweep import DEFAULT_TEMPERATURES  # noqa: E402
from tts_temp.tts.corpus import harvard  # noqa: E402
from tts_temp.tts.defaults import DEFAULT_TEMPERATURE  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", type=Path, default=None)
    ap.add_argument("--vocoder", type=Path, default=None, help="Coqui HiFi-GAN folder (default: Griffin-Lim)")
    ap.add_argument("--sentences", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    voice = load_voice(args.voice)
    vocoder = load_vocoder(args.vocoder) if args.vocoder else None
    texts = [u.text for u in harvard() if u.split == "test"][: args.sentences]
    opts = SynthesisOptions()
    synthesize_batch(voice, texts[0], [DEFAULT_TEMPERATURE], [0], opts)  # warm-up
    one_ac, one_voc, audio, four_total, one_total, four_ac = [], [], [], [], [], []
    for _ in range(args.repeats):
        for text in texts:
            t0 = time.perf_counter()
            out = synthesize_batch(voice, text, [DEFAULT_TEMPERATURE], [0], opts, vocoder)
            one_total.append(time.perf_counter() - t0)
            one_ac.append(out.acoustic_seconds)
            one_voc.append(out.vocoder_seconds)
            audio.append(len(out.waveforms[0]) / out.sample_rate)
            t0 = time.perf_counter()
            four = synthesize_batch(voice, text, DEFAULT_TEMPERATURES, [0] * len(DEFAULT_TEMPERATURES), opts, vocoder)
            four_total.append(time.perf_counter() - t0)
            four_ac.append(four.acoustic_seconds)
    secs = sum(audio)
    rtf_ac, rtf_voc = sum(one_ac) / secs, sum(one_voc) / secs
    batch_ratio = statistics.median(f / o for f, o in zip(four_total, one_total))
    ac_ratio = statistics.median(f / o for f, o in zip(four_ac, one_ac))
    which = f"step {voice.meta['step']}" if voice.meta.get("step") is not None else voice.meta.get("weights")
    print(f"voice: {which}, {len(texts)} held-out sentences x {args.repeats}, "
          f"{secs / args.repeats:.1f} s of audio per pass, {args.threads} threads")
    print("| measure | value | target |")
    print("|---|---|---|")
    print(f"| acoustic model RTF (T={DEFAULT_TEMPERATURE:g}) | {rtf_ac:.3f} | |")
    if vocoder:
        name = "HiFi-GAN"
    elif voice.vocoder["kind"] == "griffin-lim":
        name = f"Griffin-Lim, {opts.griffin_lim_iters} iterations"
    else:
        name = voice.vocoder["kind"]
    print(f"| vocoder RTF ({name}) | {rtf_voc:.3f} | |")
    world = getattr(voice, "vocoder", {}).get("kind") == "world" and not vocoder
    print(f"| total RTF | {rtf_ac + rtf_voc:.3f} | {'<= 0.05' if world else '<= 0.2'} |")
    print(f"| 4 temperatures in one batch / 1, acoustic model (median) | {ac_ratio:.2f}x | |")
    print(f"| 4 temperatures in one batch / 1, total (median) | {batch_ratio:.2f}x | {'<= 1.5x' if world else '<= 2x'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
