"""Speed of tts_temp's transcribe (float32 and int8) against stock whisper and faster-whisper.

All systems run the same bundled tiny.en with the same options on the same audio: by default
a real-speech clip of >= 60 s made by concatenating the test clips (tests/data) twice. Runs are
interleaved (every system once per repeat, the order reversed on odd repeats) so that a busy
machine slows all columns alike; the table reports medians. With the fallback forced (logprob
threshold 0), all six temperatures run on every window (best_of 5 above T = 0): stock
re-encodes the audio for each, tts_temp encodes once. faster-whisper (CTranslate2 int8 and
float32, from the same CTranslate2 model.bin we convert) is a reference column when installed;
its float32 column is left out of the fallback mode (a long run that the targets do not use).

Memory: for the model and each compute type, the memory a model adds, in fresh processes run one
at a time (1 thread): peak RSS (VmHWM) of loading it and transcribing the clip (greedy, then beam
5), minus the peak of a process that only imported the libraries and loaded the audio; ours and
faster-whisper's (on the same model.bin), side by side. Our converted checkpoint is cached first,
so the figures are those of a warm cache, as every run after the first.

    python scripts/bench_asr.py [--model tiny.en|base] [--audio clip.wav] [--repeats 3] [--threads 1 2]
                                [--configs ...] [--memory-only | --no-memory]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import whisper

from tts_temp.asr import kernels, load_model, transcribe
from tts_temp.asr.fallback import WHISPER_SCHEDULE
from tts_temp.asr import packaged
from tts_temp.asr.weights import BUNDLED, bundled_model_dir, cache_dir
from tts_temp.audio import load
from tts_temp.score import wer

DATA = Path(__file__).resolve().parents[1] / "tests/data"
CONFIGS = {
    "T=0 greedy": dict(temperature=0.0),
    "T=0 beam 5": dict(temperature=0.0, beam_size=5),
    "fallback x6 (best_of 5)": dict(temperature=WHISPER_SCHEDULE, beam_size=5, best_of=5,
                                    logprob_threshold=0.0, no_speech_threshold=None),
}


def _english_clips() -> list[Path]:
    return [p for p in sorted(DATA.glob("*.wav")) if not p.name.startswith(("asterisk_fr", "asterisk_es"))]


def speech_clip() -> np.ndarray:
    """The English test clips (JFK, LibriVox), concatenated twice: 71.5 s of real speech over three
    30 s windows. The French and Spanish prompts stay out: tiny.en is English-only."""
    clips = [load(p) for p in _english_clips()]
    return np.concatenate(clips + clips)


def speech_reference() -> str:
    """What speech_clip() says: the clips' transcripts (tests/data/*.txt), twice."""
    texts = [p.with_suffix(".txt").read_text().strip() for p in _english_clips()]
    return " ".join(texts + texts)


def ct2_dir(model: str) -> Path:
    """The CTranslate2 folder faster-whisper loads for `model`: the bundled one, or a packaged model's
    parts joined once into one model.bin (faster-whisper cannot read split files)."""
    if model == BUNDLED:
        return bundled_model_dir()
    found = packaged.locate(model)
    if found is None:
        raise SystemExit(packaged.missing_message(model))
    folder = cache_dir() / f"ct2-{model}"
    size = sum(p.stat().st_size for p in found.parts)
    if not (folder / "model.bin").is_file() or (folder / "model.bin").stat().st_size != size:
        folder.mkdir(parents=True, exist_ok=True)
        for extra in ("config.json", "tokenizer.json", "vocabulary.txt"):
            if (found.model_dir / extra).is_file():
                shutil.copyfile(found.model_dir / extra, folder / extra)
        with open(folder / "model.bin.tmp", "wb") as out:
            for part in found.parts:
                with open(part, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 22)
        os.replace(folder / "model.bin.tmp", folder / "model.bin")
    return folder


def _faster_whisper(audio: np.ndarray, compute_type: str, threads: int, model: str = BUNDLED):
    try:
        from faster_whisper import WhisperModel
    except ImportError:
        return None
    fw = WhisperModel(str(ct2_dir(model)), device="cpu", compute_type=compute_type, cpu_threads=threads)

    def run(opts: dict) -> str:
        segments, _ = fw.transcribe(audio, language="en", temperature=opts.get("temperature", 0.0),
                                    beam_size=opts.get("beam_size", 1), best_of=opts.get("best_of", 5),
                                    log_prob_threshold=opts.get("logprob_threshold", -1.0),
                                    no_speech_threshold=opts.get("no_speech_threshold", 0.6),
                                    vad_filter=False, without_timestamps=False)
        return "".join(s.text for s in segments)

    return run


