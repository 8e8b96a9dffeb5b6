"""Sweep throughput: items per second with 1 worker (in-process) and N Ray workers, same manifest, one run.

    python scripts/bench_sweep.py                      # tests/data clips, T = 0 and 1, 2 seeds, workers 1 and 2
    python scripts/bench_sweep.py --workers 1 2 4 --repeat 3

Every run starts from an empty folder, so each one does all the work; each worker uses one torch
thread (--threads-per-worker 1). The Ray rows include starting Ray and loading the model in every
actor (printed separately as the time to start an empty pool), so they are what a user waits for.
Also checks that every worker count wrote the same rows.
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

from tts_temp.compare.asr import AsrSweepConfig, run_asr_sweep  # noqa: E402
from tts_temp.compare.engine import EngineOptions  # noqa: E402


def manifest(folder: Path) -> Path:
    clips = sorted((ROOT / "tests" / "data").glob("*.wav"))
    path = folder / "manifest.jsonl"
    path.write_text("".join(json.dumps({"audio": str(c), "reference": c.with_suffix(".txt").read_text().strip()}) + "\n"
                            for c in clips), encoding="utf-8")
    return path


def run(man: Path, out: Path, workers: int, temps: list[float], seeds: int) -> tuple[float, dict]:
    cfg = AsrSweepConfig(audio=[], manifest=man, out_dir=out, temperatures=temps, seeds=seeds, fallback_row=False,
                         explain=False, engine=EngineOptions(workers=workers, threads_per_worker=1))
    t0 = time.perf_counter()
    result = run_asr_sweep(cfg, log=lambda m: None)
    seconds = time.perf_counter() - t0
    rows = {r["key"]: r.get("text") for r in result.records}
    return seconds, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 1.0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        man = manifest(Path(tmp))
        n_files = sum(1 for _ in man.read_text().splitlines())
        items = n_files * len(args.temperatures) * args.seeds
        times: dict[int, list[float]] = {w: [] for w in args.workers}
        texts: dict[int, dict] = {}
        for rep in range(args.repeat):
            for w in args.workers:  # interleaved, so a busy moment hits every worker count alike
                seconds, rows = run(man, Path(tmp) / f"run-{w}-{rep}", w, args.temperatures, args.seeds)
                times[w].append(seconds)
                texts[w] = rows
        base = statistics.median(times[args.workers[0]])
        print(f"{n_files} files x {len(args.temperatures)} temperatures x {args.seeds} seeds = {items} items "
              f"(tiny.en, 1 torch thread per worker, median of {args.repeat})")
        print("| workers | seconds | items/s | speed-up | same rows as 1 worker |")
        print("|---|---|---|---|---|")
        for w in args.workers:
            med = statistics.median(times[w])
            same = "yes" if texts[w] == texts[args.workers[0]] else "NO"
            print(f"| {w} | {med:.1f} | {items / med:.2f} | {base / med:.2f}x | {same} |")
        print(f"per item, 1 worker: {base / items:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
