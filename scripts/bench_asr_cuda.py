"""Whisper on a CUDA GPU: correctness checks, then fp16 / fp32 timings against stock whisper.

    python scripts/bench_asr_cuda.py [--model tiny.en|PATH] [--repeats 3] [--grid-only] [--device cuda]

Checks (each prints PASS or FAIL, exit code 1 on any FAIL):
- T > 0 sampling runs on CUDA and is reproducible from its seed (the generator lives on the GPU);
  another seed gives another draw somewhere in the fallback's samples;
- T = 0 on CUDA float32 gives the same text as on the CPU;
- fp16 is the default on CUDA (as in whisper), and stock whisper.transcribe with fp16 on the same
  model gives the same text as ours at T = 0.
Timings: a >= 60 s real-speech clip (the test clips, twice), stock whisper vs tts_temp, fp16 and
fp32, greedy, beam 5 and the fallback forced through all six temperatures; medians, interleaved.
The sweep grid (issue 20, item 5): the clips' (4 temperatures x 3 seeds) grid through
`transcribe_grid` (one encoder pass per window) against the same items transcribed one by one, fp16
and fp32: T = 0 rows must equal their single items (PASS/FAIL); the share of sampled rows that replay
their single item exactly is printed (batched GPU products may round differently), with items per
second and the ratio. `--device cpu --grid-only` runs the same on the CPU (a smoke test of the script).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import whisper

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tts_temp.asr import load_model, transcribe  # noqa: E402
from tts_temp.asr.grid import GridRow, transcribe_grid  # noqa: E402
from tts_temp.asr.fallback import WHISPER_SCHEDULE  # noqa: E402
from tts_temp.audio import load  # noqa: E402

DATA = ROOT / "tests" / "data"
MODES = {
    "T=0 greedy": dict(temperature=0.0),
    "T=0 beam 5": dict(temperature=0.0, beam_size=5),
    "fallback x6 (best_of 5)": dict(temperature=WHISPER_SCHEDULE, beam_size=5, best_of=5, logprob_threshold=0.0,
                                    no_speech_threshold=None),
}


def speech_clip() -> np.ndarray:
    clips = [load(p) for p in sorted(DATA.glob("*.wav")) if not p.name.startswith("asterisk")]
    return np.concatenate(clips + clips)


def check(name: str, ok: bool, detail: str = "") -> bool:
    print(f"{'PASS' if ok else 'FAIL'}  {name}{'  ' + detail if detail else ''}", flush=True)
    return ok


GRID_TEMPERATURES = (0.0, 0.4, 0.8, 1.0)
GRID_SEEDS = (1, 2, 3)


def sync_time(fn):
    """(seconds, result) of fn(), with the GPU's queue drained on both sides."""
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def grid_section(model, repeats: int, fp16_choices: tuple[bool, ...], max_clips: int | None = None) -> bool:
    """The sweep grid of every test clip, batched against item by item (module docstring)."""
    clips = [(p.name, load(p)) for p in sorted(DATA.glob("*.wav")) if not p.name.startswith("asterisk")][:max_clips]
    rows = [GridRow(t, s) for t in GRID_TEMPERATURES for s in GRID_SEEDS]
    ok = True
    print(f"\nsweep grid: {len(clips)} clips x {len(GRID_TEMPERATURES)} temperatures x {len(GRID_SEEDS)} seeds "
          f"({len(clips) * len(rows)} items), median seconds of {repeats}")
    print("| precision | grid s | item by item s | items/s grid | items/s alone | ratio | T=0 equal | sampled replay |")
    print("|---|---|---|---|---|---|---|---|")
    for fp16 in fp16_choices:
        def batched():
            return [transcribe_grid(model, audio, rows, fp16=fp16) for _, audio in clips]

        def alone():
            return [[transcribe(model, audio, temperature=r.temperature, seed=r.seed, fp16=fp16) for r in rows]
                    for _, audio in clips]
        batched(), alone()  # warm-up
        grid_s, single_s = [], []
        for _ in range(repeats):
            seconds, grids = sync_time(batched)
            grid_s.append(seconds)
            seconds, singles = sync_time(alone)
            single_s.append(seconds)
        zero_ok, replay, sampled = True, 0, 0
        for grid, single in zip(grids, singles):
            for row, got, want in zip(rows, grid.transcripts, single):
                if isinstance(got, BaseException):
                    zero_ok = False
                    continue
                if row.temperature == 0.0:
                    zero_ok &= got.text == want.text
                else:
                    sampled += 1
                    replay += got.text == want.text
        n = len(clips) * len(rows)
        g, a = statistics.median(grid_s), statistics.median(single_s)
        name = "fp16" if fp16 else "fp32"
        print(f"| {name} | {g:.2f} | {a:.2f} | {n / g:.1f} | {n / a:.1f} | {a / g:.2f} | {zero_ok} | "
              f"{replay}/{sampled} |", flush=True)
        ok &= check(f"grid {name}: T=0 rows equal their single items", zero_ok)
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--grid-only", action="store_true", help="only the sweep grid section")
    ap.add_argument("--grid-clips", type=int, default=None, help="the grid's first N clips (default: all)")
    ap.add_argument("--device", default="cuda", help="cuda (default), or cpu with --grid-only (a smoke test)")
    args = ap.parse_args()
    if args.device == "cpu":
        if not args.grid_only:
            print("--device cpu needs --grid-only", file=sys.stderr)
            return 2
        return 0 if grid_section(load_model(args.model, device="cpu"), args.repeats, (False,), args.grid_clips) else 1
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    jfk = load(DATA / "jfk.wav")
    gpu = load_model(args.model, device=args.device)
    if args.grid_only:
        return 0 if grid_section(gpu, args.repeats, (True, False), args.grid_clips) else 1
    cpu = load_model(args.model, device="cpu")
    ok = True

    a = transcribe(gpu, jfk, temperature=0.7, best_of=2, seed=11)
    b = transcribe(gpu, jfk, temperature=0.7, best_of=2, seed=11)
    c = transcribe(gpu, jfk, temperature=(0.7, 1.0), best_of=5, seed=12, logprob_threshold=0.0)
    d = transcribe(gpu, jfk, temperature=(0.7, 1.0), best_of=5, seed=13, logprob_threshold=0.0)
    ok &= check("CUDA T=0.7 sampling runs and replays from its seed", a.text == b.text and a.seed == 11, repr(a.text))
    tokens = lambda t: [att.tokens for s in t.segments for att in s.attempts]  # noqa: E731
    ok &= check("another seed draws other samples", tokens(c) != tokens(d))
    g32 = transcribe(gpu, jfk, temperature=0.0, fp16=False)
    c32 = transcribe(cpu, jfk, temperature=0.0)
    ok &= check("T=0: CUDA float32 text == CPU text", g32.text == c32.text, repr(g32.text))
    g16 = transcribe(gpu, jfk, temperature=0.0)  # fp16 by default on CUDA
    stock16 = whisper.transcribe(gpu, jfk, temperature=0.0, fp16=True)["text"]
    ok &= check("T=0: fp16 (the CUDA default) text == stock whisper fp16", g16.text == stock16, repr(g16.text))

    audio = speech_clip()
    systems = {
        "stock fp16": lambda o: whisper.transcribe(gpu, audio, fp16=True, **o)["text"],
        "ours fp16": lambda o: transcribe(gpu, audio, seed=0, fp16=True, **o).text,
        "stock fp32": lambda o: whisper.transcribe(gpu, audio, fp16=False, **o)["text"],
        "ours fp32": lambda o: transcribe(gpu, audio, seed=0, fp16=False, **o).text,
    }
    for run in systems.values():
        run(MODES["T=0 greedy"])  # warm-up: kernels, allocator
    print(f"\naudio {audio.size / 16000:.1f} s, {args.model}, median seconds of {args.repeats} interleaved runs")
    print("| mode | " + " | ".join(systems) + " | ours/stock fp16 | ours/stock fp32 | same text fp16 / fp32 |")
    print("|---" * (len(systems) + 4) + "|")
    for mode, opts in MODES.items():
        times: dict[str, list[float]] = {k: [] for k in systems}
        texts: dict[str, str] = {}
        for rep in range(args.repeats):
            order = list(systems) if rep % 2 == 0 else list(reversed(systems))
            for k in order:
                seconds, texts[k] = sync_time(lambda: systems[k](opts))
                times[k].append(seconds)
        med = {k: statistics.median(v) for k, v in times.items()}
        same = "n/a (sampled)" if "fallback" in mode else \
            f"{texts['ours fp16'] == texts['stock fp16']} / {texts['ours fp32'] == texts['stock fp32']}"
        print(f"| {mode} | " + " | ".join(f"{med[k]:.2f}" for k in systems)
              + f" | {med['ours fp16'] / med['stock fp16']:.2f} | {med['ours fp32'] / med['stock fp32']:.2f} | {same} |",
              flush=True)
    ok &= grid_section(gpu, args.repeats, (True, False), args.grid_clips)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
