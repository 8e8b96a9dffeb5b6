"""Sweeps over temperature x seed, and the only place where the ASR and the TTS meet.

- `asr.run_asr_sweep`: audio files -> transcripts, WER/CER, diversity, fallback statistics.
- `tts_sweep.run_tts_sweep`: sentences -> wavs, duration, F0, seed distance, CER by transcribing back
  (`tts_verify`: the same items through verified synthesis, for `compare-tts --verify`).
Both append to `results.jsonl` as items finish (a rerun resumes), then write `summary.csv`,
PNG figures (`plots`) and a self-contained `report.html` (`report`). `metrics` defines every
number once; `results` owns the run folder's files.
"""
