"""Synthesis sweep: sentences x temperatures x seeds -> wav, duration, F0, seed distance, CER.

All (temperature, seed) pairs of a sentence are synthesised as one batch (the voice samples a
batch in one pass). Each output is written as a wav, analysed (duration, pYIN F0), transcribed
back with Whisper at T=0 and scored by CER against the sentence, then appended to results.jsonl.
Once every seed of a (sentence, temperature) is done, one more record stores the DTW-aligned mel
distance between each pair of seeds (see tts_temp.compare.metrics): how different two draws at
the same temperature sound. Distances are computed from the written wavs, so they can be checked
from the folder alone.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tts_temp.asr.packaged import BUNDLED
from tts_temp.compare import metrics
from tts_temp.compare.engine import EngineOptions, run_tasks
from tts_temp.compare.results import ResultsFile, check_run_settings, write_csv
from tts_temp.compare.checks import check_seeds, check_temperatures
from tts_temp.compare.progress import Progress
from tts_temp.errors import UserError
from tts_temp.tts.defaults import COQUI_TEMPERATURE, DEFAULT_TEMPERATURE

# Greedy, Coqui's default, ours (the OverFlow paper's listening test) and the model's own spread.
DEFAULT_TEMPERATURES = (0.0, COQUI_TEMPERATURE, DEFAULT_TEMPERATURE, 1.0)
DEFAULT_SEEDS = 3
EMISSION_TEMPERATURES = DEFAULT_TEMPERATURES + (1.5,)


@dataclass
class TtsSweepConfig:
    out_dir: Path
    sentences: Path | list[str] | None = None   # a file (one per line), a list, or None = Harvard 701-720
    temperatures: list[float] = field(default_factory=lambda: list(DEFAULT_TEMPERATURES))
    seeds: int = DEFAULT_SEEDS
    voice: Path | None = None              # None = the shipped voice; a folder = a Coqui OverFlow model
    vocoder: Path | None = None            # a Coqui HiFi-GAN folder; None = Griffin-Lim
    asr_model: str = BUNDLED
    max_seconds: float = 20.0
    engine: EngineOptions = field(default_factory=EngineOptions)

    def validate(self) -> list[str]:
        """Check the arguments and return the sentences."""
        self.temperatures = check_temperatures(self.temperatures)
        check_seeds(self.seeds)
        self.engine.validate()
        if self.voice is not None and not Path(self.voice).exists():
            raise UserError(f"{self.voice}: no such voice checkpoint")
        if not (self.max_seconds > 0 and math.isfinite(self.max_seconds)):
            raise UserError(f"--max-seconds must be > 0, got {self.max_seconds}")
        return read_sentences(self.sentences)


def read_sentences(path: Path | list[str] | None) -> list[str]:
    if path is None:
        from tts_temp.tts.corpus import harvard

        return [u.text for u in harvard() if u.split == "test"]
    if isinstance(path, list):
        lines = [" ".join(l.split()) for l in path]
        if not any(lines):
            raise UserError("no sentences given")
        return [l for l in lines if l]
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such sentences file")
    try:
        lines = [" ".join(l.split()) for l in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc.__class__.__name__})") from None
    lines = [l for l in lines if l]
    if not lines:
        raise UserError(f"{path}: no sentences (the file is empty)")
    return lines


def item_key(index: int, text: str, temperature: float, seed: int) -> str:
    return f"tts|{index}|{text}|T={temperature:g}|seed={seed}"


def spread_key(index: int, text: str, temperature: float) -> str:
    return f"tts_spread|{index}|{text}|T={temperature:g}"


def wav_name(index: int, temperature: float, seed: int) -> str:
    return f"wavs/{index + 1:02d}_T{temperature:g}_s{seed}.wav"


@dataclass
class TtsSweepResult:
    out_dir: Path
    records: list[dict]
    spreads: list[dict]
    summary: list[dict]
    report: Path
    failed: int
    figures: list = field(default_factory=list)


def analyse(wav: np.ndarray, sample_rate: int, text: str, asr_model, audio16: np.ndarray | None = None) -> dict:
    """Duration, F0, intelligibility and naturalness (DNSMOS, a proxy) of one output.

    `audio16`: the same output at 16 kHz, when the caller has it already (Whisper's and DNSMOS's rate)."""
    from tts_temp import audio as audio_io
    from tts_temp.asr import transcribe
    from tts_temp.naturalness import dnsmos

    track = metrics.f0_track(wav, sample_rate)
    f0_mean, f0_std = track.stats()
    if audio16 is None:
        audio16 = audio_io.prepare(wav, sample_rate, 16000)
    heard = transcribe(asr_model, audio16, temperature=0.0).text.strip()
    mos = dnsmos(audio16, 16000)
    return {"duration": len(wav) / sample_rate, "f0_mean": f0_mean, "f0_std": f0_std, "f0_hz": track.hz,
            "f0_hop": track.hop_seconds, "transcript": heard, "cer": metrics.cer(text, heard),
            "dnsmos_ovrl": mos.ovrl, "dnsmos_sig": mos.sig, "dnsmos_bak": mos.bak}


def distill_mos_fields(audio16: list[np.ndarray]) -> list[dict]:
    """Distill-MOS of a batch of 16 kHz outputs as record fields; nothing when distillmos is missing
    (the driver says so once; DNSMOS still scores every item)."""
    from tts_temp.naturalness import distill_mos, distill_mos_available

    if not audio16 or not distill_mos_available():
        return [{} for _ in audio16]
    return [{"distill_mos": v} for v in distill_mos(audio16, 16000)]


def model_f0_record(frames, spec: dict | None) -> dict:
    """The voice's own F0 stream as record fields (WORLD voices), beside the waveform's pYIN track."""
    from tts_temp.tts import frames as frames_mod

    found = None if spec is None else frames_mod.model_f0(frames, spec)
    if found is None:
        return {}
    hz, hop = found
    return {"model_f0_hz": [None if np.isnan(v) else round(float(v), 2) for v in hz], "model_f0_hop": hop}


def seed_distances(out: Path, wavs: list[str]) -> list[list]:
    """[seed_a, seed_b, DTW mel distance in dB] for every pair of the given wavs (by position)."""
    import soundfile as sf

    mels = []
    for name in wavs:
        wav, sr = sf.read(str(out / name), dtype="float32")
        mels.append(metrics.log_mel_db(wav, sr))
    return [[a, b, metrics.dtw_distance(mels[a], mels[b])] for a, b in itertools.combinations(range(len(mels)), 2)]


@dataclass(frozen=True)
class TtsTask:
    """One sentence's unfinished (temperature, seed) pairs: synthesised as one batch."""
    index: int
    text: str
    pairs: tuple[tuple[float, int], ...]
    max_seconds: float


