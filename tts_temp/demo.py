"""`tts-temp demo`: temperature in both forms on shipped inputs, in about two minutes on a CPU.

1. Whisper tiny.en transcribes a shipped real-speech clip at T = 0, 0.5 and 1 (two seeds each)
   and with its fallback schedule, and prints the transcripts side by side.
2. The shipped voice speaks a held-out sentence at T = 0, 0.334, 0.667 and 1 (two seeds each).
3. Both sweeps are written as reports, with one page over both: OUT/report.html.
Everything runs offline; rerunning with the same --out reuses what is already there.
"""
from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from tts_temp.compare.tts_sweep import DEFAULT_TEMPERATURES as TTS_SWEEP_TEMPERATURES

ASR_TEMPERATURES = [0.0, 0.5, 1.0]
TTS_TEMPERATURES = list(TTS_SWEEP_TEMPERATURES)
SEEDS = 2


def demo_clip() -> Path:
    return Path(str(resources.files("tts_temp") / "data" / "jfk.wav"))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="transcribe and synthesize at several temperatures; write a report",
                       description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("tts-temp-demo"), help="output folder (default ./tts-temp-demo)")
    p.add_argument("--voice", type=Path, default=None, help="voice checkpoint (default: the shipped voice)")
    p.set_defaults(func=run_demo)


def _short(text: str, width: int = 72) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def run_demo(args) -> int:
    from tts_temp.compare import report
    from tts_temp.compare.asr_sweep import AsrSweepConfig, run_asr_sweep
    from tts_temp.compare.cli import print_table
    from tts_temp.compare.tts_sweep import TtsSweepConfig, run_tts_sweep
    from tts_temp.tts.corpus import harvard
    from tts_temp.tts.voice import shipped_voice_path

    out: Path = args.out
    clip = demo_clip()
    temps = ", ".join(f"{t:g}" for t in ASR_TEMPERATURES)
    print(f"1/3  Whisper tiny.en transcribes {clip.name} at T = {temps} ({SEEDS} seeds each) and with its "
          "fallback schedule", flush=True)
    asr = run_asr_sweep(AsrSweepConfig(audio=[clip], out_dir=out / "asr", temperatures=ASR_TEMPERATURES,
                                       seeds=SEEDS))
    ref = asr.records[0].get("reference")
    if ref:
        print(f"     reference: {ref}")
    print_table([{"T": "fallback" if r.get("mode") == "fallback" else f"{r['temperature']:g}", "seed": r["seed"],
                  "WER": r.get("wer"), "avg logprob": r.get("avg_logprob"), "text": _short(r.get("text", r.get("error", "")))}
                 for r in asr.records], ["T", "seed", "WER", "avg logprob", "text"])
    print()
    print_table(asr.summary, ["temperature", "wer_mean", "diversity", "avg_logprob_mean"])

    parts = [("Transcripts across temperatures", "asr", asr.figures)]
    voice = args.voice if args.voice is not None else shipped_voice_path()
    if not Path(voice).is_file():
        print(f"\n2/3  skipped: no voice at {voice} (train one with `tts-temp train`, or pass --voice)")
    else:
        sentence = next(u.text for u in harvard() if u.split == "test")
        temps = ", ".join(f"{t:g}" for t in TTS_TEMPERATURES)
        print(f"\n2/3  The voice speaks a held-out sentence at T = {temps} ({SEEDS} seeds each):\n     {sentence}",
              flush=True)
        tts = run_tts_sweep(TtsSweepConfig(out_dir=out / "tts", sentences=[sentence],
                                           temperatures=TTS_TEMPERATURES, seeds=SEEDS, voice=args.voice))
        print_table([{"T": f"{r['temperature']:g}", "seed": r["seed"], "seconds": r.get("duration"),
                      "F0 mean": r.get("f0_mean"), "F0 std": r.get("f0_std"), "CER": r.get("cer"),
                      "Whisper heard": _short(r.get("transcript", r.get("error", "")), 50)} for r in tts.records],
                    ["T", "seed", "seconds", "F0 mean", "F0 std", "CER", "Whisper heard"])
        print()
        print_table(tts.summary, ["temperature", "duration_mean", "f0_std_mean", "cer_mean", "seed_distance_db"])
        parts.append(("Synthesis across temperatures", "tts", tts.figures))
    page = report.index_report(
        out, "tts_temp demo: temperature in Whisper and in an OverFlow-style voice",
        "Both sweeps on shipped inputs. Each section links to its full report with every transcript, "
        "table and audio player.", parts)
    print(f"\n3/3  report: {page}")
    return 0

