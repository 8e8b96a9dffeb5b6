"""`tts-temp compare-asr` and `tts-temp compare-tts` (scripts/compare_*.py take the same arguments)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tts_temp.asr.cli import parse_bool
from tts_temp.asr.packaged import BUNDLED
from tts_temp.compare.asr_sweep import DEFAULT_SEEDS as ASR_SEEDS
from tts_temp.compare.asr_sweep import DEFAULT_TEMPERATURES as ASR_TEMPERATURES
from tts_temp.compare.tts_sweep import DEFAULT_SEEDS as TTS_SEEDS
from tts_temp.compare.tts_sweep import DEFAULT_TEMPERATURES as TTS_TEMPERATURES
from tts_temp.compare.engine import EngineOptions
from tts_temp.compare.results import show


def _listed(values) -> str:
    return " ".join(f"{v:g}" for v in values)


def add_asr_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("audio", nargs="*", type=Path, help="audio files (wav, flac, ogg; others through ffmpeg)")
    p.add_argument("--manifest", type=Path, default=None,
                   help="corpus to sweep: TSV/CSV with a header ('audio', optional 'reference'), JSONL with the "
                        "same keys, or a LibriSpeech-style folder (*.trans.txt beside .flac); relative paths "
                        "resolve against the manifest's folder")
    p.add_argument("--references", type=Path, default=None,
                   help="manifest of reference texts, one 'AUDIO<TAB>TEXT' per line (default: a same-stem .txt "
                        "next to each audio file, when there is one)")
    p.add_argument("--temperatures", "--temperature", type=float, nargs="+", default=list(ASR_TEMPERATURES),
                   metavar="T", help=f"temperatures to decode at (default: {_listed(ASR_TEMPERATURES)})")
    p.add_argument("--seeds", type=int, default=ASR_SEEDS, help=f"seeds per temperature (default {ASR_SEEDS})")
    p.add_argument("--no-fallback-row", dest="fallback_row", action="store_false",
                   help="skip the extra row that runs Whisper's fallback schedule")
    p.add_argument("--model", default=BUNDLED, help=f"Whisper model name or checkpoint (default {BUNDLED}, bundled)")
    p.add_argument("--out", type=Path, required=True, help="run folder (rerun with the same one to resume)")
    add_decoding_arguments(p)
    add_engine_arguments(p)


def add_decoding_arguments(p: argparse.ArgumentParser) -> None:
    """transcribe's decoding options, for every item of the sweep (see asr.AsrDecoding)."""
    p.add_argument("--compute-type", default=None, metavar="TYPE",
                   help="float32, int8 (CPU) or float16 (CUDA) (default: float16 on CUDA, float32 on the CPU)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when available)")
    p.add_argument("--beam-size", type=int, default=None, help="beams at T = 0 (default: greedy)")
    p.add_argument("--best-of", type=int, default=None,
                   help="samples per sampled attempt, the most likely kept (default: one)")
    p.add_argument("--top-k", type=int, default=None, help="sample only among the k most likely tokens")
    p.add_argument("--top-p", type=float, default=None, help="sample only from the nucleus of mass p, in (0, 1]")
    p.add_argument("--language", default=None, help="language code or name (default: detected)")
    p.add_argument("--task", default="transcribe", help="transcribe, or translate into English")
    p.add_argument("--vad-filter", type=parse_bool, nargs="?", const=True, default=False,
                   help="decode only the speech Silero VAD finds")
    p.add_argument("--batched-sampling", dest="exact", action="store_false",
                   help="decode a file's sampled rows in one batched pass (faster; a row may then differ from "
                        "the item transcribed alone, float32 sums rounding differently) instead of one pass per row")


def decoding_options(args):
    from tts_temp.compare.asr_sweep import AsrDecoding

    return AsrDecoding(compute_type=args.compute_type, device=args.device, beam_size=args.beam_size,
                       best_of=args.best_of, top_k=args.top_k, top_p=args.top_p, language=args.language,
                       task=args.task, vad_filter=args.vad_filter)


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    d = EngineOptions()
    p.add_argument("--workers", type=int, default=d.workers,
                   help="parallel workers; > 1 starts a local Ray (pip install 'tts_temp[ray]') (default 1: in-process)")
    p.add_argument("--ray-address", default=d.ray_address, metavar="ADDR",
                   help="join this Ray cluster (e.g. 'auto' or HOST:6379) and run --workers actors on it")
    p.add_argument("--threads-per-worker", type=int, default=d.threads_per_worker,
                   help=f"torch threads per worker, in-process too (default {d.threads_per_worker})")


def engine_options(args) -> EngineOptions:
    return EngineOptions(workers=args.workers, ray_address=args.ray_address,
                         threads_per_worker=args.threads_per_worker)