class TtsRunner:
    """A worker's state: the voice and the recogniser, loaded once."""

    def __init__(self, voice, asr_model, vocoder=None):
        self.voice, self.asr_model, self.vocoder = voice, asr_model, vocoder

    def __call__(self, task: TtsTask) -> list[tuple[dict, np.ndarray | None, int]]:
        """Per pair: (numbers or {"error"}, waveform or None, sample rate). The driver writes the
        wavs, so workers on other machines need no shared folder."""
        from tts_temp.tts import SynthesisOptions, synthesize_batch

        try:
            synth = synthesize_batch(self.voice, task.text, [t for t, _ in task.pairs], [s for _, s in task.pairs],
                                     SynthesisOptions(max_seconds=task.max_seconds),
                                     **({"vocoder": self.vocoder} if self.vocoder is not None else {}))
        except Exception as exc:  # one bad sentence must not stop the sweep
            return [({"error": f"{type(exc).__name__}: {exc}"}, None, 0)] * len(task.pairs)
        from tts_temp import audio as audio_io

        out, heard = [], []
        for n in range(len(task.pairs)):
            try:
                wav = audio_io.as_written(synth.waveforms[n], synth.sample_rate)   # measure what is heard
                audio16 = audio_io.prepare(wav, synth.sample_rate, 16000)
                rec = dict(hit_max_length=bool(synth.hit_max_length[n]),
                           **analyse(wav, synth.sample_rate, task.text, self.asr_model, audio16),
                           **model_f0_record(synth.frames[n], getattr(self.voice, "features", None)))
                out.append((rec, wav, synth.sample_rate))
                heard.append((rec, audio16))
            except Exception as exc:  # one bad item must not stop the sweep
                out.append(({"error": f"{type(exc).__name__}: {exc}"}, None, 0))
        try:  # the sentence's outputs in one batch
            for (rec, _), fields in zip(heard, distill_mos_fields([a for _, a in heard])):
                rec.update(fields)
        except Exception as exc:  # a failing second proxy costs its column, not the items
            for rec, _ in heard:
                rec["distill_mos_error"] = f"{type(exc).__name__}: {exc}"
        return out


