#!/usr/bin/env python3
"""TTS quality: intelligibility (Whisper tiny.en CER) of the voice at several temperatures, next to
the source voice and the source voice after the mel -> Griffin-Lim round trip (this vocoder's
ceiling), on held-out Harvard sentences 701-720; and whether the model uses the text at all.

    python scripts/bench_tts_quality.py [--voice PATH] [--corpus corpus] [--sentences 20] [--seed 0]

Text dependence: the per-frame log-likelihood of each held-out recording under its own text minus
under another sentence's text (a model that ignores the text scores 0). Target from issue 3: at
T=0.334 the voice is within 5 CER points of the Griffin-Lim ceiling.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from tts_temp.asr import load_model, transcribe  # noqa: E402
from tts_temp.audio import prepare  # noqa: E402
from tts_temp.compare.tts import DEFAULT_TEMPERATURES  # noqa: E402
from tts_temp.compare.metrics import cer  # noqa: E402
from tts_temp.tts import SynthesisOptions, load_voice, synthesize_batch  # noqa: E402
from tts_temp.tts import corpus  # noqa: E402
from tts_temp.tts.mel import log_mel  # noqa: E402
from tts_temp.tts.vocoder import GriffinLim  # noqa: E402

TEMPERATURES = DEFAULT_TEMPERATURES  # the same temperatures as compare-tts


def source_wavs(corpus_dir: Path, utts: list[corpus.Utterance]) -> dict[str, np.ndarray]:
    """The festival recordings of the held-out sentences, built on the fly if the corpus lacks them."""
    missing = [u for u in utts if not (corpus_dir / "wavs" / f"{u.id}.wav").exists()]
    if missing:
        corpus_dir = Path(tempfile.mkdtemp(prefix="tts_temp_heldout_"))
        corpus.build(corpus_dir, utts)
    return {u.id: sf.read(str(corpus_dir / "wavs" / f"{u.id}.wav"), dtype="float32")[0] for u in utts}


def asr_cer(model, wav: np.ndarray, sr: int, text: str) -> float:
    audio = prepare(wav, sr, 16000)
    return cer(text, transcribe(model, audio, temperature=0.0).text)


@torch.no_grad()
def text_dependence(voice, utts, wavs) -> tuple[float, float]:
    """Mean per-frame log-likelihood of each recording under its own vs. a shifted text."""
    model = voice.model.eval()
    own, other = [], []
    ids = [torch.tensor(voice.frontend.ids(u.text)) for u in utts]
    for i, u in enumerate(utts):
        mel = (log_mel(wavs[u.id], voice.mel) - voice.mean) / voice.std
        mel = mel[:, : mel.shape[1] - mel.shape[1] % model.cfg.squeeze][None]
        n = torch.tensor([mel.shape[2]])
        for store, j in ((own, i), (other, (i + 1) % len(utts))):
            x = ids[j][None]
            store.append(float(model.log_likelihood(x, torch.tensor([x.shape[1]]), mel, n)) / mel.shape[2])
    return float(np.mean(own)), float(np.mean(other))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", type=Path, default=None)
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--sentences", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    voice = load_voice(args.voice)
    asr = load_model("tiny.en")
    utts = [u for u in corpus.harvard() if u.split == "test"][: args.sentences]
    wavs = source_wavs(args.corpus, utts)
    sr = voice.mel.sample_rate
    gl = GriffinLim(voice.mel)
    rows: dict[str, list[float]] = {"source voice (festival slt)": [], "source -> mel -> Griffin-Lim": []}
    rows.update({f"tts_temp voice, T={t:g}": [] for t in TEMPERATURES})
    ratios = []
    for u in utts:
        src = wavs[u.id]
        rows["source voice (festival slt)"].append(asr_cer(asr, src, sr, u.text))
        rows["source -> mel -> Griffin-Lim"].append(asr_cer(asr, gl(log_mel(src, voice.mel)).numpy(), sr, u.text))
        out = synthesize_batch(voice, u.text, list(TEMPERATURES), [args.seed] * len(TEMPERATURES), SynthesisOptions())
        for t, wav in zip(TEMPERATURES, out.waveforms):
            rows[f"tts_temp voice, T={t:g}"].append(asr_cer(asr, wav, sr, u.text))
        ratios.append(len(out.waveforms[0]) / len(src))
    own, other = text_dependence(voice, utts, wavs)
    ceiling = 100 * float(np.mean(rows["source -> mel -> Griffin-Lim"]))
    print(f"voice: step {voice.meta.get('step')}, {voice.meta.get('train_seconds', 0) / 60:.0f} min of training, "
          f"duration threshold {voice.duration_threshold}; {len(utts)} held-out Harvard sentences; ASR tiny.en T=0")
    print("| condition | CER % | minus ceiling (points) |")
    print("|---|---|---|")
    for name, vals in rows.items():
        c = 100 * float(np.mean(vals))
        print(f"| {name} | {c:.1f} | {c - ceiling:+.1f} |")
    print(f"\nlength of T=0 speech / source: {np.mean(ratios):.2f} (mean over sentences)")
    print(f"text dependence: log-likelihood per frame, own text {own:.2f}, another sentence's text {other:.2f}, "
          f"gain {own - other:.2f} nats/frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
