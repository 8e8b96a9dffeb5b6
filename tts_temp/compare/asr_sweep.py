"""Transcript sweep: audio files x temperatures x seeds -> text, WER, CER, log-prob, compression.

Every fixed temperature is decoded with exactly that temperature (no fallback); one more row,
"fallback", runs Whisper's default schedule and records which temperature each segment settled
on and which criterion rejected each failed attempt. A file's rows are one grid (asr.grid): each
30 s window is encoded once for all of them, deterministic attempts are decoded once and shared,
sampled rows decode together, and every row is still what `transcribe` gives for it alone. The
engine schedules files; a file's rows are appended to results.jsonl when the file finishes, so a
killed run resumes with the rows it had not written. Decoding options (`AsrDecoding`) are one set
for the sweep, recorded in run.json.

Also here: the figures that explain temperature on a real clip, made from Whisper's own logits
(`token_distribution`), since they need the model and so belong with the ASR half of the sweep.
"""
from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from tts_temp.asr.fallback import WHISPER_SCHEDULE
from tts_temp.asr.options import AudioOptions, DecodeOptions, TranscribeOptions
from tts_temp.asr.sampler import SamplingOptions
from tts_temp.asr.vad import VadOptions
from tts_temp.asr.packaged import BUNDLED
from tts_temp.audio import write_atomic_text
from tts_temp.compare import metrics
from tts_temp.compare.engine import EngineOptions, run_tasks
from tts_temp.compare.manifest import Entry, read_manifest
from tts_temp.compare.results import ResultsFile, check_run_settings, write_csv
from tts_temp.compare.checks import check_seeds, check_temperatures
from tts_temp.compare.progress import Progress
from tts_temp.errors import UserError

DEFAULT_TEMPERATURES = WHISPER_SCHEDULE   # the fixed-T rows; the fallback row runs the same schedule
DEFAULT_SEEDS = 3
FALLBACK = "fallback"
EXPLAIN_TEMPERATURES = (0.25, 0.5, 1.0, 2.0)


TASKS = ("transcribe", "translate")