def add_tts_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sentences", type=Path, default=None,
                   help="text file, one sentence per line (default: held-out Harvard sentences 701-720)")
    p.add_argument("--temperatures", "--temperature", type=float, nargs="+", default=list(TTS_TEMPERATURES),
                   metavar="T", help=f"temperatures (default: {_listed(TTS_TEMPERATURES)})")
    p.add_argument("--seeds", type=int, default=TTS_SEEDS, help=f"seeds per temperature (default {TTS_SEEDS})")
    p.add_argument("--voice", type=Path, default=None,
                   help="voice checkpoint, a shipped voice's name (slt-world-nsf, the default; slt-world; "
                        "slt-small) or a Coqui OverFlow folder")
    p.add_argument("--vocoder", type=Path, default=None,
                   help="Coqui HiFi-GAN folder (default: the voice's own vocoder: neural, WORLD or Griffin-Lim)")
    p.add_argument("--asr-model", default=BUNDLED, help="Whisper model that transcribes the speech back")
    p.add_argument("--max-seconds", type=float, default=20.0, help="longest sentence to generate")
    p.add_argument("--verify", action="store_true",
                   help="also run verified synthesis on every item: how often the fallback fires per temperature, "
                        "CER before and after (verify.csv, verify.jsonl, a table in report.html)")
    p.add_argument("--out", type=Path, required=True, help="run folder (rerun with the same one to resume)")
    add_engine_arguments(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare-asr", help="transcribe files at several temperatures and seeds; write a report",
                       description="Sweep Whisper's temperature x seeds over audio files: WER, CER, diversity, "
                                   "fallback statistics, plots and report.html in --out.")
    add_asr_arguments(p)
    p.set_defaults(func=run_compare_asr)
    p = sub.add_parser("compare-tts", help="synthesize sentences at several temperatures and seeds; write a report",
                       description="Sweep the voice's temperature x seeds over sentences: wavs, duration, F0, "
                                   "seed distance, CER by transcribing back, plots and report.html in --out.")
    add_tts_arguments(p)
    p.set_defaults(func=run_compare_tts)


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A plain aligned table on stdout, for the terminal and the demo."""
    cells = [[c for c in columns]] + [[show(r.get(c), "-") for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths)))


def _warn(message: str) -> None:
    """Per-item failures go to stderr; the sweep itself goes on."""
    print(message, file=sys.stderr)


def run_compare_asr(args) -> int:
    from tts_temp.compare.asr_sweep import AsrSweepConfig, run_asr_sweep

    cfg = AsrSweepConfig(audio=list(args.audio), out_dir=args.out, temperatures=args.temperatures,
                         seeds=args.seeds, references=args.references, model=args.model,
                         fallback_row=args.fallback_row, manifest=args.manifest, engine=engine_options(args),
                         decoding=decoding_options(args), exact=args.exact)
    result = run_asr_sweep(cfg, log=_warn)
    print_table(result.summary, ["temperature", "items", "errors", "wer_mean", "wer_std", "cer_mean", "diversity",
                                 "avg_logprob_mean", "settled_temperature_mean"])
    print(f"report: {result.report}")
    return 1 if result.failed else 0


def _verify(cfg, args) -> None:
    from tts_temp.asr import load_model
    from tts_temp.compare.tts_sweep import read_sentences
    from tts_temp.compare.tts_verify import COLUMNS, run_verify
    from tts_temp.tts import SynthesisOptions, load_voice

    rows = run_verify(args.out, read_sentences(cfg.sentences), cfg.temperatures, cfg.seeds, load_voice(cfg.voice),
                      load_model(cfg.asr_model), SynthesisOptions(max_seconds=cfg.max_seconds), log=_warn)
    print_table(rows, COLUMNS)


def run_compare_tts(args) -> int:
    from tts_temp.compare.tts_sweep import TtsSweepConfig, run_tts_sweep

    cfg = TtsSweepConfig(out_dir=args.out, sentences=args.sentences, temperatures=args.temperatures,
                         seeds=args.seeds, voice=args.voice, vocoder=args.vocoder, asr_model=args.asr_model,
                         max_seconds=args.max_seconds, engine=engine_options(args))
    result = run_tts_sweep(cfg, log=_warn)
    print_table(result.summary, ["temperature", "items", "errors", "duration_mean", "f0_mean", "f0_std_mean",
                                 "cer_mean", "dnsmos_ovrl_mean", "distill_mos_mean", "seed_distance_db"])
    if getattr(args, "verify", False):
        _verify(cfg, args)
    print(f"report: {result.report}")
    return 1 if result.failed else 0
