#!/usr/bin/env python3
"""Transcript sweep: audio files x temperatures x seeds -> WER, CER, diversity, fallback statistics, plots, report.html.

Same arguments as `tts-temp compare-asr` (run with --help); this script only forwards to it.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tts_temp.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["compare-asr", *sys.argv[1:]]))
