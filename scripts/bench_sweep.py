"""Sweep throughput: compare-asr's grid (one encoder pass per window for every row) against
faster-whisper looping the same grid item by item, at 1 thread each.

    python scripts/bench_sweep.py                                  # 10 clips x T 0 0.5 1 x 2 seeds
    python scripts/bench_sweep.py --files 30 --temperatures 0 0.33 0.67 1 --seeds 3
    python scripts/bench_sweep.py --seeds 1 2 3 --grow             # how the ratio grows with the grid
    python scripts/bench_sweep.py --replay                         # replay every sampled row alone
    python scripts/bench_sweep.py --workers 1 2                    # Ray workers (tts_temp only)

Clips: tests/data (10 clips, 3-11 s; listed again when --files asks for more). Every tts_temp run
starts from an empty folder and includes loading the model and writing the report; every
faster-whisper run includes loading its model (the same CTranslate2 tiny.en model.bin our bundled
model is converted from), then transcribes each (clip, temperature, seed) with
`ctranslate2.set_random_seed(seed)`, greedy at T = 0 and one sample above, no fallback (compare-asr's
fixed rows), timestamps on, condition on previous text on (both tools' defaults). Items per second =
grid items / wall seconds. `--replay` transcribes every sampled row alone with `transcribe` and
counts the rows that differ (text, and the whole record), for the default (one decoder pass per
sampled row) and for --batched-sampling.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from tts_temp.compare.asr_sweep import AsrDecoding, AsrSweepConfig, run_asr_sweep  # noqa: E402
from tts_temp.compare.engine import EngineOptions  # noqa: E402


def clips(n: int | None) -> list[Path]:
    found = sorted((ROOT / "tests" / "data").glob("*.wav"))
    n = len(found) if n is None else n
    return [found[i % len(found)] for i in range(n)]


def manifest(folder: Path, files: list[Path]) -> Path:
    """Each clip under its own name (a repeated clip is a copy: the sweep sweeps a file once)."""
    import shutil

    lines = []
    for i, c in enumerate(files):
        copy = folder / f"{i:03d}_{c.name}"
        shutil.copyfile(c, copy)
        lines.append(json.dumps({"audio": str(copy), "reference": c.with_suffix(".txt").read_text().strip()}))
    path = folder / "manifest.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ours(man: Path, out: Path, temps: list[float], seeds: int, compute_type: str, exact: bool,
         workers: int = 1) -> tuple[float, list[dict]]:
    cfg = AsrSweepConfig(audio=[], manifest=man, out_dir=out, temperatures=temps, seeds=seeds, fallback_row=False,
                         explain=False, engine=EngineOptions(workers=workers, threads_per_worker=1),
                         decoding=AsrDecoding(compute_type=compute_type, device="cpu"), exact=exact)
    t0 = time.perf_counter()
    result = run_asr_sweep(cfg, log=lambda m: None)
    return time.perf_counter() - t0, result.records


def faster_whisper(files: list[Path], temps: list[float], seeds: int, compute_type: str) -> float | None:
    try:
        import ctranslate2
        from faster_whisper import WhisperModel
    except ImportError:
        return None
    from tts_temp.asr.weights import bundled_model_dir
    from tts_temp.audio import load

    t0 = time.perf_counter()
    fw = WhisperModel(str(bundled_model_dir()), device="cpu", compute_type=compute_type, cpu_threads=1)
    for f in files:
        audio = load(f, 16000)
        for t in temps:
            for s in range(seeds):
                ctranslate2.set_random_seed(s)
                segments, _ = fw.transcribe(audio, language="en", temperature=t, beam_size=1, best_of=1,
                                            vad_filter=False)
                " ".join(seg.text for seg in segments)  # the generator does the work
    return time.perf_counter() - t0


def replay(records: list[dict], model) -> tuple[int, int, int]:
    """(sampled rows, rows whose text differs alone, rows whose record differs alone)."""
    from tts_temp.audio import load
    from tts_temp.compare.asr_sweep import transcribe_item

    sampled = [r for r in records if not r.get("error") and r["temperature"] > 0]
    text = whole = 0
    for r in sampled:
        alone = transcribe_item(model, load(r["file"], 16000), r["temperature"], r["seed"], r["reference"])
        text += alone["text"] != r["text"]
        whole += any(alone[k] != r[k] for k in alone)
    return len(sampled), text, whole


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=None, help="clips (default: the 10 in tests/data)")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[2], help="one or more seed counts")
    ap.add_argument("--grow", action="store_true", help="also the grids of the first 1, 2, ... temperatures")
    ap.add_argument("--compute-types", nargs="+", default=["float32", "int8"])
    ap.add_argument("--batched", action="store_true", help="also time --batched-sampling")
    ap.add_argument("--no-faster-whisper", dest="fw", action="store_false")
    ap.add_argument("--fw-compute-types", nargs="+", default=["int8", "float32"], choices=["int8", "float32"],
                    help="faster-whisper's columns (default both)")
    ap.add_argument("--replay", action="store_true", help="replay every sampled row alone (slow)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1])
    args = ap.parse_args()
    torch.set_num_threads(1)
    files = clips(args.files)
    temp_sets = [args.temperatures[:k] for k in range(1, len(args.temperatures) + 1)] if args.grow \
        else [args.temperatures]
    from tts_temp.asr import kernels

    print(f"CPU {kernels.cpu_info().describe()}, torch {torch.__version__}, 1 thread, {time.strftime('%Y-%m-%d %H:%M')}")
    print("| grid | items | system | seconds | items/s | speed-up vs faster-whisper int8 | speed-up vs faster-whisper float32 |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        man = manifest(Path(tmp), files)
        run = 0
        for temps in temp_sets:
            for seeds in args.seeds:
                items = len(files) * len(temps) * seeds
                grid = f"{len(files)} x {len(temps)} T x {seeds} seeds"
                base = {ct: faster_whisper(files, temps, seeds, ct) for ct in args.fw_compute_types} if args.fw else {}
                rows: list[tuple[str, float]] = []
                for ct in args.compute_types:
                    for exact in ([True, False] if args.batched else [True]):
                        for w in args.workers:
                            run += 1
                            seconds, records = ours(man, Path(tmp) / f"run{run}", temps, seeds, ct, exact, w)
                            name = f"tts_temp {ct}" + ("" if exact else " batched") + (f" {w} workers" if w > 1 else "")
                            rows.append((name, seconds))
                            if args.replay and ct == "float32" and w == 1:
                                from tts_temp.asr import load_model

                                n, text, whole = replay(records, load_model("tiny.en"))
                                print(f"replay ({name}): {n} sampled rows, text differs alone in {text}, "
                                      f"record differs in {whole}", file=sys.stderr)
                rows += [(f"faster-whisper {ct} item by item", s) for ct, s in base.items() if s is not None]
                for name, seconds in rows:
                    ratio = {ct: (f"{base[ct] / seconds:.2f}x" if base.get(ct) else "-") for ct in ("int8", "float32")}
                    print(f"| {grid} | {items} | {name} | {seconds:.1f} | {items / seconds:.2f} | {ratio['int8']} "
                          f"| {ratio['float32']} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
