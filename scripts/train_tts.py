#!/usr/bin/env python3
"""Train (or resume) a voice: `python scripts/train_tts.py configs/voice-small.toml [--export PATH]`.

Resumes from OUT_DIR/last.pt; Ctrl-C saves and exits. --export writes a voice (with the duration
threshold calibrated on the training data) that `tts-temp synthesize --voice PATH` can use.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tts_temp.tts.train import Trainer, load_config  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("config", type=Path)
    ap.add_argument("--max-minutes", type=float, default=None, help="stop after this much wall time")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in this run")
    ap.add_argument("--export", type=Path, default=None, help="write the voice here after training")
    ap.add_argument("--export-only", action="store_true", help="skip training, just export")
    args = ap.parse_args()
    model_cfg, cfg = load_config(args.config)
    trainer = Trainer(model_cfg, cfg, log=lambda m: print(m, flush=True))
    if not args.export_only:
        trainer.run(max_steps=args.max_steps,
                    max_seconds=None if args.max_minutes is None else args.max_minutes * 60)
    if args.export:
        voice = trainer.voice()
        voice.save(args.export)
        print(f"exported {args.export} (step {trainer.state.step}, threshold {voice.duration_threshold})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