@dataclass(frozen=True)
class TtsWorker:
    """Picklable recipe for a worker process: load the voice and the recogniser once."""
    voice: str | None
    asr_model: str
    vocoder: str | None = None

    def __call__(self) -> TtsRunner:
        from tts_temp.asr import load_model
        from tts_temp.tts import load_vocoder, load_voice

        vocoder = load_vocoder(self.vocoder) if self.vocoder is not None else None
        return TtsRunner(load_voice(self.voice), load_model(self.asr_model), vocoder)


def run_tts_sweep(cfg: TtsSweepConfig, voice=None, asr_model=None, log=print) -> TtsSweepResult:
    """Run (or resume) the sweep, then write summary.csv, the plots and report.html.

    `voice`, `asr_model`: already-loaded models to use in this process (workers == 1 only)."""
    from tts_temp import audio as audio_io
    from tts_temp.compare import plots, report
    from tts_temp.tts import load_voice

    sentences = cfg.validate()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_run_settings(out, {"sweep": "tts", "voice": str(Path(cfg.voice).resolve()) if cfg.voice else "shipped",
                             "voice_sha256": _voice_digest(cfg.voice), "asr_model": cfg.asr_model,
                             "max_seconds": cfg.max_seconds,
                             **({"vocoder": str(Path(cfg.vocoder).resolve())} if cfg.vocoder else {})})
    results = ResultsFile(out / "results.jsonl")
    from tts_temp.naturalness import DISTILL_MOS_INSTALL, distill_mos_available

    if not distill_mos_available():
        log(f"compare-tts: Distill-MOS is not installed ({DISTILL_MOS_INSTALL}); naturalness is scored by DNSMOS only")
    preloaded = voice is not None or asr_model is not None
    if preloaded and cfg.engine.uses_ray:
        raise ValueError("preloaded models run in this process only (workers == 1)")
    voice = voice if voice is not None else load_voice(cfg.voice)  # the driver's figures need it too

    pairs = [(t, s) for t in cfg.temperatures for s in range(cfg.seeds)]
    tasks = []
    for i, text in enumerate(sentences):
        todo = tuple((t, s) for t, s in pairs if not results.done(item_key(i, text, t, s)))
        if todo:
            tasks.append(TtsTask(i, text, todo, cfg.max_seconds))
    total = len(sentences) * len(pairs)
    if preloaded:
        def make_worker():
            from tts_temp.asr import load_model
            from tts_temp.tts import load_vocoder
            return TtsRunner(voice, asr_model if asr_model is not None else load_model(cfg.asr_model),
                             load_vocoder(cfg.vocoder) if cfg.vocoder is not None else None)
    else:
        make_worker = TtsWorker(None if cfg.voice is None else str(cfg.voice), cfg.asr_model,
                                None if cfg.vocoder is None else str(cfg.vocoder))
    with Progress(total=total, desc="synthesize", initial=total - sum(len(t.pairs) for t in tasks)) as bar:
        for n, outputs, error in run_tasks(make_worker, tasks, cfg.engine):
            task = tasks[n]
            if error is not None:
                outputs = [({"error": error}, None, 0)] * len(task.pairs)
            for (t, s), (numbers, wav, sample_rate) in zip(task.pairs, outputs):
                rec = {"kind": "tts", "sentence": task.index, "text": task.text,
                       "key": item_key(task.index, task.text, t, s), "temperature": t, "seed": s}
                if wav is not None:
                    try:
                        name = wav_name(task.index, t, s)
                        audio_io.write_wav(out / name, wav, sample_rate)
                        rec["wav"] = name
                    except Exception as exc:  # an unwritable wav fails its item only
                        numbers = {"error": f"{type(exc).__name__}: {exc}"}
                rec.update(numbers)
                results.append(rec)
                bar.advance(failed="error" in rec)

    for i, text in enumerate(sentences):  # seed distances, from the written wavs
        for t in cfg.temperatures:
            recs = [results.get(item_key(i, text, t, s)) for s in range(cfg.seeds)]
            key = spread_key(i, text, t)
            if cfg.seeds > 1 and all(r and not r.get("error") for r in recs) and not results.done(key):
                results.append({"kind": "tts_spread", "key": key, "sentence": i, "text": text,
                                "temperature": t, "wavs": [r["wav"] for r in recs],
                                "pairs": seed_distances(out, [r["wav"] for r in recs])})

    records = [results.get(item_key(i, text, t, s)) for i, text in enumerate(sentences) for t, s in pairs]
    spreads = [r for i, text in enumerate(sentences) for t in cfg.temperatures
               if (r := results.get(spread_key(i, text, t))) is not None]
    failed = sum(1 for r in records if r.get("error"))
    for r in records:
        if r.get("error"):
            log(f"compare-tts: sentence {r['sentence'] + 1} T={r['temperature']:g} seed={r['seed']}: {r['error']}")
    for problem in dict.fromkeys(r["distill_mos_error"] for r in records if r.get("distill_mos_error")):
        log(f"compare-tts: Distill-MOS failed, its column is left empty: {problem}")

    summary = summarise(records, spreads, cfg.temperatures)
    write_csv(out / "summary.csv", summary, SUMMARY_COLUMNS)
    emission = emission_gaussian(voice, next((r["text"] for r in records if not r.get("error")), sentences[0]))
    figures = plots.tts_figures(out, records, spreads, summary, emission, cfg.temperatures, cfg.seeds)
    page = report.tts_report(out, cfg, summary, SUMMARY_COLUMNS, records, spreads, figures)
    return TtsSweepResult(out, records, spreads, summary, page, failed, figures)


