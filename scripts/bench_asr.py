"""Speed of tts_temp's transcribe against stock `whisper.transcribe`, same model, same options.

Runs are interleaved (stock, ours, ours, stock, ...) so that a busy machine slows both alike;
the table reports the median time per system and the ratio tts_temp / stock. With the
fallback forced (logprob threshold 0), all six temperatures run on every window: stock
re-encodes the audio for each, tts_temp encodes once. faster-whisper (CTranslate2 int8, on the
same bundled model) is added as a reference column when it is installed.

    python scripts/bench_asr.py [--audio tests/data/jfk.wav] [--repeats 3] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import torch
import whisper

from tts_temp.asr import load_model, transcribe
from tts_temp.asr.fallback import WHISPER_SCHEDULE
from tts_temp.asr.weights import bundled_model_dir
from tts_temp.audio import load

CONFIGS = {
    "T=0 greedy": dict(temperature=0.0),
    "T=0 beam 5": dict(temperature=0.0, beam_size=5),
    "fallback x6 (best_of 5)": dict(temperature=WHISPER_SCHEDULE, beam_size=5, best_of=5,
                                    logprob_threshold=0.0, no_speech_threshold=None),
}


def _faster_whisper(audio):
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        return None
    fw = WhisperModel(str(bundled_model_dir()), device="cpu", compute_type="int8",
                      cpu_threads=torch.get_num_threads())

    def run(opts: dict) -> str:
        temps = opts.get("temperature", 0.0)
        segments, _ = fw.transcribe(audio, language="en", temperature=temps, beam_size=opts.get("beam_size", 1),
                                    best_of=opts.get("best_of", 5), log_prob_threshold=opts.get("logprob_threshold", -1.0),
                                    no_speech_threshold=opts.get("no_speech_threshold", 0.6),
                                    vad_filter=False, without_timestamps=False)
        return "".join(s.text for s in segments)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", default=str(Path(__file__).resolve().parents[1] / "tests/data/jfk.wav"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message="FP16 is not supported on CPU")

    model = load_model()
    audio = load(args.audio)
    fw = _faster_whisper(audio)
    systems = {
        "stock": lambda o: whisper.transcribe(model, audio, fp16=False, **o)["text"],
        "tts_temp": lambda o: transcribe(model, audio, seed=0, **o).text,
    }
    if fw is not None:
        systems["faster-whisper int8"] = fw

    print(f"audio {Path(args.audio).name} ({audio.size / 16000:.1f} s), tiny.en, torch threads "
          f"{torch.get_num_threads()}, {args.repeats} interleaved repeats, median seconds")
    rows = []
    for name in args.configs:
        opts = CONFIGS[name]
        for run in systems.values():  # warm-up: caches, lazy imports, first-call allocations
            run(opts)
        times = {s: [] for s in systems}
        texts = {s: None for s in systems}
        for r in range(args.repeats):
            order = list(systems) if r % 2 == 0 else list(reversed(systems))
            for s in order:
                t0 = time.perf_counter()
                texts[s] = systems[s](opts)
                times[s].append(time.perf_counter() - t0)
        med = {s: statistics.median(v) for s, v in times.items()}
        same = "yes" if texts["stock"] == texts["tts_temp"] else "no (sampled)" if "fallback" in name else "NO"
        row = [name, f"{med['stock']:.2f}", f"{med['tts_temp']:.2f}", f"{med['tts_temp'] / med['stock']:.2f}"]
        if fw is not None:
            row.append(f"{med['faster-whisper int8'] / med['stock']:.2f}")
        rows.append(row + [same])
    header = ["options", "stock s", "tts_temp s", "tts_temp/stock"]
    header += ["faster-whisper/stock"] if fw is not None else []
    header += ["same text"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