# ----------------------------------------------------------------------------- memory
MEMORY_STAGES = ("import", "load", "greedy", "beam 5")


# The measured processes: only their own system's libraries (no torch in faster-whisper's).
_PEAK = """
def peak():
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""
_CHILD = {
    "ours": """
import sys, numpy as np, torch
from tts_temp.asr import kernels, load_model, transcribe
model, compute_type, stage, audio_path = sys.argv[1:]
audio = np.load(audio_path)
torch.set_num_threads(1)
if stage != "import":
    m = load_model(model, device="cpu", compute_type=compute_type)
    if stage != "load":
        transcribe(m, audio, language="en", temperature=0.0, beam_size=5 if stage == "beam 5" else None, seed=0)
print(peak())
""",
    "fw": """
import sys, numpy as np
from faster_whisper import WhisperModel
model_dir, compute_type, stage, audio_path = sys.argv[1:]
audio = np.load(audio_path)
if stage != "import":
    fw = WhisperModel(model_dir, device="cpu", compute_type=compute_type, cpu_threads=1)
    if stage != "load":
        segments, _ = fw.transcribe(audio, language="en", temperature=0.0,
                                    beam_size=5 if stage == "beam 5" else 1, vad_filter=False)
        "".join(s.text for s in segments)
print(peak())
""",
}


def _measure(system: str, model: str, compute_type: str, stage: str, audio_path: str) -> float:
    """Peak RSS (VmHWM, MB) of a fresh process that imports the system's libraries, loads the audio
    and then, by `stage`, loads the model and transcribes (T = 0, greedy or beam 5)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    target = model if system == "ours" else str(ct2_dir(model))
    cmd = [sys.executable, "-c", _PEAK + _CHILD[system], target, compute_type, stage, audio_path]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def memory(audio: np.ndarray, model: str, compute_types: list[str], stages: list[str]) -> dict:
    """{(system, compute type, stage): MB added over the import-only process}, one process at a time."""
    systems = ["ours"]
    try:
        import faster_whisper  # noqa: F401
        systems.append("fw")
    except ImportError:
        pass
    for ct in compute_types:  # convert and cache now, so every measured load reads the cache
        load_model(model, device="cpu", compute_type=ct)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "audio.npy")
        np.save(path, audio)
        base = {s: _measure(s, model, "float32", "import", path) for s in systems}
        added = {}
        for ct in compute_types:
            for stage in stages:
                for s in systems:
                    added[s, ct, stage] = _measure(s, model, ct, stage, path) - base[s]
                    print(f"  memory {model} {ct} {stage}: {s} +{added[s, ct, stage]:.0f} MB "
                          f"(import-only {base[s]:.0f} MB)", file=sys.stderr, flush=True)
    print(f"\nmemory added by {model} (MB over an import-only process: ours {base['ours']:.0f} MB"
          + (f", faster-whisper {base['fw']:.0f} MB" if "fw" in base else "")
          + f"), peak RSS, 1 thread, audio {audio.size / 16000:.1f} s")
    header = ["compute type", "stage", "ours MB"] + (["fw MB", "ours/fw"] if "fw" in systems else [])
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for ct in compute_types:
        for stage in stages:
            row = [ct, stage, f"{added['ours', ct, stage]:.0f}"]
            if "fw" in systems:
                row += [f"{added['fw', ct, stage]:.0f}", f"{added['ours', ct, stage] / added['fw', ct, stage]:.2f}"]
            print("| " + " | ".join(row) + " |", flush=True)
    return added


# ----------------------------------------------------------------------------- speed
def _stock_model(model: str):
    """The model as whisper.load_model leaves it: every weight float32. Ours keeps the token
    embedding in the checkpoint's half precision (its projection reads a packed copy), which stock
    decoding would widen at every step, a cost whisper itself never pays."""
    m = load_model(model, device="cpu")
    emb = m.decoder.token_embedding
    emb.weight = torch.nn.Parameter(emb.weight.detach().float(), requires_grad=False)
    return m