def _voice_digest(path: Path | None) -> str | None:
    """Checksum of the voice file, so a retrained voice at the same path never mixes into a resumed run."""
    import hashlib

    from tts_temp.tts import shipped_voice_path

    path = Path(path) if path is not None else shipped_voice_path()
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


SUMMARY_COLUMNS = ["temperature", "items", "errors", "duration_mean", "duration_std", "f0_mean", "f0_std_mean",
                   "cer_mean", "cer_std", "dnsmos_ovrl_mean", "dnsmos_ovrl_std", "distill_mos_mean", "distill_mos_std",
                   "seed_distance_db"]


def summarise(records: list[dict], spreads: list[dict], temperatures: list[float]) -> list[dict]:
    """Per temperature: duration, F0 mean and within-utterance F0 std (averaged), CER mean/std over
    sentences x seeds, DNSMOS OVRL and Distill-MOS mean/std, and the mean DTW distance between seeds
    (over sentences and seed pairs)."""
    out = []
    for t in temperatures:
        group = [r for r in records if r["temperature"] == t]
        ok = [r for r in group if not r.get("error")]
        dur_m, dur_s = metrics.mean_std([r["duration"] for r in ok])
        cer_m, cer_s = metrics.mean_std([r["cer"] for r in ok])
        mos_m, mos_s = metrics.mean_std([r.get("dnsmos_ovrl") for r in ok])  # absent in runs made before it
        dm_m, dm_s = metrics.mean_std([r.get("distill_mos") for r in ok])      # absent without distillmos
        dists = [p[2] for r in spreads if r["temperature"] == t for p in r["pairs"]]
        out.append({
            "temperature": f"{t:g}", "items": len(group), "errors": len(group) - len(ok),
            "duration_mean": dur_m, "duration_std": dur_s,
            "f0_mean": metrics.mean_std([r.get("f0_mean") for r in ok])[0],
            "f0_std_mean": metrics.mean_std([r.get("f0_std") for r in ok])[0],
            "cer_mean": cer_m, "cer_std": cer_s, "dnsmos_ovrl_mean": mos_m, "dnsmos_ovrl_std": mos_s,
            "distill_mos_mean": dm_m, "distill_mos_std": dm_s,
            "seed_distance_db": metrics.mean_std(dists)[0],
        })
    return out


def emission_gaussian(voice, text: str) -> dict | None:
    """The text part of one emission of the voice: N(a[n, k], sigma[n, k]) for the middle state n
    of `text` and the channel k where that state's std is largest (the widest, easiest to see).

    Sampling draws z = mean + T * std * eps, so at temperature T this is N(a, (T * sigma)^2): the
    figure shows the same Gaussian narrowing to its mean as T -> 0. The frame context adds an
    offset to the mean and scales the std by a factor in [e^-0.5, e^0.5] at each frame.
    """
    import torch

    from tts_temp.tts.synthesize import text_ids

    try:
        ids = text_ids(voice, text)[0]
    except UserError:
        return None
    with torch.no_grad():
        model = voice.model
        states, n_states = model.encoder(ids[None], torch.tensor([len(ids)]))
        a, sigma, _ = model.hmm.neutral_emissions(states)
    n = int(n_states[0]) // 2
    k = int(sigma[0, n].argmax())
    return {"text": text, "state": n, "states": int(n_states[0]), "channel": k,
            "mean": float(a[0, n, k]), "std": float(sigma[0, n, k]), "temperatures": list(EMISSION_TEMPERATURES),
            "space": "latent (flow input)" if model.flow_active else "normalised log-mel"}
