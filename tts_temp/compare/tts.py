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

from tts_temp.compare import metrics
from tts_temp.compare.results import ResultsFile, check_run_settings, write_csv
from tts_temp.compare.sweep import check_seeds, check_temperatures, progress
from tts_temp.errors import UserError

DEFAULT_TEMPERATURES = (0.0, 0.334, 0.667, 1.0)
DEFAULT_SEEDS = 3
EMISSION_TEMPERATURES = (0.0, 0.334, 0.667, 1.0, 1.5)


@dataclass
class TtsSweepConfig:
    out_dir: Path
    sentences: Path | list[str] | None = None   # a file (one per line), a list, or None = Harvard 701-720
    temperatures: list[float] = field(default_factory=lambda: list(DEFAULT_TEMPERATURES))
    seeds: int = DEFAULT_SEEDS
    voice: Path | None = None              # None = the shipped voice
    asr_model: str = "tiny.en"
    max_seconds: float = 20.0

    def validate(self) -> list[str]:
        """Check the arguments and return the sentences."""
        self.temperatures = check_temperatures(self.temperatures)
        check_seeds(self.seeds)
        if self.voice is not None and not Path(self.voice).is_file():
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


def analyse(wav: np.ndarray, sample_rate: int, text: str, asr_model) -> dict:
    """Duration, F0, intelligibility and naturalness (DNSMOS, a proxy) of one output."""
    from tts_temp import audio as audio_io
    from tts_temp.asr import transcribe
    from tts_temp.naturalness import dnsmos

    track = metrics.f0_track(wav, sample_rate)
    f0_mean, f0_std = track.stats()
    heard = transcribe(asr_model, audio_io.prepare(wav, sample_rate, 16000), temperature=0.0).text.strip()
    mos = dnsmos(wav, sample_rate)
    return {"duration": len(wav) / sample_rate, "f0_mean": f0_mean, "f0_std": f0_std, "f0_hz": track.hz,
            "f0_hop": track.hop_seconds, "transcript": heard, "cer": metrics.cer(text, heard),
            "dnsmos_ovrl": mos.ovrl, "dnsmos_sig": mos.sig, "dnsmos_bak": mos.bak}


def seed_distances(out: Path, wavs: list[str]) -> list[list]:
    """[seed_a, seed_b, DTW mel distance in dB] for every pair of the given wavs (by position)."""
    import soundfile as sf

    mels = []
    for name in wavs:
        wav, sr = sf.read(str(out / name), dtype="float32")
        mels.append(metrics.log_mel_db(wav, sr))
    return [[a, b, metrics.dtw_distance(mels[a], mels[b])] for a, b in itertools.combinations(range(len(mels)), 2)]


def run_tts_sweep(cfg: TtsSweepConfig, voice=None, asr_model=None, log=print) -> TtsSweepResult:
    """Run (or resume) the sweep, then write summary.csv, the plots and report.html."""
    from tts_temp import audio as audio_io
    from tts_temp.compare import plots, report
    from tts_temp.tts import SynthesisOptions, load_voice, synthesize_batch

    sentences = cfg.validate()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_run_settings(out, {"sweep": "tts", "voice": str(Path(cfg.voice).resolve()) if cfg.voice else "shipped",
                             "voice_sha256": _voice_digest(cfg.voice), "asr_model": cfg.asr_model,
                             "max_seconds": cfg.max_seconds})
    results = ResultsFile(out / "results.jsonl")
    voice = voice if voice is not None else load_voice(cfg.voice)
    if asr_model is None:
        from tts_temp.asr import load_model

        asr_model = load_model(cfg.asr_model)

    pairs = [(t, s) for t in cfg.temperatures for s in range(cfg.seeds)]
    options = SynthesisOptions(max_seconds=cfg.max_seconds)
    with progress(total=len(sentences) * len(pairs), desc="synthesize") as bar:
        for i, text in enumerate(sentences):
            todo = [(t, s) for t, s in pairs if not results.done(item_key(i, text, t, s))]
            bar.update(len(pairs) - len(todo))
            base = {"kind": "tts", "sentence": i, "text": text}
            if todo:
                try:
                    synth = synthesize_batch(voice, text, [t for t, _ in todo], [s for _, s in todo], options)
                    error = None
                except Exception as exc:  # one bad item must not stop the sweep
                    synth, error = None, f"{type(exc).__name__}: {exc}"
                for n, (t, s) in enumerate(todo):
                    rec = dict(base, key=item_key(i, text, t, s), temperature=t, seed=s)
                    if error is None:
                        try:
                            wav = synth.waveforms[n]
                            name = wav_name(i, t, s)
                            audio_io.write_wav(out / name, wav, synth.sample_rate)
                            rec.update(wav=name, hit_max_length=bool(synth.hit_max_length[n]),
                                       **analyse(wav, synth.sample_rate, text, asr_model))
                        except Exception as exc:  # one bad item must not stop the sweep
                            rec["error"] = f"{type(exc).__name__}: {exc}"
                    else:
                        rec["error"] = error
                    results.append(rec)
                    bar.update(1)
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

    summary = summarise(records, spreads, cfg.temperatures)
    write_csv(out / "summary.csv", summary, SUMMARY_COLUMNS)
    emission = emission_gaussian(voice, next((r["text"] for r in records if not r.get("error")), sentences[0]))
    figures = plots.tts_figures(out, records, spreads, summary, emission, cfg.temperatures, cfg.seeds)
    page = report.tts_report(out, cfg, summary, records, spreads, figures)
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
                   "cer_mean", "cer_std", "dnsmos_ovrl_mean", "dnsmos_ovrl_std", "seed_distance_db"]


def summarise(records: list[dict], spreads: list[dict], temperatures: list[float]) -> list[dict]:
    """Per temperature: duration, F0 mean and within-utterance F0 std (averaged), CER mean/std over
    sentences x seeds, and the mean DTW distance between seeds (over sentences and seed pairs)."""
    out = []
    for t in temperatures:
        group = [r for r in records if r["temperature"] == t]
        ok = [r for r in group if not r.get("error")]
        dur_m, dur_s = metrics.mean_std([r["duration"] for r in ok])
        cer_m, cer_s = metrics.mean_std([r["cer"] for r in ok])
        mos_m, mos_s = metrics.mean_std([r.get("dnsmos_ovrl") for r in ok])  # absent in runs made before it
        dists = [p[2] for r in spreads if r["temperature"] == t for p in r["pairs"]]
        out.append({
            "temperature": f"{t:g}", "items": len(group), "errors": len(group) - len(ok),
            "duration_mean": dur_m, "duration_std": dur_s,
            "f0_mean": metrics.mean_std([r.get("f0_mean") for r in ok])[0],
            "f0_std_mean": metrics.mean_std([r.get("f0_std") for r in ok])[0],
            "cer_mean": cer_m, "cer_std": cer_s, "dnsmos_ovrl_mean": mos_m, "dnsmos_ovrl_std": mos_s,
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
        a, sigma, _ = model.hmm.state_params(states)
    n = int(n_states[0]) // 2
    k = int(sigma[0, n].argmax())
    return {"text": text, "state": n, "states": int(n_states[0]), "channel": k,
            "mean": float(a[0, n, k]), "std": float(sigma[0, n, k]), "temperatures": list(EMISSION_TEMPERATURES),
            "space": "latent (flow input)" if model.flow_active else "normalised log-mel"}
