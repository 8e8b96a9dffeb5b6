#!/usr/bin/env python3
"""Build the TTS training corpus and its features: `python scripts/make_corpus.py [--out corpus]`.

`--features world` writes WORLD frames (corpus/features_phonemes_world.pt) instead of STFT mels
(corpus/features_phonemes.pt); the corpus wavs are shared, so the second run only analyses.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tts_temp.tts import corpus, features, frames  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("corpus"))
    ap.add_argument("--kjv-words", type=int, default=4500, help="words of KJV verses on top of Harvard 1-700")
    ap.add_argument("--letters", action="store_true", help="letters instead of espeak-ng phonemes")
    ap.add_argument("--features", choices=frames.KINDS, default="mel",
                    help="mel (STFT log-mel, Griffin-Lim voices) or world (WORLD vocoder frames)")
    ap.add_argument("--workers", type=int, default=2, help="processes for the feature analysis")
    args = ap.parse_args()
    t0 = time.time()
    manifest = corpus.build(args.out, corpus.default_utterances(args.kjv_words))
    t1 = time.time()
    rows = corpus.read_manifest(manifest)
    total = sum(float(r["seconds"]) for r in rows)
    print(f"corpus: {len(rows)} utterances, {total / 60:.1f} min of audio, {t1 - t0:.0f} s -> {manifest}")
    out = features.build(args.out, phonemes=not args.letters, spec=frames.spec_from_name(args.features),
                         workers=args.workers)
    print(f"features: {time.time() - t1:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