@dataclass(frozen=True)
class AsrDecoding:
    """transcribe's decoding options, as the sweep takes them (None: transcribe's own default).

    One set for the whole sweep, checked once before any audio is read, recorded in run.json
    (a folder made with other options is not resumed) and shown in the report."""

    compute_type: str | None = None   # None: float16 on CUDA, float32 on the CPU (load_model's rule)
    device: str | None = None         # None: CUDA when available
    beam_size: int | None = None      # beams at T = 0 (None: greedy)
    best_of: int | None = None        # samples per sampled attempt, the most likely kept (None: one)
    top_k: int | None = None
    top_p: float | None = None
    language: str | None = None       # None: detected (English for .en models)
    task: str = "transcribe"
    vad_filter: bool = False

    def validate(self) -> "AsrDecoding":
        """The same options, checked and normalised (a language name becomes its code); UserError if bad."""
        from tts_temp.asr.options import language_code
        from tts_temp.asr.weights import resolve_compute_type, resolve_device
        from tts_temp.sampling.temperature import check_top_k, check_top_p

        for name in ("beam_size", "best_of"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
                raise UserError(f"--{name.replace('_', '-')} must be a whole number >= 1, got {value}")
        if self.task not in TASKS:
            raise UserError(f"--task must be transcribe or translate, got {self.task!r}")
        if not isinstance(self.vad_filter, bool):
            raise UserError(f"--vad-filter must be true or false, got {self.vad_filter!r}")
        try:
            check_top_k(self.top_k)
            check_top_p(self.top_p)
            language = language_code(self.language)
        except ValueError as exc:
            raise UserError(str(exc).splitlines()[0]) from None
        device = resolve_device(self.device)  # UserError when CUDA is asked for and absent
        resolve_compute_type(self.compute_type, device)  # unknown, int8 on CUDA, float16 on the CPU: UserError
        return AsrDecoding(compute_type=self.compute_type, device=self.device,
                           beam_size=None if self.beam_size is None else int(self.beam_size),
                           best_of=None if self.best_of is None else int(self.best_of), top_k=self.top_k,
                           top_p=self.top_p, language=language, task=self.task, vad_filter=self.vad_filter)

    def transcribe_options(self) -> TranscribeOptions:
        """What `transcribe` (and so `transcribe_grid`) takes; model loading is separate."""
        return TranscribeOptions(
            decoding=DecodeOptions(task=self.task, language=self.language, beam_size=self.beam_size,
                                   best_of=self.best_of),
            sampling=SamplingOptions(top_k=self.top_k, top_p=self.top_p),
            audio=AudioOptions(vad=VadOptions() if self.vad_filter else None))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class AsrSweepConfig:
    audio: list[Path]
    out_dir: Path
    temperatures: list[float] = field(default_factory=lambda: list(DEFAULT_TEMPERATURES))
    seeds: int = DEFAULT_SEEDS
    references: Path | None = None
    model: str = BUNDLED
    fallback_row: bool = True
    explain: bool = True          # the next-token distribution figures on the first clip
    manifest: Path | None = None  # TSV/CSV/JSONL or a LibriSpeech-style folder (see compare.manifest)
    engine: EngineOptions = field(default_factory=EngineOptions)
    decoding: AsrDecoding = field(default_factory=AsrDecoding)
    # sampled rows: one decoder pass per row (the very logits of the item alone) or one batched pass
    # (faster; float32 sums may round differently, so a sampled row may differ from its replay)
    exact: bool = True

    def validate(self) -> list[Entry]:
        """Check the arguments; return the inputs (command-line files first, then the manifest's),
        each once. A missing file named on the command line stops the sweep; a bad manifest row
        becomes one failed item."""
        if not self.audio and self.manifest is None:
            raise UserError("no audio files given (name files, or --manifest)")
        for p in self.audio:
            if not Path(p).is_file():
                raise UserError(f"{p}: no such file")
        self.temperatures = check_temperatures(self.temperatures)
        check_seeds(self.seeds)
        self.engine.validate()
        self.decoding = self.decoding.validate()
        if self.references is not None and not Path(self.references).is_file():
            raise UserError(f"{self.references}: no such references file")
        references = read_references(self.audio, self.references)
        entries = [Entry(Path(p), references[Path(p)], str(p)) for p in self.audio]
        if self.manifest is not None:
            entries += read_manifest(self.manifest)
        seen: set[Path] = set()
        unique: list[Entry] = []
        for e in entries:  # a file given twice is swept once
            if e.audio.resolve() not in seen:
                seen.add(e.audio.resolve())
                unique.append(e)
        self.audio = [e.audio for e in unique]
        return unique


def read_references(audio: list[Path], manifest: Path | None) -> dict[Path, str | None]:
    """Reference text per audio file: a manifest line `AUDIO<TAB>TEXT` (AUDIO as given on the
    command line, or its file name), else a sidecar `AUDIO.txt` / same-stem .txt, else None."""
    table: dict[str, str] = {}
    if manifest is not None:
        try:
            lines = Path(manifest).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{manifest}: cannot read ({exc.__class__.__name__})") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise UserError(f"{manifest}:{n}: expected AUDIO<TAB>TEXT")
            name, text = line.split("\t", 1)
            table[name.strip()] = text.strip()
    out: dict[Path, str | None] = {}
    for p in audio:
        p = Path(p)
        ref = table.get(str(p), table.get(p.name))
        if ref is None:
            for side in (p.with_suffix(".txt"), p.with_name(p.name + ".txt")):
                if side.is_file():
                    ref = " ".join(side.read_text(encoding="utf-8").split())
                    break
        out[p] = ref
    return out


def windows(segments) -> list:
    """The first segment of each 30 s window: segments cut from one window share its attempts
    (and its kept attempt's numbers), so counting per segment would count a window once per segment."""
    first: dict[int, object] = {}
    for seg in segments:
        first.setdefault(seg.window, seg)
    return list(first.values())


def fired_criteria(transcript) -> Counter:
    """How often each fallback criterion rejected an attempt (one attempt can fail several), over
    every window, the ones skipped as silence included."""
    fired: Counter = Counter()
    attempts = [a for w in windows(transcript.segments) for a in w.attempts]
    attempts += [a for w in transcript.skipped for a in w.attempts]
    for att in attempts:
        if not att.accepted:
            fired.update(att.failed)
    return fired


def item_key(path: Path, temperature: float | None, seed: int) -> str:
    t = FALLBACK if temperature is None else f"{temperature:g}"
    return f"asr|{Path(path).resolve()}|T={t}|seed={seed}"


def item_record(tr, reference: str | None) -> dict:
    """One transcript's numbers: text, WER/CER, log-prob, compression, what the fallback did."""
    from whisper.utils import compression_ratio

    wins = windows(tr.segments)
    logprobs = [w.avg_logprob for w in wins if math.isfinite(w.avg_logprob)]
    text = tr.text.strip()
    return {
        "text": text,
        "wer": None if reference is None else metrics.wer(reference, text),
        "cer": None if reference is None else metrics.cer(reference, text),
        "avg_logprob": float(np.mean(logprobs)) if logprobs else None,
        "compression_ratio": compression_ratio(text) if text else None,
        "segment_temperatures": [s.temperature for s in tr.segments],
        "fired": dict(fired_criteria(tr)),
        "segments": [{"start": s.start, "end": s.end, "text": s.text, "temperature": s.temperature}
                     for s in tr.segments],
        "windows": [{"window": w.window, "temperature": w.temperature, "avg_logprob": w.avg_logprob,
                     "attempts": [a.to_dict() for a in w.attempts]} for w in wins],
        "skipped_windows": [w.to_dict() for w in tr.skipped],
    }


def transcribe_item(model, waveform: np.ndarray, temperature: float | None, seed: int,
                    reference: str | None, options: TranscribeOptions | None = None) -> dict:
    """One transcription alone and its numbers (temperature None = Whisper's fallback schedule):
    what a sweep row must equal."""
    from tts_temp.asr import transcribe
    from tts_temp.asr.grid import GridRow, row_options

    row = row_options(options or TranscribeOptions(), GridRow(temperature, seed))
    return item_record(transcribe(model, waveform, row), reference)


def row_label(temperature: float | None, seed: int) -> str:
    return f"T={FALLBACK if temperature is None else f'{temperature:g}'} seed={seed}"


def transcribe_file(model, waveform: np.ndarray, rows: list[tuple[float | None, int]], reference: str | None,
                    options: TranscribeOptions | None = None, exact: bool = True) -> list[dict]:
    """Every (temperature, seed) row of one file through one grid (asr.grid): each window encoded
    once, deterministic attempts decoded once for every row that shares them, sampled rows batched.
    One record per row, in order; a row that failed is {"error": ...}. Each record's "grid" says
    how it was computed (shared, batched, the file's encoder passes)."""
    from tts_temp.asr.grid import GridRow, transcribe_grid

    grid = transcribe_grid(model, waveform, [GridRow(t, s) for t, s in rows], options, exact=exact)
    out = []
    for (t, s), tr, stats in zip(rows, grid.transcripts, grid.stats):
        if isinstance(tr, BaseException):
            out.append({"error": f"{type(tr).__name__}: {tr}"})
            continue
        rec = item_record(tr, reference)
        rec["grid"] = dict(stats.to_dict(), encoder_passes=grid.encoder_passes, rows=len(rows), exact=grid.exact,
                           shared_with=[row_label(*rows[j]) for j in sorted(stats.shared_with)])
        rec["grid"].pop("shared_with_rows")
        out.append(rec)
    return out


@dataclass(frozen=True)
class AsrTask:
    """One file and the rows of its grid still to do: (temperature or None = the fallback schedule, seed)."""
    audio: str
    rows: tuple[tuple[float | None, int], ...]
    reference: str | None
    options: TranscribeOptions | None = None   # AsrDecoding.transcribe_options (None: transcribe's defaults)
    exact: bool = True


class AsrRunner:
    """A worker's state: the loaded model; one call transcribes one file's whole grid."""

    def __init__(self, model):
        self.model = model

    def __call__(self, task: AsrTask) -> list[dict]:
        from tts_temp import audio as audio_io

        try:
            waveform = audio_io.load(task.audio, 16000)
        except Exception as exc:  # an unreadable file is one bad item per row, not the end of the sweep
            return [{"error": str(exc)}] * len(task.rows)
        try:
            return transcribe_file(self.model, waveform, list(task.rows), task.reference, task.options, task.exact)
        except Exception as exc:  # one bad file must not stop the sweep
            return [{"error": f"{type(exc).__name__}: {exc}"}] * len(task.rows)


@dataclass(frozen=True)
class AsrWorker:
    """Picklable recipe for a worker process: load the model once, then run tasks."""
    model: str
    device: str | None = None
    compute_type: str | None = None

    def __call__(self) -> AsrRunner:
        from tts_temp.asr import load_model

        return AsrRunner(load_model(self.model, device=self.device, compute_type=self.compute_type))


@dataclass
class AsrSweepResult:
    out_dir: Path
    records: list[dict]
    summary: list[dict]
    report: Path
    failed: int
    explain: dict | None = None
    figures: list = field(default_factory=list)


def run_asr_sweep(cfg: AsrSweepConfig, model=None, log=print) -> AsrSweepResult:
    """Run (or resume) the sweep, then write summary.csv, the plots and report.html.

    `model`: an already-loaded Whisper to use in this process (workers == 1 only)."""
    from tts_temp.compare import plots, report

    entries = cfg.validate()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_run_settings(out, {"sweep": "asr", "model": cfg.model, **cfg.decoding.to_dict(), "exact": cfg.exact})
    results = ResultsFile(out / "results.jsonl")

    rows = [(t, s) for t in cfg.temperatures for s in range(cfg.seeds)]
    if cfg.fallback_row:
        rows += [(None, s) for s in range(cfg.seeds)]
    keys = [item_key(e.audio, t, s) for e in entries for t, s in rows]
    bases: dict[str, dict] = {}
    tasks: list[AsrTask] = []
    options = cfg.decoding.transcribe_options()
    for e in entries:
        base = {"kind": "asr", "file": str(e.audio.resolve()), "name": e.audio.name, "reference": e.reference}
        todo = []
        for t, s in rows:
            key = item_key(e.audio, t, s)
            bases[key] = dict(base, key=key, mode=FALLBACK if t is None else "fixed", temperature=t, seed=s)
            if _done(results, key, e.reference):
                continue
            if e.error is not None:  # a bad manifest row: recorded, never sent to a worker
                results.append(dict(bases[key], error=e.error))
                continue
            todo.append((t, s))
        if todo:  # the file's unfinished rows, as one grid
            tasks.append(AsrTask(str(e.audio.resolve()), tuple(todo), e.reference, options, cfg.exact))  # workers run in other folders

    if model is not None and cfg.engine.uses_ray:
        raise ValueError("a preloaded model runs in this process only (workers == 1)")
    d = cfg.decoding
    make_worker = AsrWorker(cfg.model, d.device, d.compute_type) if model is None else (lambda: AsrRunner(model))
    done_before = len(keys) - sum(len(t.rows) for t in tasks)
    with Progress(total=len(keys), desc="transcribe", initial=done_before) as bar:
        for i, recs, error in run_tasks(make_worker, tasks, cfg.engine):
            task = tasks[i]
            recs = recs if error is None else [{"error": error}] * len(task.rows)
            for (t, s), rec in zip(task.rows, recs):
                results.append(dict(bases[item_key(Path(task.audio), t, s)], **rec))
                bar.advance(failed=bool(rec.get("error")))

    records = [results.get(k) for k in keys]
    failed = sum(1 for r in records if r.get("error"))
    for r in records:
        if r.get("error"):
            log(f"compare-asr: {r['name']} T={_label(r)} seed={r['seed']}: {r['error']}")

    summary = summarise(records, cfg.temperatures, cfg.fallback_row)
    fired = sorted({k for row in summary for k in row if k.startswith("fired_")})
    write_csv(out / "summary.csv", summary, SUMMARY_COLUMNS + fired)
    figures = plots.asr_figures(out, summary)
    explain = None
    if cfg.explain:
        first = next((r for r in records if not r.get("error")), None)
        if first is not None:
            explain = _explain(out / "token_distribution.json",
                               lambda: model or AsrWorker(cfg.model, d.device, d.compute_type)().model, first)
            figures += plots.token_figures(out, explain)
    shown = report.sample_files(records)
    clips = _copy_inputs([Path(f) for f in shown], out / "audio")
    page = report.asr_report(out, cfg, summary, SUMMARY_COLUMNS, records, figures, explain, shown, clips)
    return AsrSweepResult(out, records, summary, page, failed, explain, figures)


def _done(results: ResultsFile, key: str, reference: str | None) -> bool:
    """Finished, and scored against the reference given now (a changed reference redoes the item)."""
    return results.done(key) and results.get(key).get("reference") == reference


SUMMARY_COLUMNS = ["temperature", "items", "errors", "wer_mean", "wer_std", "cer_mean", "cer_std",
                   "diversity", "avg_logprob_mean", "compression_ratio_mean", "settled_temperature_mean"]


def _label(rec: dict) -> str:
    return FALLBACK if rec.get("mode") == FALLBACK else f"{rec['temperature']:g}"


def summarise(records: list[dict], temperatures: list[float], fallback_row: bool) -> list[dict]:
    """Per temperature (and the fallback row): mean/std WER and CER over files x seeds, diversity
    (mean over files of the mean pairwise WER between seed texts), and fired criteria counts."""
    labels = [f"{t:g}" for t in temperatures] + ([FALLBACK] if fallback_row else [])
    out = []
    for label in labels:
        group = [r for r in records if _label(r) == label]
        ok = [r for r in group if not r.get("error")]
        wer_m, wer_s = metrics.mean_std([r["wer"] for r in ok if r.get("wer") is not None])
        cer_m, cer_s = metrics.mean_std([r["cer"] for r in ok if r.get("cer") is not None])
        by_file: dict[str, list[str]] = {}
        for r in ok:
            by_file.setdefault(r["file"], []).append(r["text"])
        div = [metrics.pairwise_wer(texts) for texts in by_file.values() if len(texts) > 1]
        fired: Counter = Counter()
        for r in ok:
            fired.update(r.get("fired", {}))
        settled = [t for r in ok for t in r.get("segment_temperatures", [])]
        row = {
            "temperature": label, "items": len(group), "errors": len(group) - len(ok),
            "wer_mean": wer_m, "wer_std": wer_s, "cer_mean": cer_m, "cer_std": cer_s,
            "diversity": float(np.mean(div)) if div else math.nan,
            "avg_logprob_mean": metrics.mean_std([r.get("avg_logprob") for r in ok])[0],
            "compression_ratio_mean": metrics.mean_std([r.get("compression_ratio") for r in ok])[0],
            "settled_temperature_mean": metrics.mean_std(settled)[0],
        }
        row.update({f"fired_{k}": v for k, v in sorted(fired.items())})
        out.append(row)
    return out


def _explain(path: Path, get_model, first: dict) -> dict:
    """The next-token figures' data for the first good clip; reused from the folder on a rerun
    (so the model is loaded here only when the figure must be made)."""
    from tts_temp import audio as audio_io

    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("source") == first["file"]:
            return saved
    except (OSError, ValueError):
        pass
    explain = token_distribution(get_model(), audio_io.load(first["file"], 16000))
    explain.update(file=first["name"], source=first["file"])
    write_atomic_text(path, json.dumps(explain, indent=1) + "\n")
    return explain


def _copy_inputs(paths: list[Path], dest: Path) -> dict[str, str]:
    """Copy the clips the report plays into the run folder, so its players work from the folder alone."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, p in enumerate(paths):
        name = f"{i:02d}_{Path(p).name}"
        target = dest / name
        try:
            if not target.exists() or target.stat().st_size != Path(p).stat().st_size:
                shutil.copyfile(p, target)
            out[str(p)] = f"audio/{name}"
        except OSError:
            pass
    return out


# --------------------------------------------------------------------------- explaining figures
def token_distribution(model, waveform: np.ndarray) -> dict:
    """Whisper's next-token distribution at one decoding step of a real clip, at several T.

    The first 30 s window is encoded once and decoded greedily by whisper itself (text only, no
    timestamps); one teacher-forced decoder pass over that token path then gives the logits at
    every step at once. Special tokens other than end-of-text are masked (the sampler never emits
    them in text mode). The step shown is the one with the highest entropy at T=1: the place where
    the model hesitates most, where temperature changes the most.
    """
    import torch
    import whisper
    from whisper.tokenizer import get_tokenizer

    from tts_temp.sampling.temperature import entropy, tempered_softmax

    tok = get_tokenizer(model.is_multilingual, num_languages=model.num_languages, language="en",
                        task="transcribe")
    with torch.no_grad():
        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(torch.from_numpy(waveform)), model.dims.n_mels)
        feats = model.embed_audio(mel[None].to(model.device))
        greedy = whisper.decode(model, feats[0], whisper.DecodingOptions(
            language="en", temperature=0.0, without_timestamps=True, fp16=False))
        prompt = list(tok.sot_sequence_including_notimestamps)
        path = prompt + list(greedy.tokens)
        logits = model.logits(torch.tensor([path], device=model.device), feats)[0].float().cpu()
    logits = logits[len(prompt) - 1:]            # row k predicts the k-th text token (the last: end)
    logits[:, tok.eot + 1:] = -math.inf
    ent1 = entropy(logits, 1.0)
    k = int(ent1.argmax())
    row = logits[k]
    top = torch.topk(tempered_softmax(row, 1.0), 8).indices.tolist()
    grid = [round(x, 3) for x in np.linspace(0.0, 3.0, 61)]
    return {
        "step": k,
        "prefix": tok.decode(list(greedy.tokens[:k])),
        "tokens": [tok.decode([i]) if i != tok.eot else "<|endoftext|>" for i in top],
        "token_ids": top,
        "probs": {f"{t:g}": tempered_softmax(row, t)[top].tolist() for t in EXPLAIN_TEMPERATURES},
        "entropy_T": grid,
        "entropy": [float(entropy(row, t)) for t in grid],
        "entropy_all_steps": [[float(entropy(r, t)) for t in grid] for r in logits],
    }