def bench(audio: np.ndarray, threads: int, configs: list[str], repeats: int, fallback_repeats: int,
          model: str = BUNDLED, reference: str | None = None) -> None:
    torch.set_num_threads(threads)
    f32 = load_model(model, device="cpu")
    int8 = load_model(model, device="cpu", compute_type="int8")
    stock = _stock_model(model)
    systems = {
        "stock": lambda o: whisper.transcribe(stock, audio, fp16=False, language="en", **o)["text"],
        "ours f32": lambda o: transcribe(f32, audio, seed=0, language="en", **o).text,
        "ours int8": lambda o: transcribe(int8, audio, seed=0, language="en", **o).text,
    }
    for ct in ("int8", "float32"):
        fw = _faster_whisper(audio, ct, threads, model)
        if fw is not None:
            systems[f"fw {ct}"] = fw
    for run in systems.values():  # warm-up: lazy imports, first-call allocations
        run(CONFIGS["T=0 greedy"])

    print(f"\naudio {audio.size / 16000:.1f} s, {model}, {threads} thread(s), median seconds of interleaved "
          f"runs ({repeats} repeats; fallback {fallback_repeats})")
    print(f"CPU {kernels.cpu_info().describe()}, torch {torch.__version__}, ${kernels.ENV}={kernels.mode()}")
    for name, m in (("f32", f32), ("int8", int8)):
        timed = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in m.kernels.seconds.items())
        print(f"  {name}: {m.kernels.describe()}" + (f" ({timed})" if timed else ""))
    cols = list(systems)
    header = ["mode", *(f"{c} s" for c in cols), "f32/stock"]
    header += ["f32/fw f32"] if "fw float32" in cols else []
    header += ["int8/fw int8"] if "fw int8" in cols else []
    header += ["f32 text = stock", "int8 text = f32", "int8 WER vs f32 %"]
    wer_cols = [c for c in ("ours f32", "ours int8", "fw int8", "fw float32") if c in cols] if reference else []
    header += [f"WER % {c}" for c in wer_cols]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for name in configs:
        opts = CONFIGS[name]
        fallback = "fallback" in name
        names = [c for c in cols if not (fallback and c == "fw float32")]
        times: dict[str, list[float]] = {c: [] for c in names}
        texts: dict[str, str] = {}
        for r in range(fallback_repeats if fallback else repeats):
            for c in names if r % 2 == 0 else reversed(names):
                t0 = time.perf_counter()
                texts[c] = systems[c](opts)
                times[c].append(time.perf_counter() - t0)
                print(f"  {threads} thread(s) {name} repeat {r + 1}: {c} {times[c][-1]:.2f} s", file=sys.stderr,
                      flush=True)
        med = {c: statistics.median(v) for c, v in times.items()}
        row = [name, *(f"{med[c]:.2f}" if c in med else "–" for c in cols), f"{med['ours f32'] / med['stock']:.2f}"]
        if "fw float32" in cols:
            row.append(f"{med['ours f32'] / med['fw float32']:.2f}" if "fw float32" in med else "–")
        if "fw int8" in cols:
            row.append(f"{med['ours int8'] / med['fw int8']:.2f}")
        sampled = " (sampled)" if fallback else ""
        row.append(("yes" if texts["ours f32"] == texts["stock"] else "no") + sampled)
        row.append(("yes" if texts["ours int8"] == texts["ours f32"] else "no") + sampled)
        row.append(f"{100 * wer(texts['ours f32'], texts['ours int8']):.2f}")
        row += [f"{100 * wer(reference, texts[c]):.2f}" if c in texts else "–" for c in wer_cols]
        print("| " + " | ".join(row) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=BUNDLED, choices=[BUNDLED, *packaged.MODELS])
    parser.add_argument("--audio", default=None, help="a wav file (default: the test clips twice, 71.5 s)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fallback-repeats", type=int, default=None, help="default: --repeats")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="one table per thread count")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--memory-stages", nargs="+", default=list(MEMORY_STAGES[1:]), choices=MEMORY_STAGES[1:])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--memory-only", action="store_true", help="only the memory table")
    group.add_argument("--no-memory", dest="memory", action="store_false", help="only the speed tables")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="FP16 is not supported on CPU")
    audio = load(args.audio) if args.audio else speech_clip()
    if args.memory:
        memory(audio, args.model, ["float32", "int8"], args.memory_stages)
    if args.memory_only:
        return
    for threads in args.threads:
        bench(audio, threads, args.configs, args.repeats, args.fallback_repeats or args.repeats, args.model,
              None if args.audio else speech_reference())


if __name__ == "__main__":
    main()
