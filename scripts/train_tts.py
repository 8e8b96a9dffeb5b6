#!/usr/bin/env python3
"""Train (or resume) a voice: `python scripts/train_tts.py configs/voice-small.toml [--export PATH]`.

The same as `tts-temp train`: resumes from OUT_DIR/last.pt, Ctrl-C saves and exits, --export
writes a voice with its duration threshold calibrated on the training data.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tts_temp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
