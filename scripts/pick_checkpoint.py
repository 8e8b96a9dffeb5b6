#!/usr/bin/env python3
"""Choose among exported checkpoints by the naturalness of their sampled speech, on training text.

    python scripts/pick_checkpoint.py VOICE.pt [VOICE.pt ...] [--corpus corpus] [--every 100] [--sentences 10] [--seed 1]

DNSMOS P.835 OVRL (a proxy for naturalness, see tts_temp/naturalness.py) at T = 0.334, 0.667 and 1,
one seed, on every N-th sentence of the training corpus: a selection set, so that picking a
checkpoint never looks at the held-out sentences that scripts/bench_tts_quality.py reports on.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from tts_temp import audio as audio_io  # noqa: E402
from tts_temp.naturalness import dnsmos  # noqa: E402
from tts_temp.tts import SynthesisOptions, load_voice, synthesize_batch  # noqa: E402
from tts_temp.tts.corpus import read_manifest  # noqa: E402
from tts_temp.tts.defaults import COQUI_TEMPERATURE, DEFAULT_TEMPERATURE  # noqa: E402

TEMPERATURES = (COQUI_TEMPERATURE, DEFAULT_TEMPERATURE, 1.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("voices", nargs="+", type=Path)
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--every", type=int, default=100, help="every N-th training sentence (default 100)")
    ap.add_argument("--sentences", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rows = read_manifest(args.corpus / "manifest.tsv")
    texts = [r["text"] for r in rows if r["split"] == "train"][:: args.every][: args.sentences]
    print(f"{len(texts)} training sentences (every {args.every}th), seed {args.seed}, DNSMOS OVRL")
    print("| voice | step | " + " | ".join(f"T={t:g}" for t in TEMPERATURES) + " |")
    print("|---|---|" + "---|" * len(TEMPERATURES))
    for path in args.voices:
        voice = load_voice(path)
        means = []
        for t in TEMPERATURES:
            scores = []
            for text in texts:
                out = synthesize_batch(voice, text, [t], [args.seed], SynthesisOptions())
                scores.append(dnsmos(audio_io.prepare(out.waveforms[0], out.sample_rate, 16000), 16000).ovrl)
            means.append(float(np.mean(scores)))
        print(f"| {path} | {voice.meta.get('step')} | " + " | ".join(f"{m:.2f}" for m in means) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
