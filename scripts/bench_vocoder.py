#!/usr/bin/env python3
"""Vocoders of the WORLD voice, side by side in one run (issue 22): the festival source, WORLD's own
ceilings, and the voice's sampled frames rendered by WORLD and by the neural vocoder.

    python scripts/bench_vocoder.py [--voice slt-world] [--neural PATH.pt] [--sentences 10]
                                    [--seeds 1 2 3] [--temperature 0.667] [--corpus corpus] [--f0-mean N]
                                    [--skip K] [--voiced-noise-db D [D ...]]

Held-out Harvard sentences (701-720, never trained on). For each sentence and seed the acoustic
frames are sampled once and every vocoder renders the same frames, so the rows differ by the
vocoder alone. Columns: Distill-MOS (Microsoft's distilled XLS-R quality model, the `distillmos`
package), DNSMOS P.835 OVRL (tts_temp.naturalness), CER of Whisper tiny.en at T=0, vocoder and
total real-time factor (this machine, `--threads`), and the pitch-jump share: of the 10 ms steps
between two voiced pYIN frames of the output, the share with a jump over 1.2 semitones.

Distill-MOS is `tts_temp.naturalness.distill_mos`, the score compare-tts records (`distillmos`
imports torchaudio at the top for its command line only; an empty stand-in module takes its place).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from tts_temp.audio import prepare  # noqa: E402
from tts_temp.naturalness import distill_mos, dnsmos  # noqa: E402
from tts_temp.score import cer  # noqa: E402
from tts_temp.tts import SynthesisOptions, frames, load_voice, world  # noqa: E402
from tts_temp.tts import corpus as corpus_mod  # noqa: E402
from tts_temp.tts.defaults import DEFAULT_TEMPERATURE  # noqa: E402
from tts_temp.tts.synthesize import acoustic_batch  # noqa: E402

JUMP_SEMITONES = 1.2
PYIN_HOP_S = 0.010


def pitch_jumps(wav: np.ndarray, sr: int) -> tuple[int, int]:
    """(steps with a jump > 1.2 semitones, steps) between consecutive voiced pYIN frames, 10 ms hop."""
    import librosa

    x = prepare(wav, sr, 16000)
    hop = int(PYIN_HOP_S * 16000)
    f0, voiced, _ = librosa.pyin(x, fmin=65.0, fmax=600.0, sr=16000, frame_length=640, hop_length=hop,
                                 resolution=0.1)
    ok = voiced & np.isfinite(f0)
    both = ok[1:] & ok[:-1]
    st = 12 * np.abs(np.log2(f0[1:][both] / f0[:-1][both]))
    return int((st > JUMP_SEMITONES).sum()), int(both.sum())


class Row:
    def __init__(self, name: str):
        self.name = name
        self.dmos, self.ovrl, self.cer, self.jumps, self.steps = [], [], [], 0, 0
        self.voc_s, self.ac_s, self.audio_s = 0.0, 0.0, 0.0

    def add(self, wav, sr, text, asr, voc_s=0.0, ac_s=0.0):
        self.dmos.append(distill_mos([wav], sr)[0])
        self.ovrl.append(dnsmos(wav, sr).ovrl)
        self.cer.append(cer(text, asr(wav, sr)))
        j, n = pitch_jumps(wav, sr)
        self.jumps += j
        self.steps += n
        self.voc_s += voc_s
        self.ac_s += ac_s
        self.audio_s += len(wav) / sr

    def line(self, timed: bool) -> str:
        share = 100.0 * self.jumps / max(self.steps, 1)
        rtf = (f"{self.voc_s / self.audio_s:.3f} | {(self.voc_s + self.ac_s) / self.audio_s:.3f}" if timed
               else "– | –")
        return (f"| {self.name} | {np.mean(self.dmos):.2f} | {np.mean(self.ovrl):.2f} | "
                f"{100 * np.mean(self.cer):.1f} | {rtf} | {share:.2f} | {len(self.dmos)} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--voice", default="slt-world", help="the WORLD voice whose frames are rendered")
    ap.add_argument("--neural", action="append", default=[],
                    help="a voice file with the neural vocoder (repeatable; default: every shipped one)")
    ap.add_argument("--sentences", type=int, default=10)
    ap.add_argument("--skip", type=int, default=0, help="start after this many held-out sentences (10: 711-720, "
                    "the sentences the voiced-noise gain was chosen on)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    ap.add_argument("--corpus", type=Path, default=Path("corpus"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-median", action="store_true", help="skip the WORLD + median-F0 row")
    ap.add_argument("--f0-mean", type=int, default=0, metavar="N",
                    help="also render each neural voice with a running mean of N frames on its log-F0")
    ap.add_argument("--voiced-noise-db", type=float, nargs="+", default=[], metavar="D",
                    help="also render each neural voice with its voiced frames' noise at D dB")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from tts_temp.verify import load_recogniser
    from tts_temp.tts.world import median_over_frames

    asr = load_recogniser("tiny.en")
    voice = load_voice(args.voice)
    if voice.features["kind"] != "world":
        raise SystemExit("the voice must have WORLD frames")
    wcfg = frames.config(voice.features)
    neural_paths = args.neural or [n for n in _shipped_neural()]
    neural = [(Path(p).stem if Path(p).suffix else p, load_voice(p).make_vocoder()) for p in neural_paths]
    variants = []
    if not args.no_median:  # the same weights without the F0/voicing median: what the median buys
        variants = [(f"{name}, no F0 median", _with(voc, f0_median=1)) for name, voc in neural]
    if args.f0_mean > 1:
        variants += [(f"{name}, F0 mean {args.f0_mean}", _with(voc, f0_mean=args.f0_mean)) for name, voc in neural]
    variants += [(f"{name}, voiced noise {d:+g} dB", _with(voc, voiced_noise_db=d))
                 for name, voc in neural for d in args.voiced_noise_db]
    neural += variants
    world_voc = voice.make_vocoder() if voice.vocoder["kind"] == "world" else world.WorldVocoder(wcfg)
    utts = [u for u in corpus_mod.harvard() if u.split == "test"][args.skip: args.skip + args.sentences]
    from bench_tts_quality import source_wavs  # the held-out recordings, built on the fly if missing

    src = source_wavs(args.corpus, utts)
    sr = wcfg.sample_rate
    rows = {k: Row(k) for k in ["festival slt (source)", "source → WORLD, full resolution (Harvest, 5 ms)",
                                "source → 84-ch frames → WORLD"]}
    plain = {name for name, _ in neural} - {name for name, _ in variants}
    for name, _ in neural:
        if name in plain:
            rows[f"source → 84-ch frames → {name}"] = Row(f"source → 84-ch frames → {name}")
    t_name = f"T={args.temperature:g}"
    rows[f"{t_name} WORLD"] = Row(f"{args.voice} {t_name} → WORLD")
    if not args.no_median:
        rows[f"{t_name} WORLD+median"] = Row(f"{args.voice} {t_name} → WORLD, F0 median 5")
    for name, _ in neural:
        rows[f"{t_name} {name}"] = Row(f"{args.voice} {t_name} → {name}")
    t_start = time.time()
    for u in utts:
        wav = src[u.id]
        rows["festival slt (source)"].add(wav, sr, u.text, asr)
        rows["source → WORLD, full resolution (Harvest, 5 ms)"].add(_world_full(wav, sr), sr, u.text, asr)
        fr = world.analyse(wav, wcfg)
        rows["source → 84-ch frames → WORLD"].add(world.synthesise(fr, wcfg), sr, u.text, asr)
        for name, voc in neural:
            if name in plain:
                rows[f"source → 84-ch frames → {name}"].add(voc(fr).numpy(), sr, u.text, asr)
        ac = acoustic_batch(voice, u.text, [args.temperature] * len(args.seeds), args.seeds, SynthesisOptions())
        ac_share = ac.seconds / len(args.seeds)
        for i in range(len(args.seeds)):
            item = ac.item_frames(i)
            t0 = time.perf_counter()
            w = world_voc(item).numpy()
            rows[f"{t_name} WORLD"].add(w, sr, u.text, asr, time.perf_counter() - t0, ac_share)
            if not args.no_median:
                sm = item.clone()
                sm[wcfg.lf0] = median_over_frames(item[wcfg.lf0][None], 5)[0]
                t0 = time.perf_counter()
                w = world_voc(sm).numpy()
                rows[f"{t_name} WORLD+median"].add(w, sr, u.text, asr, time.perf_counter() - t0, ac_share)
            for name, voc in neural:
                t0 = time.perf_counter()
                w = voc(item).numpy()
                rows[f"{t_name} {name}"].add(w, sr, u.text, asr, time.perf_counter() - t0, ac_share)
        print(f"  {u.id} done ({time.time() - t_start:.0f} s)", file=sys.stderr, flush=True)
    print(f"\n{len(utts)} held-out Harvard sentences ({utts[0].id}-{utts[-1].id}), seeds {args.seeds}, "
          f"{args.threads} threads; CER: Whisper tiny.en T=0; pitch jumps: pYIN 10 ms, > {JUMP_SEMITONES} semitones\n")
    print("| speech | Distill-MOS | DNSMOS OVRL | CER % | vocoder RTF | total RTF | pitch-jump % | clips |")
    print("|---|---|---|---|---|---|---|---|")
    for key, row in rows.items():
        print(row.line(timed=key.startswith(t_name)))
    return 0


def _world_full(wav: np.ndarray, sr: int) -> np.ndarray:
    """Source -> WORLD -> waveform at WORLD's own full resolution (Harvest F0, 5 ms frames, every bin)."""
    import pyworld as pw

    x = wav.astype(np.float64)
    f0, t = pw.harvest(x, sr, f0_floor=71.0, f0_ceil=800.0, frame_period=5.0)
    sp = pw.cheaptrick(x, f0, t, sr)
    ap = pw.d4c(x, f0, t, sr)
    return pw.synthesize(f0, sp, ap, sr, 5.0).astype(np.float32)


def _with(voc, **render):
    """The same weights with other rendering settings (what F0 smoothing or the voiced-noise gain buy)."""
    import copy
    import dataclasses

    from tts_temp.tts.neural_vocoder import NeuralVocoder

    model = copy.deepcopy(voc.model)
    model.cfg = dataclasses.replace(model.cfg, **render)
    return NeuralVocoder(model)


def _shipped_neural() -> list[str]:
    from tts_temp.tts.voice import shipped_voice_names, shipped_voice_path

    out = []
    for name in shipped_voice_names():
        d = torch.load(shipped_voice_path(name), map_location="cpu", weights_only=True)
        if d.get("vocoder", {}).get("kind") == "neural-sf":
            out.append(name)
    return out


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
