#!/usr/bin/env python3
"""Synthesis sweep: sentences x temperatures x seeds -> wavs, duration, F0, seed distance, CER, plots, report.html.

Same arguments as `tts-temp compare-tts` (run with --help); this script only forwards to it.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tts_temp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["compare-tts", *sys.argv[1:]]))
