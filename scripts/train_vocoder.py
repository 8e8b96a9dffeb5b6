#!/usr/bin/env python3
"""Train (or resume) the neural vocoder: `python scripts/train_vocoder.py configs/vocoder-slt.toml`.

Resumes from the config's out_dir/last.pt; `--from CKPT` seeds out_dir from another checkpoint
(a committed one) when out_dir has none. `--export-voice OUT --voice VOICE` writes VOICE with this
vocoder inside; `--export-checkpoint OUT` copies last.pt (to commit it).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tts_temp.tts import vocoder_train  # noqa: E402


def analyse(cfg, n: int, workers: int = 2) -> None:
    """The cheap way in on a slow machine: analyse a shuffled subset instead of the whole corpus."""
    import random

    import torch

    from tts_temp.tts import corpus

    manifest = Path(cfg.wavs).parent / "manifest.tsv"
    names = [r["id"] for r in corpus.read_manifest(manifest) if r["split"] == "train"]
    random.Random(0).shuffle(names)
    spec = torch.load(cfg.stats_voice, map_location="cpu", weights_only=True)["features"]
    done = vocoder_train.analyse_to_cache(Path(cfg.wavs), Path(cfg.frames_cache), names[:n], spec, workers=workers)
    print(f"analysed {done} recordings into {cfg.frames_cache}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("config", type=Path)
    ap.add_argument("--from", dest="start", type=Path, help="checkpoint to start from when out_dir has none")
    ap.add_argument("--steps", type=int, help="stop after this many more steps")
    ap.add_argument("--minutes", type=float, help="stop after this many minutes")
    ap.add_argument("--log", type=Path, help="append the log here too")
    ap.add_argument("--analyse", type=int, metavar="N", help="first WORLD-analyse N training recordings (shuffled) "
                    "into the config's frames_cache, then train on whatever is there")
    ap.add_argument("--workers", type=int, default=2, help="processes for --analyse (1 on a crowded machine)")
    ap.add_argument("--threads", type=int, help="CPU threads (overrides the config; 1 on a crowded machine)")
    ap.add_argument("--export-voice", type=Path, help="write a voice file with this vocoder (needs --voice)")
    ap.add_argument("--voice", type=Path, default=Path("tts_temp/tts/voices/slt-world.pt"))
    ap.add_argument("--f0-mean", type=int, help="with --export-voice: render log-F0 through a running mean of "
                    "this many frames (after the median)")
    ap.add_argument("--voiced-noise-db", type=float, help="with --export-voice: raise the noise branch in voiced "
                    "frames by this many dB at rendering (docs/benchmarks.md)")
    ap.add_argument("--export-checkpoint", type=Path, help="copy the resumable checkpoint here")
    ap.add_argument("--checkpoint", type=Path, help="export from this checkpoint instead of out_dir/last.pt")
    args = ap.parse_args()
    vcfg, cfg = vocoder_train.load_config(args.config)
    if args.threads:
        cfg.threads = args.threads
    last = Path(cfg.out_dir) / "last.pt"
    if args.export_voice or args.export_checkpoint:
        last = args.checkpoint or last
        if args.export_voice:
            render = {k: v for k, v in (("f0_mean", args.f0_mean), ("voiced_noise_db", args.voiced_noise_db)) if v is not None}
            out = vocoder_train.attach_to_voice(args.voice, vocoder_train.export(last, **render), args.export_voice,
                                                name=args.config.stem)
            print(f"voice with the neural vocoder -> {out}")
        if args.export_checkpoint:
            args.export_checkpoint.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(last, args.export_checkpoint)
            print(f"checkpoint -> {args.export_checkpoint}")
        return 0
    if args.analyse:
        analyse(cfg, args.analyse, args.workers)
    if args.start and not last.exists():
        last.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.start, last)
    log_file = open(args.log, "a") if args.log else None

    def log(msg: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        if log_file:
            log_file.write(line + "\n")
            log_file.flush()

    trainer = vocoder_train.VocoderTrainer(vcfg, cfg, log=log)
    log(f"device {trainer.device}, {sum(p.numel() for p in trainer.model.parameters())} parameters")
    state = trainer.run(max_steps=args.steps, max_seconds=None if args.minutes is None else args.minutes * 60)
    log(f"stopped at step {state.step}, {state.seconds / 60:.1f} min of training -> {last}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
